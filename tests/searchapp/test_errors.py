from __future__ import annotations

import pytest
from django.test import Client

from searchapp.api import API_PATHS

pytestmark = pytest.mark.django_db

CSRF_SECRET = "c" * 32
FIELD = b'--x\r\nContent-Disposition: form-data; name="text"\r\n\r\nhello\r\n--x--\r\n'
THREE_FILES = (
    b"".join(
        b'--x\r\nContent-Disposition: form-data; name="f%d"; filename="f.txt"\r\n\r\nhi\r\n'
        % number
        for number in range(3)
    )
    + b"--x--\r\n"
)
# Bodies Django cannot parse into a form, each named by what is wrong with it. (Content-Type
# headers Django cannot even build a request from are tested under gunicorn: test_serving.py.)
UNREADABLE_BODIES = {
    "urlencoded in utf-16": ("application/x-www-form-urlencoded; charset=utf-16", b"text=hello"),
    "urlencoded in base64": ("application/x-www-form-urlencoded; charset=base64", b"text=hello"),
    "multipart without boundary": ("multipart/form-data", FIELD),
    "multipart with a bad boundary": ("multipart/form-data; boundary=\x7f", FIELD),
    "too many fields": (
        "application/x-www-form-urlencoded",
        b"&".join(b"f%d=1" % number for number in range(1100)),
    ),
    "fields over the memory limit": ("application/x-www-form-urlencoded", b"text=" + b"x" * 3000),
    "too many files": ("multipart/form-data; boundary=x", THREE_FILES),
}
POST_PATHS = [
    "/api/items",
    "/api/search",
    "/v1.3/embed",
    "/v1.2/embed",
    "/search/file",
    "/upload/file",
    "/upload/note",
    "/accounts/login/",
    "/accounts/logout/",
    "/admin/login/",
    "/admin/searchapp/item/",
]
UNKNOWN_PATHS = ["/nowhere/", "/api/nowhere"]


@pytest.fixture
def clients(api_key: str, admin_user) -> list[Client]:  # type: ignore[no-untyped-def]
    # With a CSRF cookie, the CSRF check reads the body of every page's POST.
    headers = {"x-api-key": api_key, "X-CSRFToken": CSRF_SECRET}
    anonymous = Client(enforce_csrf_checks=True, headers=headers)
    signed_in = Client(enforce_csrf_checks=True, headers=headers)
    signed_in.force_login(admin_user)
    for client in (anonymous, signed_in):
        client.cookies["csrftoken"] = CSRF_SECRET
    return [anonymous, signed_in]


@pytest.fixture(autouse=True)
def _small_form_limits(settings) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2


@pytest.mark.parametrize("body", UNREADABLE_BODIES)
def test_a_body_that_cannot_be_parsed_is_a_4xx_on_every_post_path(
    clients: list[Client], body: str
) -> None:
    content_type, data = UNREADABLE_BODIES[body]
    for client in clients:
        for path in POST_PATHS + UNKNOWN_PATHS:
            # The test client raises any exception that reached Django's 500 handler.
            response = client.generic("POST", path, data, content_type=content_type)

            expected = {404} if path in UNKNOWN_PATHS else {400, 413}
            assert response.status_code in expected, (path, response.status_code)
            if path.startswith(API_PATHS):
                assert set(response.json()) == {"code", "message"}, path
            else:
                assert response["Content-Type"].startswith("text/html"), path


def test_a_form_in_utf16_is_a_json_400_on_the_api_and_a_message_on_pages(
    clients: list[Client],
) -> None:
    content_type, data = UNREADABLE_BODIES["urlencoded in utf-16"]
    anonymous = clients[0]

    api = anonymous.generic("POST", "/api/items", data, content_type=content_type)
    page = anonymous.generic("POST", "/search/file", data, content_type=content_type)

    assert api.status_code == 400
    assert api.json()["code"] == "parameter_invalid"
    assert "UTF-8" in api.json()["message"]
    assert page.status_code == 400
    assert "UTF-8" in page.content.decode()


@pytest.mark.parametrize(
    "cookie",
    [
        "sessionid=\x00\xff; csrftoken=" + "x" * 5000,
        "messages=forged:signature; sessionid=abc",
        "csrftoken=short",
        '=; ;;=="; a=b=c',
    ],
)
def test_odd_cookies_are_ignored_or_refused_but_never_a_500(cookie: str) -> None:
    response = Client().get("/?q=sea", HTTP_COOKIE=cookie)
    posted = Client(enforce_csrf_checks=True).post("/search/file", {"q": "sea"}, HTTP_COOKIE=cookie)

    assert response.status_code == 200
    assert posted.status_code == 403


def test_a_host_that_is_not_served_is_a_400_without_echoing_it() -> None:
    page = Client().get("/", HTTP_HOST="evil.example")
    api = Client().post("/api/items", HTTP_HOST="evil.example")

    assert page.status_code == api.status_code == 400
    assert "evil.example" not in page.content.decode() + api.content.decode()
    assert api.json()["code"] == "parameter_invalid"
