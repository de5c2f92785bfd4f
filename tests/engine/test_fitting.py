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


def _stored(cid: int, a: str, b: str, p_a: float, sha: str, *flags: str):
    from cjgrade.store.records import ComparisonRecord

    return ComparisonRecord(
        id=cid, batch_id="b", round=1, slot=cid, essay_a=a, essay_b=b, status="succeeded",
        winner="A" if p_a > 0.5 else "B", p_a=p_a, provider="openai", model="m",
        request_sha256=sha, flags=flags,
    )


def test_cached_copy_of_a_request_counts_once_and_soft_verdicts_are_soft():
    """A verdict the response cache returned for a request already answered in the batch is
    a copy, not a second observation; a fresh repeat of the same request counts. Verdicts with
    0 < p_a < 1 are soft outcomes, 0 and 1 hard ones."""
    from cjgrade.engine.fitting import build_pairwise

    rows = [
        _stored(1, "x", "y", 0.7, "s1", "p_a:logprobs"),
        _stored(2, "x", "y", 0.7, "s1", "p_a:logprobs", "cached"),
        _stored(3, "y", "z", 0.6, "s2", "p_a:logprobs"),
        _stored(4, "y", "z", 0.4, "s2", "p_a:logprobs"),
        _stored(5, "x", "z", 1.0, "s3"),
    ]
    data, judges = build_pairwise(["x", "y", "z"], rows)
    assert data.n_comparisons == 4
    assert list(data.soft) == [True, True, True, False]
    assert judges == ("openai/m",)
