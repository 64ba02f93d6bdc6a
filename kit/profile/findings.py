"""Stage 1 (Gebietsprofil): the findings for "Das Wichtigste in Kürze".

Compute only: :func:`profile_findings` turns a :class:`~kit.profile.stage.ProfileResult`
into a tidy table of findings, one row each, with numbers, comparison values,
their uncertainty, machine codes and a ``score`` that orders them; no German
sentences (:func:`kit.profile.view.show_summary` words them).

Columns (:data:`FINDING_COLUMNS`)::

    finding          kind of finding (:data:`FINDING_KINDS`)
    area             "pks", "owi", "pmk", "population", "districts", "prevention"
    subject          Straftatenschlüssel, OWi category, population share code ("" = all)
    subject_label    label of the subject as in the indicator tables
    district_id      "districts": the district with the highest value; else ""
    year             the year of ``value``
    period           the years behind ``reference`` when it is a multi-year value
    value            the finding's number (HZ, count, rate, share in %)
    lower, upper     its uncertainty: 95-% Poisson interval of a rate or count, or
                     for "trend" the range expected without change; NaN for
                     register counts (no chance variation)
    count            the count behind ``value`` (cases, residents)
    unit             unit code (:data:`UNITS`)
    flag             comparison flag: above_reference / below_reference /
                     like_reference, rise / fall, few_cases, or ""
    reference        the value compared with (reference HZ, expected count,
                     multi-year mean, previous year, first year, commune value)
    reference_kind   what ``reference`` is (:data:`REFERENCE_KINDS`)
    reference_year   its year (Int64; <NA> for multi-year values: see period)
    reference_lower, reference_upper   its interval where it has one
    other            a second comparison value (Kreis HZ, previous year, lowest district)
    other_kind       what ``other`` is (:data:`REFERENCE_KINDS`)
    other_flag       flag of the second comparison ("" when none)
    other_year       its year (Int64)
    other_label      a proper name for the second comparison (Kreis name) or a
                     district id (lowest district)
    reference_label  a proper name for ``reference`` (the reference set in the
                     params, e.g. "Sachsen 2022"), else ""
    control          PKS control offence (counts mirror control activity)
    n_items, n_total  "few_cases": keys with few cases / keys shown; "gaps":
                     gap cells / cells
    items            ";"-joined subjects the finding covers ("few_cases": the keys)
    score            importance; rows are sorted by it, highest first

Importance (``score``), for prevention: first the *concerns* 3-4 (a HZ above
a reference: Land, Kreis or the reference in the params, i.e. the reference
below the interval of the HZ; a conspicuous rise of the early warning: 3.5-4;
prevention gaps 3.25-3.49; control offences above / rising 3-3.24), then the
*reassuring* deviations 2-3 (a HZ below its reference, a conspicuous fall:
2.5-3; control offences 2-2.24), then the small-number caveat 1-1.5, then
context below 1 (level of all crime against its multi-year mean, the
comparison of all crime when it lies in the range of the reference,
residents, OWi, population structure, districts, PMK). Within a tier the size
of the deviation orders (:func:`_deviation_size`, the same measure for a HZ
against its reference and a count against the count expected without change:
the relative difference times how clearly it lies outside the interval).
:func:`summary_findings` keeps at most :data:`MAX_PER_KIND` per kind and
:data:`MAX_FINDINGS` in all.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from kit.profile.indicators import poisson_interval
from kit.profile.pks import CONTROL_KEYS, TOTAL_KEY

__all__ = [
    "FEW_CASES",
    "FINDING_COLUMNS",
    "FINDING_KINDS",
    "MAX_FINDINGS",
    "MIN_FINDINGS",
    "TIERS",
    "profile_findings",
    "summary_findings",
    "tier",
]

FINDING_COLUMNS: list[str] = [
    "finding", "area", "subject", "subject_label", "district_id", "year", "period", "value", "lower", "upper",
    "count", "unit", "flag", "reference", "reference_kind", "reference_year", "reference_lower",
    "reference_upper", "reference_label", "other", "other_kind", "other_flag", "other_year", "other_label",
    "control", "n_items", "n_total", "items", "score",
]
FINDING_KINDS: tuple[str, ...] = (
    "hz_benchmark",      # HZ of a key beside Land / Kreis / the params reference (flag above/below/like)
    "trend",             # early-warning flag rise/fall of a PKS or OWi series
    "gaps",              # prevention gaps: topics with a problem sign and no activity in a district
    "few_cases",         # small numbers: keys with fewer than FEW_CASES cases in the latest year
    "hz_level",          # HZ of all crime in the latest year against the multi-year mean
    "population",        # residents in the latest year against the first year
    "population_structure",  # a population share beside Land / Kreis
    "owi_level",         # OWi per 1.000 residents in the latest year against the year before
    "districts",         # highest and lowest district share of residents 65+
    "pmk",               # PMK cases in the latest year against the year before
)
UNITS: tuple[str, ...] = ("hz", "cases", "persons", "per_1000", "pct", "gap_cells")
REFERENCE_KINDS: tuple[str, ...] = (
    "params", "land", "kreis", "expected", "multi_year_mean", "previous_year", "first_year", "commune",
    "district_min", "",
)

#: Fewer cases than this in the latest year: the 95-% interval of the HZ is wider than
#: about ±40 % (20 cases: 12,2 to 30,9), a few cases more or less change the HZ noticeably.
FEW_CASES = 20
MAX_FINDINGS = 8
MIN_FINDINGS = 5
MAX_PER_KIND = {"hz_benchmark": 3, "trend": 3}

# tiers of the score (see the module docstring): concerns, reassuring deviations, small numbers
_CONCERN, _CONCERN_GAPS, _CONCERN_CONTROL = 3.5, 3.25, 3.0
_REASSURING, _REASSURING_CONTROL = 2.5, 2.0
_FEW = 1.0
#: the tiers as codes (for the view's intro sentence and the tests), highest first
TIERS: tuple[str, ...] = ("concern", "reassuring", "few_cases", "context")
_CONTEXT = {"hz_level": 0.9, "hz_benchmark_like": 0.85, "population": 0.8, "owi_level": 0.7,
            "population_structure": 0.6, "districts": 0.5, "pmk": 0.4}
_FLAGGED_REFERENCE = ("above_reference", "below_reference")
_GAP_STATUS = "gap"  # status code of a gap cell (kit.profile.gaps.GAP)
_SHARE_ORDER = ["share_65plus", "share_under18", "share_nongerman"]


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def profile_findings(result) -> pd.DataFrame:
    """Every candidate finding of ``result`` (a ProfileResult), sorted by ``score``
    (highest first); see the module docstring for the columns."""
    rows: list[dict] = []
    rows += _benchmark_findings(result)
    rows += _trend_findings(result)
    rows += _gap_findings(result)
    rows += _few_cases_findings(result)
    rows += _hz_level_findings(result)
    rows += _population_findings(result)
    rows += _population_structure_findings(result)
    rows += _owi_findings(result)
    rows += _district_findings(result)
    rows += _pmk_findings(result)
    return _frame(rows)


def summary_findings(result, max_findings: int = MAX_FINDINGS) -> pd.DataFrame:
    """The findings for "Das Wichtigste in Kürze": the highest scores, at most
    :data:`MAX_PER_KIND` of a kind and ``max_findings`` in all (fewer only when
    the data hold fewer than :data:`MIN_FINDINGS` findings)."""
    allf = profile_findings(result)
    taken, per_kind = [], {}
    for i, r in allf.iterrows():
        kind = r["finding"]
        if per_kind.get(kind, 0) >= MAX_PER_KIND.get(kind, max_findings):
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        taken.append(i)
        if len(taken) >= max_findings:
            break
    return allf.loc[taken].reset_index(drop=True)


# ---------------------------------------------------------------------------
# Kinds of findings
# ---------------------------------------------------------------------------


def _num(x) -> float:
    try:
        return math.nan if x is None or pd.isna(x) else float(x)
    except (TypeError, ValueError):
        return math.nan


def _latest(table: pd.DataFrame | None, indicator: str, subject: str = "", district: str = "") -> pd.Series | None:
    if table is None or table.empty:
        return None
    sel = table[(table["indicator"] == indicator) & (table["subject"] == subject) & (table["district_id"] == district)]
    sel = sel[sel["year"].notna()] if sel["year"].notna().any() else sel
    if sel.empty:
        return None
    return sel.sort_values("year").iloc[-1] if sel["year"].notna().any() else sel.iloc[-1]


def _row_for_year(table, indicator, subject, year) -> pd.Series | None:
    sel = table[(table["indicator"] == indicator) & (table["subject"] == subject) & (table["district_id"] == "")
                & (table["year"] == year)]
    return sel.iloc[0] if len(sel) else None


def _shown_keys(result) -> list[str]:
    from kit.profile.stage import PKS_DISPLAY_KEYS

    present = set(result.pks.loc[result.pks["indicator"] == "pks_cases", "subject"])
    return [k for k in PKS_DISPLAY_KEYS if k in present]


def tier(row) -> str:
    """The tier of a finding (:data:`TIERS`) from its kind and flags."""
    kind, flag = row["finding"], row["flag"]
    if kind == "gaps" or flag == "rise" or (kind == "hz_benchmark" and "above_reference" in (flag, row["other_flag"])):
        return "concern"
    if flag in ("fall", "below_reference") or (kind == "hz_benchmark" and row["other_flag"] == "below_reference"):
        return "reassuring"
    return "few_cases" if kind == "few_cases" else "context"


def _score(size: float, concern: bool, control: bool) -> float:
    if concern:
        return (_CONCERN_CONTROL + 0.24 * size) if control else (_CONCERN + 0.49 * size)
    return (_REASSURING_CONTROL + 0.24 * size) if control else (_REASSURING + 0.49 * size)


def _deviation_size(row) -> float:
    """How clearly and how far a HZ deviates from its reference, 0..1: the relative
    difference (|log(HZ / reference)|) times how far the reference lies beyond the
    interval of the HZ (in half-widths of the interval), each capped at 1. A HZ of
    0 from 0 cases is "below" a reference just above its upper bound, but barely.
    For a trend: value = the count, reference = the count expected, lower/upper =
    the range expected around it (the count beyond it in half-widths)."""
    v, r, lo, hi = _num(row["value"]), _num(row["reference"]), _num(row["lower"]), _num(row["upper"])
    if row.get("kind") == "trend":
        if math.isnan(v) or math.isnan(r):
            return 0.0
        ratio = abs(math.log(v / r)) if v > 0 and r > 0 else 1.0
        bound = hi if v > r else lo
        half = abs(bound - r)
        clarity = abs(v - bound) / half if half > 0 else 1.0
        return min(ratio, 1.0) * min(clarity, 1.0)
    if math.isnan(v) or math.isnan(r):
        return 0.0
    ratio = abs(math.log(v / r)) if v > 0 and r > 0 else 1.0
    half = (hi - lo) / 2 if hi > lo else 0.0
    beyond = max(lo - r, r - hi, 0.0)
    clarity = beyond / half if half > 0 else 1.0
    return min(ratio, 1.0) * min(clarity, 1.0)


def _benchmark_findings(result) -> list[dict]:
    """Per shown key, the most recent year with a reference: params reference first,
    else Land; the Kreis (same year) as second comparison."""
    parts = [result.pks[result.pks["indicator"] == "pks_hz_reference"]]
    bench = getattr(result, "benchmarks", None)
    if bench is not None and len(bench):
        parts.append(bench[bench["indicator"].isin(["pks_hz_land", "pks_hz_kreis"])])
    rows_all = pd.concat(parts, ignore_index=True)
    rows_all = rows_all[rows_all["reference"].notna() & rows_all["year"].notna() & (rows_all["flag"] != "")]
    if rows_all.empty:
        return []
    info = getattr(result, "benchmark_info", None)
    kreis_name = str(getattr(getattr(info, "kreis", None), "region_name", "") or "")
    out = []
    for key in _shown_keys(result):
        own = rows_all[rows_all["subject"] == key]
        primary = own[own["indicator"].isin(["pks_hz_reference", "pks_hz_land"])]
        if primary.empty:
            continue
        year = int(primary["year"].max())
        at = primary[primary["year"] == year]
        # the params reference wins over the shipped Land value of the same year
        p = at[at["indicator"] == "pks_hz_reference"]
        r = (p if len(p) else at).iloc[0]
        kind = "params" if r["indicator"] == "pks_hz_reference" else "land"
        kreis = own[(own["indicator"] == "pks_hz_kreis") & (own["year"] == year)]
        k = kreis.iloc[0] if len(kreis) else None
        flags = [r["flag"]] + ([k["flag"]] if k is not None else [])
        control = key in CONTROL_KEYS
        if any(f in _FLAGGED_REFERENCE for f in flags):
            # a concern when above one of the references; its size is that of the "above" comparisons
            above = "above_reference" in flags
            wanted = ("above_reference",) if above else _FLAGGED_REFERENCE
            size = max([_deviation_size(r) if r["flag"] in wanted else 0.0]
                       + ([_deviation_size(k)] if k is not None and k["flag"] in wanted else []))
            score = _score(size, above, control)
        elif key == TOTAL_KEY:
            score = _CONTEXT["hz_benchmark_like"]
        else:
            continue  # a group in the range of its reference is no finding of its own
        out.append(dict(finding="hz_benchmark", area="pks", subject=key, subject_label=r["subject_label"],
                        year=year, value=r["value"], lower=r["lower"], upper=r["upper"], count=r["count"], unit="hz",
                        flag=r["flag"], reference=r["reference"], reference_kind=kind, reference_year=year,
                        reference_label=result.reference_label if kind == "params" else "",
                        other=k["reference"] if k is not None else math.nan,
                        other_kind="kreis" if k is not None else "", other_flag=k["flag"] if k is not None else "",
                        other_year=year if k is not None else None, other_label=kreis_name if k is not None else "",
                        control=control, score=score))
    return out


def _trend_findings(result) -> list[dict]:
    out = []
    for table, area in ((result.pks, "pks"), (result.owi, "owi")):
        if table is None:
            continue
        t = table[(table["indicator"] == f"{area}_trend") & table["flag"].isin(["rise", "fall"])]
        for _, r in t.iterrows():
            value, expected = _num(r["value"]), _num(r["expected"])
            size = _deviation_size({"kind": "trend", "value": value, "reference": expected, "lower": r["lower"],
                                    "upper": r["upper"]})
            control = area == "pks" and r["subject"] in CONTROL_KEYS
            score = _score(size, r["flag"] == "rise", control)
            out.append(dict(finding="trend", area=area, subject=r["subject"], subject_label=r["subject_label"],
                            year=r["year"], period=r["period"], value=value, lower=r["lower"], upper=r["upper"],
                            count=r["count"], unit="cases", flag=r["flag"], reference=expected,
                            reference_kind="expected", control=control, score=score))
    return out


def _gap_findings(result) -> list[dict]:
    g = result.gaps
    if g is None or not isinstance(g, pd.DataFrame) or g.empty:
        return []
    if "status" in g.columns:  # long table: one row per topic and district (kit.profile.gaps)
        gaps = g[g["status"] == _GAP_STATUS]
        n_gap, n_cells = len(gaps), len(g)
        topics = list(dict.fromkeys(gaps["topic"])) if "topic" in g.columns else []
    else:  # wide matrix: topics x districts
        cells = g.to_numpy()
        n_gap, n_cells = int((cells == _GAP_STATUS).sum()), int(cells.size)
        topics = [str(t) for t, row in g.iterrows() if (row == _GAP_STATUS).any()]
    if not n_gap:
        return []
    return [dict(finding="gaps", area="prevention", value=float(n_gap), unit="gap_cells", n_items=n_gap,
                 n_total=n_cells, items=";".join(topics),
                 score=_CONCERN_GAPS + 0.24 * min(n_gap / max(n_cells, 1), 1.0))]


def _few_cases_findings(result) -> list[dict]:
    keys = _shown_keys(result)
    few = []
    for key in keys:
        cases = _latest(result.pks, "pks_cases", key)
        if cases is not None and _num(cases["value"]) < FEW_CASES:
            few.append((key, cases))
    if not few:
        return []
    key, cases = few[0]  # the first in the report's order (all crime, then the summary groups)
    hz = _row_for_year(result.pks, "pks_hz", key, cases["year"])
    return [dict(finding="few_cases", area="pks", subject=key, subject_label=cases["subject_label"],
                 year=cases["year"], value=hz["value"] if hz is not None else math.nan,
                 lower=hz["lower"] if hz is not None else math.nan, upper=hz["upper"] if hz is not None else math.nan,
                 count=cases["value"], unit="hz", flag="few_cases", control=key in CONTROL_KEYS,
                 n_items=len(few), n_total=len(keys), items=";".join(k for k, _ in few),
                 score=_FEW + 0.49 * len(few) / max(len(keys), 1))]


def _hz_level_findings(result) -> list[dict]:
    hz = _latest(result.pks, "pks_hz", TOTAL_KEY)
    if hz is None:
        return []
    mean = _latest(result.pks, "pks_hz_mean", TOTAL_KEY)
    before = _row_for_year(result.pks, "pks_hz", TOTAL_KEY, int(hz["year"]) - 1)
    return [dict(finding="hz_level", area="pks", subject=TOTAL_KEY, subject_label=hz["subject_label"],
                 year=hz["year"], value=hz["value"], lower=hz["lower"], upper=hz["upper"], count=hz["count"],
                 unit="hz", period=mean["period"] if mean is not None else "",
                 reference=mean["value"] if mean is not None else math.nan,
                 reference_kind="multi_year_mean" if mean is not None else "",
                 reference_lower=mean["lower"] if mean is not None else math.nan,
                 reference_upper=mean["upper"] if mean is not None else math.nan,
                 other=before["value"] if before is not None else math.nan,
                 other_kind="previous_year" if before is not None else "",
                 other_year=int(hz["year"]) - 1 if before is not None else None,
                 score=_CONTEXT["hz_level"])]


def _population_findings(result) -> list[dict]:
    t = result.totals.sort_values("year")
    if t.empty:
        return []
    last, first = t.iloc[-1], t.iloc[0]
    return [dict(finding="population", area="population", year=last["year"], value=last["total"],
                 count=last["total"], unit="persons",
                 reference=first["total"] if len(t) > 1 else math.nan,
                 reference_kind="first_year" if len(t) > 1 else "",
                 reference_year=first["year"] if len(t) > 1 else None,
                 score=_CONTEXT["population"])]


def _population_structure_findings(result) -> list[dict]:
    pb = getattr(result, "population_benchmarks", None)
    needed = {"indicator", "year", "commune_year", "commune_pct", "land_pct"}
    if pb is None or pb.empty or not needed <= set(pb.columns):
        return []
    diff = (pb["commune_pct"] - pb["land_pct"]).abs()
    # the largest difference in whole percentage points; on a tie the order of _SHARE_ORDER
    rank = [(-round(float(d)), _SHARE_ORDER.index(i) if i in _SHARE_ORDER else len(_SHARE_ORDER))
            for d, i in zip(diff, pb["indicator"])]
    r = pb.iloc[min(range(len(rank)), key=rank.__getitem__)]
    kreis = _num(r.get("kreis_pct"))
    return [dict(finding="population_structure", area="population", subject=r["indicator"], year=r["commune_year"],
                 value=r["commune_pct"], unit="pct", reference=r["land_pct"], reference_kind="land",
                 reference_year=r["year"], other=kreis, other_kind="" if math.isnan(kreis) else "kreis",
                 other_year=None if math.isnan(kreis) else r["year"],
                 other_label="" if math.isnan(kreis) else str(r.get("kreis_name", "") or ""),
                 score=_CONTEXT["population_structure"] + 0.09 * min(float(diff.max()) / 10, 1.0))]


def _owi_findings(result) -> list[dict]:
    if result.owi is None:
        return []
    r = _latest(result.owi, "owi_per_1000", "")
    if r is None:
        return []
    before = _row_for_year(result.owi, "owi_per_1000", "", int(r["year"]) - 1)
    cats = result.owi[(result.owi["indicator"] == "owi_per_1000") & (result.owi["year"] == r["year"])
                      & (result.owi["subject"] != "") & (result.owi["district_id"] == "")]
    top = cats.sort_values("count", ascending=False).iloc[0] if len(cats) else None
    return [dict(finding="owi_level", area="owi", year=r["year"], value=r["value"], lower=r["lower"],
                 upper=r["upper"], count=r["count"], unit="per_1000",
                 reference=before["value"] if before is not None else math.nan,
                 reference_kind="previous_year" if before is not None else "",
                 reference_year=before["year"] if before is not None else None,
                 reference_lower=before["lower"] if before is not None else math.nan,
                 reference_upper=before["upper"] if before is not None else math.nan,
                 subject=top["subject"] if top is not None else "",
                 subject_label=top["subject_label"] if top is not None else "",
                 other=100 * _num(top["count"]) / _num(r["count"]) if top is not None and _num(r["count"]) > 0
                 else math.nan,
                 other_kind="top_category_share" if top is not None else "",
                 score=_CONTEXT["owi_level"])]


def _district_findings(result) -> list[dict]:
    d = result.by_district
    if d is None or len(d) < 2 or "share_65plus_pct" not in d.columns:
        return []
    d = d.dropna(subset=["share_65plus_pct"])
    if len(d) < 2:
        return []
    hi, lo = d.loc[d["share_65plus_pct"].idxmax()], d.loc[d["share_65plus_pct"].idxmin()]
    commune = result.totals.sort_values("year").iloc[-1]
    return [dict(finding="districts", area="districts", subject="share_65plus", district_id=str(hi["district_id"]),
                 year=result.latest_year, value=hi["share_65plus_pct"], count=hi["total"], unit="pct",
                 reference=commune["share_65plus_pct"], reference_kind="commune", reference_year=result.latest_year,
                 other=lo["share_65plus_pct"], other_kind="district_min", other_year=result.latest_year,
                 other_label=str(lo["district_id"]), n_total=len(d), score=_CONTEXT["districts"])]


def _pmk_findings(result) -> list[dict]:
    p = result.pmk
    if p is None or p.empty:
        return []
    p = p.sort_values("year")
    last = p.iloc[-1]
    n = _num(last["Insgesamt"])
    lo, hi = poisson_interval(n)
    before = p.iloc[-2] if len(p) > 1 else None
    return [dict(finding="pmk", area="pmk", year=last["year"], value=n, lower=lo, upper=hi, count=n, unit="cases",
                 flag="few_cases" if n < FEW_CASES else "",
                 reference=_num(before["Insgesamt"]) if before is not None else math.nan,
                 reference_kind="previous_year" if before is not None else "",
                 reference_year=before["year"] if before is not None else None,
                 score=_CONTEXT["pmk"])]


# ---------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------

_TEXT = ["finding", "area", "subject", "subject_label", "district_id", "period", "unit", "flag", "reference_kind",
         "reference_label", "other_kind", "other_flag", "other_label", "items"]
_INT = ["year", "reference_year", "other_year", "n_items", "n_total"]


def _frame(rows: list[dict]) -> pd.DataFrame:
    data = {}
    for col in FINDING_COLUMNS:
        values = [r.get(col) for r in rows]
        if col in _TEXT:
            data[col] = pd.Series(["" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)
                                   for v in values], dtype="str")
        elif col in _INT:
            data[col] = pd.Series([pd.NA if v is None or pd.isna(v) else int(v) for v in values], dtype="Int64")
        elif col == "control":
            data[col] = pd.Series([bool(v) for v in values], dtype="bool")
        else:
            data[col] = pd.Series([_num(v) for v in values], dtype="float64")
    out = pd.DataFrame(data, columns=FINDING_COLUMNS)
    order = np.argsort(-out["score"].to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)
