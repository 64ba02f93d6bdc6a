"""The survey's most important findings, as numbers and codes ("Das Wichtigste in Kürze").

:func:`survey_findings` reads only the public (disclosure-controlled) results and returns
one row per finding with a code, its numbers and an importance score; the survey view
phrases the sentences. Order of importance: a difference from a published reference that
goes beyond the survey's uncertainty; a difference between women and men in feeling
unsafe at night (design-adjusted test); the problems named most often; how close the
commune is to a reference where it is not different; the size of the survey.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kit.indicators import SURVEY_PROBLEM_PREFIX, UNSAFE_NIGHT, UNSAFE_NIGHT_WOMEN

FINDING_COLUMNS = ["code", "indicator", "label", "value", "lower", "upper", "reference_value", "reference_label",
                   "reference_year", "verdict", "p_value", "count", "score"]
MAX_FINDINGS = 8
MAX_PROBLEMS = 3
ALPHA = 0.05


def _row(**values) -> dict:
    return {c: values.get(c, np.nan) for c in FINDING_COLUMNS}


def _benchmark_rows(benchmarks: pd.DataFrame | None) -> list[dict]:
    """At most one comparison per indicator: the same wording first, then the most recent year."""
    if benchmarks is None or benchmarks.empty:
        return []
    shown = benchmarks[benchmarks["verdict"] != "not_shown"].copy()
    if shown.empty:
        return []
    shown["same"] = shown["wording"] == "same"
    best = (shown.sort_values(["indicator", "same", "year"], ascending=[True, False, False])
            .groupby("indicator", sort=False).head(1))
    rows = []
    for b in best.itertuples(index=False):
        different = b.verdict in ("higher", "lower")
        score = 3.0 + min(abs(float(b.z)), 5.0) / 10 if different else 1.0 + (0.2 if b.same else 0.0)
        rows.append(_row(code="benchmark", indicator=b.indicator, label=b.indicator_label, value=b.value,
                         lower=b.lower, upper=b.upper, reference_value=b.reference_value,
                         reference_label=b.reference_label, reference_year=b.year, verdict=b.verdict,
                         p_value=b.p_value, score=score))
    return rows


def _sex_difference(tests: dict, key: pd.DataFrame) -> list[dict]:
    test = (tests or {}).get("night_unsafe_by_sex")
    if not test or pd.isna(test.get("p_value")):
        return []
    women = key[key["indicator"] == UNSAFE_NIGHT_WOMEN]
    overall = key[key["indicator"] == UNSAFE_NIGHT]
    if women.empty or pd.isna(women["value"].iloc[0]):
        return []
    w = women.iloc[0]
    p = float(test["p_value"])
    return [_row(code="sex_difference", indicator=UNSAFE_NIGHT_WOMEN, label=w["label"], value=w["value"],
                 lower=w["lower"], upper=w["upper"],
                 reference_value=overall["value"].iloc[0] if len(overall) else np.nan,
                 verdict="different" if p < ALPHA else "similar", p_value=p,
                 score=2.5 if p < ALPHA else 0.8)]


def _top_problems(key: pd.DataFrame) -> list[dict]:
    problems = key[key["indicator"].str.startswith(SURVEY_PROBLEM_PREFIX) & key["value"].notna()]
    problems = problems.sort_values("value", ascending=False).head(MAX_PROBLEMS)
    return [_row(code="top_problem", indicator=r.indicator, label=r.label, value=r.value, lower=r.lower,
                 upper=r.upper, count=rank, score=2.0 + float(r.value) / 2)
            for rank, r in enumerate(problems.itertuples(index=False), 1)]


def _wave_changes(waves) -> list[dict]:
    """Changes since an earlier wave that the Benjamini-Hochberg procedure marks
    (kit.survey.waves): key indicators first, then the largest |z|; at most MAX_WAVE_CHANGES.
    value/lower/upper: the current share and interval; reference_value: the earlier share;
    reference_label: the earlier wave; verdict: rise | fall; p_value: the adjusted p."""
    if waves is None or waves.table.empty:
        return []
    sig = waves.table[waves.table["significant"]].copy()
    sig["is_key"] = sig["comparison"] == "key"
    sig["abs_z"] = sig["z"].abs()
    sig = sig.sort_values(["is_key", "abs_z"], ascending=[False, False]).head(MAX_WAVE_CHANGES)
    return [_row(code="wave_change", indicator=r.indicator or f"{r.item}:{r.category}",
                 label=r.label if r.comparison == "key" else f"{r.label}|{r.category_label}",
                 value=r.current, lower=r.current_lower, upper=r.current_upper, reference_value=r.previous,
                 reference_label=waves.label, verdict=r.direction, p_value=r.p_adjusted,
                 score=2.7 + min(float(r.abs_z), 5.0) / 20 + (0.05 if r.is_key else 0.0))
            for r in sig.itertuples(index=False)]


MAX_WAVE_CHANGES = 3


def survey_findings(key_indicators: pd.DataFrame, benchmarks: pd.DataFrame | None, tests: dict,
                    n_respondents: int, response_rate: float | None = None, waves=None) -> pd.DataFrame:
    """The findings for the summary, most important first (at most MAX_FINDINGS rows).
    ``waves``: a kit.survey.waves.WavesResult; its marked changes rank after differences from
    a reference and before the difference between women and men."""
    rows = (_benchmark_rows(benchmarks) + _wave_changes(waves) + _sex_difference(tests, key_indicators)
            + _top_problems(key_indicators))
    rows.append(_row(code="sample", value=response_rate if response_rate is not None else np.nan,
                     count=n_respondents, score=0.5))
    out = pd.DataFrame(rows, columns=FINDING_COLUMNS)
    # the problems named most often stay in their order, whatever their score
    out = out.sort_values("score", ascending=False, kind="stable").head(MAX_FINDINGS).reset_index(drop=True)
    return out
