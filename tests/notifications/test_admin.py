"""The notifications admin: channels through the page's form and services; incidents and the log read-only."""

import pytest
from django.urls import reverse

from notifications import services
from notifications.models import Delivery, Incident, NotificationChannel
from tests.factories import NotificationChannelFactory
from tests.notifications.conftest import NOW

pytestmark = pytest.mark.django_db

SECRET = "123456789:AAE-secret-bot-token"
TELEGRAM = f"tgram://{SECRET}/42"


def test_it_adds_a_channel_apprise_accepts_and_names_what_it_refuses(staff_client):
    add = reverse("admin:notifications_notificationchannel_add")
    refused = staff_client.post(add, {"name": "Phone", "target": "tgram://bad", "enabled": "on"})
    assert refused.status_code == 200 and "Unparseable Telegram URL tgram://…" in refused.content.decode()

    assert staff_client.post(add, {"name": "Phone", "target": TELEGRAM, "enabled": "on"}).status_code == 302
    assert NotificationChannel.objects.get().kind == "apprise"


def test_it_never_shows_the_url_and_keeps_it_when_left_empty(staff_client):
    channel = NotificationChannelFactory(name="Phone", target=TELEGRAM)
    change = reverse("admin:notifications_notificationchannel_change", args=[channel.pk])

    page = staff_client.get(change).content.decode()
    listing = staff_client.get(reverse("admin:notifications_notificationchannel_changelist")).content.decode()
    assert SECRET not in page and SECRET not in listing
    assert "tgram://…" in page and "tgram://…" in listing

    staff_client.post(change, {"name": "Phone of Ann", "target": "", "enabled": "on"})
    channel.refresh_from_db()
    assert (channel.name, channel.target) == ("Phone of Ann", TELEGRAM)


def test_a_channel_from_the_environment_is_read_only_and_not_deleted_while_in_the_setting(staff_client):
    services.channels_sync_env(urls=[TELEGRAM], now=NOW)
    channel = NotificationChannel.objects.get()
    change = reverse("admin:notifications_notificationchannel_change", args=[channel.pk])

    page = staff_client.get(change).content.decode()
    assert SECRET not in page and 'name="target"' not in page
    staff_client.post(change, {"name": "Mine", "target": "a@example.com", "enabled": "on"})
    assert staff_client.post(reverse("admin:notifications_notificationchannel_delete", args=[channel.pk]),
                             {"post": "yes"}).status_code == 403
    channel.refresh_from_db()
    assert channel.name.startswith("NOTIFY_URLS #1") and channel.target == TELEGRAM


def test_incidents_and_deliveries_are_read_only(staff_client):
    channel = NotificationChannelFactory(name="Mail", target="ops@example.com")
    incident = services.incident_open(key="backups_stale", kind="backups_stale", title="Stale", now=NOW)
    delivery = Delivery.objects.get(channel=channel)

    for model, obj in ((Incident, incident), (Delivery, delivery)):
        name = model._meta.model_name
        assert staff_client.get(reverse(f"admin:notifications_{name}_changelist")).status_code == 200
        page = staff_client.get(reverse(f"admin:notifications_{name}_change", args=[obj.pk])).content.decode()
        assert 'type="submit"' not in page or "Save" not in page
        assert staff_client.get(reverse(f"admin:notifications_{name}_add")).status_code == 403
