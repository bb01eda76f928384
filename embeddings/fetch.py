from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from embeddings.errors import InputError, InputTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
USER_AGENT = "anysearch-fetch/1.0"


@dataclass(frozen=True)
class FetchedFile:
    content: bytes
    url: str
    content_type: str | None
    filename: str


@dataclass(frozen=True)
class _Allowlist:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Sequence[str]) -> _Allowlist:
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower())
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        return host.lower() in self.hosts or any(address in network for network in self.networks)


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    allowlist: Sequence[str] = (),
    timeout_sec: float = 20.0,
    max_redirects: int = 5,
) -> FetchedFile:
    allowed = _Allowlist.parse(allowlist)
    deadline = time.monotonic() + timeout_sec
    timeout = httpx.Timeout(timeout_sec, connect=min(timeout_sec, 5.0))
    current = url
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(max_redirects + 1):
            request = _pinned_request(client, current, allowed)
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException:
                raise InputError("could not fetch the URL: timed out.") from None
            except httpx.HTTPError as error:
                raise InputError(f"could not fetch the URL: {type(error).__name__}.") from None
            try:
                if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if not response.is_success:
                    raise InputError(f"the URL answered HTTP {response.status_code}.")
                content = _read_capped(response, max_bytes=max_bytes, deadline=deadline)
            finally:
                response.close()
            return FetchedFile(
                content=content,
                url=current,
                content_type=response.headers.get("content-type"),
                filename=urlsplit(url).path.rsplit("/", 1)[-1],
            )
    raise InputError(f"too many redirects (more than {max_redirects}).")


def _pinned_request(client: httpx.Client, url: str, allowed: _Allowlist) -> httpx.Request:
    """A request to the address that was checked, so DNS cannot change it afterwards."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise InputError("the URL is not valid.") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(f"URL scheme {parts.scheme!r} is not allowed; use http or https.")
    host = parts.host
    if not host:
        raise InputError("the URL has no host.")
    address = _checked_address(
        host, parts.port or (443 if parts.scheme == "https" else 80), allowed
    )
    pinned = parts.copy_with(host=str(address))
    headers = {
        "Host": parts.netloc.decode("ascii"),
        "User-Agent": USER_AGENT,
        # Compressed bodies could expand past the size cap between two checks.
        "Accept-Encoding": "identity",
    }
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return client.build_request("GET", pinned, headers=headers, extensions=extensions)


def _checked_address(host: str, port: int, allowed: _Allowlist) -> IPAddress:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InputError(f"could not resolve the URL's host {host!r}.") from None
    addresses = [_unmapped(ipaddress.ip_address(info[4][0].split("%", 1)[0])) for info in infos]
    if not addresses:
        raise InputError(f"could not resolve the URL's host {host!r}.")
    for address in addresses:
        if not address.is_global and not allowed.allows(host, address):
            raise InputError(f"URL refused: {host} resolves to {address}, {_describe(address)}.")
    return addresses[0]


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _describe(address: IPAddress) -> str:
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (such as a cloud metadata service)"
    if address.is_private:
        return "a private address"
    return "not a public address"


def _read_capped(response: httpx.Response, *, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise InputTooLarge(f"the file at the URL is larger than {max_bytes} bytes.")
    chunks: list[bytes] = []
    received = 0
    try:
        for chunk in response.iter_bytes():
            received += len(chunk)
            if received > max_bytes:
                raise InputTooLarge(f"the file at the URL is larger than {max_bytes} bytes.")
            if time.monotonic() > deadline:
                raise InputError("could not fetch the URL: timed out.")
            chunks.append(chunk)
    except httpx.TimeoutException:
        raise InputError("could not fetch the URL: timed out.") from None
    except httpx.HTTPError as error:
        raise InputError(f"could not fetch the URL: {type(error).__name__}.") from None
    return b"".join(chunks)
