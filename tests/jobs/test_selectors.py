"""jobs.selectors.job_list_page: keyset pages that read along an index, whatever the table's size."""

import re

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from jobs.models import JobStatus
from jobs.selectors import job_list_page, job_search
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def test_it_pages_newest_first_and_back():
    pks = [JobFactory().pk for _ in range(5)]

    first = job_list_page(page_size=2)
    second = job_list_page(before=first.older, page_size=2)
    last = job_list_page(before=second.older, page_size=2)
    back = job_list_page(after=last.newer, page_size=2)

    assert ([j.pk for j in first.jobs], first.newer, first.older) == (pks[4:2:-1], None, pks[3])
    assert ([j.pk for j in second.jobs], second.newer, second.older) == (pks[2:0:-1], pks[2], pks[1])
    assert ([j.pk for j in last.jobs], last.newer, last.older) == ([pks[0]], pks[0], None)
    assert [j.pk for j in back.jobs] == pks[2:0:-1]


def test_it_shows_the_newest_page_when_nothing_is_newer_any_more():
    job = JobFactory()

    page = job_list_page(after=job.pk, page_size=2)

    assert [j.pk for j in page.jobs] == [job.pk]


def conditions(q: Q) -> list:
    """The (lookup, value) pairs of a condition, however they are nested."""
    found = []
    for child in q.children:
        found.extend(conditions(child) if isinstance(child, Q) else [child])
    return found


@pytest.mark.parametrize(("q", "id_", "text"), [
    (" #12 ", 12, None),  # with its "#", an id only
    ("12", 12, "12"),  # a bare number: an id, or text in an error ("404")
    ("²", None, "²"),
    ("#١٢", None, "#١٢"),
    ("1" * 19, None, "1" * 19),
])
def test_it_takes_only_ascii_digits_for_an_id(q, id_, text):
    found = conditions(job_search(q))

    assert [value for lookup, value in found if lookup == "pk"] == ([id_] if id_ else [])
    assert [value for lookup, value in found if lookup == "error__icontains"] == ([text] if text else [])


@pytest.mark.parametrize("filters", [
    {},
    {"status": JobStatus.FAILED},
    {"job_type": "QUICK_SYNC"},
    {"job_type": "QUICK_SYNC", "status": JobStatus.FAILED},
    {"status": JobStatus.FAILED, "before": 500},
    {"status": JobStatus.FAILED, "after": 500},
    {"q": "#1234"},  # an id; other text (a bare number too) is looked for in the text, row by row
])
def test_it_reads_along_an_index_without_sorting(filters):
    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's query plans")
    JobFactory.create_batch(3, status=JobStatus.FAILED)

    with CaptureQueriesContext(connection) as captured:
        job_list_page(**filters, page_size=50)

    for query in captured.captured_queries:
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {query['sql']}")
            plan = " / ".join(row[-1] for row in cursor.fetchall())
        # A million rows: a sort (TEMP B-TREE) or a full scan with a filter would read them all.
        assert "TEMP B-TREE" not in plan, (query["sql"], plan)
        if filters:
            assert re.search(r"USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY", plan), (query["sql"], plan)
