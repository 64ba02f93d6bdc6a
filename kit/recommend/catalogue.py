"""The measures catalogue for one commune: which indicator ids a rule may name, the
commune's overrides (switch a measure off, add one, reword one), the structural rule that
no measure fires on a demographic share alone, and the key indicators of the other
communes of the batch (for rules of ``kind: batch``).

Computation only (codes, tables, German error messages for bad parameters); the report text
is written by kit.recommend.view.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pandas as pd

from kit.errors import ParamsError
from kit.indicators import (
    DEMOGRAPHIC_INDICATORS,
    OWI_FAMILIES,
    PKS_FAMILIES,
    PROFILE,
    PROFILE_FIXED,
    SURVEY,
)
from kit.params import REPO_ROOT
from kit.results import STAGE_RESULT_NAMES, ResultStore

# The profile's key-indicator ids (fixed names, PKS and OWi families): the contract kit.indicators.
# Stage 3 adds the count of the combined gap matrix (kit.recommend.gaps.GAP_INDICATOR).
SURVEY_EXTRA = ("prevention_gaps",)
# DEMOGRAPHIC_INDICATORS describe the population, not a problem: a rule on them may only narrow a
# measure (logic: all together with a problem indicator), never fire it alone.


def _owi_categories() -> list[str]:
    import yaml

    schema = yaml.safe_load((REPO_ROOT / "data_schemas" / "owi.yaml").read_text(encoding="utf-8"))
    for field in schema.get("fields", []):
        enum = (field.get("constraints") or {}).get("enum")
        if field.get("name") == "category" and enum:
            return [str(x) for x in enum]
    return []


def known_indicator_ids(params: dict) -> set[str]:
    """Every indicator id a rule may name: the profile's (fixed names, PKS keys, OWi
    categories, each with ``gesamt`` for all categories) and the survey's key indicators of
    the params (``survey.key_indicators``)."""
    from kit.profile.stage import PKS_DISPLAY_KEYS

    ids = {PROFILE + name for name in PROFILE_FIXED}
    ids |= {PROFILE + fam + key for fam in PKS_FAMILIES for key in PKS_DISPLAY_KEYS}
    ids |= {PROFILE + fam + cat for fam in OWI_FAMILIES for cat in [*_owi_categories(), "gesamt"]}
    survey = (params.get("survey") or {}).get("key_indicators") or []
    ids |= {SURVEY + k["id"] for k in survey}
    ids |= {SURVEY + name for name in SURVEY_EXTRA}
    return ids


def _near(name: str, known: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75)
    return f" (gemeint vielleicht: {', '.join(close)})" if close else ""


def check_indicators(catalogue: list[dict], params: dict, source: str) -> None:
    """Every indicator a rule names (``indicator``, ``versus``) and every success indicator
    must be known (:func:`known_indicator_ids`); otherwise one ParamsError (German) naming the
    file, measure, trigger and the unknown id."""
    from kit.survey.benchmarks import load_benchmarks

    known = known_indicator_ids(params)
    refs = load_benchmarks()
    problems = []
    for i, m in enumerate(catalogue, 1):
        where = f"{source}, Maßnahme Nr. {i} ({m['id']})"
        for j, t in enumerate(m.get("triggers") or [], 1):
            for key in ("indicator", "versus"):
                name = t.get(key)
                if name and name not in known:
                    problems.append(f"{where}, Auslöser Nr. {j}: {key} „{name}“ ist keine bekannte Kennzahl "
                                    f"der Stufen 1 und 2{_near(name, known)}.")
            if t.get("reference"):  # a survey indicator against its comparison value (kind reference)
                have = sorted(refs.loc[refs["indicator"] == t["indicator"], "reference"].astype(str))
                if t["reference"] not in have:
                    problems.append(f"{where}, Auslöser Nr. {j}: reference „{t['reference']}“ ist kein Vergleichswert "
                                    f"für {t['indicator']} (vorhanden: {', '.join(have) or 'keiner'}).")
        success = (m.get("success_indicator") or {}).get("indicator")
        if success and success not in known:
            problems.append(f"{where}, success_indicator: indicator „{success}“ ist keine bekannte Kennzahl "
                            f"der Stufen 1 und 2{_near(success, known)}.")
    if problems:
        head = [] if len(problems) == 1 else [f"Maßnahmenkatalog fehlerhaft ({len(problems)} Fehler):"]
        raise ParamsError("\n".join(head + problems + [
            "Bekannte Kennzahlen: die Spalte indicator der Kennzahlentabellen key_indicators_profile.csv "
            "und key_indicators_survey.csv (Befragung: survey.key_indicators in den Parametern)."]))


def fires_on_demographics_alone(measure: dict) -> bool:
    """True when the measure could be recommended by demographic rules alone: one demographic
    rule under ``any`` logic, or only demographic rules."""
    triggers = measure.get("triggers") or []
    demo = [t["indicator"] in DEMOGRAPHIC_INDICATORS for t in triggers]
    if not triggers:
        return False
    if all(demo):
        return True
    return (measure.get("logic") or "any") == "any" and any(demo)


def apply_overrides(catalogue: list[dict], rec_params: dict, source: str
                    ) -> tuple[list[dict], dict[str, str], dict[str, str], set[str]]:
    """The commune's overrides (params ``recommendations``): ``add`` (new measures, validated like
    the catalogue's), ``reword`` (title/description of a measure) and ``switch_off`` (id + reason).

    Returns (measures, switched_off id -> reason, origin id -> catalogue|commune, reworded ids).
    An override naming a measure that does not exist, or an added id that already exists, is a
    ParamsError naming the params file, the key and the id."""
    out = [copy.deepcopy(m) for m in catalogue]
    origin = {m["id"]: "catalogue" for m in out}
    problems = []
    for k, m in enumerate(rec_params.get("add") or [], 1):
        m = copy.deepcopy(m)
        if m["id"] in origin:
            problems.append(f"{source}, recommendations.add Nr. {k}: id „{m['id']}“ gibt es schon im Katalog; "
                            "zum Umformulieren recommendations.reword verwenden.")
            continue
        out.append(m)
        origin[m["id"]] = "commune"
    by_id = {m["id"]: m for m in out}
    reworded = set()
    for mid, change in (rec_params.get("reword") or {}).items():
        if mid not in by_id:
            problems.append(f"{source}, recommendations.reword: Maßnahme „{mid}“ gibt es nicht{_near(mid, set(by_id))}.")
            continue
        for key in ("title", "description"):
            if (change or {}).get(key):
                by_id[mid][key] = change[key]
                reworded.add(mid)
    switched = {}
    for k, item in enumerate(rec_params.get("switch_off") or [], 1):
        if item["id"] not in by_id:
            problems.append(f"{source}, recommendations.switch_off Nr. {k}: Maßnahme „{item['id']}“ gibt es "
                            f"nicht{_near(item['id'], set(by_id))}.")
            continue
        switched[item["id"]] = " ".join(str(item["reason"]).split())
    if problems:
        raise ParamsError("\n".join(problems))
    return out, switched, origin, reworded


def batch_indicators(output_dir: str | Path, commune_id: str) -> pd.DataFrame:
    """Key indicators of the OTHER communes with results in the same output folder (columns
    commune_id + the key-indicator columns); empty when there are none."""
    frames = []
    root = Path(output_dir)
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        if folder.name == commune_id or not re.fullmatch(r"[a-z0-9_-]+", folder.name):
            continue
        store = ResultStore(root, folder.name)
        for name in STAGE_RESULT_NAMES:
            if store.exists(f"key_indicators_{name}"):
                frames.append(store.read_table(f"key_indicators_{name}").assign(commune_id=folder.name))
    if not frames:
        return pd.DataFrame(columns=["commune_id", "indicator", "value", "lower", "upper"])
    return pd.concat(frames, ignore_index=True)
