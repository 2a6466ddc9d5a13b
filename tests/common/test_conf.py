"""Each app's settings: the default until Django settings say otherwise, read at each call."""

import datetime as dt

import pytest

from common.conf import AppSettings

CONF = AppSettings({"EXAMPLE_TIMEOUT_SECONDS": 30.0})


def test_it_gives_the_default_until_settings_override_it(settings):
    assert CONF.get("EXAMPLE_TIMEOUT_SECONDS") == 30.0

    settings.EXAMPLE_TIMEOUT_SECONDS = "2.5"

    assert CONF.seconds("EXAMPLE_TIMEOUT_SECONDS") == dt.timedelta(seconds=2.5)


def test_it_refuses_a_name_it_has_no_default_for():
    with pytest.raises(KeyError, match="EXAMPLE_TIMEOUT_SECONDS"):
        CONF.get("EXAMPLE_TIMEOUT")
