from django.urls import path

from scheduling import views

urlpatterns = [
    path("schedules/runs/<int:pk>", views.schedule_run_detail, name="schedule_run_detail"),
]
