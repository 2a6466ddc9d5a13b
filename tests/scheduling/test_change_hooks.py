"""A task type's change hooks (scheduling.registry.TaskType.check_change / preview_change), as scheduling calls
them without knowing what they guard: the service asks before a user's save, the forms put a refusal under
the param, the API answers 403 naming it, the editor's preview shows the fragment."""

import dataclasses
import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.html import format_html

from common.actors import COMMAND, SYSTEM, Actor, Via
from scheduling import registry, services
from scheduling.models import ScheduledTask
from tests.api_clients import ALL_ACTIONS, token_client, user_with
from tests.factories import UserFactory, grant

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HTMX = {"HTTP_HX_REQUEST": "true"}


class Hooks:
    """A task type that refuses force_backup to everyone but "root", and previews its params."""

    def __init__(self):
        self.calls = []

    def check(self, *, old, new, user, now):
        self.calls.append((old.pk if old else None, new.params.get("force_backup"), user.get_username(), now))
        if new.params.get("force_backup") and user.get_username() != "root":
            raise registry.ParamsChangeRefused("Forcing needs root.", param="force_backup", permission="x.root")

    def preview(self, *, old, new, user, now):
        return format_html('<p class="guarded-preview">{} → {} for {}</p>',
                           old.params.get("retention_days") if old else "new", new.params.get("retention_days"),
                           user.get_username())


@pytest.fixture
def hooks(monkeypatch):
    hooks = Hooks()
    guarded = dataclasses.replace(registry.get("DATABASE_BACKUP"), name="GUARDED", label="Guarded",
                                  check_change=hooks.check, preview_change=hooks.preview)
    monkeypatch.setitem(registry._task_types, "GUARDED", guarded)
    return hooks


@pytest.fixture
def eve(db):
    return grant(UserFactory(username="eve"), "view_scheduledtask", "add_scheduledtask", "change_scheduledtask")


def guarded(**params) -> ScheduledTask:
    return ScheduledTask(name="Guarded", task_type="GUARDED", schedule_time="02:00",
                         params={"cleanup_old": False, **params})


def test_the_service_asks_before_a_users_save_with_the_stored_schedule(hooks, eve):
    schedule = services.schedule_save(schedule=guarded(), now=NOW, actor=Actor(Via.PAGE, eve))
    schedule.params = {**schedule.params, "force_backup": True}

    with pytest.raises(registry.ParamsChangeRefused, match="Forcing needs root."):
        services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, eve))

    assert hooks.calls == [(None, False, "eve", NOW), (schedule.pk, True, "eve", NOW)]
    assert ScheduledTask.objects.get().params["force_backup"] is False


@pytest.mark.parametrize("actor", [SYSTEM, COMMAND], ids=["system", "command"])
def test_nobody_is_asked_without_a_user(hooks, actor):
    services.schedule_save(schedule=guarded(force_backup=True), now=NOW, actor=actor)

    assert hooks.calls == []
    assert ScheduledTask.objects.get().params["force_backup"] is True


def test_a_schedule_that_had_another_task_type_is_new_to_the_hook(hooks, eve, news_group):
    schedule = services.schedule_save(schedule=ScheduledTask(
        name="Sync", task_type="QUICK_SYNC_GROUP", schedule_time="02:00", params={"group_id": news_group.pk}), now=NOW)
    schedule.task_type, schedule.params = "GUARDED", {"cleanup_old": False}

    services.schedule_save(schedule=schedule, now=NOW, actor=Actor(Via.PAGE, eve))

    assert hooks.calls == [(None, False, "eve", NOW)]


def form(**fields) -> dict:
    return {"name": "Guarded", "task_type": "GUARDED", "schedule_kind": "daily", "schedule_time": "02:00",
            "timezone": "UTC", "grace_minutes": "60", "overlap_policy": "skip", "guarded-backup_type": "full",
            "guarded-retention_days": "30", **fields}


def test_the_editor_puts_the_refusal_under_the_param(client, hooks, eve):
    client.force_login(eve)

    response = client.post("/schedules/new", form(**{"guarded-force_backup": "on"}), **HTMX)

    assert response.context["form"].errors == {"guarded-force_backup": ["Forcing needs root."]}
    assert not ScheduledTask.objects.exists()


def test_the_api_answers_403_naming_the_param(hooks, eve):
    response = token_client(eve).post("/api/schedules", {"name": "Guarded", "task_type": "GUARDED", "schedule_time": "02:00",
                                                         "params": {"cleanup_old": False, "force_backup": True}})

    assert response.status_code == 403
    assert response.json() == {"errors": {"params.force_backup": ["Forcing needs root."]}}


def test_any_other_refusal_below_the_api_is_a_403_too(monkeypatch, hooks):
    def refuse(**kwargs):
        raise PermissionDenied("Not today.")

    monkeypatch.setitem(registry._task_types, "GUARDED",
                        dataclasses.replace(registry.get("GUARDED"), check_change=refuse))

    response = token_client(user_with(*ALL_ACTIONS)).post("/api/schedules", {
        "name": "Guarded", "task_type": "GUARDED", "schedule_time": "02:00", "params": {"cleanup_old": False}})

    assert response.status_code == 403
    assert response.json() == {"errors": {"__all__": ["Not today."]}}


def test_the_editors_preview_shows_the_fragment_with_the_stored_schedule(client, hooks, eve):
    stored = services.schedule_save(schedule=guarded(retention_days=12), now=NOW)
    client.force_login(eve)

    new = client.post(reverse("schedule_preview"), form(**{"guarded-retention_days": "9"}), **HTMX).content.decode()
    edited = client.post(f"{reverse('schedule_preview')}?schedule={stored.pk}", form(**{"guarded-retention_days": "9"}),
                         **HTMX).content.decode()

    assert '<p class="guarded-preview">new → 9 for eve</p>' in new
    assert '<p class="guarded-preview">12 → 9 for eve</p>' in edited


def test_a_task_type_without_hooks_is_neither_asked_nor_previewed(client, eve, news_group):
    client.force_login(eve)
    data = {**form(task_type="QUICK_SYNC_GROUP"), "quick_sync_group-group_id": str(news_group.pk)}

    html = client.post(reverse("schedule_preview"), data, **HTMX).content.decode()

    assert "retention" not in html.lower()
    assert client.post("/schedules/new", data).status_code == 302
