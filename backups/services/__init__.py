"""The backups app's writes, in two modules:

- `making`: make a backup (the DATABASE_BACKUP job's work), release backups whose process died, apply
  retention, delete a backup;
- `restoring`: verify a backup again, restore one into the live database.

Callers import the function they need from its module; nothing is re-exported here.
"""
