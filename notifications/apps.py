from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Channels, incidents and the alerts' delivery. Other apps register their watches in their own
    ready(); the scheduler's step runs them and sends what is due."""

    name = "notifications"
    verbose_name = "Notifications"
