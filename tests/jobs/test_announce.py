"""Durable announcements: the final write marks a followed job (one a run or group sync waits for),
the announcement clears the mark, and the scheduler's step announces again any job still marked once
its mark is due.

Time is passed in. The test settings announce again after 1 s (JOBS_ANNOUNCE_AGAIN_AFTER_SECONDS).
"""

import datetime as dt
import logging

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from jobs import maintenance, services
from jobs.maintenance import claim_announcements, jobs_announce_overdue, jobs_maintain
from jobs.models import Job, JobStatus
from jobs.signals import job_status_changed, jobs_maintained
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-05-01 05:30")
AGAIN = dt.timedelta(seconds=1)


@pytest.fixture
def heard():
    """What the listeners hear: one list of job ids per announcement. `heard.fail_for` makes the
    listener raise for those job ids."""

    class Heard(list):
        fail_for: set = set()

    announcements = Heard()

    def listener(sender, jobs, **kwargs):
        announcements.append(sorted(job.pk for job in jobs))
        failing = announcements.fail_for & {job.pk for job in jobs}
        if failing:
            raise RuntimeError(f"the listener failed for {sorted(failing)}")

    job_status_changed.connect(listener, weak=False, dispatch_uid="test-announce")
    yield announcements
    job_status_changed.disconnect(dispatch_uid="test-announce")


def running(**fields) -> Job:
    job = JobFactory(status=JobStatus.RUNNING, attempts=1, started_at=NOW - dt.timedelta(seconds=3), followed=True,
                     **fields)
    return Job.objects.get(pk=job.pk)


def mark_of(job) -> dt.datetime | None:
    return Job.objects.values_list("announce_due_at", flat=True).get(pk=job.pk)


# --- the final write marks, the announcement clears ----------------------------------------------


def test_the_write_that_completes_a_job_marks_it_and_the_announcement_clears_the_mark(
        heard, django_capture_on_commit_callbacks):
    job = running()

    with django_capture_on_commit_callbacks() as callbacks:
        services.job_attempt_succeeded(job=job, result="done", now=NOW)
        # Committed with the status, before anyone was told.
        assert Job.objects.values_list("status", "announce_due_at").get(pk=job.pk) == (JobStatus.COMPLETED, NOW + AGAIN)
        assert heard == []

    callbacks[0]()  # the commit's hook: the announcement

    assert heard == [[job.pk]]
    assert mark_of(job) is None


@pytest.mark.parametrize("how", ["failed for good", "cancelled", "retried by hand"])
def test_every_change_a_listener_hears_of_is_marked(how, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():  # not announced: the marks stay
        if how == "failed for good":
            job = running(max_retries=0)
            services.job_attempt_failed(job=job, error="boom", now=NOW)
        elif how == "cancelled":
            job = services.job_cancel(job=JobFactory(status=JobStatus.QUEUED, followed=True), now=NOW)
        else:
            job = services.job_retry(job=JobFactory(status=JobStatus.FAILED, attempts=1, followed=True), now=NOW)

    assert mark_of(job) == NOW + AGAIN


def test_a_job_nobody_waits_for_is_announced_without_a_mark_or_a_write(heard, django_capture_on_commit_callbacks):
    """Most jobs belong to a run or a group sync; one enqueued by itself (the benchmark's) costs
    nothing more than before announcements were durable."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    job = running()
    Job.objects.filter(pk=job.pk).update(followed=False)
    job.followed = False

    with django_capture_on_commit_callbacks() as callbacks:
        services.job_attempt_succeeded(job=job, result="done", now=NOW)
    with CaptureQueriesContext(connection) as captured:
        callbacks[0]()

    assert heard == [[job.pk]]
    assert mark_of(job) is None
    # No transaction (on SQLite a write lock) around the listeners, no UPDATE: only their reads.
    assert [q["sql"].split()[0] for q in captured.captured_queries] == ["SELECT"]


def test_a_failed_attempt_that_will_be_retried_is_not_marked(django_capture_on_commit_callbacks):
    job = running(max_retries=3)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_attempt_failed(job=job, error="boom", now=NOW) == JobStatus.RETRY_WAIT

    assert mark_of(job) is None


def test_a_listener_that_raises_leaves_the_mark_and_logs_its_traceback(heard, caplog, django_capture_on_commit_callbacks):
    job = running()
    heard.fail_for = {job.pk}

    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        services.job_attempt_succeeded(job=job, result="done", now=NOW)

    assert heard == [[job.pk]]
    assert mark_of(job) == NOW + AGAIN
    traceback, ours = caplog.records
    assert traceback.name == "django.dispatch"  # send_robust logs the traceback
    assert traceback.exc_info[1].args == (f"the listener failed for [{job.pk}]",)
    assert ours.name == "jobs.services"
    assert ours.getMessage() == (
        f"A listener (tests.jobs.test_announce.heard.<locals>.listener) raised while job(s) #{job.pk} were announced "
        f"(RuntimeError: the listener failed for [{job.pk}]); the scheduler's step announces them again once their "
        "mark is due.")


def test_the_listeners_writes_stand_when_another_listener_raises(heard, django_capture_on_commit_callbacks):
    job, other = running(), JobFactory(status=JobStatus.QUEUED)
    heard.fail_for = {job.pk}

    def writer(sender, jobs, **kwargs):
        Job.objects.filter(pk=other.pk).update(origin_label="written by a listener")

    job_status_changed.connect(writer, weak=False, dispatch_uid="test-writer")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.job_attempt_succeeded(job=job, result="done", now=NOW)
    finally:
        job_status_changed.disconnect(dispatch_uid="test-writer")

    assert Job.objects.get(pk=other.pk).origin_label == "written by a listener"
    assert mark_of(job) == NOW + AGAIN


def test_an_announcement_clears_only_its_own_mark():
    """The job was claimed to be announced again meanwhile (or made final again): the newer mark
    belongs to that announcement, and stays until it clears it."""
    job = JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW + AGAIN)
    announced = Job.objects.get(pk=job.pk)
    Job.objects.filter(pk=job.pk).update(announce_due_at=NOW + 2 * AGAIN)

    assert services.jobs_announce(jobs=[announced]) is True

    assert mark_of(job) == NOW + 2 * AGAIN


def test_announcing_several_jobs_clears_their_marks_in_one_update(heard):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    jobs = list(Job.objects.filter(pk__in=[JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW + AGAIN).pk
                                           for _ in range(5)]))

    with CaptureQueriesContext(connection) as captured:
        assert services.jobs_announce(jobs=jobs) is True

    writes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith(("UPDATE", "INSERT", "DELETE"))]
    assert len(writes) == 1 and writes[0].startswith('UPDATE "jobs_job" SET "announce_due_at" = NULL')
    assert heard == [sorted(j.pk for j in jobs)]
    assert not Job.objects.filter(announce_due_at__isnull=False).exists()


# --- the step announces again what is still marked -------------------------------------------------


def test_the_step_leaves_a_job_alone_until_its_mark_is_due(heard):
    JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW + AGAIN)

    assert jobs_announce_overdue(now=NOW + AGAIN - dt.timedelta(microseconds=1)) == 0
    assert heard == []


def test_the_step_announces_again_a_job_whose_worker_died_after_its_commit(heard, caplog):
    job = JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW + AGAIN)
    JobFactory(status=JobStatus.COMPLETED)  # announced long ago

    with caplog.at_level(logging.WARNING, logger="jobs.maintenance"):
        assert jobs_maintain(now=NOW + AGAIN)["announced again"] == 1

    assert heard == [[job.pk]]
    assert mark_of(job) is None
    assert "Announcing again 1 job(s) whose announcement did not complete" in caplog.text
    assert jobs_announce_overdue(now=NOW + 10 * AGAIN) == 0  # nothing left


def test_a_job_whose_listener_still_raises_comes_back_a_few_seconds_later(heard):
    job = JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW)
    heard.fail_for = {job.pk}

    assert jobs_announce_overdue(now=NOW) == 0
    assert mark_of(job) == NOW + AGAIN  # the claim moved it on
    assert jobs_announce_overdue(now=NOW + AGAIN / 2) == 0  # not again at once

    heard.fail_for = set()  # fixed (a database back, a deployment)
    assert jobs_announce_overdue(now=NOW + AGAIN) == 1
    assert heard == [[job.pk], [job.pk]]
    assert mark_of(job) is None


def test_a_batch_whose_listener_raises_for_one_job_clears_the_others(heard):
    jobs = [JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW) for _ in range(3)]
    heard.fail_for = {jobs[1].pk}

    assert jobs_announce_overdue(now=NOW) == 2

    assert heard[0] == [job.pk for job in jobs]  # the batch, then one by one
    assert sorted(heard[1:]) == [[job.pk] for job in jobs]
    assert [mark_of(job) for job in jobs] == [None, NOW + AGAIN, None]


def test_the_step_announces_in_small_batches_oldest_first(heard, settings):
    settings.JOBS_ANNOUNCE_BATCH_SIZE = 2
    jobs = [JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW - dt.timedelta(seconds=n)) for n in range(3)]

    assert jobs_announce_overdue(now=NOW) == 2
    assert heard == [sorted([jobs[2].pk, jobs[1].pk])]
    assert jobs_announce_overdue(now=NOW) == 1


def test_two_schedulers_never_announce_the_same_job_at_the_same_moment(heard):
    """The second scheduler's step runs while the first is announcing: the job is claimed (its mark
    moved on by compare-and-set), so the second finds nothing due."""
    job = JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW)
    second = []

    def other_scheduler(sender, jobs, **kwargs):
        second.append(jobs_announce_overdue(now=NOW))

    job_status_changed.connect(other_scheduler, weak=False, dispatch_uid="test-other-scheduler")
    try:
        assert jobs_announce_overdue(now=NOW) == 1
    finally:
        job_status_changed.disconnect(dispatch_uid="test-other-scheduler")

    assert second == [0]
    assert heard == [[job.pk]]


def test_a_claim_lost_to_another_scheduler_leaves_the_job_out():
    """Both read the jobs as due; the other claimed one of them first (its mark moved on), and a
    worker announced another meanwhile (its mark cleared): this scheduler claims only the third."""
    jobs = [JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW) for _ in range(3)]
    read = list(Job.objects.filter(announce_due_at__lte=NOW).order_by("pk"))
    Job.objects.filter(pk=jobs[0].pk).update(announce_due_at=NOW + AGAIN)
    Job.objects.filter(pk=jobs[1].pk).update(announce_due_at=None)

    claimed = claim_announcements(read, until=NOW + 3 * AGAIN)

    assert [job.pk for job in claimed] == [jobs[2].pk]
    assert [mark_of(job) for job in jobs] == [NOW + AGAIN, None, NOW + 3 * AGAIN]


# --- jobs_maintained: the followers' sweep -------------------------------------------------------


def test_the_step_lets_the_followers_settle_and_counts_what_they_settled(caplog):
    calls = []

    def settles_two(sender, now, **kwargs):
        calls.append(now)
        return 2

    def raises(sender, now, **kwargs):
        raise RuntimeError("a sweep failed")

    jobs_maintained.connect(settles_two, weak=False, dispatch_uid="test-settles")
    jobs_maintained.connect(raises, weak=False, dispatch_uid="test-raises")
    try:
        with caplog.at_level(logging.ERROR, logger="jobs.maintenance"):
            assert jobs_maintain(now=NOW)["settled"] == 2
    finally:
        jobs_maintained.disconnect(dispatch_uid="test-settles")
        jobs_maintained.disconnect(dispatch_uid="test-raises")

    assert calls == [NOW]
    assert "A listener (tests.jobs.test_announce." in caplog.text and "(RuntimeError: a sweep failed)" in caplog.text


def test_the_step_names_the_jobs_it_announces_again_twenty_at_most(heard, caplog):
    jobs = [JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW) for _ in range(21)]

    with caplog.at_level(logging.WARNING, logger="jobs.maintenance"):
        assert jobs_announce_overdue(now=NOW) == 21

    ids = ", ".join(f"#{job.pk}" for job in jobs[:20])  # oldest mark first, then by id
    assert [record.getMessage() for record in caplog.records if record.name == "jobs.maintenance"] == [
        "Announcing again 21 job(s) whose announcement did not complete (their worker died after its commit, or a "
        f"listener raised): {ids}"]


def test_a_scheduler_whose_claims_were_all_taken_announces_nothing(heard, monkeypatch):
    """Between its read and its claim, the other scheduler claimed every job: it counts none."""
    jobs = [JobFactory(status=JobStatus.COMPLETED, announce_due_at=NOW) for _ in range(2)]
    claim = maintenance.claim_announcements

    def the_other_scheduler_first(candidates, *, until):
        Job.objects.filter(pk__in=[job.pk for job in jobs]).update(announce_due_at=NOW + AGAIN)
        return claim(candidates, until=until)

    monkeypatch.setattr(maintenance, "claim_announcements", the_other_scheduler_first)

    assert jobs_maintain(now=NOW)["announced again"] == 0
    assert heard == []


def test_announcing_again_reads_the_jobs_once_whatever_the_listeners_look_at(heard):
    """The listeners look at each job's type, params and status (the group syncs do): those come with
    the batch's one read. Each job costs one query only: its claim (a compare-and-set)."""
    seen = []

    def follower(sender, jobs, **kwargs):
        seen.extend((job.job_type, job.params, job.status) for job in jobs)

    def queries_to_announce(n: int) -> int:
        JobFactory.create_batch(n, status=JobStatus.COMPLETED, announce_due_at=NOW)
        with CaptureQueriesContext(connection) as captured:
            assert jobs_announce_overdue(now=NOW) == n
        return len(captured.captured_queries)

    job_status_changed.connect(follower, weak=False, dispatch_uid="test-follower")
    try:
        assert queries_to_announce(4) - queries_to_announce(1) == 3
    finally:
        job_status_changed.disconnect(dispatch_uid="test-follower")
    assert len(seen) == 5


def test_what_several_followers_settled_adds_up_and_a_failing_one_is_named(caplog):
    def settles_two(sender, now, **kwargs):
        return 2

    def settles_three(sender, now, **kwargs):
        return 3

    def raises(sender, now, **kwargs):
        raise RuntimeError("a sweep failed")

    for receiver in (settles_two, raises, settles_three):
        jobs_maintained.connect(receiver, weak=False, dispatch_uid=f"test-{receiver.__name__}")
    try:
        with caplog.at_level(logging.ERROR, logger="jobs.maintenance"):
            assert jobs_maintain(now=NOW)["settled"] == 5
    finally:
        for receiver in (settles_two, raises, settles_three):
            jobs_maintained.disconnect(dispatch_uid=f"test-{receiver.__name__}")

    assert [record.getMessage() for record in caplog.records if record.name == "jobs.maintenance"] == [
        "A listener (tests.jobs.test_announce.test_what_several_followers_settled_adds_up_and_a_failing_one_is_named."
        "<locals>.raises) of jobs_maintained raised (RuntimeError: a sweep failed); the next step tries again."]
