"""Signals other apps listen to; `jobs` itself imports none of them.

`job_status_changed` is sent with `jobs`, the Job instances concerned, after they reach a final state
(completed, failed, cancelled) or are queued again by hand, once that is committed. Whoever created
the jobs (a schedule run, say) can then bring its own state up to date without `jobs` knowing about
it. A job's type and params never change, so a listener reads them from the instances without a
query (a worker sends this after every job); its status a listener reads from the database.
"""

from django.dispatch import Signal

job_status_changed = Signal()
