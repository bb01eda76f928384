from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from searchapp.models import Item, Status
from searchapp.services.items import item_add_text
from tests.reliability.corpus import any_media, image_seeds
from tests.reliability.examples import fixed_examples

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FUZZ = fixed_examples(max_examples=120)
# The tokenizer's special tokens (the processor's media placeholders among them), whole and in
# pieces, among words.
TOKEN_PIECES = (
    *("<|image|>", "<|audio|>", "<|video|>", "<|image>", "<image|>", "<|audio>", "<audio|>"),
    *("<bos>", "<eos>", "<pad>", "<unk>", "<", "|", ">", "a", " "),
)
# Control characters, NUL, right-to-left marks and astral characters among ordinary words.
awkward_text = st.one_of(
    st.text(max_size=200),
    st.text(st.sampled_from("ab \x00\x01\x1b\x7f\u200f\ufeff\U0001f600\n\t"), max_size=50),
    st.lists(st.sampled_from(TOKEN_PIECES), min_size=1, max_size=20).map("".join),
    st.integers(0, 30_000).map(lambda words: "word " * words),
    st.just(" \n\t "),
)
numbers_as_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
    st.sampled_from(["nan", "-inf", "1e309", "-0", "0x10", "1_0", " 5 ", "", "½"]),
    st.text(max_size=10),
)
content_types = st.sampled_from(
    ["image/png", "audio/wav", "text/plain", "application/octet-stream", "image/svg+xml", ""]
)
filenames = st.one_of(
    st.sampled_from(["a.png", "b.wav", "c.mp3", "x.exe", "noext", ".png", "a" * 300 + ".jpg"]),
    # Lone surrogates (Cs) cannot be encoded into a request at all: the client fails, not the app;
    # and Django's test client refuses to build a file named "." or "..".
    st.text(
        st.characters(exclude_characters='\x00/\\\r\n"', exclude_categories=["Cs"]),
        min_size=1,
        max_size=40,
    ).filter(lambda name: name not in (".", "..")),
)


@st.composite
def uploads(draw: st.DrawFn) -> SimpleUploadedFile | None:
    if draw(st.booleans()):
        return None
    return SimpleUploadedFile(draw(filenames), draw(any_media()), draw(content_types))


@st.composite
def embed_forms(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model_name": draw(st.one_of(st.just("embeddinggemma-2"), st.just("marengo3.0"), st.text()))
    }
    optional = {
        "text": awkward_text,
        "text_truncate": st.one_of(st.sampled_from(["start", "end", "none"]), st.text(max_size=8)),
        "audio_start_offset_sec": numbers_as_text,
        "image_file": uploads(),
        "audio_file": uploads(),
        "surprise": st.text(max_size=5),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    return {name: value for name, value in fields.items() if value is not None}


def assert_refusal(response: HttpResponse, *, statuses: tuple[int, ...] = (400, 413)) -> None:
    assert response.status_code in statuses, response.content[:500]
    body = json.loads(response.content)
    assert body["code"] and body["message"]


def assert_unit_vectors(body: dict[str, Any]) -> None:
    for name in ("text_embedding", "image_embedding", "audio_embedding"):
        for segment in body.get(name, {}).get("segments", []):
            vector = np.asarray(segment["float"])
            assert np.isfinite(vector).all()
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


@pytest.fixture
def unlimited(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_RATE_LIMIT_PER_MINUTE = 0
    settings.SEARCH_RATE_LIMIT_PER_MINUTE = 0


@FUZZ
@given(form=embed_forms())
def test_embed_answers_any_form_with_embeddings_or_a_4xx(
    api_client: Client, unlimited: None, form: dict[str, Any]
) -> None:
    response = api_client.post("/v1.3/embed", form)

    if response.status_code == 200:
        assert_unit_vectors(response.json())
    else:
        assert_refusal(response)


@FUZZ
@given(body=st.binary(max_size=300), boundary=st.sampled_from(["b", "", "x" * 80]))
def test_embed_answers_a_malformed_multipart_body_with_a_400(
    api_client: Client, unlimited: None, body: bytes, boundary: str
) -> None:
    response = api_client.generic(
        "POST", "/v1.3/embed", body, content_type=f"multipart/form-data; boundary={boundary}"
    )

    assert_refusal(response)


@pytest.mark.parametrize("encoding", ["multipart", "urlencoded"])
def test_embed_reads_invalid_utf8_text_as_replacement_characters(
    api_client: Client, encoding: str
) -> None:
    text = b"caf\xe9 \xff\xfe bar"
    if encoding == "urlencoded":
        response = api_client.generic(
            "POST",
            "/v1.3/embed",
            b"model_name=embeddinggemma-2&text=caf%E9%20%FF%FE%20bar",
            content_type="application/x-www-form-urlencoded",
        )
    else:
        body = b"".join(
            b'--b\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % pair
            for pair in ((b"model_name", b"embeddinggemma-2"), (b"text", text))
        )
        response = api_client.generic(
            "POST",
            "/v1.3/embed",
            body + b"--b--\r\n",
            content_type="multipart/form-data; boundary=b",
        )

    assert response.status_code == 200
    assert_unit_vectors(response.json())


@FUZZ
@given(
    file=uploads(),
    text=st.one_of(st.none(), awkward_text),
    title=st.one_of(st.none(), awkward_text),
    tags=st.one_of(st.none(), awkward_text),
)
def test_the_library_api_stores_any_upload_as_an_item_or_refuses_it(
    api_client: Client,
    unlimited: None,
    file: SimpleUploadedFile | None,
    text: str | None,
    title: str | None,
    tags: str | None,
) -> None:
    fields = {"file": file, "text": text, "title": title, "tags": tags}
    response = api_client.post(
        "/api/items", {name: value for name, value in fields.items() if value is not None}
    )

    if response.status_code not in (200, 201):
        assert_refusal(response)
        return
    item = Item.objects.get(pk=response.json()["id"])
    # The embedding ran in the request (immediate task backend): it ends in a known state.
    assert item.status in (Status.READY, Status.FAILED)
    if item.status == Status.FAILED:
        assert item.error_message and not item.error_message.startswith("Gave up")


@FUZZ
@given(file=uploads(), title=st.one_of(st.none(), awkward_text))
def test_the_upload_form_stores_any_file_or_says_why_not(
    user_client: Client, file: SimpleUploadedFile | None, title: str | None
) -> None:
    fields = {"file": file, "title": title}
    response = user_client.post(
        "/upload/file", {name: value for name, value in fields.items() if value is not None}
    )

    assert response.status_code in (200, 201, 400, 413)
    if response.status_code >= 400:
        assert response.content.strip()


@FUZZ
@given(text=awkward_text, tag=st.one_of(st.none(), awkward_text))
def test_searching_by_any_text_gives_results_or_a_4xx(
    api_client: Client, unlimited: None, text: str, tag: str | None
) -> None:
    item_add_text(text="word of the day")
    api = api_client.post("/api/search", {"text": text})
    partial = Client().get(
        "/", {"q": text, **({"tag": tag} if tag else {})}, HTTP_HX_REQUEST="true"
    )

    if api.status_code == 200:
        assert isinstance(api.json()["results"], list)
    else:
        assert_refusal(api)
    assert partial.status_code in (200, 400)


def test_nul_characters_are_dropped_from_what_is_stored_and_searched(api_client: Client) -> None:
    note = api_client.post("/api/items", {"text": "rain\x00 on a roof", "tags": "we\x00t"})
    upload = api_client.post(
        "/api/items",
        {"file": SimpleUploadedFile("a\x00.png", image_seeds()["png"]), "title": "\x00sky"},
    )
    search = api_client.post("/api/search", {"text": "rain\x00"})

    assert (note.status_code, upload.status_code, search.status_code) == (201, 201, 200)
    assert (note.json()["text"], note.json()["tags"]) == ("rain on a roof", ["wet"])
    assert (upload.json()["original_filename"], upload.json()["title"]) == ("a.png", "sky")
    assert note.json()["id"] in [hit["id"] for hit in search.json()["results"]]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"text": "w " * 10_001}, "the text is longer than 20000 characters"),
        ({"text": "a note", "description": "d" * 5001}, "longer than 5000 characters"),
        (
            {"file": SimpleUploadedFile("a.png", image_seeds()["png"]), "description": "d" * 5001},
            "the description is longer than 5000 characters",
        ),
    ],
    ids=["text", "description-of-a-note", "description-of-a-file"],
)
def test_text_too_long_to_index_is_refused(
    api_client: Client, fields: dict[str, Any], message: str
) -> None:
    response = api_client.post("/api/items", fields)

    assert response.status_code == 400
    assert message in response.json()["message"]
    assert Item.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "status"),
    [("x " * 1000, 200), ("a&b|!c<->(d " * 166, 200), ("word " * 401, 400), ("word " * 30000, 400)],
    ids=["many-words", "operators", "over-the-limit", "far-over"],
)
def test_a_long_text_search_is_answered_or_refused(
    api_client: Client, text: str, status: int
) -> None:
    item_add_text(text="word of the day")
    response = api_client.post("/api/search", {"text": text})

    assert response.status_code == status
    if status == 400:
        assert "at most 2000 characters" in response.json()["message"]


@FUZZ
@given(
    text=st.one_of(st.none(), awkward_text),
    file=uploads(),
    item_id=st.one_of(st.none(), numbers_as_text),
    limit=st.one_of(st.none(), numbers_as_text),
    min_score=st.one_of(st.none(), numbers_as_text),
    modality=st.one_of(st.none(), st.sampled_from(["image", "audio", "text", "video"])),
)
def test_library_search_answers_any_query_with_results_or_a_4xx(
    api_client: Client,
    unlimited: None,
    text: str | None,
    file: SimpleUploadedFile | None,
    item_id: str | None,
    limit: str | None,
    min_score: str | None,
    modality: str | None,
) -> None:
    fields = {
        "text": text,
        "image_file": file,
        "item_id": item_id,
        "limit": limit,
        "min_score": min_score,
        "modality": modality,
    }
    response = api_client.post(
        "/api/search", {name: value for name, value in fields.items() if value is not None}
    )

    if response.status_code == 200:
        assert isinstance(response.json()["results"], list)
    else:
        assert_refusal(response)
