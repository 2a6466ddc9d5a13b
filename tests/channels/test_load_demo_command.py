"""`manage.py load_demo`: News and Lawyers with real channel ids, and running it twice changes nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from channels.identity import CHANNEL_ID
from channels.models import Channel, ChannelGroup

pytestmark = pytest.mark.django_db


def test_it_creates_the_demo_groups_once():
    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "needs internet access" in out.getvalue()
    groups = {g.name: sorted(c.title for c in g.channels.all()) for g in ChannelGroup.objects.all()}
    assert set(groups) == {"News", "Lawyers"} and all(len(titles) >= 2 for titles in groups.values())
    assert all(CHANNEL_ID.fullmatch(youtube_id) for youtube_id in Channel.objects.values_list("youtube_id", flat=True))

    call_command("load_demo", stdout=StringIO())

    assert {g.name: sorted(c.title for c in g.channels.all()) for g in ChannelGroup.objects.all()} == groups
    assert Channel.objects.count() == sum(len(titles) for titles in groups.values())
