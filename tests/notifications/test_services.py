"""notifications.services: incidents alert once and once more when resolved; sending, retries, claims, NOTIFY_URLS."""

import datetime as dt
import logging

import pytest

from notifications import registry, services
from notifications.models import ChannelSource, Delivery, DeliveryStatus, Incident, NotificationChannel
from tests.factories import NotificationChannelFactory
from tests.notifications.conftest import NOW, send_all

pytestmark = pytest.mark.django_db

SECRET = "123456789:AAE-secret-bot-token"
MINUTE = dt.timedelta(minutes=1)


def open_incident(key="backups_stale", **fields):
    return services.incident_open(key=key, kind=fields.pop("kind", "backups_stale"), title=fields.pop("title", "Backups are stale"),
                                  detail=fields.pop("detail", "The newest good backup is 3 d old."),
                                  link=fields.pop("link", "/backups"), now=fields.pop("now", NOW), **fields)


def test_it_alerts_each_channel_once_per_incident_and_once_when_it_is_resolved(webhook, smtp):
    NotificationChannelFactory(name="Webhook", target=webhook.url)
    NotificationChannelFactory(name="Mail", target="ops@example.com")

    incident = open_incident()
    assert open_incident(now=NOW + MINUTE) is None  # noticed again: still the one incident
    assert send_all() == 2
    assert open_incident(now=NOW + 2 * MINUTE) is None
    assert send_all(now=NOW + 2 * MINUTE) == 0

    assert webhook.titles == ["Channel archive: Backups are stale"]
    assert "The newest good backup is 3 d old." in webhook.messages[0]["message"]
    assert smtp.subjects == ["Channel archive: Backups are stale"]
    assert smtp.messages[0]["To"] == "ops@example.com"

    resolved = services.incident_resolve(key="backups_stale", detail="Backup #9 is good.", now=NOW + 3 * MINUTE)
    assert resolved.pk == incident.pk
    assert services.incident_resolve(key="backups_stale", now=NOW + 4 * MINUTE) is None
    send_all(now=NOW + 4 * MINUTE)

    assert webhook.titles == ["Channel archive: Backups are stale", "Channel archive: back to normal: Backups are stale"]
    assert "Backup #9 is good." in webhook.messages[1]["message"]
    assert "It lasted 3 min" in webhook.messages[1]["message"]
    assert smtp.subjects[1] == "Channel archive: back to normal: Backups are stale"

    # The same thing going wrong again later is a new incident, with its own alert.
    assert open_incident(now=NOW + 10 * MINUTE).pk != incident.pk
    send_all(now=NOW + 10 * MINUTE)
    assert len(webhook.messages) == 3


def test_the_alert_goes_to_the_channels_chosen_and_back_to_normal_to_those_told(webhook, smtp):
    chosen = NotificationChannelFactory(name="Webhook", target=webhook.url)
    NotificationChannelFactory(name="Mail", target="ops@example.com")
    NotificationChannelFactory(name="Off", target="off@example.com", enabled=False)

    open_incident(key="run_failed:4", kind="run_failed", channel_ids=[chosen.pk])
    later = NotificationChannelFactory(name="Added since", target="later@example.com")
    services.incident_resolve(key="run_failed:4", now=NOW + MINUTE)
    send_all(now=NOW + MINUTE)

    assert len(webhook.messages) == 2
    assert smtp.messages == []
    assert set(Delivery.objects.values_list("channel_name", flat=True)) == {"Webhook"}
    assert not later.deliveries.exists()


def test_no_channel_no_delivery_but_the_incident_is_kept():
    incident = open_incident()

    assert Incident.objects.get().pk == incident.pk
    assert not Delivery.objects.exists()
    assert services.incident_resolve(key="backups_stale", now=NOW + MINUTE).resolved_at == NOW + MINUTE


def test_a_failing_endpoint_is_retried_with_backoff_and_its_error_is_kept(webhook, settings):
    settings.NOTIFY_RETRY_BACKOFF_SECONDS = 60
    channel = NotificationChannelFactory(name="Webhook", target=webhook.url)
    webhook.answer(500)
    open_incident()

    assert send_all() == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (DeliveryStatus.PENDING, 1, NOW + MINUTE)
    assert "error=500" in delivery.error
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1 and "error=500" in channel.last_error and channel.last_error_at == NOW

    assert send_all(now=NOW + 30 * dt.timedelta(seconds=1)) == 0  # not before its backoff
    assert send_all(now=NOW + MINUTE) == 1
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.next_attempt_at) == (2, NOW + 3 * MINUTE)  # 1 min, then 2
    assert len(webhook.messages) == 2

    webhook.answer(200)
    assert send_all(now=NOW + 3 * MINUTE) == 1
    delivery.refresh_from_db()
    channel.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.sent_at) == (DeliveryStatus.SENT, 3, NOW + 3 * MINUTE)
    assert (channel.consecutive_failures, channel.last_sent_at) == (0, NOW + 3 * MINUTE)
    assert channel.last_error  # the last error stays shown, with its time, after a success


def test_a_refusing_mail_server_is_retried_and_its_answer_kept(smtp, settings):
    settings.NOTIFY_RETRY_BACKOFF_SECONDS = 60
    NotificationChannelFactory(name="Mail", target="ops@example.com")
    smtp.refuse = True
    open_incident()

    send_all()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert "550" in delivery.error and "Relaying denied" in delivery.error

    smtp.refuse = False
    send_all(now=NOW + MINUTE)
    assert Delivery.objects.get().status == DeliveryStatus.SENT
    assert smtp.subjects == ["Channel archive: Backups are stale"]


def test_it_gives_up_after_the_last_attempt(webhook, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    settings.NOTIFY_RETRY_BACKOFF_SECONDS = 60
    NotificationChannelFactory(target=webhook.url)
    webhook.answer(503)
    open_incident()

    send_all()
    send_all(now=NOW + MINUTE)
    assert send_all(now=NOW + dt.timedelta(days=1)) == 0

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 2)


def test_an_unreachable_endpoint_says_so(settings):
    from tests.servers import free_port

    NotificationChannelFactory(target=f"json://127.0.0.1:{free_port()}/nobody-listens")
    open_incident()
    send_all()

    assert "Connection error" in Delivery.objects.get().error


def test_a_claim_whose_process_died_is_taken_back_and_sent_once(webhook):
    NotificationChannelFactory(target=webhook.url)
    open_incident()
    # A scheduler claimed it and died before sending: `sending`, its claim's deadline passed.
    Delivery.objects.update(status=DeliveryStatus.SENDING, attempts=1, claimed_at=NOW - 3 * MINUTE,
                            next_attempt_at=NOW - MINUTE)

    assert send_all() == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)
    assert len(webhook.messages) == 1


def test_a_claim_still_within_its_time_is_left_alone(webhook):
    NotificationChannelFactory(target=webhook.url)
    open_incident()
    Delivery.objects.update(status=DeliveryStatus.SENDING, attempts=1, claimed_at=NOW, next_attempt_at=NOW + MINUTE)

    assert send_all() == 0
    assert webhook.messages == []


def test_it_sends_a_few_per_step_and_the_rest_on_the_next(webhook, settings):
    settings.NOTIFY_SENDS_PER_STEP = 2
    NotificationChannelFactory(target=webhook.url)
    for n in range(5):
        open_incident(key=f"run_failed:{n}", kind="run_failed")

    assert [services.deliveries_send_due(now=NOW) for _ in range(4)] == [2, 2, 1, 0]
    assert len(webhook.messages) == 5


def test_an_alert_to_a_channel_deleted_or_disabled_meanwhile_is_not_sent(webhook):
    deleted = NotificationChannelFactory(name="Gone", target=webhook.url)
    disabled = NotificationChannelFactory(name="Off for now", target=webhook.url)
    open_incident()
    services.channel_delete(channel=deleted)
    NotificationChannel.objects.filter(pk=disabled.pk).update(enabled=False)

    send_all()

    assert webhook.messages == []
    assert dict(Delivery.objects.values_list("channel_name", "status")) == {
        "Gone": DeliveryStatus.CANCELLED, "Off for now": DeliveryStatus.CANCELLED}
    assert "disabled" in Delivery.objects.get(channel_name="Off for now").error


def test_a_test_goes_out_once_even_to_a_disabled_channel_and_reports_its_result(webhook):
    channel = NotificationChannelFactory(name="Phone", target=webhook.url, enabled=False)
    webhook.answer(500)

    test = services.delivery_test(channel=channel, now=NOW, requested_by="alice")
    send_all()
    test.refresh_from_db()

    assert (test.status, test.attempts, test.max_attempts) == (DeliveryStatus.FAILED, 1, 1)
    assert "error=500" in test.error
    assert webhook.titles == ["Channel archive: test notification"]
    assert "“Phone”, asked for by alice" in webhook.messages[0]["message"]


def test_secrets_stay_out_of_errors_and_logs(httpserver, caplog):
    url = f"json://user:{SECRET}@127.0.0.1:{httpserver.port}/{SECRET}"
    httpserver.expect_request(f"/{SECRET}").respond_with_data("nope", status=500)
    channel = NotificationChannelFactory(name="Hook", target=url)
    open_incident()

    with caplog.at_level(logging.DEBUG):
        send_all()

    delivery = Delivery.objects.get()
    channel.refresh_from_db()
    assert delivery.error and SECRET not in delivery.error
    assert SECRET not in channel.last_error
    assert channel.masked_target == "json://…"
    # Our own lines (Apprise's logger is kept out of the application's logs: common.notify_urls).
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("notifications"))
    assert "json://…" in ours
    assert SECRET not in ours
    assert logging.getLogger("apprise").propagate is False
    httpserver.clear()


# --- NOTIFY_URLS ----------------------------------------------------------------------------------

def test_channels_from_notify_urls_follow_the_setting():
    first, second = "ntfy://ntfy.example.com/first", f"tgram://{SECRET}/42"

    assert services.channels_sync_env(urls=[first, second], now=NOW) == 2
    assert services.channels_sync_env(urls=[first, second], now=NOW) == 0  # nothing to do: no write
    channels = list(NotificationChannel.objects.order_by("name"))
    assert [(c.name, c.source, c.kind, c.enabled) for c in channels] == [
        ("NOTIFY_URLS #1 (ntfy://…)", ChannelSource.ENV, "apprise", True),
        ("NOTIFY_URLS #2 (tgram://…)", ChannelSource.ENV, "apprise", True)]

    services.channels_sync_env(urls=[second], now=NOW + MINUTE)  # the first left the setting
    gone = NotificationChannel.objects.get(pk=channels[0].pk)
    assert not gone.enabled and gone.last_error == services.ENV_GONE
    assert NotificationChannel.objects.get(pk=channels[1].pk).name == "NOTIFY_URLS #1 (tgram://…)"

    services.channels_sync_env(urls=[first, second], now=NOW + 2 * MINUTE)  # and came back: the same row
    back = NotificationChannel.objects.get(pk=channels[0].pk)
    assert back.enabled and back.last_error == ""
    assert NotificationChannel.objects.count() == 2


def test_a_channel_from_the_environment_is_changed_there_only():
    services.channels_sync_env(urls=["ntfy://ntfy.example.com/ops"], now=NOW)
    channel = NotificationChannel.objects.get()

    channel.name = "Renamed"
    with pytest.raises(services.FromEnvironment):
        services.channel_save(channel=channel, now=NOW)
    with pytest.raises(services.FromEnvironment):
        services.channel_delete(channel=channel)

    services.channels_sync_env(urls=[], now=NOW)  # it left the setting: now it may go
    services.channel_delete(channel=NotificationChannel.objects.get())
    assert not NotificationChannel.objects.exists()


# --- the step -------------------------------------------------------------------------------------

@pytest.fixture
def counting_watch(monkeypatch):
    """The only watch registered (the apps' own would look at processes and backups meanwhile)."""
    calls = []

    def watch(*, now, source):
        calls.append((now, source))

    monkeypatch.setattr(registry, "_watches", [watch])
    monkeypatch.setattr(services._watch_clock, "last", None)
    return calls


def test_the_step_runs_the_watches_at_most_every_period_and_sends_every_time(counting_watch, webhook, settings):
    settings.NOTIFY_WATCH_EVERY_SECONDS = 30
    NotificationChannelFactory(target=webhook.url)
    second = dt.timedelta(seconds=1)

    services.notifications_step(now=NOW, source="loop")
    open_incident(key="test:thing", kind="test", now=NOW + second)
    services.notifications_step(now=NOW + second, source="loop")
    services.notifications_step(now=NOW + 30 * second, source="loop")

    assert counting_watch == [(NOW, "loop"), (NOW + 30 * second, "loop")]
    assert len(webhook.messages) == 1


def test_a_watch_that_raises_is_logged_and_the_others_still_run(counting_watch, caplog):
    def broken(*, now, source):
        raise RuntimeError("the watch is broken")

    registry.register_watch(broken)
    with caplog.at_level(logging.ERROR):
        assert services.watches_run(now=NOW, source="loop") == 1
    assert counting_watch == [(NOW, "loop")]
    assert "the watch is broken" in caplog.text


def test_nothing_in_the_step_can_stop_the_scheduler(monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("database is unavailable")

    monkeypatch.setattr(services, "deliveries_send_due", broken)
    with caplog.at_level(logging.ERROR):
        services.notifications_step(now=NOW, source="loop")

    assert "Notifications: the step failed" in caplog.text


def test_a_delivery_another_scheduler_sent_between_the_two_reads_is_not_sent_again(monkeypatch, webhook):
    """deliveries_due reads the due ids, then the rows: a row sent by another scheduler in between is no
    longer due, and must not be claimed by the status it has now (seen as a double send in the race test)."""
    from django.db.models.query import QuerySet

    NotificationChannelFactory(name="Webhook", target=webhook.url)
    services.incident_open(key="run_failed:1", kind="run_failed", title="run_failed:1 failed", now=NOW)
    real_values_list = QuerySet.values_list

    def ids_then_another_scheduler_sends(self, *fields, **kwargs):
        ids = list(real_values_list(self, *fields, **kwargs))
        if self.model is Delivery:
            Delivery.objects.update(status=DeliveryStatus.SENT, attempts=1, next_attempt_at=NOW + dt.timedelta(minutes=2))
        return ids

    monkeypatch.setattr(QuerySet, "values_list", ids_then_another_scheduler_sends)

    assert services.deliveries_send_due(now=NOW) == 0
    assert webhook.messages == []
    assert list(Delivery.objects.values_list("status", "attempts")) == [(DeliveryStatus.SENT, 1)]


def test_each_alert_sent_or_failed_is_one_log_line_with_its_ids(webhook, caplog):
    from tests.servers import free_port

    good = NotificationChannelFactory(name="Webhook", target=webhook.url)
    bad = NotificationChannelFactory(name="Nobody", target=f"json://127.0.0.1:{free_port()}/nobody-listens")
    incident = services.incident_open(key="run_failed:7", kind="run_failed", title="run 7 failed", schedule_id=7,
                                      now=NOW)

    with caplog.at_level(logging.INFO, logger="notifications"):
        send_all()

    lines = {record.channel_id: record for record in caplog.records if getattr(record, "event", "") == "alert_sent"}
    assert {key: getattr(lines[good.pk], key) for key in ("incident_id", "kind", "state", "status", "attempt",
                                                            "schedule_id", "channel_name")} == {
        "incident_id": incident.pk, "kind": "run_failed", "state": "opened", "status": "sent", "attempt": 1,
        "schedule_id": 7, "channel_name": "Webhook"}
    assert (lines[bad.pk].status, lines[bad.pk].channel_name) == ("failed", "Nobody")
    assert "Connection error" in lines[bad.pk].error
