"""Admin bases for records the system writes (jobs, runs, backups, syncs, audit entries, tokens)."""

from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never edited by hand: no add, no change form, every field read-only.

    Actions that act through a service (cancel a job, revoke a token) declare
    `permissions=["operate"]`: they still need the model's change permission, which the read-only
    form cannot ask for itself.
    """

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_operate_permission(self, request):
        # has_change_permission is False only to keep the form read-only; whether someone may act
        # still follows the change permission. Without this check every staff user who can view
        # the list could run the actions. Django asks it both when it lists the actions and when a
        # POST names one, so a forged POST is refused too.
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, *(f.name for f in self.model._meta.fields if f.name not in self.readonly_fields)]


class ReadOnlyInline(admin.TabularInline):
    """A record's written-by-the-system children, listed under it: no add, no delete, no edit."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
