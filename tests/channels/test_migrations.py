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
