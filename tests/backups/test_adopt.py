"""adopt_backups, the service behind it, and the /backups banner with its Adopt button.

The folder holds real backups of the test database; "a fresh install" is the same database with the
backups' rows gone (their records were in the database that was lost).
"""

from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from backups import files
from backups.models import Backup, BackupStatus
from backups.services.adopting import backups_adopt
from backups.services.making import backup_create
from backups.services.restoring import backup_verify
from tests.backups.conftest import NOW, folder_names, sqlite_only
from tests.factories import BackupFactory, UserFactory, grant

# transaction=True: each backup copies the rows committed before it (its own row among them), so no two
# files are alike, as in life.
pytestmark = [pytest.mark.django_db(transaction=True), sqlite_only]

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def lost_records(backup_dir):
    """Three real backups in the folder, and a database that no longer knows them; returns their rows as
    they were."""
    made = [backup_create(now=NOW.replace(hour=hour)) for hour in (1, 2, 3)]
    Backup.objects.all().delete()
    return made


def adopt(*flags: str) -> str:
    out = StringIO()
    call_command("adopt_backups", *flags, stdout=out, stderr=out)
    return out.getvalue()


def rows() -> list[tuple]:
    return list(Backup.objects.order_by("pk").values_list("pk", "status", "file_name", "sha256", "size_bytes",
                                                          "started_at", "finished_at", "verified_at", "note"))


def test_it_adopts_the_folders_backups_keeping_their_ids_and_twice_changes_nothing(lost_records, backup_dir):
    folder = folder_names(backup_dir)

    output = adopt()

    assert "Adopted 3 backup files from" in output
    for original in lost_records:
        assert f"{original.file_name}: registered as #{original.pk}." in output
        adopted = Backup.objects.get(pk=original.pk)
        assert (adopted.status, adopted.file_name, adopted.sha256, adopted.size_bytes, adopted.started_at,
                adopted.finished_at, adopted.applied_migrations, adopted.database_version) == (
            BackupStatus.COMPLETED, original.file_name, original.sha256, original.size_bytes, original.started_at,
            original.finished_at, original.applied_migrations, original.database_version)
        assert adopted.note.startswith(f"Adopted from its manifest ({original.file_name})")
        backup_verify(backup=adopted, now=timezone.now())  # the app opens it as its own
    assert Backup.objects.good().count() == 3
    assert folder_names(backup_dir) == folder
    before = rows()

    output = adopt()

    assert "Adopted 0 backup files" in output and "3 were known already" in output
    assert rows() == before
    assert folder_names(backup_dir) == folder


def test_it_leaves_a_tampered_file_and_a_file_without_manifest_alone_and_says_why(lost_records, backup_dir):
    tampered, without_manifest, good = lost_records
    path = backup_dir / tampered.file_name
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    (backup_dir / files.manifest_name(without_manifest.file_name)).unlink()
    folder = {name: (backup_dir / name).read_bytes() for name in folder_names(backup_dir)}

    output = adopt()

    assert f"{tampered.file_name}: left alone: its checksum does not match its manifest" in output
    assert (f"{without_manifest.file_name}: left alone: There is no manifest "
            f"{without_manifest.file_name}.json beside the file.") in output
    assert f"{good.file_name}: registered as #{good.pk}." in output
    assert "Adopted 1 backup file from" in output and "left 2 alone" in output
    assert list(Backup.objects.values_list("pk", flat=True)) == [good.pk]
    # Left exactly as they were.
    assert {name: (backup_dir / name).read_bytes() for name in folder_names(backup_dir)} == folder
    # And again: the same answer, nothing more.
    assert adopt().count("left alone") == 2 and Backup.objects.count() == 1


def test_a_taken_id_gets_the_next_one_and_the_file_is_renamed_to_match(lost_records, backup_dir):
    first = lost_records[0]
    other = BackupFactory(pk=first.pk, status=BackupStatus.FAILED, error="made by this install", file_name="")

    output = adopt()

    adopted = Backup.objects.get(sha256=first.sha256)
    assert adopted.pk not in (first.pk, *(b.pk for b in lost_records))
    new_name = first.file_name.replace(f"-{first.pk}.sqlite3", f"-{adopted.pk}.sqlite3")
    assert adopted.file_name == new_name
    assert (f"{first.file_name}: registered as #{adopted.pk} and renamed {new_name}: its own id is taken by backup "
            f"#{other.pk}") in output
    assert first.file_name not in folder_names(backup_dir) and new_name in folder_names(backup_dir)
    manifest = files.read_manifest(backup_dir / files.manifest_name(new_name), file_name=new_name)
    assert (manifest.id, manifest.sha256, manifest.data["adopted_from"]) == (adopted.pk, first.sha256, first.file_name)
    backup_verify(backup=adopted, now=timezone.now())
    assert Backup.objects.get(pk=other.pk).error == "made by this install"
    before = rows()
    adopt()
    assert rows() == before


def test_a_dry_run_says_what_it_would_do_and_writes_nothing(lost_records, backup_dir):
    BackupFactory(pk=lost_records[0].pk, status=BackupStatus.FAILED, file_name="")
    folder = folder_names(backup_dir)

    output = adopt("--dry-run")

    assert "Would adopt 3 backup files" in output
    assert f"{lost_records[1].file_name}: would be #{lost_records[1].pk}." in output
    assert f"{lost_records[0].file_name}: would get a new id and be renamed to match" in output
    assert Backup.objects.count() == 1 and folder_names(backup_dir) == folder


def test_the_service_stops_reading_when_its_budget_is_spent(lost_records, backup_dir):
    report = backups_adopt(directory=backup_dir, now=timezone.now(), budget_seconds=0)

    assert len(report.adopted) == 1 and len(report.not_checked) == 2
    assert "2 not checked yet (adopt again for them)" in report.summary()


# --- /backups ----------------------------------------------------------------------------------------


def login(client, *codenames, username="alice"):
    client.force_login(grant(UserFactory(username=username), "view_backup", *codenames))
    return client


def test_the_page_says_how_many_files_are_not_in_the_list_and_offers_adopt(client, lost_records, backup_dir):
    (backup_dir / files.manifest_name(lost_records[2].file_name)).unlink()
    Backup.objects.create(**{"pk": lost_records[0].pk, "status": BackupStatus.COMPLETED, "database_vendor": "sqlite",
                             "file_name": lost_records[0].file_name, "started_at": NOW})

    content = login(client, "add_backup").get("/backups").content.decode()

    assert "2 backup files in the folder are not in this list" in content
    assert "1 of them has no manifest and cannot be adopted" in content
    assert 'id="adopt-backups"' in content

    content = login(client, username="bob").get("/backups").content.decode()
    assert "2 backup files in the folder are not in this list" in content and 'id="adopt-backups"' not in content


def test_adopt_on_the_page_adopts_and_says_so(client, lost_records):
    response = login(client, "add_backup").post("/backups/adopt", **HTMX)

    content = response.content.decode()
    assert response.status_code == 200 and "backups-changed" in response["HX-Trigger"]
    assert "Adopted 3 backup files from" in content
    assert Backup.objects.count() == 3
    assert "not in this list" not in client.get("/backups").content.decode()


def test_adopt_needs_the_add_permission_and_a_post(client, lost_records):
    assert login(client, "change_backup", "delete_backup").post("/backups/adopt").status_code == 403
    assert Backup.objects.count() == 0
    assert login(client, "add_backup").get("/backups/adopt").status_code == 405


def test_without_unknown_files_there_is_no_banner(client, backup_dir):
    backup_create(now=NOW)

    assert "not in this list" not in login(client, "add_backup").get("/backups").content.decode()
