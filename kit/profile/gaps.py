"""Prevention gaps (Lückenmatrix): topics with a problem signal against the
prevention activities located in each district. Pure functions, codes and
counts only; :mod:`kit.profile.view` and :mod:`kit.recommend.view` word them.

The rules (stated in German by the views):

- **Rows**: only topics with a problem signal. Stage 1 takes its signals from
  the flags of PKS and OWi (:func:`kit.profile.indicators.problem_topics_from_indicators`);
  stage 3 adds the survey's problem indicators above their threshold
  (:mod:`kit.recommend.gaps`). A topic without any signal has no row.
- **Columns**: the districts.
- **Activities** count in the district where they are located
  (``district_id``). An activity without a district (for the whole commune)
  fills no district cell: nothing on record says it reaches that district.
  Such activities are listed separately (:func:`commune_wide_activities`).
- **Signal of a cell**: a signal of that district for the topic
  (:data:`SIGNAL_DISTRICT`), or a signal for the whole commune
  (:data:`SIGNAL_COMMUNE`): PKS and OWi exist only for the whole commune, so a
  commune-wide signal applies to every district.
- **Status of a cell**: :data:`ACTIVITY` when at least one activity of the
  topic is located in the district; else :data:`GAP` when the cell has a
  signal; else :data:`NO_SIGNAL`.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from kit.profile.indicators import PREVENTION_TOPICS, natural_key

GAP = "gap"                # signal, but no activity located in the district
ACTIVITY = "activity"      # at least one activity of the topic located in the district
NO_SIGNAL = "no_signal"    # neither signal nor activity
STATUS_CODES: tuple[str, ...] = (GAP, ACTIVITY, NO_SIGNAL)

SIGNAL_DISTRICT = "district"  # the district itself shows the signal
SIGNAL_COMMUNE = "commune"    # only a signal for the whole commune applies

SOURCE_PROFILE = "profile"    # PKS/OWi flags of the area profile
SOURCE_SURVEY = "survey"      # problem indicators of the citizen survey

GAP_COLUMNS = ["topic", "district_id", "signal", "sources", "n_activities", "activity_ids", "status"]
COMMUNE_WIDE_COLUMNS = ["topic", "n_activities", "activity_ids"]


def _text(series: pd.Series) -> pd.Series:
    return series.astype("object").where(series.notna(), "").astype(str).str.strip()


def activities_frame(prevention: pd.DataFrame | None) -> pd.DataFrame:
    """The inventory as activity_id, topic, district_id ("" = whole commune)."""
    if prevention is None or prevention.empty:
        return pd.DataFrame(columns=["activity_id", "topic", "district_id"], dtype="str")
    p = pd.DataFrame({"activity_id": _text(prevention["activity_id"]) if "activity_id" in prevention.columns
                      else pd.Series([str(i + 1) for i in range(len(prevention))], index=prevention.index),
                      "topic": _text(prevention["topic"])})
    p["district_id"] = _text(prevention["district_id"]) if "district_id" in prevention.columns else ""
    return p.reset_index(drop=True)


def signals_frame(signals: pd.DataFrame | None) -> pd.DataFrame:
    """Problem signals as topic, district_id ("" = whole commune), source
    (default :data:`SOURCE_PROFILE` when the table has no ``source`` column)."""
    if signals is None or signals.empty:
        return pd.DataFrame(columns=["topic", "district_id", "source"], dtype="str")
    s = pd.DataFrame({"topic": _text(signals["topic"])})
    s["district_id"] = _text(signals["district_id"]) if "district_id" in signals.columns else ""
    s["source"] = _text(signals["source"]) if "source" in signals.columns else SOURCE_PROFILE
    return s.reset_index(drop=True)


def signal_topics(signals: pd.DataFrame | None) -> list[str]:
    """Topics with at least one signal: schema order, then others alphabetically."""
    found = set(signals_frame(signals)["topic"]) - {""}
    return [t for t in PREVENTION_TOPICS if t in found] + sorted(found - set(PREVENTION_TOPICS))


def gap_table(prevention: pd.DataFrame | None, signals: pd.DataFrame | None,
              districts: Iterable[str] | None = None) -> pd.DataFrame:
    """Long form of the gap matrix, one row per topic with a signal and district
    (:data:`GAP_COLUMNS`; rules in the module docstring).

    ``signals``: problem signals with columns topic, district_id ("" = whole
    commune) and optionally source (the evidence rows of
    :func:`~kit.profile.indicators.problem_topics_from_indicators` qualify).
    ``districts``: the commune's district ids (order and columns; districts
    named only in the inputs are added).

    Columns: signal (:data:`SIGNAL_DISTRICT`, :data:`SIGNAL_COMMUNE` or ""),
    sources (codes of the sources whose signals apply, joined by ";"),
    n_activities (activities of the topic located in the district),
    activity_ids (their ids, joined by ";"), status (:data:`STATUS_CODES`).
    """
    acts = activities_frame(prevention)
    sig = signals_frame(signals)
    names = {str(d) for d in (districts or [])} | set(acts["district_id"]) | set(sig["district_id"])
    names.discard("")
    ordered = sorted(names, key=natural_key)
    rows = []
    for topic in signal_topics(sig):
        s_topic = sig[sig["topic"] == topic]
        commune = s_topic[s_topic["district_id"] == ""]
        a_topic = acts[acts["topic"] == topic]
        for d in ordered:
            own = s_topic[s_topic["district_id"] == d]
            signal = SIGNAL_DISTRICT if len(own) else (SIGNAL_COMMUNE if len(commune) else "")
            sources = sorted(set(own["source"]) | set(commune["source"]))
            located = a_topic[a_topic["district_id"] == d]
            status = ACTIVITY if len(located) else (GAP if signal else NO_SIGNAL)
            rows.append({"topic": topic, "district_id": d, "signal": signal, "sources": ";".join(sources),
                         "n_activities": len(located), "activity_ids": ";".join(located["activity_id"]),
                         "status": status})
    out = pd.DataFrame(rows, columns=GAP_COLUMNS)
    out["n_activities"] = out["n_activities"].astype("int64")
    return out


def gap_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """Topics (index, order of ``table``) x districts: the status codes of :func:`gap_table`."""
    if table.empty:
        return pd.DataFrame(index=pd.Index([], name="topic"), dtype="str")
    topics = list(dict.fromkeys(table["topic"]))
    districts = list(dict.fromkeys(table["district_id"]))
    wide = table.pivot(index="topic", columns="district_id", values="status").reindex(index=topics,
                                                                                    columns=districts)
    wide.columns.name = None
    return wide.astype("str")


def gap_count(table: pd.DataFrame | None) -> int:
    """Number of gap cells (district x topic with a signal and no activity located there)."""
    return 0 if table is None or table.empty else int((table["status"] == GAP).sum())


def commune_wide_activities(prevention: pd.DataFrame | None, topics: Iterable[str]) -> pd.DataFrame:
    """Activities without a district (whole commune) per topic, for the topics
    given (in that order): topic, n_activities, activity_ids (";"-joined).
    Listed beside the matrix; they fill no district cell."""
    acts = activities_frame(prevention)
    wide = acts[acts["district_id"] == ""]
    rows = []
    for topic in topics:
        hit = wide[wide["topic"] == topic]
        rows.append({"topic": topic, "n_activities": len(hit), "activity_ids": ";".join(hit["activity_id"])})
    out = pd.DataFrame(rows, columns=COMMUNE_WIDE_COLUMNS)
    out["n_activities"] = out["n_activities"].astype("int64")
    return out
