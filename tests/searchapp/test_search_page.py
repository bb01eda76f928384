"""The search page as a media library: file queries kept under a key, browsing, sorting, empty
states that say why, scores people can read, and the viewer's partial."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import av
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from bench.media_factory import make_audio, make_image
from searchapp.models import Item, QueryFile
from searchapp.services.items import ItemDetails, item_add_file, item_add_text, items_set_hidden

pytestmark = pytest.mark.django_db(transaction=True)


def keep_file(client: Client, name: str, data: bytes, **params: str) -> str:
    response = client.post(
        "/search/file",
        {"query_file": SimpleUploadedFile(name, data), **params},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 201, response.content.decode()
    return response["Location"]


def cards(html: str) -> list[str]:
    return re.findall(r'class="card-title" title="([^"]*)"', html)


def test_a_file_search_is_a_url_that_pages_filters_and_reloads(model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_PAGE_SIZE = 2
    for number in range(5):
        item_add_text(text=f"note number {number} about the sea")
    client = Client()

    url = keep_file(client, "horse.png", make_image("png"), min_score="-1", modality="text")
    first = client.get(url)
    second = Client().get(url + "&page=2")
    reload = Client().get(url)

    assert url.startswith("/?qf=") and "modality=text" in url
    assert len(cards(first.content.decode())) == 2
    assert len(cards(second.content.decode())) == 2
    assert set(cards(first.content.decode())).isdisjoint(cards(second.content.decode()))
    assert cards(reload.content.decode()) == cards(first.content.decode())
    assert "horse.png" in second.content.decode()


def test_a_file_search_without_scripts_is_redirected_to_its_url(model) -> None:  # type: ignore[no-untyped-def]
    response = Client().post(
        "/search/file", {"query_file": SimpleUploadedFile("q.png", make_image("png"))}
    )

    assert response.status_code == 303
    assert response["Location"].startswith("/?qf=")


def test_a_file_search_shows_what_was_searched_with_a_way_to_clear_it(model) -> None:  # type: ignore[no-untyped-def]
    item_add_text(text="a note")
    client = Client()
    url = keep_file(client, "horse.png", make_image("png", size=(640, 480)), tag="farm")

    html = client.get(url).content.decode()
    key = url.split("qf=")[1].split("&")[0]
    preview = client.get(f"/search/file/{key}/preview")

    assert f'src="/search/file/{key}/preview"' in html
    assert 'href="/?tag=farm"' in html  # Clear: the same filters, no file
    assert preview["Content-Type"] == "image/webp"
    assert "sandbox" in preview["Content-Security-Policy"]
    assert max(Image.open(io.BytesIO(preview.content)).size) <= 480


def test_a_sound_searched_with_is_previewed_by_its_first_seconds(model) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    url = keep_file(client, "gulls.mp3", make_audio("mp3", seconds=25.0))
    key = url.split("qf=")[1]

    preview = client.get(f"/search/file/{key}/preview")

    assert preview["Content-Type"] == "audio/ogg"
    with av.open(io.BytesIO(preview.content)) as container:
        assert container.duration / 1e6 == pytest.approx(10.0, abs=0.1)
    assert len(preview.content) < 64 * 1024


def test_a_file_search_expires(model, settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client = Client()
    url = keep_file(client, "horse.png", make_image("png"))
    QueryFile.objects.update(created_at=QueryFile.objects.get().created_at - timedelta(days=2))

    response = client.get(url)

    assert response.status_code == 200
    assert "This file search has expired" in response.content.decode()


def test_file_searches_are_kept_up_to_a_number_the_oldest_go_first(model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_QUERY_FILES_MAX = 2
    client = Client()
    urls = [keep_file(client, f"{n}.png", make_image("png", size=(60 + n, 60))) for n in range(3)]

    assert QueryFile.objects.count() == 2
    assert "has expired" in client.get(urls[0]).content.decode()
    assert "has expired" not in client.get(urls[2]).content.decode()


def test_a_damaged_file_search_link_says_so_without_field_names(model) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/", {"qf": "not a key!"})

    assert response.status_code == 400
    assert "This link to a file search is damaged" in response.content.decode()
    assert "qf" not in re.sub(r'name="qf"', "", response.content.decode()).split("<main")[1]


def test_an_over_long_query_says_so_in_words(model) -> None:  # type: ignore[no-untyped-def]
    page = Client().get("/", {"q": "sea " * 600})
    partial = Client().get("/", {"q": "sea " * 600}, HTTP_HX_REQUEST="true")

    assert (page.status_code, partial.status_code) == (400, 400)
    for response in (page, partial):
        html = response.content.decode()
        assert "The search text is too long: at most 2000 characters (it has 2399)." in html
        assert "q:" not in html


def test_the_search_page_is_the_page_or_for_htmx_its_results(model) -> None:  # type: ignore[no-untyped-def]
    item_add_text(text="a note about the sea")

    page = Client().get("/", {"q": "sea"})
    partial = Client().get("/", {"q": "sea"}, HTTP_HX_REQUEST="true")
    boosted = Client().get("/", {"q": "sea"}, HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    restored = Client().get(
        "/", {"q": "sea"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )

    assert 'id="search-form"' in page.content.decode()
    assert 'id="search-form"' not in partial.content.decode()
    assert 'id="search-status" hx-swap-oob="innerHTML"' in partial.content.decode()
    assert 'id="search-form"' in boosted.content.decode()
    assert 'id="search-form"' in restored.content.decode()
    assert "HX-Request" in page["Vary"] and "HX-Request" in partial["Vary"]


def test_browsing_shows_the_library_newest_first_by_type_tag_and_uploader(
    model, django_user_model
) -> None:  # type: ignore[no-untyped-def]
    alice = django_user_model.objects.create_user("alice")
    bob = django_user_model.objects.create_user("bob")
    item_add_text(text="first note", details=ItemDetails(tags=["sea"]), added_by=alice)
    item_add_file(data=make_image("png"), filename="boat.png", added_by=bob)
    item_add_text(text="second note", details=ItemDetails(tags=["sea"]), added_by=bob)
    hidden, _ = item_add_text(text="hidden note", details=ItemDetails(tags=["sea"]))
    items_set_hidden(items=Item.objects.filter(pk=hidden.pk), hidden=True)

    everything = Client().get("/").content.decode()
    texts = Client().get("/", {"modality": "text"}).content.decode()
    tagged = Client().get("/", {"tag": "sea"}).content.decode()
    by_bob = Client().get("/", {"by": "bob"}).content.decode()

    assert cards(everything) == ["second note", "boat.png", "first note"]
    assert cards(texts) == ["second note", "first note"]
    assert cards(tagged) == ["second note", "first note"]
    assert "Tagged “sea”" in tagged
    assert cards(by_bob) == ["second note", "boat.png"]
    assert '<option value="alice"' in everything and '<option value="bob"' in everything


def test_an_empty_library_says_so(model) -> None:  # type: ignore[no-untyped-def]
    browse = Client().get("/").content.decode()
    search = Client().get("/", {"q": "sea"}).content.decode()

    for html in (browse, search):
        assert "The library is empty" in html


def test_nothing_above_the_cutoff_offers_weaker_matches_in_one_click(model) -> None:  # type: ignore[no-untyped-def]
    item_add_text(text="a note about the sea")

    html = Client().get("/", {"q": "zzz", "min_score": "1", "semantic": "on"}).content.decode()
    weaker = re.search(r'href="([^"]*)">Show weaker matches', html)

    assert "No match is close enough" in html
    assert weaker is not None
    assert cards(Client().get(weaker.group(1).replace("&amp;", "&")).content.decode())


def test_filters_that_match_nothing_say_so_when_browsing(model) -> None:  # type: ignore[no-untyped-def]
    item_add_text(text="a note about the sea")

    html = Client().get("/", {"tag": "mountains"}).content.decode()

    assert "Nothing in the library matches these filters." in html
    assert "The library is empty" not in html


def test_results_can_be_sorted_newest_first(model) -> None:  # type: ignore[no-untyped-def]
    for text in ("older sea note", "middle sea note", "newest sea note"):
        item_add_text(text=text)

    html = Client().get("/", {"q": "sea note", "min_score": "-1", "sort": "newest"}).content
    titles = cards(html.decode())

    assert titles == ["newest sea note", "middle sea note", "older sea note"]


def test_cards_show_a_match_quality_and_never_a_negative_number(model) -> None:  # type: ignore[no-untyped-def]
    for number in range(6):
        item_add_text(text=f"note {number}")

    html = Client().get("/", {"q": "zebra crossing", "min_score": "-1"}).content.decode()
    visible = re.sub(r'title="[^"]*"', "", html)

    assert re.search(r"(Strong|Good|Weak) match", html)
    assert 'title="Cosine similarity ' in html
    assert not re.search(r">[^<]*-0\.\d", visible)


def test_more_like_this_of_a_missing_item_says_so(model) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/", {"item": "999"})

    assert "That item is not in the library" in response.content.decode()


def test_the_viewer_shows_an_item_large_with_a_link_to_its_page(model) -> None:  # type: ignore[no-untyped-def]
    long_text = "A long note. " + "More words. " * 300 + "The very end."
    note, _ = item_add_text(text=long_text, details=ItemDetails(tags=["sea"]))
    clip, _ = item_add_file(data=make_audio("wav", seconds=2.0), filename="waves.wav")

    text = Client().get(f"/items/{note.pk}/viewer").content.decode()
    audio = Client().get(f"/items/{clip.pk}/viewer", {"start": "1.5"}).content.decode()

    assert "The very end." in text
    assert f'href="/items/{note.pk}/"' in text
    assert 'href="/?tag=sea"' in text
    assert f'src="/items/{clip.pk}/media#t=1.5"' in audio
    assert 'aria-label="Play waves.wav"' in audio


def test_the_viewer_does_not_show_hidden_items(model) -> None:  # type: ignore[no-untyped-def]
    note, _ = item_add_text(text="secret")
    items_set_hidden(items=Item.objects.all(), hidden=True)

    assert Client().get(f"/items/{note.pk}/viewer").status_code == 404


def test_tags_on_the_item_page_browse_their_items(model) -> None:  # type: ignore[no-untyped-def]
    note, _ = item_add_text(text="alone with its tag", details=ItemDetails(tags=["lonely"]))

    page = Client().get(f"/items/{note.pk}/").content.decode()
    tagged = Client().get("/", {"tag": "lonely"}).content.decode()

    assert 'href="/?tag=lonely"' in page
    assert cards(tagged) == ["alone with its tag"]


def test_words_typed_with_an_image_are_one_query_kept_under_its_key(model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_MIN_SCORE = -1.0
    item_add_text(text="a harbour at night with lights on the water")
    client = Client()
    image = make_image("png")

    composed = keep_file(client, "harbour.png", image, q="but at night")
    alone = keep_file(client, "harbour.png", image)
    page = client.get(composed).content.decode()

    kept = QueryFile.objects.get(key=composed.split("qf=")[1].split("&")[0])
    assert kept.words == "but at night"
    assert "q=" not in composed.split("?")[1].replace("qf=", "")
    assert "+ “but at night”" in page
    image_alone = QueryFile.objects.get(key=alone.split("qf=")[1])
    assert not np.allclose(kept.embedding, image_alone.embedding)


def test_words_cannot_refine_a_sound_and_the_page_says_so(model) -> None:  # type: ignore[no-untyped-def]
    response = Client().post(
        "/search/file",
        {
            "query_file": SimpleUploadedFile("rain.wav", make_audio("wav", seconds=2.0)),
            "q": "louder",
        },
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 400
    assert "words can refine an image, not a sound" in response.content.decode()


def test_less_like_this_moves_away_from_an_item_and_can_be_taken_back(model, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SEARCH_MIN_SCORE = -1.0
    kept, _ = item_add_text(text="sea birds over the harbour")
    dropped, _ = item_add_text(text="sea shells on the beach")
    client = Client()

    before = client.get("/", {"q": "sea"}).content.decode()
    after = client.get("/", {"q": "sea", "exclude": str(dropped.pk)}).content.decode()
    taken_back = re.search(r'class="chip-link" href="([^"]*)"', after)

    assert {kept.display_title, dropped.display_title} <= set(cards(before))
    assert f"exclude={dropped.pk}" in before  # each card's "Less like this" link
    assert cards(after) == [kept.display_title]
    assert "Less like:" in after and taken_back is not None
    assert "exclude" not in taken_back.group(1)
    back = client.get(taken_back.group(1).replace("&amp;", "&")).content.decode()
    assert dropped.display_title in cards(back)


def test_a_damaged_exclude_parameter_is_explained_in_words(model) -> None:  # type: ignore[no-untyped-def]
    response = Client().get("/", {"q": "sea", "exclude": "12,abc"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "Items to exclude are named by their ids" in response.content.decode()
    assert "exclude:" not in response.content.decode()
