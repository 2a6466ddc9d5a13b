"""The jobs pages' template filters."""

from jobs.templatetags.jobs_extras import compact_json


def test_it_shortens_parameters_for_the_table():
    assert compact_json({}) == ""
    assert compact_json({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'
    assert compact_json({"text": "y" * 100}, 20) == '{"text": "yyyyyyyyy…'
    assert len(compact_json({"text": "y" * 100}, 20)) == 20
