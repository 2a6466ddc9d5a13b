"""The migration from one group per channel to several keeps every membership, both ways."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("channels", "0002_youtube_id_label_created_at_readonly")]
AFTER = [("channels", "0003_channel_groups_many_to_many")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_it_turns_each_channels_group_into_a_membership_and_back():
    try:
        old = migrate(BEFORE)
        Group, Channel = old.get_model("channels", "ChannelGroup"), old.get_model("channels", "Channel")
        news, lawyers = Group.objects.create(name="News"), Group.objects.create(name="Lawyers")
        Channel.objects.create(youtube_id="UC" + "a" * 22, title="A", group=news)
        Channel.objects.create(youtube_id="UC" + "b" * 22, title="B", group=lawyers)
        Channel.objects.create(youtube_id="UC" + "c" * 22, title="C", group=None)

        new = migrate(AFTER)
        Channel = new.get_model("channels", "Channel")
        assert {c.title: sorted(g.name for g in c.groups.all()) for c in Channel.objects.all()} == {
            "A": ["News"], "B": ["Lawyers"], "C": []}

        Channel.objects.get(title="C").groups.add(*new.get_model("channels", "ChannelGroup").objects.all())
        old = migrate(BEFORE)
        Channel = old.get_model("channels", "Channel")
        back = {c.title: c.group.name if c.group else None for c in Channel.objects.select_related("group")}
        assert back == {"A": "News", "B": "Lawyers", "C": "News"}  # the lowest group id of several
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_each_group_sync_points_at_the_run_that_made_it_before_the_copies_of_its_identity_go():
    import datetime as dt

    utc = dt.timezone.utc
    first, second = dt.datetime(2026, 5, 1, 5, 30, tzinfo=utc), dt.datetime(2026, 5, 2, 5, 30, tzinfo=utc)
    before = [("channels", "0004_sync_state"), ("jobs", "0003_origin_and_permanent_failure")]
    try:
        old = migrate(before)
        GroupSync, Group = old.get_model("channels", "GroupSync"), old.get_model("channels", "ChannelGroup")
        Schedule, Run = old.get_model("scheduling", "ScheduledTask"), old.get_model("scheduling", "ScheduleRun")
        Job = old.get_model("jobs", "Job")
        group = Group.objects.create(name="News")
        schedule = Schedule.objects.create(name="Sync News", task_type="QUICK_SYNC_GROUP", params={"group_id": group.pk})
        identity = {"schedule_id_at_dispatch": schedule.pk, "trigger": "scheduled"}
        run_with_job, run_without, linked_run = (
            Run.objects.create(schedule=schedule, schedule_name="Sync News", trigger="scheduled", due_at=due,
                               outcome="dispatched")
            for due in (first, second, second + dt.timedelta(days=1)))
        # A run whose first job has not finished: found through its job, even with its schedule deleted since.
        by_job = GroupSync.objects.create(group=group, group_name="News", **{**identity, "schedule_id_at_dispatch": 999},
                                          due_at=first)
        run_with_job.jobs.add(Job.objects.create(job_type="QUICK_SYNC", params={"group_sync_id": by_job.pk}))
        # A run whose channels were all skipped has no job: found by schedule, window and trigger.
        by_identity = GroupSync.objects.create(group=group, group_name="News", **identity, due_at=second)
        linked = GroupSync.objects.create(group=group, group_name="News", schedule_run=linked_run)
        sync_now = GroupSync.objects.create(group=group, group_name="News", trigger="manual")

        new = migrate([("channels", "0006_group_sync_forgets_run_identity")])
        GroupSync = new.get_model("channels", "GroupSync")
        assert {g.pk: g.schedule_run_id for g in GroupSync.objects.all()} == {
            by_job.pk: run_with_job.pk, by_identity.pk: run_without.pk, linked.pk: linked_run.pk, sync_now.pk: None}
        assert not {"due_at", "trigger", "schedule_id_at_dispatch"} & {f.name for f in GroupSync._meta.fields}

        old = migrate(before)
        GroupSync = old.get_model("channels", "GroupSync")
        back = {g.pk: (g.schedule_id_at_dispatch, g.due_at, g.trigger) for g in GroupSync.objects.all()}
        assert back == {by_job.pk: (schedule.pk, first, "scheduled"), by_identity.pk: (schedule.pk, second, "scheduled"),
                        linked.pk: (schedule.pk, second + dt.timedelta(days=1), "scheduled"),
                        sync_now.pk: (None, None, "manual")}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
