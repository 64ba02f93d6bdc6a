"""Rule evaluation of the measures catalogue."""

import pandas as pd
import pytest

from kit.errors import ParamsError
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.recommend.rules import OPS, combine, evaluate_trigger, load_catalogue, recommend
from kit.recommend.view import recommendations_markdown, rule_text, rules_table

CATALOGUE = """
measures:
  - id: saubere_stadt
    title: Gesamtkonzept Saubere Stadt
    description: Konzept gegen Vermüllung.
    topic: Sauberkeit/Ordnung
    target_groups: [alle]
    lead: Ordnungsamt
    partners: [Bauhof]
    evidence: {level: "Good Practice (nicht evaluiert)", source: "praktiziert in einer Testkommune"}
    funding: {kommpraev: true, reason: Präventionsprojekt}
    cost_class: gering
    duration: 6 Monate
    first_steps: [anfangen]
    time_frame: kurzfristig
    success_indicator: {text: weniger Probleme}
    triggers:
      - {indicator: survey.problem_litter, op: ">=", threshold: 0.25, basis: interval}
  - id: frauen
    title: Programme für Frauen
    description: Angebote für Frauen.
    topic: Sicherheitsgefühl
    target_groups: [alle]
    lead: Ordnungsamt
    evidence: {level: "Good Practice (nicht evaluiert)", source: "praktiziert in einer Testkommune"}
    funding: {kommpraev: true, reason: Präventionsprojekt}
    cost_class: gering
    duration: 6 Monate
    first_steps: [anfangen]
    time_frame: kurzfristig
    success_indicator: {text: weniger Probleme}
    logic: all
    triggers:
      - {indicator: survey.unsafe_night_women, op: ">", threshold: 0.3}
      - {indicator: profile.share_65plus, op: ">", threshold: 0.2}
  - id: fehlt
    title: Maßnahme ohne Daten
    description: x
    topic: x
    target_groups: [alle]
    lead: Ordnungsamt
    evidence: {level: "Good Practice (nicht evaluiert)", source: "praktiziert in einer Testkommune"}
    funding: {kommpraev: true, reason: Präventionsprojekt}
    cost_class: gering
    duration: 6 Monate
    first_steps: [anfangen]
    time_frame: kurzfristig
    success_indicator: {text: weniger Probleme}
    triggers:
      - {indicator: survey.not_there, op: ">", threshold: 0}
"""


def indicators(**values):
    rows = []
    for name, (value, lower, upper, unit) in values.items():
        rows.append({"indicator": name, "label": name, "value": value, "lower": lower, "upper": upper,
                     "unit": unit, "source": "test"})
    return pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)


@pytest.fixture
def catalogue(tmp_path):
    path = tmp_path / "measures.yaml"
    path.write_text(CATALOGUE, encoding="utf-8")
    return load_catalogue(path)


def test_interval_basis_needs_whole_interval_above(catalogue):
    # estimate above the threshold but the interval reaches below: not triggered
    ind = indicators(**{"survey.problem_litter": (0.28, 0.22, 0.34, "Anteil")})
    res = recommend(catalogue, ind).measures.set_index("measure_id")
    assert not res.loc["saubere_stadt", "triggered"]
    ind = indicators(**{"survey.problem_litter": (0.31, 0.26, 0.36, "Anteil")})
    result = recommend(catalogue, ind)
    res = result.measures.set_index("measure_id")
    assert res.loc["saubere_stadt", "triggered"]
    # the rule result is numbers: the lower bound was compared with the threshold
    rule = result.rules[result.rules["measure_id"] == "saubere_stadt"].iloc[0]
    assert (rule["value"], rule["lower"], rule["upper"], rule["op"], rule["threshold"]) == (0.31, 0.26, 0.36, ">=", 0.25)
    assert rule["basis"] == "interval" and rule["compared"] == "lower" and rule["met"] and rule["evaluable"]
    # the view words it: indicator, value with interval, threshold, met
    text = recommendations_markdown(result)
    assert "31,0\u00a0% (95-%-Intervall 26,0–36,0\u00a0%)" in text
    assert "Schwelle: gesamtes 95-%-Intervall mindestens 25,0 %" in text


def test_all_logic_and_missing_indicator(catalogue):
    ind = indicators(**{"survey.unsafe_night_women": (0.35, 0.3, 0.4, "Anteil"),
                        "profile.share_65plus": (0.15, None, None, "Anteil")})
    res = recommend(catalogue, ind).measures.set_index("measure_id")
    assert not res.loc["frauen", "triggered"]
    ind.loc[ind.indicator == "profile.share_65plus", "value"] = 0.25
    result = recommend(catalogue, ind)
    res = result.measures.set_index("measure_id")
    assert res.loc["frauen", "triggered"]
    assert not res.loc["fehlt", "triggered"]
    assert not res.loc["fehlt", "evaluable"]
    missing = result.rules[result.rules["measure_id"] == "fehlt"].iloc[0]
    assert not missing["evaluable"] and pd.isna(missing["met"]) and missing["reason"] == "indicator_missing"
    # readable reason, without the indicator id (a parameter name)
    reason = rule_text(missing)
    assert reason.startswith("Nicht prüfbar:") and "liegt für diese Kommune nicht vor" in reason
    assert "survey.not_there" not in reason and "survey.not_there" not in rules_table(result).to_string()


def test_bad_catalogue_names_measure_and_key(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(CATALOGUE.replace('op: ">="', 'op: "=>"'), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"saubere_stadt.*op '=>'"):
        load_catalogue(path)


def test_key_indicators_of_several_communes_side_by_side(tmp_path):
    import pandas as pd

    from kit.indicators import KEY_INDICATOR_COLUMNS, compare_key_indicators
    from kit.results import ResultStore

    for cid, value in (("a", 0.2), ("b", 0.4)):
        ResultStore(tmp_path, cid).write_table("key_indicators_survey", pd.DataFrame(
            [["survey.unsafe_night", "nachts unsicher", value, value - 0.05, value + 0.05, "Anteil", "Bürgerbefragung"]],
            columns=KEY_INDICATOR_COLUMNS))
    table = compare_key_indicators(tmp_path, [("a", "Aheim"), ("b", "Bstadt"), ("c", "ohne Ergebnisse")])
    assert list(table["commune"]) == ["Aheim", "Bstadt"]
    assert list(table["value"]) == [0.2, 0.4]


def test_measures_name_the_prevention_activities_they_build_on(catalogue):
    import pandas as pd

    from kit.recommend.matching import activities_for_measure
    from kit.recommend.view import existing_activities_text

    def existing_activities(measure, inventory, names):
        """The compute part (matching by topic, target group and place) worded by the view, as the report shows it."""
        hits = activities_for_measure({"id": "", **measure}, inventory, names)
        row = {"measure_id": "", "n_activities": float("nan") if hits is None else float(len(hits))}
        return existing_activities_text(row, hits)

    inventory = pd.DataFrame({
        "activity_id": ["A1", "A2", "A3", "A4"],
        "title": ["Verkehrshelfer", "Anti-Gewalt-Training", "Mobile Jugendarbeit", "Deeskalationstraining für Busfahrer"],
        "topic": ["Verkehr", "Gewalt", "Jugend", "Gewalt"],
        "target_group": ["alle Einwohner", "Jugendliche", "Jugendliche", "Beschäftigte im ÖPNV"],
        "provider": ["Verkehrswacht", None, "Freier Träger", "Verkehrsbetrieb"],
        "district_id": [None, "2", "3", None]})
    names = {"2": "Oberau", "3": "Naundorf"}
    traffic = {"prevention_topics": ["Verkehr"], "target_groups": ["alle"]}
    assert existing_activities(traffic, inventory, names) == \
        "Darauf lässt sich aufbauen: Verkehrshelfer (Verkehrswacht)."
    violence = {"prevention_topics": ["Gewalt", "Jugend"], "target_groups": ["Jugendliche"], "places": []}
    assert existing_activities(violence, inventory, names) == (
        "Darauf lässt sich aufbauen: Anti-Gewalt-Training (Oberau); Mobile Jugendarbeit (Freier Träger, Naundorf).")
    # same topic, other target group (the "Programme für Frauen" -> bus drivers): not counted
    women = {"prevention_topics": ["Gewalt"], "target_groups": ["Frauen"], "places": []}
    assert "kein Angebot erfasst, das nach Thema, Zielgruppe und Ort" in existing_activities(women, inventory, names)
    # a topic alone (no target groups in the catalogue entry) never counts
    assert "kein Angebot erfasst" in existing_activities({"prevention_topics": ["Verkehr"]}, inventory, names)
    assert existing_activities(traffic, None, names) == ""  # no inventory: no claim
    # recommend carries it into the report text of triggered measures (the shipped catalogue)
    from kit.params import REPO_ROOT

    shipped = load_catalogue(REPO_ROOT / "params" / "measures.yaml")
    ind = indicators(**{"survey.problem_speeding": (0.6, 0.55, 0.65, "Anteil")})
    result = recommend(shipped, ind, inventory, names)
    res = result.measures.set_index("measure_id")
    assert res.loc["verkehrssicherheitskonzept", "n_activities"] == 1
    acts = result.activities[result.activities["measure_id"] == "verkehrssicherheitskonzept"]
    assert list(acts["title"]) == ["Verkehrshelfer"] and list(acts["provider"]) == ["Verkehrswacht"]
    text = recommendations_markdown(result)
    assert "Bestehende Aktivitäten:** Darauf lässt sich aufbauen: Verkehrshelfer" in text


def test_prevention_topics_must_be_a_list(tmp_path):
    from kit.errors import ParamsError

    path = tmp_path / "m.yaml"
    path.write_text("""measures:
  - id: x
    title: X
    description: d
    topic: Verkehr
    target_groups: [alle]
    lead: Ordnungsamt
    evidence: {level: "Good Practice (nicht evaluiert)", source: "praktiziert in einer Testkommune"}
    funding: {kommpraev: true, reason: Präventionsprojekt}
    cost_class: gering
    duration: 6 Monate
    first_steps: [anfangen]
    time_frame: kurzfristig
    success_indicator: {text: weniger Probleme}
    prevention_topics: Verkehr
    triggers: [{indicator: survey.a, op: ">", threshold: 0.1}]
""", encoding="utf-8")
    with pytest.raises(ParamsError, match="prevention_topics"):
        load_catalogue(path)


# ---------------------------------------------------------------------------
# Boundaries: a value exactly at its threshold, rules that cannot be evaluated
# ---------------------------------------------------------------------------

import operator  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# The meaning of the catalogue's operators, written out here independently of kit.recommend.rules.OPS.
MEANING = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _trigger(op, threshold, basis="estimate", indicator="profile.x"):
    return {"indicator": indicator, "op": op, "threshold": threshold, "basis": basis}


def _measure(mid, triggers, logic="any"):
    return {"id": mid, "title": mid, "description": "d", "topic": "t", "logic": logic, "triggers": triggers,
            "evidence": {"level": "Good Practice (nicht evaluiert)", "source": "s"},
            "funding": {"kommpraev": False, "reason": "r"}}


@pytest.mark.parametrize("op, fires", [(">=", True), (">", False), ("<=", True), ("<", False)])
def test_value_exactly_at_threshold(op, fires):
    ind = indicators(**{"profile.x": (0.25, 0.1, 0.4, "Anteil")})
    rule = evaluate_trigger(_trigger(op, 0.25), ind)
    assert rule["evaluable"] and rule["compared"] == "value" and rule["met"] is fires
    res = recommend([_measure("m", [_trigger(op, 0.25)])], ind).measures.iloc[0]
    assert bool(res["triggered"]) is fires and bool(res["evaluable"])
    # the view states the threshold and the result
    assert ("– erfüllt." if fires else "– nicht erfüllt.") in rule_text(rule)


@pytest.mark.parametrize("op, bounds, compared, fires", [
    (">=", (0.25, 0.40), "lower", True),   # lower bound exactly at the threshold: the whole interval is >= it
    (">", (0.25, 0.40), "lower", False),   # ... but not > it
    ("<=", (0.10, 0.25), "upper", True),
    ("<", (0.10, 0.25), "upper", False),
])
def test_interval_bound_exactly_at_threshold(op, bounds, compared, fires):
    value = sum(bounds) / 2
    ind = indicators(**{"profile.x": (value, *bounds, "Anteil")})
    rule = evaluate_trigger(_trigger(op, 0.25, basis="interval"), ind)
    assert rule["compared"] == compared and rule["met"] is fires
    # the estimate alone would decide otherwise for > and <, so the interval really was used
    assert MEANING[op](value, 0.25) is True


def test_all_logic_without_any_evaluable_trigger_is_not_recommended_and_not_evaluable():
    ind = indicators(**{"profile.suppressed": (None, None, None, "Anteil")})
    m = _measure("alle", [_trigger(">", 0.1, indicator="survey.missing"),
                          _trigger(">", 0.1, indicator="profile.suppressed")], logic="all")
    result = recommend([m], ind)
    row = result.measures.iloc[0]
    assert not bool(row["triggered"]) and not bool(row["evaluable"])
    assert (row["n_triggers"], row["n_evaluable"], row["n_met"]) == (2, 0, 0)
    assert list(result.rules["reason"]) == ["indicator_missing", "value_suppressed"]
    assert not result.rules["evaluable"].any()
    from kit.recommend.view import decision_text

    assert decision_text(row).startswith("nicht prüfbar")
    assert "löst keiner der Befunde eine Maßnahme aus" in recommendations_markdown(result)


def test_all_logic_partly_evaluable():
    ind = indicators(**{"profile.x": (0.5, None, None, "Anteil")})
    missing = _trigger(">", 0.1, indicator="survey.missing")
    # one evaluable trigger not met decides "all": not recommended, and that is decided
    row = recommend([_measure("a", [_trigger(">", 0.6), missing], "all")], ind).measures.iloc[0]
    assert not bool(row["triggered"]) and bool(row["evaluable"])
    # one evaluable trigger met is not enough for "all": undecided, not recommended
    row = recommend([_measure("a", [_trigger(">", 0.4), missing], "all")], ind).measures.iloc[0]
    assert not bool(row["triggered"]) and not bool(row["evaluable"])


def test_any_logic_with_one_evaluable_met_trigger_is_recommended():
    ind = indicators(**{"profile.x": (0.5, None, None, "Anteil")})
    m = _measure("irgendeine", [_trigger(">", 0.1, indicator="survey.missing"), _trigger(">", 0.4)])
    result = recommend([m], ind)
    row = result.measures.iloc[0]
    assert bool(row["triggered"]) and bool(row["evaluable"])
    assert (row["n_evaluable"], row["n_met"]) == (1, 1)
    text = recommendations_markdown(result)
    assert "Ausgelöst durch" in text and "Ebenfalls geprüft: Nicht prüfbar" in text
    # the same measure with its evaluable trigger not met: nothing decided either way
    row = recommend([_measure("irgendeine", [m["triggers"][0], _trigger(">", 0.6)])], ind).measures.iloc[0]
    assert not bool(row["triggered"]) and not bool(row["evaluable"])


@pytest.mark.parametrize("logic, met, outcome", [
    ("any", [None, True], True), ("any", [False, False], False), ("any", [None, False], None), ("any", [None], None),
    ("all", [True, True], True), ("all", [None, None], None), ("all", [None, False], False), ("all", [True, None], None),
])
def test_combine_three_valued(logic, met, outcome):
    assert combine(logic, met) is outcome


_numbers = st.one_of(st.integers(-8, 8).map(lambda i: i / 4),  # a coarse grid: equal values are frequent
                     st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(value=_numbers, threshold=_numbers, op=st.sampled_from(sorted(MEANING)))
def test_trigger_fires_exactly_when_op_holds(value, threshold, op):
    ind = indicators(**{"profile.x": (value, None, None, "Anzahl")})
    rule = evaluate_trigger(_trigger(op, threshold), ind)
    assert rule["met"] is MEANING[op](value, threshold)


@settings(max_examples=300, deadline=None)
@given(centre=_numbers, half=st.integers(0, 8).map(lambda i: i / 4), threshold=_numbers,
       op=st.sampled_from(sorted(MEANING)))
def test_interval_trigger_fires_exactly_when_the_whole_interval_lies_beyond(centre, half, threshold, op):
    lower, upper = centre - half, centre + half
    ind = indicators(**{"profile.x": (centre, lower, upper, "Anzahl")})
    rule = evaluate_trigger(_trigger(op, threshold, basis="interval"), ind)
    assert rule["met"] is (MEANING[op](lower, threshold) and MEANING[op](upper, threshold))


def test_ops_are_the_documented_comparisons():
    assert set(OPS) == set(MEANING)
    for name, fn in OPS.items():
        assert [fn(a, b) for a, b in ((1, 2), (2, 2), (3, 2))] == [MEANING[name](a, b) for a, b in ((1, 2), (2, 2), (3, 2))]


def test_rules_appendix_is_split_by_decision_without_losing_or_splitting_a_measure(monkeypatch):
    """57 rules in one table read like a record list: the appendix shows one table per decision
    (recommended, undecided, not recommended), at most RULES_PER_TABLE rows each, a measure's rules
    kept together, and every rule exactly once."""
    from hypothesis import given, settings, strategies as st

    import kit.recommend.view as view

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["ja", "nein", "nicht entscheidbar (1 von 2 Befunden liegen nicht vor)"]),
                              st.integers(1, 12)), min_size=1, max_size=30))
    def check(measures):
        rows = []
        for i, (decision, n_rules) in enumerate(measures):
            for k in range(n_rules):
                rows.append({"measure": f"M{i}" if k == 0 else "", "decision": decision if k == 0 else "",
                             "finding": f"B{i}.{k}", "value": "1", "rule": "x", "met": "ja"})
        table = pd.DataFrame(rows)
        monkeypatch.setattr(view, "rules_table", lambda result: table)
        parts = view.rule_groups(None)
        seen = pd.concat([p for _, p in parts])
        assert sorted(seen["finding"]) == sorted(table["finding"])  # every rule once
        order = [title.split(" (Teil")[0] for title, _ in parts]
        expected = [t for key, t in view.RULE_GROUPS
                    if any((d if d in ("ja", "nein") else "offen") == key for d, _ in measures)]
        assert list(dict.fromkeys(order)) == expected
        for _, part in parts:
            assert part["measure"].iloc[0] != ""  # a part starts with a measure's first rule
            sizes = part["measure"].ne("").cumsum().value_counts()
            assert len(part) <= view.RULES_PER_TABLE or len(sizes) == 1

    check()
