"""The newcomer's small things, in a real browser: the header on one line at 1280 px, and thumbnails that
fail to load (offline) leaving a plain placeholder and no further request."""

import datetime as dt
import re
import struct
import zlib

import pytest
from playwright.sync_api import expect

from jobs.models import Job
from tests.e2e.conftest import WIDTHS, log_in, screenshot
from tests.factories import ChannelFactory, StaffFactory, VideoFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY, HOUR = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC), dt.timedelta(hours=1)

# The header's direct children (brand, nav, health badge, user form), each box and each nav link's top.
HEADER_BOXES = """() => {
  const header = document.querySelector('header.site-header');
  const boxes = [...header.children].filter(el => el.offsetParent !== null && !el.classList.contains('skip-link'))
    .map(el => { const r = el.getBoundingClientRect(); return {name: el.className || el.tagName, top: r.top,
      bottom: r.bottom, height: r.height}; });
  const links = [...header.querySelectorAll('nav a, form.logout > *, #health-badge')]
    .map(el => el.getBoundingClientRect().height);
  const style = getComputedStyle(header);
  const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom)
    + parseFloat(style.borderTopWidth) + parseFloat(style.borderBottomWidth);
  return {height: header.getBoundingClientRect().height, padding, boxes, tallest: Math.max(...links)};
}"""


@pytest.fixture
def staff(db):
    """Staff sees every link the header has (Admin too): the longest header there is."""
    return StaffFactory(username="administrator", is_superuser=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_header_is_one_line_at_1280_px(page, staff, scheme):
    Job.objects.create(job_type="DATABASE_BACKUP")  # a queued job while nothing runs: the badge at its longest
    page.set_viewport_size(WIDTHS["desktop"])
    page.emulate_media(color_scheme=scheme)
    log_in(page, staff)

    for path in ("/schedules", "/jobs", "/account/tokens"):
        page.goto(path)
        header = page.evaluate(HEADER_BOXES)
        screenshot(page, f"small-things-header-1280-{scheme}{path.replace('/', '-')}")
        one_line = header["tallest"] + header["padding"]
        assert header["height"] <= one_line + 1, (path, header)
        tops = {round(box["top"]) for box in header["boxes"]}
        assert max(tops) - min(tops) <= header["tallest"] / 2, (path, header["boxes"])
        # Cut short on screen, the status is whole on hover.
        badge = page.locator("#health-badge")
        assert badge.get_attribute("title") == ("Scheduler down, workers down · 1 queued · start manage.py "
                                                "schedule_tick --loop · start manage.py qcluster")
        expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()


def test_a_thumbnail_that_cannot_load_leaves_a_plain_placeholder_and_asks_no_more(page, staff):
    channel = ChannelFactory(title="Tagesschau")
    for n in range(3):
        VideoFactory(channel=channel, title=f"Video {n}", youtube_id=f"vid{n:08d}xx", published_at=DAY - n * HOUR,
                     thumbnail_url=f"https://i.ytimg.com/vi/vid{n:08d}xx/hqdefault.jpg")
    VideoFactory(channel=channel, title="No thumbnail", youtube_id="vidnothumbx", thumbnail_url="",
                 published_at=DAY - 9 * HOUR)
    remote = []

    def offline(route):  # the internet is away: every request to another host fails, but one image is cached
        remote.append(route.request.url)
        if "vid00000002xx" in route.request.url:
            route.fulfill(body=RED_PNG, content_type="image/png")
        else:
            route.abort("internetdisconnected")

    page.route(re.compile(r"^https?://(?!(127\.0\.0\.1|localhost)[:/])"), offline)
    page.set_viewport_size(WIDTHS["desktop"])
    log_in(page, staff)
    page.goto(f"/channels/{channel.pk}")
    page.wait_for_load_state("networkidle")

    thumbs = page.locator(".video-thumb")
    assert thumbs.count() == 4
    assert page.evaluate("() => [...document.querySelectorAll('.video-thumb img')].map("
                         "img => img.complete && img.naturalWidth)") == [0, 0, 1]
    # Each failed image draws nothing over its box: the box looks as the one with no image at all.
    failed, empty = thumbs.nth(0), page.locator(".video", has_text="No thumbnail").locator(".video-thumb")
    assert failed.bounding_box()["width"] == empty.bounding_box()["width"] == 160
    assert differing_pixels(failed.screenshot(), empty.screenshot()) == []
    # An image that loads is shown, not covered by the placeholder.
    width, loaded = decode_png(thumbs.nth(2).screenshot())
    assert loaded[(len(loaded) // width // 2) * width + width // 2][:3] == (255, 0, 0)  # its middle
    screenshot(page, "small-things-thumbnails-offline")

    page.wait_for_timeout(1500)
    # One attempt per image, nothing retried, nothing else fetched from elsewhere.
    assert sorted(remote) == sorted(f"https://i.ytimg.com/vi/vid{n:08d}xx/hqdefault.jpg" for n in range(3))


def png_of_one_red_pixel() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


RED_PNG = png_of_one_red_pixel()


def differing_pixels(one: bytes, other: bytes, *, ring: int = 2) -> list[tuple[int, int]]:
    """Where two screenshots of equal boxes differ visibly, leaving out the outer ring (the boxes sit at
    different fractions of a pixel on the page, so their edges are smoothed differently)."""
    (width, a), (_, b) = decode_png(one), decode_png(other)
    assert len(a) == len(b)
    height = len(a) // width
    return [(i % width, i // width) for i, (x, y) in enumerate(zip(a, b))
            if ring <= i % width < width - ring and ring <= i // width < height - ring
            and max(abs(p - q) for p, q in zip(x, y)) > 16]


def decode_png(data: bytes) -> tuple[int, list[tuple[int, ...]]]:
    """The pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium's screenshots are), row by row."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 4 if colour == 6 else 3
    raw, stride, out, prev = zlib.decompress(idat), width * step, [], bytearray(width * step)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - step] if i >= step else 0
            b, c = prev[i], prev[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.extend(tuple(line[x:x + step]) for x in range(0, stride, step))
        prev = line
    return width, out
