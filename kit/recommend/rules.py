"""Stage 3: recommendations from transparent, analyst-editable rules.

The catalogue (params/measures.yaml) lists measures with trigger rules over
indicators from stages 1 and 2 (one tidy table `key_indicators`: indicator,
label, value, lower, upper, unit, source). A rule compares either the point
estimate or, with `basis: interval`, the whole 95 % interval with the
threshold, so that a measure is only triggered by a finding that is not
explained by chance. Every triggered measure keeps the evidence that
triggered it.

Numbers before words: :func:`rule_results` returns one tidy row per measure x
trigger (indicator, value, interval, op, threshold, basis, met, evaluable,
reason code), :func:`recommend` one row per measure with flags and counts.
The German "Warum?" text is written by :mod:`kit.recommend.view` alone.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# Evidence levels of the catalogue (codes; kit.recommend.view words them).
EVIDENCE_LEVELS: tuple = (1, 2, 3, "good practice")
# Why a rule could not be evaluated (column ``reason`` of the rule results).
REASON_MISSING = "indicator_missing"      # the indicator is not among the key indicators
REASON_SUPPRESSED = "value_suppressed"    # present, but without a value (too few cases)
# Keys of a measure and of a trigger; types and ranges: kit.params.Measure / kit.params.Trigger.
MEASURE_KEYS = {"id", "title", "description", "topic", "actors", "evidence_level", "kommpraev",
                "triggers", "logic", "prevention_topics"}
TRIGGER_KEYS = {"indicator", "op", "threshold", "basis", "label"}


@dataclass
class Trigger:
    indicator: str
    op: str
    threshold: float
    basis: str = "estimate"  # estimate | interval


def load_catalogue(path: str | Path) -> list[dict]:
    """Read and check the measures catalogue (typed model: kit.params.Catalogue, duplicate YAML
    keys refused); German errors name file, line, measure, key, value and what is allowed.

    Returns the measures as dicts with the keys as written in the file."""
    from kit.params import read_catalogue

    return read_catalogue(path)


RULE_COLUMNS = ["measure_id", "trigger", "indicator", "label", "source", "value", "lower", "upper", "unit", "op",
                "threshold", "basis", "compared", "met", "evaluable", "reason"]
MEASURE_COLUMNS = ["measure_id", "title", "description", "topic", "actors", "evidence_level", "kommpraev",
                   "prevention_topics", "logic", "n_triggers", "n_evaluable", "n_met", "evaluable", "triggered",
                   "n_activities"]
ACTIVITY_COLUMNS = ["measure_id", "title", "topic", "provider", "district_id", "district_name"]


@dataclass
class Recommendations:
    """Stage-3 result: ``measures`` (one row per measure, :data:`MEASURE_COLUMNS`),
    ``rules`` (one row per measure x trigger, :data:`RULE_COLUMNS`) and
    ``activities`` (prevention activities on record each measure can build on,
    :data:`ACTIVITY_COLUMNS`)."""

    measures: pd.DataFrame
    rules: pd.DataFrame
    activities: pd.DataFrame


def matching_activities(measure: dict, inventory: pd.DataFrame | None,
                        districts: dict[str, str] | None = None) -> pd.DataFrame | None:
    """Prevention activities already under way that a measure builds on (same topic).

    Matching is by the topics in the measure's ``prevention_topics`` (the
    inventory's topic list); measures without them are not matched. Returns
    None when there is nothing to match (no inventory or no topics), else the
    matching activities (:data:`ACTIVITY_COLUMNS`, possibly no rows)."""
    topics = measure.get("prevention_topics") or []
    if inventory is None or not topics:
        return None
    hits = inventory[inventory["topic"].isin(topics)]
    names = districts or {}

    def text(a, col):
        return str(a[col]) if col in a.index and pd.notna(a[col]) else ""

    rows = [{"measure_id": measure.get("id", ""), "title": text(a, "title"), "topic": text(a, "topic"),
             "provider": text(a, "provider"), "district_id": text(a, "district_id"),
             "district_name": names.get(text(a, "district_id"), "")} for _, a in hits.iterrows()]
    return pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)


def _number(value) -> float:
    try:
        return float(value) if value is not None and not pd.isna(value) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def evaluate_trigger(trigger: dict, indicators: pd.DataFrame) -> dict:
    """Evaluate one rule. Returns a dict with the columns of :data:`RULE_COLUMNS` (without
    measure_id and trigger): met True/False, or None when the rule is not evaluable
    (``reason`` says why: ``indicator_missing`` or ``value_suppressed``).

    basis "estimate" compares the value; basis "interval" compares the bound of the 95 %
    interval nearer the threshold (lower for > and >=, upper for < and <=), so the whole
    interval must lie beyond the threshold; without an interval it falls back to the value
    (``compared`` names what was compared: value, lower or upper)."""
    op_name = trigger["op"]
    op = OPS[op_name]
    threshold = float(trigger["threshold"])
    basis = trigger.get("basis", "estimate")
    out = {"indicator": trigger["indicator"], "label": trigger.get("label") or "", "source": "",
           "value": float("nan"), "lower": float("nan"), "upper": float("nan"), "unit": "", "op": op_name,
           "threshold": threshold, "basis": basis, "compared": "", "met": None, "evaluable": False, "reason": ""}
    match = indicators[indicators["indicator"] == trigger["indicator"]]
    if match.empty:
        out["reason"] = REASON_MISSING
        return out
    row = match.iloc[0]
    unit = row.get("unit", "")
    out.update(label=trigger.get("label") or (str(row["label"]) if pd.notna(row.get("label")) else ""),
               source=str(row["source"]) if pd.notna(row.get("source")) else "",
               value=_number(row.get("value")), lower=_number(row.get("lower")), upper=_number(row.get("upper")),
               unit=unit if isinstance(unit, str) else "")
    if pd.isna(out["value"]):
        out["reason"] = REASON_SUPPRESSED
        return out
    compared = "value"
    if basis == "interval" and not pd.isna(out["lower"]) and not pd.isna(out["upper"]):
        # The whole interval must lie beyond the threshold: not explainable by chance.
        compared = "lower" if op_name in (">", ">=") else "upper"
    out.update(compared=compared, met=bool(op(out[compared], threshold)), evaluable=True)
    return out


def rule_results(catalogue: list[dict], indicators: pd.DataFrame) -> pd.DataFrame:
    """Every trigger of every measure evaluated: one row per measure x trigger
    (:data:`RULE_COLUMNS`; ``trigger`` numbers the triggers of a measure from 1)."""
    rows = []
    for m in catalogue:
        for j, t in enumerate(m["triggers"], 1):
            rows.append({"measure_id": m["id"], "trigger": j, **evaluate_trigger(t, indicators)})
    out = pd.DataFrame(rows, columns=RULE_COLUMNS)
    out["met"] = out["met"].astype("boolean")
    out["evaluable"] = out["evaluable"].astype(bool)
    return out


def combine(logic: str, met: list) -> bool | None:
    """Three-valued combination of trigger results (True, False, None = not evaluable).

    any: True when one evaluable trigger is met; False when every trigger was
    evaluated and none is met; else None (not decidable). all: False when one
    evaluable trigger is not met; True when every trigger was evaluated and
    met; else None. In particular ``all`` with no evaluable trigger is None."""
    known = [bool(x) for x in met if x is not None and not pd.isna(x)]
    unknown = len(met) - len(known)
    if logic == "all":
        if not all(known):
            return False
        return True if unknown == 0 and known else None
    if any(known):
        return True
    return False if unknown == 0 and known else None


def recommend(catalogue: list[dict], indicators: pd.DataFrame, inventory: pd.DataFrame | None = None,
              districts: dict[str, str] | None = None) -> Recommendations:
    """Evaluate every measure. ``measures`` has one row per measure: triggered
    (the rules hold), evaluable (the rules could be decided: see :func:`combine`),
    counts of triggers, evaluable and met triggers, and (with the prevention
    inventory of stage 1) the number of activities it can build on (NaN when
    nothing can be matched). ``rules`` holds every trigger's result and
    ``activities`` the matching activities."""
    rules = rule_results(catalogue, indicators)
    rows, acts = [], []
    for m in catalogue:
        r = rules[rules["measure_id"] == m["id"]]
        met = [None if pd.isna(x) else bool(x) for x in r["met"]]
        logic = m.get("logic", "any")
        outcome = combine(logic, met)
        hits = matching_activities(m, inventory, districts)
        if hits is not None:
            acts.append(hits)
        rows.append({
            "measure_id": m["id"], "title": m["title"], "description": m["description"].strip(),
            "topic": m["topic"], "actors": ", ".join(m.get("actors", [])),
            "evidence_level": m["evidence_level"], "kommpraev": bool(m.get("kommpraev")),
            "prevention_topics": ", ".join(m.get("prevention_topics") or []), "logic": logic,
            "n_triggers": len(r), "n_evaluable": int(r["evaluable"].sum()), "n_met": sum(x is True for x in met),
            "evaluable": outcome is not None, "triggered": outcome is True,
            "n_activities": float(len(hits)) if hits is not None else float("nan"),
        })
    activities = (pd.concat(acts, ignore_index=True) if acts else pd.DataFrame(columns=ACTIVITY_COLUMNS))
    return Recommendations(pd.DataFrame(rows, columns=MEASURE_COLUMNS), rules, activities)
