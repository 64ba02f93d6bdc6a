"""Trigger kinds of the recommendation rules (kit.recommend.rules), their three-valued
combination, general recommendations, the commune's overrides and the indicator check
(kit.recommend.catalogue), on constructed indicator tables."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.errors import ParamsError
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.params import PARAMS_DIR, REPO_ROOT, load_params, read_catalogue
from kit.recommend import catalogue as cat
from kit.recommend import rules as rec
from kit.recommend.view import recommendations_markdown, rule_text, rules_table, show_summary


def table(**values) -> pd.DataFrame:
    rows = [{"indicator": k, "label": k, "value": v[0], "lower": v[1], "upper": v[2], "unit": v[3], "source": "t"}
            for k, v in values.items()]
    return pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)


def measure(mid="m", triggers=(), logic="any", general=None, **extra) -> dict:
    out = {"id": mid, "title": f"Titel {mid}", "description": "Beschreibung.", "topic": "Thema", "logic": logic,
           "triggers": list(triggers), "target_groups": ["alle"], "lead": "Ordnungsamt",
           "evidence": {"level": "Good Practice (nicht evaluiert)", "source": "praktiziert in X"},
           "funding": {"kommpraev": True, "reason": "Projekt"}, "cost_class": "gering", "duration": "3 Monate",
           "first_steps": ["a"], "time_frame": "kurzfristig", "success_indicator": {"text": "t"}, **extra}
    if general is not None:
        out["general"] = general
    return out


# ---------------------------------------------------------------------------
# flag (early warning of stage 1)
# ---------------------------------------------------------------------------

def test_flag_trigger_positive_negative_missing():
    t = {"kind": "flag", "indicator": "profile.pks_rise_892000"}
    on = rec.evaluate_trigger(t, table(**{"profile.pks_rise_892000": (1.0, None, None, "ja/nein")}))
    off = rec.evaluate_trigger(t, table(**{"profile.pks_rise_892000": (0.0, None, None, "ja/nein")}))
    missing = rec.evaluate_trigger(t, table(**{"profile.pks_rise_674000": (1.0, None, None, "ja/nein")}))
    assert on["met"] is True and on["evaluable"] and on["kind"] == "flag"
    assert off["met"] is False and off["evaluable"]
    assert missing["met"] is None and not missing["evaluable"] and missing["reason"] == rec.REASON_MISSING
    assert "auffälligen Anstieg" in rule_text(on)


# ---------------------------------------------------------------------------
# reference (HZ against Saxony, via the ratio indicator of stage 1)
# ---------------------------------------------------------------------------

def test_reference_trigger_reads_the_ratio_and_needs_the_whole_interval():
    t = {"kind": "reference", "indicator": "profile.hz_mean_892000", "op": ">", "threshold": 1.0, "basis": "interval"}
    hz = (214.0, 204.0, 225.0, "je 100.000 Einw.")
    above = rec.evaluate_trigger(t, table(**{"profile.hz_mean_892000": hz,
                                             "profile.hz_ratio_892000": (1.2, 1.05, 1.35, "× Referenz")}))
    overlapping = rec.evaluate_trigger(t, table(**{"profile.hz_mean_892000": hz,
                                                   "profile.hz_ratio_892000": (1.2, 0.95, 1.45, "× Referenz")}))
    no_reference = rec.evaluate_trigger(t, table(**{"profile.hz_mean_892000": hz}))
    nothing = rec.evaluate_trigger(t, table())
    assert above["met"] is True and above["indicator"] == "profile.hz_ratio_892000" and above["compared"] == "lower"
    assert overlapping["met"] is False and overlapping["evaluable"]
    assert no_reference["reason"] == rec.REASON_REFERENCE_MISSING and no_reference["met"] is None
    assert nothing["reason"] == rec.REASON_MISSING
    assert "keinen Vergleichswert für Sachsen" in rule_text(no_reference)
    assert "1,20 × Referenz (95-%-Intervall 1,05–1,35)" in rule_text(above)


# ---------------------------------------------------------------------------
# group difference (women vs men)
# ---------------------------------------------------------------------------

GD = {"kind": "group_difference", "indicator": "survey.unsafe_night_women", "versus": "survey.unsafe_night_men",
      "op": ">", "threshold": 0.10, "alpha": 0.05}


def test_group_difference_positive_negative_missing():
    ind = table(**{"survey.unsafe_night_women": (0.40, 0.36, 0.44, "Anteil"),
                   "survey.unsafe_night_men": (0.20, 0.17, 0.23, "Anteil")})
    res = rec.evaluate_trigger(GD, ind)
    # by hand: se = sqrt((0.08/3.92)^2 + (0.06/3.92)^2) = 0.02551; lower = 0.20 - 1.95996 * 0.02551 = 0.1500
    assert res["value"] == pytest.approx(0.20) and res["lower"] == pytest.approx(0.15000, abs=1e-4)
    assert res["met"] is True and res["versus_value"] == 0.20 and res["reference_value"] == 0.40
    assert rec.evaluate_trigger({**GD, "threshold": 0.18}, ind)["met"] is False  # interval reaches below 0.18
    assert rec.evaluate_trigger({**GD, "op": "<", "threshold": 0.0}, ind)["met"] is False
    missing = rec.evaluate_trigger(GD, ind[ind["indicator"] != "survey.unsafe_night_men"])
    assert missing["reason"] == rec.REASON_VERSUS_MISSING and missing["met"] is None
    no_interval = ind.copy()
    no_interval.loc[0, ["lower", "upper"]] = np.nan
    assert rec.evaluate_trigger(GD, no_interval)["reason"] == rec.REASON_NO_INTERVAL
    text = rule_text({**res, "label": "Frauen gegenüber Männern", "versus_label": "Männer"})
    assert "40,0\u00a0% gegenüber 20,0\u00a0% (Männer), Unterschied 20,0 Prozentpunkte (Intervall 15,0 bis 25,0 Prozentpunkte)" in text
    assert "survey." not in text


def test_group_difference_p_value_equals_the_wald_test_of_statsmodels():
    """With Wald intervals (p ± z·sqrt(p(1-p)/n)) the recovered standard errors are exact, so the
    p value must equal statsmodels' unpooled Wald test of two independent proportions."""
    from scipy import stats
    from statsmodels.stats.proportion import test_proportions_2indep

    z = stats.norm.ppf(0.975)
    for (k1, n1, k2, n2, diff0) in [(120, 300, 70, 320, 0.0), (45, 200, 60, 180, 0.05), (300, 900, 260, 850, -0.02)]:
        def wald(k, n):
            p = k / n
            h = z * np.sqrt(p * (1 - p) / n)
            return {"value": p, "lower": p - h, "upper": p + h}
        ours = rec.group_difference(wald(k1, n1), wald(k2, n2), diff0, ">", 0.05)
        ref = test_proportions_2indep(k1, n1, k2, n2, value=diff0, method="wald", compare="diff",
                                      alternative="two-sided", correction=False)
        assert ours["p_value"] == pytest.approx(ref.pvalue, rel=1e-6)


def test_group_difference_false_alarm_rate_by_simulation():
    """Equal shares in both groups (known truth): with Wilson intervals from statsmodels the
    one-sided rule '>' with threshold 0 fires in about alpha/2 = 2.5 % of samples; with a real
    difference of 15 points it fires almost always."""
    from statsmodels.stats.proportion import proportion_confint

    rng = np.random.default_rng(7)

    def rate(p1, p2, n=400, reps=2000):
        k1, k2 = rng.binomial(n, p1, reps), rng.binomial(n, p2, reps)
        l1, u1 = proportion_confint(k1, n, method="wilson")
        l2, u2 = proportion_confint(k2, n, method="wilson")
        hits = [rec.group_difference({"value": a / n, "lower": b, "upper": c}, {"value": d / n, "lower": e, "upper": f},
                                     0.0, ">", 0.05)["met"] for a, b, c, d, e, f in zip(k1, l1, u1, k2, l2, u2)]
        return float(np.mean(hits))

    assert 0.01 <= rate(0.3, 0.3) <= 0.045
    assert rate(0.40, 0.25) >= 0.95


# ---------------------------------------------------------------------------
# batch (other communes of the same output folder)
# ---------------------------------------------------------------------------

def batch(values: dict) -> pd.DataFrame:
    return pd.DataFrame([{"commune_id": c, "indicator": "survey.problem_drugs", "value": v, "lower": np.nan,
                          "upper": np.nan} for c, v in values.items()])


def test_batch_median_and_rank():
    own = table(**{"survey.problem_drugs": (0.23, 0.21, 0.26, "Anteil")})
    median = {"kind": "batch", "indicator": "survey.problem_drugs", "op": ">", "threshold": 0.05,
              "statistic": "median", "basis": "interval"}
    res = rec.evaluate_trigger(median, own, batch({"a": 0.07, "b": 0.10, "c": 0.30}))
    assert res["reference_value"] == pytest.approx(0.10) and res["n_communes"] == 4
    assert res["met"] is True and res["compared"] == "lower"  # 0.21 - 0.10 > 0.05
    res = rec.evaluate_trigger(median, own, batch({"a": 0.20, "b": 0.18}))
    assert res["met"] is False  # 0.21 - 0.19 = 0.02
    res = rec.evaluate_trigger(median, own, batch({"a": 0.17, "b": 0.17}))
    assert res["met"] is False  # the value is 0.06 above the median, but the interval's lower bound only 0.04
    assert rec.evaluate_trigger({**median, "basis": "estimate"}, own, batch({"a": 0.17, "b": 0.17}))["met"] is True
    rank = {"kind": "batch", "indicator": "survey.problem_drugs", "op": ">", "statistic": "rank", "rank": 1}
    top = rec.evaluate_trigger(rank, own, batch({"a": 0.07, "b": 0.10}))
    second = rec.evaluate_trigger(rank, own, batch({"a": 0.07, "b": 0.30}))
    assert top["met"] is True and top["rank"] == 1 and top["threshold"] == 1
    assert second["met"] is False and second["rank"] == 2
    assert rec.evaluate_trigger({**rank, "rank": 2}, own, batch({"a": 0.07, "b": 0.30}))["met"] is True
    low = rec.evaluate_trigger({**rank, "op": "<"}, own, batch({"a": 0.07, "b": 0.30}))
    assert low["rank"] == 2 and low["met"] is False
    assert "Rang 1 von 3 Kommunen" in rule_text({**top, "label": "Drogen"})


def test_batch_with_too_few_communes_is_not_decidable_and_said_in_words():
    own = table(**{"survey.problem_drugs": (0.23, 0.21, 0.26, "Anteil")})
    t = {"kind": "batch", "indicator": "survey.problem_drugs", "op": ">", "statistic": "rank", "rank": 1}
    for others in (None, batch({"a": 0.1})):
        res = rec.evaluate_trigger(t, own, others)
        assert res["met"] is None and not res["evaluable"] and res["reason"] == rec.REASON_TOO_FEW_COMMUNES
    text = rule_text({**res, "label": "Drogen als Problem"})
    assert text.startswith("Nicht entscheidbar:") and "mindestens drei" in text and "survey." not in text
    # with min_communes 4, three communes are too few
    assert rec.evaluate_trigger({**t, "min_communes": 4}, own, batch({"a": 0.1, "b": 0.2}))["reason"] == \
        rec.REASON_TOO_FEW_COMMUNES


def test_batch_indicators_are_read_from_the_other_communes_of_the_output_folder(tmp_path):
    from kit.results import ResultStore

    for cid, v in (("own", 0.5), ("a", 0.1), ("b", 0.2)):
        ResultStore(tmp_path, cid).write_table("key_indicators_survey", table(**{"survey.problem_drugs": (v, None, None, "Anteil")}))
    (tmp_path / "logs").mkdir()  # not a commune
    got = cat.batch_indicators(tmp_path, "own")
    assert sorted(got["commune_id"]) == ["a", "b"] and sorted(got["value"]) == [0.1, 0.2]
    assert cat.batch_indicators(tmp_path / "nothing", "own").empty


# ---------------------------------------------------------------------------
# three-valued combination (Kleene), general recommendations
# ---------------------------------------------------------------------------

def kleene(logic: str, met: list) -> bool | None:
    """Reference: Kleene's strong logic with True = 1, unknown = 1/2, False = 0; any = max,
    all = min."""
    values = [0.5 if m is None else float(m) for m in met]
    v = max(values) if logic == "any" else min(values)
    return None if v == 0.5 else bool(v)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["any", "all"]), st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=7))
def test_combine_is_kleene_logic(logic, met):
    assert rec.combine(logic, met) == kleene(logic, met)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["any", "all"]), st.lists(st.sampled_from([True, False, None]), min_size=1, max_size=5))
def test_recommend_follows_kleene_logic_over_trigger_results(logic, met):
    """End to end: flags set to 1/0 or left out of the table give the measure's decision."""
    triggers = [{"kind": "flag", "indicator": f"profile.pks_rise_{i}"} for i in range(len(met))]
    rows = {f"profile.pks_rise_{i}": (1.0 if m else 0.0, None, None, "ja/nein") for i, m in enumerate(met) if m is not None}
    res = rec.recommend([measure("x", triggers, logic)], table(**rows)).measures.iloc[0]
    expected = kleene(logic, met)
    assert bool(res["triggered"]) == (expected is True)
    assert bool(res["evaluable"]) == (expected is not None)
    assert res["recommendation_kind"] == ("specific" if expected else "")


def test_general_recommendations_always_and_by_size():
    pop = table(**{"profile.population": (25000.0, None, None, "Personen")})
    m = [measure("immer", general={"always": True}),
         measure("gross", general={"min_population": 20000}),
         measure("sehr_gross", general={"min_population": 100000}),
         measure("beides", [{"kind": "flag", "indicator": "profile.pks_rise_892000"}], general={"min_population": 20000})]
    res = rec.recommend(m, pop).measures.set_index("measure_id")
    assert res.loc["immer", "recommended"] and res.loc["immer", "recommendation_kind"] == "general"
    assert res.loc["gross", "recommended"] and not res.loc["sehr_gross", "recommended"]
    assert res.loc["sehr_gross", "evaluable"]
    assert res.loc["beides", "recommended"] and res.loc["beides", "recommendation_kind"] == "general"
    assert not res.loc["beides", "triggered"]  # its rule could not be checked (flag missing)
    unknown = rec.recommend(m, table()).measures.set_index("measure_id")
    assert not unknown.loc["gross", "recommended"] and not unknown.loc["gross", "evaluable"]  # population missing
    text = recommendations_markdown(rec.recommend(m, pop))
    assert "Allgemeine Empfehlung für jede Kommune" in text and "Kommunen ab 20.000 Einwohnern" in text


# ---------------------------------------------------------------------------
# overrides from the commune's params; unknown indicators
# ---------------------------------------------------------------------------

def write_params(tmp_path, recommendations: dict) -> str:
    data = yaml.safe_load((PARAMS_DIR / "muldenau.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(tmp_path / "daten")  # only the params are read: an empty folder will do
    (tmp_path / "daten").mkdir(exist_ok=True)
    data["demo"] = False
    data["recommendations"] = recommendations
    path = tmp_path / "muldenau.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def shipped():
    return read_catalogue(REPO_ROOT / "params" / "measures.yaml")


def test_overrides_switch_off_add_reword_from_params(tmp_path, shipped):
    added = {k: v for k, v in measure("eigene_massnahme", [
        {"indicator": "survey.problem_litter", "op": ">=", "threshold": 0.2}]).items()}
    path = write_params(tmp_path, {
        "switch_off": [{"id": "saubere_stadt", "reason": "Konzept seit 2023 beschlossen"}],
        "add": [added],
        "reword": {"verkehrssicherheitskonzept": {"title": "Verkehrssicherheit an der B 95"}}})
    params = load_params(path)
    cfg = params["recommendations"]
    cat_, off, origin, reworded = cat.apply_overrides(shipped, cfg, "Parameterdatei x")
    by_id = {m["id"]: m for m in cat_}
    assert off == {"saubere_stadt": "Konzept seit 2023 beschlossen"}
    assert origin["eigene_massnahme"] == "commune" and origin["saubere_stadt"] == "catalogue"
    assert by_id["verkehrssicherheitskonzept"]["title"] == "Verkehrssicherheit an der B 95"
    assert reworded == {"verkehrssicherheitskonzept"}
    assert {m["id"]: m for m in shipped}["verkehrssicherheitskonzept"]["title"] != "Verkehrssicherheit an der B 95"
    ind = table(**{"survey.problem_litter": (0.5, 0.45, 0.55, "Anteil"),
                   "survey.problem_speeding": (0.5, 0.45, 0.55, "Anteil")})
    result = rec.recommend(cat_, ind, switched_off=off, origin=origin, reworded=reworded)
    res = result.measures.set_index("measure_id")
    assert res.loc["saubere_stadt", "triggered"] and not res.loc["saubere_stadt", "recommended"]
    assert res.loc["saubere_stadt", "switched_off"] and res.loc["eigene_massnahme", "recommended"]
    text = recommendations_markdown(result)
    assert "### Für diese Kommune abgeschaltete Maßnahmen" in text
    assert "Gesamtkonzept „Saubere Stadt“:** Konzept seit 2023 beschlossen" in text
    assert "Verkehrssicherheit an der B 95" in text and "Titel eigene_massnahme (für diese Kommune ergänzt)" in text
    assert text.index("abgeschaltete") > text.index("Verkehrssicherheit an der B 95")
    shown = []
    import kit.recommend.view as view
    original = view.show_md
    view.show_md = shown.append
    try:
        show_summary(result)
    finally:
        view.show_md = original
    assert "Eine Maßnahme haben die Analysten für diese Kommune abgeschaltet" in shown[0]
    assert "Saubere Stadt" not in shown[0].split("\n\n", 1)[1]  # not listed among the triggered ones


def test_overrides_with_unknown_ids_and_bad_added_measure_are_refused(tmp_path, shipped):
    with pytest.raises(ParamsError, match=r"switch_off Nr\. 1: Maßnahme „sauber_stadt“ gibt es nicht.*saubere_stadt"):
        cat.apply_overrides(shipped, {"switch_off": [{"id": "sauber_stadt", "reason": "x"}]}, "Parameterdatei p")
    with pytest.raises(ParamsError, match="reword: Maßnahme „gibtsnicht“ gibt es nicht"):
        cat.apply_overrides(shipped, {"reword": {"gibtsnicht": {"title": "T"}}}, "Parameterdatei p")
    with pytest.raises(ParamsError, match="add Nr. 1: id „ctc“ gibt es schon"):
        cat.apply_overrides(shipped, {"add": [measure("ctc", [])]}, "Parameterdatei p")
    bad = measure("neu", [{"indicator": "survey.problem_litter", "op": ">=", "threshold": 0.2}])
    del bad["lead"]
    with pytest.raises(ParamsError, match=r"recommendations\.add\[1\]\.lead|recommendations.add.*lead"):
        load_params(write_params(tmp_path, {"add": [bad]}))
    with pytest.raises(ParamsError, match="switch_off.*reason"):
        load_params(write_params(tmp_path, {"switch_off": [{"id": "ctc"}]}))


def test_unknown_indicator_is_a_params_error_naming_measure_and_trigger(shipped):
    params = load_params(PARAMS_DIR / "muldenau.yaml")
    cat.check_indicators(shipped, params, "Maßnahmenkatalog k.yaml")  # the shipped catalogue is clean
    bad = copy.deepcopy(shipped[:2])
    bad[1]["triggers"][1]["indicator"] = "survey.problem_litterr"
    with pytest.raises(ParamsError) as info:
        cat.check_indicators(bad, params, "Maßnahmenkatalog k.yaml")
    msg = str(info.value)
    assert f"Maßnahme Nr. 2 ({bad[1]['id']}), Auslöser Nr. 2: indicator „survey.problem_litterr“" in msg
    assert "gemeint vielleicht: survey.problem_litter" in msg and msg.startswith("Maßnahmenkatalog k.yaml")
    versus = copy.deepcopy(shipped[:1])
    versus[0]["triggers"] = [{**GD, "versus": "survey.unsafe_night_man"}]
    with pytest.raises(ParamsError, match=r"Auslöser Nr\. 1: versus „survey.unsafe_night_man“"):
        cat.check_indicators(versus, params, "Maßnahmenkatalog k.yaml")
    # the trigger model refuses what no kind can evaluate
    from kit.params import Trigger

    with pytest.raises(Exception, match="versus"):
        Trigger.model_validate({"kind": "group_difference", "indicator": "survey.a"})
    with pytest.raises(Exception, match="op und threshold"):
        Trigger.model_validate({"indicator": "survey.a"})


def test_missing_indicator_is_said_in_plain_words(shipped):
    result = rec.recommend(shipped, table(**{"profile.population": (8000.0, None, None, "Personen")}))
    words = rules_table(result).to_string() + recommendations_markdown(result)
    assert "Nicht prüfbar" in rules_table(result)["met"].str.cat() or "nicht prüfbar" in words
    for bad in ("survey.", "profile.", "measures.yaml", "params", "nan", "NaN", "None"):
        assert bad not in words, bad


@pytest.mark.parametrize("n_undecided", [1, 2])
def test_summary_counts_undecided_measures_in_singular_and_plural(monkeypatch, n_undecided):
    import kit.recommend.view as view

    measures = [measure(f"m{i}", [{"indicator": "survey.problem_litter", "op": ">=", "threshold": 0.2}])
                for i in range(n_undecided)]
    result = rec.recommend(measures, table())  # no findings: every rule undecidable
    shown = []
    monkeypatch.setattr(view, "show_md", shown.append)
    show_summary(result)
    text = " ".join(shown)
    if n_undecided == 1:
        assert "Nicht entschieden werden konnte eine Maßnahme," in text
        assert "konnten 1 Maßnahmen" not in text
    else:
        assert "Nicht entschieden werden konnten 2 Maßnahmen," in text


def test_summary_counts_fundable_measures_among_the_triggered_ones_not_the_general(monkeypatch):
    """Two measures triggered by a finding (one fundable), one general recommendation: the
    sentence on funding names its base (the triggered ones), so it cannot be read as a share
    of the general recommendations just listed."""
    import kit.recommend.view as view

    rule = [{"indicator": "survey.problem_litter", "op": ">=", "threshold": 0.2}]
    measures = [measure("a", rule), measure("b", rule, funding={"kommpraev": False, "reason": "-"}),
                measure("immer", general={"always": True})]
    result = rec.recommend(measures, table(**{"survey.problem_litter": (0.4, 0.35, 0.45, "Anteil")}))
    shown = []
    monkeypatch.setattr(view, "show_md", shown.append)
    show_summary(result)
    text = " ".join(shown)
    assert "Von den 2 durch Befunde ausgelösten Empfehlungen ist 1 nach der Förderrichtlinie" in text
    assert "davon sind" not in text
