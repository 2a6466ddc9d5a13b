"""The API's JSON bodies: a number out of any float's range is refused as such, by every endpoint.

Python reads 1e999 as infinity, which JSON has not and no column stores; the schema fuzz run
(test_api_openapi.py) may or may not generate one, so these ask for it every time.
"""

import pytest

from scheduling.models import ScheduledTask
from tests.api_clients import ALL_ACTIONS, token_client, user_with
from tests.factories import ChannelGroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(db):
    return token_client(user_with(*ALL_ACTIONS, username="editor"))


def quick_sync_of(group_id: str) -> str:
    return ('{"name": "Sync News", "task_type": "QUICK_SYNC_GROUP", "schedule_kind": "daily", '
            f'"schedule_time": "05:30", "params": {{"group_id": {group_id}}}}}')


@pytest.mark.parametrize("number", ["1e999", "-1e999"])
@pytest.mark.parametrize("path", ["/api/schedules", "/api/schedules/preview"])
def test_it_answers_400_naming_a_number_out_of_range(api, path, number):
    ChannelGroupFactory(name="News")

    response = api.post(path, quick_sync_of(number))

    assert response.status_code == 400, response.content
    assert response.json() == {"errors": {"body": [f"The body is not valid JSON: {number} is out of range."]}}
    assert not ScheduledTask.objects.exists()


def test_it_answers_400_naming_a_number_out_of_range_in_the_backup_config(api):
    response = api.post("/api/backup_config", '{"retention_days": 1e999}')

    assert response.status_code == 400, response.content
    assert response.json() == {"errors": {"body": ["The body is not valid JSON: 1e999 is out of range."]}}
    assert not ScheduledTask.objects.exists()


def test_it_reads_a_finite_number_written_with_an_exponent(api):
    group = ChannelGroupFactory(name="News")

    response = api.post("/api/schedules", quick_sync_of(f"{group.pk}.0e0"))

    assert response.status_code == 201, response.content
    assert ScheduledTask.objects.get().params == {"group_id": group.pk}


# --- what is wrong with a body that is not JSON (make mutation) --------------------------------------------

SCHEDULE = '{"name": "Nightly backup", "task_type": "DATABASE_BACKUP", "schedule_time": "02:00"'


@pytest.mark.parametrize("body, why", [
    # Python would keep the last of a repeated key, other readers the first; the first repeated one in
    # alphabetical order is named.
    (SCHEDULE + ', "task_type": "DATABASE_BACKUP", "schedule_time": "03:00"}',
     "the key “schedule_time” is given more than once in one object."),
    (SCHEDULE + ', "grace_minutes": NaN}', "NaN is not valid JSON."),
    (SCHEDULE + ', "grace_minutes": -Infinity}', "-Infinity is not valid JSON."),
    ("[" * 100_000 + "]" * 100_000, "it is nested too deeply."),
    (SCHEDULE, f"Expecting ',' delimiter: line 1 column {len(SCHEDULE) + 1} (char {len(SCHEDULE)})"),  # cut short
])
def test_it_says_why_a_body_is_not_json(api, body, why):
    response = api.post("/api/schedules", body)

    assert response.status_code == 400, response.content
    assert response.json() == {"errors": {"body": [f"The body is not valid JSON: {why}"]}}
    assert not ScheduledTask.objects.exists()


@pytest.mark.parametrize("content_type, named", [("text/plain", "text/plain"), ("", "none"),
                                                 ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded")])
def test_it_answers_415_naming_the_content_type_of_a_body_that_is_not_said_to_be_json(api, content_type, named):
    response = api.generic("POST", "/api/schedules", SCHEDULE + "}", CONTENT_TYPE=content_type)

    assert response.status_code == 415, response.content
    assert response.json() == {"errors": {"body": [
        f"Send the body as JSON with Content-Type: application/json (got {named})."]}}
    assert not ScheduledTask.objects.exists()
