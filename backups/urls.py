from django.urls import path

from backups import views

urlpatterns = [
    path("backups", views.backup_list, name="backups"),
    path("backups/adopt", views.backups_adopt, name="backups_adopt"),
    path("backups/restore-guide", views.restore_guide, name="backups_restore_guide"),
    path("backups/schedule/<int:pk>/toggle", views.schedule_toggle, name="backup_schedule_toggle"),
    path("backups/schedule/<int:pk>/run_now", views.schedule_run_now, name="backup_schedule_run_now"),
    path("backups/<int:pk>/verify", views.backup_verify, name="backup_verify"),
    path("backups/<int:pk>/download", views.backup_download, name="backup_download"),
    path("backups/<int:pk>/delete", views.backup_delete, name="backup_delete"),
]
