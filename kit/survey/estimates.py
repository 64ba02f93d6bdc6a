"""Weighted survey estimates in one tidy format, with intervals and tests.

Tidy result (``TIDY_COLUMNS``), one row per item x category x group:

===============  ============================================================
item             codebook item id (or the column estimated)
question         question id
item_label       German item text (battery sub-item, option, question text)
category         answer code as text ("" for means)
category_label   German answer label ("Mittelwert" for means)
group_var        column the results are split by ("" overall)
group            group label ("Gesamt" overall)
estimate         share 0..1 (distribution, multi) or mean
lower, upper     confidence interval
n_unweighted     respondents in the base (answered the item, in the group)
n_cell           respondents with that answer (= n_unweighted for means)
weighted_base    sum of weights of the base
n_eff            Kish effective n of the base
kind             distribution | multi | mean | collapsed
suppressed       set by :func:`kit.disclosure.apply_disclosure`
===============  ============================================================

Intervals: with a sample design (``design``, a :class:`kit.survey.design.BoundDesign`,
which :func:`kit.survey.stage.compute_survey` always passes) every interval follows
the design: Taylor linearisation with strata, finite-population correction,
clusters and calibration (raking) residuals, or replicate weights; shares get a
Korn-Graubard (default) or logit interval on the design degrees of freedom, means
a t interval on them. ``n_eff`` is then the design's effective n of the base
(``sum p(1-p) / sum V`` over the categories of a distribution; weighted variance /
V for a mean). Without a design (``design=None``, direct calls and old tests) the
simple-random-sample fallback applies: the Wilson score interval on the Kish
effective n (``wilson_interval``) and the with-replacement variance
``n/(n-1) * sum w_i^2 (y_i - ybar)^2 / (sum w)^2`` with a t quantile on n-1 df.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from kit.errors import CodebookLookupError, ParamsError
from kit.survey.codebook import AGE_GROUPS, Codebook, Item
from kit.survey.weighting import effective_n

TIDY_COLUMNS = [
    "item", "question", "item_label", "category", "category_label", "group_var", "group",
    "estimate", "lower", "upper", "n_unweighted", "n_cell", "weighted_base", "n_eff", "kind",
    "suppressed",
]
OVERALL = "Gesamt"
DERIVED_GROUP_LABELS = {"sex": {"m": "Männer", "w": "Frauen"}}


def empty_tidy() -> pd.DataFrame:
    return _frame([])


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=TIDY_COLUMNS)
    for col in ("estimate", "lower", "upper", "weighted_base", "n_eff"):
        df[col] = df[col].astype("float64")
    for col in ("n_unweighted", "n_cell"):
        df[col] = df[col].astype("Int64")
    for col in ("item", "question", "item_label", "category", "category_label", "group_var", "group", "kind"):
        df[col] = df[col].astype(pd.StringDtype(na_value=np.nan))
    df["suppressed"] = df["suppressed"].fillna(False).astype(bool)
    return df


# ---------------------------------------------------------------------------
# intervals
# ---------------------------------------------------------------------------


def _z(conf: float) -> float:
    return float(stats.norm.ppf(1 - (1 - conf) / 2))


def wilson_interval(p, n_eff, conf: float = 0.95):
    """Wilson score interval for a share ``p`` on (effective) sample size ``n_eff``.

    Works on scalars or arrays; NaN where ``n_eff`` <= 0 or ``p`` is NaN.
    """
    p = np.asarray(p, dtype=float)
    n = np.asarray(n_eff, dtype=float)
    z = _z(conf)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lower = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    if lower.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


def weighted_mean_ci(y, w, conf: float = 0.95) -> dict:
    """Weighted mean with a linearisation interval (see module docstring)."""
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    ok = np.isfinite(y) & np.isfinite(w) & (w > 0)
    y, w = y[ok], w[ok]
    n = y.size
    out = {"estimate": np.nan, "lower": np.nan, "upper": np.nan, "n": n,
           "weighted_base": float(w.sum()), "n_eff": effective_n(w), "se": np.nan}
    if n == 0:
        return out
    mean = float(np.sum(w * y) / np.sum(w))
    out["estimate"] = mean
    if n < 2:
        return out
    var = n / (n - 1) * np.sum(w**2 * (y - mean) ** 2) / np.sum(w) ** 2
    se = math.sqrt(var)
    q = float(stats.t.ppf(1 - (1 - conf) / 2, n - 1))
    out.update(lower=mean - q * se, upper=mean + q * se, se=se)
    return out


# ---------------------------------------------------------------------------
# groups
# ---------------------------------------------------------------------------


def _weights(data: pd.DataFrame, weights) -> pd.Series:
    if weights is None:
        return pd.Series(1.0, index=data.index)
    if isinstance(weights, str):
        return data[weights].astype(float)
    w = pd.Series(weights, dtype=float)
    if isinstance(weights, pd.Series):
        w = w.reindex(data.index)
    else:
        w.index = data.index
    return w


def _groups(data: pd.DataFrame, by: str | None, codebook: Codebook | None) -> list[tuple[str, str, np.ndarray]]:
    """(group_var, group label, mask) for the overall result and each group of ``by``."""
    out = [("", OVERALL, np.ones(len(data), dtype=bool))]
    if by is None:
        return out
    if by not in data.columns:
        raise CodebookLookupError(f"Gruppierungsvariable '{by}' fehlt in den Daten")
    col = data[by]
    if codebook is not None and by in codebook.items and codebook.items[by].values:
        item = codebook.items[by]
        for code, label in item.values.items():
            mask = (col == code).to_numpy() if not item.is_district else (col.astype(str) == str(code)).to_numpy()
            out.append((by, str(label), mask & col.notna().to_numpy()))
        return out
    values = col.dropna().unique().tolist()
    labels = DERIVED_GROUP_LABELS.get(by, {})
    if by == "age_group":
        values = [a for a in AGE_GROUPS if a in values] + sorted(set(values) - set(AGE_GROUPS), key=str)
    else:
        values = sorted(values, key=lambda v: (str(type(v)), v))
    for v in values:
        out.append((by, labels.get(v, _fmt_code(v)), (col == v).to_numpy() & col.notna().to_numpy()))
    return out


def _fmt_code(code) -> str:
    if isinstance(code, (float, np.floating)) and float(code).is_integer():
        return str(int(code))
    return str(code)


# ---------------------------------------------------------------------------
# estimates
# ---------------------------------------------------------------------------


def _design_shares(design, hits: list[np.ndarray], valid: np.ndarray) -> tuple[dict, float]:
    """Design-based shares of several indicators on one base, and the base's design
    effective n (sum p(1-p) / sum V over the indicators with variance)."""
    res = design.proportion(np.column_stack(hits).astype(float), valid)
    p, var = np.asarray(res["estimate"]), np.asarray(res["var"])
    pos = var > 0
    neff = float(np.sum(p[pos] * (1 - p[pos])) / np.sum(var[pos])) if pos.any() else np.nan
    return res, neff


def _distribution_rows(y: pd.Series, w: pd.Series, mask: np.ndarray, categories: Mapping, conf: float,
                       base: dict, design=None) -> list[dict]:
    yv = y.to_numpy()
    wv = w.to_numpy()
    valid = mask & pd.notna(yv) & np.isfinite(wv) & (wv > 0)
    n = int(valid.sum())
    wb = float(wv[valid].sum())
    neff = effective_n(wv[valid])
    codes = list(categories)
    if design is not None and n and codes:
        dres, neff = _design_shares(design, [valid & (yv == code) for code in codes], valid)
    rows = []
    for j, (code, label) in enumerate(categories.items()):
        hit = valid & (yv == code)
        p = float(wv[hit].sum() / wb) if wb > 0 else np.nan
        if design is not None and n:
            lo, hi = float(dres["lower"][j]), float(dres["upper"][j])
        else:
            lo, hi = wilson_interval(p, neff, conf) if n else (np.nan, np.nan)
        rows.append({**base, "category": _fmt_code(code), "category_label": str(label), "estimate": p,
                     "lower": lo, "upper": hi, "n_unweighted": n, "n_cell": int(hit.sum()),
                     "weighted_base": wb, "n_eff": neff, "suppressed": False})
    return rows


def _mean_rows(y: pd.Series, w: pd.Series, mask: np.ndarray, conf: float, base: dict,
               design=None) -> list[dict]:
    yv = y.to_numpy(dtype=float, na_value=np.nan)
    res = weighted_mean_ci(np.where(mask, yv, np.nan), w.to_numpy(), conf)
    if design is not None and res["n"]:
        d = design.mean(yv, mask & np.isfinite(yv))
        res.update(lower=d["lower"], upper=d["upper"], n_eff=d["n_eff"])
    return [{**base, "category": "", "category_label": "Mittelwert", "estimate": res["estimate"],
             "lower": res["lower"], "upper": res["upper"], "n_unweighted": res["n"], "n_cell": res["n"],
             "weighted_base": res["weighted_base"], "n_eff": res["n_eff"], "suppressed": False}]


def estimate_question(data: pd.DataFrame, weights, codebook: Codebook, question_id: str,
                      by: str | None = None, conf: float = 0.95, design=None) -> pd.DataFrame:
    """Weighted results of one question, overall and by ``by``.

    single: distribution over the categories; scale battery: the distribution
    of each item; multi: share of respondents who answered the question
    (ticked at least one option) that ticked each option; numeric: weighted
    mean of each item. Free text: use :func:`kit.disclosure.free_text_summary`.
    """
    items = codebook.question_items(question_id)
    qtype = items[0].type
    if qtype == "text":
        raise ParamsError(f"Frage {question_id} ist Freitext: free_text_summary verwenden")
    w = _weights(data, weights)
    groups = _groups(data, by, codebook)
    rows: list[dict] = []
    if qtype == "multi":
        block = data[[it.id for it in items]]
        answered_s = block.notna().any(axis=1)
        answered = answered_s.to_numpy()
        for it in items:
            # within the base an option left empty counts as not ticked
            y = block[it.id].fillna(0.0).where(answered_s)
            for gvar, glabel, mask in groups:
                base = {"item": it.id, "question": question_id, "item_label": it.short_label,
                        "group_var": gvar, "group": glabel, "kind": "multi"}
                rows += _distribution_rows(y, w, mask & answered, {1: it.values.get(1, "genannt")}, conf, base,
                                          design)
        return _frame(rows)
    qtext = codebook.question_text(question_id)
    for it in items:
        label = it.short_label if len(items) > 1 else (it.short_label or qtext)
        for gvar, glabel, mask in groups:
            if qtype == "numeric":
                base = {"item": it.id, "question": question_id, "item_label": label,
                        "group_var": gvar, "group": glabel, "kind": "mean"}
                rows += _mean_rows(data[it.id], w, mask, conf, base, design)
            else:
                base = {"item": it.id, "question": question_id, "item_label": label,
                        "group_var": gvar, "group": glabel, "kind": "distribution"}
                rows += _distribution_rows(data[it.id], w, mask, it.values, conf, base, design)
    return _frame(rows)


def estimate_mean(data: pd.DataFrame, weights, column: str | pd.Series, by: str | None = None,
                  conf: float = 0.95, codebook: Codebook | None = None, label: str | None = None,
                  question: str = "", design=None) -> pd.DataFrame:
    """Weighted mean (overall and by group) of a column or of a Series such as a scale index."""
    if isinstance(column, pd.Series):
        y = column.reindex(data.index).astype(float)
        name = str(column.name or "index")
    else:
        y = pd.to_numeric(data[column], errors="coerce").astype(float)
        name = column
    if label is None:
        label = codebook.items[name].short_label if codebook is not None and name in codebook.items else name
    if not question and codebook is not None and name in codebook.items:
        question = codebook.items[name].question
    w = _weights(data, weights)
    rows: list[dict] = []
    for gvar, glabel, mask in _groups(data, by, codebook):
        base = {"item": name, "question": question, "item_label": label, "group_var": gvar,
                "group": glabel, "kind": "mean"}
        rows += _mean_rows(y, w, mask, conf, base, design)
    return _frame(rows)


def estimate_survey(data: pd.DataFrame, weights, codebook: Codebook, questions: Sequence[str] | None = None,
                    by: str | None = None, conf: float = 0.95, design=None) -> pd.DataFrame:
    """:func:`estimate_question` for every (non-text) question, stacked."""
    questions = questions or [q for q in codebook.questions() if codebook.question_type(q) != "text"]
    parts = [estimate_question(data, weights, codebook, q, by=by, conf=conf, design=design) for q in questions]
    return pd.concat(parts, ignore_index=True) if parts else empty_tidy()


def collapse(tidy: pd.DataFrame, categories: Sequence, label: str, design=None,
             codebook: Codebook | None = None) -> pd.DataFrame:
    """Sum categories of a distribution (e.g. "eher" + "sehr unsicher") per item and group.

    With a ``design`` (bound to the microdata, see :mod:`kit.survey.design`) the
    combined share gets its design-based interval, computed from the microdata
    (the variance of a sum of categories includes their covariance); without one,
    a Wilson interval on the base's effective n. Use before
    :func:`kit.disclosure.apply_disclosure`.
    """
    cats = [_fmt_code(c) for c in categories]
    sel = tidy[tidy["category"].isin(cats)]
    rows = []
    keys = ["item", "question", "item_label", "group_var", "group"]
    masks: dict[str, dict[str, np.ndarray]] = {}
    for key, part in sel.groupby(keys, sort=False, dropna=False):
        first = part.iloc[0]
        p = float(part["estimate"].sum(min_count=1))
        lo, hi = wilson_interval(p, first["n_eff"]) if pd.notna(p) else (np.nan, np.nan)
        if design is not None and pd.notna(p) and design.data is not None and first["item"] in design.data.columns:
            gvar = "" if pd.isna(first["group_var"]) else str(first["group_var"])
            if gvar not in masks:
                masks[gvar] = {g: m for _, g, m in _groups(design.data, gvar or None, codebook)}
            mask = masks[gvar].get(str(first["group"]))
            if mask is not None:
                yv = design.data[first["item"]].to_numpy(dtype=float, na_value=np.nan)
                valid = mask & np.isfinite(yv)
                hit = valid & np.isin(yv, [float(c) for c in categories])
                res = design.proportion(hit.astype(float), valid)
                lo, hi = float(res["lower"]), float(res["upper"])
        rows.append({**dict(zip(keys, key)), "category": "+".join(cats), "category_label": label,
                     "estimate": p, "lower": lo, "upper": hi, "n_unweighted": first["n_unweighted"],
                     "n_cell": int(part["n_cell"].sum()), "weighted_base": first["weighted_base"],
                     "n_eff": first["n_eff"], "kind": "collapsed", "suppressed": False})
    return _frame(rows)


# ---------------------------------------------------------------------------
# tests and scales
# ---------------------------------------------------------------------------


def rao_scott_test(data: pd.DataFrame, weights, row_var: str, col_var: str, design=None) -> dict:
    """Design-adjusted chi-square test of independence (first-order Rao-Scott).

    Pearson's X^2 is computed from the weighted cell shares and the
    unweighted n, then divided by the mean generalised design effect, which
    the first-order correction (Rao & Scott 1984, Ann. Statist. 12) estimates from the
    design effects of the cell shares and of both margins::

        delta = [sum_ij (1-p_ij) d_ij - sum_i (1-p_i.) d_i. - sum_j (1-p_.j) d_.j] / ((r-1)(c-1))

    with d = n * sum w^2 (y - p)^2 / ((sum w)^2 p (1-p)) (linearisation,
    with replacement; d = 1 for equal weights, so the test then equals
    Pearson's). df = (r-1)(c-1); p from the chi-square distribution.

    With a ``design`` (:class:`kit.survey.design.BoundDesign` of the full data; ``data``
    holds a subset of its rows) the design effects come from the design variance
    instead: ``d = V_design / (p(1-p)/n)`` (strata, fpc, clusters, calibration), the
    first-order correction of R's ``svychisq(statistic = "Chisq")``.
    """
    w = _weights(data, weights).to_numpy()
    r = data[row_var].to_numpy(dtype=object)
    c = data[col_var].to_numpy(dtype=object)
    ok = pd.notna(r) & pd.notna(c) & np.isfinite(w) & (w > 0)
    r, c, w = r[ok], c[ok], w[ok]
    n = int(ok.sum())
    rows = sorted(set(r), key=str)
    cols = sorted(set(c), key=str)
    out = {"statistic": np.nan, "df": 0, "p_value": np.nan, "pearson_statistic": np.nan, "mean_deff": np.nan,
           "n": n, "method": "rao_scott_first_order"}  # Pearson chi² over the mean design effect
    if len(rows) < 2 or len(cols) < 2:
        return out
    ri = np.array([rows.index(v) for v in r])
    ci = np.array([cols.index(v) for v in c])
    W = w.sum()

    if design is not None:
        pos = design.index.get_indexer(data.index[ok])
        if (pos < 0).any():
            raise ParamsError("Rao-Scott-Test: die Zeilen gehören nicht zum Stichprobendesign")
        domain = np.zeros(design.n, dtype=bool)
        domain[pos] = True

    def share_deff(indicator: np.ndarray) -> tuple[float, float]:
        p = float(w[indicator].sum() / W)
        if p <= 0 or p >= 1:
            return p, 1.0
        if design is not None:
            full = np.zeros(design.n)
            full[pos] = indicator
            var = float(design.ratio(full, domain)["var"])
        else:
            var = np.sum(w**2 * (indicator - p) ** 2) / W**2
        return p, float(n * var / (p * (1 - p)))

    P = np.zeros((len(rows), len(cols)))
    D = np.ones_like(P)
    for i in range(len(rows)):
        for j in range(len(cols)):
            P[i, j], D[i, j] = share_deff((ri == i) & (ci == j))
    pr, dr = zip(*(share_deff(ri == i) for i in range(len(rows))))
    pc, dc = zip(*(share_deff(ci == j) for j in range(len(cols))))
    pr, dr, pc, dc = map(np.asarray, (pr, dr, pc, dc))
    expected = np.outer(pr, pc)
    x2 = float(n * np.sum((P - expected) ** 2 / expected))
    df = (len(rows) - 1) * (len(cols) - 1)
    delta = (np.sum((1 - P) * D) - np.sum((1 - pr) * dr) - np.sum((1 - pc) * dc)) / df
    out.update(pearson_statistic=x2, df=df, mean_deff=float(delta))
    if delta > 0:
        stat = x2 / delta
        out.update(statistic=stat, p_value=float(stats.chi2.sf(stat, df)))
    return out


def cronbach_alpha(items_df: pd.DataFrame) -> float:
    """Cronbach's alpha over complete cases: k/(k-1) * (1 - sum var(item) / var(sum))."""
    df = items_df.apply(pd.to_numeric, errors="coerce").dropna()
    k = df.shape[1]
    if k < 2:
        raise ParamsError("Cronbachs Alpha braucht mindestens zwei Items")
    if len(df) < 2:
        return float("nan")
    total_var = df.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - df.var(ddof=1).sum() / total_var))


def scale_index(data: pd.DataFrame, items: Sequence[str | Item], min_valid: int | None = None) -> pd.Series:
    """Mean of the item codes per respondent (NaN with fewer than ``min_valid`` answers,
    default: at least half of the items)."""
    ids = [it.id if isinstance(it, Item) else str(it) for it in items]
    block = data[ids].apply(pd.to_numeric, errors="coerce")
    need = math.ceil(len(ids) / 2) if min_valid is None else min_valid
    out = block.mean(axis=1).where(block.notna().sum(axis=1) >= need)
    return out.rename("index")


__all__ = [
    "OVERALL", "TIDY_COLUMNS", "collapse", "cronbach_alpha", "empty_tidy", "estimate_mean",
    "estimate_question", "estimate_survey", "rao_scott_test", "scale_index", "weighted_mean_ci",
    "wilson_interval",
]
