"""Round fits: how much the reliability sampler runs for a batch of a given size."""

from __future__ import annotations

from cjgrade.engine.fitting import MAX_SAMPLED_ITEMS, sampler_draws


def test_sampler_draws_shrink_with_batch_size_within_bounds():
    """Small batches get 300 draws, large ones no fewer than 30, never increasing with size;
    warm-up is half the draws and at least 30."""
    sizes = [2, 60, 200, 201, 500, 800, 1000, 1500, MAX_SAMPLED_ITEMS]
    draws = [sampler_draws(n) for n in sizes]
    assert draws[0] == (300, 150) and draws[2] == (300, 150)
    assert sampler_draws(1000) == (60, 30)
    assert sampler_draws(MAX_SAMPLED_ITEMS) == (30, 30)
    counts = [d for d, _ in draws]
    assert counts == sorted(counts, reverse=True)
    assert all(w == max(30, d // 2) for d, w in draws)
