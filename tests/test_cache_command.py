"""The note cache on disk as a user meets it: `singsynth cache` lists presets, rates and sizes and clears them;
--cache-max keeps the whole cache under a size by deleting the notes used longest ago; a render at a second rate
generates nothing."""
from __future__ import annotations

import os
import time

import pytest
from engine_fixtures import THIRD_PARTY_MIDI, make_preset

from singsynth.cli import main
from singsynth.synth.disk_cache import folders, prune_disk

MIDI = THIRD_PARTY_MIDI[0]


@pytest.fixture(scope="module")
def preset_dir(tmp_path_factory):
    return make_preset(tmp_path_factory.mktemp("cachecmd") / "tiny")


def render(preset_dir, cache, out, *extra) -> int:
    return main([str(a) for a in ("render", MIDI, "-o", out, "--preset", preset_dir, "--cache-dir", cache,
                                  "--quiet", "--no-reverb", "--no-chorus", *extra)])


def test_a_second_rate_is_warm_and_the_cache_lists_and_clears_by_preset(preset_dir, tmp_path, capsys, caplog):
    cache = tmp_path / "cache"
    assert render(preset_dir, cache, tmp_path / "a.wav", "--rate", 48000) == 0
    folder, played = folders(cache)  # as generated, at the preset's rate, and as played at 48 kHz
    assert folder.preset.startswith("tiny-") and (folder.rate, folder.played) == (16000, False) and folder.notes > 0
    assert (played.preset, played.rate, played.played, played.notes) == (folder.preset, 48000, True, folder.notes)
    before = folder.bytes
    caplog.set_level("INFO", logger="singsynth")
    assert render(preset_dir, cache, tmp_path / "b.wav", "--rate", 44100) == 0
    assert "0 notes generated" in caplog.text
    assert folders(cache)[0].bytes == before  # no note generated for the second rate
    capsys.readouterr()
    assert main(["cache", "--cache-dir", str(cache)]) == 0
    listing = capsys.readouterr().out
    assert folder.preset in listing and "16000 Hz generated" in listing and f"{folder.notes} notes" in listing
    assert "44100 Hz as played" in listing and "48000 Hz as played" in listing
    assert main(["cache", "clear", "--cache-dir", str(cache), "--rate", "44100"]) == 0
    assert [f.rate for f in folders(cache)] == [16000, 48000]
    assert main(["cache", "clear", "--cache-dir", str(cache), "--preset", "nosuch"]) == 2
    assert "nosuch" in capsys.readouterr().err and folders(cache)
    assert main(["cache", "clear", "--cache-dir", str(cache), "--preset", "tiny"]) == 0
    assert not folders(cache) and "cleared" in capsys.readouterr().out


def test_the_disk_cache_stays_under_its_cap_keeping_the_notes_used_last(tmp_path):
    folder = tmp_path / "p-0123456789ab" / "16000"
    folder.mkdir(parents=True)
    now = time.time()
    for i in range(10):  # note i last used i minutes ago; note 0 has a state file beside it
        path = folder / f"{i:02d}.npy"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - 60 * i, now - 60 * i))
    (folder / "09.state.npz").write_bytes(b"s" * 500)
    assert prune_disk(tmp_path, 20_000) == 0  # under the cap: nothing goes
    assert prune_disk(tmp_path, 5_000) == 5500  # the five used longest ago, 09's state with it
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:02d}.npy" for i in range(5)]


def test_a_render_prunes_the_cache_to_cache_max(preset_dir, tmp_path):
    cache = tmp_path / "cache"
    assert render(preset_dir, cache, tmp_path / "a.wav") == 0
    full = folders(cache)[0].bytes
    assert render(preset_dir, tmp_path / "other", tmp_path / "b.wav") == 0
    (cache / "old-000000000000" / "16000").mkdir(parents=True)
    stale = cache / "old-000000000000" / "16000" / "stale.npy"
    stale.write_bytes(b"x" * 2**20)
    os.utime(stale, (1, 1))  # used long ago
    assert render(preset_dir, cache, tmp_path / "c.wav", "--cache-max", 1, "--velocity-steps", 8) == 0
    assert not stale.exists()
    assert sum(f.bytes for f in folders(cache)) <= 2**20 and full < 2**20


def test_a_bad_cache_max_is_one_line(preset_dir, tmp_path, capsys):
    assert render(preset_dir, tmp_path / "c", tmp_path / "a.wav", "--cache-max", 0) == 2
    assert "--cache-max" in capsys.readouterr().err


def test_a_render_with_some_notes_cached_loads_the_model_meanwhile_and_sounds_as_a_cold_one(preset_dir, tmp_path):
    from singsynth.io.wav import read_wav
    cache = tmp_path / "cache"
    assert render(preset_dir, cache, tmp_path / "first.wav") == 0  # another file's notes on disk
    second = THIRD_PARTY_MIDI[1]
    args = ["render", second, "--preset", preset_dir, "--quiet", "--no-reverb", "--no-chorus"]
    assert main([str(a) for a in args + ["-o", tmp_path / "warmish.wav", "--cache-dir", cache]]) == 0
    assert main([str(a) for a in args + ["-o", tmp_path / "cold.wav", "--cache-dir", tmp_path / "fresh"]]) == 0
    (_, a), (_, b) = read_wav(tmp_path / "warmish.wav"), read_wav(tmp_path / "cold.wav")
    assert a.shape == b.shape and abs(a - b).max() < 1e-3  # notes made in other batches: float rounding only
