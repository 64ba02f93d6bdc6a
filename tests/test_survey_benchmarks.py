"""Survey key indicators beside published reference values (kit.survey.benchmarks)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.survey.benchmarks import REFERENCE_COLUMNS, compare_with_benchmarks, load_benchmarks
from kit.survey.estimates import wilson_interval

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "survey_aggregates"


def _key(indicator: str, value, lower, upper) -> pd.DataFrame:
    return pd.DataFrame([{"indicator": indicator, "label": "x", "value": value, "lower": lower, "upper": upper,
                          "unit": "Anteil", "source": "Bürgerbefragung"}], columns=KEY_INDICATOR_COLUMNS)


def _ref(value, n=np.nan, indicator="survey.x") -> pd.DataFrame:
    return pd.DataFrame([{"indicator": indicator, "reference": "r", "label": "Referenz", "value": value, "n": n,
                          "year": 2017, "source": "Quelle", "wording": "same"}], columns=REFERENCE_COLUMNS)


def test_shipped_reference_file_is_complete_and_plausible():
    table = load_benchmarks()
    assert list(table.columns) == REFERENCE_COLUMNS
    assert table["value"].between(0, 1).all() and table["source"].str.len().gt(20).all()
    assert set(table["wording"]) <= {"same", "similar"}
    # every indicator named is one the default params hand to stage 3
    import yaml

    from kit.params import DEFAULTS_FILE
    ids = {f"survey.{k['id']}" for k in yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))["survey"]["key_indicators"]}
    # ... except the response rate (a range, compared in kit.survey.response_benchmark)
    assert set(table["indicator"]) - {"survey.response_rate"} <= ids
    # DVS 2017 as given in the design notes: eher unsicher 15,2 % + sehr unsicher 6,3 %
    dvs = table[(table["indicator"] == "survey.unsafe_night") & (table["reference"] == "dvs2017_de")]
    assert float(dvs["value"].iloc[0]) == pytest.approx(0.152 + 0.063)


def test_dvs2012_rows_match_the_published_aggregates():
    facets = SHARED / "dvs2012_kriminalitaetsfurcht_facets.csv"
    if not facets.exists():
        pytest.skip(f"Reale Vergleichsdaten fehlen ({facets}); der Test braucht ../shared/realdata.")
    raw = pd.read_csv(facets)
    general = raw[(raw["category"] == "Allgemein") & raw["facet"].isna()].set_index("concern")["value"]
    saxony = raw[(raw["category"] == "Allgemein") & (raw["facet_value"] == "Sachsen")]["value"].iloc[0]
    table = load_benchmarks().set_index("reference")
    assert table.loc["dvs2012_de", "value"] == pytest.approx(general["ziemlich"] + general["sehr stark"])
    assert table.loc["dvs2012_sn", "value"] == pytest.approx(saxony)


@given(p=st.floats(0.02, 0.98), half_lo=st.floats(0.001, 0.2), half_hi=st.floats(0.001, 0.2),
       ref=st.floats(0.0, 1.0))
def test_fixed_reference_differs_exactly_when_it_lies_outside_the_interval(p, half_lo, half_hi, ref):
    lo, hi = max(p - half_lo, 0.0), min(p + half_hi, 1.0)
    out = compare_with_benchmarks(_key("survey.x", p, lo, hi), _ref(ref)).iloc[0]
    if ref < lo - 1e-12:
        assert out["verdict"] == "higher"
    elif ref > hi + 1e-12:
        assert out["verdict"] == "lower"
    elif lo + 1e-12 < ref < hi - 1e-12:
        assert out["verdict"] == "similar"


def test_reference_with_a_sample_size_adds_its_own_variance():
    # by hand: p = 0,30 with interval 0,25-0,36 (half toward 0,24 is 0,05); reference 0,24 from n = 500
    out = compare_with_benchmarks(_key("survey.x", 0.30, 0.25, 0.36), _ref(0.24, n=500)).iloc[0]
    se = math.sqrt((0.05 / 1.959963985) ** 2 + 0.24 * 0.76 / 500)
    assert out["z"] == pytest.approx(0.06 / se, rel=1e-6)
    assert out["p_value"] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(0.06 / se) / math.sqrt(2)))), rel=1e-6)
    assert out["verdict"] == "similar"  # outside the commune's interval, but within both uncertainties
    fixed = compare_with_benchmarks(_key("survey.x", 0.30, 0.25, 0.36), _ref(0.24)).iloc[0]
    assert fixed["verdict"] == "higher"


def test_suppressed_value_is_not_compared_and_unknown_indicators_are_skipped():
    keys = pd.concat([_key("survey.x", np.nan, np.nan, np.nan), _key("survey.y", 0.5, 0.4, 0.6)])
    out = compare_with_benchmarks(keys, pd.concat([_ref(0.3), _ref(0.3, indicator="survey.z")]))
    assert list(out["indicator"]) == ["survey.x"] and out["verdict"].iloc[0] == "not_shown"
    assert pd.isna(out["difference"].iloc[0])


def test_false_difference_rate_holds_for_a_commune_equal_to_the_reference():
    """Simulation with known truth: communes whose true share equals the reference are called
    different in about 5 % of samples (Wilson interval, n = 400)."""
    rng = np.random.default_rng(7)
    p_true, n, reps = 0.215, 400, 3000
    hits = rng.binomial(n, p_true, size=reps)
    rows = []
    for i, x in enumerate(hits):
        lo, hi = wilson_interval(x / n, n, 0.95)
        rows.append({"indicator": f"survey.s{i}", "label": "x", "value": x / n, "lower": lo, "upper": hi,
                     "unit": "Anteil", "source": "Bürgerbefragung"})
    keys = pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)
    refs = pd.concat([_ref(p_true, indicator=f"survey.s{i}") for i in range(reps)], ignore_index=True)
    rate = (compare_with_benchmarks(keys, refs)["verdict"] != "similar").mean()
    assert 0.03 <= rate <= 0.075, rate
