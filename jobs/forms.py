from django import forms

from jobs import registry
from jobs.models import JobStatus


class JobFilterForm(forms.Form):
    """The /jobs filters and cursors, all from the query string; bad values are ignored, not errors."""

    type = forms.ChoiceField(required=False, label="Type")
    status = forms.ChoiceField(required=False, label="Status",
                               choices=[("", "All statuses"), *JobStatus.choices])
    q = forms.CharField(
        required=False, max_length=200, label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "#id, channel, group, or text in errors"}),
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        types = [(t, registry.label(t)) for t in registry.job_types()]
        # A type no handler knows any more (an app removed) can still be filtered by link.
        wanted = (self.data.get("type") or "").strip()
        if wanted and wanted not in dict(types) and len(wanted) <= 64:
            types.append((wanted, wanted))
        self.fields["type"].choices = [("", "All types"), *types]

    def filters(self) -> dict:
        """The valid values, each falling back to "no filter"."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "job_type": data.get("type") or "",
            "status": data.get("status") or "",
            "q": data.get("q") or "",
            "before": data.get("before"),
            "after": data.get("after"),
        }
