"""POST /jobs/<id>/retry."""

import pytest
from django.contrib.messages import get_messages

from jobs.models import Job, JobStatus
from tests import broker
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_it_queues_a_failed_job_again_and_goes_back_to_it(operator_client):
    job = JobFactory(status=JobStatus.FAILED, attempts=3, max_retries=2, error="boom")

    response = operator_client.post(f"/jobs/{job.pk}/retry")

    assert response.status_code == 302
    assert response.url == f"/jobs/{job.pk}"
    assert messages_of(response) == [("success", f"Job #{job.pk} queued again.")]
    job.refresh_from_db()
    assert (job.status, job.attempts, job.max_retries) == (JobStatus.QUEUED, 3, 3)
    assert broker.count() == 1


def test_it_refuses_a_completed_job_with_a_message(operator_client):
    job = JobFactory(status=JobStatus.COMPLETED)

    response = operator_client.post(f"/jobs/{job.pk}/retry", follow=True)

    assert f"Job #{job.pk} is completed; only failed or cancelled jobs can be retried." in response.content.decode()
    assert 'class="toast toast-error" role="alert"' in response.content.decode()
    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    assert broker.count() == 0


def test_it_requires_login(client):
    job = JobFactory(status=JobStatus.FAILED)

    response = client.post(f"/jobs/{job.pk}/retry")

    assert response.status_code == 302 and response.url.startswith("/login/")
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_it_rejects_get(operator_client):
    job = JobFactory(status=JobStatus.FAILED)

    assert operator_client.get(f"/jobs/{job.pk}/retry").status_code == 405
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_it_returns_404_for_an_unknown_job(operator_client):
    assert operator_client.post("/jobs/999999/retry").status_code == 404


def test_it_needs_the_change_job_permission_as_in_the_admin(user_client):
    job = JobFactory(status=JobStatus.FAILED)

    response = user_client.post(f"/jobs/{job.pk}/retry")

    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED
