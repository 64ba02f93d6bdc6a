"""Stage 3: the action plan. The recommended measures ranked by a stated priority score, each
with lead actor, partners, first steps, time frame and success indicator.

Priority score (0 to 10 points; the components stay columns of the result so the report can
explain every rank):

- ``evidence_points`` (0,5 to 3): strength of the evidence that the measure works, from its
  evidence level (:data:`EVIDENCE_POINTS`: Grüne Liste Prävention level 3 "proven effective"
  3, level 2 2, level 1 1, good practice 0,5).
- ``breadth_points`` (0 to 3): how many of its trigger rules hold (one point each, at most
  :data:`MAX_BREADTH`): a measure several findings point to ranks higher.
- ``size_points`` (0 to 3): size of the problem, the largest relative exceedance among the
  rules that hold: how far the compared value (for rules on the whole interval: the interval
  bound nearer the threshold) lies beyond the threshold, as a share of the threshold
  (``(value - threshold) / |threshold|`` for > and >=, the other way round for < and <=),
  capped at :data:`EXCEEDANCE_CAP` (100 % beyond the threshold gives the full 3 points). An
  early-warning flag (unit ja/nein) counts as :data:`FLAG_EXCEEDANCE`; a rule whose distance
  cannot be measured adds nothing, nor does a rule on a demographic share
  (:data:`DEMOGRAPHIC_PREFIXES`: it describes the commune, not a problem).
- ``build_points`` (0 or 1): at least one prevention activity on record counts for the measure
  (kit.recommend.matching: topic, target group and place), so there is something to build on
  and the measure can start sooner.

Measures the rules trigger on a finding ("specific") come first, ordered by score; measures
recommended generally (triggered without a finding that holds: always, or by commune size)
follow, also by score. Ties keep the catalogue order. ``priority`` is a code: high (score at
least :data:`HIGH_FROM`), medium (at least :data:`MEDIUM_FROM`), low. Written by hand: a
weighted sum of four documented points needs no library.

Numbers and codes only; German text: :mod:`kit.recommend.view_plan`.
"""

from __future__ import annotations

import math
import re

import pandas as pd

EVIDENCE_POINTS: dict = {3: 3.0, 2: 2.0, 1: 1.0, "good practice": 0.5}
MAX_BREADTH = 3
SIZE_WEIGHT = 3.0
EXCEEDANCE_CAP = 1.0
FLAG_EXCEEDANCE = 0.5
BUILD_POINTS = 1.0
HIGH_FROM, MEDIUM_FROM = 5.0, 3.0
KIND_SPECIFIC, KIND_GENERAL = "specific", "general"
PRIORITY_CODES = ("high", "medium", "low")
# demographic shares describe the commune, not a problem: they never give the size points
DEMOGRAPHIC_PREFIXES = ("profile.share_", "profile.population")

PLAN_COLUMNS = ["rank", "measure_id", "title", "kind", "priority", "score", "evidence_points", "breadth_points",
                "size_points", "build_points", "evidence_level", "evidence_source", "n_met", "max_exceedance",
                "exceedance_indicator", "exceedance_label", "exceedance_op", "n_activities", "topic", "target_groups",
                "places",
                "lead", "partners", "first_steps", "time_frame", "duration", "cost_class", "success_indicator",
                "success_indicator_id", "kommpraev", "kommpraev_reason"]
LIST_SEPARATOR = "; "  # lists in the CSV (partners, first steps, target groups, places)


def evidence_level_code(measure: dict):
    """Evidence level of a catalogue measure as a code 3, 2, 1 or "good practice" (catalogue:
    evidence.level in words such as "wirksam (Grüne Liste Stufe 3)"; older: evidence_level)."""
    ev = measure.get("evidence")
    level = ev.get("level") if isinstance(ev, dict) else measure.get("evidence_level")
    return level_code(level)


def level_code(level):
    """3, 2, 1 or "good practice" from a level as the catalogue or a results file writes it."""
    if isinstance(level, float) and level.is_integer():
        return int(level)
    if isinstance(level, str):
        text = level.strip()
        found = re.search(r"Stufe\s*([123])", text)
        if found:
            return int(found.group(1))
        if text.isdigit() or (text.endswith(".0") and text[:-2].isdigit()):
            return int(float(text))
        if "good practice" in text.lower():
            return "good practice"
    return level


def evidence_points(level) -> float:
    return float(EVIDENCE_POINTS.get(level, 0.0))


def relative_exceedance(rule) -> float:
    """How far a rule that holds lies beyond its threshold, relative to the threshold (NaN when
    it cannot be measured); see the module docstring. Rule kinds (kit.recommend.rules): flag ->
    :data:`FLAG_EXCEEDANCE`; batch with median -> distance beyond median + threshold, relative to
    the median (rank: NaN); threshold, reference, group difference -> the compared value (bound)
    against the threshold."""
    kind = str(rule.get("kind") or "threshold")
    if kind == "flag" or str(rule.get("unit") or "") == "ja/nein":
        return FLAG_EXCEEDANCE
    op = str(rule.get("op") or "")
    compared = str(rule.get("compared") or "value")
    try:
        value = float(rule.get(compared if compared in ("value", "lower", "upper") else "value"))
        threshold = float(rule.get("threshold"))
    except (TypeError, ValueError):
        return math.nan
    if math.isnan(value) or math.isnan(threshold):
        return math.nan
    scale = abs(threshold) if threshold != 0 else 1.0
    if kind == "batch":
        try:
            rank, median = float(rule.get("rank")), float(rule.get("reference_value"))
        except (TypeError, ValueError):
            return math.nan
        if not math.isnan(rank) or math.isnan(median):
            return math.nan
        value -= median
        scale = abs(median) if median != 0 else 1.0
    if op in (">", ">="):
        return max(0.0, (value - threshold) / scale)
    if op in ("<", "<="):
        return max(0.0, (threshold - value) / scale)
    return math.nan


def score_components(evidence_level, n_met: int, max_exceedance: float, n_activities: float) -> dict:
    """The four points and their sum for one measure."""
    ev = evidence_points(evidence_level)
    breadth = float(min(max(int(n_met), 0), MAX_BREADTH))
    size = 0.0 if pd.isna(max_exceedance) else SIZE_WEIGHT * min(float(max_exceedance), EXCEEDANCE_CAP) / EXCEEDANCE_CAP
    build = BUILD_POINTS if not pd.isna(n_activities) and n_activities > 0 else 0.0
    return {"evidence_points": ev, "breadth_points": breadth, "size_points": size, "build_points": build,
            "score": ev + breadth + size + build}


def priority_code(score: float) -> str:
    return "high" if score >= HIGH_FROM else "medium" if score >= MEDIUM_FROM else "low"


def rank_plan(items: pd.DataFrame) -> pd.DataFrame:
    """Score and rank measures. ``items``: one row per measure with measure_id, kind,
    evidence_level, n_met, max_exceedance, n_activities and ``order`` (catalogue position, for
    ties). Returns the rows with the points, score, priority and rank (1 = first), sorted."""
    out = items.copy()
    comp = pd.DataFrame([score_components(r["evidence_level"], r["n_met"], r["max_exceedance"], r["n_activities"])
                         for _, r in out.iterrows()], index=out.index,
                        columns=["evidence_points", "breadth_points", "size_points", "build_points", "score"])
    out = pd.concat([out, comp], axis=1)
    out["priority"] = out["score"].map(priority_code)
    out["_general"] = (out["kind"] == KIND_GENERAL).astype(int)
    out = out.sort_values(["_general", "score", "order"], ascending=[True, False, True], kind="stable")
    out["rank"] = range(1, len(out) + 1)
    return out.drop(columns="_general").reset_index(drop=True)


def _join(values) -> str:
    if values is None or (not isinstance(values, (list, tuple)) and pd.isna(values)):
        return ""
    if isinstance(values, str):
        return values
    return LIST_SEPARATOR.join(str(v) for v in values)


def _sub(measure: dict, key: str, sub: str):
    v = measure.get(key)
    return v.get(sub) if isinstance(v, dict) else None


def action_plan(catalogue: list[dict], measures: pd.DataFrame, rules: pd.DataFrame,
                n_activities: pd.Series | None = None) -> pd.DataFrame:
    """The action plan: every triggered measure (``measures.triggered``) with its priority
    components, rank and the catalogue's planning fields (:data:`PLAN_COLUMNS`).
    ``rules``: one row per measure x trigger with met, op, threshold, compared, value, lower,
    upper, unit (kit.recommend.rules); ``n_activities``: counting activities per measure id
    (kit.recommend.matching.counted_activities; None = no inventory, NaN in the plan)."""
    by_id = {m["id"]: (i, m) for i, m in enumerate(catalogue)}
    flag = "recommended" if "recommended" in measures.columns else "triggered"
    chosen = measures[measures[flag].astype("boolean").fillna(False).astype(bool)]
    rows = []
    for _, row in chosen.iterrows():
        mid = row["measure_id"]
        if mid not in by_id:
            continue
        order, m = by_id[mid]
        r = rules[(rules["measure_id"] == mid)]
        met = r[r["met"].astype("boolean").fillna(False).astype(bool)]
        kind = str(row.get("recommendation_kind") or "") or (KIND_SPECIFIC if len(met) else KIND_GENERAL)
        # size of the problem: from findings, not from a demographic share (e.g. residents 65+)
        exceed = [(relative_exceedance(x), x) for _, x in met.iterrows()
                  if not str(x.get("indicator", "")).startswith(DEMOGRAPHIC_PREFIXES)]
        measured = [(e, x) for e, x in exceed if not math.isnan(e)]
        best = max(measured, key=lambda t: t[0]) if measured else (math.nan, None)
        acts = (float(n_activities.get(mid, 0)) if n_activities is not None else math.nan)
        rows.append({
            "measure_id": mid, "title": str(row.get("title") or m.get("title", "")), "order": order,
            "kind": kind,
            "evidence_level": evidence_level_code(m), "evidence_source": _sub(m, "evidence", "source") or "",
            "n_met": len(met), "max_exceedance": best[0],
            "exceedance_indicator": "" if best[1] is None else str(best[1].get("indicator", "")),
            "exceedance_label": "" if best[1] is None else str(best[1].get("label", "") or ""),
            "exceedance_op": "" if best[1] is None else ("flag" if str(best[1].get("unit") or "") == "ja/nein"
                                                         else str(best[1].get("op", "") or "")),
            "n_activities": acts, "topic": m.get("topic", ""),
            "target_groups": _join(m.get("target_groups")), "places": _join(m.get("places")),
            "lead": m.get("lead") or ((m.get("actors") or [""])[0]),
            "partners": _join(m.get("partners") if m.get("lead") else (m.get("actors") or [])[1:]),
            "first_steps": _join(m.get("first_steps")), "time_frame": m.get("time_frame") or "",
            "duration": m.get("duration") or "", "cost_class": m.get("cost_class") or "",
            "success_indicator": _sub(m, "success_indicator", "text") or "",
            "success_indicator_id": _sub(m, "success_indicator", "indicator") or "",
            "kommpraev": bool(_sub(m, "funding", "kommpraev") if isinstance(m.get("funding"), dict)
                              else m.get("kommpraev")),
            "kommpraev_reason": _sub(m, "funding", "reason") or "",
        })
    if not rows:
        return pd.DataFrame(columns=PLAN_COLUMNS)
    ranked = rank_plan(pd.DataFrame(rows))
    ranked["evidence_level"] = ranked["evidence_level"].astype(str)
    return ranked[PLAN_COLUMNS]
