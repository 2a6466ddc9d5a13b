"""The Job admin: read-only record, cancel and retry actions through the services."""

import pytest
from django.contrib.messages import get_messages

from jobs.models import Job, JobStatus
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/jobs/job/"


def act(client, action: str, jobs) -> list[str]:
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [job.pk for job in jobs]})
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_it_lists_jobs_with_their_retries(staff_client):
    JobFactory(status=JobStatus.FAILED, attempts=3, max_retries=2)

    html = staff_client.get(CHANGELIST).content.decode()

    assert "2/2" in html
    assert "Cancel selected jobs" in html and "Retry selected jobs" in html


def test_it_cancels_the_selected_jobs_that_can_be_cancelled(staff_client, staff):
    queued, waiting, done = (
        JobFactory(status=status) for status in (JobStatus.QUEUED, JobStatus.RETRY_WAIT, JobStatus.COMPLETED)
    )

    assert act(staff_client, "cancel_jobs", [queued, waiting, done]) == [
        "2 jobs cancelled.",
        "1 job was not cancelled: only queued jobs and jobs waiting to retry can be.",
    ]
    assert [Job.objects.get(pk=j.pk).status for j in (queued, waiting, done)] == [
        JobStatus.CANCELLED, JobStatus.CANCELLED, JobStatus.COMPLETED]
    assert Job.objects.get(pk=queued.pk).error.startswith(f"Cancelled by {staff.username}")


def test_it_retries_the_selected_failed_jobs(staff_client):
    failed, running = JobFactory(status=JobStatus.FAILED, attempts=1), JobFactory(status=JobStatus.RUNNING)

    assert act(staff_client, "retry_jobs", [failed, running]) == [
        "1 job queued again.",
        "1 job was not retried: only failed or cancelled jobs can be.",
    ]
    assert Job.objects.get(pk=failed.pk).status == JobStatus.QUEUED


def test_it_keeps_the_record_read_only(staff_client):
    job = JobFactory()

    html = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()

    assert 'name="status"' not in html
    assert staff_client.get("/admin/jobs/job/add/").status_code == 403
