"""Which app may import which: the table in docs/architecture.md, checked against every import.

Read from the source (every module of every app, lazy imports inside functions included), so a
new import across the layers fails here before it becomes a cycle or a hidden coupling.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"common", "jobs", "notifications", "scheduling", "backups", "channels", "core", "config"}

# The table of docs/architecture.md: what each may import besides Django and the libraries.
MAY_IMPORT = {
    "common": set(),
    "jobs": {"common"},
    "notifications": {"common"},
    "scheduling": {"common", "jobs", "notifications"},
    "backups": {"common", "jobs", "notifications", "scheduling"},
    "channels": {"common", "jobs", "notifications", "scheduling"},
    "core": {"common", "jobs", "notifications", "scheduling", "backups", "channels"},
    "config": {"common", "core"},
}


def imported_apps(path: Path) -> set[str]:
    """The apps of ours a module imports, wherever in it the import statement is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in OURS)
    return found


def violations(app: str) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {other}"
            for path in sorted((ROOT / app).rglob("*.py"))
            for other in sorted(imported_apps(path) - {app} - MAY_IMPORT[app])]


@pytest.mark.parametrize("app", sorted(MAY_IMPORT))
def test_it_keeps_each_app_to_the_layers_below_it(app):
    assert violations(app) == []


def test_it_reads_lazy_imports_too(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("def later():\n    from channels.models import Channel\n    import backups.files\n")

    assert imported_apps(module) == {"channels", "backups"}


def test_it_knows_every_app_in_the_project():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")} | {"config"}

    assert apps == set(MAY_IMPORT)
