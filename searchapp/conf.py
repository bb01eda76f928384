"""The search application's settings, each declared once (see embeddings.conf.Setting)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from embeddings.conf import Setting, boolean

SEARCH_REQUIRES_LOGIN = Setting(
    name="SEARCH_REQUIRES_LOGIN",
    default=False,
    parse=boolean,
    meaning="`true` makes searching need an account (uploading and curation always do)",
)

SEARCH_RATE_LIMIT_PER_MINUTE = Setting(
    name="SEARCH_RATE_LIMIT_PER_MINUTE",
    default=120,
    parse=int,
    meaning=(
        "searches by words, by item or by a kept file (`?qf=`) a minute per visitor (per "
        "account when signed in, else per address; `/`, page or results, and `/api/search` "
        "without a key); browsing is not counted; over it, 429 with `Retry-After`. `0` turns "
        "it off"
    ),
)

SEARCH_FILE_RATE_LIMIT_PER_MINUTE = Setting(
    name="SEARCH_FILE_RATE_LIMIT_PER_MINUTE",
    default=6,
    parse=int,
    meaning=(
        "searches by image or audio a minute per visitor (`POST /search/file`, which embeds "
        "the file and keeps it under a key), counted apart from the above"
    ),
)

SEARCH_MIN_SCORE = Setting(
    name="SEARCH_MIN_SCORE",
    default=0.1,
    parse=float,
    meaning="default minimum cosine similarity of a result; the search page has a control for it",
)

SEARCH_PAGE_SIZE = Setting(
    name="SEARCH_PAGE_SIZE",
    default=24,
    parse=int,
    meaning="results per page",
)

SEARCH_EF_SEARCH = Setting(
    name="SEARCH_EF_SEARCH",
    default=200,
    parse=int,
    meaning=(
        "pgvector `hnsw.ef_search`: higher finds more of the true nearest neighbours, slower "
        "(see docs/performance.md)"
    ),
)

SEARCH_QUERY_AUDIO_MAX_SEC = Setting(
    name="SEARCH_QUERY_AUDIO_MAX_SEC",
    default=30.0,
    parse=float,
    meaning=(
        "an audio clip used as a search query is searched by its first this many seconds; the"
        " rest is not decoded (the page and `/api/search`'s `query_audio_seconds` say so)"
    ),
)

SEARCH_QUERY_FILE_TTL_SEC = Setting(
    name="SEARCH_QUERY_FILE_TTL_SEC",
    default=86400,
    parse=int,
    meaning=(
        "how long a file searched with stays searchable by its link (`/?qf=…`): its vector "
        "and a small preview (a 480 px WebP, or the clip's first 10 s as Opus) are kept, "
        "never the file; afterwards the page asks for the file again"
    ),
)

SEARCH_QUERY_FILES_MAX = Setting(
    name="SEARCH_QUERY_FILES_MAX",
    default=10000,
    parse=int,
    meaning=(
        "most files searched with that are kept at once (at most about 130 KB each); past it "
        "the oldest go"
    ),
)

SEARCH_EXCLUDE_WEIGHT = Setting(
    name="SEARCH_EXCLUDE_WEIGHT",
    default=0.5,
    parse=float,
    meaning=(
        'how far a search moves away from the items marked "less like this" '
        "(`exclude_item_ids`): the query vector q becomes normalise(q − weight × mean of "
        "their vectors); `0` only hides them"
    ),
)

SEARCH_DUPLICATE_MIN_SCORE = Setting(
    name="SEARCH_DUPLICATE_MIN_SCORE",
    default=0.97,
    parse=float,
    meaning=(
        "cosine similarity from which two items count as near duplicates (`/duplicates/`, the"
        " admin's filter); pairs are found as items are embedded, and after lowering it "
        "`python manage.py find_duplicates` looks again"
    ),
)

LOGIN_FAILURES_PER_ACCOUNT = Setting(
    name="LOGIN_FAILURES_PER_ACCOUNT",
    default=5,
    parse=int,
    meaning=(
        "failed sign-ins (site or admin) to one account from one address that pause signing "
        "in to it from there"
    ),
)

LOGIN_FAILURES_PER_ADDRESS = Setting(
    name="LOGIN_FAILURES_PER_ADDRESS",
    default=30,
    parse=int,
    meaning=(
        "failed sign-ins to any accounts from one address that pause all signing in from there"
    ),
)

LOGIN_LOCKOUT_SEC = Setting(
    name="LOGIN_LOCKOUT_SEC",
    default=900,
    parse=int,
    meaning=(
        "how long a pause lasts after the last failure counted; while paused no password is "
        "checked, and the page says when to try again (429)"
    ),
)

TRUSTED_PROXY_COUNT = Setting(
    name="TRUSTED_PROXY_COUNT",
    default=0,
    parse=int,
    meaning=(
        "reverse proxies in front of the app that append to `X-Forwarded-For`; per-client "
        "limits (sign-in, search) take the client's address from that header past this many. "
        "`0` uses the connection's address"
    ),
)

DATABASE_REPLICA_MAX_LAG_SEC = Setting(
    name="DATABASE_REPLICA_MAX_LAG_SEC",
    default=10.0,
    parse=float,
    meaning=(
        "a read replica (`DATABASE_REPLICA_URLS`) further behind the primary than this is "
        "left out until it catches up; a client that has just written reads from the "
        "primary for this long (plus 2 s), so it sees its own writes"
    ),
)

SERVER_ROLE = Setting(
    name="SERVER_ROLE",
    default="app",
    parse=str,
    meaning=(
        "`app`: the library and the Embed API; `inference`: an inference node, which serves "
        "only the model's calls of `remote` web and worker processes and needs no database "
        "(`make serve-embeddings`; docs/scaling.md)"
    ),
)

SETTINGS: tuple[Setting[Any], ...] = (
    SERVER_ROLE,
    SEARCH_REQUIRES_LOGIN,
    SEARCH_RATE_LIMIT_PER_MINUTE,
    SEARCH_FILE_RATE_LIMIT_PER_MINUTE,
    SEARCH_MIN_SCORE,
    SEARCH_PAGE_SIZE,
    SEARCH_EF_SEARCH,
    SEARCH_QUERY_AUDIO_MAX_SEC,
    SEARCH_QUERY_FILE_TTL_SEC,
    SEARCH_QUERY_FILES_MAX,
    SEARCH_EXCLUDE_WEIGHT,
    SEARCH_DUPLICATE_MIN_SCORE,
    LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_PER_ADDRESS,
    LOGIN_LOCKOUT_SEC,
    TRUSTED_PROXY_COUNT,
    DATABASE_REPLICA_MAX_LAG_SEC,
)


# What each SERVER_ROLE serves.
ROLE_URLCONFS = {"app": "searchapp.urls", "inference": "embeddings.inference.urls"}


def urlconf_of(role: str) -> str:
    if role not in ROLE_URLCONFS:
        raise ImproperlyConfigured(f"SERVER_ROLE is {role!r}; use {' or '.join(ROLE_URLCONFS)}.")
    return ROLE_URLCONFS[role]
