"""Bradley-Terry fits of a comparison graph that falls apart into connected components.

Entry points::

    label_components(data) -> Components
    fit_by_component(data, *, eps=0.0, ...) -> ComponentFit

Without a prior, abilities in different components of the comparison graph are not comparable:
no decision links them, so the likelihood says nothing about their relative level and
:func:`~cjgrade.stats.bt.fit_bradley_terry` refuses such data. ``sirt::btm`` (Robitzsch, R
package sirt) fits it anyway when its score adjustment ``eps`` is on, and so does
:func:`fit_by_component` with ``eps > 0``, placing the components where ``sirt::btm`` does.

What ``sirt::btm`` does (``R/btm.R``, File Version 1.541, and ``R/btm_trim_increment.R``):
one loop over all items. Start values ``qlogis((p + 0.1) / 1.2)`` of the adjusted score
proportions ``p``, centred to mean zero; each iteration gives every item the diagonal Newton
step ``d1 / d2`` (adjusted score minus expected score over the information), trimmed to
``0.98 ** iteration``, then re-centres theta to mean zero over *all* items; it stops when the
largest change is at most ``conv`` (1e-4) or after ``maxiter`` (100) iterations. Consequences
for a disconnected graph, checked against sirt's output on a real five-component session:

- within a component the iteration settles on the component's *own* fixed point (adjusted score
  minus expected score equals ``c_k`` times the information, one constant ``c_k`` per
  component), which is what ``fit_bradley_terry(..., eps=eps)`` solves on the component alone;
- the overall mean is zero;
- the components' levels relative to each other are *not* a fixed point of anything. In every
  iteration a component moves by the mean of its items' steps minus the mean over all items,
  so its level is wherever the start values and the iterations left it when sirt stopped (when
  the ``c_k`` differ, the components drift apart by ``c_k - mean(c)`` per iteration until
  ``maxiter``). That placement is an artefact of the algorithm, not information in the data.

We match all three: abilities within a component come from ``fit_bradley_terry`` on that
component (converged to ``tol``, not to sirt's 1e-4), and each component's mean is the one
sirt's iteration arrives at, computed by running that iteration (same start values, steps,
trimming, centring and stopping rule; ``sirt_max_iter`` and ``sirt_tol`` are its ``maxiter``
and ``conv``). On the real session (20 items in five groups of four) this reproduces sirt's
abilities within 3e-5 (its iteration alone reproduces them to 1e-14). Compare abilities only
within a component.

Ties and soft outcomes enter the placement iteration as fractional wins (sirt has no soft
outcomes, and the researchers' fits ignored ties). Items with no comparisons get NaN abilities
and standard errors and belong to no component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csgraph, csr_matrix
from scipy.special import expit, logit

from cjgrade.errors import ConvergenceError, InputError
from cjgrade.stats.bt import BTFit, PairwiseData, SEMethod, fit_bradley_terry

__all__ = ["ComponentFit", "Components", "fit_by_component", "label_components"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class Components:
    """Connected components of the comparison graph (comparisons with positive weight).

    Attributes
    ----------
    labels : component of each item, ``0`` = the largest (ties: the one holding the lowest item
        index first); ``-1`` for an item with no comparisons.
    sizes : number of items in each component, largest first.
    """

    labels: IntArray
    sizes: tuple[int, ...]

    @property
    def n_components(self) -> int:
        """Number of components, items with no comparisons not counted."""
        return len(self.sizes)

    @property
    def isolated(self) -> tuple[int, ...]:
        """Items with no comparisons."""
        return tuple(int(i) for i in np.flatnonzero(self.labels < 0))


@dataclass(frozen=True)
class ComponentFit:
    """Result of :func:`fit_by_component`.

    Attributes
    ----------
    fit : the combined fit in the original item order. ``theta`` and ``se`` are NaN for items
        with no comparisons; ``se`` is each item's standard error within its component;
        ``components``, ``isolated`` and ``extreme`` cover the whole graph; ``log_likelihood``
        and ``n_iter`` are summed over the components. Other fields (e.g. a soft-outcome noise
        variance) are those of the largest component's fit.
    components : the components.
    offsets : mean ability of each component (its placement), in the order of ``sizes``.
    """

    fit: BTFit
    components: Components
    offsets: FloatArray


def label_components(data: PairwiseData) -> Components:
    """Split the items into connected components of the comparison graph."""
    n = data.n_items
    used = data.weight > 0
    a, b = data.a[used], data.b[used]
    graph = csr_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    _, raw = csgraph.connected_components(graph, directed=False)
    active = np.zeros(n, dtype=np.bool_)
    active[a] = True
    active[b] = True
    comp_ids, first, counts = np.unique(raw[active], return_index=True, return_counts=True)
    first_item = np.flatnonzero(active)[first]
    order = np.lexsort((first_item, -counts))  # largest first, then by lowest item index
    rank = np.empty(comp_ids.size, dtype=np.intp)
    rank[order] = np.arange(comp_ids.size)
    labels = np.full(n, -1, dtype=np.intp)
    labels[active] = rank[np.searchsorted(comp_ids, raw[active])]
    return Components(labels=labels, sizes=tuple(int(c) for c in counts[order]))


def fit_by_component(
    data: PairwiseData,
    *,
    eps: float = 0.0,
    position_effect: bool = False,
    max_iter: int = 100,
    tol: float = 1e-9,
    se_method: SEMethod = "fisher",
    max_dense_se: int = 6000,
    item_labels: Sequence[str] | None = None,
    sirt_max_iter: int = 100,
    sirt_tol: float = 1e-4,
) -> ComponentFit:
    """Fit Bradley-Terry without a prior, component by component, placed as ``sirt::btm`` does.

    Parameters
    ----------
    data : the comparisons.
    eps : sirt's score adjustment (see :func:`~cjgrade.stats.bt.fit_bradley_terry`). A graph
        with more than one component is fitted only with ``eps > 0``.
    position_effect : estimate a first-position effect; only for a single component (the
        effect is shared by all comparisons, so components cannot be fitted apart).
    max_iter, tol, se_method, max_dense_se, item_labels : passed to ``fit_bradley_terry`` for
        each component (``max_dense_se`` thus applies per component).
    sirt_max_iter, sirt_tol : ``maxiter`` and ``conv`` of the ``sirt::btm`` iteration that
        places the components (sirt's defaults: 100 and 1e-4).

    Returns
    -------
    ComponentFit

    Raises
    ------
    ConvergenceError
        With ``eps == 0`` and more than one component (the scale is not identified), or when a
        component's fit raises it.
    InputError
        When no comparison has positive weight, for a position effect on several components,
        or for invalid options.

    References
    ----------
    Robitzsch, R package ``sirt``, function ``btm``; Bertoli-Barsotti, Lando & Punzo (2014).
    """
    if sirt_max_iter < 1 or not sirt_tol > 0:
        raise InputError("sirt_max_iter must be at least 1 and sirt_tol positive")
    comps = label_components(data)
    k = comps.n_components
    if k == 0:
        raise InputError("no comparison has a positive weight; there is nothing to fit")
    if k > 1:
        _check_fittable_apart(comps, eps, position_effect, data, item_labels)
    members = [np.flatnonzero(comps.labels == c) for c in range(k)]
    fits = [
        fit_bradley_terry(
            _subset(data, items),
            eps=eps,
            position_effect=position_effect,
            max_iter=max_iter,
            tol=tol,
            se_method=se_method,
            max_dense_se=max_dense_se,
            item_labels=None if item_labels is None else [item_labels[int(i)] for i in items],
        )
        for items in members
    ]
    offsets = _sirt_offsets(data, comps, eps, sirt_max_iter, sirt_tol) if k > 1 else np.zeros(1)
    return ComponentFit(_combine(data.n_items, comps, members, fits, offsets), comps, offsets)


def _check_fittable_apart(
    comps: Components,
    eps: float,
    position_effect: bool,
    data: PairwiseData,
    item_labels: Sequence[str] | None,
) -> None:
    k = comps.n_components
    if eps == 0.0:
        examples = []
        for c in range(min(k, 5)):
            items = np.flatnonzero(comps.labels == c)[:3]
            examples.append([int(i) if item_labels is None else item_labels[i] for i in items])
        raise ConvergenceError(
            f"the comparison graph has {k} disconnected components (sizes "
            f"{_sizes_text(comps.sizes)}; e.g. items {examples}), so their levels relative to "
            "each other are not identified: add comparisons between them, use a prior "
            "(alpha > 0), or a score adjustment (eps > 0) to fit each component on its own as "
            "sirt::btm does"
        )
    if position_effect and bool(np.any(data.position_known & (data.weight > 0))):
        raise InputError(
            f"a first-position effect is shared by all comparisons, so it cannot be fitted on "
            f"the {k} disconnected components of this comparison graph one by one; fit without "
            "it, or use a prior (alpha > 0)"
        )


def _sizes_text(sizes: tuple[int, ...], limit: int = 10) -> str:
    text = ", ".join(str(s) for s in sizes[:limit])
    return text + (f", ... ({len(sizes)} in all)" if len(sizes) > limit else "")


def _subset(data: PairwiseData, items: IntArray) -> PairwiseData:
    """The comparisons among ``items``, re-indexed ``0..len(items)-1``.

    Every per-comparison array of :class:`PairwiseData` is subset, whatever its fields.
    """
    if items.size == data.n_items:
        return data  # one component holding every item: nothing to copy
    local = np.full(data.n_items, -1, dtype=np.intp)
    local[items] = np.arange(items.size)
    keep = local[data.a] >= 0  # both ends share a component
    m = data.n_comparisons
    changes: dict[str, Any] = {}
    for f in fields(data):
        value = getattr(data, f.name)
        if isinstance(value, np.ndarray) and value.shape == (m,):
            changes[f.name] = value[keep]
    changes["a"] = local[data.a[keep]]
    changes["b"] = local[data.b[keep]]
    return replace(data, n_items=int(items.size), **changes)


def _combine(
    n: int,
    comps: Components,
    members: list[IntArray],
    fits: list[BTFit],
    offsets: FloatArray,
) -> BTFit:
    theta = np.full(n, np.nan)
    se = np.full(n, np.nan)
    extreme: list[int] = []
    for items, fit, offset in zip(members, fits, offsets, strict=True):
        theta[items] = fit.theta - float(np.mean(fit.theta)) + offset
        se[items] = fit.se
        extreme.extend(int(items[i]) for i in fit.extreme)
    return replace(
        fits[0],
        theta=theta,
        se=se,
        log_likelihood=float(sum(f.log_likelihood for f in fits)),
        n_iter=int(sum(f.n_iter for f in fits)),
        isolated=comps.isolated,
        extreme=tuple(sorted(extreme)),
        components=comps.n_components,
    )


def _sirt_offsets(
    data: PairwiseData, comps: Components, eps: float, max_iter: int, tol: float
) -> FloatArray:
    """Mean ability of each component where ``sirt::btm``'s iteration leaves it.

    The iteration of ``R/btm.R`` with ``fix.eta = 0`` and no ties, over the items with
    comparisons (see the module docstring); ties and soft outcomes enter as fractional wins.
    """
    active = comps.labels >= 0
    items = np.flatnonzero(active)
    local = np.full(data.n_items, -1, dtype=np.intp)
    local[items] = np.arange(items.size)
    used = data.weight > 0
    a, b = local[data.a[used]], local[data.b[used]]
    w, y = data.weight[used], data.y[used]
    n = items.size
    score = np.bincount(a, w * y, n) + np.bincount(b, w * (1.0 - y), n)
    count = np.bincount(a, w, n) + np.bincount(b, w, n)
    adjusted = eps + (count - 2.0 * eps) * score / count
    theta = logit((adjusted / count + 0.1) / 1.2)
    theta -= theta.mean()
    max_step = 1.0
    for _ in range(max_iter):
        p = expit(theta[a] - theta[b])
        wp = w * p
        expected = np.bincount(a, wp, n) + np.bincount(b, w - wp, n)
        v = wp * (1.0 - p)
        info = 1e-20 + np.bincount(a, v, n) + np.bincount(b, v, n)
        max_step *= 0.98
        step = np.clip((adjusted - expected) / info, -max_step, max_step)
        new = theta + step
        new -= new.mean()
        change = float(np.max(np.abs(new - theta)))
        theta = new
        if change <= tol:
            break
    labels = comps.labels[items]
    sums = np.bincount(labels, theta, comps.n_components)
    return np.asarray(sums / np.asarray(comps.sizes, dtype=np.float64), dtype=np.float64)
