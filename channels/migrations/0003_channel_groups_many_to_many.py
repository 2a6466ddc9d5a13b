"""A channel can belong to several groups: the single `Channel.group` becomes `Channel.groups`.

Schema and data in one migration, so no database is ever left between the two: the memberships
of the old column are copied into the new table before the column goes. Reversing keeps one
group per channel (the lowest id) and says so, since a single column cannot hold more.
"""

from django.db import migrations, models


def copy_group_into_groups(apps, schema_editor):
    Channel = apps.get_model("channels", "Channel")
    Membership = Channel.groups.through
    rows = Channel.objects.filter(group__isnull=False).values_list("pk", "group_id")
    Membership.objects.bulk_create(
        [Membership(channel_id=channel_id, channelgroup_id=group_id) for channel_id, group_id in rows.iterator()],
        batch_size=1000,
    )


def copy_groups_into_group(apps, schema_editor):
    Channel = apps.get_model("channels", "Channel")
    Membership = Channel.groups.through
    first_group = {}
    for channel_id, group_id in Membership.objects.order_by("channel_id", "channelgroup_id").values_list(
            "channel_id", "channelgroup_id"):
        first_group.setdefault(channel_id, group_id)
    for channel_id, group_id in first_group.items():
        Channel.objects.filter(pk=channel_id).update(group_id=group_id)


class Migration(migrations.Migration):

    dependencies = [
        ("channels", "0002_youtube_id_label_created_at_readonly"),
    ]

    operations = [
        # The old column gives up its reverse name for the new relation (no change in the database).
        migrations.AlterField(
            model_name="channel",
            name="group",
            field=models.ForeignKey(blank=True, null=True, on_delete=models.SET_NULL, related_name="+",
                                    to="channels.channelgroup"),
        ),
        migrations.AddField(
            model_name="channel",
            name="groups",
            field=models.ManyToManyField(blank=True, related_name="channels", to="channels.channelgroup"),
        ),
        migrations.RunPython(copy_group_into_groups, copy_groups_into_group),
        migrations.RemoveField(model_name="channel", name="group"),
    ]
