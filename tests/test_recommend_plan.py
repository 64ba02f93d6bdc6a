"""Stage 3 as an action plan (issue 10, items 3-6, 8): priority score and ranking, SWOT rules,
comparison across communes, matching of existing activities by topic AND target group AND
place, and the German report text of these sections."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.errors import ParamsError
from kit.recommend import compare, matching, plan, swot, view_plan
from kit.recommend.action import ActionPlan
from kit.results import ResultStore

# ---------------------------------------------------------------------------
# constructed catalogue (schema of params/measures.yaml)
# ---------------------------------------------------------------------------

def measure(mid, *, topic="Sauberkeit/Ordnung", prevention_topics=None, groups=("alle",), places=("Wohngebiet",),
            level="Good Practice (nicht evaluiert)", title=None, lead="Ordnungsamt", partners=("Bauhof",),
            kommpraev=True):
    return {"id": mid, "title": title or f"Maßnahme {mid}", "description": "Beschreibung.", "topic": topic,
            "target_groups": list(groups), "places": list(places), "lead": lead, "partners": list(partners),
            "evidence": {"level": level, "source": "Quelle"}, "funding": {"kommpraev": kommpraev, "reason": "Grund"},
            "cost_class": "gering", "duration": "6–12 Monate", "first_steps": ["Schritt eins", "Schritt zwei"],
            "time_frame": "kurzfristig", "success_indicator": {"text": "Weniger Befragte nennen Müll",
                                                               "indicator": "survey.problem_litter"},
            "prevention_topics": list(prevention_topics or [topic]), "general": {"always": False},
            "logic": "any", "triggers": [{"indicator": "survey.problem_litter", "op": ">=", "threshold": 0.25}]}


def rule_row(mid, j, *, value, op=">=", threshold=0.25, lower=np.nan, upper=np.nan, compared="value", met=True,
             kind="threshold", unit="Anteil", indicator="survey.problem_litter", label="Müll ist ein Problem"):
    return {"measure_id": mid, "trigger": j, "kind": kind, "indicator": indicator, "label": label, "value": value,
            "lower": lower, "upper": upper, "unit": unit, "op": op, "threshold": threshold, "compared": compared,
            "rank": np.nan, "reference_value": np.nan, "met": met, "evaluable": True}


def measures_frame(ids, kinds=None, titles=None):
    kinds, titles = kinds or {}, titles or {}
    return pd.DataFrame({"measure_id": ids, "title": [titles.get(i, f"Maßnahme {i}") for i in ids], "triggered": True,
                         "recommended": True, "recommendation_kind": [kinds.get(i, "specific") for i in ids]})


# ---------------------------------------------------------------------------
# priority score
# ---------------------------------------------------------------------------

def test_relative_exceedance_by_hand():
    # > : (value - threshold) / threshold on the compared bound (lower for interval rules)
    r = rule_row("a", 1, value=0.40, lower=0.35, upper=0.45, compared="lower", threshold=0.25)
    assert plan.relative_exceedance(r) == pytest.approx((0.35 - 0.25) / 0.25)
    # < : (threshold - value) / threshold on the upper bound
    r = rule_row("a", 1, value=0.03, lower=0.02, upper=0.05, compared="upper", op="<", threshold=0.10)
    assert plan.relative_exceedance(r) == pytest.approx((0.10 - 0.05) / 0.10)
    # an early-warning flag counts as the documented constant
    assert plan.relative_exceedance(rule_row("a", 1, value=1.0, kind="flag", unit="ja/nein")) == plan.FLAG_EXCEEDANCE
    # batch with median: distance beyond median + threshold, relative to the median
    r = {**rule_row("a", 1, value=0.30, kind="batch", op=">", threshold=0.05), "reference_value": 0.20}
    assert plan.relative_exceedance(r) == pytest.approx((0.30 - 0.20 - 0.05) / 0.20)


def test_demographic_share_gives_no_size_points():
    cat = [measure("a")]
    rules = pd.DataFrame([rule_row("a", 1, value=0.60, threshold=0.25, indicator="profile.share_65plus"),
                          rule_row("a", 2, value=0.30, threshold=0.25, indicator="survey.low_cohesion")])
    out = plan.action_plan(cat, measures_frame(["a"]), rules).iloc[0]
    assert out["exceedance_indicator"] == "survey.low_cohesion"
    assert out["size_points"] == pytest.approx(3 * 0.05 / 0.25)
    assert out["breadth_points"] == 2  # both rules hold; only the size ignores the share


def test_evidence_level_codes_from_catalogue_words():
    assert plan.level_code("wirksam (Grüne Liste Stufe 3)") == 3
    assert plan.level_code("wahrscheinlich wirksam (Grüne Liste Stufe 2)") == 2
    assert plan.level_code("Wirksamkeit theoretisch gut begründet (Grüne Liste Stufe 1)") == 1
    assert plan.level_code("Good Practice (nicht evaluiert)") == "good practice"
    assert plan.level_code("3.0") == 3


def test_action_plan_components_and_order():
    cat = [measure("a", level="Good Practice (nicht evaluiert)"), measure("b", level="wirksam (Grüne Liste Stufe 3)"),
           measure("c", level="wirksam (Grüne Liste Stufe 3)")]
    rules = pd.DataFrame([
        rule_row("a", 1, value=0.50), rule_row("a", 2, value=0.30, indicator="survey.problem_graffiti"),
        rule_row("b", 1, value=0.30),
        rule_row("c", 1, value=0.10, met=False)])  # c: general recommendation, no rule holds
    acts = pd.Series({"b": 2})
    out = plan.action_plan(cat, measures_frame(["a", "b", "c"], {"c": "general"}), rules, acts)
    a, b, c = (out.set_index("measure_id").loc[i] for i in "abc")
    assert a["evidence_points"] == 0.5 and a["breadth_points"] == 2
    assert a["size_points"] == pytest.approx(3 * min((0.5 - 0.25) / 0.25, 1.0))
    assert a["build_points"] == 0 and b["build_points"] == 1
    assert b["size_points"] == pytest.approx(3 * 0.05 / 0.25)
    assert b["score"] == pytest.approx(3 + 1 + 0.6 + 1)
    assert a["score"] == pytest.approx(0.5 + 2 + 3)
    # specific measures first by score, the general one last although its evidence is strong
    assert list(out["measure_id"]) == ["b", "a", "c"]  # 5,6 before 5,5 points
    assert list(out["rank"]) == [1, 2, 3]
    assert c["kind"] == "general" and c["n_met"] == 0 and c["size_points"] == 0
    assert a["priority"] == "high" and b["priority"] == "high"
    assert a["lead"] == "Ordnungsamt" and a["first_steps"] == "Schritt eins; Schritt zwei"


LEVELS = [3, 2, 1, "good practice"]


@st.composite
def plan_items(draw):
    n = draw(st.integers(2, 8))
    return pd.DataFrame({
        "measure_id": [f"m{i}" for i in range(n)],
        "kind": draw(st.lists(st.sampled_from(["specific", "general"]), min_size=n, max_size=n)),
        "evidence_level": draw(st.lists(st.sampled_from(LEVELS), min_size=n, max_size=n)),
        "n_met": draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)),
        "max_exceedance": draw(st.lists(st.floats(0, 3, allow_nan=False), min_size=n, max_size=n)),
        "n_activities": draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
        "order": list(range(n)),
    }).astype({"evidence_level": object})


def _rank(items, mid):
    out = plan.rank_plan(items)
    return int(out.loc[out["measure_id"] == mid, "rank"].iloc[0])


@settings(max_examples=60, deadline=None)
@given(plan_items(), st.data())
def test_stronger_evidence_never_lowers_the_rank(items, data):
    i = data.draw(st.integers(0, len(items) - 1))
    mid = items.loc[i, "measure_id"]
    before = _rank(items, mid)
    current = LEVELS.index(items.loc[i, "evidence_level"])
    stronger = items.copy()
    stronger.loc[i, "evidence_level"] = LEVELS[data.draw(st.integers(0, current))]  # same or stronger
    assert _rank(stronger, mid) <= before


@settings(max_examples=60, deadline=None)
@given(plan_items(), st.data())
def test_larger_exceedance_never_lowers_the_rank(items, data):
    i = data.draw(st.integers(0, len(items) - 1))
    mid = items.loc[i, "measure_id"]
    before = _rank(items, mid)
    larger = items.copy()
    larger.loc[i, "max_exceedance"] = items.loc[i, "max_exceedance"] + data.draw(st.floats(0, 2, allow_nan=False))
    assert _rank(larger, mid) <= before


# ---------------------------------------------------------------------------
# SWOT
# ---------------------------------------------------------------------------

def indicators(rows):
    return pd.DataFrame(rows, columns=["indicator", "label", "value", "lower", "upper", "unit", "source"])


def test_swot_each_rule_kind():
    ind = indicators([
        ["survey.like_living", "lebt gern hier", 0.95, 0.92, 0.97, "Anteil", ""],
        ["survey.problem_litter", "Müll", 0.40, 0.35, 0.45, "Anteil", ""],
        ["survey.problem_drugs", "Drogen", 0.05, 0.03, 0.07, "Anteil", ""],
        ["survey.unsafe_night", "nachts unsicher", 0.30, 0.27, 0.33, "Anteil", ""],
        ["profile.hz_ratio_892000", "Gewalt zu Sachsen", 1.4, 1.2, 1.6, "× Referenz", ""],
        ["profile.hz_ratio_515001", "Schwarzfahren zu Sachsen", 1.9, 1.7, 2.1, "× Referenz", ""],
        ["profile.pks_rise_892000", "Anstieg Gewalt", 1.0, np.nan, np.nan, "ja/nein", ""],
        ["profile.pks_rise_000000", "Anstieg insgesamt", 0.0, np.nan, np.nan, "ja/nein", ""],
    ])
    comp = pd.DataFrame({"indicator": ["survey.problem_drugs", "profile.hz_ratio_892000", "profile.hz_ratio_515001"],
                         "batch_median": [0.20, np.nan, np.nan], "n_communes": [4, 4, 4],
                         "reference_value": [np.nan, 1.0, 1.0], "reference_label": ["", "Sachsen", "Sachsen"],
                         "reference_year": [np.nan, np.nan, np.nan]})
    bench = pd.DataFrame({"indicator": ["survey.unsafe_night", "survey.unsafe_night"],
                          "reference_label": ["Deutschland, DVS", "Sachsen, DVS"], "reference_value": [0.2, 0.22],
                          "year": [2017, 2012], "verdict": ["similar", "higher"]})
    pl = pd.DataFrame({"measure_id": ["x", "y"], "n_activities": [2.0, 0.0], "kommpraev": [False, True]})
    rules = [
        {"indicator": "survey.like_living", "kind": "threshold", "basis": "interval",
         "strength": {"op": ">=", "threshold": 0.90}, "weakness": {"op": "<", "threshold": 0.80}},
        {"indicator": "survey.problem_*", "kind": "threshold", "basis": "interval",
         "weakness": {"op": ">=", "threshold": 0.30}},
        {"indicator": "survey.problem_*", "kind": "batch_median", "better": "lower"},
        {"indicator": "survey.unsafe_night", "kind": "benchmark", "better": "lower"},
        {"indicator": "profile.hz_ratio_*", "kind": "reference", "better": "lower",
         "exclude": ["profile.hz_ratio_515001"]},
        {"indicator": "profile.pks_rise_*", "kind": "flag"},
        {"kind": "activities"}, {"kind": "funding"},
    ]
    out = swot.derive_swot(rules, ind, comp, bench, pl)
    got = {(r["category"], r["kind"], r["indicator"]) for _, r in out.iterrows()}
    assert got == {
        ("strength", "threshold", "survey.like_living"),   # lower bound 0.92 >= 0.90
        ("weakness", "threshold", "survey.problem_litter"),  # lower bound 0.35 >= 0.30
        ("strength", "batch_median", "survey.problem_drugs"),  # upper 0.07 < median 0.20, lower is better
        ("weakness", "benchmark", "survey.unsafe_night"),  # the Saxon benchmark says higher
        ("weakness", "reference", "profile.hz_ratio_892000"),  # interval 1.2-1.6 above Saxony = 1
        ("threat", "flag", "profile.pks_rise_892000"),
        ("opportunity", "activities", ""), ("opportunity", "funding", ""),
    }
    bm = out[out["kind"] == "benchmark"].iloc[0]
    assert bm["comparison_value"] == 0.22 and bm["comparison_label"] == "Sachsen, DVS"
    assert out[out["kind"] == "activities"].iloc[0]["detail"] == "x"
    assert out[out["kind"] == "funding"].iloc[0]["detail"] == "y"


def test_swot_interval_overlapping_comparison_gives_no_point_and_one_side_per_indicator():
    ind = indicators([["survey.problem_litter", "Müll", 0.42, 0.33, 0.50, "Anteil", ""]])
    comp = pd.DataFrame({"indicator": ["survey.problem_litter"], "batch_median": [0.45], "n_communes": [3],
                         "reference_value": [np.nan], "reference_label": [""], "reference_year": [np.nan]})
    rules = [{"indicator": "survey.problem_litter", "kind": "batch_median", "better": "lower"}]
    assert swot.derive_swot(rules, ind, comp).empty  # the interval contains the median: not clear
    comp.loc[0, "batch_median"] = 0.60  # clearly lower (better) than the median ...
    rules = [{"indicator": "survey.problem_litter", "kind": "threshold", "basis": "interval",
              "weakness": {"op": ">=", "threshold": 0.30}}] + rules
    out = swot.derive_swot(rules, ind, comp)
    # ... but the first rule already made it a weakness: never on both sides
    assert list(out["category"]) == ["weakness"]


def test_swot_rules_file_loads_and_bad_rule_is_named(tmp_path):
    rules = swot.load_swot_rules()
    assert {r["kind"] for r in rules} >= set(swot.KINDS)
    bad = tmp_path / "swot.yaml"
    bad.write_text("rules:\n  - {indicator: survey.unsafe_night, kind: median}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"Zeile 2.*Regel 1.*kind"):
        swot.load_swot_rules(bad)
    bad.write_text("rules:\n  - {indicator: survey.unsafe_night, kind: batch_median}\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="better"):
        swot.load_swot_rules(bad)


# ---------------------------------------------------------------------------
# comparison across communes
# ---------------------------------------------------------------------------

def _write_commune(root, cid, name, rows):
    store = ResultStore(root, cid)
    store.dir.mkdir(parents=True)
    store.write_table("key_indicators_survey", indicators(rows))
    (store.commune_dir / "status.json").write_text(json.dumps({"commune_id": cid, "name": name}), encoding="utf-8")
    return store


def test_batch_range_and_median_match_pandas(tmp_path):
    rng = np.random.default_rng(7)
    names = {f"k{i}": f"Kommune {i}" for i in range(5)}
    values = {cid: rng.uniform(0, 1, 3) for cid in names}
    for cid, name in names.items():
        v = values[cid]
        _write_commune(tmp_path, cid, name, [
            ["survey.unsafe_night", "nachts unsicher", v[0], v[0] - 0.02, v[0] + 0.02, "Anteil", "Bürgerbefragung"],
            ["survey.problem_litter", "Müll", v[1], np.nan, np.nan, "Anteil", "Bürgerbefragung"],
            ["survey.flag", "ein Hinweis", 1.0, np.nan, np.nan, "ja/nein", "Bürgerbefragung"]])
    out = compare.compute_comparison(ResultStore(tmp_path, "k2"), "k2").set_index("indicator")
    long = pd.DataFrame([(cid, ind, values[cid][j]) for cid in names
                         for j, ind in enumerate(["survey.unsafe_night", "survey.problem_litter"])],
                        columns=["commune_id", "indicator", "value"])
    expected = long.groupby("indicator")["value"].agg(["min", "median", "max"])
    for ind in expected.index:
        assert out.loc[ind, "batch_min"] == pytest.approx(expected.loc[ind, "min"])
        assert out.loc[ind, "batch_median"] == pytest.approx(expected.loc[ind, "median"])
        assert out.loc[ind, "batch_max"] == pytest.approx(expected.loc[ind, "max"])
        assert out.loc[ind, "n_communes"] == 5
        own = long[(long["indicator"] == ind)].set_index("commune_id")["value"]
        assert out.loc[ind, "rank_desc"] == own.rank(ascending=False, method="min")["k2"]
    assert "survey.flag" not in out.index  # yes/no flags are not compared
    assert compare.commune_names(tmp_path)["k3"] == "Kommune 3"


def test_fewer_than_three_communes_gives_no_range_and_says_so(tmp_path):
    for cid in ("a", "b"):
        _write_commune(tmp_path, cid, cid.upper(), [["survey.unsafe_night", "nachts unsicher", 0.2, 0.18, 0.22,
                                                     "Anteil", ""]])
    comp = compare.compute_comparison(ResultStore(tmp_path, "a"), "a")
    row = comp.iloc[0]
    assert row["n_communes"] == 2 and all(math.isnan(row[c]) for c in ("batch_min", "batch_median", "batch_max"))
    action = ActionPlan(plan=pd.DataFrame(columns=plan.PLAN_COLUMNS), swot=pd.DataFrame(columns=swot.SWOT_COLUMNS),
                        comparison=comp, matches=pd.DataFrame(columns=matching.MATCH_COLUMNS),
                        actors=pd.DataFrame(columns=matching.ACTOR_COLUMNS), communes={"a": "A", "b": "B"},
                        commune_id="a")
    text = view_plan.comparison_sentence(action)
    assert "Ergebnisse von 2 Kommunen" in text and "erst ab 3 Kommunen" in text
    assert set(view_plan.comparison_table(comp)["span"]) == {view_plan.DASH}


def test_saxon_references():
    own = indicators([["profile.hz_ratio_892000", "HZ Gewalt im Verhältnis zu Sachsen", 1.2, 1.1, 1.3,
                       "× Referenz", ""],
                      ["profile.share_65plus", "ab 65", 0.3, np.nan, np.nan, "Anteil", ""]])
    pi = pd.DataFrame({"indicator": ["pks_hz_land", "pks_hz_land"], "subject": ["892000", "892000"],
                       "year": [2020, 2022], "reference": [185.81, 194.71]})
    bench = pd.DataFrame({"indicator": ["survey.unsafe_night"] * 2, "reference_label": ["Deutschland", "Sachsen, DVS"],
                          "reference_value": [0.215, 0.221], "year": [2017, 2012], "source": ["a", "b"]})
    refs = compare.saxon_references(own, pi, bench).set_index("indicator")
    assert refs.loc["profile.hz_mean_892000", "reference_value"] == 194.71  # most recent year
    assert refs.loc["profile.hz_ratio_892000", "reference_value"] == 1.0
    assert refs.loc["survey.unsafe_night", "reference_value"] == 0.221  # the Saxon one, not Germany
    from kit.profile.reference import shipped_population_reference
    pop = shipped_population_reference()
    land = pop[(pop["level"] == "land") & (pop["indicator"] == "share_65plus")]["value_pct"].iloc[0]
    assert refs.loc["profile.share_65plus", "reference_value"] == pytest.approx(land / 100)


# ---------------------------------------------------------------------------
# matching of existing activities
# ---------------------------------------------------------------------------

def inventory(rows):
    return pd.DataFrame(rows, columns=["activity_id", "title", "topic", "target_group", "district_id", "provider",
                                       "since_year"])


FRAUEN = measure("programme_frauen", title="Zielgerichtete Programme und Veranstaltungen für Frauen",
                 topic="Sicherheitsgefühl von Frauen", prevention_topics=["Gewalt", "Häusliche Gewalt"],
                 groups=["Frauen"], places=["Bahnhof/Haltestelle", "Park/Grünanlage"])
LEERSTAND = measure("leerstand_nutzen", title="Leerstandsflächen nutzen", prevention_topics=["Sauberkeit/Ordnung"],
                    groups=["alle", "Gewerbetreibende"], places=["Innenstadt", "Wohngebiet"])
NACHBARSCHAFT = measure("nachbarschaft", title="Nachbarschaftskampagnen und generationsübergreifende Begegnungsstätten",
                        topic="Nachbarschaft", prevention_topics=["Nachbarschaft", "Senioren"],
                        groups=["alle", "Senioren", "Familien"], places=["Wohngebiet"])
SAUBER = measure("saubere_stadt", title="Gesamtkonzept „Saubere Stadt“", prevention_topics=["Sauberkeit/Ordnung"],
                 groups=["alle"], places=["Innenstadt", "Park/Grünanlage", "Wohngebiet"])

INVENTORY = inventory([
    ["P004", "Deeskalationstraining für Busfahrer", "Gewalt", "Beschäftigte im ÖPNV", "", "Verkehrsbetrieb", "2013"],
    ["P009", "Frühjahrsputz – Stadt putzt sich", "Sauberkeit/Ordnung", "alle Einwohner", "3", "Stadtverwaltung",
     "2010"],
    ["P003", "Vortrag Enkeltrick und Schockanrufe", "Senioren", "Senioren", "1", "Polizeidirektion", "2011"],
    ["P026", "Aktionswoche Gewalt gegen Frauen", "Häusliche Gewalt", "alle Einwohner", "", "Gleichstellung", "2012"],
    ["P014", "Nachbarschaftsfest im Quartier", "Nachbarschaft", "Anwohner", "", "Quartiersmanagement", "2010"],
    ["P030", "Selbstbehauptung für Mädchen an der Oberschule", "Gewalt", "Mädchen", "4", "Verein", "2020"],
])


def test_the_three_wrong_matches_of_the_issue_do_not_count():
    out = matching.match_activities([FRAUEN, LEERSTAND, NACHBARSCHAFT, SAUBER], INVENTORY)
    counts = {(r["measure_id"], r["title"]): bool(r["counts"]) for _, r in out.iterrows()}
    # topic matches (listed as candidates), but they must not count
    assert counts[("programme_frauen", "Deeskalationstraining für Busfahrer")] is False
    assert counts[("leerstand_nutzen", "Frühjahrsputz – Stadt putzt sich")] is False
    assert counts[("nachbarschaft", "Vortrag Enkeltrick und Schockanrufe")] is False
    reasons = out.set_index(["measure_id", "activity_id"])["reason"]
    assert reasons[("programme_frauen", "P004")] == matching.REASON_GROUP
    assert reasons[("leerstand_nutzen", "P009")] == matching.REASON_FOCUS
    assert reasons[("nachbarschaft", "P003")] == matching.REASON_FOCUS
    # sensible matches still count
    assert counts[("saubere_stadt", "Frühjahrsputz – Stadt putzt sich")] is True
    assert counts[("programme_frauen", "Aktionswoche Gewalt gegen Frauen")] is True  # for all, commune-wide
    assert counts[("nachbarschaft", "Nachbarschaftsfest im Quartier")] is True


def test_violence_prevention_builds_on_violence_work_not_on_a_youth_forum():
    olweus = measure("gewalt_schule", title="Gewaltprävention an Schulen (Olweus-Programm)",
                     prevention_topics=["Gewalt", "Jugend"], groups=["Kinder", "Jugendliche"], places=["Schule"])
    inv = inventory([
        ["P1", "Anti-Gewalt-Training an der Oberschule", "Gewalt", "Schülerinnen und Schüler", "9", "Schule", "2021"],
        ["P5", "Jugendbeteiligung – Jugendforum", "Jugend", "Jugendliche", "", "Stadtverwaltung", "2016"],
        ["P4", "Jugendclub mit offenen Abenden", "Jugend", "Jugendliche", "4", "Jugendverein", "2010"]])
    out = matching.match_activities([olweus], inv).set_index("activity_id")
    assert out.loc["P1", "counts"]
    assert out.loc["P5", "reason"] == matching.REASON_FOCUS  # participation, not violence prevention
    assert out.loc["P4", "reason"] == matching.REASON_PLACE  # a youth club in a district is not a school


def test_drop_in_for_the_rule_engine_lists_only_counting_activities():
    out = matching.activities_for_measure(LEERSTAND, INVENTORY, {"3": "Nordvorstadt"})
    assert out.empty and list(out.columns) == ["measure_id", "title", "topic", "provider", "district_id",
                                               "district_name"]
    out = matching.activities_for_measure(SAUBER, INVENTORY, {"3": "Nordvorstadt"})
    assert list(out["title"]) == ["Frühjahrsputz – Stadt putzt sich"] and list(out["district_name"]) == ["Nordvorstadt"]
    assert matching.activities_for_measure(SAUBER, None) is None


def test_topic_only_match_does_not_count():
    # same topic and the target group fits, but the place does not: an activity at a school in one
    # district for a measure at stations and parks
    out = matching.match_activities([FRAUEN], INVENTORY).set_index("activity_id")
    assert out.loc["P030", "topic_ok"] and out.loc["P030", "group_ok"]
    assert not out.loc["P030", "place_ok"] and not out.loc["P030", "counts"]
    # a measure without target groups is never matched by topic alone
    bare = {**FRAUEN, "target_groups": []}
    out = matching.match_activities([bare], INVENTORY)
    assert len(out) and not out["counts"].any()
    assert set(out["reason"]) == {matching.REASON_NO_FIELDS}
    # a measure without places is not tied to a place: the school activity for girls now counts
    anywhere = matching.match_activities([{**FRAUEN, "places": []}], INVENTORY).set_index("activity_id")
    assert anywhere.loc["P030", "counts"]
    # activities of another topic are not even candidates
    assert set(matching.match_activities([LEERSTAND], INVENTORY)["activity_id"]) == {"P009"}
    assert matching.counted_activities(matching.match_activities([SAUBER], INVENTORY)).to_dict() == {"saubere_stadt": 1}


def test_actor_inventory_finds_what_is_missing():
    m = measure("x", lead="Kommunaler Präventionsrat", partners=["Gemeindlicher Vollzugsdienst", "Vereine",
                                                                  "Schulsozialarbeit"])
    pi = pd.DataFrame({
        "indicator": ["bos_units", "bos_units", "bos_units", "clubs_per_1000", "education_fte_per_10000"],
        "district_id": ["", "", "", "", ""], "year": [2024, 2024, 2023, 2024, 2024],
        "subject": ["Polizeirevier", "Gemeindlicher Vollzugsdienst", "Gemeindlicher Vollzugsdienst", "", "Jugend"],
        "value": [1.0, 0.0, 2.0, 2.1, 0.5], "count": [1.0, 0.0, 2.0, 25.0, 3.0]})
    inv = inventory([["P1", "Jugendclub", "Jugend", "Jugendliche", "", "Verein", "2010"]])
    out = matching.actor_inventory([m], ["x"], pi, inv).set_index("actor")
    assert out.loc["Gemeindlicher Vollzugsdienst", "present"] == False
    assert out.loc["Kommunaler Präventionsrat", "present"] == False
    assert out.loc["Vereine", "present"] == True and out.loc["Vereine", "count"] == 25
    assert out.loc["Schulsozialarbeit", "present"] == False
    no_education = matching.actor_inventory([m], ["x"], pi[pi["indicator"] != "education_fte_per_10000"], inv)
    assert pd.isna(no_education.set_index("actor").loc["Schulsozialarbeit", "present"])  # stage 1 has no data
    assert out.loc["Polizei vor Ort", "n_needed"] == 0
    assert out.loc["Gemeindlicher Vollzugsdienst", "needed_by"] == "x"
    table = view_plan.actors_table(ActionPlan(plan=pd.DataFrame(), swot=pd.DataFrame(), comparison=pd.DataFrame(),
                                              matches=pd.DataFrame(), actors=out.reset_index(), titles={"x": "Maßnahme X"}))
    gaps = table.set_index("actor")["gap"]
    assert gaps["Gemeindlicher Vollzugsdienst"] != view_plan.DASH and gaps["Vereine"] == view_plan.DASH
    assert gaps["Schulsozialarbeit"] != view_plan.DASH  # unknown counts as to be clarified


# ---------------------------------------------------------------------------
# report text
# ---------------------------------------------------------------------------

FORBIDDEN = re.compile(r"\bnan\b|\bNone\b|survey\.|profile\.|\.ya?ml|\.csv|measure_id|_id\b|programme_frauen|"
                       r"saubere_stadt|leerstand_nutzen|\bTrue\b|\bFalse\b|Traceback", re.IGNORECASE)


def _collect(monkeypatch):
    from IPython import display

    got = []
    from kit.figures import reset_figure_numbers

    monkeypatch.setattr(display, "display", lambda *objs, **kw: got.extend(objs))
    reset_figure_numbers()  # as every report starts (earlier tests in the session drew figures)
    return got


def _text(objs) -> str:
    from html.parser import HTMLParser

    parts = []
    for o in objs:
        data = o.data
        if "<" in data:
            data = re.sub(r'src="data:[^"]+"', "", data)

            class P(HTMLParser):
                def handle_data(self, d):
                    parts.append(d)

                def handle_starttag(self, tag, attrs):
                    parts.extend(v for k, v in attrs if k == "alt" and v)
            P().feed(data)
        else:
            parts.append(data)
    return "\n".join(parts)


def test_report_sections_have_no_nan_ids_or_file_names(monkeypatch, tmp_path):
    cat = [FRAUEN, SAUBER, LEERSTAND]
    rules = pd.DataFrame([rule_row("programme_frauen", 1, value=0.40, lower=0.36, upper=0.44, compared="lower",
                                   indicator="survey.unsafe_night_women", label="Frauen: nachts unsicher"),
                          rule_row("saubere_stadt", 1, value=0.5), rule_row("leerstand_nutzen", 1, value=0.1, met=False)])
    mf = measures_frame(["programme_frauen", "saubere_stadt", "leerstand_nutzen"], {"leerstand_nutzen": "general"},
                        {m["id"]: m["title"] for m in cat})
    matches = matching.match_activities(cat, INVENTORY)
    pl = plan.action_plan(cat, mf, rules, matching.counted_activities(matches))
    for cid in ("a", "b", "c"):
        _write_commune(tmp_path, cid, cid.upper(), [
            ["survey.unsafe_night", "nachts unsicher", 0.2 + 0.05 * ord(cid) % 3, 0.15, 0.3, "Anteil", ""],
            ["survey.problem_litter", "Müll ist ein Problem", np.nan, np.nan, np.nan, "Anteil", ""],
            ["profile.clubs_per_1000", "Vereine je 1.000 Einwohner", 2.0 + ord(cid) % 5, np.nan, np.nan,
             "je 1.000 Einw.", ""]])
    comp = compare.compute_comparison(ResultStore(tmp_path, "a"), "a")
    ind = indicators([["survey.unsafe_night", "nachts unsicher", 0.3, 0.25, 0.35, "Anteil", ""],
                      ["profile.pks_rise_892000", "Auffälliger Anstieg Gewaltkriminalität", 1.0, np.nan, np.nan,
                       "ja/nein", ""],
                      ["profile.hz_ratio_892000", "HZ Gewalt im Verhältnis zu Sachsen", 1.3, 1.1, 1.5, "× Referenz", ""]])
    comp2 = pd.concat([comp, pd.DataFrame({"indicator": ["profile.hz_ratio_892000"], "reference_value": [1.0],
                                           "reference_label": ["Sachsen"], "n_communes": [1]})], ignore_index=True)
    sw = swot.derive_swot(swot.load_swot_rules(), ind, comp2, None, pl)
    actors = matching.actor_inventory(cat, list(pl["measure_id"]), None, INVENTORY)
    action = ActionPlan(plan=pl, swot=sw, comparison=comp, matches=matches, actors=actors,
                        communes={"a": "Aue", "b": "Borna", "c": "Colditz"}, commune_id="a",
                        titles={m["id"]: m["title"] for m in cat}, has_inventory=True)
    got = _collect(monkeypatch)
    view_plan.show_plan(action)
    view_plan.show_swot(action)
    view_plan.show_comparison(action)
    view_plan.show_offers(action)
    view_plan.show_appendix()
    text = _text(got)
    bad = FORBIDDEN.search(text)
    assert not bad, repr(text[max(0, bad.start() - 80):bad.end() + 80])
    for must in ("Aktionsplan", "Warum diese Reihenfolge", "Stärken", "Schwächen", "Chancen", "Risiken",
                 "Auffälliger Anstieg Gewaltkriminalität", "Aue, Borna, Colditz", "Abbildung 1",
                 "Deeskalationstraining für Busfahrer (andere Zielgruppe)", "Punktzahl des Aktionsplans"):
        assert must in text, must
    # every rank explained with its points, German number format
    assert "zusammen" in text and re.search(r"\d,\d Punkte", text)
