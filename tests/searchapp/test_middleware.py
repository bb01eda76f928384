from __future__ import annotations

import http.client
import json
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from bench.media_factory import make_image
from searchapp.models import Item
from searchapp.services.items import ItemDetails, item_add_text

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


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args: object) -> bytes:
        raise AssertionError("the body was read")

    readline = read


@pytest.fixture
def small_cap(settings) -> int:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000
    return 2 * 1000 + 1024 * 1024


def oversized(client: Client, path: str, *, length: str) -> HttpResponse:
    return client.generic(
        "POST",
        path,
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=length,
        **{"wsgi.input": Unreadable()},
    )


@pytest.mark.parametrize("path", ["/v1.3/embed", "/v1.2/embed", "/api/items", "/api/search"])
def test_an_api_request_over_the_cap_is_a_413_before_its_body_is_read(
    api_client: Client, small_cap: int, path: str
) -> None:
    response = oversized(api_client, path, length=str(small_cap + 1))

    assert response.status_code == 413
    assert response.json() == {
        "code": "file_too_large",
        "message": f"The request is larger than {small_cap} bytes.",
    }


@pytest.mark.parametrize("path", ["/upload/file", "/search/file"])
def test_a_page_request_over_the_cap_is_a_413_message_before_its_body_is_read(
    user_client: Client, small_cap: int, path: str
) -> None:
    response = oversized(user_client, path, length=str(small_cap + 1))

    assert response.status_code == 413
    assert f"The request is larger than {small_cap} bytes." in response.content.decode()
    assert Item.objects.count() == 0


@pytest.mark.parametrize("length", ["lots", "-1", "1e9"])
def test_a_content_length_that_is_not_a_number_is_a_400(api_client: Client, length: str) -> None:
    response = oversized(api_client, "/v1.3/embed", length=length)

    assert response.status_code == 400
    assert "Content-Length" in response.json()["message"]


def test_a_request_at_the_cap_is_read(api_client: Client, small_cap: int) -> None:
    response = api_client.post("/api/items", {"text": "x" * 900, "title": "y" * (small_cap - 2000)})

    assert response.status_code == 201


def test_a_chunked_body_a_server_cannot_read_is_a_411(live_server, api_key: str) -> None:  # type: ignore[no-untyped-def]
    # Django's own server, like runserver, cannot tell where a chunked body ends.
    connection = http.client.HTTPConnection(urlsplit(live_server.url).netloc, timeout=30)
    connection.putrequest("POST", "/api/items")
    connection.putheader("x-api-key", api_key)
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Transfer-Encoding", "chunked")
    # The answer comes from the headers alone; a body sent after it would race the server's
    # closing of the connection.
    connection.endheaders()
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()

    assert response.status == 411
    assert body["code"] == "length_required"
    assert Item.objects.count() == 0


def changelist_parameters(client: Client, url: str) -> set[str]:
    """Every parameter a changelist reads: its filters', search, ordering, paging, and a lookup
    on each of its model's fields (the admin turns unknown parameters into field lookups)."""
    changelist = client.get(url).context["cl"]
    names = {"q", "o", "p", "e", "_to_field", "_facets"}
    names |= {field.name for field in changelist.model._meta.concrete_fields}
    for spec in changelist.filter_specs:
        names |= set(spec.expected_parameters())
    return names


@pytest.mark.parametrize("value", ["%00", "a%00b"])
def test_nul_in_any_parameter_of_any_admin_changelist_is_a_400(
    admin_client: Client, value: str
) -> None:
    item_add_text(text="a note", details=ItemDetails(tags=["sea"]))
    walked = 0
    for model in filter(admin.site.is_registered, apps.get_models()):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for name in changelist_parameters(admin_client, url):
            for query in (f"{name}={value}", f"{name}%00=1"):
                response = admin_client.get(f"{url}?{query}")

                assert response.status_code == 400, (url, query)
                assert "NUL" in response.content.decode()
                walked += 1

    assert walked > 100


@pytest.mark.parametrize(
    "path", ["/?q=a%00b", "/?tag=%00", "/items/1/viewer?start=%00", "/items/%00/"]
)
def test_nul_in_a_search_parameter_or_path_is_a_400(path: str) -> None:
    response = Client().get(path)

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_nul_in_an_api_parameter_is_a_json_400(api_client: Client) -> None:
    response = api_client.get("/api/items/1?x=%00")

    assert response.status_code == 400
    assert response.json()["code"] == "parameter_invalid"
