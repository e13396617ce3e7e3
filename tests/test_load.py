"""The live voice limit: it falls when blocks take too long to mix and climbs back when they are quick."""
import math

import pytest

from singsynth.synth.cpu_load import MAX_CUT, WINDOW, VoiceBudget

PERIOD = 256 / 48000


def blocks(budget: VoiceBudget, share: float, count: int, voices: int | None = None) -> int:
    """`count` blocks each taking `share` of a period; the limit after them."""
    for _ in range(count):
        budget.update(share * PERIOD, PERIOD, budget.limit if voices is None else voices)
    return budget.limit


def test_single_slow_blocks_are_not_a_load():
    budget = VoiceBudget(256, share=0.5)
    for _ in range(10):
        blocks(budget, 0.3, WINDOW - 1)
        assert blocks(budget, 3.0, 1, voices=256) == 256  # a big chord's first block: the median stays under


def test_a_sustained_load_cuts_by_the_share_it_is_over_then_waits_for_a_new_window():
    budget = VoiceBudget(256, share=0.5)
    blocks(budget, 0.4, WINDOW)
    assert blocks(budget, 0.6, WINDOW // 2, voices=200) == 256  # not yet the median
    limit = blocks(budget, 0.6, 1, voices=200)
    assert limit == int(200 * 0.5 / 0.6)
    assert blocks(budget, 5.0, WINDOW - 1, voices=limit) == limit  # judged on a full window of new blocks
    assert blocks(budget, 5.0, 1, voices=limit) == int(limit * (1 - MAX_CUT))  # far over: a quarter at most
    assert budget.lowest == budget.limit


def test_blocks_made_while_cut_voices_fade_out_do_not_count():
    settle = 0.02
    budget = VoiceBudget(256, share=0.5, settle=settle)
    limit = blocks(budget, 1.0, WINDOW, voices=256)
    assert limit == 192
    skipped = math.ceil(settle / PERIOD)
    assert blocks(budget, 1.0, skipped + WINDOW - 1) == limit
    assert blocks(budget, 1.0, 1) == 144


def test_the_limit_never_falls_below_the_floor_and_climbs_back_only_on_calm_blocks():
    budget = VoiceBudget(256, share=0.5, calm=0.35, floor=16)
    assert blocks(budget, 1.0, 200) == budget.lowest == 16
    assert blocks(budget, 0.45, 30) == 16  # under the budget, not calm: held
    # polyphony 256 climbs 2 voices a block once most of the window is calm
    assert blocks(budget, 0.1, 10) == 16 + (10 - WINDOW // 2) * 2
    assert blocks(budget, 0.1, 1000) == 256 and budget.lowest == 16


@pytest.mark.parametrize("polyphony", [1, 8])
def test_a_small_polyphony_is_its_own_floor(polyphony):
    budget = VoiceBudget(polyphony, floor=16)
    assert blocks(budget, 1.0, 50) == polyphony
