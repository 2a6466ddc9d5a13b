"""The admin's frame: the product's name, and django-q2's own models out of the way.

django-q2 is our queue, not our record: its schedules (the scheduler's safety net, created by a
migration) are not for editing, and our Job table is the history of what ran.
"""

from axes import models as axes_models
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import ngettext
from django_q import models as q_models

from common.admin import ReadOnlyAdmin
from core.models import ApiToken
from core.services import api_token_revoke

admin.site.site_header = "Channel archive administration"
admin.site.site_title = "Channel archive"
admin.site.index_title = "Schedules, jobs, backups and channels"
# The lists are wide (a schedule in words, its next and last run): give them the room at 1280 px.
admin.site.enable_nav_sidebar = False

for model in (q_models.Schedule, q_models.Success, q_models.Failure, q_models.OrmQ):
    if admin.site.is_registered(model):
        admin.site.unregister(model)

# Login lockouts (django-axes): its access attempts stay (who is locked out; deleting one unlocks), its two
# logs go: both are switched off in the settings, so their pages would always be empty.
for model in (axes_models.AccessLog, axes_models.AccessFailureLog):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Tokens are created by their users (/account/tokens) or `manage.py create_api_token`, where the
    token is shown once; here they can only be looked at and revoked. Only the hash is stored."""

    list_display = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username")
    fields = ("name", "user", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    @admin.action(description="Revoke selected tokens", permissions=["operate"])
    def revoke(self, request, queryset):
        now = timezone.now()
        count = sum(api_token_revoke(token=token, now=now) for token in queryset)
        self.message_user(request, ngettext("%d token revoked.", "%d tokens revoked.", count) % count, messages.SUCCESS)
