"""Stage 3: which prevention activities on record a recommended measure can build on, and
which actors the measures need that the commune has (or lacks).

Matching by topic alone paired "Programme für Frauen" with "Deeskalationstraining für
Busfahrer" and "Nachbarschaft" with "Vortrag Enkeltrick". Here an activity of the prevention
inventory (stage 1, ``results/prevention_inventory.csv``, schema data_schemas/prevention.yaml)
counts for a measure only when topic AND target group AND place are compatible, and, where both
titles name one, the focus too. The rules and their word lists live in a data file
(``params/inventory_matching.yaml``, :data:`VOCABULARY_FILE`), because the inventory's target
group is free text and the inventory has no place field: its words map the inventory's
vocabulary to the catalogue's (target_groups, places of a measure). Written by hand because no
library matches two controlled vocabularies by rules an analyst can read and edit.

Numbers and codes only: :func:`match_activities` returns one row per measure x activity of a
shared topic with a flag per criterion and whether it counts; :func:`actor_inventory` one row
per actor the catalogue names that stage 1 can confirm (present True/False/None, count).
German text: :mod:`kit.recommend.view_plan`.

Everything here is read from published results of stage 1 (no survey data): writing it under
output/ reveals nothing the earlier results do not already show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kit.errors import ParamsError

VOCABULARY_FILE = Path(__file__).resolve().parents[2] / "params" / "inventory_matching.yaml"
ALL_GROUPS = "alle"
# the place an activity in one district has when its title names none
LOCAL_PLACE = "Wohngebiet"

MATCH_COLUMNS = ["measure_id", "activity_id", "title", "topic", "target_group", "district_id", "provider",
                 "since_year", "topic_ok", "group_ok", "place_ok", "focus_ok", "counts", "reason"]
# why a candidate with the right topic does not count (column ``reason``; "" when it counts)
REASON_NO_FIELDS = "measure_without_target_groups"
REASON_GROUP = "target_group"
REASON_PLACE = "place"
REASON_FOCUS = "focus"

ACTOR_COLUMNS = ["actor", "source", "present", "count", "detail", "needed_by", "n_needed"]


@dataclass
class Vocabulary:
    target_groups: dict[str, list[str]]
    places: dict[str, list[str]]
    focus: dict[str, list[str]]
    commune_wide_places: list[str] = field(default_factory=list)
    actors: dict[str, dict] = field(default_factory=dict)


def load_vocabulary(path: str | Path = VOCABULARY_FILE) -> Vocabulary:
    """The word lists of the matching rules (see the data file's comments); German error on a bad file."""
    from kit.yamlio import read_yaml

    doc = read_yaml(path, "Zuordnungsregeln der Präventionsaktivitäten")
    data = doc.data

    def words(key: str) -> dict[str, list[str]]:
        raw = data.get(key) or {}
        if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
            line = doc.line_of((key,))
            raise ParamsError(f"Zuordnungsregeln {path}{f', Zeile {line}' if line else ''}: '{key}' muss je Name "
                              "eine Liste von Wörtern haben, z. B. Jugendliche: [Jugend, Schüler].")
        return {str(k): [str(w) for w in v] for k, v in raw.items()}

    actors = data.get("actors") or {}
    for name, spec in actors.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("words"), list) or not spec.get("source"):
            line = doc.line_of(("actors", name))
            raise ParamsError(f"Zuordnungsregeln {path}{f', Zeile {line}' if line else ''}: Akteur '{name}' braucht "
                              "words (Liste) und source (council, clubs, bos:<Art> oder education:<Bereich>).")
    return Vocabulary(target_groups=words("target_groups"), places=words("places"), focus=words("focus"),
                      commune_wide_places=[str(p) for p in data.get("commune_wide_places") or []],
                      actors={str(k): v for k, v in actors.items()})


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _found(text: str, mapping: dict[str, list[str]]) -> set[str]:
    low = text.lower()
    return {name for name, ws in mapping.items() if any(w.lower() in low for w in ws)}


def activity_groups(target_group: str, vocab: Vocabulary) -> set[str]:
    """Catalogue target groups an inventory target group (free text) stands for (may be empty)."""
    return _found(target_group, vocab.target_groups)


def activity_places(activity, vocab: Vocabulary) -> set[str] | None:
    """Place kinds of an activity: None = commune-wide (no district); else the kinds its title or
    target group names, or :data:`LOCAL_PLACE` when it names none."""
    if not _text(activity.get("district_id")).strip():
        return None
    found = _found(f"{_text(activity.get('title'))} {_text(activity.get('target_group'))}", vocab.places)
    return found or {LOCAL_PLACE}


def measure_topics(measure: dict) -> list[str]:
    return list(measure.get("prevention_topics") or ([measure["topic"]] if measure.get("topic") else []))


def check_pair(measure: dict, activity, vocab: Vocabulary) -> dict:
    """The four criteria for one measure x activity (see the module docstring and the data
    file): flags and the first criterion that fails (``reason``; "" when the activity counts).
    A measure without target groups (an older catalogue) never counts: topic alone is not
    enough; a measure without places (``places: []``) is not tied to a place."""
    topic_ok = _text(activity.get("topic")) in measure_topics(measure)
    m_groups = {str(g) for g in measure.get("target_groups") or []}
    m_places = {str(p) for p in measure.get("places") or []}
    if not m_groups:
        return {"topic_ok": topic_ok, "group_ok": False, "place_ok": False, "focus_ok": False, "counts": False,
                "reason": REASON_NO_FIELDS}
    a_groups = activity_groups(_text(activity.get("target_group")), vocab)
    group_ok = ALL_GROUPS in m_groups or ALL_GROUPS in a_groups or bool(m_groups & a_groups)
    a_places = activity_places(activity, vocab)
    wide = {p.lower() for p in vocab.commune_wide_places}
    place_ok = (a_places is None or not m_places or any(p.lower() in wide for p in m_places)
                or bool(m_places & a_places))
    m_focus = _found(_text(measure.get("title")), vocab.focus)
    a_focus = _found(_text(activity.get("title")), vocab.focus)
    focus_ok = not m_focus or not a_focus or bool(m_focus & a_focus)
    reason = ("" if group_ok and place_ok and focus_ok else
              REASON_GROUP if not group_ok else REASON_PLACE if not place_ok else REASON_FOCUS)
    return {"topic_ok": topic_ok, "group_ok": group_ok, "place_ok": place_ok, "focus_ok": focus_ok,
            "counts": topic_ok and not reason, "reason": reason if topic_ok else "topic"}


def match_activities(catalogue: list[dict], inventory: pd.DataFrame | None,
                     vocab: Vocabulary | None = None, measure_ids=None) -> pd.DataFrame:
    """Every activity that shares a topic with a measure (of ``measure_ids``, default all), with
    the criteria and whether it counts (:data:`MATCH_COLUMNS`). Activities of another topic are
    not listed (they never count)."""
    if inventory is None or inventory.empty:
        return pd.DataFrame(columns=MATCH_COLUMNS)
    vocab = vocab or load_vocabulary()
    wanted = None if measure_ids is None else set(measure_ids)
    rows = []
    for m in catalogue:
        if wanted is not None and m["id"] not in wanted:
            continue
        topics = measure_topics(m)
        for _, a in inventory[inventory["topic"].astype(str).isin(topics)].iterrows():
            rows.append({"measure_id": m["id"], **{c: _text(a.get(c)) for c in
                                                   ("activity_id", "title", "topic", "target_group", "district_id",
                                                    "provider", "since_year")},
                         **check_pair(m, a, vocab)})
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def activities_for_measure(measure: dict, inventory: pd.DataFrame | None, districts: dict[str, str] | None = None,
                           vocab: Vocabulary | None = None) -> pd.DataFrame | None:
    """Drop-in for kit.recommend.rules.matching_activities with these rules: the activities that
    count for one measure (columns measure_id, title, topic, provider, district_id,
    district_name); None without an inventory."""
    if inventory is None:
        return None
    m = match_activities([measure], inventory, vocab)
    m = m[m["counts"].astype(bool)] if len(m) else m
    names = districts or {}
    out = pd.DataFrame({"measure_id": m["measure_id"], "title": m["title"], "topic": m["topic"],
                        "provider": m["provider"], "district_id": m["district_id"],
                        "district_name": [names.get(d, "") for d in m["district_id"]]})
    return out.reset_index(drop=True)


def counted_activities(matches: pd.DataFrame) -> pd.Series:
    """Number of counting activities per measure id."""
    if matches.empty:
        return pd.Series(dtype=float)
    return matches[matches["counts"].astype(bool)].groupby("measure_id").size()


# ---------------------------------------------------------------------------
# actors and resources
# ---------------------------------------------------------------------------

def measure_actors(measure: dict) -> list[str]:
    """Lead and partners of a measure (catalogue fields lead/partners, older catalogues: actors)."""
    out = [measure["lead"]] if measure.get("lead") else []
    out += list(measure.get("partners") or [])
    out += [a for a in measure.get("actors") or [] if a not in out]
    return [str(a) for a in out]


def _latest_commune_rows(indicators: pd.DataFrame, name: str) -> pd.DataFrame:
    rows = indicators[(indicators["indicator"] == name)
                      & (indicators["district_id"].fillna("").astype(str) == "")]
    if rows.empty:
        return rows
    years = pd.to_numeric(rows["year"], errors="coerce")
    return rows[years == years.max()]


def actor_inventory(catalogue: list[dict], measure_ids, profile_indicators: pd.DataFrame | None,
                    inventory: pd.DataFrame | None, vocab: Vocabulary | None = None) -> pd.DataFrame:
    """For every actor of the vocabulary: whether stage 1 shows it (present True/False; None when
    stage 1 has no data on it), how many (units, positions, clubs or activities), the detail
    (e.g. the BOS types found) and which of the measures ``measure_ids`` name it as lead or
    partner (``needed_by`` as ids joined with ","; ``n_needed``). :data:`ACTOR_COLUMNS`."""
    vocab = vocab or load_vocabulary()
    wanted = set(measure_ids)
    ind = profile_indicators if profile_indicators is not None else pd.DataFrame(
        columns=["indicator", "district_id", "year", "subject", "count", "value"])
    rows = []
    for actor, spec in vocab.actors.items():
        words = [w.lower() for w in spec["words"]]
        needed = [m["id"] for m in catalogue if m["id"] in wanted
                  and any(w in a.lower() for a in measure_actors(m) for w in words)]
        source = str(spec["source"])
        present, count, detail = None, float("nan"), ""
        if source == "council":
            if inventory is not None and not inventory.empty:
                text = (inventory["title"].fillna("").astype(str) + " " + inventory["provider"].fillna("").astype(str))
                hits = inventory[text.str.lower().apply(lambda t, ws=tuple(words): any(w in t for w in ws))]
                present, count = len(hits) > 0, float(len(hits))
                detail = "; ".join(hits["title"].astype(str))
        elif source.startswith(("bos:", "education:")):
            kind, _, subjects = source.partition(":")
            name = "bos_units" if kind == "bos" else "education_fte_per_10000"
            rows_ = _latest_commune_rows(ind, name)
            if len(rows_):
                sel = rows_[rows_["subject"].fillna("").astype(str).isin(subjects.split("|"))]
                col = "value" if kind == "bos" else "count"
                count = float(pd.to_numeric(sel[col], errors="coerce").sum()) if len(sel) else 0.0
                present = count > 0
                detail = ", ".join(sel.loc[pd.to_numeric(sel[col], errors="coerce") > 0, "subject"].astype(str))
        elif source == "clubs":
            rows_ = _latest_commune_rows(ind, "clubs_per_1000")
            total = rows_[rows_["subject"].fillna("").astype(str) == ""]
            if len(total):
                count = float(pd.to_numeric(total["count"], errors="coerce").iloc[0])
                present = count > 0
        rows.append({"actor": actor, "source": source, "present": present, "count": count, "detail": detail,
                     "needed_by": ",".join(needed), "n_needed": len(needed)})
    out = pd.DataFrame(rows, columns=ACTOR_COLUMNS)
    out["present"] = out["present"].astype("boolean")
    return out
