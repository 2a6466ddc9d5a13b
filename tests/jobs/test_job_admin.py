"""The Job admin: read-only record, cancel and retry actions through the services."""

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from jobs.models import Job, JobStatus
from tests.factories import JobFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/jobs/job/"


def act(client, action: str, jobs) -> list[str]:
    response = client.post(CHANGELIST, {"action": action, "_selected_action": [job.pk for job in jobs]})
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_it_lists_jobs_with_their_attempts(staff_client):
    JobFactory(status=JobStatus.FAILED, attempts=3, max_retries=2)

    html = staff_client.get(CHANGELIST).content.decode()

    assert "3 of at most 3" in html
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


def staff_with(*codenames: str):
    """A staff user (not a superuser) holding only the given jobs permissions."""
    user = UserFactory(is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="jobs", codename__in=codenames))
    return user


@pytest.fixture
def viewer_client(client):
    client.force_login(staff_with("view_job"))
    return client


def test_it_does_not_offer_the_actions_to_a_viewer(viewer_client):
    JobFactory()

    response = viewer_client.get(CHANGELIST)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Cancel selected jobs" not in html and "Retry selected jobs" not in html


@pytest.mark.parametrize(("action", "status"), [("cancel_jobs", JobStatus.QUEUED), ("retry_jobs", JobStatus.FAILED)])
def test_it_ignores_a_forged_action_from_a_viewer(viewer_client, action, status):
    job = JobFactory(status=status)

    response = viewer_client.post(CHANGELIST, {"action": action, "_selected_action": [job.pk]})

    # No action is available to this user, so the POST only shows the list again.
    assert response.status_code == 200
    assert [str(m) for m in get_messages(response.wsgi_request)] == []
    assert Job.objects.get(pk=job.pk).status == status


def test_it_lets_a_user_with_the_change_permission_cancel_and_retry(client):
    client.force_login(staff_with("view_job", "change_job"))
    queued, failed = JobFactory(status=JobStatus.QUEUED), JobFactory(status=JobStatus.FAILED, attempts=1)

    assert "Cancel selected jobs" in client.get(CHANGELIST).content.decode()
    assert act(client, "cancel_jobs", [queued]) == ["1 job cancelled."]
    client.get(CHANGELIST)  # shows (and so clears) the messages of the first action
    assert act(client, "retry_jobs", [failed]) == ["1 job queued again."]
    assert [Job.objects.get(pk=j.pk).status for j in (queued, failed)] == [JobStatus.CANCELLED, JobStatus.QUEUED]


def test_the_job_list_never_counts_more_than_a_capped_number_of_rows(staff_client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    JobFactory.create_batch(3)
    with CaptureQueriesContext(connection) as queries:
        assert staff_client.get("/admin/jobs/job/").status_code == 200
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 10000" in sql for sql in counts), counts


def test_the_job_list_shows_labels_origins_and_permanent_failures(staff_client):
    JobFactory(job_type="TEST_FAIL", status=JobStatus.FAILED, attempts=1, max_retries=2, failed_permanently=True,
               origin_label="Sync now by alice", origin_url="/channels")
    content = staff_client.get("/admin/jobs/job/").content.decode()
    assert "Test: fails" in content
    assert '<a href="/channels">Sync now by alice</a>' in content
    assert "1 of at most 3; no more: a retry cannot fix this error" in content
