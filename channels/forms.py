"""Forms for groups and channels: the pages and the admin share them, and the services validate again."""

from __future__ import annotations

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple

from channels.identity import ACCEPTED_FORMS, parse_channel_reference
from channels.models import Channel, ChannelGroup
from common.forms import ModelIdsField


class ChannelReferenceField(forms.CharField):
    """A channel id, channel URL or feed URL in; the channel id out."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Channel")
        kwargs.setdefault("max_length", 500)
        kwargs.setdefault("help_text", f"Paste {ACCEPTED_FORMS}.")
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values and not self.required:
            return value
        return parse_channel_reference(value)


class ChannelGroupForm(forms.ModelForm):
    """Create or rename a group; the model's own rules (a unique name) give the inline messages."""

    class Meta:
        model = ChannelGroup
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {"description": "Optional: what the group is for."}

    def clean_name(self):
        return self.cleaned_data["name"].strip()


def _group_choices() -> forms.ModelMultipleChoiceField:
    return ModelIdsField(queryset=ChannelGroup.objects.order_by("name"), required=False,
                                          label="Groups", widget=forms.CheckboxSelectMultiple)


class ChannelAddForm(forms.Form):
    reference = ChannelReferenceField(label="Channel id or URL")
    title = forms.CharField(max_length=200, required=False,
                            help_text="Optional: the first sync fills in the channel's own title.")
    groups = _group_choices()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].help_text = "A channel can be in several groups. A channel already in the archive joins them."


class ChannelGroupsForm(forms.Form):
    """Which groups one channel is in: the boxes ticked are joined, the others left."""

    groups = _group_choices()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["groups"].label = "Member of"


class ChannelAdminForm(forms.ModelForm):
    """The admin's channel form: the YouTube id field also takes the channel or feed URL."""

    youtube_id = ChannelReferenceField(label="YouTube id")
    title = forms.CharField(max_length=200, required=False,
                            help_text="Leave empty to use the id until the first sync fills in the channel's title.")

    class Meta:
        model = Channel
        fields = ["youtube_id", "title", "enabled", "groups"]

    def clean_title(self):
        return self.cleaned_data.get("title", "").strip()

    def _post_clean(self):
        if not self.cleaned_data.get("title") and self.cleaned_data.get("youtube_id"):
            self.cleaned_data["title"] = self.cleaned_data["youtube_id"]
        super()._post_clean()



class ChannelGroupAdminForm(forms.ModelForm):
    """The admin's group form: the group's fields plus its channels (the other side of Channel.groups)."""

    channels = ModelIdsField(
        queryset=Channel.objects.order_by("title"), required=False,
        widget=FilteredSelectMultiple("channels", is_stacked=False),
    )

    class Meta:
        model = ChannelGroup
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["channels"].initial = self.instance.channels.all()
