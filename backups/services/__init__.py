"""The backups app's writes, in four modules:

- `making`: make a backup (the DATABASE_BACKUP job's work), release backups whose process died, apply
  retention, delete a backup;
- `restoring`: verify a backup again, restore one into the live database (by its record, or from a file
  and its manifest alone);
- `adopting`: register the backup files of a folder that the database does not know;
- `aftermath`: what follows a restore (the cache table, the copy's jobs, its backup lock), and noticing a
  restore made by hand.

Callers import the function they need from its module; nothing is re-exported here.
"""
