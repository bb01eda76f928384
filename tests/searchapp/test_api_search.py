"""POST /api/search: an image and words together, items to find less of, and the search
page's filters and paging under the API's names."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bench.media_factory import make_audio, make_image
from embeddings.services import embed_image_with_text
from searchapp.models import Item, ItemEmbedding
from searchapp.search.library import MAX_EXCLUDED_ITEMS
from searchapp.services.items import ItemDetails, item_add_text, items_set_hidden

pytestmark = pytest.mark.django_db(transaction=True)


def search(client: Client, **fields: Any) -> Any:
    return client.post("/api/search", {"min_score": "-1", **fields})


def result_ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [hit["id"] for hit in response.json()["results"]]


def test_text_with_an_image_file_is_one_composed_query(api_client: Client) -> None:
    png = make_image("png", size=(120, 90))
    at_night, _ = item_add_text(text="the same place after dark")
    ItemEmbedding.objects.filter(item=at_night).update(
        embedding=embed_image_with_text(png, "at night").vector.tolist()
    )
    item_add_text(text="something else")

    response = search(
        api_client, text="at night", image_file=SimpleUploadedFile("q.png", png), limit="1"
    )

    assert result_ids(response) == [at_night.pk]
    assert response.json()["results"][0]["score"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"text": "louder", "audio_file": ("q.wav", make_audio("wav", seconds=1.0))},
            "text can refine an image_file, not an audio_file: send one of them.",
        ),
        (
            {
                "image_file": ("q.png", make_image("png")),
                "audio_file": ("q.wav", make_audio("wav", seconds=1.0)),
            },
            "Send image_file or audio_file, not both.",
        ),
    ],
    ids=["text with audio", "image with audio"],
)
def test_queries_that_cannot_be_combined_are_a_400(
    api_client: Client, files: dict[str, Any], message: str
) -> None:
    fields = {
        name: SimpleUploadedFile(*value) if isinstance(value, tuple) else value
        for name, value in files.items()
    }

    response = search(api_client, **fields)

    assert response.status_code == 400
    assert response.json() == {"code": "parameter_invalid", "message": message}


def test_excluded_items_are_never_returned_whether_comma_separated_or_repeated(
    api_client: Client,
) -> None:
    notes = [item_add_text(text=f"boats in harbour {n}")[0].pk for n in range(4)]

    comma = search(api_client, text="boats", exclude_item_ids=f"{notes[0]}, {notes[1]}")
    repeated = search(api_client, text="boats", exclude_item_ids=[str(notes[0]), str(notes[2])])

    assert sorted(result_ids(comma)) == [notes[2], notes[3]]
    assert sorted(result_ids(repeated)) == [notes[1], notes[3]]


def test_hidden_and_unknown_excluded_ids_are_ignored(api_client: Client) -> None:
    shown, _ = item_add_text(text="a red boat")
    hidden, _ = item_add_text(text="a blue boat")
    items_set_hidden(items=Item.objects.filter(pk=hidden.pk), hidden=True)

    response = search(api_client, text="boat", exclude_item_ids=f"{hidden.pk},987654")

    assert result_ids(response) == [shown.pk]


@pytest.mark.parametrize(
    "excluded",
    [
        ",".join(str(n) for n in range(1, MAX_EXCLUDED_ITEMS + 2)),
        "12,boat",
        "0",
        "²",
        str(2**63),
    ],
    ids=["too many", "not a number", "zero", "a superscript digit", "past bigint"],
)
def test_bad_exclude_item_ids_are_a_400(api_client: Client, excluded: str) -> None:
    response = search(api_client, text="boat", exclude_item_ids=excluded)

    assert response.status_code == 400
    assert response.json()["message"].startswith("exclude_item_ids: ")


def test_openapi_says_what_text_with_an_image_and_exclude_item_ids_mean() -> None:
    operation = Client().get("/openapi.json").json()["paths"]["/api/search"]["post"]
    fields = operation["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]

    assert "composed query" in operation["description"]
    assert "normalise(q - w * n)" in operation["description"]
    assert fields["exclude_item_ids"]["maxItems"] == MAX_EXCLUDED_ITEMS


def test_results_come_page_by_page_until_has_more_is_false(api_client: Client) -> None:
    notes = {item_add_text(text=f"boats in harbour {n}")[0].pk for n in range(5)}

    pages = [search(api_client, text="boats", limit="2", page=str(n)).json() for n in (1, 2, 3)]

    assert [page["page"] for page in pages] == [1, 2, 3]
    assert [len(page["results"]) for page in pages] == [2, 2, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert {hit["id"] for page in pages for hit in page["results"]} == notes


def test_a_tag_keeps_only_the_items_that_have_it(api_client: Client) -> None:
    tagged, _ = item_add_text(text="gulls", details=ItemDetails(tags=["harbour"]))
    item_add_text(text="gulls over the field", details=ItemDetails(tags=["farm"]))
    item_add_text(text="gulls again")

    assert result_ids(search(api_client, text="gulls", tag="harbour")) == [tagged.pk]


def test_semantic_ranks_by_the_vectors_alone(api_client: Client) -> None:
    item_add_text(text="a note", details=ItemDetails(title="lighthouse"))

    fused = search(api_client, text="lighthouse").json()["results"]
    semantic = search(api_client, text="lighthouse", semantic="true").json()["results"]

    assert [hit["text_match"] for hit in fused] == [True]
    assert [hit["text_match"] for hit in semantic] == [False]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"text": "x" * 2001},
            "text: The search text is too long: at most 2000 characters (it has 2001).",
        ),
        ({"text": "x", "page": "0"}, "page: There is no such page: pages go from 1 to 1000."),
        ({"text": "x", "tag": "t" * 65}, "tag: A tag is at most 64 characters long."),
        ({"item_id": "boat"}, "item_id: “More like this” needs an item number."),
    ],
    ids=["long text", "page 0", "long tag", "item_id not a number"],
)
def test_the_api_refuses_what_the_search_page_refuses_naming_the_field(
    api_client: Client, client: Client, fields: dict[str, str], message: str
) -> None:
    api_names = {"text": "q", "item_id": "item"}
    page = client.get("/", {api_names.get(name, name): value for name, value in fields.items()})

    response = search(api_client, **fields)

    assert response.status_code == 400
    assert response.json() == {"code": "parameter_invalid", "message": message}
    assert page.status_code == 400
    assert message.split(": ", 1)[1] in page.content.decode()


def test_page_and_limit_reach_no_deeper_than_the_search_pages_last_page(
    api_client: Client,
) -> None:
    deepest = search(api_client, text="boats", page="240", limit="100")
    past_it = search(api_client, text="boats", page="241", limit="100")

    assert deepest.status_code == 200
    assert past_it.status_code == 400
    assert past_it.json() == {
        "code": "parameter_invalid",
        "message": "page: Results go 24000 deep: page × limit is at most that.",
    }
