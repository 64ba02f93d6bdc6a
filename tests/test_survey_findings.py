"""'Das Wichtigste in Kürze' of the survey: findings as numbers (kit.survey.findings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.survey.benchmarks import compare_with_benchmarks, load_benchmarks
from kit.survey.findings import MAX_FINDINGS, MAX_PROBLEMS, survey_findings


def _keys(values: dict[str, float], half: float = 0.04) -> pd.DataFrame:
    return pd.DataFrame([{"indicator": k, "label": k.removeprefix("survey."), "value": v,
                          "lower": max(v - half, 0), "upper": min(v + half, 1), "unit": "Anteil",
                          "source": "Bürgerbefragung"} for k, v in values.items()], columns=KEY_INDICATOR_COLUMNS)


def test_order_and_content_of_the_findings():
    keys = _keys({"survey.like_living": 0.80, "survey.unsafe_night": 0.22, "survey.unsafe_night_women": 0.30,
                  "survey.problem_litter": 0.31, "survey.problem_speeding": 0.61, "survey.problem_graffiti": 0.10,
                  "survey.problem_dog_fouling": 0.56, "survey.knows_police_advice": 0.033})
    bench = compare_with_benchmarks(keys, load_benchmarks())
    out = survey_findings(keys, bench, {"night_unsafe_by_sex": {"p_value": 0.001}}, n_respondents=406,
                          response_rate=0.41)
    # 80 % like living vs 93 % in ASSKomm communes: a difference beyond the interval, so first
    assert out.iloc[0]["code"] == "benchmark" and out.iloc[0]["indicator"] == "survey.like_living"
    assert out.iloc[0]["verdict"] == "lower" and out.iloc[0]["reference_value"] == 0.93
    # one comparison per indicator; for night insecurity the reference with the same wording (DVS 2017)
    bench_rows = out[out["code"] == "benchmark"]
    assert bench_rows["indicator"].is_unique
    night = bench_rows[bench_rows["indicator"] == "survey.unsafe_night"].iloc[0]
    assert night["reference_year"] == 2017 and night["verdict"] == "similar"
    # sex difference before the problems; the problems are the three largest shares, largest first
    codes = list(out["code"])
    assert codes.index("sex_difference") < codes.index("top_problem")
    problems = out[out["code"] == "top_problem"]
    assert list(problems["indicator"]) == ["survey.problem_speeding", "survey.problem_dog_fouling",
                                           "survey.problem_litter"]
    assert out.iloc[-1]["code"] in ("sample", "benchmark") and len(out) <= MAX_FINDINGS
    assert (out["score"].diff().dropna() <= 0).all()


def test_sex_difference_only_when_the_test_finds_one_and_suppressed_values_are_left_out():
    keys = _keys({"survey.unsafe_night": 0.2, "survey.unsafe_night_women": 0.25, "survey.problem_drugs": np.nan})
    out = survey_findings(keys, None, {"night_unsafe_by_sex": {"p_value": 0.4}}, n_respondents=120)
    row = out[out["code"] == "sex_difference"].iloc[0]
    assert row["verdict"] == "similar" and row["score"] < out[out["code"] == "sample"]["score"].iloc[0] + 1
    assert "survey.problem_drugs" not in set(out["indicator"])  # a suppressed share is no finding
    assert survey_findings(keys, None, {}, n_respondents=120)["code"].tolist() == ["sample"]


@given(st.dictionaries(st.sampled_from([f"survey.problem_{i}" for i in range(10)]), st.floats(0, 1),
                       min_size=0, max_size=10))
def test_top_problems_are_the_largest_shares_in_order(shares):
    out = survey_findings(_keys(shares), None, {}, n_respondents=300)
    problems = out[out["code"] == "top_problem"]
    expected = sorted(shares.values(), reverse=True)[:MAX_PROBLEMS]
    assert list(problems["value"]) == expected
    assert len(out) <= MAX_FINDINGS


def test_among_references_with_the_same_wording_the_most_recent_is_used():
    from kit.survey.benchmarks import REFERENCE_COLUMNS

    keys = _keys({"survey.unsafe_night": 0.40})
    refs = pd.DataFrame([
        {"indicator": "survey.unsafe_night", "reference": "old", "label": "alt", "value": 0.20, "n": np.nan,
         "year": 2012, "source": "Q", "wording": "same"},
        {"indicator": "survey.unsafe_night", "reference": "new", "label": "neu", "value": 0.30, "n": np.nan,
         "year": 2017, "source": "Q", "wording": "same"},
        {"indicator": "survey.unsafe_night", "reference": "rough", "label": "grob", "value": 0.10, "n": np.nan,
         "year": 2022, "source": "Q", "wording": "similar"}], columns=REFERENCE_COLUMNS)
    out = survey_findings(keys, compare_with_benchmarks(keys, refs), {}, n_respondents=300)
    row = out[out["code"] == "benchmark"].iloc[0]
    assert row["reference_label"] == "neu" and row["reference_year"] == 2017
