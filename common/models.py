from django.db import models


class Chore(models.Model):
    """Work that one of several processes does every so often (the scheduler's daily history prune).

    Claimed with a compare-and-set on `next_at` (common.chores), so that two schedulers never do it at
    once, and kept in the database, so that "once a day" holds across restarts. A round too long for
    one go keeps where it got to in `state` and is taken up again by whichever process claims it next.
    """

    name = models.CharField(max_length=100, unique=True)
    next_at = models.DateTimeField(help_text="When it may next be claimed.")
    # Who holds it until `next_at` (a claim's lease), so that only the holder records the result.
    claimed_by = models.CharField(max_length=200, blank=True, help_text="host:pid of the last process to claim it.")
    claim_token = models.CharField(max_length=32, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="Where an unfinished round got to.")
    last_done_at = models.DateTimeField(null=True, blank=True, help_text="When its last round was finished.")

    def __str__(self) -> str:
        return self.name
