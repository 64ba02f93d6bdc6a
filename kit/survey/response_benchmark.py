"""The commune's response rate beside the ASSKomm experience (30-45 %).

The reference range is a row of ``reference_data/survey_benchmarks.csv`` (indicator
``survey.response_rate``, columns ``range_low`` and ``range_high``, with its source; its
``value`` is the middle of the range, for the checks that every reference has one).
The rate gets a Wilson interval on the number of persons written to (statsmodels): the
rate of this one mailing is exact, the interval says how far the response propensity
it estimates could lie. Returns numbers and codes only; the survey view phrases them.

``verdict``: ``within`` (the rate lies in the range), ``below`` / ``above`` (the whole
interval lies below / above it), ``overlaps`` (the rate lies outside but its interval
reaches into the range: not clearly different).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from statsmodels.stats.proportion import proportion_confint

from kit.survey.benchmarks import REFERENCE_FILE

INDICATOR = "survey.response_rate"
VERDICTS = ("within", "below", "above", "overlaps")


def load_response_reference(path: str | Path = REFERENCE_FILE) -> dict | None:
    """The shipped reference range of the response rate (None if the file has none)."""
    table = pd.read_csv(path)
    rows = table[table["indicator"] == INDICATOR]
    if rows.empty or "range_low" not in table.columns:
        return None
    r = rows.iloc[0]
    return {"low": float(r["range_low"]), "high": float(r["range_high"]), "label": str(r["label"]),
            "year": int(r["year"]), "source": str(r["source"])}


def response_rate_benchmark(issued, returned, conf: float = 0.95, reference: dict | None = None) -> dict | None:
    """Rate, Wilson interval and verdict against the reference range; None without counts or reference."""
    reference = load_response_reference() if reference is None else reference
    if reference is None or issued is None or returned is None or pd.isna(issued) or pd.isna(returned):
        return None
    issued, returned = int(issued), int(returned)
    if issued <= 0 or not 0 <= returned <= issued:
        return None
    rate = returned / issued
    lower, upper = proportion_confint(returned, issued, alpha=1 - conf, method="wilson")
    lo, hi = reference["low"], reference["high"]
    if lo <= rate <= hi:
        verdict = "within"
    elif upper < lo:
        verdict = "below"
    elif lower > hi:
        verdict = "above"
    else:
        verdict = "overlaps"
    return {"rate": rate, "lower": float(lower), "upper": float(upper), "issued": issued, "confidence": conf,
            "reference_low": lo, "reference_high": hi, "reference_label": reference["label"],
            "reference_year": reference["year"], "source": reference["source"], "verdict": verdict}


__all__ = ["INDICATOR", "VERDICTS", "load_response_reference", "response_rate_benchmark"]
