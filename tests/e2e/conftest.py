"""Browser tests: Debian's Chromium driven by Playwright against the live test server."""

import shutil
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


# Every page of every browser context reports what the Content-Security-Policy blocked, to Python, at once
# (a binding survives navigations; a list in the page would not).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolation(`${event.effectiveDirective} blocked ${event.blockedURI || "(inline)"} on ${event.documentURI}`
    + (event.sourceFile ? ` (${event.sourceFile}:${event.lineNumber})` : "") + (event.sample ? `: ${event.sample}` : ""));
});
"""


class CspWatchedBrowser:
    """The browser, whose every new context records Content-Security-Policy violations: the events the
    pages see, and Chromium's console lines about the policy (some refusals, frame-ancestors, only log)."""

    def __init__(self, browser, violations: list[str]):
        self._browser, self.violations = browser, violations

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        watch_csp(context, self.violations)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def __getattr__(self, name):
        return getattr(self._browser, name)


def watch_csp(context, violations: list[str]) -> None:
    def report(text: str) -> None:
        violations.append(text)

    def console(message) -> None:
        if "Content Security Policy" in message.text:
            violations.append(f"console: {message.text}")

    context.expose_function("__cspViolation", report)
    context.add_init_script(REPORT_VIOLATIONS)
    context.on("console", console)


@pytest.fixture
def csp_violations() -> list[str]:
    """What the policy blocked in this test's browser so far (a test that provokes one on purpose clears it)."""
    return []


@pytest.fixture
def browser(allow_orm_beside_playwright, csp_violations):
    # Per test, not per session: while Playwright's loop runs in this thread, every ORM call here
    # needs DJANGO_ALLOW_ASYNC_UNSAFE, including the database flush after the test.
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium); .ci/run installs it.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield CspWatchedBrowser(browser, csp_violations)
        browser.close()
    # A page that needs what the policy forbids is broken for its users: the test fails, naming it.
    if csp_violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(dict.fromkeys(csp_violations)), pytrace=False)


@pytest.fixture(autouse=True)
def allow_orm_beside_playwright(monkeypatch):
    """Playwright's sync API runs an event loop in this thread; the test body's ORM calls are still
    synchronous and safe. Only for browser tests, and undone after each one, so tests that start
    subprocesses never pass it on."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    yield page
    context.close()


def log_in(page, user) -> None:
    """Log in through the login page, as a person does; it lands on /schedules."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/schedules")


@pytest.fixture
def logged_in_page(page, user):
    log_in(page, user)
    return page


@pytest.fixture
def user(db):
    """A user who may do everything with schedules (Django's model permissions), not staff; delete
    backups, which a new backup schedule's clean-up (on by default) needs; and read jobs."""
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="scheduling",
                                                        content_type__model="scheduledtask"))
    user.user_permissions.add(Permission.objects.get(content_type__app_label="backups", codename="delete_backup"))
    user.user_permissions.add(Permission.objects.get(content_type__app_label="jobs", codename="view_job"))  # /jobs
    return user


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 812}}


def screenshot(page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/ (git-ignored), for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page, impacts=("serious", "critical")) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: run `npm ci --prefix tests/e2e` (make test does).")
    # Evaluated, not added as a <script>: the pages' Content-Security-Policy refuses inline scripts.
    page.evaluate(AXE.read_text())
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                               ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
                               " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
    return [f"{v['impact']}: {v['id']} ({v['help']}) at {v['nodes']}" for v in violations if v["impact"] in impacts]
