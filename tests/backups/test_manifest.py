"""A manifest read back (backups.files.read_manifest), and adopting from one on either engine.

The files here are made by hand, a few bytes with the manifest the app would write for them: what is
checked is the manifest and the checksum, not the database inside (test_adopt.py adopts real backups).
"""

import datetime as dt
import hashlib
import json

import pytest
from django.utils import timezone

from backups import files
from backups.errors import ManifestProblem
from backups.models import Backup, BackupStatus
from backups.services import adopting
from backups.services.adopting import Adoption, LeftAlone, backups_adopt

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
    write(backup_dir, name="db-sqlite-20261202T020005Z-10.sqlite3.zst", content=b"another")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert [a.file_name for a in report.adopted] == ["db-sqlite-20261202T020005Z-10.sqlite3.zst"]  # the next one too
    assert report.known == 1
    assert report.lines()[-1] == ("db-sqlite-20261201T020005Z-9.sqlite3.zst: left alone: it is the same file as "
                                  "backup #1 (same checksum), under another name.")


@pytest.mark.django_db
def test_two_copies_of_one_file_are_adopted_once(backup_dir):
    write(backup_dir)
    write(backup_dir, name="db-sqlite-20261201T020005Z-9.sqlite3.zst")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert [a.file_name for a in report.adopted] == [NAME]
    assert report.left_alone == [LeftAlone("db-sqlite-20261201T020005Z-9.sqlite3.zst",
                                           "it is the same file as backup #1 (same checksum), under another name")]


@pytest.mark.django_db
def test_the_note_says_when_and_by_whom(backup_dir):
    now = dt.datetime(2026, 12, 3, 4, 5, 6, tzinfo=dt.timezone.utc)
    write(backup_dir)
    backups_adopt(directory=backup_dir, now=now, by="alice")
    second = "db-sqlite-20261202T020005Z-2.sqlite3.zst"
    write(backup_dir, name=second, content=b"second")
    backups_adopt(directory=backup_dir, now=now)

    assert list(Backup.objects.order_by("pk").values_list("note", flat=True)) == [
        f"Adopted from its manifest ({NAME}) on 2026-12-03 04:05 UTC by alice.",
        f"Adopted from its manifest ({second}) on 2026-12-03 04:05 UTC."]


@pytest.mark.django_db
def test_a_file_registered_meanwhile_by_another_adoption_is_left_alone(backup_dir, monkeypatch):
    write(backup_dir)
    fields_from_manifest = adopting.fields_from_manifest

    def registered_meanwhile(manifest):
        # The other adoption's insert, between this one's look for the id and its own insert.
        Backup.objects.create(pk=manifest.id, status=BackupStatus.COMPLETED, database_vendor="sqlite",
                              file_name=manifest.file)
        return fields_from_manifest(manifest)

    monkeypatch.setattr(adopting, "fields_from_manifest", registered_meanwhile)

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert report.adopted == []
    assert report.left_alone == [LeftAlone(NAME, "it was registered meanwhile (another adoption at the same moment?)")]


# --- files left alone, and why -----------------------------------------------------------------------------


def reason(backup_dir) -> str:
    report = backups_adopt(directory=backup_dir, now=timezone.now())
    assert report.adopted == [] and Backup.objects.count() == 0
    [left_alone] = report.left_alone
    return f"{left_alone.file_name}: {left_alone.reason}"


@pytest.mark.django_db
def test_a_manifest_copied_beside_another_file_is_not_applied_to_it(backup_dir):
    write(backup_dir)
    other = "db-sqlite-20261201T020005Z-2.sqlite3.zst"
    for name in (NAME, files.manifest_name(NAME)):
        (backup_dir / name).rename(backup_dir / name.replace(NAME, other))

    said = reason(backup_dir)
    assert said.startswith(f"{other}: ") and f"describes {NAME}, not {other}" in said


@pytest.mark.django_db
def test_a_truncated_file_is_left_alone_with_both_sizes(backup_dir):
    write(backup_dir)
    (backup_dir / NAME).write_bytes(b"compressed")

    assert reason(backup_dir) == (f"{NAME}: its size (10 bytes) is not the 16 bytes its manifest records: the file "
                                  "is truncated or was replaced")


@pytest.mark.django_db
def test_a_file_that_does_not_match_its_checksum_is_left_alone_with_both_checksums(backup_dir):
    write(backup_dir, sha256="0" * 64)
    actual = hashlib.sha256(b"compressed bytes").hexdigest()

    assert reason(backup_dir) == (f"{NAME}: its checksum does not match its manifest (recorded 0000000000000000…, "
                                  f"the file has {actual[:16]}…): the file is damaged or was replaced")


@pytest.mark.django_db
def test_a_file_that_cannot_be_read_is_left_alone_in_words(backup_dir, monkeypatch):
    write(backup_dir)

    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(files, "sha256_of", refused)

    assert reason(backup_dir) == f"{NAME}: it cannot be read: Permission denied"


# --- what an adopted row says, from its manifest ---------------------------------------------------------


def adopted_row(backup_dir, **changes) -> Backup:
    write(backup_dir, **changes)
    [adoption] = backups_adopt(directory=backup_dir, now=timezone.now()).adopted
    return Backup.objects.get(pk=adoption.backup_id)


@pytest.mark.django_db
def test_the_adopted_row_says_what_its_manifest_records(backup_dir):
    row = adopted_row(backup_dir, purpose="pre_restore", database_version="3.45.1", tool="sqlite3 backup API",
                      compression="zstd level 3", worker="web-1:4242", database_size_bytes=123456,
                      duration_seconds=4.5, verified_at="2026-12-02T03:00:00+00:00",
                      tables={"channels_channel": 3, "jobs_job": 0})

    assert (row.status, row.purpose, row.backup_type) == (BackupStatus.COMPLETED, "pre_restore", "full")
    assert (row.database_version, row.tool, row.compression, row.worker) == (
        "3.45.1", "sqlite3 backup API", "zstd level 3", "web-1:4242")
    assert (row.database_size_bytes, row.duration_seconds) == (123456, 4.5)
    assert row.verified_at.isoformat() == "2026-12-02T03:00:00+00:00"
    assert row.table_rows == {"channels_channel": 3, "jobs_job": 0}  # what a restore drill compares with
    assert (row.error, row.verify_error) == ("", "")


@pytest.mark.django_db
def test_what_a_first_versions_manifest_lacks_takes_its_default(backup_dir):
    row = adopted_row(backup_dir, purpose=...)

    assert (row.purpose, row.backup_type) == ("regular", "full")
    assert (row.database_version, row.tool, row.compression, row.worker) == ("", "", "", "")
    assert (row.database_size_bytes, row.duration_seconds, row.table_rows) == (None, None, {})
    assert row.verified_at == row.finished_at  # verified when it was made; its checksum still matches


@pytest.mark.django_db
def test_values_that_do_not_fit_are_cut_to_their_columns_or_left_out(backup_dir):
    """A manifest edited by hand, or written by something else: still adopted, with what fits."""
    long = {"backup_type": "b" * 50, "database_version": "v" * 300, "tool": "t" * 300, "compression": "c" * 300,
            "worker": "w" * 300}
    row = adopted_row(backup_dir, **long, purpose="nightly", database_size_bytes=True, duration_seconds="4.5",
                      verified_at="yesterday",
                      tables={"kept": 3, "empty": 0, "negative": -1, "flag": True, "text": "7"})

    for name, value in long.items():
        assert getattr(row, name) == value[:Backup._meta.get_field(name).max_length], name
    assert row.purpose == "regular"
    assert (row.database_size_bytes, row.duration_seconds) == (None, None)
    assert row.verified_at == row.finished_at
    assert row.table_rows == {"kept": 3, "empty": 0}


# --- the report's words ------------------------------------------------------------------------------------


def left_alone_file(backup_dir, name):
    write(backup_dir, name=name, sha256="0" * 64)  # its checksum does not match


@pytest.mark.django_db
def test_the_summary_counts_in_the_singular(backup_dir):
    write(backup_dir)
    backups_adopt(directory=backup_dir, now=timezone.now())
    write(backup_dir, name="db-sqlite-20261202T020005Z-2.sqlite3.zst", content=b"second")
    left_alone_file(backup_dir, "db-sqlite-20261203T020005Z-3.sqlite3.zst")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert report.summary() == f"Adopted 1 backup file from {backup_dir}, left 1 alone, 1 was known already."


@pytest.mark.django_db
def test_the_summary_counts_in_the_plural(backup_dir):
    write(backup_dir)
    write(backup_dir, name="db-sqlite-20261202T020005Z-2.sqlite3.zst", content=b"second")
    backups_adopt(directory=backup_dir, now=timezone.now())
    write(backup_dir, name="db-sqlite-20261203T020005Z-3.sqlite3.zst", content=b"third")
    write(backup_dir, name="db-sqlite-20261204T020005Z-4.sqlite3.zst", content=b"fourth")
    left_alone_file(backup_dir, "db-sqlite-20261205T020005Z-5.sqlite3.zst")
    left_alone_file(backup_dir, "db-sqlite-20261206T020005Z-6.sqlite3.zst")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert report.summary() == f"Adopted 2 backup files from {backup_dir}, left 2 alone, 2 were known already."


@pytest.mark.django_db
@pytest.mark.parametrize(("files_in_folder", "not_checked"), [
    (2, "1 not checked yet (adopt again for it)"), (3, "2 not checked yet (adopt again for them)")])
def test_the_summary_says_how_many_files_the_budget_left_for_next_time(backup_dir, files_in_folder, not_checked):
    for number in range(1, files_in_folder + 1):
        write(backup_dir, name=f"db-sqlite-2026120{number}T020005Z-{number}.sqlite3.zst", content=bytes([number]))

    report = backups_adopt(directory=backup_dir, now=timezone.now(), budget_seconds=0)

    assert report.summary() == f"Adopted 1 backup file from {backup_dir}, {not_checked}."


@pytest.mark.django_db
def test_the_report_finds_a_files_adoption_by_its_name(backup_dir):
    """What a restore from a file asks, to name the backup taken just before it (None: not adopted)."""
    write(backup_dir)

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert report.adoption_of(NAME).backup_id == 1
    assert report.adoption_of("db-sqlite-20261202T020005Z-2.sqlite3.zst") is None


# --- a file whose id is taken: renamed ---------------------------------------------------------------------


@pytest.fixture
def id_taken(backup_dir):
    """A backup file in the folder whose id this database gave another backup; its manifest."""
    holder = Backup.objects.create(status=BackupStatus.FAILED, database_vendor="sqlite")
    return write(backup_dir, name=f"db-sqlite-20261201T020005Z-{holder.pk}.sqlite3.zst")


def names_in(directory) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


@pytest.mark.django_db
def test_the_report_says_which_backup_has_a_renamed_files_id(backup_dir, id_taken):
    report = backups_adopt(directory=backup_dir, now=timezone.now())

    [adoption] = report.adopted
    assert report.lines() == [f"{id_taken['file']}: registered as #{adoption.backup_id} and renamed "
                              f"{adoption.renamed_to}: its own id is taken by backup #{id_taken['id']} (failed)."]


@pytest.mark.django_db
def test_a_renamed_files_manifest_says_how_to_restore_it_under_its_new_name(backup_dir, id_taken):
    [adoption] = backups_adopt(directory=backup_dir, now=timezone.now()).adopted

    new = adoption.renamed_to
    restore = json.loads((backup_dir / files.manifest_name(new)).read_text())["restore"]
    assert restore["commands"][:2] == [f"echo '{id_taken['sha256']}  {new}' | sha256sum -c",
                                       f'zstd -d {new} -o "$DB.restored"']
    assert restore["with_the_app"] == f"manage.py restore_backup --file {new}"


@pytest.mark.django_db
def test_a_renamed_pg_dumps_manifest_names_the_tool_that_made_it(backup_dir):
    first, second = (Backup.objects.create(status=BackupStatus.FAILED, database_vendor="postgresql") for _ in range(2))
    write(backup_dir, name=f"db-postgresql-20261201T020005Z-{first.pk}.pgdump", database_vendor="postgresql",
          tool="pg_dump 16.2")
    write(backup_dir, name=f"db-postgresql-20261202T020005Z-{second.pk}.pgdump", content=b"older",
          database_vendor="postgresql")

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    words = [json.loads((backup_dir / files.manifest_name(a.renamed_to)).read_text())["restore"]["in_words"]
             for a in report.adopted]
    assert [w.startswith(f"A pg_dump archive in custom format (made by {tool}).") for w, tool in
            zip(words, ("pg_dump 16.2", "pg_dump"), strict=True)] == [True, True]


@pytest.mark.django_db
def test_a_full_disk_while_renaming_leaves_the_folder_and_the_database_as_they_were(backup_dir, id_taken,
                                                                                     monkeypatch):
    def full(directory, file_name, manifest):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "write_manifest", full)
    free_id = id_taken["id"] + 1000  # a later file whose id is free: adopted under its own name
    free = f"db-sqlite-20261209T020005Z-{free_id}.sqlite3.zst"
    write(backup_dir, name=free, content=b"another")
    before = names_in(backup_dir)

    report = backups_adopt(directory=backup_dir, now=timezone.now())

    assert report.adopted == [Adoption(free, free_id)]
    assert report.left_alone == [LeftAlone(id_taken["file"], f"The disk is full: no space left for its new name in "
                                                             f"{backup_dir}. Free some space or point BACKUP_DIR at a "
                                                             "larger disk.")]
    assert names_in(backup_dir) == before and Backup.objects.count() == 2


@pytest.mark.django_db
def test_a_worker_stopped_while_renaming_leaves_the_folder_and_the_database_as_they_were(backup_dir, id_taken,
                                                                                        monkeypatch):
    def stopped(directory, file_name, manifest):
        raise SystemExit(1)

    monkeypatch.setattr(files, "write_manifest", stopped)
    before = names_in(backup_dir)

    with pytest.raises(SystemExit):
        backups_adopt(directory=backup_dir, now=timezone.now())

    assert names_in(backup_dir) == before and Backup.objects.count() == 1


@pytest.mark.django_db
def test_the_old_name_gone_meanwhile_does_not_undo_the_adoption(backup_dir, id_taken, monkeypatch):
    """Once the new name is committed the old one is only tidied away: if another process removed it
    first (an adoption at the same moment), the adoption still stands."""
    fsync_dir = files.fsync_dir

    def removed_meanwhile(directory):
        for path in (directory / id_taken["file"], directory / files.manifest_name(id_taken["file"])):
            path.unlink(missing_ok=True)
        fsync_dir(directory)

    monkeypatch.setattr(files, "fsync_dir", removed_meanwhile)

    [adoption] = backups_adopt(directory=backup_dir, now=timezone.now()).adopted

    assert names_in(backup_dir) == [adoption.renamed_to, files.manifest_name(adoption.renamed_to)]
