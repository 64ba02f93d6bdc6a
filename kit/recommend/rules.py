"""Stage 3: recommendations from transparent, analyst-editable rules.

The catalogue (params/measures.yaml) lists measures with trigger rules over
indicators from stages 1 and 2 (one tidy table `key_indicators`: indicator,
label, value, lower, upper, unit, source). A rule compares either the point
estimate or, with `basis: interval`, the whole 95 % interval with the
threshold, so that a measure is only triggered by a finding that is not
explained by chance. Every triggered measure keeps the evidence that
triggered it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kit.report import fmt_interval, fmt_num, fmt_indicator

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
OP_WORDS = {">": "über", ">=": "mindestens", "<": "unter", "<=": "höchstens"}
EVIDENCE_LEVELS = {1: "Grüne Liste Prävention: Stufe 1 (theoretisch gut begründet)",
                   2: "Grüne Liste Prävention: Stufe 2 (wahrscheinlich wirksam)",
                   3: "Grüne Liste Prävention: Stufe 3 (nachgewiesen wirksam)",
                   "good practice": "Good Practice (Erfahrungswissen, nicht evaluiert)"}
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


def existing_activities(measure: dict, inventory: pd.DataFrame | None, districts: dict[str, str] | None = None) -> str:
    """Prevention activities already under way that a measure builds on (same topic), as German text.

    Matching is by the topics in the measure's ``prevention_topics`` (the inventory's
    topic list); measures without them are not matched. Returns "" when nothing to say."""
    topics = measure.get("prevention_topics") or []
    if inventory is None or not topics:
        return ""
    hits = inventory[inventory["topic"].isin(topics)]
    if hits.empty:
        return f"Im Bestand der Präventionsaktivitäten ist zum Thema {', '.join(topics)} nichts erfasst."
    names = districts or {}
    parts = []
    for _, a in hits.iterrows():
        where = names.get(str(a.get("district_id", "")), "") if pd.notna(a.get("district_id")) else ""
        extra = ", ".join(x for x in (str(a["provider"]) if pd.notna(a.get("provider")) else "", where) if x)
        parts.append(f"{a['title']}" + (f" ({extra})" if extra else ""))
    return "Darauf lässt sich aufbauen: " + "; ".join(parts) + "."


def _fmt_value(row, unit: str) -> str:
    percent = unit == "Anteil"
    text = fmt_indicator(row["value"], unit)
    if pd.notna(row.get("lower")) and pd.notna(row.get("upper")):
        text += f" (95-%-Intervall {fmt_interval(row['lower'], row['upper'], 1, percent=percent)})"
    return text


def _fmt_threshold(value: float, unit: str) -> str:
    if unit == "Anzahl":
        return fmt_num(value, 0)
    return f"{fmt_num(100 * value, 1)} %" if unit == "Anteil" else f"{fmt_num(value, 1)} {unit}".strip()


def evaluate_trigger(trigger: dict, indicators: pd.DataFrame) -> dict:
    """Evaluate one rule. Returns a dict with met (True/False/None when not evaluable) and German evidence."""
    op_name = trigger["op"]
    op = OPS[op_name]
    threshold = float(trigger["threshold"])
    basis = trigger.get("basis", "estimate")
    match = indicators[indicators["indicator"] == trigger["indicator"]]
    if match.empty:
        label = trigger.get("label") or trigger["indicator"]
        return {"indicator": trigger["indicator"], "met": None, "label": label,
                "evidence": f"Nicht prüfbar: Der Befund „{label}“ liegt für diese Kommune nicht vor."}
    if pd.isna(match.iloc[0]["value"]):
        label = match.iloc[0]["label"]
        return {"indicator": trigger["indicator"], "met": None, "label": label,
                "evidence": f"Nicht prüfbar: Der Befund „{label}“ wird wegen zu weniger Fälle nicht ausgewiesen."}
    row = match.iloc[0]
    unit = row.get("unit", "") if isinstance(row.get("unit", ""), str) else ""
    if basis == "interval" and pd.notna(row.get("lower")) and pd.notna(row.get("upper")):
        # The whole interval must lie beyond the threshold: not explainable by chance.
        bound = row["lower"] if op_name in (">", ">=") else row["upper"]
        met = bool(op(bound, threshold))
        rule = f"Schwelle: gesamtes 95-%-Intervall {OP_WORDS[op_name]} {_fmt_threshold(threshold, unit)}"
    else:
        met = bool(op(row["value"], threshold))
        rule = f"Schwelle: {OP_WORDS[op_name]} {_fmt_threshold(threshold, unit)}"
    return {"indicator": trigger["indicator"], "met": met, "label": row["label"],
            "evidence": f"{row['label']}: {_fmt_value(row, unit)}; {rule}."}


def recommend(catalogue: list[dict], indicators: pd.DataFrame, inventory: pd.DataFrame | None = None,
              districts: dict[str, str] | None = None) -> pd.DataFrame:
    """Evaluate every measure. Returns one row per measure with triggered flag and evidence,
    and (with the prevention inventory of stage 1) the activities it can build on."""
    rows = []
    for m in catalogue:
        results = [evaluate_trigger(t, indicators) for t in m["triggers"]]
        known = [r["met"] for r in results if r["met"] is not None]
        if m.get("logic", "any") == "all":
            triggered = bool(known) and len(known) == len(results) and all(known)
        else:
            triggered = any(known)
        rows.append({
            "measure_id": m["id"], "title": m["title"], "description": m["description"].strip(),
            "topic": m["topic"], "actors": ", ".join(m.get("actors", [])),
            "evidence_level": EVIDENCE_LEVELS[m["evidence_level"]],
            "kommpraev": "ja" if m.get("kommpraev") else "nein",
            "triggered": triggered,
            "evaluable": bool(known),
            "evidence": " | ".join(r["evidence"] for r in results if r["met"]) if triggered else "",
            "checked": " | ".join(r["evidence"] for r in results),
            "existing": existing_activities(m, inventory, districts),
        })
    return pd.DataFrame(rows)
