# Every schedule gets a key (what export_schedules / import_schedules name it by), and the audit
# trail a new entrance: "import".

import django.core.validators
from django.db import migrations, models
from django.utils.text import slugify

KEY_BASE_LENGTH = 90


def give_keys(apps, schema_editor):
    """Each existing schedule's key, made from its name as the model makes it (oldest schedule first, so
    the first "News" keeps "news" and the next is "news-2"). The rule is copied here on purpose: a
    migration must not change when the model's code does."""
    ScheduledTask = apps.get_model("scheduling", "ScheduledTask")
    taken: set[str] = set()
    schedules = list(ScheduledTask.objects.order_by("pk").only("pk", "name"))
    for schedule in schedules:
        base = slugify(schedule.name)[:KEY_BASE_LENGTH].strip("-_") or "schedule"
        key, n = base, 1
        while key in taken:
            n += 1
            key = f"{base}-{n}"
        taken.add(key)
        schedule.key = key
    ScheduledTask.objects.bulk_update(schedules, ["key"], batch_size=500)


class Migration(migrations.Migration):

    dependencies = [
        ('scheduling', '0009_dispatched_runs_index'),
    ]

    operations = [
        # Added empty, filled, then made unique: the existing rows cannot all be "" under a unique index.
        migrations.AddField(
            model_name='scheduledtask',
            name='key',
            field=models.CharField(blank=True, default='', max_length=100),
            preserve_default=False,
        ),
        migrations.RunPython(give_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='scheduledtask',
            name='key',
            field=models.CharField(blank=True, help_text='A short unique name for files and scripts, e.g. news-daily; empty: made from the name. It stays when the name changes.', max_length=100, unique=True, validators=[django.core.validators.RegexValidator('\\A[a-z0-9][a-z0-9_-]*\\Z', 'Use lower-case letters, digits, hyphens and underscores, starting with a letter or digit, e.g. news-daily.', code='invalid_key')]),
        ),
        migrations.AlterField(
            model_name='scheduleauditentry',
            name='via',
            field=models.CharField(choices=[('admin', 'Admin'), ('page', 'Pages'), ('api', 'API'), ('command', 'Command line'), ('import', 'Import'), ('system', 'The system')], max_length=16),
        ),
    ]
