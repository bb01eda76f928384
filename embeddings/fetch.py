from __future__ import annotations

import base64
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from embeddings.errors import InputError, InputTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CONNECT_TIMEOUT_SEC = 5.0
USER_AGENT = "anysearch-fetch/1.0"
TIMED_OUT = "could not fetch the URL: timed out."
# What the network, TLS, httpx and IDNA can raise; InputError (a ValueError) is let through first.
_TRANSFER_FAILURES = (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError)
_FETCHERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="fetch")
# A NAT64 or SIIT translator delivers these to the IPv4 address in their last 32 bits, so they
# are judged by that address: on an IPv6-only network DNS64 answers this way for every
# IPv4-only site, public or not.
_IPV4_TRANSLATED = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix (RFC 6052)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (RFC 2765)
)
# These reach an IPv4 address too, but its place is not fixed or the path runs through relays
# anywhere: refused whatever they carry. 6to4 and Teredo are deprecated tunnels, IPv4-compatible
# addresses are deprecated, and a local-use NAT64 prefix puts the IPv4 address where its
# operator chose.
_IPV4_TUNNELS = (
    ipaddress.IPv6Network("2002::/16"),  # 6to4 (RFC 3056, deprecated by RFC 7526)
    ipaddress.IPv6Network("2001::/32"),  # Teredo (RFC 4380)
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated by RFC 4291)
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64, local use (RFC 8215)
)


@dataclass(frozen=True)
class FetchedFile:
    content: bytes
    url: str  # final URL after redirects, without any user:password
    content_type: str | None
    filename: str  # last path segment of the original URL, or ""


@dataclass(frozen=True)
class _Allowlist:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> _Allowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip()
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(_normal_host(entry))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return _normal_host(host) in self.hosts or any(address in net for net in self.networks)


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    allowlist: Sequence[str] = (),
    timeout_sec: float = 20.0,
    max_redirects: int = 5,
    on_done: Callable[[], None] = lambda: None,
) -> FetchedFile:
    # The fetch runs in a pool thread so that the caller waits no longer than timeout_sec,
    # whatever blocks inside: DNS has no timeout, and a read may wait out its own timeout
    # after a slow response started. A fetch given up on ends there by its own timeouts.
    # on_done is called once the fetch's own work ends (before the caller sees its result).
    future = _FETCHERS.submit(
        _fetch,
        url,
        max_bytes=max_bytes,
        allowlist=allowlist,
        timeout_sec=timeout_sec,
        max_redirects=max_redirects,
        on_done=on_done,
    )
    try:
        return future.result(timeout=timeout_sec)
    except TimeoutError:
        if future.cancel():
            on_done()
        raise InputError(TIMED_OUT) from None


def _fetch(
    url: str,
    *,
    max_bytes: int,
    allowlist: Sequence[str],
    timeout_sec: float,
    max_redirects: int,
    on_done: Callable[[], None],
) -> FetchedFile:
    try:
        return _follow(
            url,
            max_bytes=max_bytes,
            allowed=_Allowlist.parse(allowlist),
            deadline=time.monotonic() + timeout_sec,
            max_redirects=max_redirects,
        )
    except InputError:
        raise
    except _TRANSFER_FAILURES as error:
        raise InputError(_failure(error)) from None
    finally:
        on_done()


def _follow(
    url: str, *, max_bytes: int, allowed: _Allowlist, deadline: float, max_redirects: int
) -> FetchedFile:
    current = _checked_url(_parse(url))
    # The transport sends one request and knows nothing of redirects: every Location is read
    # here, by the same checks as the first URL, and never by httpx's own redirect code.
    with httpx.HTTPTransport(trust_env=False) as transport:
        for _ in range(max_redirects + 1):
            with _opened(transport, current, allowed=allowed, deadline=deadline) as response:
                location = response.headers.get("location")
                if response.status_code in REDIRECT_STATUSES and location:
                    current = _redirected(current, location)
                    continue
                if not response.is_success:
                    raise InputError(f"the URL returned HTTP {response.status_code}.")
                content = _read_capped(response, max_bytes=max_bytes, deadline=deadline)
                return FetchedFile(
                    content=content,
                    url=str(current.copy_with(username=None, password=None)),
                    content_type=response.headers.get("content-type"),
                    filename=_filename(url),
                )
    raise InputError(f"too many redirects (more than {max_redirects}).")


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise InputError("the URL is not valid.") from None


def _checked_url(url: httpx.URL) -> httpx.URL:
    if not url.scheme:
        raise InputError("the URL must start with http:// or https://.")
    if url.scheme not in ("http", "https"):
        raise InputError(f"URL scheme {url.scheme!r} is not allowed; use http or https.")
    if not url.raw_host:
        raise InputError("the URL has no host.")
    if url.port is not None and not 0 < url.port < 65536:
        raise InputError("the URL's port is not valid.")
    return url


def _redirected(current: httpx.URL, location: str) -> httpx.URL:
    try:
        target = current.join(location)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise InputError("the URL redirected to an invalid URL.") from None
    return _checked_url(target)


def _filename(url: str) -> str:
    try:
        return urlsplit(url).path.rsplit("/", 1)[-1]
    except ValueError:
        return ""


@contextmanager
def _opened(
    transport: httpx.HTTPTransport, url: httpx.URL, *, allowed: _Allowlist, deadline: float
) -> Iterator[httpx.Response]:
    response = transport.handle_request(_pinned_request(url, allowed=allowed, deadline=deadline))
    try:
        yield response
    finally:
        response.close()


def _pinned_request(url: httpx.URL, *, allowed: _Allowlist, deadline: float) -> httpx.Request:
    # The IDNA form, so that DNS, the Host header and TLS all see the same name.
    host = url.raw_host.decode("ascii")
    address = _checked_address(host, url.port or _default_port(url.scheme), allowed)
    # Connecting to the checked address leaves DNS no second chance to answer differently.
    pinned = url.copy_with(host=str(address), username=None, password=None)
    headers = {
        "Host": url.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
        # A pooled connection would carry one host's verified TLS identity over to another.
        "Connection": "close",
    }
    if url.userinfo:
        # Credentials go in a header, never in a URL that might be logged.
        headers["Authorization"] = _basic_auth(url.username, url.password)
    extensions: dict[str, object] = {"timeout": _hop_timeout(deadline).as_dict()}
    if url.scheme == "https":
        extensions["sni_hostname"] = host
    return httpx.Request("GET", pinned, headers=headers, extensions=extensions)


def _basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _hop_timeout(deadline: float) -> httpx.Timeout:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise InputError(TIMED_OUT)
    return httpx.Timeout(remaining, connect=min(remaining, CONNECT_TIMEOUT_SEC))


def _checked_address(host: str, port: int, allowed: _Allowlist) -> IPAddress:
    addresses = _resolve(host, port)
    for address in addresses:
        reached = _translated(address)
        if not _is_public(reached) and not (
            allowed.allows(host, address) or allowed.allows(host, reached)
        ):
            raise InputError(_refusal(host, reached))
    return addresses[0]


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        infos = []
    addresses = [
        _unmapped(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        for info in infos
        if info[0] in (socket.AF_INET, socket.AF_INET6)
    ]
    if not addresses:
        raise InputError(f"could not resolve the URL's host {host}.")
    return addresses


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _translated(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and _within(address, _IPV4_TRANSLATED):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def _within(address: ipaddress.IPv6Address, networks: tuple[ipaddress.IPv6Network, ...]) -> bool:
    return any(address in network for network in networks)


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and (
        # is_global alone lets the deprecated site-local range through, and whether it counts
        # the tunnels depends on the Python release.
        address.is_site_local or _within(address, _IPV4_TUNNELS)
    ):
        return False
    return address.is_global and not address.is_multicast


def _refusal(host: str, address: IPAddress) -> str:
    # A name's private address stays out of the message: it would map the internal network.
    verb = "is" if _is_ip_literal(host) else "resolves to"
    return f"URL refused: {host} {verb} {_kind(address)}."


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _kind(address: IPAddress) -> str:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (such as a cloud metadata service)"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and _within(address, _IPV4_TUNNELS):
        return "an IPv6 transition address (6to4, Teredo, local NAT64 or IPv4-compatible)"
    if address.is_private:
        return "a private address"
    return "a non-public address"


def _normal_host(host: str) -> str:
    return host.lower().rstrip(".")


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        # iter_bytes would inflate a whole network chunk at once, far past the cap.
        raise InputError(f"the URL sent a compressed ({encoding}) response; only plain files work.")
    declared = response.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes)
        if time.monotonic() > deadline:
            raise InputError(TIMED_OUT)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> InputTooLarge:
    return InputTooLarge(f"the file at the URL is larger than {max_bytes} bytes.")


def _failure(error: Exception) -> str:
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return TIMED_OUT
    if _caused_by_tls(error):
        return "could not fetch the URL: the secure (TLS) connection failed."
    if isinstance(error, httpx.ConnectError):
        return "could not fetch the URL: could not connect to the server."
    if isinstance(error, httpx.RemoteProtocolError):
        return "could not fetch the URL: the server sent an invalid response."
    if isinstance(error, httpx.InvalidURL | UnicodeError):
        return "could not fetch the URL: a URL or host name on the way is not valid."
    return "could not fetch the URL: the connection failed."


def _caused_by_tls(error: BaseException) -> bool:
    cause: BaseException | None = error
    for _ in range(10):
        if cause is None:
            return False
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
