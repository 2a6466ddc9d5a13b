"""GroupSync's copies of its run's identity go: `schedule_run` says which run made it (see 0005)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("channels", "0005_group_sync_run_from_its_identity"),
    ]

    operations = [
        migrations.RemoveField(model_name="groupsync", name="due_at"),
        migrations.RemoveField(model_name="groupsync", name="schedule_id_at_dispatch"),
        migrations.RemoveField(model_name="groupsync", name="trigger"),
    ]
