"""Pair selection strategies: structure, coverage, orientation, anchors, determinism, errors."""

from __future__ import annotations

import numpy as np
import pytest

from cjgrade.errors import InputError
from cjgrade.stats.pairing import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    PairingOptions,
    PairingState,
    expected_information,
    select_pairs,
)


def _run_rounds(
    strategy: str, n: int, rounds: int, rng: np.random.Generator, **state_kw: object
) -> tuple[PairingState, list[np.ndarray]]:
    state = PairingState.from_history(n, **state_kw)  # type: ignore[arg-type]
    history = []
    for _ in range(rounds):
        pairs = select_pairs(strategy, state, rng)
        history.append(pairs)
        state = state.with_pairs(pairs)
    return state, history


@pytest.mark.parametrize("strategy", ["random", "coverage", "adaptive", "hybrid", "default"])
def test_round_is_a_matching(strategy: str, rng: np.random.Generator) -> None:
    """One round compares every item exactly once (n even), never an item with itself."""
    theta = rng.normal(0, 1, 20)
    state = PairingState.from_history(20, theta=theta, se=np.full(20, 0.5))
    pairs = select_pairs(strategy, state, rng)
    assert pairs.shape == (10, 2)
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert sorted(pairs.ravel().tolist()) == list(range(20))


def test_odd_round_leaves_one_out(rng: np.random.Generator) -> None:
    """With an odd number of items a round has n // 2 pairs and one item sits out."""
    pairs = select_pairs("random", PairingState.from_history(9), rng)
    assert pairs.shape == (4, 2)
    assert len(set(pairs.ravel().tolist())) == 8


def test_coverage_uses_every_pair_before_repeating(rng: np.random.Generator) -> None:
    """Coverage asks all n(n-1)/2 pairs once before any pair is asked a second time."""
    n = 8
    state = PairingState.from_history(n)
    seen: set[tuple[int, int]] = set()
    total = n * (n - 1) // 2
    while len(seen) < total:
        pairs = select_pairs("coverage", state, rng)
        assert pairs.shape[0] > 0
        for a, b in pairs.tolist():
            key = (min(a, b), max(a, b))
            assert key not in seen, f"pair {key} repeated before all pairs were used"
            seen.add(key)
        state = state.with_pairs(pairs)
    # Afterwards every pair has been asked exactly once and the next cycle starts.
    upper = state.pair_counts[np.triu_indices(n, 1)]
    assert np.all(upper == 1)
    assert select_pairs("coverage", state, rng).shape[0] > 0


def test_coverage_keeps_counts_balanced(rng: np.random.Generator) -> None:
    """After any number of coverage rounds the counts per item differ by at most one."""
    n = 11
    state = PairingState.from_history(n)
    for _ in range(7):
        state = state.with_pairs(select_pairs("coverage", state, rng))
        assert state.counts.max() - state.counts.min() <= 1


@pytest.mark.parametrize("strategy", ["random", "adaptive", "hybrid"])
@pytest.mark.parametrize("n", [12, 13])
def test_orientation_within_one(strategy: str, n: int, rng: np.random.Generator) -> None:
    """Every item is in slot A and slot B equally often, within one, after every round."""
    theta = rng.normal(0, 1.5, n)
    state = PairingState.from_history(n, theta=theta, se=np.full(n, 0.4))
    for _ in range(15):
        state = state.with_pairs(select_pairs(strategy, state, rng))
        assert np.max(np.abs(state.a_counts - state.b_counts)) <= 1


@pytest.mark.parametrize("n", [12, 13])
def test_coverage_orientation_nearly_balanced(n: int, rng: np.random.Generator) -> None:
    """Coverage (pairs fixed by the no-repeat rule) keeps orientation within one in most
    rounds and never lets an item drift beyond three."""
    state = PairingState.from_history(n)
    worst = []
    for _ in range(3 * n):
        state = state.with_pairs(select_pairs("coverage", state, rng))
        worst.append(int(np.max(np.abs(state.a_counts - state.b_counts))))
    assert max(worst) <= 3
    assert sum(w > 1 for w in worst) <= len(worst) // 3


def test_anchor_strategy_pairs_students_with_nearby_anchors(rng: np.random.Generator) -> None:
    """Students get anchor comparisons, against anchors close to their own estimate."""
    n_students, anchors_theta = 24, np.linspace(-3, 3, 8)
    students_theta = rng.uniform(-3, 3, n_students)
    theta = np.concatenate([students_theta, anchors_theta])
    is_anchor = np.r_[np.zeros(n_students, bool), np.ones(anchors_theta.size, bool)]
    state = PairingState.from_history(
        theta.size, theta=theta, se=np.full(theta.size, 0.3), is_anchor=is_anchor
    )
    distances = []
    for _ in range(12):
        pairs = select_pairs("anchor", state, rng)
        for a, b in pairs.tolist():
            if is_anchor[a] != is_anchor[b]:
                distances.append(abs(theta[a] - theta[b]))
        state = state.with_pairs(pairs)
    students = ~is_anchor
    share = state.anchor_counts[students] / state.counts[students]
    assert share.min() >= 0.2
    # Student-anchor pairs are much closer than a student and an anchor drawn at random.
    at_random = np.abs(students_theta[:, None] - anchors_theta[None, :])
    assert np.median(distances) < 0.6 * np.median(at_random)


def test_anchor_strategy_needs_anchors(rng: np.random.Generator) -> None:
    """The anchor strategy without anchors is an input error, not a silent fallback."""
    with pytest.raises(InputError, match="anchor"):
        select_pairs("anchor", PairingState.from_history(6), rng)


@pytest.mark.parametrize("strategy", ["random", "coverage", "adaptive", "hybrid", "anchor"])
def test_seeded_determinism(strategy: str) -> None:
    """The same seed and state give the same pairs; no global random state is used."""
    theta = np.linspace(-2, 2, 14)
    anchors = np.arange(14) % 5 == 0
    state = PairingState.from_history(14, theta=theta, se=np.full(14, 0.7), is_anchor=anchors)
    first = select_pairs(strategy, state, np.random.default_rng(7), 20)
    np.random.seed(1)  # global state must not matter
    second = select_pairs(strategy, state, np.random.default_rng(7), 20)
    assert np.array_equal(first, second)


def test_n_pairs_spans_rounds(rng: np.random.Generator) -> None:
    """Asking for more than a round builds further rounds with updated counts."""
    pairs = select_pairs("coverage", PairingState.from_history(6), rng, 9)
    assert pairs.shape == (9, 2)
    keys = {(min(a, b), max(a, b)) for a, b in pairs.tolist()}
    assert len(keys) == 9
    assert select_pairs("random", PairingState.from_history(6), rng, 0).shape == (0, 2)


def test_adaptive_prefers_close_pairs(rng: np.random.Generator) -> None:
    """The naive adaptive rule pairs items with close estimates."""
    theta = np.arange(10, dtype=float) * 1.0
    state = PairingState.from_history(10, theta=theta, se=np.full(10, 0.3))
    pairs = select_pairs("adaptive", state, rng)
    gaps = np.abs(theta[pairs[:, 0]] - theta[pairs[:, 1]])
    # Greedy matching may strand the last two items apart; the others are neighbours.
    assert np.sum(gaps <= 1.0) >= 4


def test_expected_information_shape_and_peak() -> None:
    """Expected information is symmetric, zero on the diagonal and largest for equal items."""
    state = PairingState.from_history(3, theta=[0.0, 0.0, 3.0], se=[0.1, 0.1, 0.1])
    info = expected_information(state)
    assert np.allclose(info, info.T)
    assert np.all(np.diag(info) == 0)
    assert info[0, 1] > info[0, 2]
    assert info[0, 1] <= 0.25


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"a": [0, 1], "b": [1]}, "differ in length"),
        ({"a": [0], "b": [5]}, "out of range"),
        ({"a": [2], "b": [2]}, "itself"),
        ({"theta": [0.0, 1.0]}, "theta has length"),
        ({"se": [1.0, 0.0, 1.0, 1.0]}, "positive"),
        ({"theta": [0.0, np.nan, 0.0, 0.0]}, "finite"),
        ({"is_anchor": [True]}, "is_anchor"),
    ],
)
def test_invalid_state_raises(kwargs: dict[str, object], match: str) -> None:
    """Malformed history or estimates raise InputError naming the problem."""
    with pytest.raises(InputError, match=match):
        PairingState.from_history(4, **kwargs)  # type: ignore[arg-type]


def test_invalid_arguments_raise(rng: np.random.Generator) -> None:
    """Unknown strategy, negative n_pairs, a non-Generator rng and bad options raise."""
    state = PairingState.from_history(4)
    with pytest.raises(InputError, match="unknown pairing strategy"):
        select_pairs("swiss", state, rng)
    with pytest.raises(InputError, match="non-negative"):
        select_pairs("random", state, rng, -1)
    with pytest.raises(InputError, match="Generator"):
        select_pairs("random", state, 42)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="random_share"):
        PairingOptions(random_share=1.5)


def test_strategy_names() -> None:
    """The default is one of the named strategies and every name is accepted."""
    assert DEFAULT_STRATEGY in STRATEGIES
    state = PairingState.from_history(6, is_anchor=[True, False, False, False, False, True])
    for name in STRATEGIES:
        assert select_pairs(name, state, np.random.default_rng(0)).shape[0] == 3

