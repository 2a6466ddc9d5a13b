"""`{% load access %}`: draw a link only for a user who may follow it (common.access)."""

from django import template

from common import access

register = template.Library()


@register.filter
def may_open(user, url) -> bool:
    """`{% if user|may_open:job.get_absolute_url %}<a …>{% else %}…{% endif %}`: a link to a page the
    user would get a 403 from is shown as plain text instead."""
    return access.may_open(user, str(url or ""))


@register.filter
def for_viewer(value, user):
    """`{{ backup.error|for_viewer:user }}`: a server folder's absolute path for staff only (common.access)."""
    return access.for_viewer(value, user)
