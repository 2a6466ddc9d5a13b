"""The schedule form: one editor for the admin and the pages.

Every rule still lives in `ScheduledTask.clean()` and the task type's params form; this form only
lays the fields out. Each task type's params fields are part of it (named `<task type>-<param>`,
e.g. `quick_sync_group-group_id`), so the admin and the pages show a group picker rather than a
JSON box; only the chosen task type's params are validated and stored.
"""

from __future__ import annotations

import copy
import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from notifications.selectors import channel_choices
from scheduling import recurrence, registry
from scheduling.models import ScheduledTask, ScheduleKind

# Which inputs each kind uses; the editor shows only these (the model clears the others on save).
KIND_INPUTS = {kind: sorted(fields) for kind, fields in ScheduledTask.KIND_FIELDS.items()}


def params_prefix(task_type: str) -> str:
    return task_type.lower()


class ScheduleForm(forms.ModelForm):
    task_type = forms.ChoiceField(label="Task")
    schedule_kind = forms.ChoiceField(label="Repeats", choices=ScheduleKind.choices, initial=ScheduleKind.DAILY)
    # No maxlength: a browser would cut "5:30pm" to "5:30p" as it is typed. The whole text is read
    # (clean_schedule_time) and the model refuses what is not understood, quoting all of it.
    schedule_time = forms.CharField(
        label="Time (HH:MM, 24-hour)", required=False, strip=True,
        help_text="Local time in the schedule's time zone, e.g. 05:30 or 17:30 (a 12-hour time with am or pm is understood too).",
        widget=forms.TextInput(attrs={"placeholder": "HH:MM", "size": 8, "autocomplete": "off"}),
    )
    schedule_days = forms.MultipleChoiceField(
        label="On", required=False, widget=forms.CheckboxSelectMultiple,
        choices=[(day, day.capitalize()) for day in recurrence.WEEKDAYS],
        help_text="At least one weekday.",
    )
    # The minimum is the model's rule, said once, in its words ("at least 5 minutes (got 3)"); the
    # input's `min` only hints it to the browser (the form is `novalidate`).
    interval_minutes = forms.IntegerField(
        label="Every (minutes)", required=False,
        widget=forms.NumberInput(attrs={"min": recurrence.MIN_INTERVAL_MINUTES}),
        help_text=f"At least {recurrence.MIN_INTERVAL_MINUTES} minutes.",
    )
    cron_expr = forms.CharField(
        label="Cron expression", required=False, max_length=120,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. 30 5 * * mon-fri.",
        widget=forms.TextInput(attrs={"placeholder": "30 5 * * *", "autocomplete": "off", "spellcheck": "false"}),
    )
    notify_channels = forms.TypedMultipleChoiceField(
        label="Alerts go to", required=False, coerce=int, widget=forms.CheckboxSelectMultiple,
        help_text="The notification channels told when a run fails or windows are missed or skipped. "
                  "None ticked: all channels.",
    )
    # Filled from the chosen task type's params fields in clean(); never an input of its own.
    params = forms.JSONField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = ScheduledTask
        fields = ("name", "task_type", "enabled", "schedule_kind", "schedule_time", "schedule_days",
                  "interval_minutes", "anchor_at", "cron_expr", "timezone", "grace_minutes", "overlap_policy",
                  "notify_channels", "params")
        labels = {"anchor_at": "Starting at", "timezone": "Time zone", "grace_minutes": "Grace period (minutes)",
                  "overlap_policy": "If the previous run is still active"}
        help_texts = {"anchor_at": "Interval schedules count from here (UTC); empty: from when it is saved, "
                                   "on the whole minute."}

    # Who saves (given by the views; the admin sets it on its form class): the task type may refuse
    # their change (registry.check_change), shown under the param. None: nobody is asked.
    user = None

    def __init__(self, *args, task_types: list[str] | None = None, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None:
            self.user = user
        self.task_types = task_types or registry.names()
        self.fields["task_type"].choices = [(name, registry.label(name)) for name in self.task_types]
        if len(self.task_types) == 1:
            self.fields["task_type"].initial = self.task_types[0]
        self.fields["notify_channels"].choices = channel_choices()
        if not self.fields["notify_channels"].choices:
            self.fields["notify_channels"].help_text = ("No notification channel yet: add one on the Notifications "
                                                        "page, and this schedule's alerts go to it.")
        #: task type -> the names of its params fields in this form
        self.params_fields: dict[str, list[str]] = {}
        stored = self.instance.params if self.instance.pk else {}
        for name in self.task_types:
            params_form = registry.get(name).params_form()
            names = []
            for key, field in params_form.fields.items():
                field_name = f"{params_prefix(name)}-{key}"
                field = copy.deepcopy(field)
                # Required only when its task type is chosen: the params form checks that in clean().
                field.required = False
                when = getattr(field, "shown_when", None)
                if when:  # the controlling param's input, by its name in this form
                    field.shown_when = (f"{params_prefix(name)}-{when[0]}", when[1])
                if self.instance.task_type == name and key in stored:
                    field.initial = stored[key]
                self.fields[field_name] = field
                names.append(field_name)
            self.params_fields[name] = names

    def clean_schedule_time(self) -> str:
        """"5:30pm" is 17:30 and "7:30" is 07:30; text that is no time stays as typed, for the model to refuse whole."""
        text = self.cleaned_data.get("schedule_time") or ""
        return recurrence.read_wall_time(text) or text

    @property
    def fixed_title(self) -> str:
        """What the editor is for, when its page fixed a param whose field says how to name it
        (`field.editor_title = "Quick sync of {}"` on a task type's params field): "Quick sync of News".
        "" when no such param is fixed (the views set `fixed`) or its value names nothing."""
        chosen = self["task_type"].value() or (self.task_types[0] if self.task_types else "")
        for name in getattr(self, "fixed", ()):
            field = self.fields[name]
            title = getattr(field, "editor_title", None)
            if not title or name not in self.params_fields.get(chosen, ()):
                continue
            try:
                value = field.clean(self[name].value())
            except ValidationError:
                continue
            if value not in field.empty_values:
                return title.format(field.label_from_instance(value) if hasattr(field, "label_from_instance")
                                    else value)
        return ""

    def chosen_params_form(self) -> registry.ParamsForm | None:
        name = self.cleaned_data.get("task_type") if hasattr(self, "cleaned_data") else self.instance.task_type
        if name not in self.params_fields:
            return None
        return registry.get(name).params_form(data=self.data, prefix=self.add_prefix(params_prefix(name)))

    def clean(self):
        cleaned = super().clean()
        params_form = self.chosen_params_form()
        if params_form is None:
            return cleaned
        self._params_invalid = not params_form.is_valid()
        if not self._params_invalid:
            cleaned["params"] = params_form.to_params()
        else:
            for key, errors in params_form.errors.items():
                field_name = f"{params_prefix(cleaned['task_type'])}-{key}"
                if field_name not in self.errors:
                    self.add_error(field_name, errors)
        return cleaned

    def _post_clean(self):
        # One mistake, one message: an input the form could not read reached the model empty, and the
        # model's rules about that empty value ("a number of minutes is required") are not true.
        read_errors = {name: len(errors) for name, errors in self._errors.items() if name in self.fields}
        super()._post_clean()
        for name, count in read_errors.items():
            del self._errors[name][count:]
        # The model checks params too (every entrance goes through it); its messages name the
        # param, so move them under that param's own input when the form shows one.
        errors = self._errors.pop("params", None) if self._errors else None
        if errors and not getattr(self, "_params_invalid", False):  # else the params form has said it
            for error in errors.as_data():
                self.add_error(self._param_field(getattr(error, "param", None)), error)
        self._check_change()

    def _param_field(self, param: str | None) -> str | None:
        """The input of a param of the chosen task type; None (the form as a whole) if it has none."""
        field_name = f"{params_prefix(self.instance.task_type)}-{param}"
        return field_name if field_name in self.fields else None

    def _check_change(self) -> None:
        """Put a valid change to the task type for the user who saves (the service asks again on save)."""
        if self.user is None or self._errors:
            return
        stored = ScheduledTask.objects.filter(pk=self.instance.pk).first() if self.instance.pk else None
        try:
            # The form is an entrance: it reads the clock, as the view that saves it does.
            registry.check_change(old=stored, new=self.instance, user=self.user, now=timezone.now())
        except registry.ParamsChangeRefused as exc:
            self.add_error(self.refused_field(exc), exc.message)

    def refused_field(self, refused: registry.ParamsChangeRefused) -> str | None:
        """The input a task type's refusal is about."""
        return refused.field if refused.field in self.fields else self._param_field(refused.param)


class ScheduleFilterForm(forms.Form):
    """The /schedules filters, from the query string; bad values are ignored, not errors."""

    STATES = [("", "All states"), ("enabled", "Enabled"), ("disabled", "Disabled"), ("paused", "Paused"),
              ("failing", "Failing (last run failed)")]

    type = forms.ChoiceField(required=False, label="Task")
    state = forms.ChoiceField(required=False, label="State", choices=STATES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [("", "All tasks"), *registry.choices()]

    def filters(self) -> dict:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {"task_type": data.get("type") or "", "state": data.get("state") or ""}


class WallTimeField(forms.DateTimeField):
    """A date and time on a zone's wall clock (a datetime-local input), cleaned to a UTC instant.

    Resolved by the daily schedules' DST rules (`recurrence.wall_to_instant`), where Django's own
    field would refuse a time the clocks skip or repeat. A value with an offset keeps it.
    """

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, *, zone: str, **kwargs):
        self.zone = zone
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            return value.astimezone(recurrence.parse_zone(self.zone)).replace(tzinfo=None)
        return value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, datetime.datetime):
            wall = value
        else:
            try:
                wall = parse_datetime(str(value).strip())
            except ValueError:
                wall = None
            if wall is None:
                raise ValidationError(self.error_messages["invalid"], code="invalid")
        return wall if wall.tzinfo is not None else recurrence.wall_to_instant(wall, self.zone)


class PauseForm(forms.Form):
    """"Pause until", on the schedule's wall clock, and why. The rules are the model's
    (`ScheduledTask.clean_pause`), checked by the service; this form reads the inputs."""

    reason = forms.CharField(label="Reason (optional)", required=False, max_length=200,
                             widget=forms.TextInput(attrs={"placeholder": "e.g. server maintenance"}))

    def __init__(self, *args, schedule: ScheduledTask, now: datetime.datetime, **kwargs):
        super().__init__(*args, **kwargs)
        zone = schedule.timezone
        try:
            local_now = recurrence.local_label(now, zone)
        except recurrence.RecurrenceError:  # a zone gone from tzdata: UTC, and the note says so
            zone, local_now = "UTC", recurrence.local_label(now, "UTC")
        # Not required here: the model's rule says what is missing, as for every entrance.
        self.fields = {"until": WallTimeField(
            zone=zone, label="Pause until", required=False, initial=schedule.paused_until,
            help_text=f"Date and time in the schedule's time zone, {zone} (it is now {local_now} there). "
                      "It resumes by itself then."), **self.fields}
        self.fields["reason"].initial = schedule.pause_reason
