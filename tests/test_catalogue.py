"""The shipped measures catalogue (params/measures.yaml), the Wegweiser contacts
(params/contacts.yaml) and the demo outcomes the catalogue must produce (issue 10):
Elsterhain gets violence prevention from its stage-1 early-warning flag, Elbstadt an
alcohol/drugs measure, no measure fires on a demographic share alone."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.params import (COST_CLASSES, EVIDENCE_LEVELS, PARAMS_DIR, REPO_ROOT, TARGET_GROUPS, TIME_FRAMES,
                        load_params, read_catalogue)
from kit.recommend import catalogue as cat
from kit.recommend import rules as rec
from kit.recommend.contacts import directorate_for, load_contacts, measure_contacts

CATALOGUE = REPO_ROOT / "params" / "measures.yaml"
REQUIRED = ("id", "title", "description", "topic", "target_groups", "lead", "evidence", "funding", "cost_class",
            "duration", "first_steps", "time_frame", "success_indicator")


@pytest.fixture(scope="module")
def raw():
    """The catalogue as written (not through the model, so defaults cannot hide a missing field)."""
    return yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))["measures"]


@pytest.fixture(scope="module")
def shipped():
    return read_catalogue(CATALOGUE)


def test_catalogue_has_at_least_25_measures_with_every_field(raw, shipped):
    assert len(shipped) == len(raw) >= 25
    for m in raw:
        missing = [k for k in REQUIRED if not m.get(k)]
        assert not missing, (m.get("id"), missing)
        assert set(m["target_groups"]) <= set(TARGET_GROUPS)
        assert m["cost_class"] in COST_CLASSES and m["time_frame"] in TIME_FRAMES
        assert m["evidence"]["level"] in EVIDENCE_LEVELS and len(m["evidence"]["source"].split()) >= 4, m["id"]
        assert isinstance(m["funding"]["kommpraev"], bool) and len(m["funding"]["reason"].split()) >= 3, m["id"]
        assert m["success_indicator"]["text"] and m["success_indicator"].get("indicator"), m["id"]
        assert m.get("triggers") or (m.get("general") or {}).get("always") or (m.get("general") or {}).get("min_population")
    assert len({m["id"] for m in raw}) == len(raw)


def test_evidence_sources_are_honest(raw):
    """A Grüne-Liste level either names a Grüne-Liste entry or says it is the kit's own
    classification after a study ("in Anlehnung an"); Good Practice says where it is practised
    or that no evaluation is known. Several levels are used, not only Good Practice."""
    for m in raw:
        level, source = m["evidence"]["level"], m["evidence"]["source"]
        if "Grüne Liste Stufe" in level:
            assert "Grünen Liste Prävention" in source or "in Anlehnung an die Grüne Liste" in source, m["id"]
            if "in Anlehnung" in source:
                assert re.search(r"\(?(19|20)\d\d", source), m["id"]  # the study with its year
        else:
            assert re.search(r"praktiziert|Praxis|Empfehlung|Stadt|Städte|Standort|Sachsen|sächsisch|bekannt", source), m["id"]
    levels = pd.Series([m["evidence"]["level"] for m in raw]).value_counts()
    assert len(levels) == 4 and levels["Good Practice (nicht evaluiert)"] < len(raw) * 0.75


def test_catalogue_covers_the_seed_and_the_saxon_topics(raw):
    ids = {m["id"] for m in raw}
    assert {"verkehrssicherheitskonzept", "workshops_partizipativ", "saubere_stadt", "buergerbeteiligung",
            "programme_frauen", "kommunikation_praesenz", "oeffentlichkeitsarbeit", "praevention_homepage",
            "praeventionserlebnispfad", "nachbarschaft", "begegnungsstaetten", "leerstand_nutzen",
            "bewusstsein_praevention", "alkoholkonsumverbot", "drogen_oeffentlicher_raum", "gewaltpraevention_schule",
            "gewaltpraevention_jugendarbeit", "haeusliche_gewalt", "schulabsentismus", "beleuchtung_gestaltung",
            "graffiti_entfernung", "gvd_praesenz", "seniorensicherheit", "opferhilfe", "cybercrime_betrug",
            "praeventionsrat"} <= ids
    kinds = {t.get("kind", "threshold") for m in raw for t in m.get("triggers") or []}
    assert kinds == set(rec.TRIGGER_KINDS)  # every kind of rule is used by the shipped catalogue


def test_every_indicator_and_success_indicator_exists_in_the_defaults(shipped):
    for commune in ("muldenau", "elsterhain", "elbstadt"):
        cat.check_indicators(shipped, load_params(PARAMS_DIR / f"{commune}.yaml"), "Maßnahmenkatalog")
    defaults = yaml.safe_load((PARAMS_DIR / "defaults.yaml").read_text(encoding="utf-8"))
    survey_ids = {f"survey.{k['id']}" for k in defaults["survey"]["key_indicators"]}
    for m in shipped:
        success = m["success_indicator"]["indicator"]
        assert success in survey_ids or success.startswith("profile."), (m["id"], success)
    known = cat.known_indicator_ids({"survey": defaults["survey"]})
    assert {m["success_indicator"]["indicator"] for m in shipped} <= known


def test_no_measure_fires_on_a_demographic_share_alone(shipped):
    # structurally: a demographic rule only under logic all, beside a problem finding
    assert not [m["id"] for m in shipped if cat.fires_on_demographics_alone(m)]
    assert any(t["indicator"] in cat.DEMOGRAPHIC_INDICATORS for m in shipped for t in m.get("triggers") or [])
    # the check itself sees the old defect (Nachbarschaftskampagnen on the share 65+ under any)
    assert cat.fires_on_demographics_alone({"logic": "any", "triggers": [
        {"indicator": "survey.low_cohesion"}, {"indicator": "profile.share_65plus"}]})
    assert cat.fires_on_demographics_alone({"logic": "all", "triggers": [{"indicator": "profile.share_65plus"}]})
    # behaviourally: extreme demographics and nothing else trigger no measure
    rows = [{"indicator": i, "label": i, "value": v, "lower": None, "upper": None, "unit": "Anteil", "source": "t"}
            for i, v in (("profile.share_65plus", 0.95), ("profile.share_under18", 0.95),
                         ("profile.share_nongerman", 0.95), ("profile.population", 1e6))]
    res = rec.recommend(shipped, pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)).measures
    assert not res["triggered"].any(), list(res.loc[res["triggered"], "measure_id"])


# ---------------------------------------------------------------------------
# Wegweiser
# ---------------------------------------------------------------------------

SAXON_KREISE = {"14511", "14521", "14522", "14523", "14524", "14612", "14625", "14626", "14627", "14628",
                "14713", "14729", "14730"}


def test_contacts_map_the_13_kreise_to_the_five_polizeidirektionen(shipped):
    contacts = load_contacts(PARAMS_DIR / "contacts.yaml")
    directorates = contacts["police_directorates"]
    assert {d["name"] for d in directorates.values()} == {f"Polizeidirektion {n}" for n in
                                                          ("Chemnitz", "Dresden", "Görlitz", "Leipzig", "Zwickau")}
    kreise = [str(k) for d in directorates.values() for k in d["kreise"]]
    assert sorted(kreise) == sorted(SAXON_KREISE)  # each Kreis exactly once
    assert directorate_for(contacts, "14522990", "Landkreis Mittelsachsen") == "Polizeidirektion Chemnitz"
    assert directorate_for(contacts, "14729990", None) == "Polizeidirektion Leipzig"
    assert directorate_for(contacts, "14000000", "Landkreis Görlitz") == "Polizeidirektion Görlitz"
    assert directorate_for(contacts, "14590000", "kreisfreie Stadt") is None  # fictitious demo city
    # no invented phone numbers: the only number is the federal hotline 116 016
    text = (PARAMS_DIR / "contacts.yaml").read_text(encoding="utf-8")
    assert re.findall(r"\b\d{3} \d{3}\b|\b0\d{2,5}[ /-]?\d{3,}", text) == ["116 016"]
    table = measure_contacts(shipped, contacts, "14729990", "Landkreis Leipzig")
    per = table.groupby("measure_id")["contact_id"].apply(set)
    assert all({"police_advice", "asskomm"} <= s for s in per)
    funded = {m["id"] for m in shipped if m["funding"]["kommpraev"]}
    assert {mid for mid, s in per.items() if "rl_kommpraev" in s} == funded
    assert "Polizeidirektion Leipzig" in table.loc[table["contact_id"] == "police_advice", "name"].iloc[0]
    assert "hilfetelefon" in per["haeusliche_gewalt"]
    generic = measure_contacts(shipped[:1], contacts, "14590000", "kreisfreie Stadt")
    assert "zuständigen Polizeidirektion" in generic["name"].iloc[0]


# ---------------------------------------------------------------------------
# Demo outcomes (stages 1 and 2 in process, stage 3 on their results)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_stage3(tmp_path_factory):
    from kit.demo import generate_demo
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.recommend.stage import compute_recommendations
    from kit.results import ResultStore
    from kit.survey.stage import compute_survey, write_survey

    root = tmp_path_factory.mktemp("catalogue_demo")
    communes = {"elsterhain": False, "elbstadt": True}  # with the survey?
    generate_demo(root / "data", communes=list(communes))
    params = {}
    for commune, with_survey in communes.items():
        data = yaml.safe_load((PARAMS_DIR / f"{commune}.yaml").read_text(encoding="utf-8"))
        data["data_dir"] = str(root / "data" / commune)
        data["demo"] = False
        if not with_survey:
            data.pop("survey", None)
        path = root / f"{commune}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        params[commune] = p = load_params(path)
        store = ResultStore(root / "output", commune)
        inputs = load_profile_inputs(p)
        write_profile(compute_profile(inputs), store, inputs)
        if with_survey:
            write_survey(compute_survey(p, store).public, store)
    return {c: compute_recommendations(params[c], ResultStore(root / "output", c)) for c in communes}


def _met(result, measure_id):
    r = result.rules
    return r[(r["measure_id"] == measure_id) & r["met"].fillna(False).astype(bool)]


def test_elsterhain_gets_violence_prevention_from_its_stage1_flag(demo_stage3):
    result = demo_stage3["elsterhain"]
    m = result.measures.set_index("measure_id")
    assert m.loc["gewaltpraevention_schule", "recommended"]
    assert m.loc["gewaltpraevention_schule", "recommendation_kind"] == "specific"
    met = _met(result, "gewaltpraevention_schule")
    assert "profile.pks_rise_892000" in set(met["indicator"]) and set(met["kind"]) >= {"flag"}
    # only two communes in this output folder: comparisons with the batch are not decidable
    batch = result.rules[result.rules["kind"] == "batch"]
    assert len(batch) and (batch["reason"].isin([rec.REASON_TOO_FEW_COMMUNES, rec.REASON_MISSING])).all()


def test_elbstadt_gets_an_alcohol_and_drugs_measure(demo_stage3):
    result = demo_stage3["elbstadt"]
    m = result.measures.set_index("measure_id")
    assert m.loc["alkoholkonsumverbot", "recommended"] and m.loc["drogen_oeffentlicher_raum", "recommended"]
    assert "survey.problem_alcohol_groups" in set(_met(result, "alkoholkonsumverbot")["indicator"])
    assert "survey.problem_drugs" in set(_met(result, "drogen_oeffentlicher_raum")["indicator"])
    # the plans differ between the communes
    chosen = {c: set(r.measures.loc[r.measures["recommended"], "measure_id"]) for c, r in demo_stage3.items()}
    assert chosen["elsterhain"] != chosen["elbstadt"]
    assert "gewaltpraevention_schule" not in chosen["elbstadt"]


def test_key_indicator_ids_are_defined_once_in_the_contract():
    """kit.indicators names the key-indicator ids; the stage-1 ids the profile writes are among them,
    and the night-safety ids the findings read are key indicators of params/defaults.yaml."""
    import re

    import yaml

    from kit import indicators
    from kit.params import DEFAULTS_FILE, REPO_ROOT

    source = (REPO_ROOT / "kit" / "profile" / "stage.py").read_text(encoding="utf-8")
    body = source[source.index("def key_indicators"):]
    body = body[:body.index("\n\n\n")]  # up to the next top-level statement
    written = set(re.findall(r'"profile\.(\w+)"', body)) | set(re.findall(r'f"profile\.(\w+)\{', body))
    assert written and written <= {*indicators.PROFILE_FIXED, *indicators.PKS_FAMILIES, *indicators.OWI_FAMILIES}
    assert cat.PROFILE_FIXED is indicators.PROFILE_FIXED
    defaults = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    ids = {indicators.SURVEY + k["id"] for k in defaults["survey"]["key_indicators"]}
    assert {indicators.UNSAFE_NIGHT, indicators.UNSAFE_NIGHT_WOMEN} <= ids
    assert any(i.startswith(indicators.SURVEY_PROBLEM_PREFIX) for i in ids)
