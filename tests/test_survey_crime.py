"""Dark figure and crime vs. feeling of safety (issue 9, items 5 and 6): arithmetic by hand,
the offence mapping file, the district relation on simulations with known truth, the
'too few' path, disclosure of small victim counts, and the report text."""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from scipy import stats

from kit.disclosure import DisclosurePolicy
from kit.errors import InputError
from kit.params import REPO_ROOT
from kit.results import ResultStore
from kit.survey.codebook import load_codebook
from kit.survey.crime_fear import (battery_comparison, commune_relation, commune_row, district_rates,
                                   newcombe_difference, read_batch, read_district_crime, relate)
from kit.survey.dark_figure import dark_figure, load_offence_map, parse_keys
from kit.survey.estimates import estimate_survey, wilson_interval

POLICY = DisclosurePolicy(min_cell=5, min_base=30)
CODEBOOK = REPO_ROOT / "data_schemas" / "survey_codebook.yaml"


@functools.cache
def _codebook():
    return load_codebook(CODEBOOK, {"1": "Nord", "2": "Süd"})


@pytest.fixture(scope="module")
def codebook():
    return _codebook()


# ---------------------------------------------------------------------------
# the offence mapping file
# ---------------------------------------------------------------------------


def test_offence_mapping_file_is_valid(codebook):
    offences = load_offence_map()
    assert list(offences["offence"]) == ["theft", "bicycle", "burglary", "damage", "assault"]
    for o in offences.itertuples(index=False):
        for item in (o.victim_item, o.reported_item):
            it = codebook.items[item]
            assert it.type == "single" and o.yes_code in it.values, item
        assert o.note.strip()
        for _, key in parse_keys(o.bka_keys):
            assert re.fullmatch(r"[0-9*]{6}", key)
    # the keys used by the mapping exist in the demo's PKS (232300 Bedrohung is optional and named)
    from kit.demo import PKS_KEYS

    demo_keys = {k for k, _, _ in PKS_KEYS}
    used = {k for t in offences["bka_keys"] for _, k in parse_keys(t)}
    assert used - demo_keys == {"232300"}


def test_parse_keys_signs_and_errors():
    assert parse_keys("****00 - ***300 + 232300") == [(1, "****00"), (-1, "***300"), (1, "232300")]
    assert parse_keys("674000") == [(1, "674000")]
    for bad in ("", "67400", "674000 +", "674000 232300", "+ - 674000", "67a000"):
        with pytest.raises(ValueError):
            parse_keys(bad)


def test_bad_offence_file_names_line_column_and_value(tmp_path):
    text = (REPO_ROOT / "kit/survey/reference_data/dark_figure_offences.csv").read_text(encoding="utf-8")
    bad = text.replace("435*00,PKS: Wohnungseinbruchdiebstahl", "435X00,PKS: Wohnungseinbruchdiebstahl")
    assert bad != text
    path = tmp_path / "offences.csv"
    path.write_text(bad, encoding="utf-8")
    line = next(i + 1 for i, t in enumerate(bad.splitlines()) if "435X00" in t)
    with pytest.raises(InputError) as err:
        load_offence_map(path)
    msg = str(err.value)
    assert f"Zeile {line}" in msg and "bka_keys" in msg and "435X00" in msg


# ---------------------------------------------------------------------------
# dark-figure arithmetic
# ---------------------------------------------------------------------------

PKS = pd.DataFrame({  # stage-1 pks_cases rows: subject, year, count, base (residents)
    "subject": ["****00", "***300", "326000", "435*00", "674000", "220000"] * 2,
    "year": [2023] * 6 + [2024] * 6,
    "count": [900, 100, 200, 30, 400, 250, 1000, 120, 260, 40, 410, 260],
    "base": [50_000] * 6 + [51_000] * 6,
})


def _survey_data(n: int, victims: dict[str, int], reported: dict[str, int], seed: int = 3) -> tuple[pd.DataFrame, pd.Series]:
    """Q18_01..05 / Q19_01..05: the first victims[item] respondents are victims, of whom the
    first reported[item] reported; weights vary."""
    rng = np.random.default_rng(seed)
    data = {}
    for k in range(1, 6):
        v = victims.get(f"Q18_{k:02d}", 0)
        r = reported.get(f"Q18_{k:02d}", 0)
        q18 = np.where(np.arange(n) < v, 1.0, 2.0)
        q19 = np.where(np.arange(n) < r, 1.0, np.where(np.arange(n) < v, 2.0, np.nan))
        data[f"Q18_{k:02d}"] = q18
        data[f"Q19_{k:02d}"] = q19
    df = pd.DataFrame(data)
    w = pd.Series(rng.uniform(0.5, 2.0, n), index=df.index)
    return df, w


def _estimates(df, w, codebook):
    return POLICY.survey_estimates(estimate_survey(df, w, codebook, questions=["Q18", "Q19"]))


def test_dark_figure_arithmetic_by_hand(codebook):
    df, w = _survey_data(400, {"Q18_01": 60, "Q18_02": 45, "Q18_05": 40}, {"Q18_01": 20, "Q18_02": 30, "Q18_05": 12})
    est = _estimates(df, w, codebook)
    pop16 = 42_000
    out = dark_figure(est, PKS, pop16).set_index("offence")
    wv = w.to_numpy()
    for offence, item, cases in (("theft", "Q18_01", 1000 - 120 - 260 - 40), ("bicycle", "Q18_02", 120),
                                 ("assault", "Q18_05", 260)):
        r = out.loc[offence]
        y = (df[item] == 1).to_numpy()
        p = wv[y].sum() / wv.sum()
        assert r["prevalence"] == pytest.approx(p, rel=1e-12)
        rep = df[item.replace("Q18", "Q19")]
        victims = rep.notna().to_numpy()
        rate = wv[(rep == 1).to_numpy()].sum() / wv[victims].sum()
        assert r["reporting_rate"] == pytest.approx(rate, rel=1e-12)
        assert r["unreported_per_reported"] == pytest.approx((1 - rate) / rate)
        assert r["pks_year"] == 2024 and r["pks_cases"] == cases
        assert r["pks_per_1000"] == pytest.approx(cases / 51_000 * 1000)
        assert r["victims"] == pytest.approx(p * pop16)
        assert r["victims_per_1000_16plus"] == pytest.approx(1000 * p)
        assert r["ratio"] == pytest.approx(p * pop16 / cases)
        # intervals: those of the estimates module, scaled alike (whatever method it uses)
        row = est[(est["item"] == item) & (est["group_var"] == "") & (est["category"] == "1")].iloc[0]
        assert (r["prevalence_lower"], r["prevalence_upper"]) == (row["lower"], row["upper"])
        assert r["prevalence_lower"] < p < r["prevalence_upper"]
        assert r["ratio_lower"] == pytest.approx(row["lower"] * pop16 / cases)
        assert r["ratio_upper"] == pytest.approx(row["upper"] * pop16 / cases)
        assert r["unreported_lower"] == pytest.approx((1 - r["reporting_upper"]) / r["reporting_upper"])
    assert out.loc["assault", "keys_missing"] == "232300"  # Bedrohung not in this PKS: named
    assert out.loc["theft", "keys_used"] == "****00 -***300 -326000 -435*00"


def test_no_pks_leaves_the_survey_numbers(codebook):
    df, w = _survey_data(300, {"Q18_02": 40}, {"Q18_02": 20})
    out = dark_figure(_estimates(df, w, codebook), None, 30_000).set_index("offence")
    assert out.loc["bicycle", "prevalence"] > 0
    assert math.isnan(out.loc["bicycle", "pks_cases"]) and math.isnan(out.loc["bicycle", "ratio"])


@settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate))  # no slow shrinking
@given(n=st.integers(60, 400), k=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_a_small_victim_count_is_never_published(tmp_path_factory, n, k, seed):
    df, w = _survey_data(n, {"Q18_03": k, "Q18_02": 40}, {"Q18_03": min(k, 1), "Q18_02": 25}, seed=seed)
    out = dark_figure(_estimates(df, w, _codebook()), PKS, 30_000)
    store = ResultStore(tmp_path_factory.mktemp("df"), "x", stage="survey")
    store.write_table("survey_dark_figure", out)
    written = pd.read_csv(store.path("survey_dark_figure", ".csv")).set_index("offence")
    r = written.loc["burglary"]
    assert bool(r["prevalence_suppressed"]) and bool(r["reporting_suppressed"])
    for col in ("prevalence", "prevalence_lower", "prevalence_upper", "victims", "victims_lower", "ratio",
                "victims_per_1000_16plus", "reporting_rate", "reporting_n", "unreported_per_reported"):
        assert pd.isna(r[col]), col
    # nothing in the row gives k back: neither as a count nor as the weighted share of the base
    p_true = w[df["Q18_03"] == 1].sum() / w.sum()
    numbers = r.drop(["prevalence_suppressed", "reporting_suppressed"])
    for value in pd.to_numeric(numbers, errors="coerce").dropna():
        assert value != k
        assert not math.isclose(value, p_true, rel_tol=1e-9)
    assert written.loc["bicycle", "prevalence"] > 0  # the large count is published


# ---------------------------------------------------------------------------
# the relation of insecurity and crime rates
# ---------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1)), min_size=8, max_size=25), st.integers(0, 99))
def test_rho_is_spearmans(points, seed):
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return
    res = relate(x, y, np.full(len(x), 0.01), conf=0.95, min_units=8, n_perm=99, n_boot=50, seed=seed)
    assert res["rho"] == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)


def _district_sim(rng, n=18, slope=0.0):
    cases = rng.poisson(rng.lognormal(np.log(600), 0.5, n))
    population = rng.integers(6000, 20000, n).astype(float)
    rate = cases / population * 1000
    z = (np.log(rate) - np.log(rate).mean()) / np.log(rate).std()
    n_resp = rng.integers(50, 120, n)
    truth = np.clip(0.25 + slope * z, 0.02, 0.98)
    share = rng.binomial(n_resp, truth) / n_resp
    se = np.sqrt(np.clip(share * (1 - share), 0.01, None) / n_resp)
    return rate, share, se, cases, population


def test_planted_relation_is_recovered():
    rng = np.random.default_rng(7)
    hits = 0
    for i in range(40):
        rate, share, se, cases, pop = _district_sim(rng, slope=0.09)
        res = relate(rate, share, se, cases, pop, conf=0.95, min_units=8, n_perm=299, n_boot=300, seed=i)
        hits += res["verdict"] == "robust_positive"
    assert hits >= 32, hits  # power well above 80 % for this strong planted relation


def test_false_positive_rate_holds_by_simulation():
    """No relation planted: 'robust' in at most about 5 % of 300 simulated communes."""
    rng = np.random.default_rng(11)
    robust = 0
    sims = 300
    for i in range(sims):
        rate, share, se, cases, pop = _district_sim(rng, slope=0.0)
        res = relate(rate, share, se, cases, pop, conf=0.95, min_units=8, n_perm=199, n_boot=200, seed=i)
        robust += res["verdict"].startswith("robust")
    # 5 % plus 2.5 binomial standard errors
    assert robust / sims <= 0.05 + 2.5 * math.sqrt(0.05 * 0.95 / sims), robust


def test_too_few_units_give_no_correlation():
    res = relate([10.0, 20, 30], [0.1, 0.2, 0.3], [0.01] * 3, min_units=8)
    assert res["verdict"] == "too_few" and res["n_units"] == 3 and math.isnan(res["rho"])
    res = relate(np.arange(7.0), np.arange(7.0) / 10, np.full(7, 0.01), min_units=8)
    assert res["verdict"] == "too_few"


def _commune_files(root, ids):
    for i, c in enumerate(ids):
        key = pd.DataFrame({"indicator": ["survey.unsafe_night"], "value": [0.2 + 0.01 * i], "lower": [0.15 + 0.01 * i],
                            "upper": [0.25 + 0.01 * i]})
        prof = pd.DataFrame({"indicator": ["pks_hz"], "subject": ["000000"], "year": [2024], "value": [5000.0 + 300 * i],
                             "count": [500.0 + 30 * i], "base": [10_000.0]})
        row = commune_row(c, c.title(), key, prof)
        ResultStore(root, c, stage="survey").write_table("survey_crime_fear_commune", row)
    return row


def test_batch_of_three_communes_is_too_few(tmp_path):
    own = _commune_files(tmp_path, ["a", "b", "c"])
    rel, pts = commune_relation(read_batch(tmp_path, own), 0.95, 8)
    assert rel["verdict"].iloc[0] == "too_few" and rel["n_units"].iloc[0] == 3
    assert math.isnan(rel["rho"].iloc[0]) and len(pts) == 3


def test_batch_of_ten_communes_is_related(tmp_path):
    own = _commune_files(tmp_path, [f"k{i}" for i in range(10)])
    rel, _ = commune_relation(read_batch(tmp_path, own), 0.95, 8)
    assert rel["n_units"].iloc[0] == 10
    assert rel["rho"].iloc[0] == pytest.approx(1.0)  # planted: both rise together


def test_district_crime_file_errors_name_row_and_column(tmp_path):
    path = tmp_path / "kriminalitaet.csv"
    path.write_text("district_id;year;category;cases\n1;2024;Straftaten insgesamt;120\n2;2024;Straftaten insgesamt;-4\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_district_crime(path, {"1": "Nord", "2": "Süd"})
    msg = str(err.value)
    assert "Zeile 3" in msg and "cases" in msg and "-4" in msg
    path.write_text("district_id;year;category;cases\n9;2024;Straftaten insgesamt;12\n", encoding="utf-8")
    with pytest.raises(InputError, match="9"):
        read_district_crime(path, {"1": "Nord", "2": "Süd"})
    path.write_text("district_id;year;category;cases\n1;2023;X;10\n1;2024;X;12\n2;2024;X;30\n", encoding="utf-8")
    rates = district_rates(read_district_crime(path, {"1": "Nord", "2": "Süd"}),
                           pd.DataFrame({"district_id": ["1", "2"], "total": [4000, 6000]}))
    assert list(rates["rate"]) == [pytest.approx(3.0), pytest.approx(5.0)]  # latest year, per 1.000


# ---------------------------------------------------------------------------
# physical disorder vs groups of people
# ---------------------------------------------------------------------------


def test_newcombe_difference_textbook_example():
    """Newcombe (1998), Stat. Med. 17, 873-890, Table II (a): 56/70 - 48/80, method 10:
    0,0524 to 0,3339."""
    l1, u1 = wilson_interval(56 / 70, 70)
    l2, u2 = wilson_interval(48 / 80, 80)
    d, lo, hi = newcombe_difference(56 / 70, l1, u1, 48 / 80, l2, u2)
    assert d == pytest.approx(0.2)
    assert lo == pytest.approx(0.0524, abs=5e-5) and hi == pytest.approx(0.3339, abs=5e-5)


def test_battery_comparison_by_hand(codebook):
    rng = np.random.default_rng(5)
    n = 600
    q04 = {f"Q04_{k:02d}": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.5, 0.3, 0.15, 0.05]) for k in range(1, 11)}
    q10 = {f"Q10_{k:02d}": rng.choice([1.0, 2.0, 3.0, 4.0], n, p=[0.8, 0.15, 0.04, 0.01]) for k in range(1, 5)}
    df = pd.DataFrame({**q04, **q10})
    g = (df[list(q10)] >= 3).any(axis=1).to_numpy()
    df["Q05"] = np.where(rng.random(n) < np.where(g, 0.55, 0.2), rng.choice([3.0, 4.0], n), rng.choice([1.0, 2.0], n))
    df.loc[:9, "Q05"] = np.nan
    w = pd.Series(rng.uniform(0.5, 2, n))
    table, gap = battery_comparison(df, w, codebook, ["Q04", "Q10"], "Q05", POLICY, 0.95)
    t = table.set_index("battery")
    wv = w.to_numpy()
    for q, items in (("Q04", list(q04)), ("Q10", list(q10))):
        a = (df[items] >= 3).any(axis=1).to_numpy()
        assert t.loc[q, "affected"] == pytest.approx(wv[a].sum() / wv.sum())
        ok = df["Q05"].notna().to_numpy()
        uns = (df["Q05"] >= 3).to_numpy()
        p1 = wv[a & ok & uns].sum() / wv[a & ok].sum()
        p0 = wv[~a & ok & uns].sum() / wv[~a & ok].sum()
        assert t.loc[q, "unsafe_affected"] == pytest.approx(p1)
        assert t.loc[q, "unsafe_not_affected"] == pytest.approx(p0)
        assert t.loc[q, "difference"] == pytest.approx(p1 - p0)
        assert t.loc[q, "difference_lower"] < p1 - p0 < t.loc[q, "difference_upper"]
        assert t.loc[q, "index_mean"] == pytest.approx(np.sum(wv * df[items].mean(axis=1)) / wv.sum())
    a4 = (df[list(q04)] >= 3).any(axis=1).to_numpy().astype(float)
    a10 = (df[list(q10)] >= 3).any(axis=1).to_numpy().astype(float)
    assert gap["difference"] == pytest.approx(np.sum(wv * (a4 - a10)) / wv.sum())
    assert t.loc["Q10", "difference_lower"] > 0  # planted: the affected feel less safe


def test_battery_comparison_suppresses_small_groups(codebook):
    n = 200
    df = pd.DataFrame({**{f"Q04_{k:02d}": np.full(n, 1.0) for k in range(1, 11)},
                       **{f"Q10_{k:02d}": np.full(n, 1.0) for k in range(1, 5)}, "Q05": np.full(n, 2.0)})
    df.loc[:2, "Q10_01"] = 4.0  # three affected
    df.loc[:1, "Q05"] = 4.0
    table, gap = battery_comparison(df, pd.Series(np.ones(n)), codebook, ["Q04", "Q10"], "Q05", POLICY)
    r = table.set_index("battery").loc["Q10"]
    assert pd.isna(r["affected"]) and pd.isna(r["unsafe_affected"]) and pd.isna(r["difference"])
    assert gap == {}


# ---------------------------------------------------------------------------
# the stage and the report (muldenau: 5 districts, below min_units)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def muldenau(tmp_path_factory):
    from kit.demo import generate_demo
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.survey.stage import compute_survey, write_survey

    root = tmp_path_factory.mktemp("crime")
    generate_demo(root / "data", communes=["muldenau"])
    data = root / "data" / "muldenau"
    raw = yaml.safe_load((REPO_ROOT / "params" / "muldenau.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(data)
    params_file = root / "muldenau.yaml"
    params_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    params = load_params(params_file)
    store = ResultStore(root / "output", "muldenau", stage="survey")
    inputs = load_profile_inputs(params)
    write_profile(compute_profile(inputs), store, inputs)
    districts = store.read_table("districts", dtype=str)["district_id"].tolist()
    (data / "district_crime.csv").write_text(
        "district_id,year,category,cases\n" + "".join(f"{d},2024,Straftaten insgesamt,{40 + 7 * i}\n"
                                                      for i, d in enumerate(districts)), encoding="utf-8")
    raw["survey"]["district_crime"] = "district_crime.csv"
    params_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    params = load_params(params_file)
    result = compute_survey(params, store)
    write_survey(result.public, store)
    return {"store": store, "result": result, "params": params}


def test_stage_writes_the_results(muldenau):
    store = muldenau["store"]
    dark = store.read_table("survey_dark_figure")
    assert list(dark["offence"]) == ["theft", "bicycle", "burglary", "damage", "assault"]
    assert dark["pks_cases"].notna().all() and (dark["pks_year"] == 2024).all()
    rel = store.read_table("survey_crime_fear")
    # the commune-level relation needs every commune's stage 2: it is stage 3's (kit.recommend.action)
    assert set(rel["level"]) == {"district"}
    assert (rel["verdict"] == "too_few").all()  # 5 districts: below min_units 8
    assert rel["rho"].isna().all()
    assert store.read_table("survey_disorder_groups")["battery"].tolist() == ["Q04", "Q10"]
    assert store.exists("survey_crime_fear_commune")
    manifest = (store.dir / "manifest.json").read_text(encoding="utf-8")
    assert "survey_dark_figure.csv" in manifest and "survey_crime_fear.csv" in manifest


def test_written_dark_figure_has_no_small_counts(muldenau):
    """Every published prevalence rests on at least min_cell victims and a min_base base."""
    result = muldenau["result"]
    data, w = result.clean.data, result.weights
    dark = muldenau["store"].read_table("survey_dark_figure")
    for r in dark.itertuples(index=False):
        victims = int((data[r.victim_item] == 1).sum())
        if victims < 5:
            assert pd.isna(r.prevalence) and pd.isna(r.victims) and pd.isna(r.ratio)
        if pd.notna(r.reporting_rate):
            assert r.reporting_n >= 30


def _report_text(public) -> str:
    from kit import figures as plots
    from kit.survey import view_crime as vc

    out: list[str] = []
    saved = (vc.show_md, vc.show_note, vc.show_table, plots.show_figure)
    vc.show_md = out.append
    vc.show_note = out.append
    vc.show_table = lambda df, columns=None, caption=None: out.append(f"{caption}\n{df.to_string()}")

    def fig(f, source, **k):
        import matplotlib.pyplot as plt

        info = plots.figure_info(f)
        out.append(f"{info.title} {info.alt} {info.note} {source}")
        plt.close(f)

    plots.show_figure = fig
    try:
        vc.show_crime_fear(public)
        vc.show_dark_figure(public)
    finally:
        vc.show_md, vc.show_note, vc.show_table, plots.show_figure = saved
    return "\n".join(out)


def test_report_sections_read_without_nan(muldenau):
    text = _report_text(muldenau["result"].public)
    for bad in ("nan", "NaN", "None", "<NA>", "too_few", "robust_", "victim_item", "Q18", "_"):
        assert bad not in text, bad
    assert "nicht berechnet" in text  # too few districts: a sentence instead of a correlation
    assert "Opfer je erfasstem Fall" in text and "grobe Größenordnung" in text
    assert "Probleme in der Wohngegend" in text and "Beeinträchtigung durch Gruppen und Orte" in text
    b = muldenau["result"].public.crime_fear.batteries
    if (b["affected"].notna() & b["difference"].isna()).any():  # a group too small: a sentence, no number
        assert "in einer der beiden Gruppen nicht ausweisen" in text
    nb = (REPO_ROOT / "notebooks" / "2_survey.ipynb").read_text(encoding="utf-8")
    assert "## Kriminalität und Sicherheitsgefühl" in nb and "## Dunkelfeld und Anzeigeverhalten" in nb


def test_stage3_relates_crime_and_insecurity_across_all_communes_of_the_folder(tmp_path):
    """Stage 3 reads the row every commune's stage 2 published (after all of them ran) and relates
    HZ and insecurity over all of them, from any commune's point of view the same relation."""
    from kit.recommend.action import _crime_fear_across_communes
    from kit.results import ResultStore
    from kit.survey.crime_fear import COMMUNE_FILE

    rng = np.random.default_rng(3)
    ids = [f"k{i:02d}" for i in range(10)]
    hz = rng.uniform(3000, 9000, len(ids))
    unsafe = 0.1 + hz / 9000 * 0.3  # planted: strictly increasing with HZ
    for cid, h, u in zip(ids, hz, unsafe):
        row = pd.DataFrame([{"commune_id": cid, "name": cid.upper(), "category": "Straftaten insgesamt",
                             "year": 2024, "hz": h, "cases": h / 10, "population": 10000.0, "unsafe": u,
                             "unsafe_lower": u - 0.03, "unsafe_upper": u + 0.03}])
        ResultStore(tmp_path, cid, stage="survey").write_table(COMMUNE_FILE, row)
    params = {"survey": {"confidence": 0.95, "crime_fear": {"min_units": 8}}}
    seen = []
    for cid in (ids[0], ids[-1]):
        rel, pts, settings = _crime_fear_across_communes(params, ResultStore(tmp_path, cid, stage="recommend"))
        assert settings == (0.95, 8)
        assert rel["n_units"].iloc[0] == 10 and len(pts) == 10
        seen.append((rel["rho"].iloc[0], rel["verdict"].iloc[0]))
    assert seen[0] == seen[1]
    assert seen[0][0] == pytest.approx(stats.spearmanr(hz, unsafe).statistic)
    assert seen[0][1] == "robust_positive"
    # a commune without survey results: no relation
    rel, pts, _ = _crime_fear_across_communes(params, ResultStore(tmp_path, "ohne", stage="recommend"))
    assert rel is None and pts is None
