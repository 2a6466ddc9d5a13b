"""POST /jobs/<id>/cancel."""

import pytest
from django.contrib.messages import get_messages

from jobs.models import Job, JobStatus
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_it_cancels_a_queued_job_and_goes_back_to_it(operator_client, operator):
    job = JobFactory(status=JobStatus.QUEUED)

    response = operator_client.post(f"/jobs/{job.pk}/cancel")

    assert response.status_code == 302
    assert response.url == f"/jobs/{job.pk}"
    assert messages_of(response) == [("success", f"Job #{job.pk} cancelled.")]
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.error.startswith(f"Cancelled by {operator.username} at ")


def test_it_shows_the_message_on_the_page_it_returns_to(operator_client):
    job = JobFactory(status=JobStatus.RETRY_WAIT)

    response = operator_client.post(f"/jobs/{job.pk}/cancel", follow=True)

    html = response.content.decode()
    assert '<div class="toast toast-success" data-autodismiss>' in html
    assert f'<span class="visually-hidden">Success: </span>Job #{job.pk} cancelled.</p>' in html
    assert "Cancelled</span>" in html


def test_it_refuses_a_running_job_with_a_message(operator_client):
    job = JobFactory(status=JobStatus.RUNNING)

    response = operator_client.post(f"/jobs/{job.pk}/cancel")

    assert response.url == f"/jobs/{job.pk}"
    assert messages_of(response) == [
        ("error", f"Job #{job.pk} is running; only queued jobs and jobs waiting to retry can be cancelled.")]
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_it_requires_login(client):
    job = JobFactory(status=JobStatus.QUEUED)

    response = client.post(f"/jobs/{job.pk}/cancel")

    assert response.status_code == 302 and response.url.startswith("/login/")
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_it_requires_the_csrf_token(client, user):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)
    job = JobFactory(status=JobStatus.QUEUED)

    assert csrf_client.post(f"/jobs/{job.pk}/cancel").status_code == 403
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_it_rejects_get(operator_client):
    job = JobFactory(status=JobStatus.QUEUED)

    assert operator_client.get(f"/jobs/{job.pk}/cancel").status_code == 405
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_it_returns_404_for_an_unknown_job(operator_client):
    assert operator_client.post("/jobs/999999/cancel").status_code == 404


def test_it_needs_the_change_job_permission_as_in_the_admin(user_client):
    job = JobFactory(status=JobStatus.QUEUED)

    response = user_client.post(f"/jobs/{job.pk}/cancel")

    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
