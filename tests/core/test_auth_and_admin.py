import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.factories import (
    ChannelFactory,
    JobFactory,
    ScheduledTaskFactory,
    UserFactory,
    VideoFactory,
)

pytestmark = pytest.mark.django_db

PAGES = ["/schedules", "/backups", "/channels", "/jobs"]


@pytest.mark.parametrize("path", PAGES)
def test_it_sends_anonymous_visitors_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


@pytest.fixture
def viewer(db):
    return UserFactory(permissions=["scheduling.view_scheduledtask", "channels.view_channelgroup",
                                    "backups.view_backup", "jobs.view_job"])


@pytest.mark.parametrize("path", PAGES)
def test_it_shows_pages_to_logged_in_users_who_may_see_them(client, viewer, path):
    client.force_login(viewer)
    assert client.get(path).status_code == 200


def test_the_utc_note_shows_only_where_times_are_shown(client, viewer):
    assert b"Times are shown in UTC" not in client.get("/login/").content
    client.force_login(viewer)
    assert b"Times are shown in UTC" in client.get("/jobs").content
    assert b"Times are shown in UTC" not in client.get("/account/tokens").content  # no token, no time shown


def test_it_serves_the_login_page_without_login(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'name="username"' in response.content


def test_it_logs_a_user_in_and_out(client, viewer):
    viewer.set_password("correct horse battery")
    viewer.save()
    response = client.post("/login/", {"username": viewer.username, "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get("/jobs").status_code == 200
    client.post("/logout/")
    assert client.get("/jobs").status_code == 302


def test_it_rejects_a_wrong_password(client, user):
    response = client.post("/login/", {"username": user.username, "password": "nope"})
    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


def test_it_marks_the_current_page_in_the_navigation(client, viewer):
    client.force_login(viewer)
    content = client.get("/jobs").content.decode()
    assert '<a href="/jobs" aria-current="page">Jobs</a>' in content


def test_the_navigation_offers_only_the_pages_the_user_may_open(client):
    """A link in the menu that ends in a 403 is a dead end: each shows with its list's view permission."""
    jobs_reader = UserFactory(permissions=["jobs.view_job"])
    client.force_login(jobs_reader)
    nav = client.get("/jobs").content.decode().split('<nav aria-label="Main">')[1].split("</nav>")[0]
    assert 'href="/jobs"' in nav
    for page in ("/schedules", "/backups", "/channels", "/notifications", "/admin/"):
        assert f'href="{page}"' not in nav, page
        assert client.get(page).status_code in (403, 302), page


@pytest.mark.parametrize(("permissions", "home"), [
    (["scheduling.view_scheduledtask", "jobs.view_job"], "/schedules"),
    (["jobs.view_job"], "/jobs"),
    (["notifications.view_notificationchannel"], "/notifications"),
    ([], "/account/tokens"),
])
def test_the_home_address_opens_the_first_list_the_user_may_open(client, permissions, home):
    """Not a 403 at /schedules for a user who may not read schedules."""
    client.force_login(UserFactory(permissions=permissions))

    response = client.get("/")

    assert (response.status_code, response["Location"]) == (302, home)
    assert client.get(home).status_code == 200


def test_it_shows_the_admin_link_to_staff_only(client, user, staff):
    client.force_login(user)
    assert b'href="/admin/"' not in client.get("/schedules").content
    client.force_login(staff)
    assert b'href="/admin/"' in client.get("/schedules").content


@pytest.fixture
def some_of_everything():
    ChannelFactory()
    VideoFactory()
    JobFactory()
    ScheduledTaskFactory()


ADMIN_MODELS = [
    "scheduling/scheduledtask",
    "scheduling/schedulerun",
    "scheduling/schedulerheartbeat",
    "scheduling/scheduleauditentry",
    "jobs/job",
    "channels/channelgroup",
    "channels/channel",
    "channels/video",
    "backups/backup",
]


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_it_renders_admin_lists_for_staff(staff_client, some_of_everything, model):
    assert staff_client.get(f"/admin/{model}/").status_code == 200


@pytest.mark.parametrize("model", ADMIN_MODELS)
def test_it_refuses_admin_lists_to_anonymous_users(client, model):
    response = client.get(f"/admin/{model}/")
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/admin/{model}/"


def test_it_refuses_the_admin_to_non_staff_users(user_client):
    response = user_client.get("/admin/")
    assert response.status_code == 302


def test_it_renders_the_schedule_form_with_its_description(staff_client):
    schedule = ScheduledTaskFactory(schedule_time="05:30", timezone="Europe/Berlin")
    response = staff_client.get(reverse("admin:scheduling_scheduledtask_change", args=[schedule.pk]))
    assert response.status_code == 200
    assert b"Every day at 05:30 (Europe/Berlin)" in response.content


def test_it_has_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_the_admin_names_the_product_and_hides_django_q2s_own_models(staff_client):
    index = staff_client.get("/admin/").content.decode()
    assert "Channel archive administration" in index
    assert "/admin/django_q/" not in index
    # The safety-net schedule is created by a migration and is not for editing.
    assert staff_client.get("/admin/django_q/schedule/").status_code == 404


def test_channel_forms_say_youtube_id_and_do_not_offer_created_at(staff_client):
    page = staff_client.get(reverse("admin:channels_channel_add")).content.decode()
    assert ">YouTube id:</label>" in page
    assert 'name="created_at"' not in page
    assert 'name="created_at"' not in staff_client.get(reverse("admin:channels_channelgroup_add")).content.decode()
