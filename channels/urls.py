from django.urls import path

from channels import views

urlpatterns = [
    path("channels", views.channel_list, name="channels"),
    path("channels/add", views.channel_add, name="channel_add"),
    path("channels/groups/new", views.group_new, name="group_new"),
    path("channels/groups/<int:pk>/edit", views.group_edit, name="group_edit"),
    path("channels/groups/<int:pk>/delete", views.group_delete, name="group_delete"),
    path("channels/groups/<int:pk>/sync", views.group_sync, name="group_sync"),
    path("channels/<int:pk>", views.channel_detail, name="channel_detail"),
    path("channels/<int:pk>/toggle", views.channel_toggle, name="channel_toggle"),
    path("channels/<int:pk>/sync", views.channel_sync, name="channel_sync"),
    path("channels/<int:pk>/groups", views.channel_groups, name="channel_groups"),
]
