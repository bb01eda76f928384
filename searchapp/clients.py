from __future__ import annotations

import ipaddress

from django.http import HttpRequest

from searchapp import conf

# One IPv6 client usually holds a whole /64 and can pick any address in it.
IPV6_CLIENT_PREFIX = 64


def client_address(request: HttpRequest) -> str | None:
    """The address a request came from, for per-client limits (sign-in throttling, search
    rates). Behind TRUSTED_PROXY_COUNT reverse proxies it is the address the outermost one saw,
    read from X-Forwarded-For, where each proxy appends the address it received from; entries
    left of it are the client's own words. An IPv6 client is its /64. None when unknown (a
    server on a Unix socket with no proxy in front)."""
    forwarded = _forwarded_address(
        request.headers.get("X-Forwarded-For", ""), proxies=conf.TRUSTED_PROXY_COUNT.value()
    )
    return _client_network(forwarded or request.META.get("REMOTE_ADDR", ""))


def _forwarded_address(header: str, *, proxies: int) -> str | None:
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    # Fewer entries than trusted proxies: the request did not come through all of them.
    return hops[-proxies] if proxies > 0 and len(hops) >= proxies else None


def _client_network(raw: str) -> str | None:
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(
            ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False).network_address
        )
    return str(address)
