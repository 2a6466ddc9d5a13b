"""Who may open which page: the permission a view checks, noted on the view, read where a link is drawn.

A page that links to another (a backup's job, a job's schedule run, an alert's details) must not hand a
user a link that ends in a 403. Rather than repeat each target's rule in every template that links to
it, the target's view states its permission once (`view_permission`) and a link asks `may_open(user,
url)`, which resolves the URL and reads that permission. One rule per page, kept where it is enforced.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.decorators import permission_required
from django.urls import Resolver404, resolve


def view_permission(perm: str):
    """`permission_required(perm, raise_exception=True)` (a 403 for a logged-in user without it), with
    the permission noted on the view for `may_open`. Decorators applied above it (require_GET) copy the
    note along with the view's other attributes (functools.wraps)."""

    def decorate(view):
        checked = permission_required(perm, raise_exception=True)(view)
        checked.required_permission = perm
        return checked

    return decorate


def may_open(user, url: str) -> bool:
    """Whether `user` may follow a link to `url`, a path of this site (a query or #fragment is fine).

    A view with no noted permission is open to any logged-in user. A URL this site does not serve
    (another host, a path no pattern matches) is not a link to draw: False.
    """
    if not url or not getattr(user, "is_authenticated", False):
        return False
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return False
    try:
        match = resolve(parts.path)
    except Resolver404:
        return False
    perm = getattr(match.func, "required_permission", None)
    return perm is None or user.has_perm(perm)
