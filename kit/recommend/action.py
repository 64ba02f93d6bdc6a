"""Stage 3 as an action plan: compute and write the plan, SWOT, comparison across communes,
activity matching and actor inventory from the results of stages 1 and 2 and the rule results
(kit.recommend.rules). Called from kit.recommend.stage; numbers and codes only."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from kit.indicators import collect_key_indicators
from kit.params import setting
from kit.recommend import compare, matching
from kit.recommend import plan as plan_mod
from kit.recommend import swot as swot_mod
from kit.results import ResultStore


@dataclass
class ActionPlan:
    """``plan`` (kit.recommend.plan.PLAN_COLUMNS), ``swot`` (kit.recommend.swot.SWOT_COLUMNS),
    ``comparison`` (kit.recommend.compare.COMPARISON_COLUMNS), ``matches`` and ``actors``
    (kit.recommend.matching), ``communes``: id -> name of the communes compared,
    ``commune_id``, ``titles``: measure id -> title, ``has_inventory``."""

    plan: pd.DataFrame
    swot: pd.DataFrame
    comparison: pd.DataFrame
    matches: pd.DataFrame
    actors: pd.DataFrame
    communes: dict[str, str] = field(default_factory=dict)
    commune_id: str = ""
    titles: dict[str, str] = field(default_factory=dict)
    has_inventory: bool = False
    crime_fear: pd.DataFrame | None = None  # crime vs. insecurity across the communes (kit.survey.crime_fear)
    crime_fear_points: pd.DataFrame | None = None
    # confidence, minimum number of communes (set from the params; the default from params/defaults.yaml)
    crime_fear_settings: tuple[float, int] = field(default_factory=lambda: (
        float(setting({}, "survey", "confidence")), int(setting({}, "survey", "crime_fear", "min_units"))))


def compute_action_plan(params: dict, store: ResultStore, result, catalogue: list[dict] | None = None) -> ActionPlan:
    """``result``: kit.recommend.rules.Recommendations of this commune."""
    from kit.recommend.rules import load_catalogue

    if catalogue is None:
        catalogue = load_catalogue(params["recommendations"]["catalogue"])
        try:  # the commune's own measures and rewordings (params recommendations: add, reword)
            from kit.recommend.catalogue import apply_overrides
        except ImportError:  # an older catalogue module without overrides
            apply_overrides = None
        if apply_overrides is not None:
            catalogue = apply_overrides(catalogue, params["recommendations"], str(params.get("params_file", "")))[0]
    commune_id = params["commune_id"]
    m = result.measures
    # the measures of the plan: triggered or general, not switched off (kit.recommend.plan.action_plan),
    # matched with the same rules as the measure table (kit.recommend.rules.recommend)
    flag = "recommended" if "recommended" in m.columns else "triggered"
    triggered = m.loc[m[flag].astype("boolean").fillna(False).astype(bool), "measure_id"].tolist()
    inventory = store.read_table("prevention_inventory", dtype=str) if store.exists("prevention_inventory") else None
    profile = (store.read_table("profile_indicators", dtype={"subject": str, "district_id": str})
               if store.exists("profile_indicators") else None)
    vocab = matching.load_vocabulary()
    matches = matching.match_activities(catalogue, inventory, vocab, triggered)
    counts = matching.counted_activities(matches) if inventory is not None else None
    plan = plan_mod.action_plan(catalogue, m, result.rules, counts)
    comparison = compare.compute_comparison(store, commune_id)
    bench = store.read_table("survey_benchmarks") if store.exists("survey_benchmarks") else None
    swot = swot_mod.derive_swot(swot_mod.load_swot_rules(), collect_key_indicators(store), comparison, bench, plan)
    actors = matching.actor_inventory(catalogue, triggered, profile, inventory, vocab)
    communes = compare.commune_names(store.commune_dir.parent)
    communes.setdefault(commune_id, params.get("name") or commune_id)
    relation, points, settings = _crime_fear_across_communes(params, store)
    return ActionPlan(plan=plan, swot=swot, comparison=comparison, matches=matches, actors=actors,
                      communes=communes, commune_id=commune_id,
                      titles={x["id"]: x.get("title", "") for x in catalogue}, has_inventory=inventory is not None,
                      crime_fear=relation, crime_fear_points=points, crime_fear_settings=settings)


def _crime_fear_across_communes(params: dict, store: ResultStore):
    """Crime rate vs. share unsafe at night across the communes of the output folder, from the row
    each commune's stage 2 published (kit.survey.crime_fear). Stage 3 runs after stage 2 of every
    commune of a batch, so the comparison does not depend on the order the communes ran in."""
    from kit.survey.crime_fear import COMMUNE_FILE, commune_relation, read_batch

    conf = float(setting(params, "survey", "confidence"))
    min_units = int(setting(params, "survey", "crime_fear", "min_units"))
    if not store.exists(COMMUNE_FILE):
        return None, None, (conf, min_units)
    own = store.read_table(COMMUNE_FILE, dtype={"commune_id": str})
    relation, points = commune_relation(read_batch(store.commune_dir.parent, own), conf, min_units)
    return relation, points, (conf, min_units)


def write_action_plan(action: ActionPlan, store: ResultStore) -> None:
    """results/recommendation_plan.csv, recommendation_swot.csv, recommendation_comparison.csv,
    recommendation_activity_matching.csv and recommendation_actors.csv."""
    store.write_table("recommendation_plan", action.plan)
    store.write_table("recommendation_swot", action.swot)
    store.write_table("recommendation_comparison", action.comparison)
    store.write_table("recommendation_activity_matching", action.matches)
    store.write_table("recommendation_actors", action.actors)
    if action.crime_fear is not None:
        store.write_table("recommendation_crime_fear", action.crime_fear)
