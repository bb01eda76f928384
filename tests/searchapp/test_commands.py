from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from PIL import Image

from bench.media_factory import make_audio, make_image
from bench.random_model import build_tiny_model
from bench.video_factory import make_video
from searchapp.models import Item, ItemEmbedding, Status
from searchapp.search.query_vectors import media_query_vector
from searchapp.search.search_model import search_model_key
from searchapp.search.selectors import item_vector
from searchapp.services.embedding import item_embed
from searchapp.services.items import item_add_file, item_add_text

pytestmark = pytest.mark.django_db(transaction=True)


def test_import_media_adds_a_folder_and_skips_what_it_cannot_use(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(make_image("jpeg"))
    (tmp_path / "photos" / "copy-of-cat.jpg").write_bytes(make_image("jpeg"))
    (tmp_path / "sounds.flac").write_bytes(make_audio("flac", seconds=2.0))
    (tmp_path / "walk.mov").write_bytes(make_video("mov", seconds=2.0))
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.7")
    out, err = io.StringIO(), io.StringIO()

    call_command("import_media", str(tmp_path), "--tags", "archive", stdout=out, stderr=err)

    assert "Added 3, already present 1, skipped 1." in out.getvalue()
    assert Item.objects.get(original_filename="walk.mov").modality == "video"
    assert "notes.pdf" in err.getvalue()
    assert set(Item.objects.values_list("status", flat=True)) == {Status.READY}
    assert all(item.tags == ["archive"] for item in Item.objects.all())


def test_reembed_moves_the_library_to_a_new_model_while_search_uses_the_old(
    settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    old_key = settings.EMBEDDINGS_MODEL
    first, _ = item_add_text(text="first")
    second, _ = item_add_text(text="second")
    new_model = build_tiny_model(tmp_path / "new-model", seed=1)
    settings.EMBEDDINGS_MODEL = str(new_model)
    # Only texts here: exporting the new model's encoders would take most of the test.
    settings.EMBEDDINGS_VISION_RUNTIME = settings.EMBEDDINGS_AUDIO_RUNTIME = "torch"
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}

    assert search_model_key() == old_key
    call_command("reembed", stdout=io.StringIO())
    item_embed(item_id=first.pk)
    assert search_model_key() == old_key  # one item still only has old vectors
    item_embed(item_id=second.pk)

    assert search_model_key() == str(new_model)
    assert ItemEmbedding.objects.filter(model_key=str(new_model)).count() == 2
    assert ItemEmbedding.objects.filter(model_key=old_key).count() == 2


def test_a_new_image_token_budget_reembeds_while_image_queries_keep_the_librarys_budget(
    settings,
) -> None:  # type: ignore[no-untyped-def]
    data = make_image("png", size=(640, 480))
    photo, _ = item_add_file(data=data, filename="photo.png")
    note, _ = item_add_text(text="gulls over the harbour")
    clip, _ = item_add_file(data=make_audio("flac", seconds=20.0), filename="gulls.flac")
    old_key = settings.EMBEDDINGS_MODEL
    settings.EMBEDDINGS_IMAGE_TOKENS = 140
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    new_key = f"{settings.EMBEDDINGS_MODEL}#image-tokens=140"

    assert search_model_key() == old_key
    query = media_query_vector(data, model_key=search_model_key()).vector
    assert float(query @ item_vector(item=photo, model_key=old_key)) == pytest.approx(1.0)
    out = io.StringIO()
    call_command("reembed", stdout=out)
    # The budget changes images' vectors only: texts and sounds keep theirs, segments and all.
    assert "Kept the vectors of 2 text and audio items." in out.getvalue()
    assert "Queued 1 items" in out.getvalue()
    for item in (note, clip):
        kept = ItemEmbedding.objects.filter(item=item).order_by("segment")
        old = list(kept.filter(model_key=old_key).values_list("start_sec", "embedding"))
        new = list(kept.filter(model_key=new_key).values_list("start_sec", "embedding"))
        assert len(new) == len(old) == (2 if item == clip else 1)
        assert all(
            a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(old, new, strict=True)
        )
    assert search_model_key() == old_key  # the photo has no vector at 140 tokens yet
    item_embed(item_id=photo.pk)

    assert search_model_key() == new_key
    query = media_query_vector(data, model_key=new_key).vector
    assert float(query @ item_vector(item=photo, model_key=new_key)) == pytest.approx(1.0)
    assert float(query @ item_vector(item=photo, model_key=old_key)) < 0.9999


def test_an_image_token_budget_the_model_cannot_take_is_refused_with_the_choices(
    settings,
) -> None:  # type: ignore[no-untyped-def]
    settings.EMBEDDINGS_IMAGE_TOKENS = 100

    with pytest.raises(ImproperlyConfigured, match="use one of 70, 140, 280, 560, 1120"):
        search_model_key()


def test_complete_media_gives_older_items_waveforms_previews_and_turned_sizes(model) -> None:  # type: ignore[no-untyped-def]
    exif = Image.Exif()
    exif[0x0112] = 8
    clip, _ = item_add_file(data=make_audio("flac", seconds=4.0), filename="gulls.flac")
    photo, _ = item_add_file(
        data=make_image("jpeg", size=(3000, 2000), exif=exif.tobytes()), filename="tall.jpg"
    )
    small, _ = item_add_file(data=make_image("png"), filename="small.png")
    # As an older version stored them: the header's size, no preview, no waveform.
    Item.objects.filter(pk=photo.pk).update(width=3000, height=2000, preview="")
    Item.objects.filter(pk=clip.pk).update(waveform=None)
    out = io.StringIO()

    call_command("complete_media", stdout=out, stderr=io.StringIO())

    assert "Completed 2 items." in out.getvalue()
    clip.refresh_from_db()
    photo.refresh_from_db()
    assert len(clip.waveform) == 160 and clip.duration_sec == pytest.approx(4.0, abs=0.01)
    assert (photo.width, photo.height) == (2000, 3000)
    with photo.preview.open("rb") as preview, Image.open(preview) as image:
        assert image.size == (1365, 2048)
    assert not Item.objects.get(pk=small.pk).preview
    call_command("complete_media", stdout=out, stderr=io.StringIO())
    assert "Completed 0 items." in out.getvalue()


def test_serve_refuses_to_start_an_inference_node_without_the_tiers_secret(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SERVER_ROLE = "inference"
    settings.EMBEDDINGS_INFERENCE_SECRET = ""

    with pytest.raises(CommandError, match=r"set EMBEDDINGS_INFERENCE_SECRET here"):
        call_command("serve", bind="127.0.0.1:0")
