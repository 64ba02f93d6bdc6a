"""Survey weights: raking (iterative proportional fitting), trimming, Kish design effect.

Raking is written out here (about 40 lines of numpy) because none of the
installed libraries offers it: statsmodels is not installed and Meta's
``balance`` would be a heavy new dependency. The tests check it against a
closed-form 2x2 solution, hand-computed IPF steps and an independent
minimum-KL calibration solved with scipy.

Missing values on a margin variable (stated rule): respondents with a
missing value form their own category "fehlend" whose target is its current
weighted share of the total. They keep their weights relative to each other
and to the total in that step (factor T/W), and the other categories are fitted
to the population shares times (1 - missing share). So a missing answer
neither changes the population distribution nor drops the respondent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.errors import KitError
from kit.survey.codebook import AGE_GROUPS

MISSING_LABEL = "fehlend"
SEXES = ("m", "w")
MARGIN_COLUMNS = {
    "age_sex": ("age_group", "sex"),
    "age_group": ("age_group",),
    "sex": ("sex",),
    "district": ("district_id",),
}
MARGIN_TITLES = {
    "age_sex": "Altersgruppe × Geschlecht",
    "age_group": "Altersgruppe",
    "sex": "Geschlecht",
    "district": "Stadtteil",
}


class WeightingError(KitError):
    """The sample cannot be weighted to the given population margins."""


@dataclass
class RakeResult:
    weights: pd.Series  # sum = population total
    converged: bool
    iterations: int
    max_abs_margin_error: float  # relative: max |weighted - target| / target
    history: list[float] = field(default_factory=list)  # max relative error after each sweep


@dataclass
class TrimmedRakeResult:
    weights: pd.Series
    converged: bool  # the last raking converged
    rounds: int  # trim + re-rake rounds done
    within_bounds: bool
    margins_hold: bool  # max_abs_margin_error <= margin_tol
    max_abs_margin_error: float
    n_at_bounds: int
    lower: float
    upper: float
    rake_result: RakeResult


# ---------------------------------------------------------------------------
# design effect
# ---------------------------------------------------------------------------


def _clean_weights(w) -> np.ndarray:
    arr = np.asarray(w, dtype=float)
    return arr[np.isfinite(arr)]


def kish_design_effect(w) -> float:
    """Kish's design effect due to unequal weights: n * sum(w^2) / sum(w)^2."""
    arr = _clean_weights(w)
    if arr.size == 0 or arr.sum() == 0:
        return float("nan")
    return float(arr.size * np.sum(arr**2) / np.sum(arr) ** 2)


def effective_n(w) -> float:
    """Kish's effective sample size: sum(w)^2 / sum(w^2) = n / deff."""
    arr = _clean_weights(w)
    if arr.size == 0 or np.sum(arr**2) == 0:
        return 0.0
    return float(np.sum(arr) ** 2 / np.sum(arr**2))


# ---------------------------------------------------------------------------
# raking
# ---------------------------------------------------------------------------


@dataclass
class _Margin:
    name: str
    codes: np.ndarray  # category index, -1 = missing
    target: np.ndarray  # population totals by category
    categories: list


def _margin_values(sample: pd.DataFrame, key) -> pd.Series:
    cols = list(key) if isinstance(key, tuple) else [key]
    missing = [c for c in cols if c not in sample.columns]
    if missing:
        raise WeightingError(f"Gewichtung: Spalte(n) {', '.join(map(str, missing))} fehlen in der Stichprobe")
    if len(cols) == 1:
        return sample[cols[0]].astype(object).where(sample[cols[0]].notna(), None)
    parts = sample[cols]
    complete = parts.notna().all(axis=1)
    values = [tuple(r) if ok else None for r, ok in zip(parts.itertuples(index=False, name=None), complete)]
    return pd.Series(values, index=sample.index, dtype=object)


def _build_margins(sample: pd.DataFrame, targets: Mapping) -> tuple[list[_Margin], float]:
    if not targets:
        raise WeightingError("Gewichtung: keine Randverteilungen (targets) angegeben")
    margins: list[_Margin] = []
    totals = []
    for key, target in targets.items():
        name = "×".join(map(str, key)) if isinstance(key, tuple) else str(key)
        target = pd.Series(target, dtype=float)
        if target.isna().any() or (target < 0).any():
            raise WeightingError(f"Gewichtung, Rand '{name}': Sollwerte müssen Zahlen >= 0 sein")
        values = _margin_values(sample, key)
        categories = list(target.index)
        position = {c: i for i, c in enumerate(categories)}
        codes = np.full(len(values), -1, dtype=np.int64)
        unknown = set()
        for i, v in enumerate(values):
            if v is None:
                continue
            if v in position:
                codes[i] = position[v]
            else:
                unknown.add(v)
        if unknown:
            raise WeightingError(
                f"Gewichtung, Rand '{name}': Kategorien der Stichprobe ohne Sollwert: "
                f"{', '.join(sorted(map(str, unknown)))}")
        counts = np.bincount(codes[codes >= 0], minlength=len(categories))
        empty = [str(c) for c, k, t in zip(categories, counts, target.to_numpy()) if k == 0 and t > 0]
        if empty:
            raise WeightingError(
                f"Gewichtung, Rand '{name}': keine Befragten in {', '.join(empty)} – "
                f"Kategorien zusammenfassen")
        zero = [str(c) for c, k, t in zip(categories, counts, target.to_numpy()) if k > 0 and t == 0]
        if zero:
            raise WeightingError(
                f"Gewichtung, Rand '{name}': Befragte in Kategorien ohne Bevölkerung: {', '.join(zero)}")
        if (codes < 0).all():
            raise WeightingError(f"Gewichtung, Rand '{name}': alle Werte fehlen")
        margins.append(_Margin(name, codes, target.to_numpy(), categories))
        totals.append(target.sum())
    total = totals[0]
    for m, t in zip(margins, totals):
        if abs(t - total) > 1e-9 * max(total, 1.0):
            raise WeightingError(
                f"Gewichtung: Sollwerte von '{m.name}' summieren sich zu {t:g}, "
                f"die von '{margins[0].name}' zu {total:g} – alle Ränder brauchen dieselbe Summe")
    return margins, float(total)


def _fit_targets(m: _Margin, w: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Weighted totals by category, adjusted targets and the missing share."""
    miss = m.codes < 0
    wsum = w.sum()
    share_missing = w[miss].sum() / wsum if miss.any() else 0.0
    achieved = np.bincount(m.codes[~miss], weights=w[~miss], minlength=len(m.categories))
    wanted = m.target / total * (1.0 - share_missing) * wsum
    return achieved, wanted, share_missing


def _max_rel_error(margins: list[_Margin], w: np.ndarray, total: float) -> float:
    worst = 0.0
    scale = total / w.sum()
    for m in margins:
        achieved, wanted, _ = _fit_targets(m, w * scale, total)
        ok = wanted > 0
        worst = max(worst, float(np.max(np.abs(achieved[ok] - wanted[ok]) / wanted[ok])))
    worst = max(worst, abs(w.sum() - total) / total)
    return worst


def _check_iteration_settings(max_iter, tol) -> None:
    """Refuse settings under which raking cannot run (max_iter < 1, tolerance <= 0)."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise WeightingError(
            f"Gewichtung: max_iter = {max_iter!r} ist ungültig – erlaubt ist eine ganze Zahl ab 1 (z. B. 200)")
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)) \
            or not np.isfinite(tol) or tol <= 0:
        raise WeightingError(
            f"Gewichtung: Toleranz (tolerance) = {tol!r} ist ungültig – erlaubt ist eine Zahl größer 0 "
            f"(z. B. 1.0e-10)")


def rake(sample: pd.DataFrame, targets: Mapping, base_weights=None, max_iter: int = 200,
         tol: float = 1e-10) -> RakeResult:
    """Rake ``sample`` to population ``targets`` by iterative proportional fitting.

    ``targets`` maps a column of ``sample`` (or a tuple of columns, whose value
    tuples are the categories) to a Series of population totals by category;
    all targets must have the same sum (the population total). Base weights
    (default 1) are scaled to the total first. Stops when the largest
    relative margin error after a full sweep is below ``tol``.
    """
    _check_iteration_settings(max_iter, tol)
    n = len(sample)
    if n == 0:
        raise WeightingError("Gewichtung: keine Befragten")
    margins, total = _build_margins(sample, targets)
    if base_weights is None:
        w = np.ones(n)
    else:
        w = np.asarray(pd.Series(base_weights).reindex(sample.index) if isinstance(base_weights, pd.Series)
                       else base_weights, dtype=float).copy()
        if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise WeightingError("Gewichtung: Basisgewichte müssen für alle Befragten Zahlen > 0 sein")
    w = w * total / w.sum()
    history: list[float] = []
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):
        for m in margins:
            achieved, wanted, share_missing = _fit_targets(m, w, total)
            factor = np.ones(len(m.categories))
            has = achieved > 0
            factor[has] = wanted[has] / achieved[has]
            miss = m.codes < 0
            w_new = w.copy()
            w_new[~miss] = w[~miss] * factor[m.codes[~miss]]
            w = w_new
            w *= total / w.sum()  # the missing group keeps its share: factor T/W
        err = _max_rel_error(margins, w, total)
        history.append(err)
        if err < tol:
            converged = True
            break
    weights = pd.Series(w, index=sample.index, name="weight")
    return RakeResult(weights=weights, converged=converged, iterations=iterations,
                      max_abs_margin_error=history[-1], history=history)


def margin_errors(sample: pd.DataFrame, targets: Mapping, weights) -> float:
    """Largest relative margin error of ``weights`` (same rules as :func:`rake`)."""
    margins, total = _build_margins(sample, targets)
    return _max_rel_error(margins, np.asarray(weights, dtype=float), total)


# ---------------------------------------------------------------------------
# trimming
# ---------------------------------------------------------------------------


def _check_bounds(lower: float, upper: float) -> None:
    if not (0 <= lower <= 1 <= upper):
        raise WeightingError(
            f"Gewichtung: Kappungsgrenzen relativ zum mittleren Gewicht brauchen "
            f"0 <= untere ({lower}) <= 1 <= obere ({upper})")


def _within(w: np.ndarray, lower: float, upper: float, rtol: float = 1e-9) -> bool:
    mean = w.mean()
    return bool(np.all(w >= lower * mean * (1 - rtol)) and np.all(w <= upper * mean * (1 + rtol)))


def trim_weights(weights: pd.Series, lower: float, upper: float, max_iter: int = 1000) -> pd.Series:
    """Bound weights to [lower, upper] x mean weight, keeping their sum.

    The result is ``clip(c * w, lo, hi)`` with the one factor ``c`` that keeps the total: weights
    between the bounds keep their proportions, the others sit at a bound. ``c`` is found by
    root finding (scipy's brentq) on the sum, which is monotone in ``c``. A sticky loop that
    fixes every weight outside the bounds at once is wrong when capping the largest weights
    lifts the smallest back inside (hypothesis found [1, 1, 1, 6] with bounds 0.5..2: all four
    ended at a bound and the total was lost). ``max_iter`` bounds the root finder.
    """
    _check_bounds(lower, upper)
    s = pd.Series(weights, dtype=float)
    w = s.to_numpy().copy()
    total = w.sum()
    mean = w.mean()
    lo, hi = lower * mean, upper * mean
    if _within(w, lower, upper):
        return pd.Series(w, index=s.index, name=s.name)
    from scipy.optimize import brentq

    def excess(c: float) -> float:
        return float(np.clip(c * w, lo, hi).sum() - total)

    # excess(0) = n*lo - total <= 0 and excess(c_max) = n*hi - total >= 0 (lo <= mean <= hi)
    c_max = hi / max(w.min(), np.finfo(float).tiny)
    c = brentq(excess, 0.0, c_max, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=max_iter)
    out = np.clip(c * w, lo, hi)
    out *= total / out.sum()  # remove the root finder's last rounding from the total
    return pd.Series(out, index=s.index, name=s.name)


def rake_with_trimming(sample: pd.DataFrame, targets: Mapping, lower: float, upper: float,
                       base_weights=None, max_rounds: int = 20, margin_tol: float = 1e-6,
                       max_iter: int = 200, tol: float = 1e-10) -> TrimmedRakeResult:
    """Rake, then alternate trimming and re-raking until the weights are within bounds.

    If after ``max_rounds`` the raked weights still break the bounds, the
    trimmed weights are returned (bounds win) and ``margins_hold`` says whether
    the margins still fit to ``margin_tol`` (relative).
    """
    _check_bounds(lower, upper)
    _check_iteration_settings(max_iter, tol)
    result = rake(sample, targets, base_weights=base_weights, max_iter=max_iter, tol=tol)
    w = result.weights
    rounds = 0
    while not _within(w.to_numpy(), lower, upper) and rounds < max_rounds:
        rounds += 1
        trimmed = trim_weights(w, lower, upper)
        result = rake(sample, targets, base_weights=trimmed, max_iter=max_iter, tol=tol)
        w = result.weights
    if not _within(w.to_numpy(), lower, upper):
        w = trim_weights(w, lower, upper)
    arr = w.to_numpy()
    err = margin_errors(sample, targets, arr)
    mean = arr.mean()
    at_bounds = int(np.sum(np.isclose(arr, lower * mean, rtol=1e-9) | np.isclose(arr, upper * mean, rtol=1e-9)))
    return TrimmedRakeResult(weights=w.rename("weight"), converged=result.converged, rounds=rounds,
                             within_bounds=_within(arr, lower, upper), margins_hold=err <= margin_tol,
                             max_abs_margin_error=err, n_at_bounds=at_bounds, lower=lower, upper=upper,
                             rake_result=result)


# ---------------------------------------------------------------------------
# survey weights from the population table of stage 1
# ---------------------------------------------------------------------------


def _margin_key(values: tuple) -> str:
    return "_".join(str(v) for v in values)


# codes of report["empty_categories"][].action and report["method"] (German: kit.survey.view)
EMPTY_MERGED = "merged"  # age x sex cells without respondents merged into the cell "merged_into"
EMPTY_SPREAD = "spread"  # categories without respondents dropped, their residents spread over the others
METHOD_RAKING = "raking"  # iterative proportional fitting


def _collapse_age_sex(sample_key: pd.Series, target: pd.Series) -> tuple[pd.Series, pd.Series, list[dict]]:
    """Merge age x sex cells without respondents into the next age group of the same sex."""
    notes: list[dict] = []
    counts = sample_key.value_counts()
    mapping = {c: c for c in target.index}
    for sex in SEXES:
        groups = [a for a in AGE_GROUPS if f"{a}_{sex}" in target.index]
        merged: list[list[str]] = [[a] for a in groups]
        changed = True
        while changed and len(merged) > 1:
            changed = False
            for i, block in enumerate(merged):
                n_block = sum(int(counts.get(f"{a}_{sex}", 0)) for a in block)
                if n_block == 0:
                    j = i + 1 if i + 1 < len(merged) else i - 1
                    lo, hi = sorted((i, j))
                    merged[lo:hi + 1] = [merged[lo] + merged[hi]]
                    changed = True
                    break
        for block in merged:
            if len(block) > 1:
                label = f"{block[0].split('-')[0]}-{block[-1]}" if not block[-1].endswith("+") \
                    else f"{block[0].split('-')[0]}+"
                for a in block:
                    mapping[f"{a}_{sex}"] = f"{label}_{sex}"
                notes.append({"margin": "age_sex", "categories": [f"{a}_{sex}" for a in block],
                              "action": EMPTY_MERGED, "merged_into": f"{label}_{sex}"})
    new_target = target.groupby(target.index.map(mapping), sort=False).sum()
    new_sample = sample_key.map(lambda v: mapping.get(v, v) if isinstance(v, str) else v)
    return new_sample, new_target, notes


def weight_survey(clean: pd.DataFrame, population: pd.DataFrame,
                  margins: Sequence[str] = ("age_sex", "district"), *, max_iter: int = 200,
                  tol: float = 1e-10, trim_lower: float | None = None, trim_upper: float | None = None,
                  max_rounds: int = 20, margin_tol: float = 1e-6, margin_tolerance: float = 0.01,
                  on_margin_miss: str = "warn") -> tuple[pd.Series, dict]:
    """Weights for the cleaned survey so that it matches the population margins.

    ``population``: columns district_id, age_group (16-34, 35-54, 55-74, 75+),
    sex (m/w), population (residents aged 16+, latest year). ``margins``: any
    of ``age_sex``, ``age_group``, ``sex``, ``district``. Age x sex cells
    without respondents are merged with the neighbouring age group of the same
    sex; districts without respondents are dropped and their population is
    spread proportionally over the other districts (both listed in
    ``report['empty_categories']``: margin, category codes, action code ``merged`` with the
    merged cell's code in ``merged_into``, or ``spread``). Trimming is done when ``trim_lower`` and
    ``trim_upper`` are given (bounds relative to the mean weight).

    After weighting (with or without trimming) every margin cell's weighted
    share (of the respondents with a value on that margin) is compared with
    its population share; cells off by more than ``margin_tolerance``
    (absolute share, e.g. 0.01 = one percentage point) are listed in
    ``report['margin_misses']`` (margin, category code, both shares,
    deviation) and, codes only, in ``report['margin_miss_cells']``. With
    ``on_margin_miss="error"`` such a miss is a :class:`WeightingError`.

    Returns (weights indexed like ``clean`` with sum = population total, report).
    """
    _check_iteration_settings(max_iter, tol)
    if on_margin_miss not in ("warn", "error"):
        raise WeightingError(f"Gewichtung: on_margin_miss = {on_margin_miss!r} ist ungültig – erlaubt: warn, error")
    if isinstance(margin_tolerance, bool) or not isinstance(margin_tolerance, (int, float, np.floating)) \
            or not (0 < margin_tolerance <= 0.2):
        raise WeightingError(f"Gewichtung: margin_tolerance = {margin_tolerance!r} ist ungültig – erlaubt ist ein "
                             f"Anteil größer 0 und höchstens 0.2 (z. B. 0.01 = ein Prozentpunkt)")
    need = {"district_id", "age_group", "sex", "population"}
    if not need <= set(population.columns):
        raise WeightingError(f"Gewichtung: Bevölkerungstabelle braucht die Spalten {', '.join(sorted(need))}")
    unknown = [m for m in margins if m not in MARGIN_COLUMNS]
    if unknown:
        raise WeightingError(f"Gewichtung: unbekannte Ränder {unknown} (erlaubt: {', '.join(MARGIN_COLUMNS)})")
    pop = population.copy()
    pop["district_id"] = pop["district_id"].astype(str)
    pop["population"] = pd.to_numeric(pop["population"], errors="coerce")
    bad_age = sorted(set(pop["age_group"].astype(str)) - set(AGE_GROUPS))
    bad_sex = sorted(set(pop["sex"].astype(str)) - set(SEXES))
    if bad_age or bad_sex or pop["population"].isna().any():
        raise WeightingError(
            f"Gewichtung: Bevölkerungstabelle mit unbekannten Altersgruppen {bad_age} / Geschlechtern {bad_sex} "
            f"oder fehlenden Zahlen (erwartet: {', '.join(AGE_GROUPS)}; m, w)")
    sample = pd.DataFrame(index=clean.index)
    for col in ("age_group", "sex", "district_id"):
        if col not in clean.columns:
            raise WeightingError(f"Gewichtung: Spalte '{col}' fehlt in den bereinigten Daten")
        sample[col] = clean[col].astype(object).where(clean[col].notna(), None)
    sample["district_id"] = sample["district_id"].map(lambda v: None if v is None else str(v))
    total = float(pop["population"].sum())

    targets: dict[str, pd.Series] = {}
    empty_notes: list[dict] = []
    for margin in margins:
        cols = MARGIN_COLUMNS[margin]
        target = pop.groupby(list(cols), sort=False)["population"].sum()
        if len(cols) > 1:
            target.index = [_margin_key(k) for k in target.index]
            parts = sample[list(cols)]
            values = pd.Series([_margin_key(tuple(r)) if all(x is not None for x in r) else None
                                for r in parts.itertuples(index=False, name=None)], index=sample.index,
                               dtype=object)
        else:
            target.index = [str(k) for k in target.index]
            values = sample[cols[0]]
        target = target[target > 0]
        unknown_cats = sorted({v for v in values.dropna() if v not in target.index})
        if unknown_cats:
            raise WeightingError(
                f"Gewichtung, Rand '{MARGIN_TITLES[margin]}': Befragte in Kategorien, die in der "
                f"Bevölkerungstabelle fehlen oder 0 Einwohner haben: {', '.join(unknown_cats)}")
        if margin == "age_sex":
            values, target, notes = _collapse_age_sex(values, target)
            empty_notes += notes
        else:
            present = set(values.dropna())
            empty = [c for c in target.index if c not in present]
            if empty:
                empty_notes.append({"margin": margin, "categories": empty, "action": EMPTY_SPREAD})
                target = target.drop(empty)
                target = target * total / target.sum()
        sample[f"_m_{margin}"] = values
        targets[f"_m_{margin}"] = target

    trimming = None
    if trim_lower is not None and trim_upper is not None:
        res = rake_with_trimming(sample, targets, trim_lower, trim_upper, max_rounds=max_rounds,
                                 margin_tol=margin_tol, max_iter=max_iter, tol=tol)
        weights = res.weights
        converged, iterations, err = res.converged, res.rake_result.iterations, res.max_abs_margin_error
        trimming = {"lower": trim_lower, "upper": trim_upper, "rounds": res.rounds,
                    "within_bounds": res.within_bounds, "margins_hold": res.margins_hold,
                    "n_at_bounds": res.n_at_bounds}
    else:
        res = rake(sample, targets, max_iter=max_iter, tol=tol)
        weights, converged, iterations, err = res.weights, res.converged, res.iterations, res.max_abs_margin_error
    weights = weights.rename("weight")

    rows = []
    w = weights.to_numpy()
    for margin in margins:
        values = sample[f"_m_{margin}"]
        target = targets[f"_m_{margin}"]
        valid = values.notna().to_numpy()
        n_valid = int(valid.sum())
        w_valid = w[valid].sum()
        for cat in target.index:
            mask = (values == cat).to_numpy()
            rows.append({"margin": margin, "category": cat, "sample_n": int(mask.sum()),
                         "sample_share": mask.sum() / n_valid if n_valid else np.nan,
                         "population_share": target[cat] / target.sum(),
                         "weighted_share": w[mask].sum() / w_valid if w_valid else np.nan})
        n_missing = int((~valid).sum())
        if n_missing:
            rows.append({"margin": margin, "category": MISSING_LABEL, "sample_n": n_missing,
                         "sample_share": n_missing / len(values), "population_share": np.nan,
                         "weighted_share": w[~valid].sum() / w.sum()})
    svp = pd.DataFrame(rows, columns=["margin", "category", "sample_n", "sample_share",
                                      "population_share", "weighted_share"])
    misses = margin_misses(svp, margin_tolerance)
    if misses and on_margin_miss == "error":
        cells = "; ".join(f"{MARGIN_TITLES.get(m['margin'], m['margin'])} {m['category']}: gewichtet "
                          f"{_pct(m['weighted_share'])} statt {_pct(m['population_share'])}" for m in misses)
        raise WeightingError(
            f"Gewichtung: nach der Kappung weichen {len(misses)} Zelle(n) der Gewichtungsränder um mehr als "
            f"{_pct(margin_tolerance)}-Punkte vom Bevölkerungsanteil ab ({cells}). Kappungsgrenzen "
            f"(trim_lower/trim_upper) weiter fassen, Gruppen zusammenfassen oder "
            f"survey.weighting.on_margin_miss: warn setzen.")
    report = {
        "method": METHOD_RAKING,
        "margins": list(margins),
        "converged": bool(converged),
        "iterations": int(iterations),
        "max_abs_margin_error": float(err),
        "n": int(len(weights)),
        "population_total": total,
        "deff": kish_design_effect(w),
        "n_eff": effective_n(w),
        "weight_min": float(w.min() / w.mean()),
        "weight_max": float(w.max() / w.mean()),
        "trimming": trimming,
        "empty_categories": empty_notes,
        "missing_by_margin": {m: int(sample[f"_m_{m}"].isna().sum()) for m in margins},
        "margin_tolerance": float(margin_tolerance),
        "margin_misses": misses,
        "margin_miss_cells": [{"margin": m["margin"], "category": m["category"]} for m in misses],
        "sample_vs_population": svp,
    }
    return weights, report


def _pct(share: float) -> str:
    return f"{100 * share:.1f} %".replace(".", ",")


def margin_misses(svp: pd.DataFrame, tolerance: float) -> list[dict]:
    """Margin cells (not "fehlend") whose weighted share differs from the
    population share by more than ``tolerance`` (absolute share)."""
    out = []
    for row in svp.itertuples(index=False):
        if row.category == MISSING_LABEL or pd.isna(row.population_share):
            continue
        weighted = 0.0 if pd.isna(row.weighted_share) else float(row.weighted_share)
        deviation = weighted - float(row.population_share)
        if abs(deviation) > tolerance:
            out.append({"margin": str(row.margin), "category": str(row.category),
                        "population_share": float(row.population_share), "weighted_share": weighted,
                        "deviation": float(deviation)})
    return out


__all__ = [
    "RakeResult", "TrimmedRakeResult", "WeightingError", "effective_n", "kish_design_effect",
    "margin_errors", "margin_misses", "rake", "rake_with_trimming", "trim_weights", "weight_survey",
]
