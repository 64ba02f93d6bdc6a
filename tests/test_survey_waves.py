"""Repeat surveys (issue 9, item 7): kit.survey.waves compares the current wave with an
earlier one. Checked: the difference test against a hand computation and a textbook value,
the standard error taken from a published interval, Benjamini-Hochberg against the step-up
rule by hand, the false-alarm rate by simulation when nothing changed, the demo commune's
planted changes, results-file input = response-file input, mismatched items listed, German
errors for bad earlier-wave files and params, and disclosure control of survey_waves.csv."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.demo import PREVIOUS_WAVES, generate_demo
from kit.disclosure import DisclosurePolicy
from kit.errors import InputError, KitError, ParamsError
from kit.params import REPO_ROOT, load_params
from kit.profile.inputs import load_profile_inputs
from kit.profile.stage import compute_profile, write_profile
from kit.results import ResultStore
from kit.survey.estimates import TIDY_COLUMNS, _frame, wilson_interval
from kit.survey.stage import compute_survey, write_survey
from kit.survey.waves import (WAVE_COLUMNS, WaveTables, adjust_pvalues, compare_previous_wave, compare_waves,
                              difference_test, read_previous_estimates, se_from_interval)

Z95 = NormalDist().inv_cdf(0.975)
POLICY = DisclosurePolicy(min_cell=5, min_base=30)


# ---------------------------------------------------------------------------
# (a) the test of a difference, the SE from an interval, Benjamini-Hochberg
# ---------------------------------------------------------------------------


def test_difference_test_textbook_two_proportion_wald():
    # 30 % of 1,000 now vs 25 % of 1,000 then: z = 0,05 / sqrt(0,3*0,7/1000 + 0,25*0,75/1000) = 2,5079
    se1, se0 = math.sqrt(0.3 * 0.7 / 1000), math.sqrt(0.25 * 0.75 / 1000)
    out = difference_test([0.30], [se1], [0.25], [se0]).iloc[0]
    assert out["z"] == pytest.approx(2.50789, abs=1e-4)
    assert out["p_value"] == pytest.approx(0.012146, abs=2e-5)
    assert out["change_lower"] == pytest.approx(0.05 - 1.959964 * 0.0199374, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(p1=st.floats(0.02, 0.98), p0=st.floats(0.02, 0.98), n1=st.integers(40, 4000), n0=st.integers(40, 4000),
       conf=st.sampled_from([0.9, 0.95, 0.99]))
def test_difference_test_matches_hand_formula(p1, p0, n1, n0, conf):
    se1, se0 = math.sqrt(p1 * (1 - p1) / n1), math.sqrt(p0 * (1 - p0) / n0)
    out = difference_test([p1], [se1], [p0], [se0], conf).iloc[0]
    se = math.sqrt(se1**2 + se0**2)
    z = (p1 - p0) / se
    nd = NormalDist()
    q = nd.inv_cdf(1 - (1 - conf) / 2)
    assert out["z"] == pytest.approx(z, rel=1e-9, abs=1e-12)
    assert out["p_value"] == pytest.approx(2 * (1 - nd.cdf(abs(z))), rel=1e-6, abs=1e-12)
    assert out["change_lower"] == pytest.approx(p1 - p0 - q * se, abs=1e-12)
    assert out["change_upper"] == pytest.approx(p1 - p0 + q * se, abs=1e-12)


def test_se_from_interval():
    # a symmetric (Wald) interval gives back its SE exactly
    assert se_from_interval(0.3 - Z95 * 0.02, 0.3 + Z95 * 0.02, 0.95) == pytest.approx(0.02, rel=1e-12)
    # the Wilson interval of the estimation: close to sqrt(p(1-p)/n) for moderate p and n
    for p, n in ((0.3, 900), (0.1, 1500), (0.55, 400)):
        lo, hi = wilson_interval(p, n, 0.95)
        assert se_from_interval(lo, hi, 0.95) == pytest.approx(math.sqrt(p * (1 - p) / n), rel=0.02)


def _bh_by_hand(p: list[float], alpha: float) -> list[bool]:
    """Benjamini-Hochberg step-up: largest k with p_(k) <= k/m * alpha; reject the k smallest."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    k = max([r for r in range(1, m + 1) if p[order[r - 1]] <= r / m * alpha], default=0)
    out = [False] * m
    for i in order[:k]:
        out[i] = True
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.floats(0, 1), st.floats(0, 0.01)), min_size=1, max_size=60))
def test_benjamini_hochberg_matches_step_up_by_hand(p):
    marked, adjusted = adjust_pvalues(p, 0.05)
    hand = _bh_by_hand(p, 0.05)
    # ties exactly at the boundary aside (<= by hand, < on adjusted p), the marks agree
    border = [abs(a - 0.05) < 1e-12 for a in adjusted]
    assert [m for m, b in zip(marked, border) if not b] == [h for h, b in zip(hand, border) if not b]
    assert np.all(adjusted >= np.asarray(p) - 1e-15)


# ---------------------------------------------------------------------------
# (b) simulation: nothing changed -> at most the stated rate of false alarms
# ---------------------------------------------------------------------------


def _tidy_wave(p_true: np.ndarray, n: int, rng, conf=0.95) -> pd.DataFrame:
    """One multiple-choice option per item (ticked share), Wilson interval, as the estimation gives."""
    hits = rng.binomial(n, p_true)
    p = hits / n
    lo, hi = wilson_interval(p, np.full(len(p), float(n)), conf)
    rows = [{"item": f"I{k:02d}", "question": f"I{k:02d}", "item_label": f"Item {k}", "category": "1",
             "category_label": "genannt", "group_var": "", "group": "Gesamt", "estimate": p[k], "lower": lo[k],
             "upper": hi[k], "n_unweighted": n, "n_cell": int(hits[k]), "weighted_base": float(n),
             "n_eff": float(n), "kind": "multi", "suppressed": False} for k in range(len(p))]
    return _frame(rows)


def _null_run(rng, items: int, n: int) -> tuple[WaveTables, WaveTables]:
    p_true = rng.uniform(0.1, 0.6, items)
    return WaveTables(_tidy_wave(p_true, n, rng), None, 0.95), WaveTables(_tidy_wave(p_true, n, rng), None, 0.95)


def test_no_change_gives_no_more_false_alarms_than_stated():
    """2,000 surveys pairs with 40 unchanged shares each: the chance of any false mark stays at
    5 % (Benjamini-Hochberg controls it when nothing changed). The runs go through the same
    functions as compare_waves (checked on a few runs to give identical marks), vectorised to stay fast."""
    rng = np.random.default_rng(20261130)
    runs, items, n = 2000, 40, 700
    for _ in range(5):  # compare_waves = the vectorised path below
        then, now = _null_run(rng, items, n)
        res = compare_waves(then, now, label="2021")
        se_now = se_from_interval(now.estimates["lower"], now.estimates["upper"], 0.95)
        se_then = se_from_interval(then.estimates["lower"], then.estimates["upper"], 0.95)
        test = difference_test(now.estimates["estimate"], se_now, then.estimates["estimate"], se_then)
        np.testing.assert_allclose(res.table["p_value"], test["p_value"], rtol=1e-12)
        assert list(res.table["significant"]) == list(adjust_pvalues(test["p_value"], 0.05)[0])
    p_true = rng.uniform(0.1, 0.6, (runs, items))
    shares = []
    for _ in range(2):
        p = rng.binomial(n, p_true) / n
        lo, hi = wilson_interval(p, np.full(p.shape, float(n)), 0.95)
        shares.append((p, se_from_interval(lo, hi, 0.95)))
    (p1, s1), (p0, s0) = shares
    pvals = difference_test(p1.ravel(), s1.ravel(), p0.ravel(), s0.ravel())["p_value"].to_numpy().reshape(runs, items)
    any_marked = np.mean([adjust_pvalues(row, 0.05)[0].any() for row in pvals])
    any_raw = np.mean((pvals < 0.05).any(axis=1))
    assert any_marked <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs), any_marked  # sd 0,5 points
    # without the correction most runs would raise a false alarm (1 - 0,95^40 = 87 %)
    assert any_raw > 0.8
    # and each single test keeps its level
    assert abs(np.mean(pvals < 0.05) - 0.05) < 0.004


def test_real_change_is_found_in_simulation():
    rng = np.random.default_rng(7)
    p_true = np.full(30, 0.3)
    p_then = p_true.copy()
    p_then[0] = 0.40  # ten points higher then
    found = 0
    for _ in range(25):
        res = compare_waves(WaveTables(_tidy_wave(p_then, 900, rng), None, 0.95),
                            WaveTables(_tidy_wave(p_true, 900, rng), None, 0.95), label="2021")
        t = res.table.set_index("item")
        found += bool(t.loc["I00", "significant"] and t.loc["I00", "direction"] == "fall")
    assert found >= 22  # power about 97 %


# ---------------------------------------------------------------------------
# (c) the demo commune with two waves
# ---------------------------------------------------------------------------


def _params(root, commune, **survey_changes):
    raw = yaml.safe_load((REPO_ROOT / "params" / f"{commune}.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(root / "data" / commune)
    raw["survey"].update(survey_changes)
    path = root / f"{commune}_{len(survey_changes)}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return load_params(path)


@pytest.fixture(scope="module")
def elsterhain(tmp_path_factory):
    root = tmp_path_factory.mktemp("waves")
    generate_demo(root / "data", communes=["elsterhain"])
    params = _params(root, "elsterhain")
    store = ResultStore(root / "output", "elsterhain")
    inputs = load_profile_inputs(params)
    write_profile(compute_profile(inputs), store, inputs)
    result = compute_survey(params, store)
    write_survey(result.public, store)
    return root, params, store, result


@pytest.fixture(scope="module")
def elsterhain_2021(elsterhain):
    """The earlier wave as the kit computes it from its responses (private result kept in memory)."""
    from kit.survey.waves import load_previous_wave

    _, params, store, result = elsterhain
    tables, current_margins = load_previous_wave(params, store, result.codebook, result.policy)
    assert current_margins  # no margins of 2021 given: weighted to the current ones
    return tables


def test_demo_recovers_the_planted_changes(elsterhain):
    _, _, _, result = elsterhain
    waves = result.public.waves
    assert waves is not None and waves.label == PREVIOUS_WAVES["elsterhain"]["label"] == "2021"
    t = waves.table
    key = t[t["comparison"] == "key"].set_index("indicator")
    # planted: insecurity at night about 10 points higher in 2021 -> a fall now; graffiti lower then -> a rise
    night = key.loc["survey.unsafe_night"]
    assert night["significant"] and night["direction"] == "fall" and -0.15 < night["change"] < -0.05, night
    graffiti = key.loc["survey.problem_graffiti"]
    assert graffiti["significant"] and graffiti["direction"] == "rise" and 0.05 < graffiti["change"] < 0.15
    # most items unchanged: marks outside the planted items (Q05, Q04_02 and the key indicators
    # built on them) stay within what the false discovery rate allows
    planted = {"survey.unsafe_night", "survey.unsafe_night_women", "survey.problem_graffiti"}
    sig = t[t["significant"]]
    others = sig[~sig["indicator"].isin(planted) & ~sig["item"].isin(["Q05", "Q04_02"])]
    assert len(others) <= max(1, round(0.05 * len(sig))), others[["label", "category_label", "p_adjusted"]]
    assert len(t) > 100 and len(key) >= 15
    # the weighting variables are not compared
    assert not t["item"].isin(["Q50", "Q51", "Q52"]).any()
    # the planted change reaches 'Das Wichtigste in Kürze'
    f = result.public.findings
    assert (f["code"] == "wave_change").any()
    assert "survey.unsafe_night" in set(f.loc[f["code"] == "wave_change", "indicator"])


def test_item_asked_in_one_wave_only_is_listed(elsterhain):
    _, _, _, result = elsterhain
    m = result.public.waves.mismatches
    assert set(PREVIOUS_WAVES["elsterhain"]["dropped_items"]) == {"Q20"}
    assert m.set_index("item").loc["Q20", "reason"] == "only_current"
    assert "Q20" not in set(result.public.waves.table["item"])


def test_other_answer_categories_are_listed_not_compared():
    rng = np.random.default_rng(1)
    now = _tidy_wave(np.full(3, 0.3), 500, rng)
    then = _tidy_wave(np.full(3, 0.3), 500, rng)
    then.loc[then["item"] == "I01", "category_label"] = "angekreuzt"  # changed answer wording
    then = then[then["item"] != "I02"]  # not asked then
    res = compare_waves(WaveTables(then, None, 0.95), WaveTables(now, None, 0.95), label="2021")
    assert set(res.table["item"]) == {"I00"}
    assert dict(zip(res.mismatches["item"], res.mismatches["reason"])) == {"I01": "categories", "I02": "only_current"}


def test_results_file_gives_the_same_comparison_as_the_response_file(elsterhain, elsterhain_2021, tmp_path):
    root, params, store, result = elsterhain
    # the earlier wave as the kit computed it from its responses, published like any run
    wave_store = ResultStore(tmp_path / "out2021", "elsterhain")
    write_survey(elsterhain_2021.private.public, wave_store)
    data = root / "data" / "elsterhain"
    for name in ("survey_estimates", "key_indicators_survey"):
        (data / f"{name}_2021.csv").write_bytes(wave_store.path(name, ".csv").read_bytes())
    p2 = _params(root, "elsterhain", previous_wave={"label": "2021", "results": "survey_estimates_2021.csv",
                                                   "key_indicators": "key_indicators_survey_2021.csv"})
    from_results = compare_previous_wave(p2, store, result.public)
    from_responses = result.public.waves
    assert from_results.source == "results" and from_responses.source == "responses"
    a = from_responses.table.sort_values(["indicator", "item", "category"]).reset_index(drop=True)
    b = from_results.table.sort_values(["indicator", "item", "category"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)
    assert len(a) > 100
    # items: the results file does not know Q20 either
    assert set(from_results.mismatches["item"]) == set(from_responses.mismatches["item"])


# ---------------------------------------------------------------------------
# (d) disclosure control
# ---------------------------------------------------------------------------


def test_survey_waves_csv_passes_disclosure_control(elsterhain, elsterhain_2021):
    _, params, store, result = elsterhain
    written = store.read_table("survey_waves", dtype={"item": str, "category": str, "indicator": str})
    assert list(written.columns) == WAVE_COLUMNS
    assert len(written) == len(result.public.waves.table)
    # no count columns at all; every compared share rests on cells >= min_cell in BOTH waves
    assert not {"n_unweighted", "n_cell", "n"} & set(written.columns)
    for name, est in (("aktuell", result.estimates), ("2021", elsterhain_2021.private.estimates)):
        overall = est[est["group_var"].fillna("") == ""].copy()
        overall["category"] = overall["category"].fillna("")
        cells = overall.set_index(["item", "category"])
        items = written[written["comparison"] == "item"]
        assert len(items) > 50
        for r in items.itertuples():
            c = cells.loc[(r.item, str(r.category))]
            c = c.iloc[0] if isinstance(c, pd.DataFrame) else c
            n, k = float(c["n_unweighted"]), float(c["n_cell"])
            assert POLICY.share_ok(k, n), (name, r.item, r.category, n, k)


def test_small_cell_of_an_earlier_results_file_is_not_compared(tmp_path):
    rng = np.random.default_rng(3)
    now = _tidy_wave(np.full(4, 0.3), 400, rng)
    then = _tidy_wave(np.full(4, 0.3), 400, rng)
    lo, hi = wilson_interval(3 / 400, 400)
    then.loc[then["item"] == "I01", ["n_cell", "estimate", "lower", "upper"]] = [3, 3 / 400, lo, hi]  # < min_cell
    path = tmp_path / "survey_estimates_2021.csv"
    then.to_csv(path, index=False)
    read = read_previous_estimates(path, POLICY)
    assert read.set_index("item").loc["I01", "suppressed"]
    res = compare_waves(WaveTables(read, None, 0.95), WaveTables(now, None, 0.95), label="2021")
    assert set(res.table["item"]) == {"I00", "I02", "I03"}


# ---------------------------------------------------------------------------
# (e) bad earlier-wave files and params: German errors naming file, row, column
# ---------------------------------------------------------------------------


def _good_results(tmp_path) -> pd.DataFrame:
    return _tidy_wave(np.full(3, 0.3), 400, np.random.default_rng(0))


def test_results_file_without_a_column_is_refused(tmp_path):
    path = tmp_path / "alt.csv"
    _good_results(tmp_path).drop(columns=["upper"]).to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_previous_estimates(path, POLICY)
    msg = str(info.value)
    assert str(path) in msg and "'upper'" in msg and "fehlt" in msg and "Spalte" in msg


def test_results_file_with_a_bad_number_is_refused(tmp_path):
    df = _good_results(tmp_path)
    df["estimate"] = df["estimate"].astype(object)
    df.loc[1, "estimate"] = "viel"
    path = tmp_path / "alt.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_previous_estimates(path, POLICY)
    msg = str(info.value)
    assert str(path) in msg and "Zeile 3" in msg and "'estimate'" in msg and "'viel'" in msg and "Zahl" in msg


def test_results_file_with_a_share_above_one_is_refused(tmp_path):
    df = _good_results(tmp_path)
    df.loc[2, ["estimate", "lower", "upper"]] = [30.0, 25.0, 35.0]  # percent instead of a share
    path = tmp_path / "alt.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match=r"Zeile 4, Spalte 'estimate'.*Anteil zwischen 0 und 1"):
        read_previous_estimates(path, POLICY)


def test_missing_earlier_files_are_named(elsterhain):
    root, _, store, result = elsterhain
    for wave in ({"label": "2021", "results": "gibtsnicht.csv"},
                 {"label": "2021", "responses": "gibtsnicht.csv"}):
        p = _params(root, "elsterhain", previous_wave=wave)
        with pytest.raises(KitError, match=r"gibtsnicht\.csv.*vorhandene Datei"):
            compare_previous_wave(p, store, result.public)


def test_bad_responses_of_the_earlier_wave_say_which_wave(elsterhain):
    root, _, store, result = elsterhain
    data = root / "data" / "elsterhain"
    text = (data / "survey_responses_2021.csv").read_text(encoding="utf-8-sig").splitlines()
    text[0] = text[0].replace("Q01,", "Frage1,", 1)
    (data / "kaputt_2021.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    p = _params(root, "elsterhain", previous_wave={"label": "2021", "responses": "kaputt_2021.csv",
                                                   "codebook": "survey_codebook_2021.yaml"})
    with pytest.raises(KitError) as info:
        compare_previous_wave(p, store, result.public)
    msg = str(info.value)
    assert msg.startswith("Frühere Befragung 2021") and "kaputt_2021.csv" in msg and "'Frage1'" in msg


@pytest.mark.parametrize("wave, expected", [
    ({"label": "2021", "responses": "a.csv", "results": "b.csv"}, "entweder responses"),
    ({"label": "2021"}, "entweder responses"),
    ({"label": "2021", "results": "b.csv", "codebook": "c.yaml"}, "nur zusammen mit responses"),
    ({"label": "2021", "responses": "../../etc/passwd"}, "außerhalb der erlaubten Ordner"),
    ({"responses": "a.csv"}, "previous_wave.label"),
])
def test_bad_previous_wave_params_are_refused(tmp_path, wave, expected):
    raw = yaml.safe_load((REPO_ROOT / "params" / "elsterhain.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path)
    raw["survey"]["previous_wave"] = wave
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    msg = str(info.value)
    assert expected in msg and "previous_wave" in msg, msg


def test_commune_without_earlier_wave_has_no_comparison(tmp_path):
    params = load_params(REPO_ROOT / "params" / "muldenau.yaml")
    assert params["survey"].get("previous_wave") is None
    # the tidy columns the comparison reads are those of the estimation
    assert {"estimate", "lower", "upper", "n_unweighted", "n_cell", "kind", "suppressed"} <= set(TIDY_COLUMNS)


# ---------------------------------------------------------------------------
# (f) the report section
# ---------------------------------------------------------------------------


def _collect_view(monkeypatch):
    from kit import figures as plots
    from kit.report import html_table
    from kit.survey import view_waves

    out: list[str] = []
    monkeypatch.setattr(view_waves, "show_md", lambda t: out.append(t))
    monkeypatch.setattr(view_waves, "show_note", lambda t: out.append(t))
    monkeypatch.setattr(view_waves, "show_table", lambda df, cols=None, caption=None: out.append(html_table(df, cols, caption)))

    def figure(fig, source, **_):
        info = plots.figure_info(fig)
        out.append(f"{info.title} {info.alt} {info.note} {source}")
        import matplotlib.pyplot as plt
        plt.close(fig)

    monkeypatch.setattr(plots, "show_figure", figure)
    return view_waves, out


def test_report_section_names_rises_and_falls_in_german(monkeypatch):
    from types import SimpleNamespace

    view_waves, out = _collect_view(monkeypatch)
    rng = np.random.default_rng(11)
    p_now = np.full(12, 0.3)
    p_then = p_now.copy()
    p_then[0], p_then[1] = 0.45, 0.15  # item 0 fell by 15 points, item 1 rose by 15
    res = compare_waves(WaveTables(_tidy_wave(p_then, 1000, rng), None, 0.95),
                        WaveTables(_tidy_wave(p_now, 1000, rng), None, 0.95), label="2021")
    res.mismatches = pd.DataFrame([{"item": "Q20", "label": "Online-Anzeige denkbar", "reason": "only_current"}])
    view_waves.show_waves(SimpleNamespace(waves=res))
    text = "\n".join(out)
    assert out[0] == "## Veränderung gegenüber der Befragung 2021"
    assert "**Gestiegen:** Item 1 (genannt): von " in text and "**Gesunken:** Item 0 (genannt): von " in text
    assert "Prozentpunkte" in text and "Benjamini" in text and "Online-Anzeige denkbar" in text
    assert "nur in der aktuellen Befragung gestellt" in text
    assert "heutigen Einwohnerzahlen" in text or "veröffentlichten Ergebnissen" in text
    row = res.table.set_index("item").loc["I00"]
    assert f"{100 * row['previous']:.1f}".replace(".", ",") + "\u00a0%" in text  # German number format
    import re

    for bad in (r"\bnan\b", r"\bNaN\b", r"\bNone\b", "p_adjusted", "change_lower", r"survey\.", "only_current"):
        assert not re.search(bad, text), bad


def test_no_section_without_an_earlier_wave(monkeypatch):
    from types import SimpleNamespace

    view_waves, out = _collect_view(monkeypatch)
    view_waves.show_waves(SimpleNamespace(waves=None))
    assert out == []


def test_wave_finding_sentence_gives_value_interval_and_earlier_value():
    """'Das Wichtigste in Kürze' states a marked change with the current value, its interval and
    the earlier wave's value."""
    from kit.survey.view_waves import change_finding_text

    f = {"label": "fühlt sich nachts unsicher", "value": 0.228, "lower": 0.2, "upper": 0.258,
         "reference_value": 0.336, "reference_label": "2021", "verdict": "fall"}
    text = change_finding_text(f).replace("\xa0", " ")
    assert text.startswith("Fühlt sich nachts unsicher: 22,8 % (95-%-Bereich 20,0–25,8 %) – weniger als bei "
                           "der Befragung 2021 (33,6 %")
    f.update(lower=float("nan"), upper=float("nan"))
    assert "Bereich" not in change_finding_text(f) and "nan" not in change_finding_text(f)
