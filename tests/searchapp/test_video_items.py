from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bench.media_factory import make_audio, make_image
from bench.video_factory import make_video
from embeddings.errors import InputError
from embeddings.services import embed_video
from embeddings.spaces import VectorSpace, configured_space
from searchapp.models import Item, ItemEmbedding, Modality, Status
from searchapp.search.query_vectors import media_query_vector
from searchapp.search.search_model import embedding_model_key
from searchapp.services.embedding import vectors_carry_over
from searchapp.services.items import item_add_file, item_add_text
from tests.searchapp.test_services import stored_files
from tests.searchapp.test_views import search_by_file

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_video_is_embedded_clip_by_clip_by_what_it_shows_and_sounds_like() -> None:
    item, created = item_add_file(data=make_video("mp4", seconds=13.0), filename="walk.mp4")

    item.refresh_from_db()
    assert created
    assert (item.modality, item.status, item.mime_type) == (
        Modality.VIDEO,
        Status.READY,
        "video/mp4",
    )
    assert item.duration_sec == pytest.approx(13.0, abs=0.1)
    assert (item.width, item.height) == (96, 64)
    assert item.thumbnail
    rows = list(item.embeddings.order_by("segment").values_list("start_sec", "end_sec", "modality"))
    # Each 6 s clip twice: its frames, then its sound.
    assert [(round(start, 1), round(end, 1)) for start, end, _ in rows] == [
        (0, 6),
        (0, 6),
        (6, 12),
        (6, 12),
        (12, 13),
        (12, 13),
    ]
    assert {modality for *_, modality in rows} == {Modality.VIDEO}


def test_a_silent_video_has_only_its_frames_vectors() -> None:
    item, _ = item_add_file(
        data=make_video("webm-vp9", seconds=7.0, audio=False), filename="a.webm"
    )

    item.refresh_from_db()
    assert (item.status, item.mime_type) == (Status.READY, "video/webm")
    rows = item.embeddings.order_by("segment").values_list("start_sec", "end_sec")
    assert [(round(start, 1), round(end, 1)) for start, end in rows] == [(0, 6), (6, 7)]


def test_the_stored_clip_vectors_are_the_engines_own() -> None:
    data = make_video("mkv", seconds=5.0)
    item, _ = item_add_file(data=data, filename="clip.mkv")

    expected = embed_video(data, options=("visual", "audio"))
    stored = [np.asarray(row.embedding) for row in item.embeddings.order_by("segment")]
    assert len(stored) == len(expected) == 2
    for row, embedding in zip(stored, expected, strict=True):
        assert float(row @ embedding.vector) == pytest.approx(1.0, abs=1e-5)


def test_a_cut_short_mp4_is_refused_at_upload_and_nothing_is_stored(settings) -> None:  # type: ignore[no-untyped-def]
    data = make_video("mp4", seconds=4.0)

    with pytest.raises(InputError, match="nor video"):
        item_add_file(data=data[: len(data) // 3], filename="broken.mp4")

    assert not Item.objects.exists()
    assert not stored_files(settings)


def test_a_video_past_the_limits_fails_with_the_reason(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_VIDEO_MAX_FRAME_PIXELS = 64 * 64

    item, _ = item_add_file(data=make_video("mp4", seconds=2.0), filename="wide.mp4")

    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert "96x64 pixels" in item.error_message
    assert not item.embeddings.exists()


def test_words_images_sounds_and_videos_find_video_clips_and_a_clip_finds_all() -> None:
    video, _ = item_add_file(data=make_video("mp4", seconds=8.0), filename="harbour.mp4")
    photo, _ = item_add_file(data=make_image("png"), filename="boat.png")
    sound, _ = item_add_file(data=make_audio("wav", seconds=3.0), filename="gulls.wav")
    note, _ = item_add_text(text="boats in a harbour")

    pages = [
        Client().get("/", {"q": "harbour", "min_score": "-1"}).content.decode(),
        *(
            search_by_file(name, data, min_score="-1").content.decode()
            for name, data in (
                ("query.jpg", make_image("jpeg")),
                ("query.flac", make_audio("flac", seconds=2.0)),
                ("query.webm", make_video("webm-vp8", seconds=3.0)),
            )
        ),
    ]

    for page in pages:
        # The card names the matching clip and opens the item at it.
        assert f'href="/items/{video.pk}/?start=' in page
        assert re.search(r'<span class="segment"[^>]*>0:0[06]–0:0[68]</span>', page)
        for item in (photo, sound, note):
            assert f'href="/items/{item.pk}/' in page


def test_a_dropped_video_is_searched_by_what_its_first_clip_shows(model) -> None:  # type: ignore[no-untyped-def]
    data = make_video("mov", seconds=10.0)
    key = embedding_model_key()

    query = media_query_vector(data, model_key=key)

    first_clip = embed_video(data, options=("visual",), end_sec=6.0)
    assert query.modality == Modality.VIDEO
    assert (query.audio_sec, query.audio_cut) == (pytest.approx(6.0), True)
    assert float(query.vector @ first_clip[0].vector) == pytest.approx(1.0, abs=1e-5)


def test_words_with_a_dropped_video_are_refused_in_words() -> None:
    response = Client().post(
        "/search/file",
        {"query_file": SimpleUploadedFile("a.mp4", make_video("mp4", seconds=2.0)), "q": "night"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 400
    assert "words can refine an image, not a video" in response.content.decode()


def test_the_item_page_and_viewer_play_from_the_matching_clip() -> None:
    item, _ = item_add_file(data=make_video("mp4", seconds=8.0), filename="walk.mp4")

    page = Client().get(f"/items/{item.pk}/", {"start": "6"}).content.decode()
    viewer = Client().get(f"/items/{item.pk}/viewer", {"start": "6", "end": "8"}).content.decode()
    media = Client().get(f"/items/{item.pk}/media", HTTP_RANGE="bytes=0-99")

    assert f'src="/items/{item.pk}/media#t=6.0"' in page
    assert "Starts at the matching clip, 0:06." in page
    assert f'src="/items/{item.pk}/media#t=6.0"' in viewer
    assert "Starts at the matching clip, 0:06–0:08." in viewer
    media.close()
    assert media.status_code == 206
    assert media["Content-Type"] == "video/mp4"
    assert "attachment" not in media.get("Content-Disposition", "")


def test_the_type_filter_and_admin_know_videos(admin_client: Client) -> None:  # type: ignore[no-untyped-def]
    video, _ = item_add_file(data=make_video("mp4", seconds=3.0), filename="walk.mp4")
    item_add_text(text="a walk")

    page = Client().get("/", {"q": "walk", "modality": "video", "min_score": "-1"}).content.decode()
    listing = admin_client.get("/admin/searchapp/item/", {"modality__exact": "video"})
    change = admin_client.get(f"/admin/searchapp/item/{video.pk}/change/")

    assert page.count('class="card card-') == 1
    assert 'class="card card-video"' in page
    assert listing.status_code == 200
    assert "walk.mp4" in listing.content.decode()
    assert "<video controls" in change.content.decode()


def test_vectors_carry_over_for_videos_only_when_their_frame_settings_stay(settings) -> None:  # type: ignore[no-untyped-def]
    video, _ = item_add_file(data=make_video("mp4", seconds=3.0), filename="walk.mp4")
    old = configured_space()
    new_images = VectorSpace(source=old.source, image_tokens=140)
    new_frames = VectorSpace(source=old.source, video_fps=2.0)

    assert vectors_carry_over(from_key=old.key, to_key=new_images.key) == 1
    assert vectors_carry_over(from_key=old.key, to_key=new_frames.key) == 0
    assert ItemEmbedding.objects.filter(item=video, model_key=new_images.key).exists()
    assert not ItemEmbedding.objects.filter(item=video, model_key=new_frames.key).exists()
