"""Signals other apps listen to; `jobs` itself imports none of them.

`job_status_changed` is sent with `jobs`, the Job instances concerned, after they reach a final state
(completed, failed, cancelled) or are queued again by hand, once that is committed. Whoever created
the jobs (a schedule run, say) can then bring its own state up to date without `jobs` knowing about
it. A job's type and params never change, so a listener reads them from the instances without a
query (a worker sends this after every job); its status a listener reads from the database.

It is sent at least once per change, durably: the write that makes the change marks the job, and
the mark is cleared in the transaction of the listeners' writes once none of them raised. A job
still marked a few seconds later (its worker died right after the commit, or a listener raised) is
announced again by the scheduler's step, so listeners must be idempotent: hearing of a job twice
changes nothing more. They run inside that transaction; a listener that writes should do so in
its own `transaction.atomic()` block, so that an error of its own rolls back only its writes (and
all of them: the next announcement must find nothing half-done). Only followed jobs (Job.followed:
a run or a group sync waits for them) are marked; the others are announced once, outside any
transaction, as before.

`jobs_maintained` is sent with `now` after each maintenance pass of the scheduler's step
(jobs.maintenance.jobs_maintain). A listener settles there, in a bounded number of queries, what of
its own still waits on jobs that are all final (a run still dispatched, a group sync still running)
and returns how many it settled: a net under `job_status_changed`, for whatever an announcement
missed (one lost before the mark existed, say).
"""

from django.dispatch import Signal

job_status_changed = Signal()
jobs_maintained = Signal()
