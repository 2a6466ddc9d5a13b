"""`manage.py load_demo`: the groups "News" and "Lawyers" with a few real public channels each."""

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from channels import services
from channels.models import ChannelGroup

# Public channels and their ids (UC…), as YouTube's feed knows them.
DEMO = {
    "News": [
        ("UC16niRr50-MSBwiO3YDb3RA", "BBC News"),
        ("UCknLrEdhRCp1aegoMqRaCZg", "DW News"),
        ("UCNye-wNBqNL5ZzHSJj3l8Bg", "Al Jazeera English"),
    ],
    "Lawyers": [
        ("UCpa-Zb0ZcQjTCPP1Dx_1M8Q", "LegalEagle"),
        ("UCz8K1occVvDTYDfFo7N5EZw", "Law&Crime Network"),
    ],
}


class Command(BaseCommand):
    help = "Create the demo channel groups News and Lawyers with a few public channels (safe to run again)."

    def handle(self, *args, **options):
        now = timezone.now()
        created_groups = created_channels = 0
        with transaction.atomic():
            for name, channels in DEMO.items():
                group = ChannelGroup.objects.filter(name=name).first()
                if group is None:
                    group = services.group_create(name=name, now=now)
                    created_groups += 1
                for youtube_id, title in channels:
                    _, created = services.channel_add(reference=youtube_id, title=title, groups=[group], now=now)
                    created_channels += created
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {created_groups} group(s) and {created_channels} channel(s) created "
            f"({', '.join(DEMO)}; nothing is duplicated when run again)."))
        self.stdout.write(
            "Syncing needs internet access to www.youtube.com: use Sync now on /channels (or the admin), or "
            "schedule a quick sync of a group on /schedules, with `manage.py qcluster` running.")
