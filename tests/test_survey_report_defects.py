"""Report defects of the survey chapter (issue 9): codebook labels split by YAML
flow mappings, mixed denominators in the sample-vs-population tables, the
Rao-Scott sentence, the Cronbach's alpha caveat, the age phrase and the warning
when trimming leaves weighting margins off."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import kit.survey.view as view
from kit.disclosure import DisclosurePolicy
from kit.errors import InputError
from kit.params import REPO_ROOT
from kit.survey.codebook import load_codebook
from kit.survey.stage import AGE_LABELS, suppress_sample_vs_population
from kit.survey.weighting import weight_survey

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "survey" / "codebook.yaml"
SPLIT_LINE = ('  - {id: Q10_04, block: Orte, question: Q10, type: scale, values: problem4, '
              'text: "schlecht beleuchtete Orte", label: dunkle, unübersichtliche Orte}\n')


def test_shipped_codebook_keeps_the_whole_label():
    cb = load_codebook(REPO_ROOT / "data_schemas" / "survey_codebook.yaml")
    assert cb.items["Q10_04"].label == "dunkle, unübersichtliche Orte"


def _with_item(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "codebook.yaml"
    path.write_text(FIXTURE.read_text(encoding="utf-8").rstrip("\n") + "\n" + line, encoding="utf-8")
    return path


def test_label_split_by_a_flow_mapping_comma_is_refused(tmp_path):
    path = _with_item(tmp_path, SPLIT_LINE)
    with pytest.raises(InputError) as info:
        load_codebook(path)
    message = str(info.value)
    assert str(path) in message or path.name in message
    assert "Q10_04" in message and "unübersichtliche Orte" in message and "Anführungszeichen" in message
    # quoted, the same line loads
    fixed = _with_item(tmp_path, SPLIT_LINE.replace("label: dunkle, unübersichtliche Orte",
                                                    'label: "dunkle, unübersichtliche Orte"'))
    assert load_codebook(fixed).items["Q10_04"].label == "dunkle, unübersichtliche Orte"


@pytest.mark.parametrize("label", ["{dunkle: Orte}", "[dunkle, Orte]", "12"])
def test_label_that_is_not_text_is_refused(tmp_path, label):
    line = ('  - {id: Q10_04, block: Orte, question: Q10, type: scale, values: problem4, '
            f'text: "schlecht beleuchtete Orte", label: {label}}}\n')
    with pytest.raises(InputError) as info:
        load_codebook(_with_item(tmp_path, line))
    assert "Q10_04.label" in str(info.value) and "Zeichenkette" in str(info.value)


# --- views ------------------------------------------------------------------------


@pytest.fixture
def shown(monkeypatch):
    out = []
    monkeypatch.setattr(view, "show_md", lambda text: out.append(("md", text.replace("\xa0", " "))))
    monkeypatch.setattr(view, "show_note", lambda text: out.append(("note", text.replace("\xa0", " "))))
    monkeypatch.setattr(view, "show_table", lambda df, columns=None, caption=None: out.append(("table", df, caption)))
    return out


def _weighted(margins=("age_sex", "district"), **kwargs):
    from tests.test_survey_weighting import miss_case

    clean, pop = miss_case()
    clean.loc[clean.index[:7], "district_id"] = None  # some without a district: "ohne Angabe"
    weights, report = weight_survey(clean, pop, margins=list(margins), **kwargs)
    policy = DisclosurePolicy(min_cell=3, min_base=30)
    svp = suppress_sample_vs_population(report.pop("sample_vs_population"), {"01": "Nord", "02": "Süd"},
                                        policy, len(clean))
    result = SimpleNamespace(sample_vs_population=svp, weighting=report, n_respondents=len(clean), min_cell=3,
                             notes=[])
    return result, report


def test_sample_vs_population_tables_add_to_100_percent(shown):
    result, _ = _weighted()
    view.show_weighting(result)
    tables = [t for t in shown if t[0] == "table"]
    assert len(tables) == 2
    for _, df, caption in tables:
        assert "fehlend" not in set(df["category"]) and "ohne Angabe" not in set(df["label"])
        for col in ("sample_share", "population_share", "weighted_share"):
            assert df[col].sum() == pytest.approx(1.0)
        assert "100 %" in caption
    texts = " ".join(t[1] for t in shown if t[0] == "md")
    assert "Ohne Angabe zu Stadtteil: 7 Befragte (2,3 % aller Fragebögen)" in texts


def test_margin_miss_is_a_warning_box_naming_the_cells(shown):
    result, report = _weighted(trim_lower=0.3, trim_upper=3.0)
    assert report["margin_miss_cells"]
    view.show_weighting(result)
    notes = [t[1] for t in shown if t[0] == "note"]
    assert len(notes) == 1
    warning = notes[0]
    assert warning.startswith("Achtung")
    svp = result.sample_vs_population.set_index(["margin", "category"])
    row = svp.loc[("age_sex", "75+_w")]
    assert f"Frauen, 75 Jahre und älter: gewichtet {view.fmt_pct(row['weighted_share']).replace(chr(160), ' ')}, Bevölkerung 20,5 %" \
        in warning
    assert "1,0 Prozentpunkte" in warning
    shown.clear()
    view.show_overview(SimpleNamespace(**vars(result), records_in=None, response=None, min_base=30))
    assert any(t[0] == "note" and t[1] == warning for t in shown)


def test_no_warning_when_the_margins_hold(shown):
    result, report = _weighted()
    assert view.margin_miss_warning(result) is None
    view.show_weighting(result)
    assert not [t for t in shown if t[0] == "note"]


def test_age_phrase_is_grammatical():
    assert view._age_phrase(AGE_LABELS["16-34"]) == "im Alter von 16 bis 34 Jahren"
    assert view._age_phrase(AGE_LABELS["75+"]) == "ab 75 Jahren"


def _estimates(item="Q05"):
    rows = []
    for group, est, lo, hi in (("Frauen", 0.287, 0.23, 0.353), ("Männer", 0.111, 0.072, 0.169)):
        rows.append({"item": item, "kind": "collapsed", "group_var": "Q_sex", "group": group, "estimate": est,
                     "lower": lo, "upper": hi, "suppressed": False})
    return pd.DataFrame(rows)


def test_rao_scott_sentence_gives_both_sexes_with_intervals(shown):
    result = SimpleNamespace(tests={"night_unsafe_by_sex": {"p_value": 0.0001, "statistic": 16.6, "item": "Q05"}},
                             breakdowns={"sex": "Q_sex"}, estimates=_estimates())
    view.show_night_safety_test(result)
    text = shown[0][1]
    assert "Frauen 28,7 % (95-%-Bereich 23,0–35,3 %)" in text
    assert "Männern 11,1 % (95-%-Bereich 7,2–16,9 %)" in text


def test_low_cronbach_alpha_gets_a_caveat(shown):
    scales = pd.DataFrame({"label": ["Beeinträchtigung", "Probleme"], "items": [4, 10], "index_mean": [1.4, 2.0],
                           "index_lower": [1.3, 1.9], "index_upper": [1.5, 2.1], "scale_min": [1, 1],
                           "scale_max": [4, 4], "high_is_negative": [True, True], "n_complete": [300, 260],
                           "alpha": [0.65, 0.81]})
    view.show_scales(SimpleNamespace(scales=scales))
    notes = [t[1] for t in shown if t[0] == "note"]
    assert len(notes) == 1 and "„Beeinträchtigung“ (0,65)" in notes[0] and "Probleme" not in notes[0]


# --- the settings reach the weighting in stage 2 ------------------------------------


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    import yaml

    from kit.demo import generate_demo
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.results import ResultStore

    root = tmp_path_factory.mktemp("margins")
    generate_demo(root / "data", communes=["muldenau"])
    raw = yaml.safe_load((REPO_ROOT / "params" / "muldenau.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(root / "data" / "muldenau")

    def params(**weighting):
        r = {**raw, "survey": {**raw.get("survey", {}), "weighting": {**raw.get("survey", {}).get("weighting", {}),
                                                                      **weighting}}}
        path = root / "muldenau.yaml"
        path.write_text(yaml.safe_dump(r, allow_unicode=True), encoding="utf-8")
        return load_params(path)

    store = ResultStore(root / "output", "muldenau")
    inputs = load_profile_inputs(params())
    write_profile(compute_profile(inputs), store, inputs)
    return params, store


def test_stage2_reports_or_refuses_a_margin_miss_as_the_params_say(stage1):
    from kit.errors import KitError
    from kit.survey.stage import compute_survey, survey_meta

    params, store = stage1
    tight = {"trim_lower": 0.9, "trim_upper": 1.1, "margin_tolerance": 0.005}
    public = compute_survey(params(**tight), store).public
    cells = public.weighting["margin_miss_cells"]
    assert cells and public.weighting["margin_tolerance"] == 0.005
    assert survey_meta(public)["weighting"]["margin_miss_cells"] == cells
    assert "margin_misses" not in public.weighting  # the shares stay in the disclosure-controlled table
    with pytest.raises(KitError, match="on_margin_miss"):
        compute_survey(params(**tight, on_margin_miss="error"), store)
    assert compute_survey(params(), store).public.weighting["margin_miss_cells"] == []


def test_register_and_self_reported_district_are_explained(shown):
    """The response table counts districts by the register address, the respondents table by
    the answer in the questionnaire: the report says why the two differ (only when both exist)."""
    result, _ = _weighted()
    view.show_weighting(result)
    assert not any("Melderegister" in t[1] for t in shown if t[0] == "md")
    shown.clear()
    response = pd.DataFrame({"margin": ["gesamt", "district"], "category": ["gesamt", "01"],
                             "label": ["Gesamt", "Nord"], "issued": [100, 50], "returned": [40, 20],
                             "rate": [0.4, 0.4]})
    view.show_weighting(SimpleNamespace(**vars(result), response=response))
    texts = [t[1] for t in shown if t[0] == "md"]
    explained = [t for t in texts if "Melderegister" in t and "selbst angegeben" in t]
    assert len(explained) == 1
    # right after the district table, not after the age/sex one
    i = next(k for k, t in enumerate(shown) if t[0] == "md" and "Melderegister" in t[1])
    previous_table = [t for t in shown[:i] if t[0] == "table"][-1]
    assert "Stadtteil" in previous_table[2]
