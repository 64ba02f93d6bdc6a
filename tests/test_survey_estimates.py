"""Weighted estimates: intervals against published and hand-computed values,
coverage by simulation, Rao-Scott against Pearson, Cronbach's alpha by hand."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kit.survey.codebook import load_codebook
from kit.survey.estimates import (
    TIDY_COLUMNS,
    collapse,
    cronbach_alpha,
    estimate_mean,
    estimate_question,
    estimate_survey,
    rao_scott_test,
    scale_index,
    weighted_mean_ci,
    wilson_interval,
)
from kit.survey.weighting import effective_n

FIX = Path(__file__).parent / "fixtures" / "survey"
DISTRICTS = {"01": "Altstadt", "02": "Neustadt", "03": "Südvorstadt"}


@pytest.fixture(scope="module")
def cb():
    return load_codebook(FIX / "codebook.yaml", DISTRICTS)


# --- intervals -----------------------------------------------------------------


@pytest.mark.parametrize(
    "x, n, lower, upper",
    [  # Newcombe (1998), Stat Med 17:857-872, Table I, method 3 (Wilson score, no continuity correction)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_against_published_values(x, n, lower, upper):
    lo, hi = wilson_interval(x / n, n)
    assert lo == pytest.approx(lower, abs=5e-5)
    assert hi == pytest.approx(upper, abs=5e-5)


def test_wilson_by_hand_and_vectorised():
    # p = 0.5, n = 96, z = 1.959964: centre 0.5; half = z*sqrt(0.25/96 + z^2/(4*96^2)) / (1 + z^2/96)
    #   = 1.959964 * sqrt(0.00260417 + 0.00010421) / 1.0400152 = 0.1020006 / 1.0400152 = 0.0980761
    lo, hi = wilson_interval(0.5, 96)
    assert (lo, hi) == pytest.approx((0.5 - 0.0980761, 0.5 + 0.0980761), abs=2e-6)
    lo, hi = wilson_interval(np.array([0.5, 0.2]), np.array([96, 0]))
    assert lo[0] == pytest.approx(0.5 - 0.0980761, abs=2e-6) and np.isnan(lo[1])


def test_mean_ci_equal_weights_is_the_t_interval():
    y = np.array([3.0, 7, 8, 5, 6, 9, 2, 4])
    res = weighted_mean_ci(y, np.full(8, 2.5))
    lo, hi = stats.t.interval(0.95, 7, loc=y.mean(), scale=stats.sem(y))
    assert res["estimate"] == pytest.approx(y.mean())
    assert (res["lower"], res["upper"]) == pytest.approx((lo, hi), rel=1e-10)


def test_mean_ci_unequal_weights_by_hand():
    # y = 1, 2, 4 with w = 1, 1, 2: mean = 11/4 = 2.75
    # var = 3/2 * (1.75^2 + 0.75^2 + 4 * 1.25^2) / 4^2 = 1.5 * 9.875 / 16 = 0.92578125
    # t(0.975, 2) = 4.302653
    res = weighted_mean_ci([1, 2, 4], [1, 1, 2])
    se = 0.92578125**0.5
    assert res["estimate"] == 2.75
    assert res["lower"] == pytest.approx(2.75 - 4.302653 * se, rel=1e-6)
    assert res["upper"] == pytest.approx(2.75 + 4.302653 * se, rel=1e-6)


def test_coverage_by_simulation():
    """Poisson samples with unequal inclusion probabilities from a fixed finite
    population; weights 1/pi. Wilson-on-n_eff and the linearised mean interval
    should cover the population values in about 95 % of samples."""
    rng = np.random.default_rng(2024)
    N = 20000
    grp = rng.choice(3, size=N, p=[0.5, 0.3, 0.2])
    pi = np.array([0.01, 0.025, 0.05])[grp]
    y = rng.random(N) < np.array([0.25, 0.35, 0.45])[grp]
    x = rng.normal(np.array([5.0, 6.0, 7.0])[grp], 2.0)
    P, M = y.mean(), x.mean()
    reps = 1000
    hit_p = hit_m = 0
    draw = np.random.default_rng(1)
    for _ in range(reps):
        s = draw.random(N) < pi
        w = 1 / pi[s]
        p = np.sum(w * y[s]) / w.sum()
        lo, hi = wilson_interval(p, effective_n(w))
        hit_p += lo <= P <= hi
        m = weighted_mean_ci(x[s], w)
        hit_m += m["lower"] <= M <= m["upper"]
    assert 0.92 <= hit_p / reps <= 0.975
    assert 0.92 <= hit_m / reps <= 0.975


# --- estimate_question --------------------------------------------------------------


def small_data():
    # hand-made cleaned data, 6 respondents, weights 1..6 (respondent f did not answer F01)
    return pd.DataFrame(
        {
            "sicher_nacht": [1, 1, 2, 3, 4, np.nan],
            "F03_1": [1, 0, np.nan, 1, 0, 1],
            "F03_2": [0, 1, np.nan, 1, 0, 0],
            "F03_3": [0, 0, np.nan, 0, 0, 1],
            "vertrauen": [5, 7, 9, np.nan, 3, 8],
            "geschlecht": [1, 2, 2, 1, 2, 3],
            "sex": ["m", "w", "w", "m", "w", np.nan],
        },
        index=pd.Index(list("abcdef"), name="id"),
    )


W = pd.Series([1.0, 2, 3, 4, 5, 6], index=list("abcdef"))


def test_single_distribution_by_hand(cb):
    t = estimate_question(small_data(), W, cb, "F01")
    assert list(t.columns) == TIDY_COLUMNS
    t = t.set_index("category")
    # base: a-e, weights 1+2+3+4+5 = 15; code 1: 3/15, 2: 3/15, 3: 4/15, 4: 5/15
    assert t["estimate"].tolist() == pytest.approx([3 / 15, 3 / 15, 4 / 15, 5 / 15])
    assert t["n_cell"].tolist() == [2, 1, 1, 1]
    assert (t["n_unweighted"] == 5).all() and (t["weighted_base"] == 15).all()
    neff = 15**2 / 55  # sum w^2 = 1+4+9+16+25
    assert t["n_eff"].iloc[0] == pytest.approx(neff)
    lo, hi = wilson_interval(0.2, neff)
    assert (t.loc["1", "lower"], t.loc["1", "upper"]) == pytest.approx((lo, hi))
    assert t.loc["4", "category_label"] == "sehr unsicher"
    assert (t["group"] == "Gesamt").all() and (t["group_var"] == "").all()


def test_multi_shares_of_those_who_answered(cb):
    t = estimate_question(small_data(), W, cb, "F03")
    t = t.set_index("item")
    # c did not answer: base a, b, d, e, f with weights 1+2+4+5+6 = 18
    assert t.loc["F03_1", "estimate"] == pytest.approx((1 + 4 + 6) / 18)
    assert t.loc["F03_2", "estimate"] == pytest.approx((2 + 4) / 18)
    assert t.loc["F03_3", "estimate"] == pytest.approx(6 / 18)
    assert t.loc["F03_1", "item_label"] == "Licht brennen lassen"
    assert (t["n_unweighted"] == 5).all() and (t["kind"] == "multi").all()


def test_numeric_mean_and_groups(cb):
    t = estimate_question(small_data(), W, cb, "F06", by="sex")
    overall = t[t["group"] == "Gesamt"].iloc[0]
    # a, b, c, e, f: (5*1 + 7*2 + 9*3 + 3*5 + 8*6) / 17 = 109 / 17
    assert overall["estimate"] == pytest.approx(109 / 17)
    assert overall["category_label"] == "Mittelwert" and overall["n_unweighted"] == 5
    men = t[t["group"] == "Männer"].iloc[0]  # a only (d has no answer)
    assert men["estimate"] == 5 and men["n_unweighted"] == 1 and np.isnan(men["lower"])
    women = t[t["group"] == "Frauen"].iloc[0]  # b, c, e
    assert women["estimate"] == pytest.approx((14 + 27 + 15) / 10)
    assert set(t["group_var"]) == {"", "sex"}


def test_groups_by_codebook_item_use_labels(cb):
    t = estimate_question(small_data(), W, cb, "F01", by="geschlecht")
    assert list(dict.fromkeys(t["group"])) == ["Gesamt", "männlich", "weiblich", "divers"]
    women = t[(t["group"] == "weiblich")].set_index("category")
    # b (w=2, code 1), c (3, code 2), e (5, code 4): base 10
    assert women["estimate"].tolist() == pytest.approx([0.2, 0.3, 0.0, 0.5])


def test_scale_battery_and_survey_wide(cb):
    data = small_data().assign(F02_SQ001=[1, 2, 3, 4, 1, 2], F02_SQ002=[1, 1, 1, 1, 1, np.nan],
                               F02_SQ003=[4, 4, 4, 4, 4, 4])
    t = estimate_question(data, None, cb, "F02")
    assert t["item"].unique().tolist() == ["F02_SQ001", "F02_SQ002", "F02_SQ003"]
    sq3 = t[t["item"] == "F02_SQ003"].set_index("category")["estimate"]
    assert sq3.tolist() == [0, 0, 0, 1]
    assert t[t["item"] == "F02_SQ002"]["n_unweighted"].iloc[0] == 5
    with pytest.raises(ValueError, match="Freitext"):
        estimate_question(data, None, cb, "F10")
    full = estimate_survey(data.assign(F04=np.nan, opfer=np.nan, anzeige=np.nan, alter=np.nan,
                                       stadtteil=pd.Series(["01"] * 6, index=data.index, dtype="str")),
                           None, cb)
    assert "F10" not in set(full["question"])
    assert set(full["question"]) == {f"F0{i}" for i in range(1, 10)}


def test_collapse_with_its_own_wilson_interval(cb):
    t = estimate_question(small_data(), W, cb, "F01")
    c = collapse(t, [3, 4], "eher oder sehr unsicher")
    (row,) = c.itertuples(index=False)
    assert row.estimate == pytest.approx(9 / 15)
    assert row.n_cell == 2 and row.category == "3+4" and row.kind == "collapsed"
    lo, hi = wilson_interval(0.6, 15**2 / 55)
    assert (row.lower, row.upper) == pytest.approx((lo, hi))


def test_estimate_mean_of_a_scale_index(cb):
    data = pd.DataFrame({"a": [1, 2, np.nan, 4], "b": [2, np.nan, np.nan, 4], "c": [3, 2, 1, np.nan]})
    idx = scale_index(data, ["a", "b", "c"])  # needs 2 of 3 answers
    assert idx.iloc[0] == 2 and idx.iloc[1] == 2 and np.isnan(idx.iloc[2]) and idx.iloc[3] == 4
    t = estimate_mean(data, None, idx.rename("problem_index"), label="Problemindex")
    assert t["estimate"].iloc[0] == pytest.approx(8 / 3) and t["item"].iloc[0] == "problem_index"
    assert scale_index(data, ["a", "b", "c"], min_valid=1).notna().all()


# --- tests and scales ------------------------------------------------------------


def test_rao_scott_equals_pearson_with_equal_weights():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], 200), "b": rng.choice([1, 2, 3, 4], 200)})
    table = pd.crosstab(df["a"], df["b"])
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
    res = rao_scott_test(df, np.full(200, 3.7), "a", "b")
    assert res["statistic"] == pytest.approx(chi2, rel=1e-10)
    assert res["p_value"] == pytest.approx(p, rel=1e-8)
    assert res["df"] == dof == 6
    assert res["mean_deff"] == pytest.approx(1.0)


def test_rao_scott_keeps_its_size_with_unequal_weights():
    """Under independence with strongly varying weights the uncorrected Pearson
    test on weighted shares rejects far too often; Rao-Scott stays near 5 %."""
    rng = np.random.default_rng(5)
    reps, n = 400, 600
    rej_rs = rej_naive = 0
    for _ in range(reps):
        df = pd.DataFrame({"a": rng.choice(["x", "y", "z"], n, p=[0.5, 0.3, 0.2]),
                           "b": rng.choice([1, 2], n, p=[0.6, 0.4])})
        w = np.exp(rng.normal(0, 0.85, n))  # Kish deff about 2
        res = rao_scott_test(df, w, "a", "b")
        rej_rs += res["p_value"] < 0.05
        rej_naive += stats.chi2.sf(res["pearson_statistic"], res["df"]) < 0.05
        assert res["mean_deff"] > 1.2
    assert 0.02 <= rej_rs / reps <= 0.09
    assert rej_naive / reps > 0.15


def test_rao_scott_detects_association():
    rng = np.random.default_rng(9)
    a = rng.choice([0, 1], 400)
    b = np.where(rng.random(400) < 0.3 + 0.3 * a, 1, 0)
    res = rao_scott_test(pd.DataFrame({"a": a, "b": b}), rng.uniform(0.5, 2, 400), "a", "b")
    assert res["p_value"] < 1e-6 and res["df"] == 1


def test_cronbach_alpha_by_hand():
    items = pd.DataFrame({"i1": [1, 2, 3, 4, 5], "i2": [2, 2, 3, 5, 4], "i3": [1, 3, 3, 4, 5]})
    # item variances 2.5, 1.7, 2.2 (sum 6.4); sum scores 4, 7, 9, 13, 14 -> variance 17.3
    # alpha = 3/2 * (1 - 6.4/17.3) = 0.945087
    assert cronbach_alpha(items) == pytest.approx(0.945087, abs=1e-6)
    with_missing = pd.concat([items, pd.DataFrame({"i1": [np.nan], "i2": [1], "i3": [1]})], ignore_index=True)
    assert cronbach_alpha(with_missing) == pytest.approx(0.945087, abs=1e-6)  # listwise
    with pytest.raises(ValueError):
        cronbach_alpha(items[["i1"]])
