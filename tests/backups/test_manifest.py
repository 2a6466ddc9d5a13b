"""A manifest read back (backups.files.read_manifest), and adopting from one on either engine.

The files here are made by hand, a few bytes with the manifest the app would write for them: what is
checked is the manifest and the checksum, not the database inside (test_adopt.py adopts real backups).
"""

import hashlib
import json

import pytest
from django.utils import timezone

from backups import files
from backups.errors import ManifestProblem
from backups.models import Backup, BackupStatus
from backups.services.adopting import backups_adopt

NAME = "db-sqlite-20261201T020005Z-1.sqlite3.zst"


def write(directory, name=NAME, content=b"compressed bytes", **changes) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)
    backup_id = int(files.FILE_NAME.fullmatch(name)["id"])
    manifest = {"format": 1, "id": backup_id, "file": name, "status": "completed", "purpose": "regular",
                "database_vendor": "sqlite", "sha256": hashlib.sha256(content).hexdigest(),
                "size_bytes": len(content), "started_at": "2026-12-01T02:00:05+00:00",
                "finished_at": "2026-12-01T02:00:09+00:00", "applied_migrations": ["backups.0001_initial"]}
    manifest.update(changes)
    manifest = {key: value for key, value in manifest.items() if value is not ...}
    (directory / files.manifest_name(name)).write_text(json.dumps(manifest))
    return manifest


def test_it_reads_a_good_manifest(tmp_path):
    written = write(tmp_path)

    manifest = files.read_manifest(tmp_path / files.manifest_name(NAME), file_name=NAME)

    assert (manifest.id, manifest.file, manifest.sha256, manifest.vendor, manifest.size_bytes) == (
        1, NAME, written["sha256"], "sqlite", len(b"compressed bytes"))
    assert manifest.finished_at.isoformat() == "2026-12-01T02:00:09+00:00"


def test_the_first_versions_manifests_read_too(tmp_path):
    """Only what a restore needs is required: keys added later (restore, finished_at...) may be absent."""
    write(tmp_path, finished_at=..., size_bytes=..., applied_migrations=..., purpose=...)

    manifest = files.read_manifest(tmp_path / files.manifest_name(NAME), file_name=NAME)

    assert manifest.finished_at == manifest.started_at and manifest.applied_migrations == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"sha256": ...}, "has no 'sha256'"),
    ({"sha256": "abc"}, "'sha256' is 'abc'; it must be 64 hexadecimal digits"),
    ({"id": 2}, "contradicts itself: 'db-sqlite-20261201T020005Z-1.sqlite3.zst' is not the name of sqlite backup #2"),
    ({"database_vendor": "mysql"}, "'database_vendor' is 'mysql'; it must be sqlite or postgresql"),
    ({"status": "running"}, "it must be completed"),
    ({"started_at": "yesterday"}, "'started_at' is 'yesterday'; it must be an ISO 8601 instant"),
    ({"started_at": "2026-12-01T02:00:05"}, "with its offset"),
    ({"size_bytes": -1}, "'size_bytes' is -1"),
    ({"file": "db-sqlite-20261201T020005Z-1.sqlite3.zst.bak"}, "it must be a backup file name"),
])
def test_it_names_what_is_wrong(tmp_path, changes, message):
    write(tmp_path, **changes)

    with pytest.raises(ManifestProblem, match=message.replace("(", "\\(").replace(")", "\\)").replace(".", "\\.")
                       .replace("'", ".")):
        files.read_manifest(tmp_path / files.manifest_name(NAME), file_name=NAME)


def test_it_never_applies_a_manifest_to_another_file(tmp_path):
    write(tmp_path)

    with pytest.raises(ManifestProblem, match=f"describes {NAME}, not other.sqlite3.zst"):
        files.read_manifest(tmp_path / files.manifest_name(NAME), file_name="other.sqlite3.zst")


def test_it_says_what_is_not_json(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ManifestProblem, match="x.json is not valid JSON"):
        files.read_manifest(tmp_path / "x.json")
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(ManifestProblem, match="x.json is not a JSON object"):
        files.read_manifest(tmp_path / "x.json")


@pytest.mark.django_db
def test_adopted_ids_are_not_handed_out_again(backup_dir):
    """On PostgreSQL rows written with their own id leave the sequence behind: it is moved on."""
    # The file takes the id the sequence would hand out next: earlier tests may have moved the sequence
    # (a flush between tests does not reset it, and --reuse-db keeps it from one run to the next).
    probe = Backup.objects.create(status=BackupStatus.FAILED, database_vendor="sqlite")
    next_id = probe.pk + 1
    probe.delete()
    write(backup_dir, name=f"db-sqlite-20261201T020005Z-{next_id}.sqlite3.zst")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert [a.backup_id for a in report.adopted] == [next_id]
    later = Backup.objects.create(status=BackupStatus.FAILED, database_vendor="sqlite")
    assert later.pk == next_id + 1


@pytest.mark.django_db
def test_a_copy_of_a_known_backup_under_another_name_is_left_alone(backup_dir):
    write(backup_dir)
    backups_adopt(directory=backup_dir, now=timezone.now())
    write(backup_dir, name="db-sqlite-20261201T020005Z-9.sqlite3.zst")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert report.adopted == [] and report.known == 1
    assert report.left_alone[0].reason == "it is the same file as backup #1 (same checksum), under another name"
