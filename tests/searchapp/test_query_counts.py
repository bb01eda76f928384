"""Pages cost a fixed number of queries however many results they show (no N+1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.media_factory import make_audio, make_image
from searchapp.models import NearDuplicate
from searchapp.search.search_model import search_model_key
from searchapp.services.embedding import item_fail
from searchapp.services.items import ItemDetails, item_add_file, item_add_text

pytestmark = pytest.mark.django_db(transaction=True)


def add_notes(count: int, start: int = 0) -> list[int]:
    return [
        item_add_text(
            text=f"note about the sea number {start + i}", details=ItemDetails(tags=["sea"])
        )[0].pk
        for i in range(count)
    ]


def queries(request: Callable[[], object]) -> int:
    request()  # warm caches: the model, the search model, sessions
    with CaptureQueriesContext(connection) as captured:
        request()
    return len(captured)


@pytest.mark.parametrize(
    ("request_page", "budget"),
    [
        # One query of each search counts the visitor's searches (SEARCH_RATE_LIMIT_PER_MINUTE);
        # one checks the candidates by id, one reads the page's items.
        (lambda ids: Client().get("/", {"q": "sea", "min_score": "-1"}, HTTP_HX_REQUEST="true"), 8),
        (lambda ids: Client().get("/", {"q": "sea", "min_score": "-1"}), 8),
        (lambda ids: Client().get("/", {"q": "sea", "min_score": "-1", "sort": "newest"}), 8),
        (lambda ids: Client().get("/", {"item": ids[0], "min_score": "-1"}), 9),
        (lambda ids: Client().get("/"), 2),
        # The empty result asks whether the library is empty, to say why.
        (lambda ids: Client().get("/", {"modality": "text", "tag": "sea", "by": "x"}), 3),
        (lambda ids: Client().get(f"/items/{ids[0]}/"), 8),
        (lambda ids: Client().get(f"/items/{ids[0]}/viewer"), 2),
    ],
    ids=[
        "results",
        "search page",
        "sorted by date",
        "more like this",
        "browse",
        "browse filtered",
        "item page",
        "viewer",
    ],
)
def test_a_page_costs_the_same_queries_for_3_or_15_results(
    model, request_page: Callable[[list[int]], object], budget: int
) -> None:  # type: ignore[no-untyped-def]
    ids = add_notes(3)
    few = queries(lambda: request_page(ids))
    add_notes(12, start=3)

    many = queries(lambda: request_page(ids))

    assert many == few
    assert few <= budget


def test_a_file_search_by_its_key_costs_the_same_queries_for_3_or_15_results(model) -> None:  # type: ignore[no-untyped-def]
    add_notes(3)
    kept = Client().post(
        "/search/file",
        {"query_file": SimpleUploadedFile("q.png", make_image("png")), "min_score": "-1"},
        HTTP_HX_REQUEST="true",
    )
    few = queries(lambda: Client().get(kept["Location"]))
    add_notes(12, start=3)

    many = queries(lambda: Client().get(kept["Location"]))

    assert many == few
    assert few <= 8


def test_the_search_model_is_looked_up_once_when_the_library_is_on_the_configured_model(
    model,
) -> None:  # type: ignore[no-untyped-def]
    add_notes(2)
    search_model_key()

    with CaptureQueriesContext(connection) as captured:
        search_model_key()

    assert len(captured) == 0


def test_the_duplicates_page_costs_the_same_queries_for_2_or_10_groups(model, user) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    ids = add_notes(20)
    NearDuplicate.objects.all().delete()

    def link_groups(count: int) -> None:
        NearDuplicate.objects.bulk_create(
            NearDuplicate(item_id=a, other_id=b, model_key=search_model_key(), score=0.99)
            for a, b in list(zip(ids[::2], ids[1::2], strict=True))[:count]
        )

    link_groups(2)
    few = queries(lambda: client.get("/duplicates/"))
    NearDuplicate.objects.all().delete()
    link_groups(10)

    many = queries(lambda: client.get("/duplicates/"))

    assert many == few
    assert few <= 5


def test_the_upload_page_costs_the_same_queries_for_3_or_15_rows(user, user_client) -> None:  # type: ignore[no-untyped-def]
    def add(count: int, start: int) -> None:
        for i in range(count):
            item, _ = item_add_text(text=f"note {start + i}", added_by=user)
            item_fail(item_id=item.pk, reason="an error on the server stopped the embedding.")

    add(3, 0)
    few = queries(lambda: user_client.get("/upload/"))
    add(12, 3)

    assert queries(lambda: user_client.get("/upload/")) == few
    assert few <= 3


def test_an_owners_audio_item_page_costs_a_fixed_number_of_queries(
    model, user, user_client
) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_audio("wav", seconds=25.0), filename="a.wav", added_by=user)
    add_notes(12)

    assert queries(lambda: user_client.get(f"/items/{item.pk}/")) <= 11
