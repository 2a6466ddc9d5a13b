"""The QUICK_SYNC_GROUP task type: one run creates a QUICK_SYNC job per enabled channel of a group."""

from django import forms

from channels.models import Channel, ChannelGroup
from jobs.services import JobRequest
from scheduling import registry

TASK_TYPE = "QUICK_SYNC_GROUP"
JOB_TYPE = "QUICK_SYNC"


class QuickSyncGroupParamsForm(registry.ParamsForm):
    group_id = forms.ModelChoiceField(
        queryset=ChannelGroup.objects.order_by("name"), label="Channel group",
        help_text="Every enabled channel of the group is synced.",
        error_messages={"required": "Choose the channel group to sync.",
                        "invalid_choice": "No such channel group; choose one from the list."},
    )


def job_requests(schedule, *, due_at, trigger) -> list[JobRequest]:
    group_id = schedule.params.get("group_id")
    if not ChannelGroup.objects.filter(pk=group_id).exists():
        raise registry.CannotDispatch(f"The channel group (id {group_id}) no longer exists.")
    channel_ids = Channel.objects.filter(group_id=group_id, enabled=True).values_list("pk", flat=True)
    return [JobRequest(JOB_TYPE, {"channel_id": pk, "group_id": group_id}) for pk in channel_ids]


def summarize_params(many) -> list[str]:
    names = dict(ChannelGroup.objects.filter(pk__in={p.get("group_id") for p in many}).values_list("pk", "name"))
    return [names.get(params.get("group_id"), "a deleted group") for params in many]


def register() -> None:
    registry.register(
        registry.TaskType(
            name=TASK_TYPE,
            label="Quick sync of a channel group",
            params_form=QuickSyncGroupParamsForm,
            job_requests=job_requests,
            summarize_params=summarize_params,
        )
    )
