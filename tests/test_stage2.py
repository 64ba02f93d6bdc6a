"""Stage 2 glue: response rates, key indicators, disclosure of everything shown,
the interactive explorer. Values are recomputed here independently (numpy)."""

from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.params import REPO_ROOT, load_params
from kit.demo import generate_demo
from kit.errors import InputError, KitError
from kit.profile.inputs import load_profile_inputs
from kit.results import ResultStore
from kit.profile.stage import compute_profile, write_profile
from kit.disclosure import DisclosurePolicy
from kit.survey.stage import (PublicSurveyResult, compute_survey, explore, negative_codes, read_sample,
                              response_rates, survey_key_indicators, write_survey)

POLICY = DisclosurePolicy(min_cell=5, min_base=30)


@pytest.fixture(scope="module")
def muldenau(tmp_path_factory):
    root = tmp_path_factory.mktemp("s2")
    generate_demo(root / "data", communes=["muldenau"])
    raw = yaml.safe_load((REPO_ROOT / "params" / "muldenau.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(root / "data" / "muldenau")
    params_file = root / "muldenau.yaml"
    params_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    params = load_params(params_file)
    store = ResultStore(root / "output", "muldenau")
    inputs = load_profile_inputs(params)
    write_profile(compute_profile(inputs), store, inputs)
    result = compute_survey(params, store)
    write_survey(result.public, store)
    return {"root": root, "params": params, "store": store, "result": result}


def test_response_rates_by_hand_with_small_counts_blanked():
    sample = pd.DataFrame({
        "district_id": ["1", "1", "2", "2"], "age_group": ["16-34", "75+", "16-34", "75+"],
        "sex": ["m", "w", "w", "m"], "issued": [100, 50, 20, 30], "returned": [30, 25, 3, 12]})
    rr = response_rates(sample, {"1": "Nord", "2": "Süd"}, POLICY).set_index(["margin", "category"])
    assert rr.loc[("gesamt", ""), "rate"] == pytest.approx(70 / 200)
    assert rr.loc[("district", "1"), "rate"] == pytest.approx(55 / 150)
    assert rr.loc[("district", "2"), "rate"] == pytest.approx(15 / 50)
    assert rr.loc[("age_group", "16-34"), "rate"] == pytest.approx(33 / 120)
    assert rr.loc[("sex", "w"), "rate"] == pytest.approx(28 / 70)
    assert rr.loc[("district", "2"), "label"] == "Süd"
    # no group with fewer than 5 returns in this sample except the cell, which is never shown alone
    assert not rr["returned"].isna().any()
    tiny = response_rates(sample.assign(returned=[30, 25, 3, 1]), {"1": "Nord", "2": "Süd"}, POLICY)
    tiny = tiny.set_index(["margin", "category"])
    row = tiny.loc[("district", "2")]
    assert pd.isna(row["returned"]) and pd.isna(row["rate"])
    # total 59 minus district 1 (55) would give district 2 back: district 1 is hidden too
    assert pd.isna(tiny.loc[("district", "1"), "returned"]) and tiny.loc[("gesamt", ""), "returned"] == 59
    assert not tiny.loc["age_group", "returned"].isna().any()  # 33 and 26: nothing to protect


def test_sample_file_with_more_returns_than_issued_is_rejected(tmp_path):
    path = tmp_path / "sample.csv"
    path.write_text("district_id;age_group;sex;issued;returned\n1;16-34;m;10;4\n1;75+;w;10;12\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_sample(path, {"1": "Nord"})
    text = str(err.value)
    assert "sample.csv" in text and "returned" in text and "12" in text and "3" in text


def test_negative_end_of_ordered_scales(muldenau):
    cb = muldenau["result"].codebook
    assert negative_codes(cb.items["Q05"]) == [3, 4]  # eher/sehr unsicher
    assert negative_codes(cb.items["Q03"]) == [3]  # verschlechtert (3 categories)
    assert negative_codes(cb.items["Q11"]) is None  # ja/nein, unordered
    assert negative_codes(cb.items["Q24_01"]) is None  # multi


def _share(values: pd.Series, weights: pd.Series, codes) -> tuple[float, int, int, float]:
    valid = values.notna().to_numpy()
    y = values.isin(codes).to_numpy()[valid]
    w = weights.to_numpy()[valid]
    p = float(np.sum(w * y) / np.sum(w))
    n_eff = w.sum() ** 2 / np.sum(w ** 2)
    return p, int(valid.sum()), int(y.sum()), n_eff


def _wilson(p, n, z=1.959963984540054):
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def _design_korn_graubard(data, w, hit, valid, population):
    """Independent design-based interval for the demo design (stratified by district,
    fpc with stage 1's population, calibration residuals on age x sex and district,
    Korn-Graubard): numpy least squares and the textbook stratified formula."""
    w = np.asarray(w, dtype=float)
    d = valid.astype(float)
    p = np.sum(w * d * hit) / np.sum(w * d)
    u = d * (hit - p) / np.sum(w * d)
    age_sex = (data["age_group"].astype(str) + "_" + data["sex"].astype(str)).where(
        data["age_group"].notna() & data["sex"].notna())
    cols = [np.ones(len(u))]
    for key in (age_sex, data["district_id"].astype(str).where(data["district_id"].notna())):
        cols += [(key == c).to_numpy(dtype=float) for c in sorted(key.dropna().unique())]
    X = np.column_stack(cols)
    sw = np.sqrt(w)
    b = np.linalg.lstsq(X * sw[:, None], u * sw, rcond=None)[0]
    z = pd.Series(w * (u - X @ b), index=data.index)
    N = population.groupby(population["district_id"].astype(str))["population"].sum()
    # respondents without a district form a stratum of their own, without fpc
    stratum = data["district_id"].astype(object).where(data["district_id"].notna(), "fehlend").astype(str)
    var = 0.0
    for h, zh in z.groupby(stratum):
        n_h = len(zh)
        f = n_h / N[h] if h in N.index else 0.0
        var += (1 - f) * n_h / (n_h - 1) * float(np.sum((zh - zh.mean()) ** 2))
    n = int(valid.sum())
    df = n - stratum[valid].nunique()
    from scipy import stats
    n_star = p * (1 - p) / var * (stats.t.ppf(0.975, n - 1) / stats.t.ppf(0.975, df)) ** 2
    return (stats.beta.ppf(0.025, n_star * p, n_star * (1 - p) + 1),
            stats.beta.ppf(0.975, n_star * p + 1, n_star * (1 - p)), n_star)


def test_key_indicators_match_an_independent_computation(muldenau):
    res = muldenau["result"]
    data, w = res.clean.data, res.weights.reindex(res.clean.data.index)
    key = res.key_indicators.set_index("indicator")
    p, _, _, n_eff = _share(data["Q05"], w, [3.0, 4.0])
    assert key.loc["survey.unsafe_night", "value"] == pytest.approx(p, rel=1e-12)
    # the demo's design (params: stratified by district): design-based interval, not Wilson on Kish's n
    population = muldenau["store"].read_table("population_margins", dtype={"district_id": str})
    valid = data["Q05"].notna().to_numpy()
    hit = data["Q05"].isin([3.0, 4.0]).to_numpy(dtype=float)
    lo, hi, n_star = _design_korn_graubard(data, w, hit, valid, population)
    assert key.loc["survey.unsafe_night", "lower"] == pytest.approx(lo, rel=1e-9)
    assert key.loc["survey.unsafe_night", "upper"] == pytest.approx(hi, rel=1e-9)
    assert (lo, hi) != pytest.approx(_wilson(p, n_eff), rel=1e-3)
    women = data["sex"] == "w"
    pw, *_ = _share(data.loc[women, "Q05"], w[women], [3.0, 4.0])
    assert key.loc["survey.unsafe_night_women", "value"] == pytest.approx(pw, rel=1e-12)
    # index indicator: mean of the Q21 items (at least 3 of 5 answered) above 2.5
    block = data[[f"Q21_0{i}" for i in range(1, 6)]].astype(float)
    idx = block.mean(axis=1).where(block.notna().sum(axis=1) >= 3)
    valid = idx.notna()
    pc = float(np.sum(w[valid] * (idx[valid] > 2.5)) / np.sum(w[valid]))
    assert key.loc["survey.low_cohesion", "value"] == pytest.approx(pc, rel=1e-12)
    assert set(key["unit"]) == {"Anteil"}


def test_key_indicator_on_a_tiny_group_is_suppressed(muldenau):
    res = muldenau["result"]
    spec = [{"id": "x", "label": "divers, nachts unsicher", "item": "Q05", "codes": [3, 4], "group": {"Q51": 3}}]
    out = survey_key_indicators(res.clean.data, res.weights, spec, 0.95, POLICY)
    assert out["value"].isna().all() and out["lower"].isna().all()
    # the same definition on the whole sample is shown
    spec[0].pop("group")
    out = survey_key_indicators(res.clean.data, res.weights, spec, 0.95, POLICY)
    assert out["value"].notna().all()


def test_unknown_key_indicator_item_is_a_clear_error(muldenau):
    res = muldenau["result"]
    with pytest.raises(KitError, match="Q99"):
        survey_key_indicators(res.clean.data, res.weights,
                              [{"id": "x", "label": "x", "item": "Q99", "codes": [1]}], 0.95, POLICY)


def _check_disclosed(df: pd.DataFrame, min_cell=5, min_base=30):
    shown = df[~df["suppressed"].astype(bool)]
    assert shown["estimate"].notna().all()
    assert (shown["n_unweighted"].astype(float) >= min_base).all()
    props = shown[shown["kind"] != "mean"]
    assert (props["n_cell"].astype(float) >= min_cell).all()
    hidden = df[df["suppressed"].astype(bool)]
    assert hidden["estimate"].isna().all() and hidden["lower"].isna().all()


def test_written_estimates_are_disclosure_controlled(muldenau):
    written = muldenau["store"].read_table("survey_estimates")
    _check_disclosed(written)
    # the unsuppressed estimates do contain small cells: suppression did something
    raw = muldenau["result"].estimates
    assert ((raw["n_cell"].astype(float) < 5) & (raw["kind"] != "mean")).any()
    assert written["suppressed"].any()


def test_explorer_by_any_item_is_disclosure_controlled(muldenau):
    res = muldenau["result"]
    by_sex_item = explore(res, "Q05", "Q51")  # includes "divers": a tiny group
    _check_disclosed(by_sex_item)
    divers = by_sex_item[by_sex_item["group"] == "divers"]
    assert len(divers) and divers["suppressed"].all()
    by_age = explore(res, "Q24", "age_group")
    _check_disclosed(by_age)
    assert set(by_age["group"]) >= {"Gesamt", "16-34", "75+"}
    with pytest.raises(KitError):
        explore(res, "Q12", None)  # free text is never explored
    with pytest.raises(KitError):
        explore(res, "Q05", "Einkommen")


def test_explorer_widget_builds(muldenau):
    from kit.survey.view import explorer, explorer_choices

    result = muldenau["result"]
    questions, breakdowns = explorer_choices(result.public)
    assert ("Gesamt", None) in breakdowns and all(q != "Q12" for _, q in questions)
    box = explorer(result.public, result.explore)
    q_box, b_box, out = box.children
    b_box.value = "sex"  # triggers a recomputation; must not raise
    assert q_box.value == questions[0][1]


def test_meta_and_results_contain_no_microdata(muldenau):
    store, result = muldenau["store"], muldenau["result"]
    meta = store.read_json("survey_meta")
    assert meta["respondents"] == len(result.clean.data)
    assert meta["weighting"]["converged"] is True
    assert meta["privacy"] == {"min_cell": 5, "min_base_percent": 30}
    names = {p.name for p in store.dir.iterdir()}
    assert not any("weights" in n or "clean" in n.replace("cleaning_log", "") or "issues" in n for n in names)
    # microdata would be wide (one column per item) or carry respondent ids as a column
    items = set(result.codebook.items)
    for path in store.dir.glob("*.csv"):
        df = pd.read_csv(path, dtype=str)
        assert not (set(df.columns) & items), f"{path.name} has item columns"
        assert not ({"id", "respondent_id", "weight"} & set(df.columns)), f"{path.name} has row-level columns"


def test_missing_stage1_results_give_a_clear_error(muldenau, tmp_path):
    with pytest.raises(KitError, match="vorherige Stufe"):
        compute_survey(muldenau["params"], ResultStore(tmp_path, "muldenau"))


def test_missing_response_file_is_named(muldenau, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(muldenau["params"]["data_dir"], data)
    (data / "survey_responses.csv").unlink()
    params = dict(muldenau["params"])
    params["survey"] = dict(params["survey"], responses=str(data / "survey_responses.csv"))
    with pytest.raises(InputError, match="survey_responses.csv"):
        compute_survey(params, muldenau["store"])


def test_views_and_writers_get_only_the_public_part(muldenau, tmp_path):
    """The public part holds no microdata, weights or unsuppressed estimates."""
    public = muldenau["result"].public
    assert isinstance(public, PublicSurveyResult)
    for value in vars(public).values():
        assert not isinstance(value, pd.Series), "weights or a data column in the public part"
        if isinstance(value, pd.DataFrame):
            assert not (set(value.columns) & set(public.codebook.items)), "microdata in the public part"
    assert "missing_by_margin" not in public.weighting and "sample_vs_population" not in public.weighting
    with pytest.raises(TypeError):
        write_survey(muldenau["result"], ResultStore(tmp_path, "muldenau"))
    import inspect

    from kit.survey import view

    for name, fn in inspect.getmembers(view, inspect.isfunction):
        if fn.__module__ == view.__name__ and "result" in inspect.signature(fn).parameters:
            assert inspect.signature(fn).parameters["result"].annotation in ("PublicSurveyResult",
                                                                               PublicSurveyResult), name


# ---------------------------------------------------------------------------
# roles, not ids
# ---------------------------------------------------------------------------


def _rerun(muldenau, tmp_path, codebook_text: str, column_map: dict, replace_item: str | None = None):
    from kit.params import load_params

    data = tmp_path / "data"  # the codebook must lie inside data_dir
    shutil.copytree(muldenau["params"]["data_dir"], data)
    cb = data / "codebook.yaml"
    cb.write_text(codebook_text, encoding="utf-8")
    raw = yaml.safe_load((REPO_ROOT / "params" / "muldenau.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(data)
    survey = dict(raw.get("survey") or {})
    survey["codebook"] = str(cb)
    survey["column_map"] = column_map
    if replace_item:
        specs = yaml.safe_load((REPO_ROOT / "params" / "defaults.yaml").read_text(encoding="utf-8"))
        specs = specs["survey"]["key_indicators"]
        survey["key_indicators"] = [dict(s, item=replace_item) if s.get("item") == "Q05" else s for s in specs]
    raw["survey"] = survey
    path = tmp_path / "muldenau.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return compute_survey(load_params(path), muldenau["store"])


def test_night_safety_item_comes_from_the_codebook_role(muldenau, tmp_path):
    """A codebook that numbers the night-safety question N05 gets the same test on N05."""
    text = (REPO_ROOT / "data_schemas" / "survey_codebook.yaml").read_text(encoding="utf-8")
    assert "night_safety: Q05" in text
    res = _rerun(muldenau, tmp_path, text.replace("Q05", "N05"), {"Q05": "N05"}, replace_item="N05")
    assert res.public.night_item == "N05" and "N05" in res.clean.data.columns and "Q05" not in res.clean.data
    test = res.public.tests["night_unsafe_by_sex"]
    original = muldenau["result"].public.tests["night_unsafe_by_sex"]
    assert test["item"] == "N05" and original["item"] == "Q05"
    assert test["statistic"] == pytest.approx(original["statistic"], rel=1e-12)
    assert test["p_value"] == pytest.approx(original["p_value"], rel=1e-9)
    rows = res.public.estimates
    assert (rows["item"] == "N05").any() and not (rows["item"] == "Q05").any()


def test_missing_night_safety_role_skips_the_test_with_a_german_note(muldenau, tmp_path):
    from kit.survey.stage import NIGHT_ROLE_MISSING, survey_meta
    from kit.survey.view import note_text

    text = (REPO_ROOT / "data_schemas" / "survey_codebook.yaml").read_text(encoding="utf-8")
    res = _rerun(muldenau, tmp_path, re.sub(r"\n  night_safety: Q05[^\n]*", "", text), {})
    assert res.public.night_item is None
    assert "night_unsafe_by_sex" not in res.public.tests
    assert NIGHT_ROLE_MISSING in res.public.notes and survey_meta(res.public)["notes"] == ["night_role_missing"]
    assert "nachts" in note_text(NIGHT_ROLE_MISSING)  # the report's wording (kit.survey.view)


def test_night_safety_role_must_be_an_ordered_item(muldenau, tmp_path):
    text = (REPO_ROOT / "data_schemas" / "survey_codebook.yaml").read_text(encoding="utf-8")
    with pytest.raises(InputError, match="night_safety"):
        _rerun(muldenau, tmp_path, text.replace("night_safety: Q05", "night_safety: Q11"), {})


def test_key_indicators_are_controlled_with_the_cells_of_their_item(muldenau):
    """A key indicator is one more combination of its item's cells (same block), so
    it cannot give back a cell that the estimates hide."""
    est = muldenau["result"].estimates
    keys = est[est["kind"] == "key"].set_index("category_label")
    assert tuple(keys.loc["unsafe_night", ["item", "group_var", "group", "category"]]) == ("Q05", "", "Gesamt", "3+4")
    assert tuple(keys.loc["unsafe_night_women", ["item", "group_var", "group", "category"]]) == (
        "Q05", "sex", "Frauen", "3+4")
    block = est[(est["item"] == "Q05") & (est["group_var"] == "") & (est["kind"] != "key")]
    assert keys.loc["unsafe_night", "n_unweighted"] == block["n_unweighted"].iloc[0]
