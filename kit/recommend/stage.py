"""Stage 3, Handlungsempfehlungen: the measures catalogue applied to the key
indicators of stages 1 and 2, with the prevention activities on record."""

from __future__ import annotations

from kit.recommend import rules as rec
from kit.indicators import collect_key_indicators
from kit.results import ResultStore


def compute_recommendations(params: dict, store: ResultStore) -> rec.Recommendations:
    """Every measure of the catalogue with its rule results (see kit.recommend.rules.recommend)."""
    indicators = collect_key_indicators(store)
    catalogue = rec.load_catalogue(params["recommendations"]["catalogue"])
    inventory = store.read_table("prevention_inventory", dtype=str) if store.exists("prevention_inventory") else None
    names = {}
    if store.exists("districts"):
        districts = store.read_table("districts", dtype=str)
        names = dict(zip(districts["district_id"], districts["district_name"]))
    return rec.recommend(catalogue, indicators, inventory, names)


def write_recommendations(result: rec.Recommendations, store: ResultStore) -> None:
    """results/recommendations.csv (one row per measure), recommendation_rules.csv (one row
    per measure x trigger) and recommendation_activities.csv (activities each measure builds on)."""
    store.write_table("recommendations", result.measures)
    store.write_table("recommendation_rules", result.rules)
    store.write_table("recommendation_activities", result.activities)
