"""GET /jobs/<id>: every field of the job's record, what caused it, and its actions."""

import datetime as dt

import pytest

from common.actors import Actor, Via
from jobs.models import JobPriority, JobStatus
from scheduling import services
from tests.factories import JobFactory, ScheduledTaskFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db


def page(client, job) -> str:
    response = client.get(f"/jobs/{job.pk}")
    assert response.status_code == 200
    return response.content.decode()


def test_it_requires_login(client):
    job = JobFactory()

    response = client.get(f"/jobs/{job.pk}")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_it_shows_every_field_of_a_completed_job(user_client):
    job = JobFactory(
        job_type="TEST_OK", status=JobStatus.COMPLETED, priority=JobPriority.NORMAL, attempts=1, max_retries=3,
        created_at=at("2025-08-28 02:56:09"), started_at=at("2025-08-28 05:56:10"),
        finished_at=at("2025-08-28 05:56:15"), worker="archive-1:4242",
        params={"backup_type": "full", "retention_days": 30}, result={"file": "db-2025-08-28.sqlite3.zst"},
    )

    html = page(user_client, job)

    assert f"Job #{job.pk} details" in html
    for label, value in [
        ("Type", "Test: succeeds <code>TEST_OK</code>"),
        ("Priority", "Normal"),
        ("Retries", "0/3"),
        ("Worker", "<code>archive-1:4242</code>"),
        ("Duration", "5 s"),
    ]:
        assert f"<dt>{label}</dt>\n    <dd>{value}</dd>" in html, label
    assert '<span class="badge badge-ok">Completed</span>' in html
    assert '<time datetime="2025-08-28T02:56:09+00:00">2025-08-28 02:56:09</time>' in html
    assert ">2025-08-28 05:56:10</time>" in html
    assert ">2025-08-28 05:56:15</time>" in html
    pretty = "{\n  &quot;backup_type&quot;: &quot;full&quot;,\n  &quot;retention_days&quot;: 30\n}"
    assert f'<pre class="code-block">{pretty}</pre>' in html
    assert "db-2025-08-28.sqlite3.zst" in html
    assert "<dt>Caused by</dt>\n    <dd>Not recorded</dd>" in html


def test_it_shows_an_unassigned_worker_and_a_job_not_started(user_client):
    html = page(user_client, JobFactory(status=JobStatus.QUEUED))

    assert "<dd>Not assigned</dd>" in html
    assert "Not started" in html


def test_it_shows_the_error_and_the_attempts_of_a_failed_job(user_client):
    job = JobFactory(
        status=JobStatus.FAILED, attempts=2, max_retries=1,
        error="Traceback (most recent call last):\n  ...\nOSError: <disk> full",
        attempt_log=[
            {"attempt": 1, "worker": "a:1", "started_at": "2026-05-01T05:30:00+00:00",
             "finished_at": "2026-05-01T05:30:02+00:00", "outcome": "lost", "error": "worker killed"},
            {"attempt": 2, "worker": "a:2", "started_at": "2026-05-01T05:31:00+00:00",
             "finished_at": "2026-05-01T05:31:01+00:00", "outcome": "failed", "error": "OSError: <disk> full"},
        ],
    )

    html = page(user_client, job)

    assert "<dd>1/1</dd>" in html
    assert "<h2>Error</h2>" in html
    assert "OSError: &lt;disk&gt; full</pre>" in html
    assert "<td>Lost</td>" in html and "<td>worker killed</td>" in html
    assert "<td>2026-05-01 05:31:00</td>" in html


def test_it_says_when_a_waiting_job_tries_again(user_client):
    job = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=at("2026-05-01 05:31:00"),
                     error="RuntimeError: flaky")

    html = page(user_client, job)

    assert "Waiting to retry</span>" in html
    assert 'next attempt at <time datetime="2026-05-01T05:31:00+00:00">' in html
    assert "<h2>Last error</h2>" in html


def test_it_links_to_the_schedule_run_that_caused_it_even_after_the_schedule_is_deleted(user_client, user):
    schedule = services.schedule_save(schedule=ScheduledTaskFactory.build(name="Nightly backup"),
                                      now=at("2026-05-01 01:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 01:30"), actor=Actor(Via.PAGE, user))
    services.schedule_delete(schedule=schedule, now=at("2026-05-01 01:31"))

    html = page(user_client, run.jobs.get())

    assert (f'<a href="/schedules/runs/{run.pk}">Schedule “Nightly backup”, run #{run.pk} '
            f'(Run now by {user.username})</a>') in html


def test_it_hides_cancel_and_retry_from_users_who_may_not_use_them(user_client):
    assert "data-opens-dialog=" not in page(user_client, JobFactory(status=JobStatus.QUEUED))
    assert "data-opens-dialog=" not in page(user_client, JobFactory(status=JobStatus.FAILED))


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RETRY_WAIT])
def test_it_offers_cancel_with_a_confirmation_dialog(operator_client, status):
    job = JobFactory(status=status)

    html = page(operator_client, job)

    assert 'data-opens-dialog="cancel-dialog">Cancel job…</button>' in html
    assert '<dialog id="cancel-dialog" aria-labelledby="cancel-dialog-title">' in html
    assert f'<h2 id="cancel-dialog-title">Cancel job #{job.pk}?</h2>' in html
    assert '<form method="dialog"><button type="submit" class="button">Keep job</button></form>' in html
    assert f'<form method="post" action="/jobs/{job.pk}/cancel">' in html
    assert "csrfmiddlewaretoken" in html
    assert "retry-dialog" not in html


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED])
def test_it_offers_retry_with_a_confirmation_dialog(operator_client, status):
    job = JobFactory(status=status, attempts=4, max_retries=3)

    html = page(operator_client, job)

    assert '<dialog id="retry-dialog" aria-labelledby="retry-dialog-title">' in html
    assert f'<form method="post" action="/jobs/{job.pk}/retry">' in html
    assert '<form method="dialog"><button type="submit" class="button">Cancel</button></form>' in html
    assert "as attempt 5. Its automatic retries are used up" in html
    assert "cancel-dialog" not in html


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.COMPLETED])
def test_it_offers_no_action_while_running_or_after_success(operator_client, status):
    html = page(operator_client, JobFactory(status=status, started_at=at("2026-05-01 05:30")))

    assert "<dialog " not in html and "data-opens-dialog=" not in html


def test_it_refreshes_itself_only_while_the_job_is_active(user_client):
    running = JobFactory(status=JobStatus.RUNNING, started_at=at("2026-05-01 05:30"))
    done = JobFactory(status=JobStatus.COMPLETED)

    trigger = "every 5s [document.visibilityState === 'visible' && !document.querySelector('dialog[open]')]"
    assert f'hx-trigger="{trigger}"' in page(user_client, running)
    assert "hx-trigger" not in page(user_client, done).split('id="job-detail"')[1].split(">")[0]


def test_it_shows_how_long_a_running_job_has_been_running(user_client, time_machine):
    time_machine.move_to(at("2026-05-01 05:32:05"), tick=False)
    job = JobFactory(status=JobStatus.RUNNING, started_at=at("2026-05-01 05:30"))

    assert "Running for 2 min 5 s" in page(user_client, job)


def test_it_answers_htmx_with_the_detail_only(user_client):
    job = JobFactory(status=JobStatus.QUEUED)

    response = user_client.get(f"/jobs/{job.pk}", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "<html" not in html and html.lstrip().startswith('<article id="job-detail"')


def test_it_returns_404_for_an_unknown_job(user_client):
    assert user_client.get("/jobs/999999").status_code == 404


def test_it_rejects_post(user_client):
    assert user_client.post(f"/jobs/{JobFactory().pk}").status_code == 405


def test_it_formats_long_durations_for_people(user_client):
    job = JobFactory(status=JobStatus.COMPLETED, started_at=at("2026-05-01 05:30"),
                     finished_at=at("2026-05-01 05:30") + dt.timedelta(hours=1, minutes=2, seconds=3))

    assert "<dd>1 h 2 min</dd>" in page(user_client, job)
