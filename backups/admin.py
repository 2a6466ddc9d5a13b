from django.contrib import admin

from backups.models import Backup


@admin.register(Backup)
class BackupAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "database_vendor", "size_bytes", "started_at", "finished_at", "verified_at")
    list_filter = ("status", "database_vendor")
    search_fields = ("file_name", "sha256")
    readonly_fields = [f.name for f in Backup._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
