from django.urls import path

from jobs import views

urlpatterns = [
    path("jobs", views.job_list, name="jobs"),
    path("jobs/<int:pk>", views.job_detail, name="job_detail"),
    path("jobs/<int:pk>/cancel", views.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry", views.job_retry, name="job_retry"),
]
