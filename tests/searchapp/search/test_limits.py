from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from bench.media_factory import make_image

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_RATE_LIMIT_PER_MINUTE = 2
    settings.SEARCH_FILE_RATE_LIMIT_PER_MINUTE = 1
    # Every request of a test falls in one rate-limit window, whatever the clock says.
    moment = timezone.now().replace(second=30, microsecond=0)
    monkeypatch.setattr("embeddings.ratelimit.timezone.now", lambda: moment)


def search(client: Client, *, address: str = "192.0.2.1", **headers: str) -> HttpResponse:
    return client.get(
        "/",
        {"q": "sea"},
        REMOTE_ADDR=address,
        headers={"HX-Request": "true", **headers},
    )


def by_file(client: Client, *, address: str = "192.0.2.1") -> HttpResponse:
    image = SimpleUploadedFile("query.png", make_image("png"))
    return client.post(
        "/search/file", {"query_file": image}, REMOTE_ADDR=address, headers={"HX-Request": "true"}
    )


def test_text_searches_over_the_limit_are_refused_in_words_with_retry_after(model) -> None:  # type: ignore[no-untyped-def]
    statuses = [search(Client()).status_code for _ in range(2)]
    refused = search(Client())

    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "Too many searches from your address: at most 2 a minute." in refused.content.decode()
    assert 'role="alert"' in refused.content.decode()


def test_each_address_has_its_own_count(model) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        search(Client(), address="192.0.2.1")

    assert search(Client(), address="192.0.2.2").status_code == 200
    assert search(Client(), address="2001:db8::1").status_code == 200
    # The rest of that /64 is the same client.
    search(Client(), address="2001:db8::2")
    assert search(Client(), address="2001:db8::3").status_code == 429


def test_a_signed_in_user_is_counted_per_account(
    model, user_client: Client, django_user_model
) -> None:  # type: ignore[no-untyped-def]
    search(user_client, address="192.0.2.1")
    search(user_client, address="192.0.2.2")
    other = Client()
    other.force_login(django_user_model.objects.create_user("other", password="x"))

    refused = search(user_client, address="192.0.2.3")

    assert refused.status_code == 429
    assert "from your account" in refused.content.decode()
    assert search(other, address="192.0.2.1").status_code == 200
    assert search(Client(), address="192.0.2.1").status_code == 200


def test_file_searches_have_their_own_smaller_limit(model) -> None:  # type: ignore[no-untyped-def]
    first = by_file(Client())
    second = by_file(Client())

    assert first.status_code == 201
    assert second.status_code == 429
    assert (
        "Too many searches by file from your address: at most 1 a minute."
        in second.content.decode()
    )
    assert search(Client()).status_code == 200


def test_the_search_page_is_refused_with_the_page_and_the_reason(model) -> None:  # type: ignore[no-untyped-def]
    for _ in range(2):
        Client().get("/", {"q": "sea"})

    refused = Client().get("/", {"q": "sea"})
    plain = Client().get("/")

    assert refused.status_code == 429
    assert "Retry-After" in refused
    assert "Find anything by anything" in refused.content.decode()
    assert "Too many searches" in refused.content.decode()
    assert plain.status_code == 200


def test_the_search_api_without_a_key_is_limited_per_address(
    model, settings, api_client: Client
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_REQUIRE_API_KEY = False
    for _ in range(2):
        Client().post("/api/search", {"text": "sea"})

    refused = Client().post("/api/search", {"text": "sea"})

    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_requests"
    assert "Retry-After" in refused
    # A key's requests count against the key's own limit.
    assert api_client.post("/api/search", {"text": "sea"}).status_code == 200


def test_behind_a_trusted_proxy_each_forwarded_address_is_counted(model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(3):
        search(Client(), address="10.0.0.1", x_forwarded_for=f"198.51.100.{number}, 203.0.113.9")

    assert search(Client(), address="10.0.0.1", x_forwarded_for="203.0.113.9").status_code == 429
    assert search(Client(), address="10.0.0.1", x_forwarded_for="203.0.113.10").status_code == 200


def test_a_limit_of_zero_is_no_limit(model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_RATE_LIMIT_PER_MINUTE = 0

    assert [search(Client()).status_code for _ in range(4)] == [200] * 4
