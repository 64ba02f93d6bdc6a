"""Response-quality rules of the survey cleaning (issue 9 item 9, issue 13 item 3) and the
response rate beside the ASSKomm range.

Each rule on constructed data (positive and negative cases, boundaries, hypothesis where the
inputs vary), flag vs drop, the cleaning log against the affected cases, small counts hidden
in the written CSV and not recomputable, German params errors, the demo's planted cases, the
report sentences.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from statsmodels.stats.proportion import proportion_confint

from helpers import MINIMAL_PARAMS
from kit.disclosure import DisclosurePolicy
from kit.errors import ParamsError
from kit.params import load_params
from kit.results import ResultStore
from kit.survey.cleaning import clean_responses
from kit.survey.codebook import load_codebook
from kit.survey.quality import MIN_TIMES, batteries, check_quality_settings, speeders, straightliners
from kit.survey.quality_view import cleaning_sentences, response_benchmark_sentence
from kit.survey.response_benchmark import load_response_reference, response_rate_benchmark

B1 = [f"B1_{i}" for i in range(1, 6)]  # 5 items, same direction: qualifies at min_items 5
B2 = ["B2_1", "B2_2", "B2_3"]  # 3 items of mixed direction: always qualifies
B3 = ["B3_1", "B3_2", "B3_3"]  # 3 items, same direction: does not qualify

CODEBOOK = {
    "name": "quality_test", "title": "Test", "missing_codes": [-9, -99], "missing_labels": ["k.A.", "weiß nicht"],
    "roles": {"age": "alter", "sex": "geschlecht"},
    "value_sets": {"s4": {1: "a", 2: "b", 3: "c", 4: "d"}, "g3": {1: "männlich", 2: "weiblich", 3: "divers"}},
    "items": (
        [{"id": "Q1", "block": "A", "question": "Q1", "text": "q1", "type": "single", "values": "s4"}]
        + [{"id": i, "block": "B", "question": "B1", "text": i, "type": "scale", "values": "s4",
            "direction": "high_is_negative"} for i in B1]
        + [{"id": i, "block": "B", "question": "B2", "text": i, "type": "scale", "values": "s4",
            "direction": d} for i, d in zip(B2, ["high_is_negative", "high_is_positive", "high_is_negative"])]
        + [{"id": i, "block": "C", "question": "B3", "text": i, "type": "scale", "values": "s4",
            "direction": "high_is_negative"} for i in B3]
        + [{"id": "M_1", "block": "C", "question": "M", "text": "m1", "type": "multi"},
           {"id": "M_2", "block": "C", "question": "M", "text": "m2", "type": "multi"},
           {"id": "T", "block": "C", "question": "T", "text": "t", "type": "text"},
           {"id": "alter", "block": "D", "question": "alter", "text": "Alter", "type": "numeric", "min": 16,
            "max": 110},
           {"id": "geschlecht", "block": "D", "question": "geschlecht", "text": "Geschlecht", "type": "single",
            "values": "g3"}]),
}
N_QUESTIONS = 8  # Q1, B1, B2, B3, M, T, alter, geschlecht
QUALITY = {"empty": {"action": "drop", "min_answered": 0.1},
           "incomplete": {"action": "keep", "min_answered": 0.5, "last_page": None},
           "speeding": {"action": "flag", "max_share_of_median": 0.3},
           "straightlining": {"action": "flag", "min_items": 5}}


@pytest.fixture(scope="module")
def cb(tmp_path_factory):
    path = tmp_path_factory.mktemp("cb") / "codebook.yaml"
    path.write_text(yaml.safe_dump(CODEBOOK, allow_unicode=True), encoding="utf-8")
    return load_codebook(path)


def full_row(i: int, **over) -> dict:
    """A plausible, complete answer: varied battery answers, every question answered."""
    row = {"id": str(i), "Q1": "2", "alter": "40", "geschlecht": "1", "M_1": "1", "M_2": "0", "T": "Text",
           **{c: str(1 + (k + i) % 4) for k, c in enumerate(B1)}, "B2_1": "1", "B2_2": "3", "B2_3": "2",
           "B3_1": "2", "B3_2": "2", "B3_3": "2"}
    row.update(over)
    return row


def make_raw(cb, rows, paradata: dict | None = None) -> pd.DataFrame:
    df = pd.DataFrame([{"id": r.get("id"), **{i: r.get(i) for i in cb.items}} for r in rows], dtype=object)
    df.attrs.update(source="antworten.csv", first_data_row=2, paradata=paradata or {})
    return df


def clean(cb, rows, paradata=None, **settings_):
    rules = {k: dict(v) for k, v in QUALITY.items()}
    for key, value in settings_.items():
        rule, _, setting = key.partition("__")
        rules[rule][setting] = value
    return clean_responses(make_raw(cb, rows, paradata), cb, rules)


def hits(result, rule: str) -> list[str]:
    return result.issues.loc[result.issues["rule"] == rule, "respondent_id"].tolist()


def log_row(result, rule: str) -> pd.Series:
    return result.log.set_index("rule").loc[rule]


def test_codebook_question_count(cb):
    assert len(cb.questions()) == N_QUESTIONS


# ---------------------------------------------------------------------------
# empty
# ---------------------------------------------------------------------------


def test_empty_questionnaires_are_dropped_and_missing_codes_are_no_answer(cb):
    rows = [full_row(1), {"id": "2"},  # nothing at all
            {"id": "3", "Q1": "k.A.", "B1_1": "-9", "alter": "-99", "T": "  "},  # only missing codes and blanks
            {"id": "4", "M_1": "1"},  # one question of eight (12,5 %) answered: not empty at 10 %
            {"id": "5", "T": "nur ein Satz"}]
    res = clean(cb, rows)
    assert hits(res, "empty") == ["2", "3"]
    assert res.data.index.tolist() == ["1", "4", "5"]
    row = log_row(res, "empty")
    assert (row["cases"], row["removed"], bool(row["removes"])) == (2, 2, True)
    assert log_row(res, "cases_dropped")["cases"] == 2


def test_empty_boundary_is_strict_and_flag_keeps_the_case(cb):
    rows = [full_row(1), {"id": "2", "Q1": "1"}]  # exactly 1/8 of the questions answered
    assert hits(clean(cb, rows, empty__min_answered=1 / N_QUESTIONS), "empty") == []
    assert hits(clean(cb, rows, empty__min_answered=1 / N_QUESTIONS + 1e-9), "empty") == ["2"]
    res = clean(cb, rows, empty__min_answered=0.2, empty__action="flag")
    assert hits(res, "empty") == ["2"] and "2" in res.data.index
    assert log_row(res, "empty")["removed"] == 0 and log_row(res, "cases_dropped")["cases"] == 0


def test_rules_not_named_are_off(cb):
    res = clean_responses(make_raw(cb, [full_row(1), {"id": "2"}]), cb, {})
    assert res.data.index.tolist() == ["1", "2"]
    assert not set(res.log["rule"]) & {"empty", "incomplete", "speeding", "straightlining"}


# ---------------------------------------------------------------------------
# incomplete
# ---------------------------------------------------------------------------


def _partial(i: int, n_answered: int) -> dict:
    """Answers to the first ``n_answered`` questions only (questionnaire order)."""
    row = full_row(i)
    order = [["Q1"], B1, B2, B3, ["M_1", "M_2"], ["T"], ["alter"], ["geschlecht"]]
    for cols in order[n_answered:]:
        for c in cols:
            row.pop(c, None)
    return row


def test_incomplete_keeps_partials_and_drops_breakoffs(cb):
    # 1 complete; 2 not submitted, 5 of 8 answered (62,5 %); 3 left on page 2 of 4, 2 of 8 (25 %);
    # 4 submitted but lastpage below the final page, complete answers
    rows = [full_row(1), _partial(2, 5), _partial(3, 2), full_row(4)]
    para = {"submitdate": ["2025-03-01 10:00:00", None, "", "2025-03-01 11:00:00"], "lastpage": [4, 3, 2, 3]}
    res = clean(cb, rows, para)
    assert hits(res, "incomplete") == ["2", "4"] and hits(res, "breakoff") == ["3"]
    assert res.data.index.tolist() == ["1", "2", "4"]
    assert log_row(res, "breakoff")["removed"] == 1 and log_row(res, "incomplete")["removed"] == 0
    # boundary: the minimum exactly at 5/8 keeps case 2, just above drops it
    assert hits(clean(cb, rows, para, incomplete__min_answered=5 / 8), "breakoff") == ["3"]
    assert hits(clean(cb, rows, para, incomplete__min_answered=5 / 8 + 1e-9), "breakoff") == ["2", "3"]
    # drop: every incomplete questionnaire goes
    res = clean(cb, rows, para, incomplete__action="drop")
    assert hits(res, "incomplete") == ["2", "3", "4"] and res.data.index.tolist() == ["1"]
    # an explicit last page: 3 means page 3 is the end, so only the unsubmitted ones are incomplete
    assert hits(clean(cb, rows, para, incomplete__last_page=3), "incomplete") == ["2"]


def test_incomplete_without_paradata_is_reported_as_not_checkable(cb):
    res = clean(cb, [full_row(1), _partial(2, 2)])
    assert "incomplete" in res.unchecked and "speeding" in res.unchecked
    assert not set(res.log["rule"]) & {"incomplete", "breakoff", "speeding"}
    assert res.data.index.tolist() == ["1", "2"]


def test_an_empty_questionnaire_is_counted_once_not_also_as_incomplete(cb):
    rows = [full_row(1), {"id": "2"}]
    res = clean(cb, rows, {"submitdate": ["2025-03-01 10:00:00", None], "lastpage": [4, 1]})
    assert hits(res, "empty") == ["2"] and hits(res, "incomplete") == [] and hits(res, "breakoff") == []
    assert log_row(res, "cases_dropped")["cases"] == 2 - 1 == log_row(res, "empty")["removed"]


# ---------------------------------------------------------------------------
# speeding
# ---------------------------------------------------------------------------


def _timed(n: int, seconds) -> tuple[list[dict], dict]:
    rows = [full_row(i) for i in range(n)]
    return rows, {"interviewtime": list(seconds), "submitdate": ["2025-03-01 10:00:00"] * n}


def test_speeding_flags_below_the_share_of_the_median_strictly(cb):
    times = [1000.0] * 25 + [299.0, 300.0, 301.0]  # median 1000: 300 is the limit, not below it
    rows, para = _timed(len(times), times)
    res = clean(cb, rows, para)
    assert hits(res, "speeding") == ["25"]
    assert len(res.data) == len(times)  # flag keeps
    res = clean(cb, rows, para, speeding__action="drop")
    assert hits(res, "speeding") == ["25"] and "25" not in res.data.index
    assert log_row(res, "speeding")["removed"] == 1


def test_speeding_uses_submit_minus_start_without_interviewtime(cb):
    n = 24
    start = pd.Timestamp("2025-03-01 10:00:00")
    minutes = [20] * (n - 1) + [5]  # median 20 min, 5 min < 0.3 x 20 = 6 min
    para = {"startdate": [str(start)] * n,
            "submitdate": [str(start + pd.Timedelta(minutes=m)) for m in minutes]}
    res = clean(cb, [full_row(i) for i in range(n)], para)
    assert hits(res, "speeding") == [str(n - 1)]


def test_speeding_needs_enough_times_and_skips_unsubmitted(cb):
    rows, para = _timed(MIN_TIMES - 1, [1000.0] * (MIN_TIMES - 2) + [10.0])
    res = clean(cb, rows, para)
    assert "speeding" in res.unchecked and hits(res, "speeding") == []
    rows, para = _timed(MIN_TIMES + 2, [1000.0] * (MIN_TIMES + 1) + [10.0])
    para["submitdate"][-1] = None  # not submitted: a short time is no speeding
    assert hits(clean(cb, rows, para), "speeding") == []


@settings(max_examples=40, deadline=None)
@given(times=st.lists(st.floats(10, 5000), min_size=MIN_TIMES, max_size=60), scale=st.floats(0.01, 100),
       share=st.floats(0.05, 0.95))
def test_speeders_match_a_direct_computation_and_ignore_the_time_unit(times, scale, share):
    t = np.array(times)
    fast, median = speeders(t, np.ones(len(t), dtype=bool), share)
    assert median == pytest.approx(float(pd.Series(times).median()))
    assert fast.tolist() == [x < share * median for x in times]
    scaled, _ = speeders(t * scale, np.ones(len(t), dtype=bool), share)
    # the same cases except where rounding puts a time exactly on the limit
    differ = np.flatnonzero(scaled != fast)
    assert all(abs(t[i] - share * median) <= 1e-9 * median for i in differ)


# ---------------------------------------------------------------------------
# straight-lining
# ---------------------------------------------------------------------------


def test_batteries_qualify_by_size_or_mixed_direction(cb):
    assert batteries(cb, 5) == {"B1": B1, "B2": B2}
    assert batteries(cb, 3) == {"B1": B1, "B2": B2, "B3": B3}
    assert batteries(cb, 6) == {"B2": B2}


def test_straightlining_needs_every_qualifying_battery_uniform_and_complete(cb):
    same = {**{c: "3" for c in B1}, **{c: "2" for c in B2}}  # different codes per battery are allowed
    rows = [full_row(1), full_row(2, **same),
            full_row(3, **{**same, "B2_3": "4"}),  # one item of B2 differs
            full_row(4, **{**same, "B1_5": "-9"}),  # B1 incomplete
            full_row(5, **{c: "3" for c in B1})]  # only B1 uniform
    res = clean(cb, rows)
    assert hits(res, "straightlining") == ["2"] and len(res.data) == 5
    res = clean(cb, rows, straightlining__action="drop")
    assert "2" not in res.data.index and log_row(res, "straightlining")["removed"] == 1
    # with min_items 6 only the mixed battery qualifies: 2, 4 and 3? (3 differs in B2) -> 2 and 4
    assert hits(clean(cb, rows, straightlining__min_items=6), "straightlining") == ["2", "4"]


@settings(max_examples=60, deadline=None)
@given(codes=st.lists(st.integers(1, 4), min_size=2, max_size=2), which=st.integers(0, len(B1) + len(B2) - 1),
       shift=st.integers(1, 3))
def test_a_battery_with_any_one_item_changed_is_never_straightlining(codes, which, shift):
    values = pd.DataFrame([{**{c: float(codes[0]) for c in B1}, **{c: float(codes[1]) for c in B2}}])
    items = {"B1": B1, "B2": B2}
    assert straightliners(values, items).tolist() == [True]
    col = (B1 + B2)[which]
    values.loc[0, col] = float((int(values.loc[0, col]) - 1 + shift) % 4 + 1)
    assert straightliners(values, items).tolist() == [False]


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.lists(st.one_of(st.none(), st.integers(1, 4)), min_size=8, max_size=8), min_size=1,
                     max_size=20))
def test_straightliners_agree_with_a_set_based_definition(rows):
    values = pd.DataFrame([[np.nan if v is None else float(v) for v in r] for r in rows], columns=B1 + B2)
    got = straightliners(values, {"B1": B1, "B2": B2}).tolist()
    want = [all(None not in r[a:b] and len(set(r[a:b])) == 1 for a, b in ((0, 5), (5, 8))) for r in rows]
    assert got == want


# ---------------------------------------------------------------------------
# the log, its disclosure control and the written CSV
# ---------------------------------------------------------------------------


def _mixed_file(cb, n_ok=40, n_empty=6, n_break=2, n_straight=3, n_fast=1):
    rows, submit, page, secs = [], [], [], []
    i = 0
    for kind, count in (("ok", n_ok), ("empty", n_empty), ("break", n_break), ("straight", n_straight),
                        ("fast", n_fast)):
        for _ in range(count):
            i += 1
            if kind == "empty":
                rows.append({"id": str(i)})
            elif kind == "break":
                rows.append(_partial(i, 2))
            elif kind == "straight":
                rows.append(full_row(i, **{c: "4" for c in B1 + B2}))
            else:
                rows.append(full_row(i))
            submit.append(None if kind == "break" else "2025-03-01 10:00:00")
            page.append(2 if kind == "break" else 4)
            secs.append(100.0 if kind == "fast" else 1200.0 + i)
    return rows, {"submitdate": submit, "lastpage": page, "interviewtime": secs}


def test_log_counts_equal_the_affected_cases_and_removed_adds_up(cb):
    rows, para = _mixed_file(cb)
    res = clean(cb, rows, para)
    log = res.log.set_index("rule")
    for rule in ("empty", "breakoff", "straightlining", "speeding"):
        assert log.loc[rule, "cases"] == len(hits(res, rule)) == res.issues["rule"].eq(rule).sum()
    assert (log.loc["empty", "cases"], log.loc["breakoff", "cases"], log.loc["straightlining", "cases"],
            log.loc["speeding", "cases"]) == (6, 2, 3, 1)
    assert log["removed"].sum() == log.loc["cases_dropped", "cases"] == 8
    assert log.loc["records_in", "cases"] - log.loc["cases_dropped", "cases"] == log.loc["cases_out", "cases"]
    assert len(res.data) == log.loc["cases_out", "cases"]


def test_written_log_hides_small_counts(cb, tmp_path):
    rows, para = _mixed_file(cb)
    res = clean(cb, rows, para)
    log, received = DisclosurePolicy(min_cell=5, min_base=30).cleaning_log(res.log)
    ResultStore(tmp_path, "testort").write_table("survey_cleaning_log", log)
    written = pd.read_csv(tmp_path / "testort" / "results" / "survey_cleaning_log.csv").set_index("rule")
    assert written.loc["empty", "cases"] == 6  # at the minimum: shown
    for rule in ("breakoff", "straightlining", "speeding"):
        assert pd.isna(written.loc[rule, "cases"]) and pd.isna(written.loc[rule, "values"])
    shown = written["cases"].dropna()
    assert ((shown == 0) | (shown >= 5)).all()
    # removed 8 - 6 empty would give the 2 break-offs: a further removed number is hidden (here the
    # duplicates' 0, the cheapest), so no hidden one is determined
    assert written[["cases"]].loc[["empty", "cases_dropped", "records_in", "duplicate_id"]].isna().any().any()
    assert _attack(log, res.log.reset_index(drop=True)) == []
    # codes and numbers, no wording: the settings are numbers, the actions codes
    assert "description" not in written.columns
    assert written.loc["empty", "min_answered"] == 0.1 and written.loc["breakoff", "min_answered"] == 0.5
    assert written.loc["speeding", "max_share_of_median"] == 0.3 and written.loc["straightlining", "min_items"] == 5
    assert written.loc["empty", "action"] == "drop_case" and written.loc["straightlining", "action"] == "flag"


def test_the_view_words_the_logged_settings_as_before(cb):
    """The report's description of each quality rule, from the log's codes and numbers."""
    from kit.survey.quality_view import cleaning_table

    rows, para = _mixed_file(cb)
    words = cleaning_table(clean(cb, rows, para).log).set_index("rule")
    assert words.loc["empty", "description"] == "Leerer Fragebogen (weniger als 10 % der Fragen beantwortet)"
    assert words.loc["incomplete", "description"] == ("Unvollständig (nicht abgeschickt oder vor der letzten Seite "
                                                      "beendet), mindestens 50 % der Fragen beantwortet")
    assert words.loc["breakoff", "description"] == ("Abgebrochen (nicht abgeschickt oder vor der letzten Seite "
                                                     "beendet, weniger als 50 % der Fragen beantwortet)")
    assert words.loc["speeding", "description"] == "Sehr schnell ausgefüllt (Bearbeitungszeit unter 0,3 × Median)"
    assert words.loc["straightlining", "description"] == (
        "Gleichförmig geantwortet (in jeder Fragebatterie mit mindestens 5 Aussagen bei allen Aussagen dieselbe "
        "Antwort)")
    assert words.loc["empty", "action"] == "Fall entfernt"
    assert words.loc["straightlining", "action"] == "markiert, in der Auswertung behalten"
    words = cleaning_table(clean(cb, rows, para, incomplete__action="drop", empty__min_answered=0.125).log)
    words = words.set_index("rule")
    assert words.loc["incomplete", "description"] == ("Unvollständig (nicht abgeschickt oder vor der letzten Seite "
                                                      "beendet)")
    assert words.loc["empty", "description"] == "Leerer Fragebogen (weniger als 12,5 % der Fragen beantwortet)"


def _attack(published: pd.DataFrame, true: pd.DataFrame) -> list[str]:
    """Rules whose hidden number of removed cases a linear-programming attacker pins down."""
    rules = true["rule"].tolist()
    removes = true["removes"].astype(bool).to_numpy()
    value = {r: (float(true.loc[i, "removed"]) if removes[i] else float(true.loc[i, "cases"]))
             for i, r in enumerate(rules)}
    hidden = [r for r, s in zip(published["rule"], published["suppressed"]) if s]
    var = {r: k for k, r in enumerate(hidden)}
    known = {r: value[r] for r in rules if r not in var}
    eqs = [({"records_in": 1, "cases_out": -1, "cases_dropped": -1}),
           ({"cases_dropped": 1, **{r: -1 for r, m in zip(rules, removes) if m}})]
    A, b = [], []
    for eq in eqs:
        row, rhs = np.zeros(len(var)), 0.0
        for r, c in eq.items():
            if r in var:
                row[var[r]] += c
            else:
                rhs -= c * known[r]
        A.append(row)
        b.append(rhs)
    found = []
    for r, k in var.items():
        if not (0 < value[r] < 5) and r not in ("records_in", "cases_dropped"):
            continue
        c = np.zeros(len(var))
        c[k] = 1
        lo = linprog(c, A_eq=A, b_eq=b, bounds=[(0, None)] * len(var))
        hi = linprog(-c, A_eq=A, b_eq=b, bounds=[(0, None)] * len(var))
        if lo.status == 0 and hi.status == 0 and abs(-hi.fun - lo.fun) < 1e-6:
            found.append(r)
    return found


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_empty=st.integers(0, 8), n_break=st.integers(0, 8), n_dup=st.integers(0, 3))
def test_no_hidden_removed_count_can_be_recomputed(cb, n_empty, n_break, n_dup):
    rows, para = _mixed_file(cb, n_ok=30, n_empty=n_empty, n_break=n_break, n_straight=0, n_fast=0)
    rows = rows + [dict(r) for r in rows[:n_dup]]  # duplicated records (first ones)
    para = {k: v + v[:n_dup] for k, v in para.items()}
    res = clean(cb, rows, para)
    published, _ = DisclosurePolicy(min_cell=5, min_base=30).cleaning_log(res.log)
    shown = published["cases"].dropna()
    assert ((shown == 0) | (shown >= 5)).all()
    true = res.log.reset_index(drop=True)
    leaked = [r for r in _attack(published, true)
              if r not in ("records_in", "cases_dropped") or 0 < true.set_index("rule").loc["cases_dropped", "cases"] < 5]
    assert leaked == []


# ---------------------------------------------------------------------------
# params
# ---------------------------------------------------------------------------

BASE = MINIMAL_PARAMS


@pytest.mark.parametrize("snippet, needle", [
    ("empty: {action: remove}", "survey.cleaning.empty.action"),
    ("incomplete: {min_answered: 1.5}", "survey.cleaning.incomplete.min_answered"),
    ("speeding: {max_share_of_median: 0}", "survey.cleaning.speeding.max_share_of_median"),
    ("straightlining: {min_items: 1}", "survey.cleaning.straightlining.min_items"),
    ("straightlining: {items: 5}", "survey.cleaning.straightlining"),
])
def test_params_refuse_bad_quality_settings_in_german(tmp_path, snippet, needle):
    path = tmp_path / "testort.yaml"
    path.write_text(BASE.replace("{data}", str(tmp_path)) + f"survey:\n  cleaning:\n    {snippet}\n",
                    encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert needle in message and not re.search(r"Input should|validation error|pydantic|Traceback", message)
    assert "testort.yaml" in message


def test_default_params_name_every_rule_with_the_documented_values():
    params = load_params(Path(__file__).resolve().parents[1] / "params" / "muldenau.yaml")
    assert check_quality_settings(params["survey"]["cleaning"]) == QUALITY


@pytest.mark.parametrize("rules, needle", [
    ({"empty": {"action": "keep"}}, "drop | flag"),
    ({"speeding": {"max_share_of_median": 1.0}}, "Anteil größer 0 und kleiner 1"),
    ({"straightlining": {"min_items": 2.5}}, "ganze Zahl"),
    ({"incomplete": "drop"}, "Zuordnung"),
])
def test_clean_responses_refuses_bad_settings_in_german(cb, rules, needle):
    with pytest.raises(ParamsError, match=re.escape(needle)):
        clean_responses(make_raw(cb, [full_row(1)]), cb, rules)


# ---------------------------------------------------------------------------
# report sentences
# ---------------------------------------------------------------------------


def test_cleaning_sentence_names_exclusions_flags_and_hides_small_counts(cb):
    rows, para = _mixed_file(cb)
    log, _ = DisclosurePolicy(min_cell=5, min_base=30).cleaning_log(clean(cb, rows, para).log)
    text = " ".join(cleaning_sentences(log, 5))
    assert "ausgeschlossen wurden" in text
    assert re.search(r"(6|weniger als 5) leere Fragebögen", text)
    assert "weniger als 5 abgebrochene" in text
    assert "weniger als 5 Fragebögen mit gleichförmigem" in text and "weniger als 5 sehr schnell" in text
    assert not re.search(r"\bnan\b", text.lower()) and "_" not in text
    text = " ".join(cleaning_sentences(log, 5, ("incomplete", "speeding")))
    assert "Nicht prüfen ließen sich unvollständige Fragebögen" in text


def test_demo_muldenau_plants_every_rule_and_cleaning_finds_exactly_them(tmp_path):
    import json

    from kit.demo import generate_demo, load_codebook_yaml  # noqa: F401
    from kit.survey.importing import read_responses

    folder = generate_demo(tmp_path, communes=["muldenau"])["muldenau"]
    truth = json.loads((folder / "_truth.json").read_text(encoding="utf-8"))
    planted: dict[str, set] = {}
    for d in truth["deliberate_defects"]:
        planted.setdefault(d["kind"], set()).add(str(d["id"]))
    params = load_params(Path(__file__).resolve().parents[1] / "params" / "muldenau.yaml")
    cbk = load_codebook(params["survey"]["codebook"])
    res = clean_responses(read_responses(folder / "survey_responses.csv", cbk), cbk, params["survey"]["cleaning"])
    for rule in ("empty", "incomplete", "breakoff", "speeding"):
        assert set(hits(res, rule)) == planted[rule], rule
    assert planted["straightlining"] <= set(hits(res, "straightlining"))
    assert not (planted["empty"] | planted["breakoff"]) & set(res.data.index)
    log, received = DisclosurePolicy(min_cell=5, min_base=30).cleaning_log(res.log)
    text = " ".join(cleaning_sentences(log, 5))
    assert "weniger als 5 leere Fragebögen" in text and "weniger als 5 abgebrochene" in text
    assert "weniger als 5 sehr schnell ausgefüllte" in text and received is None


# ---------------------------------------------------------------------------
# response rate vs the ASSKomm range
# ---------------------------------------------------------------------------


def test_reference_range_is_the_seed_presentations_30_to_45_percent():
    ref = load_response_reference()
    assert (ref["low"], ref["high"]) == (0.30, 0.45) and "Landespräventionsrat" in ref["source"]
    seed = Path(__file__).resolve().parents[2] / "shared" / "seed" / "asskomm-praesentation.txt"
    if seed.exists():
        assert "Rücklaufquote: 30-45 %" in seed.read_text(encoding="utf-8")


@pytest.mark.parametrize("returned, verdict", [(406, "within"), (250, "below"), (600, "above"),
                                               (290, "overlaps"), (300, "within")])
def test_response_rate_verdict_and_wilson_interval(returned, verdict):
    rb = response_rate_benchmark(1000, returned, conf=0.95)
    lo, hi = proportion_confint(returned, 1000, alpha=0.05, method="wilson")
    # independent check of the Wilson bounds by the textbook formula
    p, n, z = returned / 1000, 1000, 1.959963984540054
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert rb["lower"] == pytest.approx(centre - half, rel=1e-9) == pytest.approx(lo)
    assert rb["upper"] == pytest.approx(centre + half, rel=1e-9) == pytest.approx(hi)
    assert rb["rate"] == pytest.approx(p) and rb["verdict"] == verdict
    text = response_benchmark_sentence(rb)
    assert "30 bis 45" in text and "Rücklaufquote von" in text and "Landespräventionsrat Sachsen" in text
    assert ("knapp unter" in text) == (verdict == "overlaps")


def test_response_rate_without_counts_gives_no_sentence():
    assert response_rate_benchmark(None, 10) is None and response_rate_benchmark(0, 0) is None
    assert response_benchmark_sentence(None) is None
