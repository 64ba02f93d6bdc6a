"""Property-based tests of raking (issue 13, item 5): for arbitrary small samples and population
margins, `rake` either refuses with the kit's own WeightingError or returns positive weights that
sum to the population total and meet every margin. The margins are recomputed here with a plain
pandas groupby, independently of the module's own bookkeeping (_fit_targets)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings, strategies as st

from kit.errors import KitError
from kit.survey.weighting import WeightingError, rake, trim_weights


@st.composite
def samples_and_targets(draw, full_cells: bool):
    """A sample with two categorical variables and population totals for both.

    full_cells: every combination of the two variables occurs in the sample. Then a raking
    solution exists (all cells of the sample cross-table are positive), so IPF must converge.
    """
    k_a = draw(st.integers(2, 4))
    k_b = draw(st.integers(2, 3))
    cells = [(a, b) for a in range(k_a) for b in range(k_b)]
    if full_cells:
        counts = draw(st.lists(st.integers(1, 6), min_size=len(cells), max_size=len(cells)))
    else:
        counts = draw(st.lists(st.integers(0, 6), min_size=len(cells), max_size=len(cells)))
    rows = [cell for cell, k in zip(cells, counts) for _ in range(k)]
    sample = pd.DataFrame(rows, columns=["a", "b"])
    total = draw(st.integers(100, 100_000))
    shares_a = np.array(draw(st.lists(st.integers(1, 50), min_size=k_a, max_size=k_a)), dtype=float)
    shares_b = np.array(draw(st.lists(st.integers(1, 50), min_size=k_b, max_size=k_b)), dtype=float)
    targets = {"a": pd.Series(shares_a / shares_a.sum() * total, index=range(k_a)),
               "b": pd.Series(shares_b / shares_b.sum() * total, index=range(k_b))}
    return sample, targets, float(total)


def _margins_met(sample, weights, targets, rtol):
    for col, target in targets.items():
        achieved = weights.groupby(sample[col]).sum().reindex(target.index, fill_value=0.0)
        np.testing.assert_allclose(achieved.to_numpy(), target.to_numpy(), rtol=rtol)


@settings(max_examples=60, deadline=None)
@given(samples_and_targets(full_cells=True))
def test_rake_with_full_cross_table_meets_margins_with_positive_weights(case):
    sample, targets, total = case
    result = rake(sample, targets, max_iter=2000, tol=1e-9)
    assert result.converged
    w = result.weights
    assert (w > 0).all() and np.isfinite(w).all()
    assert w.sum() == pytest.approx(total, rel=1e-9)
    _margins_met(sample, w, targets, rtol=1e-6)


@settings(max_examples=80, deadline=None)
@given(samples_and_targets(full_cells=False))
def test_rake_on_any_sample_refuses_clearly_or_keeps_its_promises(case):
    """Empty cells may make a margin unreachable (a category with no respondents) or the margins
    jointly unreachable (then IPF does not converge and says so). Either way: the kit's own error,
    or weights that are positive, sum to the total and — when converged — meet the margins."""
    sample, targets, total = case
    try:
        result = rake(sample, targets, max_iter=500, tol=1e-9)
    except WeightingError as exc:
        assert isinstance(exc, KitError) and "Gewichtung" in str(exc)
        present = {c: set(sample[c]) for c in targets}
        # the only reason to refuse here: a category with population but no respondents
        assert any(set(t.index) - present[c] for c, t in targets.items())
        return
    w = result.weights
    assert (w >= 0).all() and np.isfinite(w).all()
    assert w.sum() == pytest.approx(total, rel=1e-9)
    if result.converged:
        _margins_met(sample, w, targets, rtol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.05, 50.0, allow_nan=False), min_size=3, max_size=40),
       st.sampled_from([(0.3, 3.0), (0.5, 2.0), (0.2, 5.0)]))
@example(raw=[1.0, 1.0, 1.0, 6.0], bounds=(0.5, 2.0))  # found by hypothesis: the old loop lost the total
def test_trimmed_weights_stay_positive_keep_the_total_and_respect_bounds(raw, bounds):
    lower, upper = bounds
    weights = pd.Series(raw)
    try:
        trimmed = trim_weights(weights, lower, upper)
    except WeightingError:
        return  # refused with the kit's own error (e.g. bounds unreachable)
    assert (trimmed > 0).all()
    assert trimmed.sum() == pytest.approx(weights.sum(), rel=1e-9)
    ratio = trimmed / trimmed.mean()
    assert ratio.min() >= lower - 1e-6 and ratio.max() <= upper + 1e-6
