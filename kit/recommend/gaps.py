"""Stage 3: the combined gap matrix. The problem signals of the area profile
(PKS/OWi, results/prevention_signals.csv) plus the survey's problem indicators
above their threshold, against the prevention inventory; the rules of the
matrix are those of :mod:`kit.profile.gaps`. Codes and numbers only
(:mod:`kit.recommend.view` words them).

Survey signals: a key indicator of :data:`SURVEY_PROBLEM_TOPICS` (e.g.
``survey.problem_speeding`` -> "Verkehr") is a signal for its topic when it
meets its threshold, checked exactly like a catalogue rule
(:func:`kit.recommend.rules.evaluate_trigger`). The threshold is the one the
measures catalogue uses for that indicator (op ``>`` or ``>=``; the lowest
when several), else :data:`DEFAULT_SURVEY_TRIGGER`. The same threshold is
applied to each district's estimate from results/survey_estimates.csv (the
district breakdown of the indicator's item and answer codes); districts whose
estimate is suppressed (too few respondents) give no signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit.profile import gaps as gaps_mod
from kit.recommend.rules import evaluate_trigger

# Survey key indicator id (params survey.key_indicators) -> prevention topic (data_schemas/prevention.yaml).
SURVEY_PROBLEM_TOPICS: dict[str, str] = {
    "problem_litter": "Sauberkeit/Ordnung",
    "problem_graffiti": "Sauberkeit/Ordnung",
    "problem_damage": "Sauberkeit/Ordnung",
    "problem_vacant": "Sauberkeit/Ordnung",
    "problem_dog_fouling": "Sauberkeit/Ordnung",
    "problem_speeding": "Verkehr",
    "problem_parking": "Verkehr",
    "problem_alcohol_groups": "Sucht/Alkohol",
    "problem_drugs": "Sucht/Alkohol",
    "low_cohesion": "Nachbarschaft",
}
# Threshold of a survey problem indicator the catalogue does not name: a quarter of the
# residents call it a considerable or big problem, with the whole 95 % interval.
DEFAULT_SURVEY_TRIGGER: dict = {"op": ">=", "threshold": 0.25, "basis": "interval"}

SURVEY_SIGNAL_COLUMNS = ["topic", "district_id", "source", "indicator", "label", "value", "lower", "upper", "unit",
                         "op", "threshold", "basis", "compared", "met"]


@dataclass
class CombinedGaps:
    """``table``: long gap table (:data:`kit.profile.gaps.GAP_COLUMNS`) from both stages'
    signals; ``profile_signals``: the profile's evidence rows (topic + indicator columns);
    ``survey_signals``: every survey problem indicator checked, commune and districts
    (:data:`SURVEY_SIGNAL_COLUMNS`; ``met`` says whether it is a signal), None without
    survey; ``inventory``: the prevention inventory; ``districts``: id -> name."""

    table: pd.DataFrame
    profile_signals: pd.DataFrame
    survey_signals: pd.DataFrame | None
    inventory: pd.DataFrame
    districts: dict[str, str]


def survey_triggers(catalogue: list[dict]) -> dict[str, dict]:
    """"survey.<id>" -> trigger dict (indicator, op, threshold, basis, from_catalogue) for every
    id of :data:`SURVEY_PROBLEM_TOPICS` (see the module docstring)."""
    out = {}
    for sid in SURVEY_PROBLEM_TOPICS:
        indicator = f"survey.{sid}"
        found = [t for m in catalogue for t in m.get("triggers") or []
                 if t.get("indicator") == indicator and t.get("op") in (">", ">=")
                 and (t.get("kind") or "threshold") == "threshold"]  # value vs. threshold rules only
        if found:
            t = min(found, key=lambda t: float(t["threshold"]))
            out[indicator] = {"indicator": indicator, "op": t["op"], "threshold": float(t["threshold"]),
                              "basis": t.get("basis", "estimate"), "from_catalogue": True}
        else:
            out[indicator] = {"indicator": indicator, **DEFAULT_SURVEY_TRIGGER, "from_catalogue": False}
    return out


def _category(codes) -> str:
    """Answer codes as the survey estimates name a combined category ("3+4"; as in kit.survey)."""
    return "+".join(str(int(c)) if float(c).is_integer() else str(c) for c in codes)


def survey_signals(key_indicators: pd.DataFrame, estimates: pd.DataFrame | None, specs: list[dict],
                   triggers: Mapping[str, dict], district_ids: Mapping[str, str],
                   district_var: str | None) -> pd.DataFrame:
    """Every survey problem indicator checked against its threshold, for the whole commune
    (from ``key_indicators``, the survey's key indicators) and for each district (from
    ``estimates``, the disclosure-controlled survey estimates: rows of the indicator's item
    with ``group_var`` = ``district_var`` and the indicator's answer codes as category,
    not suppressed). ``specs``: params survey.key_indicators; ``district_ids``: district
    name -> id (the estimates name districts). Indicators with a subgroup (e.g. women
    only) or an index give the commune value only. Returns :data:`SURVEY_SIGNAL_COLUMNS`
    (district_id "" = whole commune; source :data:`kit.profile.gaps.SOURCE_SURVEY`)."""
    rows = []
    for spec in specs:
        sid = str(spec["id"])
        topic = SURVEY_PROBLEM_TOPICS.get(sid)
        if topic is None:
            continue
        trigger = triggers[f"survey.{sid}"]
        res = evaluate_trigger(trigger, key_indicators)
        if res["evaluable"]:
            rows.append({**res, "label": spec["label"], "topic": topic, "district_id": ""})
        if estimates is None or not district_var or "item" not in spec or spec.get("group"):
            continue
        sel = estimates[(estimates["item"].astype(str) == str(spec["item"]))
                        & (estimates["group_var"].astype(str) == district_var)
                        & (estimates["category"].astype(str) == _category(spec["codes"]))
                        & ~estimates["suppressed"].astype(str).str.lower().isin(["true", "1", "1.0"])
                        & pd.to_numeric(estimates["estimate"], errors="coerce").notna()]
        for _, e in sel.iterrows():
            did = district_ids.get(str(e["group"]))
            if did is None:
                continue
            one = pd.DataFrame([{"indicator": trigger["indicator"], "label": spec["label"], "value": e["estimate"],
                                 "lower": e["lower"], "upper": e["upper"], "unit": "Anteil", "source": ""}])
            rows.append({**evaluate_trigger(trigger, one), "topic": topic, "district_id": did})
    out = pd.DataFrame(rows, columns=SURVEY_SIGNAL_COLUMNS)
    out["source"] = gaps_mod.SOURCE_SURVEY
    out["met"] = out["met"].astype(bool)
    for col in ("value", "lower", "upper", "threshold"):
        out[col] = out[col].astype("float64")
    return out


def combined_gaps(inventory: pd.DataFrame, profile_signals: pd.DataFrame | None,
                  survey: pd.DataFrame | None, districts: Mapping[str, str]) -> CombinedGaps:
    """The gap table from the profile's signals and the survey signals that are met."""
    profile = profile_signals if profile_signals is not None else pd.DataFrame(columns=["topic", "district_id"])
    parts = [gaps_mod.signals_frame(profile)]
    if survey is not None and len(survey):
        parts.append(gaps_mod.signals_frame(survey[survey["met"]]))
    signals = pd.concat(parts, ignore_index=True)
    table = gaps_mod.gap_table(inventory, signals, districts=list(districts))
    return CombinedGaps(table=table, profile_signals=profile, survey_signals=survey, inventory=inventory,
                        districts=dict(districts))


# The combined count as a finding for the catalogue rules (stage 3 only, when the survey has run;
# the profile's own count is profile.prevention_gaps).
GAP_INDICATOR = "survey.prevention_gaps"


def gap_indicator(gaps: CombinedGaps) -> pd.DataFrame:
    """The number of gap cells of the combined matrix as a key-indicator row
    (:data:`GAP_INDICATOR`; kit.indicators.KEY_INDICATOR_COLUMNS)."""
    from kit.indicators import key_indicator_frame

    return key_indicator_frame([{
        "indicator": GAP_INDICATOR,
        "label": "Stadtteile und Themen mit Problemanzeichen aus Gebietsprofil oder Bürgerbefragung ohne "
                 "Präventionsaktivität vor Ort",
        "value": float(gaps_mod.gap_count(gaps.table)), "unit": "Anzahl",
        "source": "Gebietsprofil und Bürgerbefragung"}])


def read_profile_signals(df: pd.DataFrame) -> pd.DataFrame:
    """results/prevention_signals.csv read as text (empty cells "") back to numbers where the
    indicator columns hold numbers (text columns stay text, "" for none)."""
    out = df.copy()
    for col in ("value", "lower", "upper", "count", "base", "expected", "reference"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col].replace("", np.nan), errors="coerce")
    for col in ("year", "base_year"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col].replace("", np.nan), errors="coerce").round().astype("Int64")
    return out
