"""GET /jobs: the table of jobs, newest first, with filters, search and keyset pagination."""

import re

import pytest

from jobs import views
from jobs.models import JobStatus
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def ids_on(response) -> list[int]:
    return [int(n) for n in re.findall(r'href="/jobs/(\d+)"', response.content.decode())]


def test_it_requires_login(client):
    response = client.get("/jobs")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_it_lists_jobs_newest_first_with_their_state(user_client):
    older = JobFactory(job_type="TEST_OK", status=JobStatus.COMPLETED, attempts=1)
    newer = JobFactory(job_type="TEST_FAIL", status=JobStatus.RETRY_WAIT, attempts=2, max_retries=2,
                       params={"channel_id": 7})

    response = user_client.get("/jobs")

    assert response.status_code == 200
    assert ids_on(response) == [newer.pk, older.pk]
    html = response.content.decode()
    assert "<h1>Jobs</h1>" in html
    assert "Test: fails" in html  # the handler's label, not the code
    assert '<span class="badge badge-warn">Waiting to retry</span>' in html  # status in words
    assert "<td>2/3</td>" in html
    assert "{&quot;channel_id&quot;: 7}" in html


def test_it_says_when_there_are_no_jobs(user_client):
    assert "No jobs yet." in user_client.get("/jobs").content.decode()


def test_it_filters_by_type_and_status(user_client):
    wanted = JobFactory(job_type="TEST_OK", status=JobStatus.FAILED)
    JobFactory(job_type="TEST_OK", status=JobStatus.COMPLETED)
    JobFactory(job_type="TEST_FAIL", status=JobStatus.FAILED)

    response = user_client.get("/jobs", {"type": "TEST_OK", "status": "failed"})

    assert ids_on(response) == [wanted.pk]
    html = response.content.decode()
    assert '<option value="TEST_OK" selected>' in html
    assert '<option value="failed" selected>' in html
    assert "Clear filters" in html


def test_it_finds_a_job_by_id(user_client):
    job, _ = JobFactory(), JobFactory()

    assert ids_on(user_client.get("/jobs", {"q": str(job.pk)})) == [job.pk]
    assert ids_on(user_client.get("/jobs", {"q": f"#{job.pk}"})) == [job.pk]


@pytest.mark.parametrize("q", ["²", "#²", "١٢", "99999999999999999999"])
def test_it_searches_text_for_digits_that_are_not_an_id(user_client, q):
    # str.isdigit() accepts superscripts and other scripts' digits, which int() refuses (or turns
    # into an id); a number too long for a database integer cannot be an id either.
    match = JobFactory(error=f"ValueError: {q}")
    JobFactory()

    response = user_client.get("/jobs", {"q": q})

    assert response.status_code == 200
    assert ids_on(response) == [match.pk]


def test_it_finds_jobs_by_text_in_parameters_or_error(user_client):
    by_param = JobFactory(params={"group": "Lawyers"})
    by_error = JobFactory(error="Traceback...\nConnectionError: lawyers.example unreachable")
    JobFactory(params={"group": "News"})

    response = user_client.get("/jobs", {"q": "lawyers"})

    assert ids_on(response) == [by_error.pk, by_param.pk]


def test_it_says_when_nothing_matches(user_client):
    JobFactory()

    assert "No jobs match these filters." in user_client.get("/jobs", {"q": "nothing like it"}).content.decode()


def test_it_ignores_filter_values_it_does_not_understand(user_client):
    job = JobFactory()

    response = user_client.get("/jobs", {"status": "exploded", "before": "abc", "after": "-3"})

    assert response.status_code == 200
    assert ids_on(response) == [job.pk]


def test_it_pages_by_id_and_keeps_the_filters_in_the_links(user_client, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    jobs = [JobFactory(job_type="TEST_OK") for _ in range(5)]
    JobFactory(job_type="TEST_FAIL")
    newest_first = [job.pk for job in reversed(jobs)]

    first = user_client.get("/jobs", {"type": "TEST_OK"})
    assert ids_on(first) == newest_first[:2]
    html = first.content.decode()
    assert "Newer" not in html
    older_link = re.search(r'href="\?([^"]*)" rel="next">Older →', html).group(1).replace("&amp;", "&")
    assert older_link == f"type=TEST_OK&before={newest_first[1]}"

    second = user_client.get(f"/jobs?{older_link}")
    assert ids_on(second) == newest_first[2:4]
    html = second.content.decode()
    newer_link = re.search(r'href="\?([^"]*)" rel="prev">← Newer', html).group(1).replace("&amp;", "&")
    assert newer_link == f"type=TEST_OK&after={newest_first[2]}"
    assert ids_on(user_client.get(f"/jobs?{newer_link}")) == newest_first[:2]

    last = user_client.get("/jobs", {"type": "TEST_OK", "before": newest_first[3]})
    assert ids_on(last) == newest_first[4:]
    assert "Older" not in last.content.decode()


def test_it_never_counts_the_whole_table(user_client, django_assert_max_num_queries):
    JobFactory.create_batch(3)

    # 14: the page's own queries, and the user's and their groups' permissions (read once, then cached).
    with django_assert_max_num_queries(14) as captured:
        user_client.get("/jobs", {"before": 10**6})

    job_counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"] and '"jobs_job"' in q["sql"]]
    # Only the header badge counts, and only queued and running jobs (an index range each).
    assert job_counts and all("\"status\" = 'queued'" in sql or "\"status\" = 'running'" in sql for sql in job_counts)


def test_it_refreshes_while_jobs_are_active_and_not_at_all_otherwise(user_client):
    JobFactory(status=JobStatus.COMPLETED)
    idle = user_client.get("/jobs").content.decode()
    assert "every " not in idle and 'id="jobs-region-watch"' not in idle

    JobFactory(status=JobStatus.RUNNING)
    busy = user_client.get("/jobs").content.decode()
    # Only while the tab is visible: app.js skips a poll in a hidden tab (tests/e2e/test_csp.py).
    assert 'id="jobs-region-watch"' in busy and 'hx-trigger="every 1s"' in busy


def test_it_answers_htmx_with_the_table_only_and_the_status_badge(user_client):
    job = JobFactory(job_type="TEST_OK")

    response = user_client.get("/jobs", {"type": "TEST_OK"}, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith("<section id=\"jobs-region\"")
    assert 'hx-get="/jobs?type=TEST_OK"' in html
    assert 'id="health-badge"' in html and 'hx-swap-oob="true"' in html
    assert ids_on(response) == [job.pk]


def test_it_rejects_post(user_client):
    assert user_client.post("/jobs").status_code == 405


def test_it_counts_attempts_and_says_when_no_retry_can_help(user_client):
    JobFactory(status=JobStatus.FAILED, attempts=1, max_retries=3, failed_permanently=True)
    JobFactory(status=JobStatus.FAILED, attempts=4, max_retries=3, failed_permanently=True)
    JobFactory(status=JobStatus.QUEUED, attempts=0, max_retries=2)

    html = user_client.get("/jobs").content.decode()

    assert '<th scope="col">Attempts</th>' in html and "Retries" not in html
    assert "<td>1/4 (a retry cannot fix it)</td>" in html and "<td>4/4 (a retry cannot fix it)</td>" in html
    assert "<td>0/3</td>" in html
    assert "not retried" not in html
