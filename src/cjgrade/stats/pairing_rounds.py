"""One round of pairs for each strategy of :mod:`cjgrade.stats.pairing`.

A round is a matching: every participating item appears at most once. Each strategy supplies
an order in which items choose a partner, a weight for every candidate partner and a rule
(greedy or sampled); the shared matcher then applies the orientation-balance preference and
orients every pair. Private to the pairing package: call :func:`cjgrade.stats.pairing.select_pairs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from cjgrade.stats.pairing_design import variance_reduction

if TYPE_CHECKING:
    from cjgrade.stats.pairing import PairingOptions, PairingState

__all__ = ["build_round", "expected_information"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

# Weight multiplier per earlier use of a pair for the naive adaptive rule: effectively "never
# repeat a pair while an unused partner is free".
_NAIVE_REPEAT_PENALTY = 1e-6
# Restarts of the coverage matcher when a round falls short (few unused pairs left late in a
# cycle) or would push an orientation skew beyond one.
_COVERAGE_ATTEMPTS = 12


def expected_information(state: PairingState, *, integrate: bool = True) -> FloatArray:
    """Expected Fisher information ``E[p (1 - p)]`` of comparing every pair of items.

    With ``integrate`` the difference ``theta_i - theta_j`` is treated as normal with variance
    ``se_i**2 + se_j**2`` and the logistic is integrated with the probit approximation
    (MacKay 1992), so uncertain items look informative against a wider range of partners.
    Without it, ``p`` is taken at the point estimates. For soft outcomes
    (``state.soft_information``) every pair carries that information. Returns an ``(n, n)``
    matrix with a zero diagonal.
    """
    if state.soft_information is not None:
        flat = np.full((state.n_items, state.n_items), state.soft_information)
        np.fill_diagonal(flat, 0.0)
        return flat
    diff = state.theta[:, None] - state.theta[None, :]
    if integrate:
        var = state.se[:, None] ** 2 + state.se[None, :] ** 2
        kappa = 1.0 / np.sqrt(1.0 + np.pi * var / 8.0)
    else:
        kappa = np.ones_like(diff)
    p = 1.0 / (1.0 + np.exp(-kappa * diff))
    info: FloatArray = kappa * p * (1.0 - p)
    np.fill_diagonal(info, 0.0)
    return info


def build_round(
    name: str, state: PairingState, rng: np.random.Generator, opts: PairingOptions, limit: int
) -> IntArray:
    """Pairs (A slot, B slot) of one round of strategy ``name``, at most ``limit`` of them."""
    if state.n_items < 2 or limit <= 0:
        return np.zeros((0, 2), dtype=np.intp)
    members = _participants(state, rng)
    if name == "random":
        return _round_random(state, members, rng, limit)
    if name == "coverage":
        return _round_coverage(state, members, rng, limit)
    if name == "adaptive":
        return _round_adaptive(state, members, rng, limit)
    if name == "hybrid":
        return _round_hybrid(state, members, rng, opts, limit)
    if name == "anchor":
        return _round_anchor(state, members, rng, opts, limit)
    raise ValueError(f"no round builder for strategy {name!r}")  # guarded by select_pairs


def _participants(state: PairingState, rng: np.random.Generator) -> IntArray:
    """All items, minus one when their number is odd.

    The item that sits out has the most comparisons, then a balanced orientation
    (A - B == 0) if possible, ties broken at random: this keeps counts and orientation balanced.
    """
    n = state.n_items
    items = np.arange(n, dtype=np.intp)
    if n % 2 == 0:
        return items
    skew = state.a_counts - state.b_counts
    key = np.lexsort((rng.random(n), np.abs(skew), -state.counts))
    return np.sort(np.delete(items, key[0]))


def _preference_class(candidates: BoolArray, skew: IntArray, i: int) -> BoolArray:
    """Restrict candidates to those whose pairing with ``i`` keeps every |A - B| <= 1.

    An item with more A than B appearances prefers partners with more B than A, then balanced
    ones; a balanced item prefers balanced partners, then the sign in surplus among the
    candidates (so the last unbalanced items are not left with only same-sign partners). When
    every item starts within one and the signs are in balance, the preferred class is never
    empty and no item's skew leaves ``[-1, 1]``.
    """
    s = int(np.sign(skew[i]))
    sign = np.sign(skew)
    if s != 0:
        order = [sign == -s, sign == 0]
    else:
        surplus = 1 if int(np.sum(sign[candidates])) >= 0 else -1
        order = [sign == 0, sign == surplus]
    for mask in order:
        sub: BoolArray = candidates & mask
        if sub.any():
            return sub
    return candidates


def _orient(i: int, j: int, skew: IntArray, rng: np.random.Generator) -> tuple[int, int]:
    """Put in the A slot the item that has been in B more often (ties at random)."""
    if skew[i] < skew[j] or (skew[i] == skew[j] and rng.random() < 0.5):
        first, second = i, j
    else:
        first, second = j, i
    skew[first] += 1
    skew[second] -= 1
    return first, second


def _match(
    state: PairingState,
    order: IntArray,
    weights: FloatArray,
    allowed: BoolArray,
    rng: np.random.Generator,
    limit: int,
    *,
    greedy: bool,
    uniform: BoolArray | None = None,
    free: BoolArray | None = None,
    skew: IntArray | None = None,
) -> IntArray:
    """Let the items in ``order`` choose unmatched partners in turn.

    ``weights[i, j]`` scores partner ``j`` for ``i`` (argmax when ``greedy``, else sampled in
    proportion; uniform when all candidate weights are zero); ``allowed`` is a hard mask;
    ``uniform[i]`` makes item ``i`` choose uniformly. ``free`` and ``skew`` are updated in place
    when given, so several matchers can share one round.
    """
    n = state.n_items
    if free is None:
        free = np.zeros(n, dtype=np.bool_)
        free[order] = True
    if skew is None:
        skew = (state.a_counts - state.b_counts).astype(np.intp)
    pairs: list[tuple[int, int]] = []
    for i in order.tolist():
        if len(pairs) >= limit:
            break
        if not free[i]:
            continue
        candidates = free & allowed[i]
        candidates[i] = False
        if not candidates.any():
            continue
        candidates = _preference_class(candidates, skew, i)
        idx = np.flatnonzero(candidates)
        w = weights[i, idx]
        if uniform is not None and uniform[i]:
            w = np.ones_like(w)
        if greedy:
            best = np.flatnonzero(w >= w.max())
            j = int(idx[best[rng.integers(best.size)]])
        else:
            total = float(w.sum())
            probs = w / total if total > 0 else np.full(idx.size, 1.0 / idx.size)
            j = int(idx[rng.choice(idx.size, p=probs)])
        free[i] = free[j] = False
        pairs.append(_orient(i, j, skew, rng))
    return np.asarray(pairs, dtype=np.intp).reshape(-1, 2)


def _no_self(n: int) -> BoolArray:
    return ~np.eye(n, dtype=np.bool_)


def _round_random(
    state: PairingState, members: IntArray, rng: np.random.Generator, limit: int
) -> IntArray:
    n = state.n_items
    order = rng.permutation(members)
    return _match(state, order, np.ones((n, n)), _no_self(n), rng, limit, greedy=False)


def _orientation_safe(state: PairingState) -> BoolArray:
    """Pairs that cannot push an orientation skew beyond one: not both ahead in the same slot."""
    sign = np.sign(state.a_counts - state.b_counts)
    safe: BoolArray = (sign[:, None] == 0) | (sign[:, None] != sign[None, :])
    return safe


def _round_coverage(
    state: PairingState, members: IntArray, rng: np.random.Generator, limit: int
) -> IntArray:
    """Only pairs asked the fewest times so far (over all pairs) are allowed."""
    n = state.n_items
    pc = state.pair_counts
    off = _no_self(n)
    sub = pc[np.ix_(members, members)][off[np.ix_(members, members)]]
    allowed = off & (pc == int(sub.min()))
    want = min(limit, members.size // 2)
    best = np.zeros((0, 2), dtype=np.intp)
    best_key = (-1, 0)
    for attempt in range(_COVERAGE_ATTEMPTS):
        # Items with few comparisons choose first; random ties give each attempt a new order.
        key = np.lexsort((rng.random(members.size), state.counts[members]))
        order = members[key]
        # Try first with pairs of same-sign orientation skew forbidden outright.
        ok = allowed & _orientation_safe(state) if attempt < _COVERAGE_ATTEMPTS // 2 else allowed
        pairs = _match(state, order, np.ones((n, n)), ok, rng, want, greedy=False)
        # Most pairs first, then the smallest orientation skew after the round.
        after = state.a_counts - state.b_counts
        after = (
            after + np.bincount(pairs[:, 0], minlength=n) - np.bincount(pairs[:, 1], minlength=n)
        )
        attempt_key = (pairs.shape[0], -int(np.max(np.abs(after))))
        if attempt_key > best_key:
            best, best_key = pairs, attempt_key
        if best.shape[0] >= want and best_key[1] >= -1:
            break
    return best


def _round_adaptive(
    state: PairingState, members: IntArray, rng: np.random.Generator, limit: int
) -> IntArray:
    """Naive information maximisation: greedy, point estimates, most uncertain items first."""
    n = state.n_items
    info = expected_information(state, integrate=False)
    var = state.se**2
    weights = info * (var[:, None] + var[None, :]) * _NAIVE_REPEAT_PENALTY**state.pair_counts
    key = np.lexsort((rng.random(members.size), -state.se[members]))
    order = members[key]
    return _match(state, order, weights, _no_self(n), rng, limit, greedy=True)


def _hybrid_weights(
    state: PairingState, opts: PairingOptions, rng: np.random.Generator
) -> FloatArray:
    """Closeness ``exp(-|t_i - t_j| / scale)`` times the repeat penalty, where ``t`` is the
    current estimate, optionally perturbed by ``draw_scale`` posterior SDs (a Thompson-style
    draw that widens the partners of uncertain items). ``scale`` is ``closeness_scale`` times
    the spread of ``t``; with greedy choice it only sets how far a fresh partner may be before a
    repeated pair is preferred."""
    draw = state.theta + opts.draw_scale * state.se * rng.standard_normal(state.n_items)
    scale = max(opts.closeness_scale * float(np.std(draw)), 1e-9)
    close = np.exp(-np.abs(draw[:, None] - draw[None, :]) / scale)
    weights: FloatArray = close * opts.repeat_penalty**state.pair_counts
    return weights


def _hybrid_choices(
    state: PairingState, opts: PairingOptions, rng: np.random.Generator
) -> FloatArray:
    """Weights of one hybrid round: closeness for most items, uniform (repeats still
    penalised) for a random ``random_share`` of them."""
    uniform = rng.random(state.n_items) < opts.random_share
    repeat = opts.repeat_penalty**state.pair_counts
    # A uniform item's weights are equal but for repeats: greedy choice then picks at random
    # among its least-used partners.
    weights: FloatArray = np.where(uniform[:, None], repeat, _hybrid_weights(state, opts, rng))
    return weights


def _round_hybrid(
    state: PairingState,
    members: IntArray,
    rng: np.random.Generator,
    opts: PairingOptions,
    limit: int,
) -> IntArray:
    """Nearest fresh partner by estimate, with a random share (the default strategy)."""
    n = state.n_items
    if opts.design in ("variance", "entropy", "rank"):
        crit = {"variance": "trace", "entropy": "entropy", "rank": "rank"}[opts.design]
        gain = variance_reduction(state, crit, opts.rank_power)
        gain = gain * opts.repeat_penalty**state.pair_counts
        return _match_best_first(state, members, gain, rng, limit)
    order = rng.permutation(members)
    weights = _hybrid_choices(state, opts, rng)
    return _match(state, order, weights, _no_self(n), rng, limit, greedy=True)


def _match_best_first(
    state: PairingState, members: IntArray, gain: FloatArray, rng: np.random.Generator, limit: int
) -> IntArray:
    """Greedy matching on the pairs themselves: highest gain first, both items still free.

    Pairs that could push an orientation skew beyond one are skipped. What is left then is a
    set of items ahead in the same slot; each two of them are swapped into a chosen pair whose
    items are not, which keeps every skew within one.
    """
    sub = gain[np.ix_(members, members)] + 1e-12 * rng.random((members.size, members.size))
    iu, ju = np.triu_indices(members.size, 1)
    ranked_all = np.argsort(-sub[iu, ju], kind="stable")
    safe = _orientation_safe(state)
    free = np.zeros(state.n_items, dtype=np.bool_)
    free[members] = True
    n_free = members.size
    chosen: list[tuple[int, int]] = []
    step = _CHUNK_PER_ITEM * members.size
    for start in range(0, ranked_all.size, step):
        ranked = ranked_all[start:start + step]
        cand_i, cand_j = members[iu[ranked]], members[ju[ranked]]
        # Items only ever leave the free set: pairs already impossible are dropped at once,
        # so the Python loop sees few of the millions of candidates.
        open_ = free[cand_i] & free[cand_j] & safe[cand_i, cand_j]
        for i, j in zip(cand_i[open_].tolist(), cand_j[open_].tolist(), strict=True):
            if free[i] and free[j] and safe[i, j]:
                free[i] = free[j] = False
                n_free -= 2
                chosen.append((i, j))
        still = np.flatnonzero(free)
        if n_free < 2 or not np.any(np.triu(safe[np.ix_(still, still)], 1)):
            break  # no two free items can still be paired: the rest of the ranking is moot
    left = np.flatnonzero(free).tolist()
    for u, v in zip(left[0::2], left[1::2], strict=False):
        chosen.append(_swap_in(chosen, u, v, safe, gain))
    chosen.sort(key=lambda p: -float(gain[p[0], p[1]]))
    skew = (state.a_counts - state.b_counts).astype(np.intp)
    oriented = [_orient(i, j, skew, rng) for i, j in chosen[:limit]]
    return np.asarray(oriented, dtype=np.intp).reshape(-1, 2)


_CHUNK_PER_ITEM = 16
"""Ranked candidate pairs screened at once per item (32,000 at 2,000 essays)."""


def _swap_in(
    chosen: list[tuple[int, int]], u: int, v: int, safe: BoolArray, gain: FloatArray
) -> tuple[int, int]:
    """Pair leftovers ``u`` and ``v`` safely by exchanging partners with a chosen pair
    ``(x, y)`` -> ``(u, x), (v, y)``; return the pair to append (``(u, v)`` if no exchange
    is safe)."""
    best, best_gain = -1, -np.inf
    for k, (x, y) in enumerate(chosen):
        for a, b in ((x, y), (y, x)):
            if safe[u, a] and safe[v, b] and gain[u, a] + gain[v, b] > best_gain:
                best, best_gain = k, float(gain[u, a] + gain[v, b])
                pair = (a, b)
    if best < 0:
        return (u, v)
    x, y = pair
    chosen[best] = (u, x)
    return (v, y)


def _round_anchor(
    state: PairingState,
    members: IntArray,
    rng: np.random.Generator,
    opts: PairingOptions,
    limit: int,
) -> IntArray:
    """Students short of anchor comparisons meet the anchor nearest their estimate first."""
    n = state.n_items
    free = np.zeros(n, dtype=np.bool_)
    free[members] = True
    skew = (state.a_counts - state.b_counts).astype(np.intp)
    students = members[~state.is_anchor[members]]
    needy = students[
        state.anchor_counts[students] < opts.anchor_share * (state.counts[students] + 1)
    ]
    needy = needy[rng.permutation(needy.size)]
    info = expected_information(state, integrate=True)
    weights = info * opts.repeat_penalty**state.pair_counts
    to_anchor = np.broadcast_to(state.is_anchor, (n, n))
    first = _match(state, needy, weights, to_anchor, rng, limit, greedy=True, free=free, skew=skew)
    rest = members[free[members]]
    rest = rest[rng.permutation(rest.size)]
    hybrid = _hybrid_choices(state, opts, rng)
    second = _match(
        state,
        rest,
        hybrid,
        _no_self(n),
        rng,
        limit - first.shape[0],
        greedy=True,
        free=free,
        skew=skew,
    )
    return np.concatenate([first, second], axis=0)
