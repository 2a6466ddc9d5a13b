"""Errors by field, and the enable switch, as every entrance reads them."""

import pytest
from django.core.exceptions import ValidationError

from common.forms import errors_by_field, parse_toggle


def test_it_names_errors_about_a_key_inside_a_json_field_by_that_key():
    about_group = ValidationError("No such channel group.")
    about_group.param = "group_id"
    exc = ValidationError({"params": [about_group, ValidationError("Parameters must be a JSON object.")],
                           "schedule_time": ["Use HH:MM."]})

    assert errors_by_field(exc) == {"params.group_id": ["No such channel group."],
                                    "params": ["Parameters must be a JSON object."],
                                    "schedule_time": ["Use HH:MM."]}


def test_it_puts_an_error_of_no_field_under_all():
    assert errors_by_field(ValidationError("Busy.")) == {"__all__": ["Busy."]}


@pytest.mark.parametrize(("posted", "current", "wanted"), [
    ("true", False, True), ("true", True, True), ("false", True, False), (None, True, False), (None, False, True),
    ("yes", False, True),  # anything else flips, as a button without a value does
])
def test_it_reads_the_state_an_enable_switch_asks_for(posted, current, wanted):
    assert parse_toggle(posted, current=current) is wanted
