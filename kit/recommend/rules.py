"""Stage 3: recommendations from transparent, analyst-editable rules.

The catalogue (params/measures.yaml, model kit.params.Measure) lists measures with trigger
rules over the key indicators of stages 1 and 2 (one tidy table: indicator, label, value,
lower, upper, unit, source). Kinds of rule (``kind``):

- ``threshold``: the value (``basis: estimate``) or the whole 95 % interval (``basis:
  interval``) beyond a threshold, so a finding explained by chance does not trigger;
- ``flag``: an early-warning flag of stage 1 (``profile.pks_rise_<key>``,
  ``profile.owi_rise_<category>``: 1 = noticeable rise);
- ``group_difference``: two groups of the survey (e.g. women vs. men) differ beyond the
  threshold with the (1 - alpha) interval of the difference (normal approximation, standard
  errors recovered from each group's 95 % interval);
- ``batch``: the commune against the other communes of the same output folder (distance to
  their median, or rank); with fewer than ``min_communes`` communes not decidable;
- ``reference``: a crime rate (HZ) against the Saxon reference of stage 1 (the ratio
  indicator ``profile.hz_ratio_<key>``), or a survey indicator against its published comparison
  value (``reference: <id>`` of kit/survey/reference_data/survey_benchmarks.csv, e.g. the ASSKomm
  mean): met when the commune differs from it in the direction of ``op`` beyond chance, by the
  benchmark test of stage 2 (:func:`kit.survey.benchmarks.compare_with_benchmarks`). A rule
  that fires only when a commune is worse than what is typical in Saxony, not on an absolute
  threshold that nearly every commune misses (police advice centre known to about 4 %).

Rules combine with ``logic: any`` or ``all`` in three-valued (Kleene) logic: a rule whose
finding is missing is "not decidable", not "not met". General recommendations (``general:
always`` or ``min_population``) apply without a trigger. Per commune, the params can switch a
measure off (with a reason), add one or reword it (kit.recommend.catalogue).

Numbers before words: :func:`rule_results` returns one tidy row per measure x trigger
(indicator, value, interval, op, threshold, basis, met, evaluable, reason code), :func:`recommend`
one row per measure with flags and counts. The German text is written by
:mod:`kit.recommend.view` alone.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from kit.params import EVIDENCE_LEVELS, TRIGGER_KINDS  # noqa: F401  (re-exported for readers)
from kit.recommend.matching import activities_for_measure, load_vocabulary

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
# Why a rule could not be evaluated (column ``reason`` of the rule results).
REASON_MISSING = "indicator_missing"      # the indicator is not among the key indicators
REASON_SUPPRESSED = "value_suppressed"    # present, but without a value (too few cases)
REASON_VERSUS_MISSING = "versus_missing"  # group difference: the other group's value is missing
REASON_NO_INTERVAL = "interval_missing"   # group difference: an interval is missing
REASON_TOO_FEW_COMMUNES = "too_few_communes"  # batch: fewer communes with this finding than min_communes
REASON_REFERENCE_MISSING = "reference_missing"  # reference: no Saxon (or own) reference for this HZ
# Keys of a measure and of a trigger; types and ranges: kit.params.Measure / kit.params.Trigger.
MEASURE_KEYS = {"id", "title", "description", "topic", "target_groups", "places", "lead", "partners", "evidence",
                "funding", "cost_class", "duration", "first_steps", "time_frame", "success_indicator",
                "prevention_topics", "general", "logic", "triggers"}
TRIGGER_KEYS = {"kind", "indicator", "op", "threshold", "basis", "versus", "alpha", "statistic", "rank",
                "min_communes", "label", "reference"}
CONFIDENCE = 0.95  # level of the intervals in the key-indicator tables (stages 1 and 2)
LIST_SEPARATOR = "; "  # lists (partners, first steps ...) in one CSV cell


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


RULE_COLUMNS = ["measure_id", "trigger", "kind", "indicator", "label", "source", "value", "lower", "upper", "unit",
                "op", "threshold", "basis", "compared", "statistic", "versus", "versus_label", "versus_value", "reference_value",
                "n_communes", "rank", "p_value", "met", "evaluable", "reason"]
MEASURE_COLUMNS = ["measure_id", "title", "description", "topic", "target_groups", "places", "lead", "partners",
                   "evidence_level", "evidence_source", "kommpraev", "kommpraev_reason", "cost_class", "duration",
                   "first_steps", "time_frame", "success_indicator", "success_indicator_id", "prevention_topics",
                   "logic", "general_always", "general_min_population", "n_triggers", "n_evaluable", "n_met",
                   "evaluable", "triggered", "general", "recommended", "recommendation_kind", "switched_off",
                   "switch_off_reason", "origin", "reworded", "n_activities"]
ACTIVITY_COLUMNS = ["measure_id", "title", "topic", "provider", "district_id", "district_name"]
# recommendation_kind codes: specific = triggered by its rules, general = applies without a
# trigger (always, or by commune size), "" = not recommended
KIND_SPECIFIC, KIND_GENERAL = "specific", "general"


@dataclass
class Recommendations:
    """Stage-3 result: ``measures`` (one row per measure, :data:`MEASURE_COLUMNS`),
    ``rules`` (one row per measure x trigger, :data:`RULE_COLUMNS`) and
    ``activities`` (prevention activities on record each measure can build on,
    :data:`ACTIVITY_COLUMNS`) and ``contacts`` (whom to contact per measure, set by
    kit.recommend.stage)."""

    measures: pd.DataFrame
    rules: pd.DataFrame
    activities: pd.DataFrame
    contacts: pd.DataFrame | None = None  # Wegweiser, kit.recommend.contacts.CONTACT_COLUMNS


def _number(value) -> float:
    try:
        return float(value) if value is not None and not pd.isna(value) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _row(indicators: pd.DataFrame, indicator: str) -> pd.Series | None:
    match = indicators[indicators["indicator"] == indicator]
    return None if match.empty else match.iloc[0]


def _bound(out: dict, basis: str, op_name: str) -> str:
    """What is compared: the value, or with ``basis: interval`` the bound of the 95 % interval
    nearer the threshold (lower for > and >=, upper for < and <=), so the whole interval must lie
    beyond it; without an interval the value."""
    if basis == "interval" and not pd.isna(out["lower"]) and not pd.isna(out["upper"]):
        return "lower" if op_name in (">", ">=") else "upper"
    return "value"


def _fill(out: dict, row: pd.Series, trigger: dict) -> None:
    unit = row.get("unit", "")
    out.update(label=trigger.get("label") or _text(row.get("label")), source=_text(row.get("source")),
               value=_number(row.get("value")), lower=_number(row.get("lower")), upper=_number(row.get("upper")),
               unit=unit if isinstance(unit, str) else "")


def _take(out: dict, row: pd.Series | None, trigger: dict) -> bool:
    """Fill ``out`` from the indicator's row; False (``reason`` set) when the finding is missing
    or its value was suppressed, so the rule cannot be decided."""
    if row is None:
        out["reason"] = REASON_MISSING
        return False
    _fill(out, row, trigger)
    if pd.isna(out["value"]):
        out["reason"] = REASON_SUPPRESSED
        return False
    return True


def standard_error(lower: float, upper: float, confidence: float = CONFIDENCE) -> float:
    """Standard error recovered from a (roughly symmetric) interval: width / (2 z)."""
    return (upper - lower) / (2 * stats.norm.ppf(0.5 + confidence / 2))


def group_difference(a: dict, b: dict, threshold: float, op_name: str, alpha: float,
                     confidence: float = CONFIDENCE) -> dict:
    """Difference a - b of two independent group estimates with their intervals: the difference,
    its (1 - alpha) interval, the two-sided p value of 'difference = threshold' and whether the
    whole interval lies beyond the threshold in the direction of ``op_name``."""
    se = float(np.hypot(standard_error(a["lower"], a["upper"], confidence),
                        standard_error(b["lower"], b["upper"], confidence)))
    diff = a["value"] - b["value"]
    z = stats.norm.ppf(1 - alpha / 2)
    lower, upper = diff - z * se, diff + z * se
    p = float(2 * stats.norm.sf(abs(diff - threshold) / se)) if se > 0 else float(diff != threshold)
    bound = lower if op_name in (">", ">=") else upper
    return {"value": diff, "lower": lower, "upper": upper, "p_value": p,
            "met": bool(OPS[op_name](bound, threshold))}


def evaluate_trigger(trigger: dict, indicators: pd.DataFrame, batch: pd.DataFrame | None = None,
                     benchmarks: pd.DataFrame | None = None) -> dict:
    """Evaluate one rule (kinds: see the module docstring). Returns a dict with the columns of
    :data:`RULE_COLUMNS` (without measure_id and trigger): met True/False, or None when the rule
    is not evaluable (``reason`` says why).

    ``batch``: key indicators of the other communes of the batch (columns commune_id,
    indicator, value, ...) for ``kind: batch``; None or empty = no other commune.
    ``benchmarks``: comparison values of survey indicators for ``kind: reference``
    (kit.survey.benchmarks.REFERENCE_COLUMNS; None = the shipped file)."""
    kind = trigger.get("kind") or "threshold"
    op_name = trigger.get("op") or (">=" if kind == "flag" else ">")
    threshold = trigger.get("threshold")
    threshold = float(threshold) if threshold is not None else (1.0 if kind in ("flag", "reference") else 0.0)
    basis = trigger.get("basis") or "estimate"
    out = {"kind": kind, "indicator": trigger["indicator"], "label": trigger.get("label") or "", "source": "",
           "value": float("nan"), "lower": float("nan"), "upper": float("nan"), "unit": "", "op": op_name,
           "threshold": threshold, "basis": basis, "compared": "",
           "statistic": (trigger.get("statistic") or "median") if kind == "batch" else "",
           "versus": trigger.get("versus") or "",
           "versus_label": "", "versus_value": float("nan"), "reference_value": float("nan"),
           "n_communes": float("nan"), "rank": float("nan"), "p_value": float("nan"),
           "met": None, "evaluable": False, "reason": ""}
    indicator = trigger["indicator"]
    if kind == "reference" and indicator.startswith("survey."):
        return _survey_reference(out, trigger, indicators, benchmarks)
    if kind == "reference":  # the HZ against the reference: its ratio indicator from stage 1
        ratio_id = indicator.replace("profile.hz_mean_", "profile.hz_ratio_", 1)
        row = _row(indicators, ratio_id)
        if row is None:
            reason = REASON_REFERENCE_MISSING if _row(indicators, indicator) is not None else REASON_MISSING
            out["reason"] = reason
            return out
        out["indicator"] = ratio_id
    else:
        row = _row(indicators, indicator)
    if not _take(out, row, trigger):
        return out
    op = OPS[op_name]
    if kind == "flag":
        out.update(compared="value", met=bool(out["value"] >= 0.5), evaluable=True)
        return out
    if kind == "group_difference":
        other = _row(indicators, trigger["versus"])
        if other is None or pd.isna(_number(other.get("value"))):
            out["reason"] = REASON_VERSUS_MISSING
            return out
        b = {"value": _number(other.get("value")), "lower": _number(other.get("lower")),
             "upper": _number(other.get("upper"))}
        out.update(versus_label=_text(other.get("label")), versus_value=b["value"])
        if any(pd.isna(x) for x in (out["lower"], out["upper"], b["lower"], b["upper"])):
            out["reason"] = REASON_NO_INTERVAL
            return out
        a = {"value": out["value"], "lower": out["lower"], "upper": out["upper"]}
        res = group_difference(a, b, threshold, op_name, float(trigger.get("alpha") or 0.05))
        # value, lower, upper now describe the difference (a - b) and its interval
        out.update(reference_value=a["value"], value=res["value"], lower=res["lower"], upper=res["upper"],
                   p_value=res["p_value"], compared="lower" if op_name in (">", ">=") else "upper",
                   met=res["met"], evaluable=True)
        return out
    if kind == "batch":
        if out["statistic"] == "rank":  # the threshold of a rank rule is the rank it asks for
            out["threshold"] = float(trigger.get("rank") or 1)
        others = (batch[(batch["indicator"] == indicator)] if batch is not None and len(batch)
                  else pd.DataFrame(columns=["commune_id", "value"]))
        values = pd.to_numeric(others["value"], errors="coerce").dropna()
        n = len(values) + 1
        out["n_communes"] = float(n)
        if n < int(trigger.get("min_communes") or 3):
            out["reason"] = REASON_TOO_FEW_COMMUNES
            return out
        compared = _bound(out, basis, op_name)
        if (trigger.get("statistic") or "median") == "rank":
            higher_first = op_name in (">", ">=")
            better = (values > out["value"]) if higher_first else (values < out["value"])
            rank = int(better.sum()) + 1  # ties share the better rank
            out.update(rank=float(rank), reference_value=float(values.median()), compared="value",
                       met=rank <= int(trigger.get("rank") or 1), evaluable=True)
            return out
        median = float(values.median())
        out.update(reference_value=median, compared=compared,
                   met=bool(op(out[compared] - median, threshold)), evaluable=True)
        return out
    compared = _bound(out, basis, op_name)
    out.update(compared=compared, met=bool(op(out[compared], threshold)), evaluable=True)
    return out


def _survey_reference(out: dict, trigger: dict, indicators: pd.DataFrame, benchmarks: pd.DataFrame | None) -> dict:
    """``kind: reference`` on a survey indicator: the benchmark test of stage 2 against the
    comparison value ``trigger['reference']``; ``threshold`` and ``reference_value`` hold that
    value, ``versus``/``versus_label`` its id and label, ``compared`` the bound of the interval
    that faces it."""
    from kit.survey.benchmarks import compare_with_benchmarks, load_benchmarks

    out["threshold"] = float("nan")  # the comparison value, once found
    row = _row(indicators, trigger["indicator"])
    if not _take(out, row, trigger):
        return out
    refs = load_benchmarks() if benchmarks is None else benchmarks
    refs = refs[(refs["indicator"] == trigger["indicator"]) & (refs["reference"] == trigger.get("reference"))]
    if refs.empty:
        out["reason"] = REASON_REFERENCE_MISSING
        return out
    test = compare_with_benchmarks(pd.DataFrame([row]), refs.iloc[:1], conf=CONFIDENCE).iloc[0]
    lower_side = out["op"] in ("<", "<=")
    out.update(threshold=float(test["reference_value"]), reference_value=float(test["reference_value"]),
               versus=str(test["reference"]), versus_label=f"{test['reference_label']}, {int(test['year'])}")
    if test["verdict"] == "not_shown":
        out["reason"] = REASON_NO_INTERVAL
        return out
    out.update(compared="upper" if lower_side else "lower", p_value=float(test["p_value"]),
               met=bool(test["verdict"] == ("lower" if lower_side else "higher")), evaluable=True)
    return out


def rule_results(catalogue: list[dict], indicators: pd.DataFrame, batch: pd.DataFrame | None = None,
                 benchmarks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every trigger of every measure evaluated: one row per measure x trigger
    (:data:`RULE_COLUMNS`; ``trigger`` numbers the triggers of a measure from 1)."""
    if benchmarks is None and any((t.get("kind") == "reference" and t["indicator"].startswith("survey."))
                                  for m in catalogue for t in m.get("triggers") or []):
        from kit.survey.benchmarks import load_benchmarks

        benchmarks = load_benchmarks()  # read once, not once per rule
    rows = []
    for m in catalogue:
        for j, t in enumerate(m.get("triggers") or [], 1):
            rows.append({"measure_id": m["id"], "trigger": j, **evaluate_trigger(t, indicators, batch, benchmarks)})
    out = pd.DataFrame(rows, columns=RULE_COLUMNS)
    out["met"] = out["met"].astype("boolean")
    out["evaluable"] = out["evaluable"].astype(bool)
    return out


def combine(logic: str, met: list) -> bool | None:
    """Three-valued (Kleene) combination of trigger results (True, False, None = not evaluable).

    any: True when one evaluable trigger is met; False when every trigger was
    evaluated and none is met; else None (not decidable). all: False when one
    evaluable trigger is not met; True when every trigger was evaluated and
    met; else None. A measure without triggers is None for both."""
    known = [bool(x) for x in met if x is not None and not pd.isna(x)]
    unknown = len(met) - len(known)
    if logic == "all":
        if not all(known):
            return False
        return True if unknown == 0 and known else None
    if any(known):
        return True
    return False if unknown == 0 and known else None


def general_applies(measure: dict, indicators: pd.DataFrame) -> bool | None:
    """A general recommendation: True with ``general.always``; with ``general.min_population``
    True/False by the commune's population (profile.population), None when it is missing; False
    for a measure without a general part."""
    general = measure.get("general") or {}
    if general.get("always"):
        return True
    if general.get("min_population") is None:
        return False
    row = _row(indicators, "profile.population")
    value = _number(row.get("value")) if row is not None else float("nan")
    return None if pd.isna(value) else bool(value >= float(general["min_population"]))


def _join(values) -> str:
    return LIST_SEPARATOR.join(str(v) for v in (values or []))


def recommend(catalogue: list[dict], indicators: pd.DataFrame, inventory: pd.DataFrame | None = None,
              districts: dict[str, str] | None = None, batch: pd.DataFrame | None = None,
              switched_off: dict[str, str] | None = None, origin: dict[str, str] | None = None,
              reworded: set[str] | None = None) -> Recommendations:
    """Evaluate every measure. ``measures`` has one row per measure: triggered (the rules
    hold), evaluable (the rules could be decided: see :func:`combine`), general (applies without
    a trigger), recommended (triggered or general, and not switched off), counts of triggers,
    evaluable and met triggers, and (with the prevention inventory of stage 1) the number of
    activities it can build on (NaN without an inventory). ``rules`` holds every trigger's result
    and ``activities`` the activities that count for a measure: topic AND target group AND place
    (and focus) compatible, by :func:`kit.recommend.matching.activities_for_measure`, the same
    rules as the action plan's section on existing offers (a topic alone never counts).

    ``switched_off``: measure id -> reason (commune params); ``origin``: id -> "catalogue" or
    "commune" (added in the commune's params); ``reworded``: ids whose wording the params changed."""
    rules = rule_results(catalogue, indicators, batch)
    switched_off, origin, reworded = switched_off or {}, origin or {}, reworded or set()
    vocab = load_vocabulary() if inventory is not None else None
    rows, acts = [], []
    for m in catalogue:
        r = rules[rules["measure_id"] == m["id"]]
        met = [None if pd.isna(x) else bool(x) for x in r["met"]]
        logic = m.get("logic") or "any"
        outcome = combine(logic, met) if len(met) else False
        general = general_applies(m, indicators)
        # topic + target group + place + focus, the same rules as the section on existing offers
        hits = activities_for_measure(m, inventory, districts, vocab)
        if hits is not None:
            acts.append(hits)
        off = m["id"] in switched_off
        triggered = outcome is True
        kind = KIND_SPECIFIC if triggered else (KIND_GENERAL if general is True else "")
        evidence, funding = m.get("evidence") or {}, m.get("funding") or {}
        success, gen = m.get("success_indicator") or {}, m.get("general") or {}
        rows.append({
            "measure_id": m["id"], "title": m["title"], "description": " ".join(m["description"].split()),
            "topic": m["topic"], "target_groups": _join(m.get("target_groups")), "places": _join(m.get("places")),
            "lead": m.get("lead") or "", "partners": _join(m.get("partners")),
            "evidence_level": evidence.get("level", ""), "evidence_source": evidence.get("source", ""),
            "kommpraev": bool(funding.get("kommpraev")), "kommpraev_reason": funding.get("reason", ""),
            "cost_class": m.get("cost_class") or "", "duration": m.get("duration") or "",
            "first_steps": _join(m.get("first_steps")), "time_frame": m.get("time_frame") or "",
            "success_indicator": success.get("text", ""), "success_indicator_id": success.get("indicator") or "",
            "prevention_topics": ", ".join(m.get("prevention_topics") or []), "logic": logic,
            "general_always": bool(gen.get("always")),
            "general_min_population": float(gen["min_population"]) if gen.get("min_population") else float("nan"),
            "n_triggers": len(r), "n_evaluable": int(r["evaluable"].sum()), "n_met": sum(x is True for x in met),
            "evaluable": (outcome is not None) if len(met) else (general is not None),
            "triggered": triggered, "general": general is True,
            "recommended": bool(kind) and not off, "recommendation_kind": kind if not off else "",
            "switched_off": off, "switch_off_reason": switched_off.get(m["id"], ""),
            "origin": origin.get(m["id"], "catalogue"), "reworded": m["id"] in reworded,
            "n_activities": float(len(hits)) if hits is not None else float("nan"),
        })
    activities = (pd.concat(acts, ignore_index=True) if acts else pd.DataFrame(columns=ACTIVITY_COLUMNS))
    return Recommendations(pd.DataFrame(rows, columns=MEASURE_COLUMNS), rules, activities)
