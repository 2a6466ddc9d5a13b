"""Who may open which page: the permission a view checks, noted on the view, read where a link is drawn.

A page that links to another (a backup's job, a job's schedule run, an alert's details) must not hand a
user a link that ends in a 403. Rather than repeat each target's rule in every template that links to
it, the target's view states its permission once (`view_permission`) and a link asks `may_open(user,
url)`, which resolves the URL and reads that permission. One rule per page, kept where it is enforced.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
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


# Folders of this server whose absolute path is for staff only (by their setting's name). A message
# written when something failed names the folder it failed in ("the backup in /srv/…/backups"), and a
# traceback names files in it; other users read such words with the path as the setting's name.
PRIVATE_FOLDERS = ("BACKUP_DIR",)


def _private_folders() -> list[tuple[str, str]]:
    """(absolute path, setting name), longest path first, each as configured and as resolved."""
    found = set()
    for name in PRIVATE_FOLDERS:
        value = getattr(settings, name, None)
        if not value:
            continue
        for path in {Path(value), Path(value).resolve()}:
            if path.is_absolute() and len(path.parts) > 1:  # never "/" itself
                found.add((str(path), name))
    return sorted(found, key=lambda item: -len(item[0]))


def for_viewer(value, user):
    """`value` (a text, or a JSON-like dict or list of them: a job's result) as `user` may read it.

    Staff read it as it is. Anyone else reads a private folder's absolute path as its setting's name:
    "/srv/archive/backups/db-1.sqlite3.zst" becomes "BACKUP_DIR/db-1.sqlite3.zst". Nothing stored changes.
    """
    if getattr(user, "is_staff", False):
        return value
    folders = _private_folders()

    def hidden(item):
        if isinstance(item, str):
            for path, name in folders:
                item = item.replace(path, name)
            return item
        if isinstance(item, dict):
            return {key: hidden(entry) for key, entry in item.items()}
        if isinstance(item, list):
            return [hidden(entry) for entry in item]
        return item

    return hidden(value)
