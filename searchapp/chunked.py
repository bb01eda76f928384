from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from tempfile import SpooledTemporaryFile
from typing import IO, Any

from django.conf import settings

from embeddings.conf import embeddings_settings

Environ = MutableMapping[str, Any]
WsgiApp = Callable[[Environ, Callable[..., Any]], Iterable[bytes]]

READ_SIZE = 64 * 1024


def is_chunked(environ: Environ) -> bool:
    """A body sent in chunks, with no Content-Length to say how long it is."""
    encodings = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encodings and not environ.get("CONTENT_LENGTH")


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

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
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


def _copy(source: IO[bytes], target: IO[bytes], *, limit: int) -> int:
    copied = 0
    while copied < limit:
        chunk = source.read(min(READ_SIZE, limit - copied))
        if not chunk:
            break
        target.write(chunk)
        copied += len(chunk)
    return copied
