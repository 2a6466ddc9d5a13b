"""The bottom layer: plumbing every app may import, and which imports no app of ours.

The API's frame (error shape, permission check, text types), the pages' helpers (toasts, htmx
answers, the next-url check), a read-only admin, formatting filters, the app-settings helper and
the "update these columns per row" writer. Domain apps (`jobs`, `scheduling`, `backups`,
`channels`) and the top (`core`, `config`) build on it.
"""
