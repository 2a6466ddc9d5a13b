"""The /notifications page: channels, their forms and "Send test", open incidents and the alert log.

The same set for every view: it works, it validates, it checks permissions, it refuses GET where
only POST makes sense, it answers 404 for a bad id. And nothing is sent in a request.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from notifications import services
from notifications.models import Delivery, DeliveryStatus, NotificationChannel
from tests.api_clients import user_with
from tests.factories import NotificationChannelFactory
from tests.notifications.conftest import NOW, send_all

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
SECRET = "123456789:AAE-secret-bot-token"
TELEGRAM = f"tgram://{SECRET}/42"
LIST = reverse("notifications")
NEW = reverse("notification_channel_new")


def edit_url(channel):
    return reverse("notification_channel_edit", args=[channel.pk])


def delete_url(channel):
    return reverse("notification_channel_delete", args=[channel.pk])


def test_url(channel):
    return reverse("notification_channel_test", args=[channel.pk])


test_url.__test__ = False  # a helper, not a test


def client_with(client, *actions):
    client.force_login(user_with(*actions, model="notificationchannel", app="notifications"))
    return client


@pytest.fixture
def manager(client):
    return client_with(client, "view", "add", "change", "delete")


@pytest.fixture
def viewer(client):
    return client_with(client, "view")


@pytest.fixture
def phone(db):
    return NotificationChannelFactory(name="Phone", target=TELEGRAM)


# --- the page -------------------------------------------------------------------------------------

def test_it_lists_the_channels_with_their_address_masked(manager, phone):
    NotificationChannelFactory(name="Mail", target="ops@example.com", enabled=False)
    services.channels_sync_env(urls=["ntfy://ntfy.example.com/ops"], now=NOW)

    page = manager.get(LIST).content.decode()

    assert "Phone" in page and "Apprise: <code>tgram://…</code>" in page
    assert SECRET not in page
    assert "Email: <code>ops@example.com</code>" in page and "Disabled" in page
    assert "From NOTIFY_URLS (environment)" in page
    env = NotificationChannel.objects.get(source="env")
    assert f'id="edit-channel-{env.pk}"' not in page and f'id="delete-channel-{env.pk}"' not in page
    assert f'id="edit-channel-{phone.pk}"' in page and f'id="test-channel-{phone.pk}"' in page
    assert 'aria-current="page"' in page and ">Notifications</a>" in page
    assert "/healthz" in page


def test_it_says_when_there_is_no_channel(manager):
    assert "No notification channels yet, so nobody is told" in manager.get(LIST).content.decode()


def test_it_shows_open_incidents_and_every_alert_in_the_log(manager, webhook):
    NotificationChannelFactory(name="Ops", target=webhook.url)
    services.incident_open(key="backups_stale", kind="backups_stale", title="No good backup for 3 d", link="/backups",
                           now=NOW)
    send_all()

    page = manager.get(LIST).content.decode()

    assert "Open incidents" in page and "<strong>No good backup for 3 d</strong>" in page
    assert ">Alert</td>" in page and ">Ops" in page and ">Sent</span>" in page
    # Its details are on /backups, which this user may not open: named, not linked.
    assert ">No good backup for 3 d</td>" in page and 'href="/backups"' not in page

    reader = user_with("view", model="notificationchannel", app="notifications")
    reader.user_permissions.add(Permission.objects.get(codename="view_backup"))
    manager.force_login(reader)
    page = manager.get(LIST).content.decode()
    assert '<a href="/backups">No good backup for 3 d</a>' in page


def test_the_log_pages_by_id_and_ignores_a_cursor_it_did_not_make(manager, phone, settings):
    for n in range(55):
        services.delivery_test(channel=phone, now=NOW)
    first = manager.get(LIST).content.decode()
    older = Delivery.objects.order_by("id")[4].pk + 1  # the last row of the first page is #6
    assert f"?before={older}" in first

    second = manager.get(LIST, {"before": older}).content.decode()
    assert second.count('id="delivery-') == 5
    assert manager.get(LIST, {"before": "x' or 1=1"}).status_code == 200


def test_the_page_needs_a_login_and_the_view_permission(client, phone):
    assert client.get(LIST).status_code == 302
    client_with(client)
    assert client.get(LIST).status_code == 403


def test_a_viewer_sees_no_buttons(viewer, phone):
    page = viewer.get(LIST).content.decode()
    assert "Add channel" not in page and f'id="test-channel-{phone.pk}"' not in page


def test_htmx_refreshes_only_the_region_that_asked(manager, phone):
    channels = manager.get(LIST, HTTP_HX_TARGET="channel-list", **HTMX).content.decode()
    log = manager.get(LIST, HTTP_HX_TARGET="alert-log", **HTMX).content.decode()
    assert channels.lstrip().startswith('<section id="channel-list"') and "<html" not in channels
    assert log.lstrip().startswith('<section id="alert-log"')


# --- add ------------------------------------------------------------------------------------------

def test_it_adds_a_channel_after_apprise_checked_its_url(manager):
    form = manager.get(NEW, **HTMX).content.decode()
    assert form.lstrip().startswith('<div id="notification-channel-form"') and 'name="target"' in form

    response = manager.post(NEW, {"name": "Phone", "target": TELEGRAM, "enabled": "on"}, **HTMX)

    assert response.status_code == 200
    assert "notifications-changed" in response["HX-Trigger"] and "close-dialog" in response["HX-Trigger"]
    assert "Channel “Phone” added. Send it a test" in response.content.decode()
    channel = NotificationChannel.objects.get()
    assert (channel.kind, channel.target, channel.source, channel.enabled) == ("apprise", TELEGRAM, "page", True)


def test_an_email_address_is_an_email_channel(manager):
    manager.post(NEW, {"name": "Mail", "target": " ops@example.com ", "enabled": "on"}, **HTMX)
    assert NotificationChannel.objects.get().kind == "email"


@pytest.mark.parametrize("target, message", [
    ("tgram://not-a-token", "Apprise cannot use this URL: Unparseable Telegram URL tgram://…."),
    ("nosuchservice://x/y", "Apprise cannot use this URL"),
    ("ops at example", "Enter an email address (alerts@example.com) or an Apprise URL"),
    ("", "This field is required."),
])
def test_it_says_what_is_wrong_with_the_address_under_its_input(manager, target, message):
    response = manager.post(NEW, {"name": "Phone", "target": target}, **HTMX)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="id_target_error"' in content and 'aria-invalid="true"' in content
    assert message in content.replace("&#x27;", "'")
    assert not NotificationChannel.objects.exists()


def test_adding_needs_the_add_permission(client):
    client_with(client, "view", "change")
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, {"name": "x", "target": "a@example.com"}).status_code == 403
    assert not NotificationChannel.objects.exists()


def test_without_javascript_it_is_a_page_and_a_redirect(manager):
    assert "<html" in manager.get(NEW).content.decode()
    response = manager.post(NEW, {"name": "Mail", "target": "ops@example.com", "enabled": "on"})
    assert response.status_code == 302 and response["Location"] == LIST


# --- edit -----------------------------------------------------------------------------------------

def test_editing_never_shows_the_url_and_keeps_it_when_left_empty(manager, phone):
    form = manager.get(edit_url(phone), **HTMX).content.decode()
    assert SECRET not in form
    assert "Now tgram://… (hidden: it holds secrets). Leave empty to keep it" in form

    manager.post(edit_url(phone), {"name": "Phone of Ann", "target": "", "enabled": "on"}, **HTMX)
    phone.refresh_from_db()
    assert (phone.name, phone.target) == ("Phone of Ann", TELEGRAM)

    manager.post(edit_url(phone), {"name": "Phone of Ann", "target": "ops@example.com"}, **HTMX)
    phone.refresh_from_db()
    assert (phone.kind, phone.target, phone.enabled) == ("email", "ops@example.com", False)


def test_a_bad_new_url_is_refused_and_the_old_one_kept(manager, phone):
    response = manager.post(edit_url(phone), {"name": "Phone", "target": "tgram://bad", "enabled": "on"}, **HTMX)
    assert "Unparseable Telegram URL" in response.content.decode()
    phone.refresh_from_db()
    assert phone.target == TELEGRAM


def test_a_channel_from_the_environment_is_not_edited_here(manager):
    services.channels_sync_env(urls=["ntfy://ntfy.example.com/ops"], now=NOW)
    channel = NotificationChannel.objects.get()

    assert "comes from the environment" in manager.get(edit_url(channel), **HTMX).content.decode()
    response = manager.post(edit_url(channel), {"name": "Mine", "target": "a@example.com"}, **HTMX)
    assert response.status_code == 409
    assert manager.post(delete_url(channel), **HTMX).status_code == 409
    channel.refresh_from_db()
    assert channel.name.startswith("NOTIFY_URLS #1")


def test_editing_needs_the_change_permission_and_an_existing_channel(client, phone):
    client_with(client, "view", "add")
    assert client.get(edit_url(phone)).status_code == 403
    client_with(client, "view", "change")
    assert client.get(reverse("notification_channel_edit", args=[999])).status_code == 404


# --- delete ---------------------------------------------------------------------------------------

def test_it_asks_first_then_deletes_and_the_log_keeps_the_name(manager, phone):
    services.delivery_test(channel=phone, now=NOW)
    confirm = manager.get(delete_url(phone), **HTMX).content.decode()
    assert "Delete “Phone”?" in confirm and "tgram://…" in confirm and SECRET not in confirm

    response = manager.post(delete_url(phone), **HTMX)

    assert "Channel “Phone” deleted." in response.content.decode()
    assert not NotificationChannel.objects.exists()
    assert Delivery.objects.get().channel_name == "Phone"
    assert "Phone</td>" not in manager.get(LIST).content.decode() or "(deleted)" in manager.get(LIST).content.decode()


def test_deleting_needs_the_delete_permission_and_an_existing_channel(client, phone):
    client_with(client, "view", "change")
    assert client.post(delete_url(phone)).status_code == 403
    client_with(client, "view", "delete")
    assert client.post(reverse("notification_channel_delete", args=[999])).status_code == 404
    assert NotificationChannel.objects.exists()


# --- send test ------------------------------------------------------------------------------------

def test_send_test_queues_it_and_the_row_shows_the_result_once_the_scheduler_sent_it(manager, webhook):
    channel = NotificationChannelFactory(name="Hook", target=webhook.url)

    response = manager.post(test_url(channel), **HTMX)

    assert webhook.messages == []  # never sent in the request
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.status, delivery.requested_by) == ("test", DeliveryStatus.PENDING,
                                                                       response.wsgi_request.user.username)
    fragment = response.content.decode()
    assert "Test queued: the scheduler sends it within seconds" in fragment
    assert f'hx-get="/notifications/deliveries/{delivery.pk}"' in fragment and 'hx-trigger="every 2s' in fragment
    assert "notifications-log" in response["HX-Trigger"]

    send_all(now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))
    status = manager.get(reverse("notification_delivery", args=[delivery.pk]), **HTMX).content.decode()
    assert "Sent" in status and "check that it arrived" in status and "hx-trigger" not in status
    assert webhook.titles == ["Channel archive: test notification"]


def test_a_failing_channel_shows_its_error_in_the_row_the_list_and_the_log(manager, webhook, settings):
    settings.NOTIFY_RETRY_BACKOFF_SECONDS = 60
    channel = NotificationChannelFactory(name="Hook", target=webhook.url)
    webhook.answer(500)
    manager.post(test_url(channel), **HTMX)
    services.incident_open(key="backups_stale", kind="backups_stale", title="No good backup for 3 d", now=NOW)
    send_all(now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1))

    test = Delivery.objects.get(event="test")
    status = manager.get(reverse("notification_delivery", args=[test.pk]), **HTMX).content.decode()
    assert "Failed, given up" in status and "The test was not delivered: Failed to send JSON POST notification" in status
    page = manager.get(LIST).content.decode()
    assert "Failing</span>" in page and "2 failed attempts in a row" in page and "error=500" in page
    assert "Waiting to retry</span>" in page and "1/10" in page


def test_without_javascript_send_test_says_so_on_the_next_page(manager, phone):
    response = manager.post(test_url(phone), follow=True)
    assert "Test for “Phone” queued" in response.content.decode()


def test_send_test_is_a_post_needs_the_change_permission_and_an_existing_channel(client, phone):
    client_with(client, "view", "change")
    assert client.get(test_url(phone)).status_code == 405
    assert client.post(reverse("notification_channel_test", args=[999])).status_code == 404
    client_with(client, "view")
    assert client.post(test_url(phone)).status_code == 403
    assert not Delivery.objects.exists()


def test_a_delivery_status_needs_the_view_permission_and_an_existing_delivery(client, phone):
    delivery = services.delivery_test(channel=phone, now=NOW)
    client_with(client)
    assert client.get(reverse("notification_delivery", args=[delivery.pk])).status_code == 403
    client_with(client, "view")
    assert client.get(reverse("notification_delivery", args=[999])).status_code == 404
    assert client.post(reverse("notification_delivery", args=[delivery.pk])).status_code == 405
