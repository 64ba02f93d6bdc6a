"""Stage-2 glue for the dark figure and crime vs. feeling of safety (issue 9, items 5 and 6).

:func:`crime_results` is called by :func:`kit.survey.stage.compute_survey` with the private
microdata and the already disclosure-controlled public result; it returns only public tables
(:mod:`kit.survey.dark_figure`, :mod:`kit.survey.crime_fear`). :func:`write_crime` writes them
through the commune's ResultStore:

- ``survey_dark_figure.csv``: per offence type prevalence, reporting rate, PKS cases and the
  ratio (no respondent counts besides the published bases);
- ``survey_crime_fear.csv``: the relation(s) of insecurity and crime rates (rho, interval, p,
  verdict code);
- ``survey_crime_fear_units.csv``: the districts/communes behind each relation;
- ``survey_disorder_groups.csv`` (+ ``_gap.json``): the two impairment batteries and the paired
  difference of their affected shares;
- ``survey_crime_fear_commune.csv``: this commune's row for the batch comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kit.errors import ResultError
from kit.io import file_sha256
from kit.params import setting
from kit.results import ResultStore
from kit.survey.codebook import Codebook
from kit.survey.crime_fear import (COMMUNE_FILE, POINT_COLUMNS, RELATION_COLUMNS, CrimeFearResult,
                                   battery_comparison, commune_row, district_rates, district_relations,
                                   night_by_district, read_district_crime)
from kit.survey.dark_figure import dark_figure


def _optional_table(store: ResultStore, name: str, **kw) -> pd.DataFrame | None:
    try:
        return store.read_table(name, **kw)
    except ResultError:
        return None


def crime_results(params: dict, store: ResultStore, data: pd.DataFrame, weights: pd.Series, codebook: Codebook,
                  public) -> tuple[pd.DataFrame, CrimeFearResult]:
    """(dark-figure table, CrimeFearResult) from the private data and the public result."""
    survey = params["survey"]
    min_units = int(setting(params, "survey", "crime_fear", "min_units"))
    batteries = list(setting(params, "survey", "crime_fear", "batteries"))
    conf = float(public.confidence)
    margins = _optional_table(store, "population_margins", dtype={"district_id": str})
    pop16 = float(pd.to_numeric(margins["population"], errors="coerce").sum()) if margins is not None else np.nan
    profile = _optional_table(store, "profile_indicators", dtype={"subject": str, "district_id": str})
    pks = profile[profile["indicator"] == "pks_cases"] if profile is not None else None
    dark = dark_figure(public.estimates, pks, pop16)

    night = public.night_item
    relations, points = [], []
    if survey.get("district_crime") and night and "district" in public.breakdowns:
        crime = read_district_crime(survey["district_crime"], public.districts)
        public.hashes[str(survey["district_crime"])] = file_sha256(survey["district_crime"])
        pop = store.read_table("population_by_district", dtype={"district_id": str})
        rates = district_rates(crime, pop)
        shares = night_by_district(public.estimates, night, public.breakdowns["district"], public.districts)
        rel, pts = district_relations(rates, shares, public.districts, conf, min_units)
        relations.append(rel)
        points.append(pts)
    # this commune's row for the comparison across the communes of a batch; the relation itself
    # is computed in stage 3, which the runner starts once every commune has finished stage 2
    own = commune_row(store.commune_dir.name, public.name, public.key_indicators, profile)
    table, gap = battery_comparison(data, weights, codebook, batteries, night, public.policy, conf)
    result = CrimeFearResult(relations=(pd.concat(relations, ignore_index=True) if relations
                                        else pd.DataFrame(columns=RELATION_COLUMNS)),
                             points=(pd.concat(points, ignore_index=True) if points
                                     else pd.DataFrame(columns=POINT_COLUMNS)),
                             batteries=table, battery_gap=gap,
                             confidence=conf, min_units=min_units, commune=own)
    return dark, result


def write_crime(public, store: ResultStore) -> None:
    """Write the public tables of :func:`crime_results` (already disclosure-controlled)."""
    if getattr(public, "dark_figure", None) is not None:
        store.write_table("survey_dark_figure", public.dark_figure)
    cf = getattr(public, "crime_fear", None)
    if cf is None:
        return
    store.write_table("survey_crime_fear", cf.relations)
    store.write_table("survey_crime_fear_units", cf.points)
    store.write_table("survey_disorder_groups", cf.batteries)
    if cf.battery_gap:
        store.write_json("survey_disorder_groups_gap", cf.battery_gap)
    if getattr(cf, "commune", None) is not None:
        store.write_table(COMMUNE_FILE, cf.commune)
