"""The bank's per-sample loop compiled by numba: every bank voice read, shaped by its envelope and summed into its
channel in one pass, to the same float32 figures as bank.read_bank's numpy arrays followed by the mixer's sums.

numpy makes the bank's [voices, samples] arrays a dozen times over (positions, indices, fractions, two gathers,
the envelope, the sums); with hundreds of voices that each read at their own rate (vibrato, a bend, a key read from
the nearest learnt note) that came to 3 ms of a 5.3 ms period. Imported only once loaded (bank.load_kernel): a
dry render that never needs it does not pay numba's import.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _pairwise(a, lo, count, k):  # pragma: no cover (compiled)
    """a[lo:lo + count, k] summed as numpy sums a reduction's strided run (its pairwise_sum): below 8 in order,
    up to 128 in eight interleaved partial sums, beyond that halved at a multiple of 8."""
    if count < 8:
        res = np.float32(0.0)
        for i in range(count):
            res += a[lo + i, k]
        return res
    if count <= 128:
        r0, r1, r2, r3 = a[lo, k], a[lo + 1, k], a[lo + 2, k], a[lo + 3, k]
        r4, r5, r6, r7 = a[lo + 4, k], a[lo + 5, k], a[lo + 6, k], a[lo + 7, k]
        i = 8
        while i < count - count % 8:
            r0 += a[lo + i, k]
            r1 += a[lo + i + 1, k]
            r2 += a[lo + i + 2, k]
            r3 += a[lo + i + 3, k]
            r4 += a[lo + i + 4, k]
            r5 += a[lo + i + 5, k]
            r6 += a[lo + i + 6, k]
            r7 += a[lo + i + 7, k]
            i += 8
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < count:
            res += a[lo + i, k]
            i += 1
        return res
    half = count // 2
    half -= half % 8
    return _pairwise(a, lo, half, k) + _pairwise(a, lo + half, count - half, k)


@njit(cache=True, nogil=True)
def bank_sums(window, phases, which, begin, base, clamp, channel, shaped_from, released, since, fading,
              fade_len, fade_start, late, curve, sums):  # pragma: no cover (compiled; its py_func is tested)
    """Add every bank voice's samples over the block into its channel's row of sums [channels, n].

    window [voices, width] float32: each voice's samples from floor(pos) on, at its loop gain; phases [P, n + 1]:
    reading advances, voice r reading at phases[which[r]]; base [voices]: pos - floor(pos) - phases[which[r],
    begin[r]]; clamp: positions before a voice's start read sample 0 (some voice starts within the block).
    channel [voices]: the row of sums each voice adds into; within each part (the rows before `shaped_from`, then
    the others) a channel's voices are consecutive, and each part's channel sums are added to sums on their own,
    as numpy's reduceat sums them. The rows from shaped_from on carry an envelope: released (its release's samples
    since note-off at the block's first sample, `since`, read from curve), fading (a quick fade of fade_len
    samples, fade_start samples into it at the block's start) and late (silent before that offset)."""
    count = window.shape[0]
    n = phases.shape[1] - 1
    last = curve.shape[0] - 1
    segs = np.empty((count, n), dtype=np.float32)
    r = 0
    while r < count:
        # one channel's run of voices within one part
        end = r + 1
        part_end = shaped_from if r < shaped_from else count
        while end < part_end and channel[end] == channel[r]:
            end += 1
        for q in range(r, end):
            seg = segs[q]
            row = phases[which[q]]
            for k in range(n):
                p = base[q] + row[k]
                if clamp and p < 0.0:
                    p = 0.0
                i = np.int64(p)
                frac = np.float32(p - i)
                a = window[q, i]
                seg[k] = a + (window[q, i + 1] - a) * frac
            if q >= shaped_from:
                inv = np.float32(1.0 / fade_len[q])
                top = np.float32((fade_len[q] - 1.0 + fade_start[q]) * np.float64(inv))
                for k in range(n):
                    e = np.float32(1.0)
                    if released[q]:
                        at = since[q] + k
                        if at >= 0:
                            e = curve[min(at, last)]
                    if fading[q]:
                        fade = top - inv * np.float32(k)
                        fade = max(fade, np.float32(0.0))
                        fade = min(fade, np.float32(1.0))
                        e = e * fade
                    if k < late[q]:
                        e = e * np.float32(0.0)
                    seg[k] = seg[k] * e
        # numpy's reduceat: a run's first row, plus the others' pairwise sum
        c = channel[r]
        for k in range(n):
            total = segs[r, k]
            if end - r > 1:
                total += _pairwise(segs, r + 1, end - r - 1, k)
            sums[c, k] += total
        r = end
