from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from embeddings.ratelimit import rate_limit_consume
from searchapp import conf
from searchapp.clients import client_address


@dataclass(frozen=True, kw_only=True)
class SearchRefusal:
    message: str
    headers: dict[str, str]


def search_refusal(request: HttpRequest, *, by_file: bool) -> SearchRefusal | None:
    """Counts one search by this visitor (a signed-in user per account, anyone else per address);
    the refusal once over the minute's limit. Searches by file cost the model far more than by
    words (or by item), so they have their own, smaller limit."""
    if by_file:
        kind, limit = "file-search", conf.SEARCH_FILE_RATE_LIMIT_PER_MINUTE.value()
    else:
        kind, limit = "search", conf.SEARCH_RATE_LIMIT_PER_MINUTE.value()
    if limit <= 0:
        return None
    if request.user.is_authenticated:
        who, whose = f"user:{request.user.pk}", "your account"
    else:
        who, whose = f"address:{client_address(request)}", "your address"
    count = rate_limit_consume(scope=f"{kind}:{who}", limit=limit)
    if not count.exceeded:
        return None
    searches = "searches by file" if by_file else "searches"
    return SearchRefusal(
        message=f"Too many {searches} from {whose}: at most {limit} a minute. "
        f"Try again in {count.retry_after_sec} seconds.",
        headers=count.headers,
    )
