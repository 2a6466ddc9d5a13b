"""Signals other apps listen to; `jobs` itself imports none of them.

`job_status_changed` is sent (with `job_ids`, and `job_types`: the set of their types, so a listener
can ignore jobs not its own without a query) after jobs reach a final state (completed, failed,
cancelled) or are queued again by hand. Whoever created the jobs (a schedule run, say) can then
bring its own state up to date without `jobs` knowing about it.
"""

from django.dispatch import Signal

job_status_changed = Signal()
