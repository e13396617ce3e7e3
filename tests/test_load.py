"""The live voice limit: it falls when blocks take too long to mix and climbs back when they are quick."""
from singsynth.load import MAX_CUT, VoiceBudget

PERIOD = 256 / 48000


def test_a_slow_block_cuts_voices_by_the_share_it_was_over_at_most_a_quarter_at_a_time():
    budget = VoiceBudget(256, share=0.5)
    assert budget.update(0.4 * PERIOD, PERIOD, 200) == 256  # within budget: unchanged
    assert budget.update(0.55 * PERIOD, PERIOD, 200) == int(200 * 0.5 / 0.55)  # 10 % over: 181
    assert budget.update(5 * PERIOD, PERIOD, 181) == int(181 * (1 - MAX_CUT))  # ten times over: a quarter
    assert budget.lowest == budget.limit == 135


def test_the_limit_never_falls_below_the_floor_and_climbs_back_only_on_calm_blocks():
    budget = VoiceBudget(256, share=0.5, calm=0.35, floor=16)
    for _ in range(50):
        budget.update(PERIOD, PERIOD, budget.limit)
    assert budget.limit == budget.lowest == 16
    for _ in range(10):
        budget.update(0.45 * PERIOD, PERIOD, budget.limit)  # under budget, not calm: holds
    assert budget.limit == 16
    for _ in range(10):
        budget.update(0.1 * PERIOD, PERIOD, budget.limit)
    assert budget.limit == 16 + 10 * 2  # polyphony 256 climbs 2 voices a block
    for _ in range(1000):
        budget.update(0.1 * PERIOD, PERIOD, budget.limit)
    assert budget.limit == 256 and budget.lowest == 16


def test_a_small_polyphony_is_its_own_floor():
    budget = VoiceBudget(8, floor=16)
    budget.update(PERIOD, PERIOD, 8)
    assert budget.limit == 8
