"""The per-sample loops of the reverb and the chorus, compiled by numba (imported only once an effect has sound
to process: a dry render never loads numba)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

# The effects cut their state to exact zeros once a whole stretch of this many frames, counted from the first
# frame ever processed, had silent input and output below the threshold: a fixed grid, so where a tail ends
# does not depend on the block size.
GRID = 4096
# A sparse tail (an impulse, a lone click) leaves single values circulating in a loop, halved or damped at each
# pass, while their neighbours are zero: they sink into the denormal range, where each multiply costs up to 100
# times as much, long before the tail as a whole falls below -80 dB. Values this small (-400 dB) are written as 0.
FLUSH = np.float32(1e-20)


@njit(cache=True, nogil=True)
def freeverb(x, out, combs, comb_len, comb_pos, comb_lp, allpasses, ap_len, ap_pos, tracker,
             feedback, damp1, damp2, gain, wet1, wet2, threshold):  # pragma: no cover (compiled)
    """Freeverb (Jezar at Dreampoint, 2000), one frame at a time: x [n] the mono send (left + right) ->
    adds to out [n, 2]. combs [16, L]: the left bank's 8 lowpass-feedback combs, then the right's; allpasses
    [8, L]: 4 Schroeder allpasses a side. tracker: [frame count, input heard in this grid stretch, output peak
    in it, state all zero]. All float32 arithmetic, as the published code."""
    half = 8
    count = int(tracker[0])  # the tracker in locals: the loop does not touch memory for it
    heard = tracker[1]
    peak_seen = np.float32(tracker[2])
    quiet = tracker[3]
    for t in range(x.shape[0]):
        s = x[t] * gain
        if s != 0:
            heard = 1.0
            quiet = 0.0
        left = np.float32(0.0)
        right = np.float32(0.0)
        for c in range(16):
            i = comb_pos[c]
            y = combs[c, i]
            lp = y * damp2 + comb_lp[c] * damp1
            lp = lp if abs(lp) >= FLUSH else np.float32(0.0)
            comb_lp[c] = lp
            w = s + lp * feedback
            combs[c, i] = w if abs(w) >= FLUSH else np.float32(0.0)
            i += 1
            comb_pos[c] = 0 if i >= comb_len[c] else i
            if c < half:
                left += y
            else:
                right += y
        for a in range(8):
            i = ap_pos[a]
            b = allpasses[a, i]
            v = left if a < 4 else right
            w = v + b * np.float32(0.5)
            allpasses[a, i] = w if abs(w) >= FLUSH else np.float32(0.0)
            i += 1
            ap_pos[a] = 0 if i >= ap_len[a] else i
            if a < 4:
                left = b - v
            else:
                right = b - v
        o_left = left * wet1 + right * wet2
        o_right = right * wet1 + left * wet2
        out[t, 0] += o_left
        out[t, 1] += o_right
        peak = max(abs(o_left), abs(o_right))
        if peak > peak_seen:
            peak_seen = peak
        count += 1
        if count % GRID == 0:
            if heard == 0.0 and peak_seen < threshold and quiet == 0.0:
                combs[:] = 0
                comb_lp[:] = 0
                allpasses[:] = 0
                quiet = 1.0
            heard = 0.0
            peak_seen = np.float32(0.0)
    tracker[0] = count
    tracker[1] = heard
    tracker[2] = peak_seen
    tracker[3] = quiet


LFO_STEP = 8  # the chorus's sines are computed every this many frames (from the frame count) and interpolated


@njit(cache=True, nogil=True)
def chorus(x, out, line, pos, lfo, voices, center, depth, step, wet):  # pragma: no cover (compiled)
    """Modulated delay lines: x [n, 2] -> adds to out [n, 2]. line [2, L] holds the input; pos: the frame count
    (the LFOs' clock), the write index, and the frame of the LFO values in lfo [2, voices, 2] (each side's
    and voice's delay there and LFO_STEP frames later). Voice v reads each side at center + depth * sin(phase),
    its phase 1/voices of a cycle after the previous voice's and the right side's a quarter cycle after the
    left's, with linear interpolation."""
    size = line.shape[1]
    for t in range(x.shape[0]):
        w = pos[1]
        line[0, w] = x[t, 0]
        line[1, w] = x[t, 1]
        frame = pos[0]
        grid = frame - frame % LFO_STEP
        if grid != pos[2]:  # a new stretch: both its ends, from the clock alone (any block size gives the same)
            pos[2] = grid
            for side in range(2):
                for v in range(voices):
                    for end in range(2):
                        cycle = ((grid + end * LFO_STEP) * step) % 1.0
                        lfo[side, v, end] = center + depth * math.sin(
                            2 * math.pi * (cycle + v / voices + 0.25 * side))
        frac_t = (frame - grid) / LFO_STEP
        for side in range(2):
            acc = 0.0
            for v in range(voices):
                delay = lfo[side, v, 0] + frac_t * (lfo[side, v, 1] - lfo[side, v, 0])
                at = w - delay
                if at < 0:
                    at += size
                i = int(at)
                frac = at - i
                j = i + 1 if i + 1 < size else 0
                acc += line[side, i] + frac * (line[side, j] - line[side, i])
            out[t, side] += np.float32(acc * wet)
        pos[0] += 1
        pos[1] = w + 1 if w + 1 < size else 0
