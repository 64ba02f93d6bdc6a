"""Crime vs. feeling of safety, and physical disorder vs. groups of people.

1. Is insecurity higher where more crime is recorded? Where crime counts exist by district
   (optional input ``survey.district_crime``), the district share feeling unsafe at night (the
   stage's disclosure-controlled estimates, with intervals) is related to the district crime
   rate per 1.000 residents; otherwise the communes of the batch are compared (each commune's
   ``survey_crime_fear_commune`` result under the same output folder: share unsafe at night
   and PKS Häufigkeitszahl, "Straftaten insgesamt").

   Statistic: Spearman's rank correlation (a city centre with many offences per resident
   does not dominate it). Test: permutation test of no association (exact false-positive
   rate whatever the noise in the shares; ``scipy.stats.permutation_test``). Interval: a
   bootstrap that resamples the units *and* redraws each unit's share from its sampling
   distribution (normal, standard error from its interval) and its count from a Poisson
   distribution, so the uncertainty of both sides widens it. Hand-written because no
   library offers this two-source bootstrap; it is a few lines of numpy.
   Verdict codes: ``too_few`` (fewer than ``min_units`` units: no correlation is computed),
   ``robust_positive`` / ``robust_negative`` (permutation p below 1 - confidence AND the
   interval excludes 0), ``none`` (no robust relation).

2. The two impairment batteries (default Q04 "Probleme in der Wohngegend", Q10
   "Beeinträchtigung durch Gruppen und Orte"): share naming at least one item a problem
   (the unfavourable end of the scale), mean index, the share unsafe at night among those
   affected and those not, and the difference with Newcombe's hybrid score interval (MOVER,
   Newcombe 1998, Stat. Med. 17, method 10) built from the two groups' intervals as
   :mod:`kit.survey.estimates` computes them. The paired difference of the two batteries'
   affected shares is the weighted mean of a_i - b_i (:func:`weighted_mean_ci`).
   Every share passes :meth:`DisclosurePolicy.survey_estimates`.

Numbers and codes only; German text is in :mod:`kit.survey.view_crime`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from kit.disclosure import DisclosurePolicy
from kit.errors import missing_file
from kit.indicators import UNSAFE_NIGHT
from kit.io import read_table
from kit.schemas import check_district_ids, read_columns, validate_table
from kit.survey.codebook import Codebook
from kit.survey.estimates import collapse, estimate_question, scale_index, weighted_mean_ci, wilson_interval
from kit.survey.weighting import effective_n

RELATION_COLUMNS = ["level", "category", "year", "n_units", "rho", "lower", "upper", "p_value", "verdict",
                    "excluded_units"]
POINT_COLUMNS = ["level", "category", "unit_id", "unit_label", "rate", "cases", "population",
                 "unsafe", "unsafe_lower", "unsafe_upper"]
BATTERY_COLUMNS = ["battery", "label", "affected_label", "items", "affected", "affected_lower", "affected_upper",
                   "index_mean", "index_lower", "index_upper", "unsafe_affected", "unsafe_affected_lower",
                   "unsafe_affected_upper", "unsafe_not_affected", "unsafe_not_affected_lower",
                   "unsafe_not_affected_upper", "difference", "difference_lower", "difference_upper"]
COMMUNE_FILE = "survey_crime_fear_commune"  # one row per commune: the input of the batch comparison
COMMUNE_CATEGORY = "Straftaten insgesamt"


@dataclass
class CrimeFearResult:
    """Public (disclosure-controlled) results of this module."""

    relations: pd.DataFrame  # RELATION_COLUMNS
    points: pd.DataFrame  # POINT_COLUMNS: the units of each relation (for the chart)
    batteries: pd.DataFrame  # BATTERY_COLUMNS
    battery_gap: dict = field(default_factory=dict)  # paired difference of the affected shares
    confidence: float = 0.95
    min_units: int = 8
    commune: pd.DataFrame | None = None  # this commune's row for the batch comparison (COMMUNE_FILE)


# ---------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------


def read_district_crime(path: str | Path, districts: dict[str, str]) -> pd.DataFrame:
    """The optional district crime file, validated (schema ``district_crime``)."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Kriminalität nach Stadtteilen")
    df = validate_table(read_table(path, **read_columns("district_crime")), "district_crime")
    check_district_ids(df, set(districts))
    df["district_id"] = df["district_id"].astype(str)
    return df


def district_rates(crime: pd.DataFrame, population: pd.DataFrame) -> pd.DataFrame:
    """Latest year per category: cases per 1.000 residents by district.

    ``population``: stage 1's ``population_by_district`` (district_id, total)."""
    pop = population.assign(district_id=population["district_id"].astype(str))
    pop = pop.groupby("district_id")["total"].sum()
    rows = []
    for cat, g in crime.groupby("category", sort=False):
        year = int(g["year"].max())
        for r in g[g["year"] == year].itertuples(index=False):
            p = float(pop.get(str(r.district_id), np.nan))
            rows.append({"category": str(cat), "year": year, "district_id": str(r.district_id),
                         "cases": float(r.cases), "population": p,
                         "rate": float(r.cases) / p * 1000 if p > 0 else np.nan})
    return pd.DataFrame(rows, columns=["category", "year", "district_id", "cases", "population", "rate"])


# ---------------------------------------------------------------------------
# the relation
# ---------------------------------------------------------------------------


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (x[i], y[i]) (ties: average ranks)."""
    rx = stats.rankdata(x, axis=-1)
    ry = stats.rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    den = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=-1) / den


def relate(rate: np.ndarray, share: np.ndarray, share_se: np.ndarray, cases: np.ndarray | None = None,
           population: np.ndarray | None = None, conf: float = 0.95, min_units: int = 8,
           n_perm: int = 9999, n_boot: int = 2000, seed: int = 20251) -> dict:
    """Spearman correlation of ``rate`` and ``share`` with a permutation p-value and a
    two-source bootstrap interval (module docstring). ``cases``/``population``: when given,
    bootstrap rates are redrawn as Poisson(cases) / population x 1000 (x scaled like ``rate``)."""
    rate = np.asarray(rate, dtype=float)
    share = np.asarray(share, dtype=float)
    se = np.asarray(share_se, dtype=float)
    ok = np.isfinite(rate) & np.isfinite(share) & np.isfinite(se)
    n = int(ok.sum())
    out = {"n_units": n, "rho": np.nan, "lower": np.nan, "upper": np.nan, "p_value": np.nan, "verdict": "too_few"}
    if n < max(int(min_units), 4):
        return out
    x, y, s = rate[ok], share[ok], se[ok]
    rho = float(_spearman_rows(x, y))
    out["rho"] = rho
    if not np.isfinite(rho):  # no variation on one side
        out["verdict"] = "none"
        return out
    rng = np.random.default_rng(seed)
    perm = stats.permutation_test((x, y), lambda a, b, axis=-1: _spearman_rows(a, b), permutation_type="pairings",
                                  vectorized=True, n_resamples=n_perm, alternative="two-sided", random_state=rng)
    out["p_value"] = float(perm.pvalue)
    idx = rng.integers(0, n, size=(n_boot, n))
    yb = y[idx] + rng.normal(0.0, 1.0, size=idx.shape) * s[idx]
    if cases is not None and population is not None:
        c = np.asarray(cases, dtype=float)[ok]
        p = np.asarray(population, dtype=float)[ok]
        xb = rng.poisson(c[idx]) / p[idx] * 1000.0
    else:
        xb = x[idx]
    boot = _spearman_rows(xb, yb)
    boot = boot[np.isfinite(boot)]
    a = (1 - conf) / 2
    lo, hi = (np.quantile(boot, [a, 1 - a]) if boot.size else (np.nan, np.nan))
    out.update(lower=float(lo), upper=float(hi))
    robust = out["p_value"] < 1 - conf and (lo > 0 or hi < 0)
    out["verdict"] = ("robust_positive" if rho > 0 else "robust_negative") if robust else "none"
    return out


def _se(lower, upper, conf: float) -> np.ndarray:
    z = float(stats.norm.ppf(1 - (1 - conf) / 2))
    return (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2 * z)


def night_by_district(estimates: pd.DataFrame, night_item: str, district_col: str,
                      districts: dict[str, str]) -> pd.DataFrame:
    """District shares unsafe at night (collapsed unfavourable end) from the disclosed estimates:
    district_id, unsafe, unsafe_lower, unsafe_upper (NaN when suppressed)."""
    sel = estimates[(estimates["item"].astype(str) == night_item) & (estimates["kind"] == "collapsed")
                    & (estimates["group_var"].fillna("").astype(str) == district_col)]
    by_name = {str(name): str(i) for i, name in districts.items()}
    rows = [{"district_id": by_name.get(str(r["group"]), str(r["group"])), "unsafe": r["estimate"],
             "unsafe_lower": r["lower"], "unsafe_upper": r["upper"]} for _, r in sel.iterrows()]
    return pd.DataFrame(rows, columns=["district_id", "unsafe", "unsafe_lower", "unsafe_upper"])


def district_relations(rates: pd.DataFrame, night: pd.DataFrame, districts: dict[str, str], conf: float,
                       min_units: int, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One relation per crime category across districts (suppressed district shares excluded)."""
    relations, points = [], []
    for cat, g in rates.groupby("category", sort=False):
        m = g.merge(night, on="district_id", how="left")
        usable = m["unsafe"].notna() & m["rate"].notna()
        res = relate(m["rate"].to_numpy(), m["unsafe"].to_numpy(),
                     _se(m["unsafe_lower"], m["unsafe_upper"], conf), m["cases"].to_numpy(),
                     m["population"].to_numpy(), conf=conf, min_units=min_units, **kw)
        relations.append({"level": "district", "category": str(cat), "year": int(g["year"].iloc[0]), **res,
                          "excluded_units": int((~usable).sum())})
        for r in m.itertuples(index=False):
            points.append({"level": "district", "category": str(cat), "unit_id": r.district_id,
                           "unit_label": districts.get(r.district_id, r.district_id), "rate": r.rate,
                           "cases": r.cases, "population": r.population, "unsafe": r.unsafe,
                           "unsafe_lower": r.unsafe_lower, "unsafe_upper": r.unsafe_upper})
    return (pd.DataFrame(relations, columns=RELATION_COLUMNS), pd.DataFrame(points, columns=POINT_COLUMNS))


def commune_row(commune_id: str, name: str, key_indicators: pd.DataFrame, profile_indicators: pd.DataFrame | None
                ) -> pd.DataFrame:
    """This commune's row of the batch comparison: share unsafe at night (key indicator
    ``survey.unsafe_night``, disclosure-controlled) and PKS HZ of key 000000 (latest year)."""
    k = key_indicators[key_indicators["indicator"] == UNSAFE_NIGHT]
    unsafe = k.iloc[0] if len(k) else None
    hz = cases = pop = year = np.nan
    if profile_indicators is not None and len(profile_indicators):
        p = profile_indicators[(profile_indicators["indicator"] == "pks_hz")
                               & (profile_indicators["subject"].astype(str) == "000000")]
        p = p[pd.to_numeric(p["year"], errors="coerce").notna()]
        if len(p):
            last = p.loc[pd.to_numeric(p["year"]).idxmax()]
            hz, cases, pop, year = float(last["value"]), float(last["count"]), float(last["base"]), int(last["year"])
    return pd.DataFrame([{"commune_id": commune_id, "name": name, "category": COMMUNE_CATEGORY, "year": year,
                          "hz": hz, "cases": cases, "population": pop,
                          "unsafe": np.nan if unsafe is None else unsafe["value"],
                          "unsafe_lower": np.nan if unsafe is None else unsafe["lower"],
                          "unsafe_upper": np.nan if unsafe is None else unsafe["upper"]}])


def read_batch(output_dir: Path, own: pd.DataFrame) -> pd.DataFrame:
    """``own`` plus the commune rows other communes published under ``output_dir``."""
    parts = [own]
    own_id = str(own["commune_id"].iloc[0])
    for f in sorted(Path(output_dir).glob(f"*/results/{COMMUNE_FILE}.csv")):
        if f.parent.parent.name == own_id:
            continue
        try:
            parts.append(pd.read_csv(f, dtype={"commune_id": str}))
        except (OSError, ValueError, pd.errors.ParserError):
            continue  # half-written or foreign file: the comparison uses the others
    return pd.concat(parts, ignore_index=True)


def commune_relation(batch: pd.DataFrame, conf: float, min_units: int, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Across communes: HZ (cases per 100.000 residents) vs share unsafe at night."""
    b = batch.dropna(subset=["hz", "unsafe"])
    rate = b["hz"].to_numpy(dtype=float) / 100.0  # per 1.000 residents, like the district rates
    res = relate(rate, b["unsafe"].to_numpy(dtype=float), _se(b["unsafe_lower"], b["unsafe_upper"], conf),
                 b["cases"].to_numpy(dtype=float), b["population"].to_numpy(dtype=float), conf=conf,
                 min_units=min_units, **kw)
    year = pd.to_numeric(b["year"], errors="coerce").max() if len(b) else np.nan
    rel = pd.DataFrame([{"level": "commune", "category": COMMUNE_CATEGORY,
                         "year": None if pd.isna(year) else int(year), **res,
                         "excluded_units": int(len(batch) - len(b))}], columns=RELATION_COLUMNS)
    pts = pd.DataFrame([{"level": "commune", "category": COMMUNE_CATEGORY, "unit_id": r.commune_id,
                         "unit_label": r.name, "rate": r.hz / 100.0, "cases": r.cases, "population": r.population,
                         "unsafe": r.unsafe, "unsafe_lower": r.unsafe_lower, "unsafe_upper": r.unsafe_upper}
                        for r in batch.itertuples(index=False)], columns=POINT_COLUMNS)
    return rel, pts


# ---------------------------------------------------------------------------
# the two impairment batteries
# ---------------------------------------------------------------------------


def newcombe_difference(p1, l1, u1, p2, l2, u2) -> tuple[float, float, float]:
    """p1 - p2 with Newcombe's hybrid score (MOVER) interval from the two groups' intervals."""
    if any(pd.isna(v) for v in (p1, l1, u1, p2, l2, u2)):
        return np.nan, np.nan, np.nan
    d = p1 - p2
    return d, d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def _affected(data: pd.DataFrame, items: list, codes: list[int]) -> pd.Series:
    """1 if any item of the battery is at the unfavourable end, 0 if none is (with at least
    one answer), NaN without answers."""
    block = data[[it.id for it in items]].apply(pd.to_numeric, errors="coerce")
    hit = block.isin([float(c) for c in codes]).any(axis=1)
    return hit.astype(float).where(block.notna().any(axis=1))


def _share_row(flag: pd.Series, w: pd.Series, item: str, label: str, conf: float) -> dict:
    v = flag.notna().to_numpy()
    wv = w.reindex(flag.index).to_numpy(dtype=float)
    y = flag.to_numpy(dtype=float)
    n = int(v.sum())
    p = float(np.sum(wv[v] * y[v]) / np.sum(wv[v])) if n else np.nan
    lo, hi = wilson_interval(p, effective_n(wv[v]), conf) if n else (np.nan, np.nan)
    return {"item": item, "question": "", "item_label": label, "category": "1", "category_label": "betroffen",
            "group_var": "", "group": "Gesamt", "estimate": p, "lower": lo, "upper": hi, "n_unweighted": n,
            "n_cell": int(np.nansum(y[v])), "weighted_base": float(np.sum(wv[v])), "n_eff": effective_n(wv[v]),
            "kind": "multi", "suppressed": False}


def battery_comparison(data: pd.DataFrame, weights: pd.Series, codebook: Codebook, batteries: list[str],
                       night_item: str | None, policy: DisclosurePolicy, conf: float = 0.95
                       ) -> tuple[pd.DataFrame, dict]:
    """Per battery (question id): affected share, mean index, unsafe at night among affected /
    not affected and their difference (BATTERY_COLUMNS), after disclosure control; and the paired
    difference of the first two batteries' affected shares."""
    from kit.survey.estimates import _frame
    from kit.survey.stage import negative_codes, negative_label  # lazy: stage imports this module

    w = weights.reindex(data.index).astype(float)
    present = [q for q in batteries if q in codebook.questions()]
    night = codebook.items.get(night_item) if night_item else None
    ncodes = negative_codes(night) if night is not None else None
    frame = data.copy()
    tidy, flags = [], {}
    for q in present:
        items = codebook.question_items(q)
        codes = negative_codes(items[0]) or []
        flag = _affected(data, items, codes)
        flags[q] = flag
        rows = [_share_row(flag, w, f"battery:{q}", codebook.question_text(q), conf)]
        idx = scale_index(data, items)
        m = weighted_mean_ci(idx.to_numpy(), w.to_numpy(), conf)
        rows.append({"item": f"index:{q}", "question": q, "item_label": "", "category": "",
                     "category_label": "Mittelwert", "group_var": "", "group": "Gesamt", "estimate": m["estimate"],
                     "lower": m["lower"], "upper": m["upper"], "n_unweighted": m["n"], "n_cell": m["n"],
                     "weighted_base": m["weighted_base"], "n_eff": m["n_eff"], "kind": "mean", "suppressed": False})
        tidy.append(_frame(rows))
        if ncodes:
            col = f"__affected_{q}"
            frame[col] = flag
            by = estimate_question(frame, w, codebook, night.question, by=col, conf=conf)
            by = by[(by["item"] == night.id) & (by["group_var"] == col)]
            tidy.append(pd.concat([by, collapse(by, ncodes, "unsicher")], ignore_index=True))
    if not tidy:
        return pd.DataFrame(columns=BATTERY_COLUMNS), {}
    disclosed = policy.survey_estimates(pd.concat(tidy, ignore_index=True))

    def get(item, kind, group_var="", group="Gesamt"):
        sel = disclosed[(disclosed["item"] == item) & (disclosed["kind"] == kind)
                        & (disclosed["group_var"].fillna("") == group_var) & (disclosed["group"] == group)]
        if sel.empty or bool(sel["suppressed"].iloc[0]):
            return np.nan, np.nan, np.nan
        r = sel.iloc[0]
        return float(r["estimate"]), float(r["lower"]), float(r["upper"])

    out = []
    for q in present:
        a = get(f"battery:{q}", "multi")
        m = get(f"index:{q}", "mean")
        col = f"__affected_{q}"
        ua = get(night.id, "collapsed", col, "1") if ncodes else (np.nan,) * 3
        un = get(night.id, "collapsed", col, "0") if ncodes else (np.nan,) * 3
        d = newcombe_difference(*ua, *un)
        first = codebook.question_items(q)[0]
        codes = negative_codes(first) or []
        out.append({"battery": q, "label": first.block or q,
                    "affected_label": negative_label(first, codes) if codes else "",
                    "items": len(codebook.question_items(q)),
                    "affected": a[0], "affected_lower": a[1], "affected_upper": a[2],
                    "index_mean": m[0], "index_lower": m[1], "index_upper": m[2],
                    "unsafe_affected": ua[0], "unsafe_affected_lower": ua[1], "unsafe_affected_upper": ua[2],
                    "unsafe_not_affected": un[0], "unsafe_not_affected_lower": un[1],
                    "unsafe_not_affected_upper": un[2],
                    "difference": d[0], "difference_lower": d[1], "difference_upper": d[2]})
    table = pd.DataFrame(out, columns=BATTERY_COLUMNS)
    gap: dict = {}
    if len(present) >= 2 and table["affected"].iloc[:2].notna().all():
        q1, q2 = present[:2]
        diff = (flags[q1] - flags[q2]).dropna()
        if policy.base_ok(len(diff)):
            r = weighted_mean_ci(diff.to_numpy(), w.reindex(diff.index).to_numpy(), conf)
            gap = {"first": q1, "second": q2, "difference": r["estimate"], "lower": r["lower"], "upper": r["upper"]}
    return table, gap


__all__ = ["BATTERY_COLUMNS", "COMMUNE_FILE", "CrimeFearResult", "POINT_COLUMNS", "RELATION_COLUMNS",
           "battery_comparison", "commune_relation", "commune_row", "district_rates", "district_relations",
           "newcombe_difference", "night_by_district", "read_batch", "read_district_crime", "relate"]
