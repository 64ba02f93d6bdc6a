"""Raking, trimming and Kish design effect, checked against values computed
independently: a closed-form 2x2 solution, IPF steps by hand in exact
fractions, and raking solved as minimum-KL calibration with scipy."""

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from kit.survey.weighting import (
    WeightingError,
    effective_n,
    kish_design_effect,
    rake,
    rake_with_trimming,
    trim_weights,
    weight_survey,
)

# --- a 2x2 case by hand --------------------------------------------------------
# Sample counts n_rc: (r0,c0)=20, (r0,c1)=30, (r1,c0)=35, (r1,c1)=15 (n = 100).
# Population margins: rows 600 / 400, columns 450 / 550 (total 1000).
# Raking keeps the sample odds ratio 20*15/(30*35) = 2/7 and fits both margins:
#   x11 (x11 - 50) = 2/7 (600 - x11)(450 - x11)  =>  x11^2 + 350 x11 - 108000 = 0
#   x11 = (-350 + sqrt(554500)) / 2 = 197.32378...
#   x12 = 600 - x11 = 402.67622, x21 = 450 - x11 = 252.67622, x22 = x11 - 50 = 147.32378
CELLS = {(0, 0): 20, (0, 1): 30, (1, 0): 35, (1, 1): 15}
ROWS = pd.Series({0: 600.0, 1: 400.0})
COLS = pd.Series({0: 450.0, 1: 550.0})
X11 = 197.32378  # by hand, 8 significant digits


def two_by_two():
    rows = [rc for rc, k in CELLS.items() for _ in range(k)]
    return pd.DataFrame(rows, columns=["r", "c"])


def test_two_by_two_closed_form():
    s = two_by_two()
    res = rake(s, {"r": ROWS, "c": COLS})
    assert res.converged and res.max_abs_margin_error < 1e-10
    expected_totals = {(0, 0): X11, (0, 1): 600 - X11, (1, 0): 450 - X11, (1, 1): X11 - 50}
    for (r, c), total in expected_totals.items():
        cell = res.weights[(s.r == r) & (s.c == c)]
        assert cell.sum() == pytest.approx(total, rel=1e-6)
        assert cell.nunique() == 1  # everybody in a cell gets the same weight
        assert cell.iloc[0] == pytest.approx(total / CELLS[(r, c)], rel=1e-6)
    assert res.weights.sum() == pytest.approx(1000, rel=1e-12)
    assert res.history == sorted(res.history, reverse=True)  # IPF error shrinks every sweep


def test_first_ipf_sweep_by_hand_in_fractions():
    # rows: 600/50 = 12 and 400/50 = 8; columns then: c0 = 20*12 + 35*8 = 520 -> x 450/520,
    # c1 = 30*12 + 15*8 = 480 -> x 550/480
    hand = {
        (0, 0): Fraction(12) * Fraction(450, 520),
        (0, 1): Fraction(12) * Fraction(550, 480),
        (1, 0): Fraction(8) * Fraction(450, 520),
        (1, 1): Fraction(8) * Fraction(550, 480),
    }
    s = two_by_two()
    res = rake(s, {"r": ROWS, "c": COLS}, max_iter=1)
    assert res.iterations == 1 and not res.converged
    for (r, c), w in hand.items():
        got = res.weights[(s.r == r) & (s.c == c)]
        assert np.allclose(got, float(w), rtol=1e-12)


def synthetic_sample(n=400, seed=1):
    rng = np.random.default_rng(seed)
    age = rng.choice(["16-34", "35-54", "55-74", "75+"], size=n, p=[0.15, 0.25, 0.40, 0.20])
    sex = rng.choice(["m", "w"], size=n, p=[0.45, 0.55])
    district = rng.choice(["01", "02", "03"], size=n, p=[0.5, 0.3, 0.2])
    df = pd.DataFrame({"age_group": age, "sex": sex, "district_id": district},
                      index=[f"r{i}" for i in range(n)])
    df["age_sex"] = df["age_group"] + "_" + df["sex"]
    return df


AGE_SEX_POP = pd.Series({"16-34_m": 1400.0, "16-34_w": 1300.0, "35-54_m": 1600.0, "35-54_w": 1550.0,
                         "55-74_m": 1500.0, "55-74_w": 1650.0, "75+_m": 450.0, "75+_w": 750.0})
DISTRICT_POP = pd.Series({"01": 4000.0, "02": 3500.0, "03": 2700.0})  # sum 10200 = AGE_SEX_POP.sum()


def kl_calibration(sample, targets, d):
    """Independent solution: minimise sum w log(w/d) - w + d subject to the margins,
    via its convex dual F(lam) = sum d exp(X lam) - lam'T (trust-region Newton)."""
    cols, t = [], []
    for k, (col, target) in enumerate(targets.items()):
        cats = list(target.index) if k == 0 else list(target.index)[1:]  # drop one per extra margin
        for cat in cats:
            cols.append((sample[col] == cat).to_numpy(float))
            t.append(target[cat])
    X = np.column_stack(cols)
    total = targets[next(iter(targets))].sum()
    t = np.asarray(t) / total
    d = np.asarray(d, float) / np.sum(d)

    def f(lam):
        return np.sum(d * np.exp(X @ lam)) - lam @ t

    def g(lam):
        return X.T @ (d * np.exp(X @ lam)) - t

    def h(lam):
        return X.T @ ((d * np.exp(X @ lam))[:, None] * X)

    res = optimize.minimize(f, np.zeros(X.shape[1]), jac=g, hess=h, method="trust-exact",
                            options={"gtol": 1e-13})
    assert res.success
    return d * np.exp(X @ res.x) * total


def test_matches_minimum_kl_calibration_with_base_weights():
    s = synthetic_sample()
    base = np.random.default_rng(7).uniform(0.5, 2.0, len(s))
    targets = {"age_sex": AGE_SEX_POP, "district_id": DISTRICT_POP}
    res = rake(s, targets, base_weights=base)
    assert res.converged
    reference = kl_calibration(s, targets, base)
    assert np.allclose(res.weights.to_numpy(), reference, rtol=1e-6)
    # margins to 1e-6, computed here with groupby
    for col, target in targets.items():
        got = res.weights.groupby(s[col]).sum()
        assert np.allclose(got[target.index], target, rtol=1e-6)


def test_tuple_key_targets():
    s = synthetic_sample()
    tuple_target = AGE_SEX_POP.copy()
    tuple_target.index = pd.MultiIndex.from_tuples([tuple(k.split("_")) for k in AGE_SEX_POP.index])
    a = rake(s, {("age_group", "sex"): tuple_target, "district_id": DISTRICT_POP})
    b = rake(s, {"age_sex": AGE_SEX_POP, "district_id": DISTRICT_POP})
    assert np.allclose(a.weights, b.weights, rtol=1e-9)


def test_missing_values_form_their_own_unadjusted_category():
    s = synthetic_sample(200)
    s.loc[s.index[:20], "district_id"] = None  # 10 % missing
    res = rake(s, {"district_id": DISTRICT_POP})
    w = res.weights
    miss = s["district_id"].isna()
    # one margin, equal base weights: the missing group keeps its share of 10 %
    assert w[miss].sum() / w.sum() == pytest.approx(0.10, rel=1e-9)
    shares = w[~miss].groupby(s.loc[~miss, "district_id"]).sum() / w[~miss].sum()
    assert np.allclose(shares[DISTRICT_POP.index], DISTRICT_POP / DISTRICT_POP.sum(), rtol=1e-9)
    # with a second margin the non-missing still follow the population shares of both margins
    res2 = rake(s, {"age_sex": AGE_SEX_POP, "district_id": DISTRICT_POP})
    assert res2.converged
    w2 = res2.weights
    assert np.allclose(w2.groupby(s["age_sex"]).sum()[AGE_SEX_POP.index], AGE_SEX_POP, rtol=1e-6)
    shares2 = w2[~miss].groupby(s.loc[~miss, "district_id"]).sum() / w2[~miss].sum()
    assert np.allclose(shares2[DISTRICT_POP.index], DISTRICT_POP / DISTRICT_POP.sum(), rtol=1e-6)
    assert w2.sum() == pytest.approx(AGE_SEX_POP.sum())


def test_rake_errors():
    s = two_by_two()
    with pytest.raises(WeightingError, match="dieselbe Summe"):
        rake(s, {"r": ROWS, "c": COLS * 2})
    with pytest.raises(WeightingError, match="keine Befragten"):
        rake(s, {"r": pd.Series({0: 500.0, 1: 400.0, 2: 100.0}), "c": COLS})
    with pytest.raises(WeightingError, match="ohne Sollwert"):
        rake(s, {"r": pd.Series({0: 1000.0})})
    with pytest.raises(WeightingError, match="fehlen"):
        rake(s, {"x": ROWS})


def test_kish_design_effect_by_hand():
    w = [1, 1, 2, 4]  # n=4, sum 8, sum of squares 22
    assert kish_design_effect(w) == pytest.approx(4 * 22 / 64)
    assert effective_n(w) == pytest.approx(64 / 22)
    assert kish_design_effect([3, 3, 3]) == pytest.approx(1.0)


def test_trim_weights_by_hand():
    # mean 2, bounds 1..4: 6 -> 4 and the four others share the rest: (10 - 4) / 4 = 1.5
    got = trim_weights(pd.Series([1.0, 1, 1, 1, 6]), 0.5, 2.0)
    assert np.allclose(got, [1.5, 1.5, 1.5, 1.5, 4.0])
    # mean 1, bounds 0.5..2: 0.1 -> 0.5, the others x 3.5 / 3.9
    got = trim_weights(pd.Series([0.1, 1.0, 1.0, 1.9]), 0.5, 2.0)
    assert np.allclose(got, [0.5, 3.5 / 3.9, 3.5 / 3.9, 1.9 * 3.5 / 3.9])
    with pytest.raises(WeightingError):
        trim_weights(pd.Series([1.0, 2.0]), 1.5, 3.0)


def test_rake_with_trimming_reports_honestly():
    s = synthetic_sample(300, seed=3)
    # make young men rare so that their weights get large
    young_m = s.index[s["age_sex"] == "16-34_m"]
    s = s.drop(young_m[3:])
    targets = {"age_sex": AGE_SEX_POP, "district_id": DISTRICT_POP}
    plain = rake(s, targets).weights
    assert plain.max() / plain.mean() > 3  # the untrimmed weights break the bound
    res = rake_with_trimming(s, targets, lower=0.3, upper=3.0)
    w = res.weights
    assert w.sum() == pytest.approx(AGE_SEX_POP.sum())
    assert res.within_bounds
    assert w.max() <= 3.0 * w.mean() * (1 + 1e-9) and w.min() >= 0.3 * w.mean() * (1 - 1e-9)
    errors = [np.max(np.abs(w.groupby(s[c]).sum()[t.index] - t) / t) for c, t in targets.items()]
    assert res.max_abs_margin_error == pytest.approx(max(errors), rel=1e-6, abs=1e-12)
    assert res.margins_hold == (max(errors) <= 1e-6)


# --- weight_survey ---------------------------------------------------------------


def population_table():
    rows = []
    district_factor = {"01": 1.0, "02": 0.8, "03": 0.6, "04": 0.1}
    for d, f in district_factor.items():
        for key, total in AGE_SEX_POP.items():
            age, sex = key.split("_")
            rows.append({"district_id": d, "age_group": age, "sex": sex, "population": round(total * f / 2.5)})
    return pd.DataFrame(rows)


def clean_sample():
    s = synthetic_sample(300, seed=11)
    s = s[s["age_sex"] != "75+_m"].copy()  # no old men answered: merged with 55-74 men
    s.loc[s.index[0], "sex"] = np.nan  # divers -> missing on the age x sex margin
    return s.drop(columns="age_sex")


def test_weight_survey_fits_population_margins():
    clean = clean_sample()
    pop = population_table()
    weights, report = weight_survey(clean, pop)
    total = pop["population"].sum()
    assert weights.sum() == pytest.approx(total)
    assert weights.index.equals(clean.index)
    assert report["converged"]
    # age x sex, with 55-74 and 75+ men merged, among respondents with known sex
    known = clean["sex"].notna()
    key = (clean["age_group"] + "_" + clean["sex"]).where(known)
    key = key.replace({"55-74_m": "55+_m", "75+_m": "55+_m"})
    pop_key = (pop["age_group"] + "_" + pop["sex"]).replace({"55-74_m": "55+_m", "75+_m": "55+_m"})
    pop_share = pop.groupby(pop_key)["population"].sum() / total
    got = weights[known].groupby(key[known]).sum() / weights[known].sum()
    assert np.allclose(got[pop_share.index], pop_share, rtol=1e-6)
    # district 04 has no respondents: its population is spread over 01-03
    d_pop = pop[pop.district_id != "04"].groupby("district_id")["population"].sum()
    got_d = weights.groupby(clean["district_id"]).sum() / total
    assert np.allclose(got_d[d_pop.index], d_pop / d_pop.sum(), rtol=1e-6)
    assert weights.iloc[0] > 0  # the respondent with missing sex keeps a weight
    # report
    assert report["deff"] == pytest.approx(len(weights) * np.sum(weights**2) / total**2)
    assert report["n_eff"] == pytest.approx(total**2 / np.sum(weights**2))
    assert {tuple(e["categories"]) for e in report["empty_categories"]} == {("55-74_m", "75+_m"), ("04",)}
    # codes, no wording (numbers before words); the German note is kit.survey.view.empty_category_note
    by_margin = {e["margin"]: e for e in report["empty_categories"]}
    assert by_margin["age_sex"]["action"] == "merged" and by_margin["age_sex"]["merged_into"] == "55+_m"
    assert by_margin["district"]["action"] == "spread" and "merged_into" not in by_margin["district"]
    assert report["method"] == "raking"
    from kit.survey.view import empty_category_note

    assert empty_category_note(by_margin["age_sex"]) == ("Gewichtung: 55-74_m, 75+_m – zusammengefasst zu 55+_m "
                                                         "(keine Befragten).")
    assert empty_category_note(by_margin["district"]) == ("Gewichtung: 04 – ohne Befragte: Einwohner anteilig auf "
                                                          "die übrigen Kategorien verteilt.")
    svp = report["sample_vs_population"].set_index(["margin", "category"])
    assert svp.loc[("district", "01"), "sample_n"] == (clean["district_id"] == "01").sum()
    assert svp.loc[("age_sex", "fehlend"), "sample_n"] == 1
    assert svp.loc[("age_sex", "16-34_w"), "population_share"] == pytest.approx(pop_share["16-34_w"])
    assert svp.loc[("age_sex", "16-34_w"), "weighted_share"] == pytest.approx(pop_share["16-34_w"], rel=1e-6)


def test_weight_survey_with_trimming_and_separate_margins():
    clean = clean_sample()
    weights, report = weight_survey(clean, population_table(), margins=["age_group", "sex", "district"],
                                    trim_lower=0.5, trim_upper=2.0)
    t = report["trimming"]
    assert t["within_bounds"]
    assert weights.max() <= 2.0 * weights.mean() * (1 + 1e-9)
    assert isinstance(t["margins_hold"], bool)


def test_weight_survey_rejects_unknown_district():
    clean = clean_sample()
    clean.loc[clean.index[1], "district_id"] = "99"
    with pytest.raises(WeightingError, match="99"):
        weight_survey(clean, population_table())


# --- trimming that leaves a margin off --------------------------------------------
# 300 respondents, only 3 women aged 75+, who are 22,2 % of the population: with
# weights capped at 3 x the mean their weighted share can reach at most 3 * 3 / 300 = 3 %.

MISS_POP = {"16-34_m": 120, "16-34_w": 110, "35-54_m": 160, "35-54_w": 150, "55-74_m": 130,
            "55-74_w": 140, "75+_m": 52, "75+_w": 222}  # sum 1084; 75+_w: 222/1084 = 20,5 %


def miss_case():
    rng = np.random.default_rng(5)
    counts = {"16-34_m": 40, "16-34_w": 45, "35-54_m": 55, "35-54_w": 60, "55-74_m": 45, "55-74_w": 42,
              "75+_m": 10, "75+_w": 3}
    rows = [k.split("_") for k, n in counts.items() for _ in range(n)]
    clean = pd.DataFrame(rows, columns=["age_group", "sex"])
    clean["district_id"] = rng.choice(["01", "02"], size=len(clean))
    pop = pd.DataFrame([{"district_id": d, "age_group": k.split("_")[0], "sex": k.split("_")[1],
                         "population": v * (0.6 if d == "01" else 0.4)}
                        for k, v in MISS_POP.items() for d in ("01", "02")])
    return clean, pop


def recomputed_misses(clean, pop, weights, tolerance):
    """Margin cells off by more than ``tolerance``, from the weights with plain pandas."""
    out = {}
    for margin, cols in (("age_sex", ["age_group", "sex"]), ("district", ["district_id"])):
        key = clean[cols].astype(str).agg("_".join, axis=1)
        pkey = pop[cols].astype(str).agg("_".join, axis=1)
        got = weights.groupby(key).sum() / weights.sum()
        want = pop.groupby(pkey)["population"].sum() / pop["population"].sum()
        for cat in want.index:
            if abs(got.get(cat, 0.0) - want[cat]) > tolerance:
                out[(margin, cat)] = (float(got.get(cat, 0.0)), float(want[cat]))
    return out


def test_trimming_that_leaves_a_margin_off_is_reported():
    clean, pop = miss_case()
    weights, report = weight_survey(clean, pop, trim_lower=0.3, trim_upper=3.0, margin_tolerance=0.01)
    assert report["trimming"]["within_bounds"]
    expected = recomputed_misses(clean, pop, weights, 0.01)
    assert ("age_sex", "75+_w") in expected
    got_w, want = expected[("age_sex", "75+_w")]
    assert got_w <= 0.03 + 1e-9 and want == pytest.approx(222 / 1084)
    misses = {(m["margin"], m["category"]): m for m in report["margin_misses"]}
    assert set(misses) == set(expected)
    for key, (w_share, p_share) in expected.items():
        assert misses[key]["weighted_share"] == pytest.approx(w_share, abs=1e-12)
        assert misses[key]["population_share"] == pytest.approx(p_share, abs=1e-12)
        assert misses[key]["deviation"] == pytest.approx(w_share - p_share, abs=1e-12)
    assert report["margin_miss_cells"] == [{"margin": m, "category": c} for m, c in misses]
    assert report["margin_tolerance"] == 0.01
    for m in report["margin_misses"]:  # numbers and codes only
        assert all(isinstance(v, (str, float)) for v in m.values())


def test_margin_miss_within_a_wide_tolerance_and_without_trimming_is_not_reported():
    clean, pop = miss_case()
    weights, report = weight_survey(clean, pop, trim_lower=0.3, trim_upper=3.0, margin_tolerance=0.2)
    assert report["margin_misses"] == [] == list(recomputed_misses(clean, pop, weights, 0.2))
    _, untrimmed = weight_survey(clean, pop)
    assert untrimmed["margin_misses"] == [] and untrimmed["margin_miss_cells"] == []


def test_margin_miss_is_an_error_when_params_say_so():
    clean, pop = miss_case()
    with pytest.raises(WeightingError) as info:
        weight_survey(clean, pop, trim_lower=0.3, trim_upper=3.0, on_margin_miss="error")
    message = str(info.value)
    assert "75+_w" in message and "gewichtet" in message and "20,5 %" in message
    assert "on_margin_miss" in message
    # no miss: the error mode lets the weights through
    weight_survey(clean, pop, on_margin_miss="error")


@pytest.mark.parametrize("kwargs", [{"margin_tolerance": 0}, {"margin_tolerance": 0.3},
                                    {"margin_tolerance": float("nan")}, {"on_margin_miss": "ignore"}])
def test_weight_survey_refuses_invalid_miss_settings(kwargs):
    clean, pop = miss_case()
    with pytest.raises(WeightingError, match="ungültig"):
        weight_survey(clean, pop, **kwargs)


@pytest.mark.parametrize("kwargs, word", [
    ({"max_iter": 0}, "max_iter"), ({"max_iter": -3}, "max_iter"), ({"max_iter": 2.5}, "max_iter"),
    ({"tol": 0}, "Toleranz"), ({"tol": -1e-9}, "Toleranz"), ({"tol": float("nan")}, "Toleranz"),
])
def test_invalid_iteration_settings_are_refused_in_german(kwargs, word):
    sample = two_by_two()
    targets = {"r": ROWS, "c": COLS}
    for call in (lambda: rake(sample, targets, **kwargs),
                 lambda: rake_with_trimming(sample, targets, 0.5, 2.0, **kwargs)):
        with pytest.raises(WeightingError, match=word) as info:
            call()
        assert "ungültig" in str(info.value) and "erlaubt" in str(info.value)
    clean, pop = miss_case()
    with pytest.raises(WeightingError, match=word):
        weight_survey(clean, pop, **kwargs)


def test_one_iteration_is_allowed():
    result = rake(two_by_two(), {"r": ROWS, "c": COLS}, max_iter=1)
    assert result.iterations == 1 and len(result.history) == 1 and not result.converged


def test_sample_vs_population_shares_of_known_values_add_to_one():
    clean = clean_sample()
    _, report = weight_survey(clean, population_table())
    svp = report["sample_vs_population"]
    known = svp[svp["category"] != "fehlend"]
    for col in ("sample_share", "population_share", "weighted_share"):
        assert known.groupby("margin")[col].sum().to_numpy() == pytest.approx(1.0)
