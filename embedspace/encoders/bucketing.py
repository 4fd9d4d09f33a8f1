"""Padding-aware batches: where to cut texts, sorted by token count, into model calls.

A transformer call costs about ``overhead + rows x longest`` token-steps: every row is
padded to the longest one. Cutting sorted texts every ``size`` rows still pads a batch of
short sentences to its one long sentence; on a server's small mixed batches (30-100
sentences) that doubled the work (measured with minilm-l6: 29 news sentences of 8-55
tokens took 200 ms in one call, ~90 ms cut here). The cuts below minimise the total cost
exactly (dynamic programming over the sorted lengths), with at most ``size`` rows a call.
Written here because it is a few lines of arithmetic no library offers on its own.
"""

from __future__ import annotations

import numpy as np

# One onnxruntime call of minilm-l6 costs ~1.5 ms beyond its rows, about what 16 tokens
# cost (measured on 2 cores: 1x16 tokens 2.9 ms, 32x32 94 ms). Larger models make a token
# dearer and the call's fixed cost relatively smaller, so this errs towards fewer cuts.
CALL_OVERHEAD_TOKENS = 16


def padded_cuts(
    lengths: np.ndarray, size: int, overhead: int = CALL_OVERHEAD_TOKENS
) -> list[tuple[int, int]]:
    """``(start, stop)`` ranges over ``lengths`` (ascending token counts) that cover it in
    order, each at most ``size`` long, minimising ``sum(overhead + rows * longest)``."""
    count = len(lengths)
    if count == 0:
        return []
    if size < 1:
        raise ValueError(f"size must be at least 1, not {size}")
    if np.any(np.diff(lengths) < 0):
        raise ValueError("lengths must be sorted ascending")
    longest = np.asarray(lengths, dtype=np.float64)
    best = np.zeros(count + 1)
    cut_at = np.zeros(count + 1, dtype=np.int64)
    for stop in range(1, count + 1):
        starts = np.arange(max(0, stop - size), stop)
        # the call covering [start, stop) pads every row to lengths[stop - 1]
        costs = best[starts] + overhead + (stop - starts) * longest[stop - 1]
        pick = int(np.argmin(costs))
        best[stop] = costs[pick]
        cut_at[stop] = starts[pick]
    cuts: list[tuple[int, int]] = []
    stop = count
    while stop > 0:
        start = int(cut_at[stop])
        cuts.append((start, stop))
        stop = start
    return cuts[::-1]


def spread(
    cuts: list[tuple[int, int]],
    lengths: np.ndarray,
    parts: int,
    overhead: int = CALL_OVERHEAD_TOKENS,
) -> list[tuple[int, int]]:
    """``cuts`` of ``lengths`` (ascending token counts) split further for ``parts`` calls
    side by side, one per core: while there are fewer calls than cores, or the dearest call
    costs more than a core's share of them all, it is split where its two halves cost most
    nearly the same (a call costs ``overhead + rows * longest``). Many calls are left as
    they are; a few are spread so that no core idles while another runs a long call."""

    def cost(call: tuple[int, int]) -> int:
        return call_cost(call, lengths, overhead)

    spread_out = list(cuts)
    while spread_out:
        costs = [cost(call) for call in spread_out]
        dearest = int(np.argmax(costs))
        start, stop = spread_out[dearest]
        enough = len(spread_out) >= parts and costs[dearest] * parts <= sum(costs)
        if enough or stop - start < 2:
            break
        middle = halve((start, stop), lengths, overhead)
        spread_out[dearest : dearest + 1] = [(start, middle), (middle, stop)]
    return spread_out


def call_cost(
    call: tuple[int, int], lengths: np.ndarray, overhead: int = CALL_OVERHEAD_TOKENS
) -> int:
    """What one call over ``lengths[start:stop]`` (ascending) costs, in token-steps."""
    return overhead + (call[1] - call[0]) * int(lengths[call[1] - 1])


def halve(call: tuple[int, int], lengths: np.ndarray, overhead: int = CALL_OVERHEAD_TOKENS) -> int:
    """Where to cut ``call`` (two rows or more) so that its dearer half costs least."""
    start, stop = call
    return min(
        range(start + 1, stop),
        key=lambda m: max(
            call_cost((start, m), lengths, overhead), call_cost((m, stop), lengths, overhead)
        ),
    )
