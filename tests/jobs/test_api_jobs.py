"""The jobs API: /api/jobs (filters, keyset pages), /api/jobs/<id>, retry and cancel."""

import datetime as dt

import pytest
from django.test import Client

from jobs.models import Job, JobStatus
from tests import broker
from tests.api_clients import queries_for, token_client, user_with, walk_pages
from tests.factories import JobFactory
from tests.jobs.conftest import at

pytestmark = pytest.mark.django_db

NOW = at("2026-03-26 12:00")
JOB_ACTIONS = ("view", "add", "change", "delete")
FIELDS = {"id", "job_type", "job_type_label", "status", "priority", "params", "attempts", "retries", "max_retries",
          "failed_permanently", "created_at", "available_at", "started_at", "finished_at", "duration_seconds",
          "worker", "origin_label", "origin_url", "error_summary", "can_retry", "can_cancel"}
DETAIL = FIELDS | {"result", "error", "attempt_log", "time_limit_seconds"}
TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1\nConnectionError: feed down\n'


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def operator(db):
    return user_with("view", "change", model="job", app="jobs", username="alice")


@pytest.fixture
def api(operator):
    return token_client(operator)


def errors_of(response, status=400) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["errors"]


def failed_job(**fields) -> Job:
    started = NOW - dt.timedelta(minutes=5)
    defaults = {
        "job_type": "QUICK_SYNC", "status": JobStatus.FAILED, "attempts": 2, "max_retries": 1, "params": {"channel_id": 7},
        "started_at": started, "finished_at": started + dt.timedelta(seconds=2.5), "worker": "host:42",
        "error": TRACEBACK, "origin_label": "Schedule “News sync”, run #12", "origin_url": "/schedules/runs/12",
        "attempt_log": [
            {"attempt": 1, "worker": "host:41", "started_at": "2026-03-26T11:50:00+00:00",
             "finished_at": "2026-03-26T11:50:01+00:00", "outcome": "failed", "error": "ConnectionError: feed down"},
            {"attempt": 2, "worker": "host:42", "started_at": "2026-03-26T11:55:00+00:00",
             "finished_at": "2026-03-26T11:55:02.500000+00:00", "outcome": "failed", "error": "ConnectionError: feed down"},
        ],
    }
    return JobFactory(**{**defaults, **fields})


def ids(api, query="") -> list[int]:
    response = api.get(f"/api/jobs{query}")
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


# --- reads ------------------------------------------------------------------------------------------

def test_it_shows_a_job_with_its_attempts_result_and_error(api):
    job = failed_job()

    response = api.get(f"/api/jobs/{job.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL
    assert (body["job_type"], body["job_type_label"], body["status"]) == ("QUICK_SYNC", "Quick sync of a channel", "failed")
    assert (body["attempts"], body["retries"], body["max_retries"]) == (2, 1, 1)
    assert body["error"] == TRACEBACK
    assert body["error_summary"] == "ConnectionError: feed down"
    assert body["duration_seconds"] == 2.5
    assert body["origin_label"] == "Schedule “News sync”, run #12" and body["origin_url"] == "/schedules/runs/12"
    assert (body["can_retry"], body["can_cancel"]) == (True, False)
    assert body["attempt_log"] == [
        {"attempt": 1, "outcome": "failed", "started_at": "2026-03-26T11:50:00Z", "finished_at": "2026-03-26T11:50:01Z",
         "worker": "host:41", "error": "ConnectionError: feed down"},
        {"attempt": 2, "outcome": "failed", "started_at": "2026-03-26T11:55:00Z",
         "finished_at": "2026-03-26T11:55:02.500Z", "worker": "host:42", "error": "ConnectionError: feed down"},
    ]
    assert body["result"] is None


def test_it_shows_a_completed_jobs_result(api):
    job = JobFactory(status=JobStatus.COMPLETED, result={"backup_id": 6, "size_bytes": 12_300_000})

    body = api.get(f"/api/jobs/{job.pk}").json()

    assert body["result"] == {"backup_id": 6, "size_bytes": 12_300_000}
    assert body["error"] == "" and body["error_summary"] == ""


def test_it_reads_an_attempt_log_entry_it_cannot_parse_as_empty(api):
    """An entry edited by hand (or from an older version) is shown as far as it goes, never a 500."""
    job = JobFactory(status=JobStatus.FAILED, attempt_log=[{"attempt": "one", "started_at": "yesterday"}, "junk"])

    body = api.get(f"/api/jobs/{job.pk}").json()

    assert body["attempt_log"] == [
        {"attempt": None, "outcome": "", "started_at": None, "finished_at": None, "worker": "", "error": ""},
        {"attempt": None, "outcome": "", "started_at": None, "finished_at": None, "worker": "", "error": ""}]


def test_it_lists_jobs_oldest_first_with_the_fields_of_each(api):
    first, second = failed_job(), JobFactory(status=JobStatus.QUEUED)

    body = api.get("/api/jobs").json()

    assert [item["id"] for item in body["items"]] == [first.pk, second.pk]
    assert set(body["items"][0]) == FIELDS
    assert body["items"][0] == {key: value for key, value in api.get(f"/api/jobs/{first.pk}").json().items()
                                if key in FIELDS}
    assert (body["next"], body["previous"]) == (None, None)


def test_it_filters_by_type_status_and_origin(api):
    sync = failed_job()
    other_run = failed_job(origin_url="/schedules/runs/13", origin_label="Schedule “News sync”, run #13")
    backup = JobFactory(job_type="DATABASE_BACKUP", status=JobStatus.COMPLETED,
                        origin_label="Schedule “Daily backup”, run #14 (Run now by alice)", origin_url="/schedules/runs/14")
    by_hand = JobFactory(job_type="QUICK_SYNC", status=JobStatus.QUEUED, origin_label="Sync now by alice")
    offsite = JobFactory(job_type="BACKUP_OFFSITE_COPY", status=JobStatus.RETRY_WAIT,
                         origin_label=f"Off-site copy of backup #{backup.pk}", origin_url="/backups#backup-3")

    assert ids(api, "?job_type=QUICK_SYNC") == [sync.pk, other_run.pk, by_hand.pk]
    assert ids(api, "?status=failed") == [sync.pk, other_run.pk]
    assert ids(api, "?status=retry_wait") == [offsite.pk]
    assert ids(api, "?origin=news%20SYNC") == [sync.pk, other_run.pk]
    assert ids(api, "?origin=by%20alice") == [backup.pk, by_hand.pk]
    assert ids(api, "?origin_url=/schedules/runs/12") == [sync.pk]
    assert ids(api, "?origin_url=/schedules/runs/1") == []  # exactly this link, not one that starts with it
    assert ids(api, "?job_type=QUICK_SYNC&status=queued&origin=alice") == [by_hand.pk]
    assert ids(api, "?job_type=NO_SUCH_TYPE") == []


def test_it_searches_as_the_jobs_page_does(api):
    job = failed_job()
    JobFactory(status=JobStatus.COMPLETED)

    assert ids(api, f"?q=%23{job.pk}") == [job.pk]
    assert ids(api, "?q=feed%20down") == [job.pk]  # in the error
    assert ids(api, "?q=channel_id") == [job.pk]  # in the parameters


def test_it_pages_by_keyset_without_counting_and_keeps_the_filters(api):
    failed = [failed_job() for _ in range(5)]
    JobFactory.create_batch(3, status=JobStatus.COMPLETED)

    items, pages, last = walk_pages(api, "/api/jobs?limit=2&status=failed")
    seen = [item["id"] for item in items]

    assert seen == [job.pk for job in failed]
    assert pages == 3
    back = api.get(last["previous"]).json()
    assert [item["id"] for item in back["items"]] == [failed[2].pk, failed[3].pk]


def test_it_keeps_its_place_while_jobs_are_added(api):
    jobs = JobFactory.create_batch(3)
    first = api.get("/api/jobs?limit=2").json()
    added = JobFactory()

    assert [item["id"] for item in api.get(first["next"]).json()["items"]] == [jobs[2].pk, added.pk]


def test_it_lists_in_a_constant_number_of_queries(api):
    def queries_for_list() -> int:
        return queries_for(api, "/api/jobs?limit=200")

    failed_job()
    queries_for_list()  # the token's first use is noted once: not part of the count
    few = queries_for_list()
    for _ in range(20):
        failed_job()
        JobFactory(status=JobStatus.COMPLETED, result={"ok": True})

    assert queries_for_list() == few


# --- retry and cancel ----------------------------------------------------------------------------------

def test_it_retries_a_failed_job_as_one_more_attempt(api):
    job = failed_job()

    response = api.post(f"/api/jobs/{job.pk}/retry")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["message"] == f"Job #{job.pk} queued again."
    assert (body["job"]["status"], body["job"]["attempts"], body["job"]["max_retries"]) == ("queued", 2, 2)
    job.refresh_from_db()
    assert (job.status, job.available_at) == (JobStatus.QUEUED, NOW)
    assert broker.count() == 1  # sent to the workers


def test_it_refuses_to_retry_a_job_whose_state_forbids_it_with_the_pages_message(api):
    job = JobFactory(status=JobStatus.COMPLETED)

    errors = errors_of(api.post(f"/api/jobs/{job.pk}/retry"), status=409)

    assert errors == {"__all__": [f"Job #{job.pk} is completed; only failed or cancelled jobs can be retried."]}
    assert Job.objects.get(pk=job.pk).status == JobStatus.COMPLETED
    assert broker.count() == 0


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RETRY_WAIT])
def test_it_cancels_a_job_that_has_not_started_and_says_who(api, status):
    job = JobFactory(status=status)

    response = api.post(f"/api/jobs/{job.pk}/cancel")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == f"Job #{job.pk} cancelled."
    assert response.json()["job"]["status"] == "cancelled"
    job.refresh_from_db()
    assert (job.status, job.finished_at) == (JobStatus.CANCELLED, NOW)
    assert job.error == "Cancelled by alice at 2026-03-26 12:00:00 UTC."


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_it_refuses_to_cancel_a_job_that_started_with_the_pages_message(api, status):
    job = JobFactory(status=status)

    errors = errors_of(api.post(f"/api/jobs/{job.pk}/cancel"), status=409)

    label = Job(status=status).get_status_display().lower()
    assert errors == {"__all__": [f"Job #{job.pk} is {label}; only queued jobs and jobs waiting to retry can be "
                                  "cancelled."]}
    assert Job.objects.get(pk=job.pk).status == status


@pytest.mark.parametrize("action, status", [("retry", JobStatus.FAILED), ("cancel", JobStatus.QUEUED)])
def test_it_takes_an_action_with_no_body_and_no_content_type(api, action, status):
    """`curl -X POST …/retry` sends neither."""
    job = JobFactory(status=status)

    response = api.generic("POST", f"/api/jobs/{job.pk}/{action}", b"", content_type="")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("action, status", [("retry", JobStatus.FAILED), ("cancel", JobStatus.QUEUED)])
def test_it_takes_an_action_with_an_empty_json_object(api, action, status):
    job = JobFactory(status=status)

    assert api.post(f"/api/jobs/{job.pk}/{action}", {}).status_code == 200


@pytest.mark.parametrize("body, field", [("[]", "body"), ('"now"', "body"), ("{not json", "body"),
                                         ('{"force": true}', "force"), ('{"x": NaN}', "body")])
@pytest.mark.parametrize("action, status", [("retry", JobStatus.FAILED), ("cancel", JobStatus.QUEUED)])
def test_it_refuses_an_action_body_it_does_not_understand_and_changes_nothing(api, action, status, body, field):
    job = JobFactory(status=status)

    assert list(errors_of(api.post(f"/api/jobs/{job.pk}/{action}", body))) == [field]
    assert Job.objects.get(pk=job.pk).status == status


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_it_answers_415_for_an_action_body_that_is_not_json(api, content_type):
    job = JobFactory(status=JobStatus.QUEUED)

    errors = errors_of(api.post(f"/api/jobs/{job.pk}/cancel", "a=b", content_type=content_type), status=415)

    assert "application/json" in errors["body"][0]
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


# --- hostile input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("query, field", [
    ("status=nope", "status"), ("status=", "status"), ("limit=0", "limit"), ("limit=201", "limit"),
    ("limit=x", "limit"), ("cursor=%00", "cursor"), ("cursor=not-base64!", "cursor"), ("cursor=cD1hYmM=", "cursor"),
    ("job_type=%00", "job_type"), ("origin=%00", "origin"), ("origin_url=%00", "origin_url"),
    ("q=%00", "q"), (f"q={'x' * 201}", "q")])
def test_it_names_a_bad_query_parameter(api, query, field):
    failed_job()

    assert list(errors_of(api.get(f"/api/jobs?{query}"))) == [field]


@pytest.mark.parametrize("method, suffix", [("get", ""), ("post", "/retry"), ("post", "/cancel")])
@pytest.mark.parametrize("job_id", ["999", "0", "-1", "abc", "1.5", "99999999999999999999999"])
def test_it_answers_404_for_an_unknown_id(api, method, suffix, job_id):
    response = getattr(api, method)(f"/api/jobs/{job_id}{suffix}")

    assert list(errors_of(response, status=404)) == ["id"]


def test_it_names_the_id_it_does_not_know(api):
    assert errors_of(api.get("/api/jobs/999"), status=404) == {"id": ["No job with id 999."]}


@pytest.mark.parametrize("method, path", [("put", "/api/jobs/{id}"), ("delete", "/api/jobs/{id}"),
                                          ("get", "/api/jobs/{id}/retry"), ("post", "/api/jobs")])
def test_it_refuses_a_method_the_endpoint_does_not_have(api, method, path):
    job = JobFactory(status=JobStatus.FAILED)

    response = getattr(api, method)(path.format(id=job.pk))

    assert response.status_code == 405
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


# --- who may do what -----------------------------------------------------------------------------------

OPERATIONS = [
    ("get", "/api/jobs", "view", JobStatus.FAILED),
    ("get", "/api/jobs/{id}", "view", JobStatus.FAILED),
    ("post", "/api/jobs/{id}/retry", "change", JobStatus.FAILED),
    ("post", "/api/jobs/{id}/cancel", "change", JobStatus.QUEUED),
]


@pytest.mark.parametrize("method, path, needed, status", OPERATIONS)
def test_it_needs_the_model_permission_of_each_operation(method, path, needed, status):
    job = JobFactory(status=status)
    url = path.format(id=job.pk)
    others = [action for action in JOB_ACTIONS if action != needed]

    refused = getattr(token_client(user_with(*others, model="job", app="jobs")), method)(url)

    assert errors_of(refused, status=403)["__all__"][0].startswith(f"You do not have the permission “jobs.{needed}_job”")
    assert Job.objects.get(pk=job.pk).status == status
    assert errors_of(getattr(token_client(user_with()), method)(url), status=403)  # no permission at all

    allowed = getattr(token_client(user_with(needed, model="job", app="jobs")), method)(url)
    assert allowed.status_code == 200, allowed.content


@pytest.mark.parametrize("method, path, needed, status", OPERATIONS)
def test_it_answers_401_json_to_anonymous_requests(method, path, needed, status):
    job = JobFactory(status=status)

    response = getattr(Client(), method)(path.format(id=job.pk))

    errors = errors_of(response, status=401)
    assert "Authorization: Bearer" in errors["__all__"][0]
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert Job.objects.get(pk=job.pk).status == status


def test_a_browser_session_needs_its_csrf_token_to_cancel(operator):
    job = JobFactory(status=JobStatus.QUEUED)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator)

    assert browser.get(f"/api/jobs/{job.pk}").status_code == 200  # reads need no token
    errors = errors_of(browser.post(f"/api/jobs/{job.pk}/cancel"), status=403)

    assert "CSRF" in errors["__all__"][0]
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


@pytest.mark.parametrize("query, fields", [("status=failed&status=queued", ["status"]),
                                           ("q=a&q=b&limit=2&limit=3", ["limit", "q"])])
def test_it_refuses_a_filter_given_twice_rather_than_taking_one(api, query, fields):
    failed_job()

    assert sorted(errors_of(api.get(f"/api/jobs?{query}"))) == fields
