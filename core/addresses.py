"""Whose request is it: the client's address, as the brute-force limits count it (logins and API tokens)."""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(request) -> str:
    """The client's IP address: REMOTE_ADDR, or, with TRUSTED_PROXY_COUNT proxies in front of the app, the
    address the outermost of them saw, read from X-Forwarded-For.

    Each proxy appends the address it saw, so the client's is the TRUSTED_PROXY_COUNT-th from the right;
    what stands left of it came from the client and may be anything. A header shorter than that, or an entry
    that is not an IP address, means the request did not pass through the proxies as configured: then
    REMOTE_ADDR counts, so a forged header never gives a client a fresh address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < proxies:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-proxies]))
    except ValueError:
        return remote
