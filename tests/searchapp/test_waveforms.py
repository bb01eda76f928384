from __future__ import annotations

import itertools

import numpy as np
import pytest
from django.template.loader import render_to_string

from bench.media_factory import encode_audio, make_audio, sine
from embeddings.media.audio import AudioSegment
from searchapp.models import Item
from searchapp.services.items import item_add_file
from searchapp.waveforms import WAVEFORM_BARS, WAVEFORM_TOP, PeakEnvelope


def segments_of(samples: np.ndarray, *, cuts: list[int]) -> list[AudioSegment]:
    bounds = [0, *cuts, len(samples)]
    return [AudioSegment(0.0, 0.0, samples[a:b]) for a, b in itertools.pairwise(bounds)]


def envelope(samples: np.ndarray, *, cuts: list[int], bars: int = WAVEFORM_BARS) -> list[int]:
    peaks = PeakEnvelope(length=len(samples), bars=bars)
    for segment in segments_of(samples, cuts=cuts):
        peaks.add(segment)
    return peaks.levels()


def test_the_envelope_is_the_peak_of_each_equal_stretch_scaled_to_the_loudest() -> None:
    samples = np.zeros(1000, dtype=np.float32)
    samples[5] = -0.5  # bar 0
    samples[250] = 0.25  # bar 1
    samples[999] = 0.1  # bar 3

    assert envelope(samples, cuts=[], bars=4) == [100, 50, 0, 20]


@pytest.mark.parametrize("cuts", [[], [1], [333, 334], [10, 500, 999], list(range(7, 16000, 997))])
def test_the_envelope_is_the_same_however_the_clip_is_cut_into_segments(cuts: list[int]) -> None:
    samples = np.random.default_rng(0).standard_normal(16000).astype(np.float32)

    assert envelope(samples, cuts=cuts) == envelope(samples, cuts=[])


def test_a_silent_clip_is_flat_and_a_short_one_has_a_bar_per_sample() -> None:
    assert envelope(np.zeros(800, dtype=np.float32), cuts=[400]) == [0] * WAVEFORM_BARS
    assert len(envelope(np.ones(50, dtype=np.float32), cuts=[])) == 50


@pytest.mark.django_db(transaction=True)
def test_audio_gets_its_waveform_and_decoded_length_at_ingestion(model) -> None:  # type: ignore[no-untyped-def]
    rate = 16000
    quiet_then_loud = np.concatenate(
        [sine(6.0, sampling_rate=rate) * 0.1, sine(6.0, sampling_rate=rate)], axis=1
    )
    item, _ = item_add_file(
        data=encode_audio(quiet_then_loud, "flac", sampling_rate=rate), filename="a.flac"
    )

    item.refresh_from_db()
    assert len(item.waveform) == WAVEFORM_BARS
    assert max(item.waveform) == WAVEFORM_TOP
    half = WAVEFORM_BARS // 2
    assert max(item.waveform[: half - 1]) <= 12 and min(item.waveform[half + 1 :]) >= 95
    assert item.duration_sec == pytest.approx(12.0, abs=0.01)


@pytest.mark.django_db(transaction=True)
def test_the_waveform_partial_draws_an_accessible_svg_with_the_match_highlighted(model) -> None:  # type: ignore[no-untyped-def]
    item, _ = item_add_file(data=make_audio("wav", seconds=20.0), filename="gulls.wav")
    item = Item.objects.get(pk=item.pk)

    plain = render_to_string("searchapp/_waveform.html", {"item": item})
    marked = render_to_string(
        "searchapp/_waveform.html", {"item": item, "start_sec": 5.0, "end_sec": 10.0}
    )

    assert plain.startswith('<svg class="waveform" viewBox="0 0 160 100"')
    assert 'role="img" aria-label="Waveform of gulls.wav, 20.0 s"' in plain
    assert "waveform-highlight" not in plain and "style" not in plain
    assert 'aria-label="Waveform of gulls.wav, 20.0 s; 5.0 to 10.0 s highlighted"' in marked
    assert '<rect class="waveform-highlight" x="40" y="0" width="40" height="100"/>' in marked
    assert marked.count("M") == plain.count("M") == WAVEFORM_BARS


@pytest.mark.django_db(transaction=True)
def test_the_waveform_partial_draws_nothing_for_an_item_without_one() -> None:
    item = Item(modality="audio", title="old clip", duration_sec=3.0)

    assert render_to_string("searchapp/_waveform.html", {"item": item}).strip() == ""
