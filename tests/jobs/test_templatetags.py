"""The jobs pages' template filters."""

import datetime as dt

import pytest

from jobs.templatetags.jobs_extras import compact_json, human_duration, since


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (0.43, "0.4 s"), (5, "5 s"), (9.96, "10 s"), (59, "59 s"), (60, "1 min"), (123, "2 min 3 s"),
    (3600, "1 h"), (3723, "1 h 2 min"), (86400, "1 d"), (2 * 86400 + 3 * 3600, "2 d 3 h"), (-3, "0 s"),
])
def test_it_writes_durations_for_people(seconds, text):
    assert human_duration(dt.timedelta(seconds=seconds)) == text


def test_it_says_how_long_ago_something_started():
    now = dt.datetime(2026, 5, 1, 5, 32, 5, tzinfo=dt.timezone.utc)

    assert since(now - dt.timedelta(seconds=125), now) == "2 min 5 s"
    assert since(None, now) == ""


def test_it_shortens_parameters_for_the_table():
    assert compact_json({}) == ""
    assert compact_json({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'
    assert compact_json({"text": "y" * 100}, 20) == '{"text": "yyyyyyyyy…'
    assert len(compact_json({"text": "y" * 100}, 20)) == 20
