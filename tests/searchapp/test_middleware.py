from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from searchapp.models import Item
from tests.media_factory import make_image

pytestmark = pytest.mark.django_db(transaction=True)


class InlineCode(HTMLParser):
    """Collects what a strict policy refuses: inline scripts, event handlers, style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [
            f"{tag} {name}" for name in names if name.startswith(("on", "hx-on")) or name == "style"
        ]


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def test_pages_carry_a_strict_policy_and_no_inline_code(user_client: Client) -> None:
    user_client.post("/upload/file", {"file": SimpleUploadedFile("a.png", make_image("png"))})
    item = Item.objects.get()

    for path in ["/", "/?q=sea", "/upload/", f"/items/{item.pk}/", "/accounts/login/"]:
        response = user_client.get(path)

        assert response.status_code == 200, path
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe" not in policy
        assert inline_code(response.content.decode()) == [], path


def test_the_admin_may_use_inline_styles_but_no_inline_scripts(admin_client: Client) -> None:
    policy = admin_client.get("/admin/searchapp/item/")["Content-Security-Policy"]

    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src" not in policy and "default-src 'self'" in policy


def test_media_keeps_its_own_sandbox_policy(user_client: Client) -> None:
    user_client.post("/upload/file", {"file": SimpleUploadedFile("a.png", make_image("png"))})

    response = user_client.get(f"/items/{Item.objects.get().pk}/media")
    response.close()

    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
