"""Planted response-quality cases in the demo response files (kit.survey.quality).

Called by :func:`kit.demo.generate_commune` on the finished response frame of the
current wave. Existing questionnaires are changed (no rows are added, so the survey
sample's return counts stay right), with an own random stream so that every other demo
file stays byte-identical. Every planted case is listed in ``_truth.json`` under
``deliberate_defects`` (kind ``empty``, ``incomplete``, ``breakoff``, ``speeding``,
``straightlining``).

- muldenau (LimeSurvey CSV export): ``startdate`` and ``datestamp`` are added to the
  paradata (completion times log-normal around 18 minutes, so no real respondent is
  faster than 0.3 x the median); 1 empty questionnaire, 2 partial questionnaires (not
  submitted, left on page 10 of 13, kept), 1 break-off (left on page 4, removed),
  2 speeders (4 to 5 minutes) and 2 straight-liners. With the duplicate, fewer than
  five questionnaires are removed, so the report shows "weniger als 5".
- elsterhain (manual entry, no paradata): 2 empty questionnaires, 3 straight-liners.
- elbstadt (SPSS): 7 empty questionnaires (a count the report shows), 6 straight-liners.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PLAN = {
    "muldenau": {"empty": 1, "incomplete": 2, "breakoff": 1, "speeding": 2, "straightlining": 2},
    "elsterhain": {"empty": 2, "straightlining": 3},
    "elbstadt": {"empty": 7, "straightlining": 6},
}
PARTIAL_PAGE, BREAKOFF_PAGE, FINAL_PAGE = 10, 4, 13
MEDIAN_MINUTES = 18.0
STRAIGHT_BATTERIES = ("Q04", "Q21")  # the scale batteries with >= 5 items of the standard codebook


def _blocks(codebook: dict) -> list[str]:
    return list(dict.fromkeys(it["block"] for it in codebook["items"]))


def plant_quality_cases(commune_id: str, responses: pd.DataFrame, codebook: dict, seed: int,
                        offset: int, exclude_ids: set[int]) -> tuple[pd.DataFrame, list[dict]]:
    """The response frame with the planted cases of ``commune_id`` and their descriptions."""
    plan = PLAN.get(commune_id)
    if not plan:
        return responses, []
    rng = np.random.default_rng([seed, offset, 909])
    df = responses.copy()
    items = [it["id"] for it in codebook["items"]]
    df[items] = df[items].astype(object)
    block_of = {it["id"]: it["block"] for it in codebook["items"]}
    blocks = _blocks(codebook)
    text_items = [it["id"] for it in codebook["items"] if it["type"] == "text"]
    paradata = "submitdate" in df.columns
    if paradata:
        submit = pd.to_datetime(df["submitdate"])
        minutes = MEDIAN_MINUTES * np.exp(rng.normal(0.0, 0.3, len(df)))
        start = submit - pd.to_timedelta(np.round(minutes * 60), unit="s")
        pos = list(df.columns).index("startlanguage") + 1 if "startlanguage" in df.columns else 1
        df.insert(pos, "startdate", start.dt.strftime("%Y-%m-%d %H:%M:%S"))
        df.insert(pos + 1, "datestamp", df["submitdate"])

    ids = df["id"].astype(int).to_numpy()
    free = [i for i in range(len(df)) if int(ids[i]) not in exclude_ids]
    order = rng.permutation(free)
    defects: list[dict] = []
    take = iter(order.tolist())

    def blank(pos: int, cols) -> None:
        for c in cols:
            df.iat[pos, df.columns.get_loc(c)] = "" if c in text_items else np.nan

    for _ in range(plan.get("empty", 0)):
        pos = next(take)
        blank(pos, items)
        defects.append({"kind": "empty", "id": int(ids[pos]),
                        "description": "Fragebogen ohne eine einzige Antwort zurückgeschickt"})
    for kind, page in (("incomplete", PARTIAL_PAGE), ("breakoff", BREAKOFF_PAGE)):
        for _ in range(plan.get(kind, 0)):
            pos = next(take)
            blank(pos, [c for c in items if blocks.index(block_of[c]) >= page])
            df.iat[pos, df.columns.get_loc("submitdate")] = ""
            df.iat[pos, df.columns.get_loc("lastpage")] = page
            defects.append({"kind": kind, "id": int(ids[pos]), "lastpage": page,
                            "description": f"online nicht abgeschickt, auf Seite {page} von {FINAL_PAGE} verlassen"})
    for _ in range(plan.get("speeding", 0)):
        pos = next(take)
        secs = int(rng.integers(4 * 60, 5 * 60))
        end = pd.Timestamp(df.iat[pos, df.columns.get_loc("submitdate")])
        df.iat[pos, df.columns.get_loc("startdate")] = (end - pd.Timedelta(seconds=secs)).strftime("%Y-%m-%d %H:%M:%S")
        defects.append({"kind": "speeding", "id": int(ids[pos]), "seconds": secs,
                        "description": "in weniger als 5 Minuten ausgefüllt (Median etwa 18 Minuten)"})
    for _ in range(plan.get("straightlining", 0)):
        pos = next(take)
        code = float(rng.integers(2, 4))  # a middle answer: "ein geringes/ziemliches Problem", "stimme eher (nicht) zu"
        for q in STRAIGHT_BATTERIES:
            for c in items:
                if c.startswith(q + "_"):
                    df.iat[pos, df.columns.get_loc(c)] = code
        defects.append({"kind": "straightlining", "id": int(ids[pos]), "code": int(code),
                        "description": "überall dieselbe Antwort in den Fragebatterien Q04 und Q21"})
    return df, defects
