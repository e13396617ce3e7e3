"""Notes generated only as far as a file plays them (note_uses.py, note_length.py): the render sounds as with whole
notes, within 1e-6; a note made short and extended later (from the state kept on disk) is the note made whole; a
use the estimate misses is extended during the render, never cut short; held past the model's note, a note loops."""
from __future__ import annotations

import mido
import numpy as np
import pytest
import torch
from engine_fixtures import INSTRUMENTS, THIRD_PARTY_MIDI, gm_timeline, make_preset, off, on
from test_offline_render import everything

from singsynth.io.midi import read_midi
from singsynth.model.config import get_config
from singsynth.model.sing import SING
from singsynth.preset import load_preset, save_preset
from singsynth.synth import note_length
from singsynth.synth.cache import NoteCache
from singsynth.synth.engine import make_engine
from singsynth.synth.instruments import one_hot
from singsynth.synth.note_supply import BlockingSupply
from singsynth.synth.note_uses import note_seconds
from singsynth.synth.schedule import render_file


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return load_preset(make_preset(tmp_path_factory.mktemp("length") / "p"))


@pytest.fixture(scope="module")
def vibrato_preset(tmp_path_factory):
    """A 48 kHz preset whose notes have their own vibrato (a displaced reading with state of its own)."""
    torch.manual_seed(1)
    model = SING(get_config("sing-unittest48", n_instruments=len(INSTRUMENTS))).eval()
    with torch.no_grad():
        model.decoder.warp.layers[2].weight.normal_(0, 0.5)
        model.decoder.warp.layers[2].bias.copy_(torch.tensor([2.0, 0.5, 0.3, 1.0]))
    folder = tmp_path_factory.mktemp("length48") / "tiny48"
    return load_preset(save_preset(folder, model, list(INSTRUMENTS), {"name": "tiny48", "license": "MIT"}))


class Fixed(dict):
    """Lengths that the render's own estimate does not change."""

    def update(self, *args, **kwargs) -> None:
        pass


def render(preset, events, rate=48000, whole=False, cache=None, lengths=None):
    engine = make_engine(preset, rate, cache=cache or NoteCache())
    if lengths is not None:  # the estimate replaced: every note wanted this long
        engine.supply.lengths = Fixed(lengths)
    out = []
    render_file(engine, events, out.append, whole_notes=whole)
    return np.concatenate(out), engine


@pytest.mark.parametrize("full_precision", [False, True], ids=["default precision", "float32"])
@pytest.mark.parametrize("timeline", ["everything", "gm", "third party"])
@pytest.mark.parametrize("which", ["16 kHz", "48 kHz with the note's own vibrato"])
def test_a_render_with_notes_made_to_length_is_the_render_with_whole_notes(preset, vibrato_preset, which, timeline,
                                                                          full_precision):
    """Whatever the precision (bfloat16 where the CPU has it, float32: the batches' rounding then depends on
    their size) and whatever state the stream carries, the notes made short are the whole notes' beginnings."""
    preset = preset if which == "16 kHz" else vibrato_preset
    events = {"everything": everything, "gm": gm_timeline,
              "third party": lambda: read_midi(str(THIRD_PARTY_MIDI[0]))}[timeline]()
    preset.full_precision = full_precision
    try:
        short, engine = render(preset, events)
        whole, _ = render(preset, events, whole=True)
    finally:
        preset.full_precision = False
    assert engine.supply.shorts, "no note was made short: nothing tested"
    assert short.shape == whole.shape and np.abs(short).max() > 1e-3
    assert np.abs(short - whole).max() < 1e-6


def test_a_use_the_estimate_misses_is_extended_during_the_render(preset):
    events = everything()
    keys = make_engine(preset, 48000).planner.keys([m for _, m in events], [0] * 16, [0] * 16)
    missed, engine = render(preset, events, lengths={k: 0.05 for k in keys})  # far too short for every note
    whole, _ = render(preset, events, whole=True)
    assert engine.supply.extended > 0
    assert np.abs(missed - whole).max() < 1e-6


@pytest.mark.parametrize("which", ["16 kHz", "48 kHz with the note's own vibrato"])
def test_a_note_made_short_then_extended_from_the_disk_is_the_note_made_whole(preset, vibrato_preset, which, tmp_path):
    preset = preset if which == "16 kHz" else vibrato_preset
    key = (one_hot(0, 3), 72, 12)
    cache = NoteCache.for_preset(preset, 44100, root=tmp_path)
    first = BlockingSupply(preset, cache, 44100)
    first.lengths[key] = 0.4
    short = first.generate([key])[key]
    assert short.short_key == key and short.xfade is None and short.made < first.note_len // 3
    assert not short.data[short.made:].any()  # silence to read ahead into
    assert cache.load_state(key) is not None  # where the stream stopped, beside the samples
    # another process: reads the short note back, wants it longer, goes on from the stored state
    later = BlockingSupply(preset, NoteCache.for_preset(preset, 44100, root=tmp_path), 44100)
    later.lengths[key] = 1.2
    assert later.missing([key]) == [key]
    longer = later.generate([key])[key]
    assert later.extended == 1 and later.generated == 0 and longer.made >= 1.2 * 44100 > short.made
    whole = BlockingSupply(preset, NoteCache(), 44100).generate([key])[key]
    assert whole.xfade is not None
    np.testing.assert_allclose(longer.data[:longer.made], whole.data[:longer.made], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(short.data[:short.made], longer.data[:short.made])
    # held as long as it likes: made to its loop end, all a held voice reads, its loop made as the whole note's
    later.lengths[key] = note_length.WHOLE
    looped = later.generate([key])[key]
    loop_end = later.loop[1]
    assert looped.short_key is None and cache.load_state(key) is not None
    np.testing.assert_allclose(looped.data[:loop_end], whole.data[:loop_end], rtol=0, atol=1e-6)
    np.testing.assert_allclose(looped.xfade, whole.xfade, rtol=0, atol=1e-6)
    assert looped.loop_decay == pytest.approx(whole.loop_decay, abs=1e-6)
    # wanted whole (a supply told no lengths, as the SoundFont export's): on to the end, the state gone
    done = BlockingSupply(preset, NoteCache.for_preset(preset, 44100, root=tmp_path), 44100).generate(
        [key])[key]
    assert cache.load_state(key) is None
    np.testing.assert_allclose(done.data, whole.data, rtol=0, atol=1e-6)


def test_a_note_held_past_the_models_length_is_made_to_its_loop_end_and_loops(preset):
    events = [(0.0, on(72)), (6.0, off(72))]
    out, engine = render(preset, events)
    [(key, kept)] = engine.supply.shorts.items()
    assert note_length.loop_samples(preset) <= len(kept.samples) < preset.config.note_samples
    assert engine.cache.peek(key).xfade is not None  # looping
    assert np.abs(out[int(5.5 * 48000):int(5.9 * 48000)]).max() > 1e-3  # still sounding, from the loop
    whole, _ = render(preset, events, whole=True)
    assert out.shape == whole.shape and np.abs(out - whole).max() < 1e-6


def test_the_estimate_counts_the_pedal_the_release_and_bends_and_plays_drums_whole(preset):
    engine = make_engine(preset, 48000, release=0.5)
    plan = engine.planner.plan
    key = plan(0, 0, 0, 72, 100).key
    assert note_seconds(engine.planner, [(0.0, on(72)), (0.3, off(72))], 0.5)[key] == pytest.approx(
        (0.3 + 0.5) * 2 ** (1 / 12) + 0.05)
    pedal = [(0.0, mido.Message("control_change", control=64, value=127)), (0.0, on(72)), (0.3, off(72)),
             (2.0, mido.Message("control_change", control=64, value=0))]
    assert note_seconds(engine.planner, pedal, 0.5)[key] == pytest.approx((2.0 + 0.5) * 2 ** (1 / 12) + 0.05)
    bent = [(0.0, on(72)), (0.1, mido.Message("pitchwheel", pitch=8191)), (0.3, off(72))]
    assert note_seconds(engine.planner, bent, 0.5)[key] > (0.3 + 0.5) * 2 ** (2.9 / 12)
    drum = plan(9, 0, 0, 38, 100).key
    assert note_seconds(engine.planner, [(0.0, on(38, channel=9)), (0.1, off(38, channel=9))], 0.5)[drum] == \
        note_length.WHOLE
