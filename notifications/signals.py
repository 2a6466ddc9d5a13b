"""Signals other apps listen to; `notifications` itself imports none of them.

`channel_deleted` is sent with `channel_id` after a notification channel is deleted, so that what
points at it by id (a schedule's chosen channels) can forget it.
"""

from django.dispatch import Signal

channel_deleted = Signal()
