"""Off-site copies (backups.offsite) with the real rclone program against a real server on loopback
(`rclone serve sftp` / `rclone serve webdav`, tests.servers.RcloneServer): copy and check, a server down
during the copy, retention on both sides, fetching back after the disk was lost. No mock: the jobs go
through the real runner (jobs.runner.execute), the backups are real backups of the test database."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pytest
from django.utils import timezone

from backups import files, offsite
from backups.models import Backup, BackupStatus
from backups.retention import days_rule
from backups.services.making import backup_create, backup_delete, backups_prune
from jobs import maintenance, runner
from jobs.models import Job, JobStatus
from jobs.services import job_enqueue
from tests.backups.conftest import NOW, sqlite_only
from tests.servers import RcloneServer, rclone_server

pytestmark = [pytest.mark.django_db, pytest.mark.integration, sqlite_only]

DAY = dt.timedelta(days=1)
PARAMS = {"backup_type": "full", "retention_days": 30, "cleanup_old": False, "force_backup": True}


@pytest.fixture
def server_folder(tmp_path) -> Path:
    return tmp_path / "offsite-server"


def use(server: RcloneServer, settings, monkeypatch, folder: str = "archive") -> Path:
    """Point BACKUP_REMOTE at `folder` on the server (rclone with the server's empty config file); the
    folder as the server keeps it on disk."""
    settings.BACKUP_REMOTE = server.remote + folder
    monkeypatch.setenv("RCLONE_CONFIG", str(server.config))
    return server.folder / folder


@pytest.fixture
def sftp(server_folder, settings, monkeypatch, backup_dir):
    with rclone_server(server_folder) as server:
        server.remote_folder = use(server, settings, monkeypatch)
        yield server


def secret_of(server: RcloneServer) -> str:
    """The obscured password in the remote (rclone can reveal it: it is a secret)."""
    return server.remote.split("pass=")[1].rstrip(":")


def run(job: Job) -> Job:
    runner.execute(job.pk)
    job.refresh_from_db()
    return job


def backup_job() -> Job:
    return run(job_enqueue(job_type="DATABASE_BACKUP", params=PARAMS, now=timezone.now()))


def same_bytes(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


def test_a_backup_job_queues_the_copy_which_lands_checked_on_the_remote(sftp, backup_dir):
    job = backup_job()
    assert job.status == JobStatus.COMPLETED, job.error
    backup = Backup.objects.get()
    copy_job = backup.offsite_job
    assert job.result["offsite_job_id"] == copy_job.pk
    assert (copy_job.job_type, copy_job.params, copy_job.status) == ("BACKUP_OFFSITE_COPY", {"backup_id": backup.pk},
                                                                     JobStatus.QUEUED)

    copy_job = run(copy_job)

    assert copy_job.status == JobStatus.COMPLETED, copy_job.error
    backup.refresh_from_db()
    for name in (backup.file_name, files.manifest_name(backup.file_name)):
        assert same_bytes(backup_dir / name, sftp.remote_folder / name)
    assert backup.offsite_copied_at is not None and backup.offsite_error == ""
    assert backup.offsite_remote == ":sftp,…:archive"
    assert backup.offsite_check == "size and SHA-1 checked by the remote"
    assert copy_job.result["status"] == "copied"
    assert secret_of(sftp) not in str(copy_job.result)


def test_with_copy_offsite_off_no_copy_is_queued(sftp):
    run(job_enqueue(job_type="DATABASE_BACKUP", params={**PARAMS, "copy_offsite": False}, now=timezone.now()))

    assert Backup.objects.get().offsite_job is None
    assert not Job.objects.filter(job_type="BACKUP_OFFSITE_COPY").exists()


def test_a_remote_without_hashes_is_read_back_and_its_sha256_checked(server_folder, settings, monkeypatch,
                                                                      backup_dir):
    with rclone_server(server_folder, protocol="webdav") as server:
        remote_folder = use(server, settings, monkeypatch)
        backup = backup_create(now=NOW)

        result = offsite.backup_offsite_copy(backup=backup, now=NOW)

        backup.refresh_from_db()
        assert result["status"] == "copied"
        assert backup.offsite_check == "size checked, read back and SHA-256 checked (the remote has no hashes)"
        assert backup.offsite_remote == ":webdav,…:archive"
        assert same_bytes(backup_dir / backup.file_name, remote_folder / backup.file_name)


def test_a_server_down_during_the_copy_is_retried_then_copied_and_nothing_is_lost(sftp, backup_dir):
    backup_job()
    backup = Backup.objects.get()
    local = (backup_dir / backup.file_name).read_bytes()
    sftp.stop()

    copy_job = run(backup.offsite_job)

    assert copy_job.status == JobStatus.RETRY_WAIT
    backup.refresh_from_db()
    assert "connection refused" in backup.offsite_error
    assert backup.offsite_error.startswith("rclone could not ")
    assert "(:sftp,…:archive)" in backup.offsite_error
    for text in (backup.offsite_error, copy_job.error):
        assert secret_of(sftp) not in text
    assert backup.offsite_copied_at is None and backup.offsite_state == "waiting"
    assert Backup.objects.good().get() == backup  # the local backup still counts as good
    assert not sftp.remote_folder.exists() or not any(sftp.remote_folder.iterdir())

    sftp.start()
    assert maintenance.jobs_release_due_retries(now=copy_job.available_at) == 1
    copy_job = run(copy_job)

    assert copy_job.status == JobStatus.COMPLETED, copy_job.error
    assert copy_job.attempts == 2
    backup.refresh_from_db()
    assert backup.offsite_state == "copied" and backup.offsite_error == ""
    assert (backup_dir / backup.file_name).read_bytes() == local
    assert (sftp.remote_folder / backup.file_name).read_bytes() == local
    assert hashlib.sha256(local).hexdigest() == backup.sha256


def test_a_copy_that_does_not_match_on_the_remote_is_refused_and_deleted_there(sftp, backup_dir):
    backup = backup_create(now=NOW)
    offsite.backup_offsite_copy(backup=backup, now=NOW)
    remote_file = sftp.remote_folder / backup.file_name
    damaged = bytearray(remote_file.read_bytes())
    damaged[100] ^= 0xFF
    remote_file.write_bytes(bytes(damaged))
    local = backup_dir / backup.file_name
    expected = {backup.file_name: (local.stat().st_size, files.sha256_of(local))}

    with pytest.raises(offsite.OffsiteError, match="does not match"):
        offsite._check(settings_remote(), {backup.file_name: (expected[backup.file_name][0], sha1(local))}, "sha1")
    with pytest.raises(offsite.OffsiteError, match=r"the SHA-256 of .* read back from the remote"):
        offsite._check(settings_remote(), expected, None)


def settings_remote() -> str:
    return offsite.remote()


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def test_retention_deletes_the_remote_copies_with_the_local_ones(sftp, backup_dir):
    old, older_still, newest = (backup_create(now=NOW - 40 * DAY), backup_create(now=NOW - 35 * DAY),
                                backup_create(now=NOW))
    for backup in (old, older_still, newest):
        offsite.backup_offsite_copy(backup=backup, now=backup.started_at)
    sftp_names = {path.name for path in sftp.remote_folder.iterdir()}
    assert sftp_names == {name for b in (old, older_still, newest)
                          for name in (b.file_name, files.manifest_name(b.file_name))}

    report = backups_prune(rule=days_rule(30), now=NOW, by="retention")

    assert sorted(b.pk for b in report.deleted) == sorted([old.pk, older_still.pk]) and report.errors == []
    assert sorted(path.name for path in sftp.remote_folder.iterdir()) == sorted(
        [newest.file_name, files.manifest_name(newest.file_name)])
    assert sorted(path.name for path in backup_dir.iterdir()) == sorted(
        [newest.file_name, files.manifest_name(newest.file_name)])
    for backup in (old, older_still):
        backup.refresh_from_db()
        assert (backup.status, backup.offsite_state, backup.offsite_deleted_at) == ("deleted", "deleted", NOW)


def test_a_remote_copy_that_could_not_be_deleted_is_deleted_by_the_next_retention_pass(sftp, backup_dir):
    old, newest = backup_create(now=NOW - 40 * DAY), backup_create(now=NOW)
    for backup in (old, newest):
        offsite.backup_offsite_copy(backup=backup, now=backup.started_at)
    sftp.stop()

    deleted = backup_delete(backup=old, now=NOW, by="alice")

    assert deleted.status == BackupStatus.DELETED and not (backup_dir / old.file_name).exists()
    assert "its off-site copy was not deleted: rclone could not delete the copy (:sftp,…:archive)" in deleted.note
    assert secret_of(sftp) not in deleted.note
    assert deleted.offsite_deleted_at is None and (sftp.remote_folder / old.file_name).exists()

    sftp.start()
    report = backups_prune(rule=days_rule(30), now=NOW + DAY, by="retention")

    assert report.errors == [] and report.deleted == []
    old.refresh_from_db()
    assert old.offsite_deleted_at == NOW + DAY
    assert not (sftp.remote_folder / old.file_name).exists()
    assert (sftp.remote_folder / newest.file_name).exists()


def test_fetch_all_brings_back_every_good_copy_after_the_disk_was_lost(sftp, backup_dir):
    kept, damaged, unfinished = (backup_create(now=NOW - 2 * DAY), backup_create(now=NOW - DAY),
                                 backup_create(now=NOW))
    for backup in (kept, damaged, unfinished):
        offsite.backup_offsite_copy(backup=backup, now=backup.started_at)
    (sftp.remote_folder / files.manifest_name(unfinished.file_name)).unlink()
    remote_damaged = sftp.remote_folder / damaged.file_name
    remote_damaged.write_bytes(remote_damaged.read_bytes()[:-1] + b"\0")
    (sftp.remote_folder / "notes.txt").write_text("not a backup")
    shutil.rmtree(backup_dir)  # the whole disk is lost

    dry = offsite.offsite_fetch_all(directory=backup_dir, now=NOW, dry_run=True)
    assert dry.fetched == [kept.file_name, damaged.file_name] and not backup_dir.exists()
    assert dry.lines()[-1] == "Would fetch 2 backup(s) from :sftp,…:archive; 0 already here, 1 not fetched."

    report = offsite.offsite_fetch_all(directory=backup_dir, now=NOW)

    assert report.remote == ":sftp,…:archive"
    assert report.fetched == [kept.file_name] and report.present == []
    problems = dict(report.problems)
    assert set(problems) == {damaged.file_name, unfinished.file_name}
    assert "its manifest says" in problems[damaged.file_name] and "damaged or was replaced" in problems[
        damaged.file_name]
    assert "no manifest beside it on the remote" in problems[unfinished.file_name]
    assert sorted(path.name for path in backup_dir.iterdir()) == sorted(
        [kept.file_name, files.manifest_name(kept.file_name)])
    assert files.sha256_of(backup_dir / kept.file_name) == kept.sha256
    assert same_bytes(backup_dir / files.manifest_name(kept.file_name),
                      sftp.remote_folder / files.manifest_name(kept.file_name))

    assert report.lines()[0] == f"Fetched {kept.file_name} from :sftp,…:archive."
    again = offsite.offsite_fetch_all(directory=backup_dir, now=NOW)
    assert again.fetched == [] and again.present == [kept.file_name]


def test_fetch_one_brings_a_checked_copy_into_a_scratch_folder(sftp, backup_dir, tmp_path):
    backup = backup_create(now=NOW)
    offsite.backup_offsite_copy(backup=backup, now=NOW)
    backup.refresh_from_db()

    path = offsite.offsite_fetch_one(backup=backup, directory=tmp_path / "drill")

    assert path == tmp_path / "drill" / backup.file_name
    assert files.sha256_of(path) == backup.sha256
    assert [p.name for p in (tmp_path / "drill").iterdir()] == [backup.file_name]

    (sftp.remote_folder / backup.file_name).write_bytes(b"not the backup")
    with pytest.raises(offsite.OffsiteError, match="bytes on the remote"):
        offsite.offsite_fetch_one(backup=backup, directory=tmp_path / "drill")
    assert list((tmp_path / "drill").iterdir()) == []


def drill() -> Job:
    return run(job_enqueue(job_type="BACKUP_RESTORE_DRILL", params={}, now=timezone.now()))


def test_a_drill_restores_the_off_site_copy_too_and_fails_naming_it_when_it_was_tampered_with(sftp, backup_dir):
    backup_job()
    backup = Backup.objects.get()
    assert run(backup.offsite_job).status == JobStatus.COMPLETED

    passed = drill()

    assert passed.status == JobStatus.COMPLETED, passed.error
    assert {drilled["source"] for drilled in passed.result["drills"]} == {"the file in BACKUP_DIR",
                                                                         "the off-site copy"}
    remote_file = sftp.remote_folder / backup.file_name
    remote_file.write_bytes(remote_file.read_bytes()[:-100] + b"x" * 100)  # the same size, other bytes

    failed = drill()

    assert failed.status == JobStatus.FAILED
    assert "the off-site copy" in failed.error and "SHA-256" in failed.error
    assert (backup_dir / backup.file_name).exists()  # the local file was not touched
