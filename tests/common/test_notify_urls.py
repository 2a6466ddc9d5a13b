"""common.notify_urls: Apprise URLs checked by Apprise itself and never shown whole."""

import logging

import pytest

from common.notify_urls import mask, problem, scrub

SECRET = "123456789:AAE-secret-bot-token"


@pytest.mark.parametrize("url, masked", [
    (f"tgram://{SECRET}/42", "tgram://…"),
    ("mailtos://user:password@mail.example.com", "mailtos://…"),
    ("JSON://127.0.0.1/x", "json://…"),
    ("not a url", "…"),
    ("://nothing", "…"),
])
def test_it_shows_only_the_scheme(url, masked):
    assert mask(url) == masked


def test_apprise_accepts_the_urls_of_its_services():
    for url in (f"tgram://{SECRET}/42", "ntfy://ntfy.example.com/alerts", "json://127.0.0.1:8080/hook",
                "mailto://user:pass@gmail.com", "discord://1234/abcd"):
        assert problem(url) == "", url


@pytest.mark.parametrize("url, reason", [
    ("tgram://not-a-token", "Unparseable Telegram URL tgram://…."),
    ("nosuchservice://x", "Unparseable URL nosuchservice://…."),
    ("not a url", "Unsupported URL: …."),
])
def test_it_gives_apprise_reason_with_the_url_masked(url, reason):
    said = problem(url)
    assert said == f"Apprise cannot use this URL: {reason}"


def test_it_masks_what_apprise_half_masks_itself():
    assert scrub("Loaded Telegram URL: tgram://1...n/42/?image=no, done.", "tgram://x") == \
        "Loaded Telegram URL: tgram://…, done."
    assert scrub(f"Failed for json://u:{SECRET}@h/p.", f"json://u:{SECRET}@h/p") == "Failed for json://…."


def test_apprise_s_own_lines_stay_out_of_the_application_s_logs():
    assert logging.getLogger("apprise").propagate is False
