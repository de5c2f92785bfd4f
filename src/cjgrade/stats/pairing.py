"""Pair selection strategies for comparative judgement.

The engine calls one function each round::

    pairs = select_pairs(strategy, state, rng, n_pairs=None)

``strategy``
    One of :data:`STRATEGIES`: ``"random"``, ``"coverage"``, ``"adaptive"``, ``"hybrid"``,
    ``"anchor"``, or ``"default"`` (an alias of :data:`DEFAULT_STRATEGY`, ``"hybrid"``).
``state``
    A :class:`PairingState` built with :meth:`PairingState.from_history` from the comparisons
    already asked (A-slot and B-slot item indices), the current ability estimates ``theta`` and
    their standard errors ``se`` (ideally from a prior-based fit, see
    :func:`cjgrade.stats.empirical_bayes.fit_empirical_bayes`) and the anchor mask.
``rng``
    A ``numpy.random.Generator``; no global random state is used, so a seed reproduces a run.
``n_pairs``
    How many pairs to return. ``None`` means one round: every item compared once (``n // 2``
    pairs; with an odd number of items one item sits out). More than a round is built round by
    round, updating the counts in between.

The result is an integer array of shape ``(k, 2)``: column 0 is the item shown in the A slot
(first), column 1 the item in the B slot. ``k`` may be smaller than requested when a strategy
cannot form more valid pairs (the coverage strategy late in a cycle, or fewer than two items).

Every strategy balances A/B orientation per item: an item shown more often in A than in B
gets the B slot next, and partners are preferred so that no item's ``A - B`` count leaves
``[-1, 1]`` (see :func:`_preference_class`).

Strategies (details in ``docs/statistics-pairing.md``):

- ``random``: a uniformly random matching each round.
- ``coverage``: balanced counts; a pair is only repeated once every pair has been asked as
  often (no repeated pair until all pairs are used).
- ``adaptive``: the naive information-maximising rule: items in order of decreasing SE each
  take the unmatched partner whose outcome is most uncertain (``p(1-p)`` at the point
  estimates), weighted by the pair's SE. Kept as a baseline: it concentrates comparisons on
  near neighbours and inflates the Scale Separation Reliability (Bramley 2015).
- ``hybrid`` (the default): a variance-reduction (A-optimal) design. Every candidate pair is
  scored by how much it is expected to shrink the total posterior variance of the abilities
  (:mod:`cjgrade.stats.pairing_design`): close contests are informative, and pairs whose
  *difference* is poorly known (far apart in the comparison graph) keep the scale globally tied
  together, which plain ``p(1-p)`` ignores. Pairs are matched best-first; fresh pairs are
  preferred. ``PairingOptions(design="closeness")`` switches to nearest-estimate pairing with a
  random share instead. The ``variance`` design costs O(n^3) per round (an n-by-n inverse),
  about a second at 1,000 items.
- ``anchor``: students whose share of anchor comparisons is low are paired with the anchor
  nearest their estimate (by expected information); the rest of the round is paired by
  closeness with a random share (the ``closeness`` design of ``hybrid``).

References: Pollitt (2012) on adaptive comparative judgement; Bramley (2015) and Bramley &
Vitello (2019) on adaptivity and reliability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from cjgrade.errors import InputError
from cjgrade.stats.pairing_rounds import build_round, expected_information

__all__ = [
    "DEFAULT_STRATEGY",
    "STRATEGIES",
    "PairingOptions",
    "PairingState",
    "expected_information",
    "select_pairs",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
BoolArray = NDArray[np.bool_]

DEFAULT_STRATEGY = "hybrid"
STRATEGIES = ("random", "coverage", "adaptive", "hybrid", "anchor", "default")
DESIGNS = ("variance", "entropy", "rank", "closeness")


@dataclass(frozen=True)
class PairingOptions:
    """Tuning of the information-based strategies (defaults are the documented ones).

    Attributes
    ----------
    random_share : fraction of the items in a ``closeness`` round whose partner is drawn
        uniformly (among the least-used pairs); keeps the comparison graph globally connected.
    repeat_penalty : multiplies a pair's weight once per time it was already asked.
    closeness_scale : distance scale of the ``hybrid`` closeness weight, as a share of the spread
        of the estimates; with the repeat penalty it sets how much farther a fresh partner may
        be than a repeated one (0.2 and 0.1: about 0.46 spreads).
    draw_scale : posterior SDs of noise added to the estimates before ``closeness`` pairing
        (0 = pair on the estimates themselves).
    design : ``"variance"`` (default: expected reduction of the total posterior variance),
        ``"rank"`` (the same with each item's variance weighted by the population density at
        its estimate to the power ``rank_power``, where rank errors are likelier),
        ``"entropy"`` (expected information ``log(1 + w d)`` about each difference) or
        ``"closeness"`` (nearest estimate, with ``random_share`` random partners). In our
        simulations none of the alternatives beat ``variance`` (docs/statistics-pairing.md).
    rank_power : exponent of the density weight of the ``rank`` design.
    anchor_share : a student is paired with an anchor while fewer than this share of its
        comparisons were against anchors (``anchor`` strategy).
    """

    random_share: float = 0.1
    repeat_penalty: float = 0.1
    closeness_scale: float = 0.2
    draw_scale: float = 0.0
    anchor_share: float = 0.3
    design: str = "variance"
    rank_power: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.random_share <= 1.0:
            raise InputError("random_share must be in [0, 1]")
        for name in ("closeness_scale", "draw_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InputError(f"{name} must be a non-negative number")
        if self.closeness_scale == 0.0:
            raise InputError("closeness_scale must be positive")
        if self.design not in DESIGNS:
            raise InputError(f"unknown pairing design {self.design!r}; use one of {DESIGNS}")
        if not 0.0 <= self.repeat_penalty <= 1.0:
            raise InputError("repeat_penalty must be in [0, 1]")
        if not 0.0 <= self.anchor_share <= 1.0:
            raise InputError("anchor_share must be in [0, 1]")


@dataclass(frozen=True)
class PairingState:
    """What the strategies know about a batch before choosing the next pairs.

    Build it with :meth:`from_history`. Arrays are per item unless stated.

    Attributes
    ----------
    n_items : number of items (students and anchors), indexed ``0..n_items-1``.
    counts : comparisons each item took part in.
    a_counts, b_counts : times each item was shown in the A (first) and B (second) slot.
    anchor_counts : comparisons of each item against an anchor.
    pair_counts : ``(n_items, n_items)`` symmetric matrix, times each unordered pair was asked.
    theta, se : current ability estimates and standard errors (zeros and ones before any fit).
    is_anchor : True for anchor essays (known grades).
    prior_variance : variance of the Gaussian prior of the fit behind ``theta`` (estimated
        from the estimates when absent).
    soft_information : information a comparison carries about its difference when the judge's
        outcomes are soft (``1 / sigma^2``, the inverse noise variance of their logits:
        :mod:`cjgrade.stats.soft_outcomes`), the same for every pair; ``None`` for hard
        outcomes, whose information is ``p (1 - p)``.
    """

    n_items: int
    counts: IntArray
    a_counts: IntArray
    b_counts: IntArray
    anchor_counts: IntArray
    pair_counts: IntArray
    theta: FloatArray
    se: FloatArray
    is_anchor: BoolArray
    prior_variance: float | None = None
    soft_information: float | None = None

    @classmethod
    def from_history(
        cls,
        n_items: int,
        a: object = (),
        b: object = (),
        *,
        theta: object | None = None,
        se: object | None = None,
        is_anchor: object | None = None,
        prior_variance: float | None = None,
        soft_information: float | None = None,
    ) -> PairingState:
        """Validate the comparison history and estimates and derive the counts.

        Parameters
        ----------
        n_items : number of items.
        a, b : item shown in the A slot and in the B slot for every comparison already asked.
        theta, se : current estimates (default 0 and 1 for every item).
        is_anchor : boolean mask of anchors (default: none).
        prior_variance : variance of the Gaussian prior of the fit that produced ``theta`` and
            ``se``, if any (used by the ``hybrid`` design; estimated when absent).

        Raises
        ------
        InputError
            On mismatched lengths, out-of-range indices, self-comparisons, non-finite
            estimates or non-positive standard errors.
        """
        if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer):
            raise InputError("n_items must be an integer")
        n = int(n_items)
        if n < 0:
            raise InputError("n_items must be non-negative")
        a_arr = np.asarray(a, dtype=np.intp).ravel()
        b_arr = np.asarray(b, dtype=np.intp).ravel()
        if a_arr.size != b_arr.size:
            raise InputError(f"a and b differ in length ({a_arr.size} vs {b_arr.size})")
        if a_arr.size and (min(a_arr.min(), b_arr.min()) < 0 or max(a_arr.max(), b_arr.max()) >= n):
            raise InputError(f"item index out of range 0..{n - 1}")
        if np.any(a_arr == b_arr):
            raise InputError("the history contains an item compared with itself")
        theta_arr = _per_item(theta, n, 0.0, "theta")
        se_arr = _per_item(se, n, 1.0, "se")
        if np.any(se_arr <= 0.0):
            raise InputError("se must be positive for every item")
        anchors = (
            np.zeros(n, dtype=np.bool_)
            if is_anchor is None
            else np.asarray(is_anchor, dtype=np.bool_).ravel()
        )
        if anchors.size != n:
            raise InputError(f"is_anchor has length {anchors.size}, expected {n}")
        state = cls(
            n_items=n,
            counts=np.zeros(n, dtype=np.intp),
            a_counts=np.zeros(n, dtype=np.intp),
            b_counts=np.zeros(n, dtype=np.intp),
            anchor_counts=np.zeros(n, dtype=np.intp),
            pair_counts=np.zeros((n, n), dtype=np.intp),
            theta=theta_arr,
            se=se_arr,
            is_anchor=anchors,
            prior_variance=_check_variance(prior_variance),
            soft_information=_check_variance(soft_information),
        )
        return state.with_pairs(np.column_stack([a_arr, b_arr]))

    def with_pairs(self, pairs: IntArray) -> PairingState:
        """A new state with the oriented ``pairs`` (shape ``(k, 2)``) added to the counts."""
        pairs = np.asarray(pairs, dtype=np.intp).reshape(-1, 2)
        a, b = pairs[:, 0], pairs[:, 1]
        n = self.n_items
        pc = self.pair_counts.copy()
        np.add.at(pc, (a, b), 1)
        np.add.at(pc, (b, a), 1)
        a_counts = self.a_counts + np.bincount(a, minlength=n)
        b_counts = self.b_counts + np.bincount(b, minlength=n)
        vs_anchor = np.bincount(a, self.is_anchor[b].astype(np.float64), n) + np.bincount(
            b, self.is_anchor[a].astype(np.float64), n
        )
        return replace(
            self,
            counts=a_counts + b_counts,
            a_counts=a_counts,
            b_counts=b_counts,
            anchor_counts=self.anchor_counts + vs_anchor.astype(np.intp),
            pair_counts=pc,
        )

    def with_estimates(
        self, theta: object, se: object, prior_variance: float | None = None
    ) -> PairingState:
        """A new state with updated ability estimates (same history)."""
        se_arr = _per_item(se, self.n_items, 1.0, "se")
        if np.any(se_arr <= 0.0):
            raise InputError("se must be positive for every item")
        return replace(
            self,
            theta=_per_item(theta, self.n_items, 0.0, "theta"),
            se=se_arr,
            prior_variance=_check_variance(prior_variance),
        )


def _check_variance(value: float | None) -> float | None:
    if value is None:
        return None
    if not (math.isfinite(value) and value > 0):
        raise InputError("prior_variance must be a positive number")
    return float(value)


def _per_item(values: object | None, n: int, default: float, name: str) -> FloatArray:
    if values is None:
        return np.full(n, default)
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size != n:
        raise InputError(f"{name} has length {arr.size}, expected {n}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} must be finite")
    return arr


def select_pairs(
    strategy: str,
    state: PairingState,
    rng: np.random.Generator,
    n_pairs: int | None = None,
    *,
    options: PairingOptions | None = None,
) -> IntArray:
    """Choose the next pairs to compare, with orientation.

    Parameters
    ----------
    strategy : a name in :data:`STRATEGIES` (``"default"`` means :data:`DEFAULT_STRATEGY`).
    state : the current :class:`PairingState`.
    rng : the random generator (the only source of randomness).
    n_pairs : number of pairs; ``None`` for one round (every item about once).
    options : tuning of the information-based strategies.

    Returns
    -------
    numpy.ndarray
        ``(k, 2)`` integer array, ``k <= n_pairs``: column 0 is the A slot, column 1 the B slot.

    Raises
    ------
    InputError
        For an unknown strategy, a negative ``n_pairs``, or ``anchor`` without anchors or
        students.
    """
    if not isinstance(rng, np.random.Generator):
        raise InputError("rng must be a numpy.random.Generator")
    if strategy not in STRATEGIES:
        raise InputError(f"unknown pairing strategy {strategy!r}; choose one of {STRATEGIES}")
    name = DEFAULT_STRATEGY if strategy == "default" else strategy
    if n_pairs is not None and (isinstance(n_pairs, bool) or int(n_pairs) != n_pairs):
        raise InputError("n_pairs must be an integer or None")
    if n_pairs is not None and n_pairs < 0:
        raise InputError("n_pairs must be non-negative")
    if name == "anchor" and (not state.is_anchor.any() or state.is_anchor.all()):
        raise InputError("the anchor strategy needs at least one anchor and one student")
    opts = options or PairingOptions()
    target = state.n_items // 2 if n_pairs is None else int(n_pairs)
    chosen: list[IntArray] = []
    total = 0
    current = state
    while total < target:
        pairs = build_round(name, current, rng, opts, limit=target - total)
        if pairs.shape[0] == 0:
            break
        chosen.append(pairs)
        total += pairs.shape[0]
        current = current.with_pairs(pairs)
    if not chosen:
        return np.zeros((0, 2), dtype=np.intp)
    return np.concatenate(chosen, axis=0)
