"""The notification channel form: one for the page and the admin; the model's clean() has the rules."""

from __future__ import annotations

from django import forms

from notifications.models import ChannelKind, NotificationChannel

TARGET_HELP = ("An Apprise URL: ntfy://…, gotify://…, tgram://…, discord://…, slack://…, matrix://…, json://… "
               "(a webhook), mailto://… (see Apprise's list of services). Or an email address, sent through this "
               "server's mail settings (EMAIL_URL).")


class NotificationChannelForm(forms.ModelForm):
    """A name, where to send, and whether to.

    An Apprise URL holds secrets, so an existing one is never put back into the page: the input
    starts empty, and left empty it keeps the stored URL.
    """

    class Meta:
        model = NotificationChannel
        fields = ["name", "target", "enabled"]
        widgets = {"target": forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false",
                                                    "placeholder": "ntfy://ntfy.example.com/alerts"})}
        help_texts = {"name": "How the pages and the schedules' choice name it, e.g. “Phone (ntfy)”.",
                      "target": TARGET_HELP,
                      "enabled": "Disabled: no alert goes to it (a test still does)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.keeps_secret = bool(self.instance.pk) and self.instance.kind == ChannelKind.APPRISE
        if self.keeps_secret and "target" in self.fields:  # the admin's read-only view has no input
            self.initial["target"] = ""
            self.fields["target"].required = False
            self.fields["target"].help_text = (f"Now {self.instance.masked_target} (hidden: it holds secrets). Leave "
                                               f"empty to keep it, or enter a new URL or address. {TARGET_HELP}")

    def clean_target(self):
        value = (self.cleaned_data.get("target") or "").strip()
        if not value and self.keeps_secret:
            return self.instance.target
        return value
