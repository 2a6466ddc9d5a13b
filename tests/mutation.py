"""`make mutation`: mutmut over the core modules, one module at a time, scores into docs/mutation.md.

    python -m tests.mutation                      # every core module
    python -m tests.mutation scheduling/tick.py   # only these
    python -m tests.mutation --report-only scheduling/tick.py   # the table from the last run

Each module runs in a folder of its own, var/mutation/<module>/, holding links to the project and a
pyproject.toml whose [tool.mutmut] is the project's plus that module's `only_mutate` and test
files. Why not one mutmut run over everything: mutmut runs, for each mutant, every selected test
that executed the mutated function, and the API frame or the services are executed by hundreds of
tests; one module with its own test files keeps a run within minutes on a shared 2-core machine.
The folders also keep each run's SQLite test database apart (mutmut's children share the file of
the folder they run in, so each module runs one child at a time).

A measurement, not a test: it is not part of `make test`, and pytest never collects var/ or
mutants/ (pytest.ini's testpaths is tests/). The rows of docs/mutation.md's score table for the
modules measured are replaced; the other rows and the hand-written notes (equivalent mutants) stay.
"""

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutation"
REPORT = ROOT / "docs" / "mutation.md"
START, END = "<!-- scores:start -->", "<!-- scores:end -->"

# tests/core/test_api_openapi.py but its schemathesis fuzz run: random (a mutant killed in one run would
# survive the next) and ~50 s for every mutant it runs against.
OPENAPI_DOCUMENT_TESTS = [f"tests/core/test_api_openapi.py::{name}" for name in (
    "test_no_two_schemas_of_the_api_share_a_name",
    "test_the_document_needs_a_login_and_answers_without_one_in_the_apis_json",
    "test_it_serves_the_document_for_a_token_of_a_user_without_any_permission",
    "test_it_serves_an_openapi_3_document_to_a_logged_in_user", "test_it_serves_the_docs_page_with_local_assets_only",
    "test_it_sends_anonymous_visitors_of_the_docs_page_to_login",
    "test_the_health_report_of_a_system_that_is_down_matches_its_schema")]

# Core module -> the fast test files that cover it (the run adds -m "not integration and not browser").
MODULES: dict[str, list[str]] = {
    # test_recurrence_properties.py (hypothesis, ~20 s a run) left out: a survivor ran for minutes here.
    "scheduling/recurrence.py": ["tests/scheduling/test_recurrence.py"],
    # test_alerts.py: the pass hands its decided windows to the alerts (about 2 s a run).
    "scheduling/tick.py": ["tests/scheduling/test_tick.py", "tests/scheduling/test_pause.py",
                           "tests/scheduling/test_alerts.py"],
    "jobs/runner.py": ["tests/jobs/test_runner.py", "tests/jobs/test_graceful_stop.py"],
    # The routers exercise the frame: the schedules router is the model one (permissions table, pages);
    # the channels router renames a field in its errors, pause reads an instant, the document lists the
    # error statuses. The OpenAPI file without its schemathesis fuzz run (random, ~50 s a mutant).
    "common/api.py": ["tests/core/test_api_manners.py", "tests/core/test_api_json_bodies.py",
                      "tests/scheduling/test_api_schedules.py", "tests/core/test_api_tokens.py",
                      "tests/scheduling/test_api_pause.py", "tests/channels/test_api_channels.py",
                      *OPENAPI_DOCUMENT_TESTS,
                      "tests/core/test_token_throttle.py::test_the_openapi_document_names_the_429_of_every_operation"],
    # test_hostile_feeds.py reads feed.py's parser and fetch directly (bombs, caps, redirects, deadline).
    "channels/feed.py": ["tests/channels/test_sync.py", "tests/channels/test_sync_network.py",
                         "tests/channels/test_hostile_feeds.py"],
    # Its writes are tested where their subjects are: the audit entries, the task types' change hooks,
    # pause and resume (and the pass lifting pauses), the sweep of runs left dispatched.
    "scheduling/services.py": ["tests/scheduling/test_services.py", "tests/scheduling/test_audit.py",
                               "tests/scheduling/test_change_hooks.py", "tests/scheduling/test_pause.py",
                               "tests/scheduling/test_runs_settle.py"],
    # Its steps are tested where their subjects are: lost messages, announcements, retries and reaping.
    "jobs/maintenance.py": ["tests/jobs/test_maintenance.py", "tests/jobs/test_lost_messages.py",
                            "tests/jobs/test_announce.py", "tests/jobs/test_services.py"],
    # The group syncs' sweep and prune are tested with their callers (the announcements, the history
    # prune); of test_hostile_feeds.py only the tests of what sync.py decides (another channel's videos,
    # a request that cannot be made, the cool-down's default, the channel's title, the result's note):
    # its ~130 other tests are the parser's and the fetch's, and would add ~20 s to each survivor's run.
    "channels/sync.py": ["tests/channels/test_sync.py", "tests/channels/test_sync_judging.py",
                         "tests/channels/test_sync_network.py", "tests/channels/test_follow_jobs_again.py",
                         "tests/scheduling/test_history.py",
                         *(f"tests/channels/test_hostile_feeds.py::{name}" for name in (
                             "test_a_feed_cannot_rewrite_another_channels_video",
                             "test_a_channels_own_feed_still_updates_its_video",
                             "test_a_sync_that_fails_before_its_request_shows_the_channel_failed",
                             "test_a_429_without_retry_after_cools_the_group_down_for_half_an_hour",
                             "test_a_feed_title_fills_a_blank_channel_title_cut_to_what_it_holds",
                             "test_the_note_counts_each_kind_of_entry_left_out_and_the_rest_is_stored"))],
    # The pages' names and search of a quick sync (describe, search) are read in test_job_subjects_view.py.
    "channels/handlers.py": ["tests/channels/test_handlers.py", "tests/channels/test_sync.py",
                             "tests/channels/test_tasks.py", "tests/jobs/test_job_subjects_view.py"],
    # parse_params is read directly by the retention and defaults tests; the off-site copy job without a
    # server by test_offsite_setup.py (test_offsite.py starts rclone: integration); backup_link by the job page.
    "backups/handlers.py": ["tests/backups/test_handlers.py", "tests/backups/test_retention_params.py",
                            "tests/backups/test_defaults.py", "tests/backups/test_offsite_setup.py",
                            "tests/jobs/test_job_detail_view.py"],
    "backups/retention.py": ["tests/backups/test_retention.py", "tests/backups/test_retention_rules.py"],
    # Making a backup is test_services.py's; the job around it (skip, retention, the result) is
    # test_handlers.py's, pruning and deleting are tested where retention and the delete actions are,
    # releasing a restored copy's backup (and the file published before a failed manifest) in test_aftermath.py.
    "backups/services/making.py": ["tests/backups/test_services.py", "tests/backups/test_handlers.py",
                                   "tests/backups/test_retention.py", "tests/backups/test_retention_record.py",
                                   "tests/backups/test_views_actions.py", "tests/backups/test_api_backups.py",
                                   "tests/backups/test_aftermath.py"],
    # Verifying is tested through its callers (the command, the page, the API, a link in the folder);
    # the drills share the migrations check and the server's version (drilling imports them).
    "backups/services/restoring.py": ["tests/backups/test_restore.py", "tests/backups/test_restore_file.py",
                                      "tests/backups/test_symlinks.py", "tests/backups/test_commands.py",
                                      "tests/backups/test_views_actions.py", "tests/backups/test_api_backups.py",
                                      "tests/backups/test_drills.py"],
    # test_drill_outcomes.py: what a drill's outcome becomes (the incident, /metrics, the line on /backups).
    "backups/services/drilling.py": ["tests/backups/test_drills.py", "tests/backups/test_drill_job.py",
                                     "tests/backups/test_drill_outcomes.py"],
    # Adopting is also what a restore from a file does first, what refuses a link (test_symlinks.py) and
    # what reads a manifest made by hand on either engine (test_manifest.py).
    "backups/services/adopting.py": ["tests/backups/test_adopt.py", "tests/backups/test_manifest.py",
                                     "tests/backups/test_restore_file.py", "tests/backups/test_symlinks.py"],
    # Both restores run the aftermath: a copy taken during a backup is settled from its manifest there.
    "backups/services/aftermath.py": ["tests/backups/test_aftermath.py", "tests/backups/test_restore.py",
                                      "tests/backups/test_restore_file.py"],
    # Authentication, the throttle's 429, the error mapping (the schedules router's 400s and 413, the
    # health check's 503) and the document's login; the OpenAPI file without its fuzz run, as above.
    "core/api.py": ["tests/core/test_api_manners.py", "tests/core/test_api_json_bodies.py",
                    "tests/core/test_api_tokens.py", "tests/core/test_token_throttle.py",
                    "tests/scheduling/test_api_schedules.py", "tests/core/test_api_health.py",
                    *OPENAPI_DOCUMENT_TESTS],
}
STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 36: "timeout",
                       -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
MUTMUT = Path(sys.executable).with_name("mutmut")
LEFT_OUT = {".git", ".venv", "var", "mutants", "pyproject.toml", "docs", "README.md", "Makefile"}


def prepare(module: str) -> Path:
    """A fresh folder linking to the project, with this module's [tool.mutmut]."""
    folder = folder_of(module)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name not in LEFT_OUT:
            (folder / entry.name).symlink_to(entry)
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    settings = {**settings, "only_mutate": [module],
                "pytest_add_cli_args_test_selection": MODULES[module]}
    (folder / "pyproject.toml").write_text("[tool.mutmut]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
    return folder


def statuses(folder: Path, module: str) -> Counter:
    meta = json.loads((folder / "mutants" / f"{module}.meta").read_text())
    return Counter(STATUS_BY_EXIT_CODE.get(code, "suspicious") for code in meta["exit_code_by_key"].values())


def names_with(status: str, folder: Path, module: str) -> list[str]:
    meta = json.loads((folder / "mutants" / f"{module}.meta").read_text())
    return sorted(name for name, code in meta["exit_code_by_key"].items() if STATUS_BY_EXIT_CODE.get(code) == status)


def folder_of(module: str) -> Path:
    return WORK / module.removesuffix(".py").replace("/", ".")


def measure(module: str) -> None:
    """A fresh mutmut run over the module; its minutes are kept beside the results."""
    folder = prepare(module)
    started = time.monotonic()
    subprocess.run([str(MUTMUT), "run", "--max-children", "1"], cwd=folder, check=True,
                   env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, stdout=subprocess.DEVNULL)
    (folder / "minutes").write_text(f"{(time.monotonic() - started) / 60:.1f}")


def summarize(module: str) -> dict:
    """The module's scores from its last run, which may have been completed by hand since
    (`mutmut run <mutant names>` in its folder after a new test: only those mutants run again)."""
    folder = folder_of(module)
    counts = statuses(folder, module)
    total = sum(counts.values())
    killed = counts["killed"] + counts["timeout"]
    # The diffs of the survivors, for the notes on equivalent mutants, and the functions no selected
    # test executes (var/mutation/<module>.survivors).
    diffs = [subprocess.run([str(MUTMUT), "show", name], cwd=folder, capture_output=True, text=True).stdout
             for name in names_with("survived", folder, module)]
    untested = Counter(name.rsplit("__mutmut_", 1)[0] for name in names_with("no tests", folder, module))
    (WORK / f"{folder.name}.survivors").write_text("\n".join(diffs) + "".join(
        f"no tests: {function} ({count} mutants)\n" for function, count in sorted(untested.items())))
    # A file of which only some tests are selected (path::name) is named once, with how many.
    files = Counter(Path(test.split("::")[0]).name for test in MODULES[module])
    partly = {Path(test.split("::")[0]).name for test in MODULES[module] if "::" in test}
    tests = ", ".join(f"{name} ({count} tests)" if name in partly else name for name, count in files.items())
    return {"module": module, "tests": tests,
            "killed": counts["killed"], "timeout": counts["timeout"], "survived": counts["survived"],
            "no tests": counts["no tests"], "total": total,
            "score": f"{100 * killed / total:.1f} %" if total else "-",
            "minutes": (folder / "minutes").read_text().strip() if (folder / "minutes").exists() else "-", "date": dt.date.today().isoformat()}


COLUMNS = ["module", "tests", "killed", "timeout", "survived", "no tests", "total", "score", "minutes", "date"]


def write_report(results: list[dict]) -> None:
    text = REPORT.read_text()
    before, rest = text.split(START)
    block, after = rest.split(END)
    rows = {}
    for line in block.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == len(COLUMNS) and cells[0].startswith("`"):
            # The name without its backticks: they are put back once when the row is written.
            name = cells[0].strip("`")
            rows[name] = {**dict(zip(COLUMNS, cells)), "module": name}
    for result in results:
        rows[result["module"]] = result
    header = [
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"mutmut {version('mutmut')}. Last run: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        "Command: `make mutation` (`python -m tests.mutation [module ...]`), one mutmut child per module,",
        'tests run with `-p no:randomly -m "not integration and not browser" --reuse-db`. "No tests": mutants',
        "of functions no selected test executes (survivors too). Score = (killed + timeout) / total.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    ordered = [rows[m] for m in MODULES if m in rows] + [row for m, row in rows.items() if m not in MODULES]
    lines = header + ["| " + " | ".join(
        f"`{row['module']}`" if key == "module" else str(row[key]) for key in COLUMNS) + " |" for row in ordered]
    REPORT.write_text(before + START + "\n" + "\n".join(lines) + "\n" + END + after)


def main(argv: list[str]) -> int:
    run = "--report-only" not in argv
    argv = [arg for arg in argv if arg != "--report-only"]
    unknown = [m for m in argv if m not in MODULES]
    if unknown:
        print(f"Not a core module: {', '.join(unknown)}. Known: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    results = []
    for module in argv or list(MODULES):
        if run:
            measure(module)
        result = summarize(module)
        print(f"{module}: {result['score']} ({result['killed']} killed, {result['timeout']} timeout, "
              f"{result['survived']} survived, {result['no tests']} without tests, of {result['total']}) "
              f"in {result['minutes']} min", flush=True)
        results.append(result)
        write_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
