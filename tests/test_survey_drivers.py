"""What drives insecurity (issue 9, item 4): the weighted logistic regression of
kit.survey.drivers. Checked against the demo's planted structure, a simulation with
known coefficients, an independent hand computation of the sandwich estimator
(scipy optimiser + explicit sums) and the small-number refusals."""

from __future__ import annotations

import math
from statistics import NormalDist
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.optimize import minimize

from kit.demo import generate_demo
from kit.disclosure import DisclosurePolicy
from kit.params import REPO_ROOT, load_params
from kit.profile.inputs import load_profile_inputs
from kit.profile.stage import compute_profile, write_profile
from kit.results import ResultStore
from kit.survey.codebook import load_codebook
from kit.survey.drivers import TABLE_COLUMNS, drivers, fit_logit
from kit.survey.stage import compute_survey

POLICY = DisclosurePolicy(min_cell=5, min_base=30)
Z95 = NormalDist().inv_cdf(0.975)
CODEBOOK = REPO_ROOT / "data_schemas" / "survey_codebook.yaml"


# ---------------------------------------------------------------------------
# (a) the demo's planted structure
# ---------------------------------------------------------------------------


def _demo_result(root, commune):
    generate_demo(root / "data", communes=[commune])
    raw = yaml.safe_load((REPO_ROOT / "params" / f"{commune}.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(root / "data" / commune)
    params_file = root / f"{commune}.yaml"
    params_file.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    params = load_params(params_file)
    store = ResultStore(root / "output", commune)
    inputs = load_profile_inputs(params)
    write_profile(compute_profile(inputs), store, inputs)
    return compute_survey(params, store)


@pytest.fixture(scope="module")
def elsterhain(tmp_path_factory):
    result = _demo_result(tmp_path_factory.mktemp("drivers"), "elsterhain")
    model = drivers(result.clean.data, result.weights, result.codebook, result.policy, districts=result.districts)
    return result, model


def test_demo_model_recovers_the_planted_effects(elsterhain):
    result, model = elsterhain
    assert model.ok, model.reason
    t = model.table.set_index("term")
    assert list(model.table.columns) == TABLE_COLUMNS
    assert model.n >= 0.7 * result.n_respondents and 0.05 < model.pseudo_r2 < 0.5
    # planted: perceived incivilities raise insecurity (0.65 per SD on the latent logit)
    inc = t.loc["incivility"]
    assert inc["or"] > 1.5 and inc["lower"] > 1, inc
    # planted: women (+1.2 on the logit) and the oldest (age effect) feel less safe
    assert t.loc["sex:w", "lower"] > 2 and t.loc["age_group:75+", "lower"] > 1
    # planted: no effect of the district once perceived incivilities are held equal
    dist = t[(t["variable"] == "district") & ~t["reference"]]
    assert len(dist) >= 2 and ((dist["lower"] < 1) & (dist["upper"] > 1)).mean() >= 0.75
    # every published coefficient rests on at least min_cell respondents, no microdata columns
    assert (model.table["n"] >= POLICY.min_cell).all()
    assert model.table.select_dtypes("number").columns.tolist() == ["or", "lower", "upper", "p", "n"]


# ---------------------------------------------------------------------------
# synthetic survey frames on the default codebook
# ---------------------------------------------------------------------------


def _frame(n: int, seed: int, coef=(-1.5, 0.9, 0.8, 1.0, -0.15)) -> tuple[pd.DataFrame, pd.Series]:
    """Respondents with the codebook's items: Q05 from a known logit of incivility mean,
    victim, female, trust."""
    rng = np.random.default_rng(seed)
    inc_level = rng.normal(0, 0.6, n)
    data = {}
    for k in range(1, 11):
        data[f"Q04_{k:02d}"] = np.clip(np.rint(2.2 + inc_level + rng.normal(0, 0.5, n)), 1, 4)
    inc = pd.DataFrame(data).mean(axis=1).to_numpy()
    victim = rng.random(n) < 0.2
    for k in range(1, 6):
        data[f"Q18_{k:02d}"] = np.where(victim & (rng.integers(1, 6, n) == k), 1.0, 2.0)
    victim = np.array([any(data[f"Q18_{k:02d}"][i] == 1 for k in range(1, 6)) for i in range(n)])
    female = rng.random(n) < 0.5
    trust = np.clip(np.rint(rng.normal(6, 2, n)), 0, 10)
    eta = coef[0] + coef[1] * (inc - 2.2) + coef[2] * victim + coef[3] * female + coef[4] * (trust - 6)
    unsafe = rng.random(n) < 1 / (1 + np.exp(-eta))
    data["Q05"] = np.where(unsafe, rng.choice([3.0, 4.0], n), rng.choice([1.0, 2.0], n))
    data["Q22"] = trust
    df = pd.DataFrame(data, index=pd.RangeIndex(1, n + 1, name="id"))
    df["sex"] = np.where(female, "w", "m")
    df["age_group"] = rng.choice(["16-34", "35-54", "55-74", "75+"], n)
    df["district_id"] = rng.choice(["1", "2", "3"], n, p=[0.5, 0.3, 0.2])
    weights = pd.Series(rng.lognormal(0, 0.4, n) * 20, index=df.index, name="weight")
    return df, weights


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


# ---------------------------------------------------------------------------
# (b) known coefficients: bias and interval coverage
# ---------------------------------------------------------------------------


def test_simulated_estimates_are_unbiased_and_intervals_cover_about_95_percent():
    rng = np.random.default_rng(20261130)
    truth = np.array([-0.8, 0.7, 1.1, -0.5])
    n, reps = 800, 200
    est, cover, ses = [], [], []
    for _ in range(reps):
        x1 = rng.normal(0, 1, n)
        x2 = (rng.random(n) < 0.4).astype(float)
        x3 = rng.normal(0, 1, n)
        X = np.column_stack([np.ones(n), x1, x2, x3])
        y = (rng.random(n) < 1 / (1 + np.exp(-(X @ truth)))).astype(float)
        w = rng.lognormal(0, 0.8, n)  # strongly unequal weights, independent of y given X
        fit = fit_logit(X, y, w * n / w.sum())
        assert fit["converged"]
        se = np.sqrt(np.diag(fit["cov"]))
        est.append(fit["beta"])
        ses.append(se)
        cover.append(np.abs(fit["beta"] - truth) <= Z95 * se)
    est, cover = np.array(est), np.array(cover)
    assert np.all(np.abs(est.mean(axis=0) - truth) < 0.05), est.mean(axis=0)
    coverage = cover.mean(axis=0)
    # 200 replicates: the Monte Carlo SE of a 95 % coverage is 1.5 points
    assert np.all((coverage >= 0.91) & (coverage <= 0.985)), coverage
    # the robust SE agrees with the spread of the estimates across replicates
    ratio = np.sqrt(np.mean(np.array(ses) ** 2, axis=0)) / est.std(axis=0)
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_drivers_recovers_known_coefficients_on_a_simulated_survey(codebook):
    df, w = _frame(4000, 7)
    model = drivers(df, w, codebook, POLICY)
    assert model.ok, model.reason
    t = model.table.set_index("term")
    for term, beta in (("incivility", 0.9), ("victim:1", 0.8), ("sex:w", 1.0), ("trust", -0.15)):
        row = t.loc[term]
        assert row["lower"] < math.exp(beta) < row["upper"], (term, row)
        assert abs(math.log(row["or"]) - beta) < 0.25, (term, row)
    # no planted age or district effect
    null = t[t["variable"].isin(["age_group", "district"]) & ~t["reference"]]
    assert ((null["lower"] < 1) & (null["upper"] > 1)).mean() >= 0.6


# ---------------------------------------------------------------------------
# (c) the sandwich estimator against an independent hand computation
# ---------------------------------------------------------------------------


def _hand_model(df: pd.DataFrame, w: pd.Series):
    """Design matrix as documented, fit by scipy (BFGS on the weighted log-likelihood),
    HC1 sandwich with explicit per-respondent sums."""
    y = df["Q05"].isin([3, 4]).astype(float).to_numpy()
    inc = df[[f"Q04_{k:02d}" for k in range(1, 11)]].mean(axis=1).to_numpy()
    victim = (df[[f"Q18_{k:02d}" for k in range(1, 6)]] == 1).any(axis=1).astype(float).to_numpy()
    female = (df["sex"] == "w").astype(float).to_numpy()
    ages = [(df["age_group"] == g).astype(float).to_numpy() for g in ("16-34", "55-74", "75+")]
    trust = df["Q22"].to_numpy(float)
    largest = df["district_id"].value_counts().index[0]
    others = [d for d in df["district_id"].value_counts().index if d != largest]
    dists = [(df["district_id"] == d).astype(float).to_numpy() for d in others]
    X = np.column_stack([np.ones(len(df)), inc, victim, female, *ages, trust, *dists])
    names = ["const", "incivility", "victim:1", "sex:w", "age_group:16-34", "age_group:55-74", "age_group:75+",
             "trust"] + [f"district:{d}" for d in others]
    wn = w.to_numpy() * len(df) / w.sum()

    def nll(b):
        eta = X @ b
        return -np.sum(wn * (y * eta - np.logaddexp(0, eta)))

    def grad(b):
        p = 1 / (1 + np.exp(-(X @ b)))
        return -X.T @ (wn * (y - p))

    b = minimize(nll, np.zeros(X.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-12, "maxiter": 10000}).x
    n, k = X.shape
    A = np.zeros((k, k))
    B = np.zeros((k, k))
    for i in range(n):
        p = 1 / (1 + math.exp(-float(X[i] @ b)))
        A += wn[i] * p * (1 - p) * np.outer(X[i], X[i])
        u = wn[i] * (y[i] - p) * X[i]
        B += np.outer(u, u)
    Ainv = np.linalg.inv(A)
    V = Ainv @ B @ Ainv * n / (n - k)
    return dict(zip(names, b)), dict(zip(names, np.sqrt(np.diag(V))))


def test_robust_standard_errors_equal_a_hand_computed_sandwich(codebook):
    df, w = _frame(300, 11)
    model = drivers(df, w, codebook, POLICY)
    assert model.ok, model.reason
    beta, se = _hand_model(df, w)
    t = model.table[~model.table["reference"]].set_index("term")
    assert set(t.index) == set(beta) - {"const"}
    for term in t.index:
        row = t.loc[term]
        b = math.log(row["or"])
        s = (math.log(row["upper"]) - math.log(row["lower"])) / (2 * Z95)
        assert b == pytest.approx(beta[term], rel=1e-4, abs=1e-6), term
        assert s == pytest.approx(se[term], rel=1e-4), term
        assert row["p"] == pytest.approx(math.erfc(abs(beta[term] / se[term]) / math.sqrt(2)), rel=1e-3, abs=1e-8)
    # the weight scale does not matter (weights are normalised to n)
    again = drivers(df, w * 37.5, codebook, POLICY).table
    pd.testing.assert_frame_equal(again, model.table)


# ---------------------------------------------------------------------------
# (d) refusals and the district rule
# ---------------------------------------------------------------------------


def test_small_category_refuses_the_model(codebook):
    df, w = _frame(400, 3)
    few_women = df.index[df["sex"] == "w"][3:]
    df.loc[few_women, "sex"] = "m"  # 3 women left (< min_cell 5)
    model = drivers(df, w, codebook, POLICY)
    assert not model.ok and model.reason == "small_category:sex"
    assert model.table.empty and list(model.table.columns) == TABLE_COLUMNS
    # exactly min_cell women: the model is shown
    df2, w2 = _frame(400, 3)
    df2.loc[df2.index[df2["sex"] == "w"][5:], "sex"] = "m"
    assert drivers(df2, w2, codebook, POLICY).ok
    # an age group of 4
    df3, w3 = _frame(400, 3)
    df3.loc[df3.index[df3["age_group"] == "75+"][4:], "age_group"] = "55-74"
    assert drivers(df3, w3, codebook, POLICY).reason == "small_category:age_group"
    # four victims
    df4, w4 = _frame(400, 3)
    victims = df4.index[(df4[[f"Q18_{k:02d}" for k in range(1, 6)]] == 1).any(axis=1)]
    df4.loc[victims[4:], [f"Q18_{k:02d}" for k in range(1, 6)]] = 2.0
    assert drivers(df4, w4, codebook, POLICY).reason == "small_category:victim"


def test_small_base_and_small_outcome_refuse(codebook):
    df, w = _frame(29, 5)
    model = drivers(df, w, codebook, POLICY)
    assert model.reason == "small_base" and model.table.empty and model.pseudo_r2 is None
    df, w = _frame(400, 5)
    unsafe = df.index[df["Q05"] >= 3]
    df.loc[unsafe[4:], "Q05"] = 2.0
    assert drivers(df, w, codebook, POLICY).reason == "small_outcome"


def test_small_districts_are_pooled_or_the_term_is_left_out(codebook):
    df, w = _frame(600, 9)
    d3 = df.index[df["district_id"] == "3"]
    df.loc[d3[12:], "district_id"] = "1"  # district 3: 12 respondents (< min_base 30) -> pooled
    df.loc[df.index[:8], "district_id"] = "4"  # district 4: 8 -> pooled with 3
    model = drivers(df, w, codebook, POLICY)
    assert model.ok and "district_pooled" in model.notes
    cats = set(model.table.loc[model.table["variable"] == "district", "category"])
    assert cats == {"1", "2", "_other"}
    df.loc[df["district_id"].isin(["3", "4"]), "district_id"] = "1"
    df.loc[df.index[:3], "district_id"] = "4"  # a single district of 3: too small even pooled
    model = drivers(df, w, codebook, POLICY)
    assert model.ok and "district_omitted" in model.notes
    assert not (model.table["variable"] == "district").any()


def test_trust_is_optional(codebook):
    df, w = _frame(400, 4)
    model = drivers(df.drop(columns="Q22"), w, codebook, POLICY)
    assert model.ok and "trust_absent" in model.notes and "trust" not in set(model.table["term"])


# ---------------------------------------------------------------------------
# the view
# ---------------------------------------------------------------------------


def test_view_shows_chart_and_names_the_clear_factors(codebook, monkeypatch):
    import IPython.display

    from kit import figures
    from kit.survey import view

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, *a, **k: shown.append(getattr(obj, "data", obj)))
    df, w = _frame(3000, 21)
    model = drivers(df, w, codebook, POLICY)

    Public = SimpleNamespace(name="Testhausen", n_respondents=3000, policy=POLICY,
                             districts={"1": "Altstadt", "2": "Nord", "3": "Süd"})

    figures.reset_figure_numbers()
    view.show_drivers(Public, model)
    html = "\n".join(map(str, shown))
    assert "Abbildung 1:" in html and "Quelle:" in html and 'alt="Punktdiagramm' in html
    text = shown[-1]
    assert "wahrgenommene Probleme" in text and "Frauen (gegenüber Männern" in text
    assert "Zusammenhänge, keine Ursachen" in text and "Jahre und älter (gegenüber" not in text
    assert "Altstadt" not in text  # no district effect planted: not named as a factor
    fig = view.drivers_figure(model.table, Public.districts)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and any(abs(line.get_xdata()[0] - 1) < 1e-12 for line in ax.lines
                                            if len(line.get_xdata()) == 2 and line.get_linestyle() == "--")
    shown.clear()
    view.show_drivers(Public, drivers(df.iloc[:20], w.iloc[:20], codebook, POLICY))
    assert len(shown) == 1 and "Kein Modell" in str(shown[0]) and "Fig" not in str(shown[0])
