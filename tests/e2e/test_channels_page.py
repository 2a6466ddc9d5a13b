"""/channels in a real browser: the original plan's "Quick Sync for a group" steps 1-6, Sync now, the group and
channel forms with their inline messages, keyboard use, and axe-core scans with screenshots (light and dark,
1280 and 375 px) of /channels, the editor open on it and a channel's page."""

import datetime as dt
import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import expect

from channels.models import Channel, ChannelGroup
from common.formatting import format_instant
from jobs import runner
from jobs.models import Job
from scheduling import services as scheduling_services
from scheduling.models import RunTrigger, ScheduledTask, ScheduleRun
from tests.channels.conftest import FEED_PATH, feed_for
from tests.e2e.conftest import WIDTHS, axe_violations, log_in, screenshot
from tests.factories import ChannelFactory, ChannelGroupFactory, UserFactory, VideoFactory, grant

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UTC = dt.timezone.utc
NEWS_IDS = ("UCnewsAAAAAAAAAAAAAAAAAA", "UCnewsBBBBBBBBBBBBBBBBBB")
LAWYER_ID = "UClawCCCCCCCCCCCCCCCCCCC"


@pytest.fixture
def user(db):
    """May see and change groups and channels (channels.*) and schedules (scheduling.*), and read jobs; not staff."""
    return grant(UserFactory(username="alice"),
                 "view_channelgroup", "add_channelgroup", "change_channelgroup", "delete_channelgroup",
                 "view_channel", "add_channel", "change_channel",
                 "view_scheduledtask", "add_scheduledtask", "change_scheduledtask", "delete_scheduledtask",
                 "view_job")


@pytest.fixture
def groups(db):
    news = ChannelGroupFactory(name="News", description="Daily news channels")
    lawyers = ChannelGroupFactory(name="Lawyers")
    ChannelFactory(youtube_id=NEWS_IDS[0], title="Tagesschau", group=news)
    ChannelFactory(youtube_id=NEWS_IDS[1], title="BBC News", group=news)
    ChannelFactory(youtube_id=LAWYER_ID, title="LegalEagle", group=lawyers)
    return news, lawyers


@pytest.fixture
def feeds(httpserver, settings):
    """Every channel's feed from a local server (the project's YouTube-format fixture, 15 entries each)."""
    settings.YOUTUBE_FEED_URL = httpserver.url_for(FEED_PATH) + "?channel_id={channel_id}"
    for n, channel_id in enumerate((*NEWS_IDS, LAWYER_ID)):
        httpserver.expect_request(FEED_PATH, query_string={"channel_id": channel_id}).respond_with_data(
            feed_for(channel_id, prefix=f"vid{n}xxxxx"), content_type="application/atom+xml; charset=UTF-8")
    return httpserver


def card(page, name):
    return page.locator("section.group-card", has=page.get_by_role("heading", name=name, exact=True))


def run_queued_jobs():
    """What a worker does with each queued job (no worker process runs in these tests)."""
    for job in Job.objects.filter(status="queued").order_by("pk"):
        runner.execute(job.pk)


def tick(instant: dt.datetime) -> str:
    out = StringIO()
    call_command("schedule_tick", "--now", instant.isoformat(), "--allow-future", stdout=out)
    return out.getvalue()


def test_it_walks_the_quick_sync_for_a_group_steps_of_the_manual_test_plan(logged_in_page, groups, feeds):
    page = logged_in_page
    news, _ = groups

    # 1. Open /channels.
    page.goto("/channels")
    expect(page.get_by_role("heading", level=1)).to_have_text("Channels")

    # 2. Find group "News"; click "Schedule Quick Sync".
    news_card = card(page, "News")
    expect(news_card).to_contain_text("2 channels")
    expect(news_card).to_contain_text("No schedule: synced only by Sync now.")
    news_card.get_by_role("link", name="Schedule Quick Sync").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_have_value("Quick sync: News")
    expect(dialog.get_by_label("Task")).to_have_count(0)  # limited to QUICK_SYNC_GROUP, the group fixed
    expect(dialog.get_by_label("Channel group")).to_have_count(0)

    # 3. Choose "Daily at 05:30 UTC"; save.
    dialog.get_by_label("Daily at a time").check()
    dialog.get_by_label("Time (HH:MM, 24-hour)").fill("05:30")
    dialog.get_by_label("Time zone").fill("UTC")
    expect(dialog.locator("#schedule-preview")).to_contain_text("Every day at 05:30 (UTC)")
    expect(dialog.locator("#schedule-preview li")).to_have_count(5)
    dialog.get_by_role("button", name="Create schedule").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#toasts")).to_contain_text("Schedule “Quick sync: News” created. Next run:")
    schedule = ScheduledTask.objects.get()
    expect(news_card).to_contain_text("Quick sync: News: Every day at 05:30 (UTC)")
    first_window = schedule.next_run_at
    assert (first_window.hour, first_window.minute) == (5, 30) and first_window > timezone.now()
    next_run = news_card.locator(".group-schedule time").first
    expect(next_run).to_have_text(format_instant(first_window))
    expect(page.locator(":focus")).to_have_attribute("id", f"schedule-group-{news.pk}")  # focus came back
    expect(card(page, "Lawyers")).to_contain_text("No schedule")

    # 4. Verify the schedule on /schedules with task type QUICK_SYNC_GROUP and group_id.
    assert (schedule.task_type, schedule.params) == ("QUICK_SYNC_GROUP", {"group_id": news.pk})
    page.goto("/schedules")
    row = page.locator("#schedule-list tbody tr", has=page.get_by_role("link", name="Quick sync: News", exact=True))
    expect(row).to_contain_text("Quick sync of a channel group: News")
    expect(row).to_contain_text("Every day at 05:30 (UTC)")
    api = page.request.get(f"/api/schedules/{schedule.pk}").json()
    assert (api["task_type"], api["params"], api["schedule_time"]) == ("QUICK_SYNC_GROUP", {"group_id": news.pk},
                                                                       "05:30")

    # 5. Click "Run now"; verify QUICK_SYNC jobs are created for the group (see /jobs).
    row.get_by_role("button", name="Run now: Quick sync: News").click()
    expect(page.locator("#toasts")).to_contain_text("“Quick sync: News” started: 2 jobs created.")
    expect(page.locator("#toasts")).to_contain_text("No worker is running, so the jobs wait")
    page.goto("/jobs?type=QUICK_SYNC")
    rows = page.locator("#jobs-region tbody tr")
    expect(rows).to_have_count(2)
    for channel in Channel.objects.filter(groups=news):
        expect(rows.filter(has_text=f'"channel_id": {channel.pk},')).to_have_count(1)
    expect(rows.filter(has_text="Queued")).to_have_count(2)
    assert not Job.objects.filter(params__channel_id=Channel.objects.get(youtube_id=LAWYER_ID).pk).exists()

    # A worker runs them: the group's card shows the sync's summary and each channel's state.
    run_queued_jobs()
    page.goto("/channels")
    news_card = card(page, "News")
    expect(news_card.locator(".sync-summary")).to_contain_text("Synced: 2")
    expect(news_card.locator(".sync-summary")).to_contain_text("Failed: 0")
    expect(news_card.locator(".sync-summary")).to_contain_text("New videos: 30")
    expect(news_card.locator(".sync-summary")).to_contain_text("Feed outage: No")
    expect(news_card.get_by_role("row", name=re.compile("Tagesschau"))).to_contain_text("Synced: 15 new, 0 updated")

    # 6. The next-run prediction holds and moves on, and no window runs twice: two scheduler passes
    # at the predicted instant (as two racing schedulers would), then one a little later.
    expect(card(page, "News").locator(".group-schedule time").first).to_have_text(
        format_instant(first_window))
    jobs_before = Job.objects.count()
    assert "1 window" in tick(first_window)
    assert "nothing due" in tick(first_window)
    assert "nothing due" in tick(first_window + dt.timedelta(seconds=30))
    scheduled = ScheduleRun.objects.filter(schedule=schedule, trigger=RunTrigger.SCHEDULED)
    assert list(scheduled.values_list("due_at", flat=True)) == [first_window]
    assert Job.objects.count() == jobs_before + 2  # one QUICK_SYNC per channel, once
    schedule.refresh_from_db()
    assert schedule.next_run_at == first_window + dt.timedelta(days=1)
    page.reload()
    expect(card(page, "News").locator(".group-schedule time").first).to_have_text(
        format_instant(first_window + dt.timedelta(days=1)))


def test_it_syncs_a_group_now_without_a_schedule_and_says_no_worker_runs(logged_in_page, groups):
    page = logged_in_page
    news, _ = groups
    page.goto("/channels")
    card(page, "News").get_by_role("button", name="Sync now: News").click()
    toasts = page.locator("#toasts")
    expect(toasts).to_contain_text("Syncing “News”: 2 jobs queued.")
    expect(toasts).to_contain_text("No worker is running, so the jobs wait until one starts")
    expect(card(page, "News")).to_contain_text("Running 2 channels to check (Sync now by alice)")  # the list refreshed itself
    assert set(Job.objects.values_list("origin_label", flat=True)) == {"Sync now by alice"}
    expect(page.locator(":focus")).to_have_attribute("id", f"sync-group-{news.pk}")
    # One channel, from its row.
    card(page, "Lawyers").get_by_role("button", name="Sync now: LegalEagle").click()
    expect(toasts).to_contain_text("LegalEagle: Syncing the channel: 1 job queued.")
    assert Job.objects.count() == 3


def test_it_edits_and_removes_the_groups_schedule_from_its_card(logged_in_page, groups):
    page = logged_in_page
    news, _ = groups
    schedule = scheduling_services.schedule_save(schedule=ScheduledTask(
        name="News every morning", task_type="QUICK_SYNC_GROUP", schedule_kind="daily", schedule_time="05:30",
        params={"group_id": news.pk}), now=timezone.now())
    page.goto("/channels")
    card(page, "News").get_by_role("link", name="Schedule Quick Sync").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog.get_by_role("heading", level=2)).to_have_text("Edit “News every morning”: Quick sync of News")
    dialog.get_by_label("Every N minutes").check()
    dialog.get_by_label("Every (minutes)").fill("90")
    dialog.get_by_label("Time zone").fill("Europe/Berlin")
    expect(dialog.locator("#schedule-preview")).to_contain_text("Every 90 minutes")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "News")).to_contain_text("Every 90 minutes")
    schedule.refresh_from_db()
    assert (schedule.schedule_kind, schedule.interval_minutes, schedule.params) == ("interval", 90,
                                                                                    {"group_id": news.pk})

    card(page, "News").get_by_role("link", name="Remove schedule News every morning").click()
    expect(dialog.get_by_role("heading", level=2)).to_have_text("Delete “News every morning”?")
    dialog.get_by_role("button", name="Delete “News every morning”").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "News")).to_contain_text("No schedule: synced only by Sync now.")
    expect(page.locator("#toasts")).to_contain_text("Schedule “News every morning” deleted.")
    assert not ScheduledTask.objects.exists()


def test_it_creates_renames_and_deletes_groups_with_inline_messages(logged_in_page, groups):
    page = logged_in_page
    news, _ = groups
    scheduling_services.schedule_save(schedule=ScheduledTask(
        name="News sync", task_type="QUICK_SYNC_GROUP", schedule_kind="daily", schedule_time="05:30",
        params={"group_id": news.pk}), now=timezone.now())
    page.goto("/channels")
    dialog = page.locator("dialog#page-dialog")

    page.get_by_role("link", name="New group").click()
    expect(dialog.get_by_role("heading", level=2)).to_have_text("New group")
    dialog.get_by_label("Name").fill("News")
    dialog.get_by_role("button", name="Create group").click()
    name = dialog.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("already exists")
    expect(name).to_be_focused()
    name.fill("Science")
    dialog.get_by_role("button", name="Create group").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "Science")).to_contain_text("No channels in this group yet.")

    card(page, "Science").get_by_role("link", name="Rename Science").click()
    dialog.get_by_label("Name").fill("Science & tech")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "Science & tech")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Group “Science” renamed to “Science & tech”.")

    # Deleting a group a schedule uses says first what happens to that schedule.
    card(page, "News").get_by_role("link", name="Delete group News").click()
    expect(dialog).to_contain_text("disables its schedule “News sync”, which would have nothing to sync.")
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()
    dialog.get_by_role("button", name="Delete “News”").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "News")).to_have_count(0)
    expect(page.locator("#toasts")).to_contain_text("Disabled its schedule “News sync”")
    assert not ScheduledTask.objects.get().enabled
    expect(page.get_by_role("heading", name="In no group")).to_be_visible()  # its channels stay


def test_it_adds_a_channel_explaining_handles_and_manages_its_groups(logged_in_page, groups):
    page = logged_in_page
    news, lawyers = groups
    page.goto("/channels")
    card(page, "Lawyers").get_by_role("link", name="Add channel to Lawyers").click()
    dialog = page.locator("dialog#page-dialog")
    expect(dialog.get_by_label("Lawyers")).to_be_checked()
    reference = dialog.get_by_label("Channel id or URL")
    reference.fill("https://www.youtube.com/@LegalEagle")
    dialog.get_by_role("button", name="Add channel").click()
    expect(reference).to_have_attribute("aria-invalid", "true")
    expect(dialog.locator("#id_reference_error")).to_contain_text("is a handle, not a channel id")
    expect(reference).to_be_focused()
    reference.fill("https://www.youtube.com/channel/UCpa-Zb0ZcQjTCPP1Dx_1M8Q")
    dialog.get_by_role("button", name="Add channel").click()
    expect(dialog).to_be_hidden()
    expect(card(page, "Lawyers")).to_contain_text("UCpa-Zb0ZcQjTCPP1Dx_1M8Q")

    # Disable one by hand, from its row: said in words, not by colour alone.
    row = card(page, "News").get_by_role("row", name=re.compile("Tagesschau"))
    row.get_by_role("switch", name="Enabled: Tagesschau").click()
    row = card(page, "News").get_by_role("row", name=re.compile("Tagesschau"))
    expect(row.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(row).to_contain_text("Disabled (left out of group syncs)")
    expect(card(page, "News")).to_contain_text("2 channels (1 enabled)")

    # A channel's page: its groups, changed with checkboxes.
    card(page, "News").get_by_role("link", name="BBC News").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("BBC News")
    page.get_by_role("checkbox", name="Lawyers").check()
    page.get_by_role("checkbox", name="News").uncheck()
    page.get_by_role("button", name="Save groups").click()
    expect(page.locator("#toasts")).to_contain_text("“BBC News” is now in “Lawyers”.")
    expect(page.locator("#channel-summary")).to_contain_text("Lawyers")
    assert list(Channel.objects.get(title="BBC News").groups.all()) == [lawyers]


def tab_to(page, selector: str, *, limit: int = 120):
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_it_schedules_a_quick_sync_by_keyboard_alone(logged_in_page, groups):
    page = logged_in_page
    news, _ = groups
    page.goto("/channels")
    tab_to(page, f"#schedule-group-{news.pk}")
    page.keyboard.press("Enter")
    dialog = page.locator("dialog#page-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator(":focus")).to_have_attribute("name", "name")
    tab_to(page, "input[name=schedule_time]")
    page.keyboard.type("05:30")
    tab_to(page, "#schedule-form button[type=submit]")
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    assert ScheduledTask.objects.get().schedule_time == "05:30"
    expect(page.locator(":focus")).to_have_attribute("id", f"schedule-group-{news.pk}")
    page.keyboard.press("Escape")


@pytest.fixture
def archive(groups):
    """Groups with synced channels, a last sync with an outage, a schedule and videos (Shorts among them)."""
    news, lawyers = groups
    now = timezone.now()
    from channels.models import GroupSync

    sync = GroupSync.objects.create(group=news, group_name="News", origin_label="Schedule “News daily”",
                                    created_at=now, finished_at=now, channels_total=2, synced=1, failed=0,
                                    skipped_backoff=1, new_videos=4, outage=True)
    ChannelGroup.objects.filter(pk=news.pk).update(last_sync=sync)
    tagesschau = Channel.objects.get(title="Tagesschau")
    Channel.objects.filter(pk=tagesschau.pk).update(last_checked_at=now, last_success_at=now, last_outcome="synced",
                                                    last_new_count=4)
    Channel.objects.filter(title="BBC News").update(
        last_checked_at=now, last_outcome="not_found", consecutive_failures=2,
        next_attempt_at=now + dt.timedelta(hours=1), last_error="The feed answered HTTP 404 (not found).")
    for n in range(6):
        VideoFactory(channel=tagesschau, title=f"Tagesschau 20:00 Uhr – Ausgabe {n} mit Übersicht und Wetter",
                     is_short=n % 3 == 0 if n < 5 else None, published_at=now - dt.timedelta(hours=n))
    scheduling_services.schedule_save(schedule=ScheduledTask(
        name="News daily", task_type="QUICK_SYNC_GROUP", schedule_kind="daily", schedule_time="05:30",
        timezone="Europe/Berlin", params={"group_id": news.pk}), now=now)
    return tagesschau


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_it_has_no_serious_accessibility_violations(browser, live_server, user, archive, width, scheme):
    context = browser.new_context(base_url=live_server.url, viewport=WIDTHS[width], color_scheme=scheme)
    page = context.new_page()
    log_in(page, user)
    news = ChannelGroup.objects.get(name="News")
    views = {
        "list": ("/channels", None),
        "editor": ("/channels", lambda: (
            page.locator(f"#schedule-group-{news.pk}").click(),
            expect(page.locator("dialog#page-dialog")).to_be_visible(),
            expect(page.locator("#schedule-preview li").first).to_be_visible(),
        )),
        "delete-group": ("/channels", lambda: (
            page.locator(f"#delete-group-{news.pk}").click(),
            expect(page.locator("dialog#page-dialog")).to_be_visible(),
        )),
        "add-channel": ("/channels", lambda: (
            page.locator("#add-channel").click(),
            page.locator("dialog#page-dialog").get_by_label("Channel id or URL").fill("@handle"),
            page.locator("dialog#page-dialog").get_by_role("button", name="Add channel").click(),
            expect(page.locator("#id_reference_error")).to_be_visible(),
        )),
        "channel": (f"/channels/{archive.pk}", None),
    }
    found = {}
    for name, (path, then) in views.items():
        page.goto(path)
        if then:
            then()
        screenshot(page, f"channels-{name}-{width}-{scheme}")
        if violations := axe_violations(page):
            found[name] = violations
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"], name
    context.close()
    assert not found, found
