from __future__ import annotations

import codecs
from collections.abc import Iterable
from tempfile import SpooledTemporaryFile
from typing import IO
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from django.conf import settings
from django.utils.http import parse_header_parameters

from embeddings.api.body_limit import is_chunked
from embeddings.conf import embeddings_settings

Environ = WSGIEnvironment
WsgiApp = WSGIApplication

READ_SIZE = 64 * 1024
# Where ReadableContentType leaves the reason it set an unreadable Content-Type aside.
CONTENT_TYPE_PROBLEM = "searchapp.content_type_problem"


def served(app: WsgiApp) -> WsgiApp:
    """The Django app as the web server runs it (searchapp.wsgi)."""
    return ChunkedRequestBodies(ReadableContentType(app))


class ChunkedRequestBodies:
    """Hands the app a chunked request body as one with a Content-Length (Django reads only
    Content-Length bytes), when the server says where the body ends (`wsgi.input_terminated`,
    as gunicorn does).

    The body is read up to the request size cap plus one byte: in memory up to
    FILE_UPLOAD_MAX_MEMORY_SIZE, on disk past it. A longer body reaches the app declaring that
    length, and RequestSizeLimitMiddleware refuses it (413) before anything parses it. A server
    that cannot de-chunk leaves the request as it is, and the middleware answers 411.
    """

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not (is_chunked(environ) and environ.get("wsgi.input_terminated")):
            return self.app(environ, start_response)
        with SpooledTemporaryFile(
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE, dir=settings.FILE_UPLOAD_TEMP_DIR
        ) as body:
            length = _copy(
                environ["wsgi.input"], body, limit=embeddings_settings().max_request_bytes + 1
            )
            body.seek(0)
            dechunked = {**environ, "wsgi.input": body, "CONTENT_LENGTH": str(length)}
            del dechunked["HTTP_TRANSFER_ENCODING"]
            # The view has parsed the body by the time the app returns, so it can be closed.
            return self.app(dechunked, start_response)


class ReadableContentType:
    """Sets aside a Content-Type that Django would fail on while building the request, before
    any middleware or error handler could answer (the server's own 500): a charset that is a
    codec but no text encoding (`base64`, `rot13`: the query string is decoded with it), or a
    parameter in an encoding Python does not know (`a*=x''y`). The request goes on without it,
    and the app refuses it with the reason (UnreadableRequestMiddleware)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        problem = content_type_problem(environ.get("CONTENT_TYPE", ""))
        if problem is not None:
            environ = {**environ, "CONTENT_TYPE": "", CONTENT_TYPE_PROBLEM: problem}
        return self.app(environ, start_response)


def content_type_problem(header: str) -> str | None:
    try:
        _, params = parse_header_parameters(header)
    except ValueError as error:
        return f"The Content-Type header cannot be read: {error}"
    charset = params.get("charset", "")
    if _is_codec(charset) and not _is_text_encoding(charset):
        return f"The Content-Type charset {charset!r} is not a text encoding."
    return None


def _is_codec(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        # Django ignores a charset it does not know and reads the request as UTF-8.
        return False
    return True


def _is_text_encoding(name: str) -> bool:
    try:
        # Decoding refuses a codec that is not a text encoding, but only for non-empty input.
        b"a".decode(name, errors="replace")
    except LookupError:
        return False
    return True


def _copy(source: IO[bytes], target: IO[bytes], *, limit: int) -> int:
    copied = 0
    while copied < limit:
        chunk = source.read(min(READ_SIZE, limit - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied
