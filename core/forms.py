from django import forms

from core.models import ApiToken


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=ApiToken._meta.get_field("name").max_length,
        help_text="What the token is for, so you know which one to revoke later (e.g. “backup script on nas”).",
    )
