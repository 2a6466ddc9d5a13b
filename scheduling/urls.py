from django.urls import path

from scheduling import views

urlpatterns = [
    path("schedules", views.schedule_list, name="schedules"),
    path("schedules/new", views.schedule_new, name="schedule_new"),
    path("schedules/preview", views.schedule_preview, name="schedule_preview"),
    path("schedules/upcoming", views.schedule_upcoming, name="schedule_upcoming"),
    path("schedules/<int:pk>", views.schedule_detail, name="schedule_detail"),
    path("schedules/<int:pk>/edit", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:pk>/toggle", views.schedule_toggle, name="schedule_toggle"),
    path("schedules/<int:pk>/run_now", views.schedule_run_now, name="schedule_run_now"),
    path("schedules/<int:pk>/delete", views.schedule_delete, name="schedule_delete"),
    path("schedules/<int:pk>/pause", views.schedule_pause, name="schedule_pause"),
    path("schedules/<int:pk>/resume", views.schedule_resume, name="schedule_resume"),
    path("schedules/runs/<int:pk>", views.schedule_run_detail, name="schedule_run_detail"),
]
