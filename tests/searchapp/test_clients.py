from __future__ import annotations

import pytest
from django.test import RequestFactory

from searchapp.clients import client_address


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "192.0.2.7", "", "192.0.2.7"),
        # Without trusted proxies the header is anyone's words.
        (0, "192.0.2.7", "198.51.100.1", "192.0.2.7"),
        (1, "10.0.0.1", "198.51.100.1, 203.0.113.9", "203.0.113.9"),
        (2, "10.0.0.1", "198.51.100.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        # Fewer hops than proxies: it did not come through them all.
        (2, "10.0.0.1", "203.0.113.9", "10.0.0.1"),
        (1, "10.0.0.1", "not an address", None),
        (0, "2001:db8:1:2:3:4:5:6", "", "2001:db8:1:2::"),
        (0, "::ffff:192.0.2.7", "", "192.0.2.7"),
        (0, "", "", None),
    ],
)
def test_client_address(
    settings,  # type: ignore[no-untyped-def]
    proxies: int,
    remote: str,
    forwarded: str,
    expected: str | None,
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)

    assert client_address(request) == expected
