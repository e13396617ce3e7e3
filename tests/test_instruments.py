"""Instrument specs: names, prefixes, substrings, GM numbers, blends, morph steps, fallbacks, ranges."""
import logging

import pytest
from engine_fixtures import INSTRUMENTS, make_preset

from singsynth.preset import Instrument, load_preset
from singsynth.synth.instruments import (
    InstrumentError,
    ProgramMap,
    morph,
    pitch_range,
    resolve,
    resolve_morph,
)

MORE = INSTRUMENTS + [Instrument(3, "Flute Ensemble", "sf_flutes", 72), Instrument(4, "Cello", "sf_cello", 42,
                                                                                     pitch_range=(36, 76)),
                      Instrument(5, "Acoustic Bass", "sf_bass", 32, pitch_range=(28, 55))]


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return load_preset(make_preset(tmp_path_factory.mktemp("inst") / "p", MORE))


@pytest.fixture(scope="module")
def default_preset():
    """The shipped preset's 129 General MIDI names (lazy: no model is built)."""
    return load_preset("default", lazy=True)


def test_exact_names_and_ids_beat_prefixes(preset):
    assert resolve(preset, "FLUTE") == (1, 0, 0, 0, 0, 0)
    assert resolve(preset, "sf_cello") == (0, 0, 0, 0, 1, 0)
    assert resolve(preset, "flute ens") == (0, 0, 0, 1, 0, 0)  # unique prefix
    assert resolve(preset, "drum") == (0, 0, 1, 0, 0, 0)  # unique prefix
    assert resolve(preset, "bass") == (0, 0, 0, 0, 0, 1)  # unique substring


def test_a_blend_gives_every_weight_or_none(preset):
    assert resolve(preset, "flute,cello") == resolve(preset, "flute:1,cello:1")  # none: equal parts
    with pytest.raises(InstrumentError, match="gives some instruments a weight and not others"):
        resolve(preset, "flute:0.7,cello")
    with pytest.raises(InstrumentError, match="weight and not others"):
        resolve(preset, "flute,cello:0.3")


def test_ambiguous_and_unknown_names_say_what_would_match(preset):
    with pytest.raises(InstrumentError, match="ambiguous.*Flute.*Flute Ensemble"):
        resolve(preset, "fl")
    with pytest.raises(InstrumentError) as info:
        resolve(preset, "chello")
    message = str(info.value)
    assert "close: Cello (" in message and "\n" not in message  # only the name a person would call close


def test_names_match_by_whole_words_and_prefixes_and_every_match_is_listed(default_preset):
    with pytest.raises(InstrumentError) as info:
        resolve(default_preset, "guitar")
    message = str(info.value)
    assert "9 instruments match" in message
    for name in ("Acoustic Guitar (nylon)", "Distortion Guitar", "Electric Guitar (muted)", "Guitar Harmonics",
                 "Overdriven Guitar"):
        assert name in message
    one = {inst.name: inst.index for inst in default_preset.instruments}
    assert resolve(default_preset, "acoustic guitar nylon")[one["Acoustic Guitar (nylon)"]] == 1
    assert resolve(default_preset, "glock")[one["Glockenspiel"]] == 1  # a prefix
    assert resolve(default_preset, "flute")[one["Flute"]] == 1  # the exact name before Pan Flute's word


@pytest.mark.parametrize("typo, close", [("kazooxyz", []), ("fluet", ["Flute", "Pan Flute"]), ("vilin", ["Violin"]),
                                         ("trumpt", ["Trumpet", "Muted Trumpet"])])
def test_suggestions_are_names_a_person_would_call_close(default_preset, typo, close):
    with pytest.raises(InstrumentError) as info:
        resolve(default_preset, typo)
    message = str(info.value)
    if close:
        assert f"close: {', '.join(close)} (see" in message
    else:
        assert "close" not in message and message.endswith("(see: singsynth instruments)")


def test_gm_numbers_use_the_program_then_the_family(preset):
    assert resolve(preset, "42") == (0, 0, 0, 0, 1, 0)
    assert resolve(preset, "43") == (0, 0, 0, 0, 1, 0)  # contrabass -> strings family: cello (nearest)
    assert resolve(preset, "75") == (1, 0, 0, 0, 0, 0)  # pan flute -> pipe family: flute (73) over 72
    with pytest.raises(InstrumentError, match="0..127"):
        resolve(preset, "128")


def test_program_map_warns_once_per_program(preset, caplog):
    programs = ProgramMap(preset)
    caplog.set_level(logging.WARNING)
    assert programs(0).name == "Acoustic Bass"  # no piano family: the nearest program
    assert programs(0).name == "Acoustic Bass"
    assert programs(40).name == "Violin"
    assert len(caplog.records) == 1 and "program 0" in caplog.records[0].getMessage()


def test_blends_are_normalised(preset):
    assert resolve(preset, "flute:0.7,violin:0.3") == pytest.approx((0.7, 0.3, 0, 0, 0, 0))
    assert resolve(preset, "flute:3, cello:1") == pytest.approx((0.75, 0, 0, 0, 0.25, 0))
    assert resolve(preset, "flute,violin") == pytest.approx((0.5, 0.5, 0, 0, 0, 0))
    for bad, match in (("flute:x", "bad weight"), ("flute:-1", ">= 0"), ("flute:0,violin:0", "sum to 0"),
                       ("flute:nan", ">= 0"), ("tuba:1", "no instrument 'tuba'")):
        with pytest.raises(InstrumentError, match=match):
            resolve(preset, bad)


def test_morph_is_quantised_to_nine_steps(preset):
    a, b = resolve_morph(preset, "flute,violin")
    blends = {morph(a, b, v) for v in range(128)}
    assert len(blends) == 9
    assert morph(a, b, 0) == a and morph(a, b, 127) == b and morph(a, b, 64)[:2] == (0.5, 0.5)
    with pytest.raises(InstrumentError, match="two instruments"):
        resolve_morph(preset, "flute")


def test_blend_ranges(preset):
    assert pitch_range(preset, resolve(preset, "cello:1,flute:1")) == (60, 76)
    assert pitch_range(preset, resolve(preset, "bass:2,flute:1")) == (28, 55)  # disjoint: the heavier one
