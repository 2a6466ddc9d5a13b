from django.contrib import admin

from backups.models import Backup
from common.admin import ReadOnlyAdmin


@admin.register(Backup)
class BackupAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "status", "database_vendor", "size_bytes", "started_at", "finished_at", "verified_at",
                    "drill_outcome", "drilled_at")
    list_filter = ("status", "database_vendor", "drill_outcome")
    search_fields = ("file_name", "sha256")
