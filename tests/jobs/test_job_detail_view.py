"""GET /jobs/<id>: every field of the job's record, what caused it, and its actions."""

import datetime as dt

import pytest

from common.actors import Actor, Via
from jobs.models import JobPriority, JobStatus
from scheduling import services
from tests.factories import BackupFactory, JobFactory, ScheduledTaskFactory, UserFactory, grant
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
        ("Attempts", "1 of at most 4"),
        ("Worker", "<code>archive-1:4242</code>"),
        ("Duration", "5 s"),
    ]:
        assert f"<dt>{label}</dt>\n    <dd>{value}</dd>" in html, label
    assert '<span class="badge badge-ok">Completed</span>' in html
    assert '<time datetime="2025-08-28T02:56:09+00:00">Thu 28 Aug 2025, 02:56 UTC</time>' in html
    assert ">Thu 28 Aug 2025, 05:56 UTC</time>" in html  # started and finished
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

    assert "<dd>2 of at most 2</dd>" in html
    assert "<h2>Error</h2>" in html
    assert '<p class="error-cause">&lt;disk&gt; full <span class="muted">(OSError)</span></p>' in html
    assert "OSError: &lt;disk&gt; full</pre>" in html
    assert "<td>Lost</td>" in html and "<td>worker killed</td>" in html
    assert "<td>Fri 1 May 2026, 05:31 UTC</td>" in html


def test_it_says_when_a_waiting_job_tries_again(user_client):
    job = JobFactory(status=JobStatus.RETRY_WAIT, attempts=1, available_at=at("2026-05-01 05:31:00"),
                     error="RuntimeError: flaky")

    html = page(user_client, job)

    assert "Waiting to retry</span>" in html
    assert 'attempt 2 at <time datetime="2026-05-01T05:31:00+00:00">' in html
    assert "<h2>Last error</h2>" in html


def test_it_links_to_the_schedule_run_that_caused_it_even_after_the_schedule_is_deleted(user_client, user):
    grant(user, "view_scheduledtask")  # a run's page needs the schedules' view permission
    schedule = services.schedule_save(schedule=ScheduledTaskFactory.build(name="Nightly backup"),
                                      now=at("2026-05-01 01:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 01:30"), actor=Actor(Via.PAGE, user))
    services.schedule_delete(schedule=schedule, now=at("2026-05-01 01:31"))

    html = page(user_client, run.jobs.get())

    assert (f'<a href="/schedules/runs/{run.pk}">Schedule “Nightly backup”, run #{run.pk} '
            f'(Run now by {user.username})</a>') in html


def test_it_names_the_run_without_a_link_for_a_user_who_may_not_open_it(user_client, user):
    """A user who may read jobs but not schedules is not handed a link that ends in a 403."""
    schedule = services.schedule_save(schedule=ScheduledTaskFactory.build(name="Nightly backup"),
                                      now=at("2026-05-01 01:00"))
    run = services.schedule_run_now(schedule=schedule, now=at("2026-05-01 01:30"), actor=Actor(Via.PAGE, user))

    html = page(user_client, run.jobs.get())

    assert f"Schedule “Nightly backup”, run #{run.pk} (Run now by {user.username})" in html
    assert f'href="/schedules/runs/{run.pk}"' not in html
    assert user_client.get(f"/schedules/runs/{run.pk}").status_code == 403


def test_it_is_refused_to_a_logged_in_user_without_the_view_permission(client):
    """Params, results, tracebacks and worker host:pid are for users who may read jobs."""
    job = JobFactory(status=JobStatus.FAILED, error="Traceback (most recent call last):\n  File \"/srv/app/x.py\"")
    client.force_login(UserFactory())

    for url in (f"/jobs/{job.pk}", "/jobs"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "/srv/app" not in response.content.decode()


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
    assert f'<form method="post" action="/jobs/{job.pk}/retry" hx-post="/jobs/{job.pk}/retry" hx-swap="none">' in html
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

    trigger = "every 1s"  # only while the tab is visible: app.js skips a poll in a hidden tab
    assert 'id="job-detail-watch"' in page(user_client, running)
    assert f'hx-trigger="{trigger}"' in page(user_client, running)
    assert "every " not in page(user_client, done) and "-watch" not in page(user_client, done)


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


# --- errors: the cause first, in words; the traceback behind a disclosure ---------------------------

FEED_TRACEBACK = """Traceback (most recent call last):
  File "/app/jobs/runner.py", line 135, in _execute
    result = as_json(handler.run(job))
  File "/app/channels/sync.py", line 114, in channel_sync
    raise FeedTemporaryError(message) from None
channels.sync.FeedTemporaryError: This server could not reach www.youtube.com (no DNS or no internet?): its name could not be looked up.
"""


def test_it_puts_the_errors_cause_first_and_the_traceback_behind_a_disclosure(user_client):
    job = JobFactory(status=JobStatus.FAILED, attempts=4, max_retries=3, error=FEED_TRACEBACK)

    html = page(user_client, job)

    cause = ('<p class="error-cause">This server could not reach www.youtube.com (no DNS or no internet?): its name '
             'could not be looked up. <span class="muted">(FeedTemporaryError)</span></p>')
    assert cause in html
    details = html.index('<details class="error-traceback">')
    assert html.index(cause) < details < html.index("File &quot;/app/channels/sync.py&quot;, line 114")
    assert "<summary>Traceback</summary>" in html
    assert html.index("File &quot;/app/jobs/runner.py&quot;") > details  # no frame before the disclosure


def test_of_a_chain_of_exceptions_the_last_is_the_cause(user_client):
    error = ("Traceback (most recent call last):\n  File \"a.py\", line 1, in f\nKeyError: 'x'\n\n"
             "The above exception was the direct cause of the following exception:\n\n"
             "Traceback (most recent call last):\n  File \"b.py\", line 2, in g\n"
             "backups.errors.BackupConfigError: BACKUP_DIR /srv/backups is not writable.\n")

    html = page(user_client, JobFactory(status=JobStatus.FAILED, error=error))

    assert ('<p class="error-cause">BACKUP_DIR /srv/backups is not writable. '
            '<span class="muted">(BackupConfigError)</span></p>') in html


def test_words_written_before_a_traceback_are_the_cause(user_client):
    error = f"Time limit of 120 s exceeded; the attempt was stopped.\n\n{FEED_TRACEBACK}"

    html = page(user_client, JobFactory(status=JobStatus.FAILED, error=error))

    assert '<p class="error-cause">Time limit of 120 s exceeded; the attempt was stopped.</p>' in html
    assert '<details class="error-traceback">' in html


def test_a_handlers_own_message_is_all_cause_with_no_disclosure(user_client):
    job = JobFactory(status=JobStatus.FAILED, failed_permanently=True, attempts=1,
                     error="The feed answered 404 Not Found for UCgone (a deleted channel, a wrong id, …).")

    html = page(user_client, job)

    assert '<p class="error-cause">The feed answered 404 Not Found for UCgone' in html
    assert "<details" not in html


# --- attempts, counted one way ----------------------------------------------------------------------


def test_attempts_and_the_attempt_number_agree(user_client):
    job = JobFactory(status=JobStatus.RUNNING, attempts=2, max_retries=3, started_at=at("2026-05-01 05:30"))

    html = page(user_client, job)

    assert "<dt>Attempts</dt>\n    <dd>2 of at most 4</dd>" in html
    assert "(attempt 2)" in html
    assert "Retries" not in html


@pytest.mark.parametrize(("attempts", "max_retries", "said"), [
    (1, 3, "1 of at most 4; no more: a retry cannot fix this error"),
    (4, 3, "4 of at most 4; no more: a retry cannot fix this error"),  # failed for good after retrying
])
def test_a_permanent_failure_says_no_retry_comes_without_a_count_of_retries(user_client, attempts, max_retries,
                                                                              said):
    job = JobFactory(status=JobStatus.FAILED, failed_permanently=True, attempts=attempts, max_retries=max_retries,
                     error="Invalid parameters: backup_type: bogus.")

    html = page(user_client, job)

    assert f"<dt>Attempts</dt>\n    <dd>{said}</dd>" in html
    assert "not retried" not in html


def test_a_job_not_started_says_how_many_attempts_it_may_make(user_client):
    html = page(user_client, JobFactory(status=JobStatus.QUEUED, attempts=0, max_retries=2))

    assert "<dt>Attempts</dt>\n    <dd>None yet (at most 3)</dd>" in html


# --- a queued job while no worker runs ---------------------------------------------------------------

NO_WORKER = "<strong>No worker is running</strong>, so this job waits until one starts"


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RETRY_WAIT])
def test_a_waiting_job_says_when_no_worker_runs(user_client, status):
    # No cluster has reported in django-q2's status (the test process runs none).
    assert NO_WORKER in page(user_client, JobFactory(status=status))


def test_a_waiting_job_says_nothing_of_workers_while_one_runs(user_client, monkeypatch):
    from jobs import queue

    monkeypatch.setattr(queue, "workers_alive", lambda: True)

    assert NO_WORKER not in page(user_client, JobFactory(status=JobStatus.QUEUED))


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED])
def test_a_job_that_waits_for_nothing_says_nothing_of_workers(user_client, status):
    assert NO_WORKER not in page(user_client, JobFactory(status=status, started_at=at("2026-05-01 05:30")))


# --- links in the result ------------------------------------------------------------------------------


def test_a_results_backup_id_links_to_the_backup(user_client, user):
    backup = BackupFactory()
    job = JobFactory(status=JobStatus.COMPLETED, result={"status": "completed", "backup_id": backup.pk})
    # Named, not linked, for a user who may not open /backups.
    assert f'<span class="job-subject">Backup #{backup.pk}</span>' in page(user_client, job)

    grant(user, "view_backup")
    html = page(user_client, job)

    assert (f'<p class="result-links">See <span class="job-subject">Backup '
            f'<a href="/backups#backup-{backup.pk}">#{backup.pk}</a></span>.</p>') in html


@pytest.mark.parametrize(("result", "said"), [
    ({"backup_id": 987654}, "Backup #987654 (deleted)"),
    ({"backup_id": "12"}, None),  # not a backup's id: no link made up
    ({"backup_id": True}, None),
    (["backup_id", 3], None),
])
def test_a_backup_id_that_names_no_backup_links_nowhere(user_client, result, said):
    html = page(user_client, JobFactory(status=JobStatus.COMPLETED, result=result))

    assert 'href="/backups#' not in html
    if said:
        assert f'<span class="job-subject">{said}</span>' in html
    else:
        assert "result-links" not in html


def test_each_attempts_error_reads_cause_first_too(user_client):
    entry = {"worker": "a:1", "started_at": "2026-05-01T05:30:00+00:00", "finished_at": "2026-05-01T05:30:01+00:00",
             "outcome": "failed"}
    job = JobFactory(status=JobStatus.FAILED, failed_permanently=True, attempts=2, attempt_log=[
        {**entry, "attempt": 1, "error": "channels.sync.FeedTemporaryError: This server could not reach x.invalid."},
        {**entry, "attempt": 2, "error": "channel_id: expected a channel's numeric id, got 'x'."},
    ])

    html = page(user_client, job)

    assert '<td>This server could not reach x.invalid. <span class="muted">(FeedTemporaryError)</span></td>' in html
    # A handler's own words that merely hold a colon are left whole.
    assert "<td>channel_id: expected a channel&#x27;s numeric id, got &#x27;x&#x27;.</td>" in html
