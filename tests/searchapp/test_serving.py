from __future__ import annotations

import html
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from django.test import Client, override_settings
from twelvelabs import TwelveLabs

from bench.media_factory import make_audio, make_image
from bench.processes import app_processes
from searchapp.api import API_PATHS
from searchapp.models import Item
from searchapp.serving import ChunkedRequestBodies, content_type_problem

UPLOAD_CAP = 200_000
REQUEST_CAP = 2 * UPLOAD_CAP + 1024 * 1024
CSRF_SECRET = "c" * 32


class Downstream:
    """A WSGI app that records what it was handed."""

    def __init__(self) -> None:
        self.environ: dict[str, Any] = {}
        self.body = b""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.environ = dict(environ)
        self.body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [])
        return [b""]


class CountingInput(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.handed_out = 0

    def read(self, size: int | None = -1, /) -> bytes:
        chunk = super().read(size)
        self.handed_out += len(chunk)
        return chunk


def chunked_environ(body: bytes, *, terminated: bool = True) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/items",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": CountingInput(body),
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    return environ


def test_a_chunked_body_reaches_the_app_with_its_length(settings) -> None:  # type: ignore[no-untyped-def]
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1000
    app = Downstream()
    body = os.urandom(300_000)

    ChunkedRequestBodies(app)(chunked_environ(body), lambda *args: None)

    assert app.environ["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_TRANSFER_ENCODING" not in app.environ
    assert app.body == body


def test_a_chunked_body_over_the_cap_is_read_no_further_than_one_byte_past_it(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_MAX_UPLOAD_BYTES = 1000
    cap = 2 * 1000 + 1024 * 1024
    app = Downstream()
    environ = chunked_environ(b"x" * (cap + 500_000))

    ChunkedRequestBodies(app)(environ, lambda *args: None)

    assert app.environ["CONTENT_LENGTH"] == str(cap + 1)
    assert environ["wsgi.input"].handed_out == cap + 1


def test_a_chunked_body_the_server_cannot_end_is_left_alone() -> None:
    app = Downstream()
    environ = chunked_environ(b"text=hello", terminated=False)

    ChunkedRequestBodies(app)(environ, lambda *args: None)

    assert "CONTENT_LENGTH" not in app.environ
    assert environ["wsgi.input"].handed_out == 0


def unreadable_chunked(client: Client, path: str) -> Any:
    # As runserver hands it over: no Content-Length and no wsgi.input_terminated.
    return client.generic(
        "POST",
        path,
        b"text=hello",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1.3/embed", "/v1.2/embed", "/api/items", "/api/search"])
def test_an_unreadable_chunked_api_request_is_a_411(api_client: Client, path: str) -> None:
    response = unreadable_chunked(api_client, path)

    assert response.status_code == 411
    assert response.json()["code"] == "length_required"
    assert "Content-Length" in response.json()["message"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/upload/file", "/search/file", "/accounts/login/"])
def test_an_unreadable_chunked_page_request_is_a_411(user_client: Client, path: str) -> None:
    response = unreadable_chunked(user_client, path)

    assert response.status_code == 411
    assert "Content-Length" in response.content.decode()


def chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def send_chunked(
    base: str,
    path: str,
    *,
    data: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    form = httpx.Request("POST", base + path, data=data, files=files)
    body = form.read()
    # An iterator of unknown length is sent with Transfer-Encoding: chunked and no Content-Length.
    request = httpx.Request(
        "POST",
        base + path,
        content=chunks(body),
        headers={"Content-Type": form.headers["Content-Type"], **(headers or {})},
    )
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in request.headers
    with httpx.Client(timeout=60) as client:
        return client.send(request)


@pytest.fixture(scope="module")
def web(  # type: ignore[no-untyped-def]
    django_db_setup, django_db_blocker, tiny_model_dir: Path, tmp_path_factory
) -> Iterator[str]:
    """One gunicorn for the module's tests (each start takes seconds); they keep nothing in it
    but the database's rows, which each test's end clears."""
    data_dir = tmp_path_factory.mktemp("serving") / "data"
    with (
        django_db_blocker.unblock(),
        override_settings(EMBEDDINGS_MODEL=str(tiny_model_dir)),
        app_processes(data_dir) as processes,
    ):
        yield processes.web(EMBEDDINGS_MAX_UPLOAD_BYTES=str(UPLOAD_CAP))[1]


@pytest.fixture
def signed_in(user_client: Client) -> dict[str, str]:
    """Headers of a signed-in browser for requests to the web process."""
    return {
        "Cookie": f"sessionid={user_client.cookies['sessionid'].value}; csrftoken={CSRF_SECRET}",
        "X-CSRFToken": CSRF_SECRET,
    }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chunked_uploads_work_on_every_upload_endpoint_under_gunicorn(
    web: str, api_key: str, signed_in: dict[str, str]
) -> None:
    image = ("a.png", make_image("png"), "image/png")
    key = {"x-api-key": api_key}

    embed = send_chunked(
        web,
        "/v1.3/embed",
        data={"model_name": "embeddinggemma-2"},
        files={"image_file": image},
        headers=key,
    )
    assert embed.status_code == 200, embed.text
    assert len(embed.json()["image_embedding"]["segments"]) == 1
    old_api = send_chunked(
        web, "/v1.2/embed", data={"model_name": "embeddinggemma-2", "text": "hi"}, headers=key
    )
    assert old_api.status_code == 200, old_api.text
    note = send_chunked(web, "/api/items", data={"text": "a chunked note"}, headers=key)
    assert note.status_code == 201, note.text
    search = send_chunked(web, "/api/search", data={"text": "note"}, headers=key)
    assert search.status_code == 200, search.text
    upload = send_chunked(
        web, "/upload/file", data={"title": "streamed"}, files={"file": image}, headers=signed_in
    )
    assert upload.status_code == 201, upload.text
    assert Item.objects.get(title="streamed").original_filename == "a.png"
    by_file = send_chunked(web, "/search/file", files={"query_file": image}, headers=signed_in)
    assert by_file.status_code == 303, by_file.text
    assert by_file.headers["Location"].startswith("/?qf=")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chunked_bodies_over_the_caps_are_413s_under_gunicorn(web: str, api_key: str) -> None:
    key = {"x-api-key": api_key}
    # Just over the request cap: a larger overshoot would be more than gunicorn drains before
    # it answers, and it would close the connection under the client.
    too_long = send_chunked(
        web, "/api/items", data={"text": "x" * (REQUEST_CAP + 10_000)}, headers=key
    )
    big_file = send_chunked(
        web,
        "/api/items",
        files={"file": ("big.png", b"\0" * (UPLOAD_CAP + 1), "image/png")},
        headers=key,
    )

    assert too_long.status_code == 413
    assert too_long.json() == {
        "code": "file_too_large",
        "message": f"The request is larger than {REQUEST_CAP} bytes.",
    }
    assert big_file.status_code == 413
    assert big_file.json()["code"] == "file_too_large"
    assert Item.objects.count() == 0


class Unsized(io.RawIOBase):
    """A file whose size is unknown until it has been read, as a pipe or a socket."""

    def __init__(self, data: bytes, name: str) -> None:
        self.data = io.BytesIO(data)
        self.name = name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_sdk_streams_a_file_of_unknown_size_under_gunicorn(
    web: str, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWELVELABS_BASE_URL", f"{web}/v1.3")
    audio = make_audio("wav", seconds=2.0, sampling_rate=16000, channels=1)
    seen: list[httpx.Request] = []
    with httpx.Client(timeout=60, event_hooks={"request": [seen.append]}) as http:
        sdk = TwelveLabs(api_key=api_key, httpx_client=http)
        streamed = sdk.embed.create(model_name="marengo3.0", audio_file=Unsized(audio, "a.wav"))
        sized = sdk.embed.create(model_name="marengo3.0", audio_file=io.BytesIO(audio))

    assert seen[0].headers["Transfer-Encoding"] == "chunked"
    assert "Transfer-Encoding" not in seen[1].headers
    assert streamed.audio_embedding is not None and sized.audio_embedding is not None
    np.testing.assert_allclose(
        streamed.audio_embedding.segments[0].float_,
        sized.audio_embedding.segments[0].float_,
        atol=1e-6,
    )


# Content-Type headers that made Django fail while building the request, before any middleware
# or error handler ran: the server's own 500.
UNREADABLE_CONTENT_TYPES = {
    "text/plain; charset=base64": "'base64' is not a text encoding",
    "multipart/form-data; boundary=x; charset=rot13": "'rot13' is not a text encoding",
    "text/plain; title*=nowhere''x": "Invalid encoding 'nowhere'",
}


@pytest.mark.parametrize("header", [*UNREADABLE_CONTENT_TYPES, "text/plain; charset=nowhere"])
def test_content_type_problem_names_only_what_django_cannot_read(header: str) -> None:
    # Django reads a request with a charset it does not know as UTF-8; that one is fine.
    expected = UNREADABLE_CONTENT_TYPES.get(header)

    problem = content_type_problem(header)

    assert problem is None if expected is None else expected in problem


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_unreadable_content_type_is_a_400_under_gunicorn(
    web: str, api_key: str, signed_in: dict[str, str]
) -> None:
    with httpx.Client(base_url=web, timeout=60) as client:
        for header, reason in UNREADABLE_CONTENT_TYPES.items():
            page = client.get("/?q=sea", headers={"Content-Type": header})
            api = client.get("/api/items/1", headers={"Content-Type": header, "x-api-key": api_key})
            form = client.post(
                "/search/file", content=b"q=sea", headers={"Content-Type": header, **signed_in}
            )

            assert (page.status_code, api.status_code, form.status_code) == (400, 400, 400)
            assert reason in html.unescape(page.text) and reason in html.unescape(form.text)
            assert api.json()["code"] == "parameter_invalid" and reason in api.json()["message"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_form_in_utf16_is_a_400_on_every_post_endpoint_under_gunicorn(
    web: str, api_key: str, signed_in: dict[str, str]
) -> None:
    paths = ["/v1.3/embed", "/api/items", "/api/search", "/search/file", "/upload/file"]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-16",
        "x-api-key": api_key,
        **signed_in,
    }
    with httpx.Client(base_url=web, timeout=60) as client:
        for path in [*paths, "/upload/note", "/accounts/login/", "/admin/login/", "/nowhere/"]:
            response = client.post(path, content="text=hello".encode("utf-16"), headers=headers)

            assert response.status_code == (404 if path == "/nowhere/" else 400), path
            if path.startswith(API_PATHS):
                assert response.json()["code"] == "parameter_invalid"
