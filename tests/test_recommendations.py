"""Rule evaluation of the measures catalogue."""

import pandas as pd
import pytest

from kit.errors import ParamsError
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.recommend.rules import load_catalogue, recommend
from kit.recommend.view import recommendations_markdown

CATALOGUE = """
measures:
  - id: saubere_stadt
    title: Gesamtkonzept Saubere Stadt
    description: Konzept gegen Vermüllung.
    topic: Sauberkeit/Ordnung
    actors: [Ordnungsamt, Bauhof]
    evidence_level: good practice
    kommpraev: true
    triggers:
      - {indicator: survey.problem_litter, op: ">=", threshold: 0.25, basis: interval}
  - id: frauen
    title: Programme für Frauen
    description: Angebote für Frauen.
    topic: Sicherheitsgefühl
    evidence_level: 2
    logic: all
    triggers:
      - {indicator: survey.unsafe_night_women, op: ">", threshold: 0.3}
      - {indicator: profile.share_65plus, op: ">", threshold: 0.2}
  - id: fehlt
    title: Maßnahme ohne Daten
    description: x
    topic: x
    evidence_level: 1
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
    res = recommend(catalogue, ind).set_index("measure_id")
    assert not res.loc["saubere_stadt", "triggered"]
    ind = indicators(**{"survey.problem_litter": (0.31, 0.26, 0.36, "Anteil")})
    res = recommend(catalogue, ind).set_index("measure_id")
    assert res.loc["saubere_stadt", "triggered"]
    assert "31,0\u00a0%" in res.loc["saubere_stadt", "evidence"]
    assert "25,0 %" in res.loc["saubere_stadt", "evidence"]


def test_all_logic_and_missing_indicator(catalogue):
    ind = indicators(**{"survey.unsafe_night_women": (0.35, 0.3, 0.4, "Anteil"),
                        "profile.share_65plus": (0.15, None, None, "Anteil")})
    res = recommend(catalogue, ind).set_index("measure_id")
    assert not res.loc["frauen", "triggered"]
    ind.loc[ind.indicator == "profile.share_65plus", "value"] = 0.25
    res = recommend(catalogue, ind).set_index("measure_id")
    assert res.loc["frauen", "triggered"]
    assert not res.loc["fehlt", "triggered"]
    assert not res.loc["fehlt", "evaluable"]
    assert "liegt für diese Kommune nicht vor" in res.loc["fehlt", "checked"]


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

    from kit.recommend.rules import existing_activities

    inventory = pd.DataFrame({
        "title": ["Verkehrshelfer", "Anti-Gewalt-Training", "Mobile Jugendarbeit"],
        "topic": ["Verkehr", "Gewalt", "Jugend"],
        "provider": ["Verkehrswacht", None, "Freier Träger"],
        "district_id": [None, "2", "3"]})
    names = {"2": "Oberau", "3": "Naundorf"}
    traffic = {"prevention_topics": ["Verkehr"]}
    assert existing_activities(traffic, inventory, names) == \
        "Darauf lässt sich aufbauen: Verkehrshelfer (Verkehrswacht)."
    violence = {"prevention_topics": ["Gewalt", "Jugend"]}
    assert existing_activities(violence, inventory, names) == (
        "Darauf lässt sich aufbauen: Anti-Gewalt-Training (Oberau); Mobile Jugendarbeit (Freier Träger, Naundorf).")
    assert "nichts erfasst" in existing_activities({"prevention_topics": ["Cybercrime"]}, inventory, names)
    assert existing_activities({"topic": "Verkehr"}, inventory, names) == ""  # no topics: no claim
    assert existing_activities(traffic, None, names) == ""
    # recommend carries it into the report text of triggered measures (the shipped catalogue)
    from kit.params import REPO_ROOT

    shipped = load_catalogue(REPO_ROOT / "params" / "measures.yaml")
    ind = indicators(**{"survey.problem_speeding": (0.6, 0.55, 0.65, "Anteil")})
    res = recommend(shipped, ind, inventory, names).set_index("measure_id")
    assert res.loc["verkehrssicherheitskonzept", "existing"].endswith("Verkehrshelfer (Verkehrswacht).")
    text = recommendations_markdown(res.reset_index())
    assert "Bestehende Aktivitäten:** Darauf lässt sich aufbauen: Verkehrshelfer" in text


def test_prevention_topics_must_be_a_list(tmp_path):
    from kit.errors import ParamsError

    path = tmp_path / "m.yaml"
    path.write_text("""measures:
  - id: x
    title: X
    description: d
    topic: Verkehr
    evidence_level: 1
    prevention_topics: Verkehr
    triggers: [{indicator: survey.a, op: ">", threshold: 0.1}]
""", encoding="utf-8")
    with pytest.raises(ParamsError, match="prevention_topics"):
        load_catalogue(path)
