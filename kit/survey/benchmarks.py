"""The survey's key indicators beside published reference values.

Reference values (national victimisation surveys, Saxon ASSKomm averages) live in
``reference_data/survey_benchmarks.csv`` with source, year and a wording flag, not in
code. :func:`compare_with_benchmarks` returns numbers and codes only; the survey view
phrases them.

The test of a difference accounts for the kit's own uncertainty. A reference without a
sample size is treated as a fixed number: the commune differs from it when the
reference lies outside the commune's 95 % interval (the interval already follows the
weighting, Wilson on the effective n). A reference with a sample size n_ref adds its
own binomial variance: z = (p - p_ref) / sqrt(se^2 + p_ref (1 - p_ref) / n_ref), where
se is read off the half of the commune's interval that faces the reference (the
Wilson interval is not symmetric).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REFERENCE_FILE = Path(__file__).resolve().parent / "reference_data" / "survey_benchmarks.csv"
REFERENCE_COLUMNS = ["indicator", "reference", "label", "value", "n", "year", "source", "wording"]
COMPARISON_COLUMNS = ["indicator", "indicator_label", "value", "lower", "upper", "reference", "reference_label",
                      "reference_value", "reference_n", "year", "source", "wording", "difference", "z", "p_value",
                      "verdict"]
VERDICTS = ("higher", "lower", "similar", "not_shown")  # not_shown: the commune's value is suppressed


def load_benchmarks(path: str | Path = REFERENCE_FILE) -> pd.DataFrame:
    """The shipped reference values (columns REFERENCE_COLUMNS)."""
    table = pd.read_csv(path, dtype={"indicator": str, "reference": str, "label": str, "source": str,
                                     "wording": str})
    missing = [c for c in REFERENCE_COLUMNS if c not in table.columns]
    if missing:  # a broken shipped file is a bug of the kit, not an analyst's input
        raise ValueError(f"{path}: columns missing: {missing}")
    return table[REFERENCE_COLUMNS]


def compare_with_benchmarks(key_indicators: pd.DataFrame, benchmarks: pd.DataFrame | None = None,
                            conf: float = 0.95) -> pd.DataFrame:
    """Each survey key indicator that has a reference, beside it, with the difference test.

    key_indicators: the survey's key indicators (kit.indicators.KEY_INDICATOR_COLUMNS; shares
    as fractions, lower/upper their interval at level ``conf``; suppressed values are empty).
    Returns one row per indicator x reference (COMPARISON_COLUMNS); ``verdict`` is "higher" /
    "lower" (difference beyond chance at 1 - conf), "similar", or "not_shown".
    """
    benchmarks = load_benchmarks() if benchmarks is None else benchmarks
    z_crit = float(stats.norm.ppf(0.5 + conf / 2))
    rows = []
    own = key_indicators.set_index("indicator")
    for ref in benchmarks.itertuples(index=False):
        if ref.indicator not in own.index:
            continue
        k = own.loc[ref.indicator]
        p, lo, hi = (float(k[c]) if pd.notna(k[c]) else np.nan for c in ("value", "lower", "upper"))
        p_ref = float(ref.value)
        n_ref = float(ref.n) if pd.notna(ref.n) else np.nan
        row = {"indicator": ref.indicator, "indicator_label": k["label"], "value": p, "lower": lo, "upper": hi,
               "reference": ref.reference, "reference_label": ref.label, "reference_value": p_ref,
               "reference_n": n_ref, "year": int(ref.year), "source": ref.source, "wording": ref.wording,
               "difference": np.nan, "z": np.nan, "p_value": np.nan, "verdict": "not_shown"}
        if not np.isnan(p) and not np.isnan(lo) and not np.isnan(hi):
            # standard error from the half of the interval that faces the reference
            half = (p - lo) if p_ref < p else (hi - p)
            se_own = half / z_crit
            se = float(np.sqrt(se_own ** 2 + (p_ref * (1 - p_ref) / n_ref if n_ref > 0 else 0.0)))
            diff = p - p_ref
            if se > 0:
                z = diff / se
                p_value = float(2 * stats.norm.sf(abs(z)))
            else:
                z, p_value = (np.inf if diff else 0.0), (0.0 if diff else 1.0)
            beyond = abs(z) > z_crit
            row.update(difference=diff, z=z, p_value=p_value,
                       verdict=("higher" if diff > 0 else "lower") if beyond else "similar")
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
