"""One parser for every entrance: channel id, channel URL, feed URL in; handles refused with a clear message."""

import pytest
from django.core.exceptions import ValidationError

from channels.identity import parse_channel_reference

ID = "UCpa-Zb0ZcQjTCPP1Dx_1M8Q"


@pytest.mark.parametrize("text", [
    ID, f"  {ID}\n",
    f"https://www.youtube.com/channel/{ID}", f"https://youtube.com/channel/{ID}/videos",
    f"http://m.youtube.com/channel/{ID}?si=abc", f"www.youtube.com/channel/{ID}",
    f"https://www.youtube.com/feeds/videos.xml?channel_id={ID}",
])
def test_it_reads_the_channel_id_from_each_accepted_form(text):
    assert parse_channel_reference(text) == ID


@pytest.mark.parametrize("text", ["@LegalEagle", "https://www.youtube.com/@LegalEagle",
                                  "https://www.youtube.com/@LegalEagle/videos"])
def test_it_says_which_forms_work_for_a_handle(text):
    with pytest.raises(ValidationError) as exc:
        parse_channel_reference(text)
    [message] = exc.value.messages
    assert "is a handle, not a channel id" in message
    assert "https://www.youtube.com/channel/UC…" in message and "feeds/videos.xml?channel_id=UC…" in message
    assert "Copy channel ID" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("", "Enter the channel id"),
    ("UC123", "is not a YouTube channel id or URL"),
    ("https://example.com/channel/" + ID, "is not a YouTube address"),
    ("javascript:alert(1)", "is not a YouTube channel id or URL"),
    ("https://www.youtube.com/c/LegalEagle", "A /c/ URL is a custom name"),
    ("https://www.youtube.com/user/LegalEagle", "A /user/ URL is a custom name"),
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "does not name a channel id"),
    ("https://www.youtube.com/feeds/videos.xml?channel_id=UCshort", "has no valid channel_id"),
])
def test_it_refuses_what_names_no_channel_id(text, expected):
    with pytest.raises(ValidationError) as exc:
        parse_channel_reference(text)
    assert expected in exc.value.messages[0]


@pytest.mark.parametrize(("text", "expected"), [
    (f"https://notyoutube.com/channel/{ID}", "is not a YouTube address"),
    (f"https://www.youtube.com.example.net/channel/{ID}", "is not a YouTube address"),
    (f"https://www.youtube.com@example.net/channel/{ID}", "is not a YouTube address"),  # the host is example.net
    (f"notyoutube.com/channel/{ID}", "is not a YouTube channel id or URL"),
    (f"www.youtube.com.example.net/channel/{ID}", "is not a YouTube channel id or URL"),
])
def test_it_refuses_a_host_that_only_looks_like_youtube(text, expected):
    with pytest.raises(ValidationError) as exc:
        parse_channel_reference(text)
    assert expected in exc.value.messages[0]
