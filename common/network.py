"""A network failure in words: which host this server tried, and what went wrong on the way.

Whatever library made the connection (httpx for the feeds, smtplib for mail), the cause ends up
as an OSError somewhere in the exception's chain: `socket.gaierror` when the name could not be
looked up, `ConnectionRefusedError` when nothing listens there. Those two mean this server could
not get out (no DNS, no internet, a wrong host name), not that the other side is down; the words
say so, rather than blaming the service.
"""

from __future__ import annotations

import errno
import socket

NO_WAY_OUT = "(no DNS or no internet?)"
# Connecting failed before any server answered: the network between here and there.
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def could_not_reach(exc: BaseException, *, host: str) -> str | None:
    """"This server could not reach www.youtube.com (no DNS or no internet?): …" when `exc` (or an
    exception it was raised from) is a failed name lookup, a refused connection or no route to the
    host; None for anything else (a timeout, a connection cut off mid-answer), which the caller words.
    """
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            why = f"its name could not be looked up ({cause.strerror or cause})"
        elif isinstance(cause, ConnectionRefusedError):
            why = "the connection was refused (nothing listens there)"
        elif isinstance(cause, OSError) and cause.errno in _NO_ROUTE:
            why = f"there is no route to it ({cause.strerror or cause})"
        else:
            continue
        return f"This server could not reach {host} {NO_WAY_OUT}: {why}."
    return None
