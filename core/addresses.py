"""Whose request is it: the client's address, as the brute-force limits count it (logins and API tokens)."""

from __future__ import annotations

import ipaddress

from django.conf import settings

# One IPv6 subscriber gets a whole /64 (RFC 6177) and may pick any address in it: counted per address, every
# guess could come from a fresh one. IPv6 addresses are counted by their /64.
IPV6_PREFIX = 64


def client_address(request) -> str:
    """The client's IP address: REMOTE_ADDR, or, with TRUSTED_PROXY_COUNT proxies in front of the app, the
    address the outermost of them saw, read from X-Forwarded-For. An IPv6 address stands for its /64 (its
    first address, so it stays an IP address, as django-axes stores it).

    Each proxy appends the address it saw, so the client's is the TRUSTED_PROXY_COUNT-th from the right;
    what stands left of it came from the client and may be anything. A header shorter than that, or an entry
    that is not an IP address, means the request did not pass through the proxies as configured: then
    REMOTE_ADDR counts, so a forged header never gives a client a fresh address.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    candidates = [remote]
    if proxies := settings.TRUSTED_PROXY_COUNT:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(hops) >= proxies:
            candidates.insert(0, hops[-proxies])
    for candidate in candidates:
        try:
            ip = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if ip.version == 6 and ip.ipv4_mapped is None:
            return str(ipaddress.ip_network(f"{ip}/{IPV6_PREFIX}", strict=False).network_address)
        return str(ip)
    return remote  # not an IP address at all (a server on a unix socket may say so): counted as it is
