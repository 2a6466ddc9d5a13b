"""What can go wrong with a backup, each with a message a person understands."""


class BackupError(Exception):
    """A backup, verification or restore failed; the message says what happened and what to do."""


class BackupConfigError(BackupError):
    """The setup is wrong (folder not writable, pg_dump missing or too old): no retry can fix it."""


class BackupBusy(BackupError):
    """Another backup is running; backups never overlap."""


class NoBackupFile(BackupError):
    """The backup has no file to act on: it is not completed (see Backup.no_file_reason)."""


class RestoreRefused(BackupError):
    """A restore was refused before the live database was touched (another database vendor, or a mismatch)."""


class RestoreMismatch(RestoreRefused):
    """The backup's migrations do not match the code's: `--force` restores it anyway (its checksum and
    integrity are still checked)."""


class ChecksumMismatch(RestoreRefused):
    """The file is not the one its record or manifest describes (damaged or replaced): never restored,
    whatever is forced."""


class ManifestProblem(RestoreRefused):
    """The manifest beside a backup file is missing or cannot be used: `--no-manifest` restores the file
    without one (its integrity is still checked)."""


class RestoredWithProblems(BackupError):
    """The live database WAS replaced, but something after that failed; the message says what."""


class DrillFailed(BackupError):
    """A restore drill found the backup does not come back as its manifest says (it does not decompress,
    fails its integrity or migrations check, or a table's row count differs): no retry changes that."""


class NothingToDrill(BackupError):
    """There is no good backup for a restore drill to test."""
