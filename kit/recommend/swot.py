"""Stage 3: SWOT (Stärken, Schwächen, Chancen, Risiken) from the indicators of both stages.

The rules are data (``params/swot.yaml``, :data:`SWOT_FILE`; its comments explain each kind),
checked by the small typed model :class:`SwotRules` (German errors naming file, line, rule
and key). :func:`derive_swot` applies them to the commune's key indicators, the comparison
across communes and with Saxony (kit.recommend.compare), the survey's benchmark tests
(results/survey_benchmarks.csv) and the action plan (kit.recommend.plan). Every point keeps its
number and what it was compared with; German text: :mod:`kit.recommend.view_plan`.

"Clearly" better or worse: with an interval, the whole 95 % interval lies on one side of the
comparison value; without one, the value does (strictly). Benchmarks use stage 2's own
difference test (verdict higher / lower / similar). Written by hand: a handful of transparent
comparisons does not need a rules library.
"""

from __future__ import annotations

import fnmatch
import math
from pathlib import Path
from typing import Annotated, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kit.errors import ParamsError

SWOT_FILE = Path(__file__).resolve().parents[2] / "params" / "swot.yaml"
CATEGORIES = ("strength", "weakness", "opportunity", "threat")
KINDS = ("threshold", "reference", "benchmark", "batch_median", "flag", "activities", "funding")
SWOT_COLUMNS = ["category", "kind", "indicator", "label", "value", "lower", "upper", "unit", "compared_with",
                "comparison_value", "comparison_label", "comparison_year", "n", "detail", "rule", "source"]
OPS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b, "<=": lambda a, b: a <= b}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Condition(_M):
    op: Literal[">", ">=", "<", "<="]
    threshold: Annotated[float, Field(allow_inf_nan=False)]


class Rule(_M):
    indicator: Annotated[str, Field(pattern=r"^(profile|survey)\.[\w*/.\-äöüÄÖÜß]+$")] | None = None
    kind: Literal[KINDS]
    better: Literal["higher", "lower"] | None = None
    basis: Literal["estimate", "interval"] = "estimate"
    strength: Condition | None = None
    weakness: Condition | None = None
    category: Literal[CATEGORIES] | None = None
    exclude: list[str] = []


class SwotRules(_M):
    rules: Annotated[list[Rule], Field(min_length=1)]


def load_swot_rules(path: str | Path = SWOT_FILE) -> list[dict]:
    """The rules of the SWOT file as dicts; German error naming file, line, rule and key."""
    from kit.yamlio import read_yaml

    doc = read_yaml(path, "SWOT-Regeln")
    try:
        model = SwotRules.model_validate(doc.data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = doc.line_of(loc)
        where = f", Zeile {line}" if line else ""
        rule = f" Regel {loc[1] + 1}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        key = f", Schlüssel '{loc[-1]}'" if loc and isinstance(loc[-1], str) else ""
        raise ParamsError(f"SWOT-Regeln {path}{where}:{rule}{key}: Wert {err.get('input')!r} ist nicht zulässig "
                          f"({err['msg']}). Zulässige Arten: {', '.join(KINDS)}; better: higher oder lower.") from None
    rules = [r.model_dump() for r in model.rules]
    for i, r in enumerate(rules):
        needs_indicator = r["kind"] not in ("activities", "funding")
        if needs_indicator and not r["indicator"]:
            raise ParamsError(f"SWOT-Regeln {path}: Regel {i + 1} (Art {r['kind']}) braucht 'indicator'.")
        if r["kind"] in ("reference", "benchmark", "batch_median") and r["better"] is None:
            raise ParamsError(f"SWOT-Regeln {path}: Regel {i + 1} (Art {r['kind']}) braucht 'better' "
                              "(higher oder lower).")
        if r["kind"] == "threshold" and r["strength"] is None and r["weakness"] is None:
            raise ParamsError(f"SWOT-Regeln {path}: Regel {i + 1} (Art threshold) braucht 'strength' oder "
                              "'weakness' mit op und threshold.")
    return rules


def _num(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.nan
    return v


def side(value: float, lower: float, upper: float, reference: float) -> int:
    """+1 when clearly above ``reference``, -1 when clearly below, 0 otherwise (see module docstring)."""
    if math.isnan(reference) or math.isnan(value):
        return 0
    if not math.isnan(lower) and not math.isnan(upper):
        return 1 if lower > reference else -1 if upper < reference else 0
    return 1 if value > reference else -1 if value < reference else 0


def _matching(rule: dict, indicators: pd.DataFrame) -> pd.DataFrame:
    pattern = rule["indicator"]
    ids = indicators["indicator"].astype(str)
    mask = ids.apply(lambda i: fnmatch.fnmatchcase(i, pattern)
                     and not any(fnmatch.fnmatchcase(i, x) for x in rule.get("exclude") or []))
    return indicators[mask]


def _point(category, rule_no, kind, row, compared_with="", cvalue=math.nan, clabel="", cyear=math.nan,
           n=math.nan, detail="") -> dict:
    return {"category": category, "kind": kind, "indicator": str(row.get("indicator", "")),
            "label": str(row.get("label", "") or ""), "value": _num(row.get("value")),
            "lower": _num(row.get("lower")), "upper": _num(row.get("upper")), "unit": str(row.get("unit", "") or ""),
            "compared_with": compared_with, "comparison_value": cvalue, "comparison_label": clabel,
            "comparison_year": cyear, "n": n, "detail": detail, "rule": rule_no,
            "source": str(row.get("source", "") or "")}  # e.g. "Gebietsprofil (synthetische Werte)"


def _good_bad(rule: dict, s: int) -> str | None:
    """Category for a clear side s (+1 above, -1 below) given which direction is better."""
    if s == 0:
        return None
    good = (s > 0) == (rule["better"] == "higher")
    return rule.get("category") or ("strength" if good else "weakness")


def _benchmark_row(bench: pd.DataFrame, indicator: str):
    rows = bench[bench["indicator"].astype(str) == indicator]
    if rows.empty:
        return None
    saxon = rows[rows["reference_label"].astype(str).str.contains("Sachsen|sächs", case=False, regex=True)]
    return (saxon if len(saxon) else rows).iloc[0]


def derive_swot(rules: list[dict], indicators: pd.DataFrame, comparison: pd.DataFrame | None = None,
                benchmarks: pd.DataFrame | None = None, plan: pd.DataFrame | None = None) -> pd.DataFrame:
    """Apply the SWOT rules. ``indicators``: the commune's key indicators (kit.indicators);
    ``comparison``: kit.recommend.compare.compare_with_batch (batch median, Saxon reference);
    ``benchmarks``: results/survey_benchmarks.csv; ``plan``: kit.recommend.plan.action_plan.
    Returns one row per point (:data:`SWOT_COLUMNS`), at most one per indicator and category,
    and an indicator never both strength and weakness (the first rule wins), in rule order."""
    points = []
    comp = comparison.set_index("indicator") if comparison is not None and len(comparison) else None
    for no, rule in enumerate(rules, 1):
        kind = rule["kind"]
        if kind == "activities":
            if plan is not None and len(plan):
                built = plan[pd.to_numeric(plan["n_activities"], errors="coerce") > 0]
                if len(built):
                    points.append(_point(rule.get("category") or "opportunity", no, kind, {},
                                         n=float(pd.to_numeric(built["n_activities"]).sum()),
                                         detail=",".join(built["measure_id"].astype(str))))
            continue
        if kind == "funding":
            if plan is not None and len(plan):
                funded = plan[plan["kommpraev"].astype("boolean").fillna(False).astype(bool)]
                if len(funded):
                    points.append(_point(rule.get("category") or "opportunity", no, kind, {}, n=float(len(funded)),
                                         detail=",".join(funded["measure_id"].astype(str))))
            continue
        for _, row in _matching(rule, indicators).iterrows():
            value, lower, upper = _num(row["value"]), _num(row.get("lower")), _num(row.get("upper"))
            ind = str(row["indicator"])
            if math.isnan(value):
                continue
            if kind == "flag":
                if value >= 0.5:
                    points.append(_point(rule.get("category") or "threat", no, kind, row))
            elif kind == "threshold":
                interval = rule["basis"] == "interval" and not math.isnan(lower) and not math.isnan(upper)
                for cat in ("strength", "weakness"):
                    cond = rule.get(cat)
                    if not cond:
                        continue
                    op = cond["op"]
                    compared = (lower if op in (">", ">=") else upper) if interval else value
                    if OPS[op](compared, cond["threshold"]):
                        points.append(_point(rule.get("category") or cat, no, kind, row, compared_with=op,
                                             cvalue=float(cond["threshold"]),
                                             clabel="interval" if interval else "value"))
            elif kind in ("reference", "batch_median"):
                if comp is None or ind not in comp.index:
                    continue
                c = comp.loc[ind]
                if kind == "reference":
                    ref, label, year = _num(c["reference_value"]), str(c["reference_label"] or ""), c["reference_year"]
                else:
                    ref, label, year = _num(c["batch_median"]), "", math.nan
                cat = _good_bad(rule, side(value, lower, upper, ref))
                if cat:
                    points.append(_point(cat, no, kind, row, compared_with=kind, cvalue=ref, clabel=label,
                                         cyear=_num(year), n=float(c["n_communes"]) if kind == "batch_median"
                                         else math.nan))
            elif kind == "benchmark":
                if benchmarks is None or benchmarks.empty:
                    continue
                b = _benchmark_row(benchmarks, ind)
                if b is None:
                    continue
                verdict = str(b["verdict"])
                s = 1 if verdict == "higher" else -1 if verdict == "lower" else 0
                cat = _good_bad(rule, s)
                if cat:
                    points.append(_point(cat, no, kind, row, compared_with=kind, cvalue=_num(b["reference_value"]),
                                         clabel=str(b["reference_label"]), cyear=_num(b["year"])))
    out = pd.DataFrame(points, columns=SWOT_COLUMNS)
    key = out["indicator"].where(out["indicator"] != "", out["kind"])
    # one point per indicator and category; and an indicator is either a strength or a weakness
    # (the first rule decides), so a report never lists the same finding on both sides
    side_ = out["category"].map({"strength": "sw", "weakness": "sw"}).fillna(out["category"])
    out = out[~pd.DataFrame({"c": side_, "k": key}).duplicated()]
    return out.reset_index(drop=True)
