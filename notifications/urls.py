from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications", views.notification_list, name="notifications"),
    path("notifications/channels/new", views.channel_new, name="notification_channel_new"),
    path("notifications/channels/<int:pk>/edit", views.channel_edit, name="notification_channel_edit"),
    path("notifications/channels/<int:pk>/delete", views.channel_delete, name="notification_channel_delete"),
    path("notifications/channels/<int:pk>/test", views.channel_test, name="notification_channel_test"),
    path("notifications/deliveries/<int:pk>", views.delivery_status, name="notification_delivery"),
]
