"""The QUICK_SYNC_GROUP task type: one run creates a QUICK_SYNC job per enabled channel of a group."""

from django import forms

from channels import messages, services
from channels.models import ChannelGroup
from jobs.services import JobRequest
from scheduling import registry

TASK_TYPE = services.TASK_TYPE


class QuickSyncGroupParamsForm(registry.ParamsForm):
    group_id = forms.ModelChoiceField(
        queryset=ChannelGroup.objects.order_by("name"), label="Channel group",
        help_text="Every enabled channel of the group is synced.",
        error_messages={"required": "Choose the channel group to sync.",
                        "invalid_choice": "No such channel group; choose one from the list."},
    )


# A group's card opens the editor with its group fixed; the editor's title names it (ParamsForm's editor_title).
QuickSyncGroupParamsForm.base_fields["group_id"].editor_title = "Quick sync of {}"


def job_requests(run, *, now) -> list[JobRequest]:
    """The run's jobs, recorded as the run's GroupSync in the scheduler's transaction (the channels
    skipped for backoff or cool-down are part of it). A run that would sync nothing says why instead."""
    group_id = run.schedule.params.get("group_id")
    group = ChannelGroup.objects.filter(pk=group_id).first()
    if group is None:
        raise registry.CannotDispatch(f"The channel group (id {group_id}) no longer exists.")
    # The run's window may be a little in the past; backoffs and cool-downs end in real time.
    group_sync, requests = services.group_sync_plan(group=group, now=now, schedule_run=run)
    if not requests and group_sync.channels_total:
        raise registry.CannotDispatch(messages.nothing_to_sync_message(group_sync, group))
    return requests


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
