from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.postgres.search import SearchQuery
from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone
from django_tasks.backends.immediate import ImmediateBackend

from bench.media_factory import make_audio, make_image, wav_declaring
from embeddings import services as embeddings_services
from embeddings.errors import InputError
from searchapp import thumbnails
from searchapp.models import Item, ItemEmbedding, Modality, Status
from searchapp.services import items as items_service
from searchapp.services.embedding import item_embed
from searchapp.services.items import (
    ItemDetails,
    content_hash,
    item_add_file,
    item_add_text,
    items_add_tag,
    items_delete,
    items_set_hidden,
)
from searchapp.services.jobs import items_requeue_lost
from tests.conftest import Resampled

pytestmark = pytest.mark.django_db(transaction=True)


def stored_files(settings) -> list[Path]:  # type: ignore[no-untyped-def]
    root = Path(settings.MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_add_image_is_embedded_and_gets_a_thumbnail(model) -> None:  # type: ignore[no-untyped-def]
    item, created = item_add_file(
        data=make_image("jpeg", size=(800, 600)),
        filename="beach.jpg",
        details=ItemDetails(title="Beach", tags=["Holiday", " holiday ", "sea"]),
    )

    item.refresh_from_db()
    assert created
    assert (item.modality, item.status, item.mime_type) == (
        Modality.IMAGE,
        Status.READY,
        "image/jpeg",
    )
    assert (item.width, item.height) == (800, 600)
    assert item.tags == ["holiday", "sea"]
    assert item.thumbnail
    assert item.embeddings.count() == 1
    assert len(item.embeddings.get().embedding) == model.dimension


def test_add_audio_stores_one_vector_per_segment() -> None:
    item, _ = item_add_file(data=make_audio("mp3", seconds=16.0), filename="birds.mp3")

    item.refresh_from_db()
    assert item.status == Status.READY
    assert item.duration_sec == pytest.approx(16.0, abs=0.1)
    segments = list(item.embeddings.order_by("segment").values_list("start_sec", "end_sec"))
    assert segments == [(0.0, 8.0), (8.0, 16.0)]


def test_the_same_bytes_are_stored_and_embedded_once(settings) -> None:  # type: ignore[no-untyped-def]
    data = make_image("png")

    first, created_first = item_add_file(data=data, filename="a.png")
    second, created_second = item_add_file(data=data, filename="copy-of-a.png")

    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert Item.objects.count() == 1
    originals = [p for p in stored_files(settings) if "thumbnails" not in p.parts]
    assert len(originals) == 1


def test_the_same_text_is_stored_once() -> None:
    first, _ = item_add_text(text="  rain on a tin roof ")
    second, created = item_add_text(text="rain on a tin roof")

    assert not created and first.pk == second.pk
    assert second.text == "rain on a tin roof"


@pytest.mark.parametrize("data", [b"", b"%PDF-1.7 not media", b"\x00" * 512])
def test_unusable_files_are_refused_and_nothing_is_stored(settings, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError):
        item_add_file(data=data, filename="x.bin")

    assert Item.objects.count() == 0
    assert stored_files(settings) == []


def test_a_failure_between_file_and_row_leaves_neither(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def broken_save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise IntegrityError("disk full")

    monkeypatch.setattr(Item, "save", broken_save)

    with pytest.raises(IntegrityError):
        item_add_file(data=make_image("png"), filename="a.png")

    assert stored_files(settings) == []


def test_a_failure_after_the_row_is_written_but_before_it_commits_leaves_neither(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def broken_index(items: object) -> None:
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(items_service, "_refresh_search_document", broken_index)

    with pytest.raises(OperationalError):
        item_add_file(data=make_image("png"), filename="a.png")

    assert Item.objects.count() == 0
    assert stored_files(settings) == []


def test_an_item_whose_queueing_fails_after_commit_keeps_its_file_and_is_queued_later(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def cut_off(*args: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    data = make_image("png")
    with monkeypatch.context() as during_the_cut:
        during_the_cut.setattr(ImmediateBackend, "enqueue", cut_off)
        item, created = item_add_file(data=data, filename="a.png")

    assert created
    assert Item.objects.get(pk=item.pk).status == Status.PENDING
    assert len(stored_files(settings)) == 1
    assert item_add_file(data=data, filename="again.png") == (item, False)
    Item.objects.filter(pk=item.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert items_requeue_lost() == 1
    assert Item.objects.get(pk=item.pk).status == Status.READY


def test_audio_the_engine_refuses_fails_with_a_readable_reason(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_AUDIO_MAX_DURATION_SEC = 2.0
    item, _ = item_add_file(data=make_audio("wav", seconds=3.0), filename="long.wav")

    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert "longer than the limit of 2 s" in item.error_message
    assert item.embeddings.count() == 0


def test_audio_out_of_the_sample_rate_bounds_fails_in_the_worker_with_a_readable_reason(
    settings,  # type: ignore[no-untyped-def]
) -> None:
    item, _ = item_add_file(data=make_audio("wav", seconds=1.0), filename="a.wav")
    settings.EMBEDDINGS_AUDIO_MAX_SAMPLE_RATE = 22050  # tightened after the upload

    item_embed(item_id=item.pk)

    item.refresh_from_db()
    assert item.status == Status.FAILED
    assert "sample rate (44100 Hz) is outside the accepted range, 1000 to 22050 Hz" in (
        item.error_message
    )


@pytest.mark.parametrize(
    "data",
    [
        wav_declaring(sample_rate=1_610_612_736, channels=1, frames=10_000),
        wav_declaring(sample_rate=16000, channels=64),
    ],
    ids=["1.6GHz", "64-channels"],
)
def test_audio_whose_header_is_out_of_bounds_is_refused_at_upload(settings, data: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match=r"sample rate|channels"):
        item_add_file(data=data, filename="a.wav")

    assert stored_files(settings) == []
    assert Item.objects.count() == 0


def test_truncated_media_is_refused_at_upload() -> None:
    with pytest.raises(InputError, match="neither a supported image"):
        item_add_file(data=make_audio("wav", seconds=1.0)[:60], filename="cut.wav")


def test_delete_removes_files_and_vectors(settings) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_image("png"), filename="a.png")
    assert len(stored_files(settings)) == 2

    items_delete(items=Item.objects.filter(pk=item.pk))

    assert stored_files(settings) == []
    assert ItemEmbedding.objects.count() == 0


def test_hiding_marks_the_vectors_hidden_too() -> None:
    item, _ = item_add_text(text="a secret note")

    items_set_hidden(items=Item.objects.filter(pk=item.pk), hidden=True)

    assert list(ItemEmbedding.objects.values_list("hidden", flat=True)) == [True]


def test_add_tag_once_and_refreshes_word_search() -> None:
    item, _ = item_add_text(text="waves at night")

    assert items_add_tag(items=Item.objects.all(), tag="Ocean") == 1
    assert items_add_tag(items=Item.objects.all(), tag="ocean") == 0

    assert Item.objects.filter(search_document="ocean").get().pk == item.pk


def race(
    monkeypatch: pytest.MonkeyPatch, step: str, add: Callable[[], tuple[Item, bool]]
) -> list[tuple[Item, bool]]:
    """Run `add` in two threads that both pass the duplicate check before either inserts:
    `step`, a function the service calls after that check, waits for the other thread."""
    barrier = threading.Barrier(2, timeout=30)
    original = getattr(items_service, step)

    def in_step(*args: object, **kwargs: object) -> object:
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(items_service, step, in_step)
    results: list[tuple[Item, bool]] = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            results.append(add())
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def test_two_identical_uploads_at_once_end_as_one_item_and_one_file(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    data = make_image("png")

    results = race(monkeypatch, "probe_media", lambda: item_add_file(data=data, filename="a.png"))

    assert sorted(created for _, created in results) == [False, True]
    assert len({item.pk for item, _ in results}) == 1
    assert Item.objects.get().status == Status.READY
    assert len(stored_files(settings)) == 2  # the file and its thumbnail


def test_an_upload_racing_a_hidden_twin_is_refused_like_one_that_finds_it(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    data = make_image("png")
    probe = items_service.probe_media

    def probe_while_a_hidden_twin_commits(data: bytes) -> object:
        Item.objects.create(
            modality="image", file="twin.png", content_hash=content_hash(data), hidden=True
        )
        return probe(data)

    monkeypatch.setattr(items_service, "probe_media", probe_while_a_hidden_twin_commits)

    with pytest.raises(items_service.HiddenDuplicate):
        item_add_file(data=data, filename="b.png")

    assert Item.objects.count() == 1
    assert stored_files(settings) == []


def test_two_identical_notes_at_once_end_as_one_item(monkeypatch: pytest.MonkeyPatch) -> None:
    results = race(monkeypatch, "clean_tags", lambda: item_add_text(text="tide tables"))

    assert sorted(created for _, created in results) == [False, True]
    assert Item.objects.count() == 1


@pytest.mark.parametrize(
    ("filename", "word"),
    [
        ("coffee.png", "coffee"),
        ("IMG_2041-harbourSeals.jpg", "harbour"),
        ("IMG_2041-harbourSeals.jpg", "seals"),
        ("IMG_2041-harbourSeals.jpg", "2041"),
        ("IMG_2041-harbourSeals.jpg", "img"),
        ("HTMLParser_notes2024.png", "parser"),
        ("HTMLParser_notes2024.png", "notes"),
        ("rain on a roof.png", "roof"),
    ],
)
def test_words_inside_a_file_name_match_a_word_search(filename: str, word: str) -> None:
    item, _ = item_add_file(data=make_image("png"), filename=filename)
    query = SearchQuery(word, search_type="websearch", config="english")

    assert list(Item.objects.filter(search_document=query).values_list("pk", flat=True)) == [
        item.pk
    ]


def test_words_inside_a_title_match_a_word_search() -> None:
    item, _ = item_add_text(text="a note", details=ItemDetails(title="harbourSeals_at-dawn"))
    query = SearchQuery("seals dawn", search_type="websearch", config="english")

    assert Item.objects.filter(search_document=query).get().pk == item.pk


def test_an_image_is_decoded_once_for_its_vector_thumbnail_and_preview(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[int] = []
    decode = embeddings_services.decode_image
    monkeypatch.setattr(
        embeddings_services, "decode_image", lambda *a, **k: decoded.append(1) or decode(*a, **k)
    )
    monkeypatch.setattr(thumbnails, "decode_image", lambda *a, **k: pytest.fail("decoded again"))

    item, _ = item_add_file(data=make_image("png", size=(3000, 2000)), filename="big.png")

    item.refresh_from_db()
    assert item.status == Status.READY and item.thumbnail and item.preview
    assert decoded == [1]


def test_an_audio_items_waveform_costs_no_decoding_of_its_own(resampled: Resampled) -> None:
    item, _ = item_add_file(data=make_audio("flac", seconds=25.0), filename="a.flac")

    item.refresh_from_db()
    assert item.waveform
    # Checked once, then decoded a segment at a time for the model: no third pass.
    assert resampled.seconds == pytest.approx(2 * 25.0, abs=0.1)
