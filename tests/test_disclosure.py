"""Disclosure control (kit.disclosure): small cells and bases, complementary suppression
against differencing, exact thresholds, free text, resident counts."""

import numpy as np
import pandas as pd
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure_attack import attack, small_published_counts
from kit.disclosure import DisclosurePolicy, apply_disclosure, district_keywords, free_text_summary, policy_from_params
from kit.survey.estimates import TIDY_COLUMNS, _frame


def rows(item, group, kind, base, cells):
    out = []
    for i, c in enumerate(cells):
        out.append({"item": item, "question": item, "item_label": item, "category": str(i + 1),
                    "category_label": f"k{i + 1}", "group_var": "" if group == "Gesamt" else "x",
                    "group": group, "estimate": c / base, "lower": 0.0, "upper": 1.0, "n_unweighted": base,
                    "n_cell": c, "weighted_base": base * 10.0, "n_eff": base * 0.8, "kind": kind,
                    "suppressed": False})
    return out


def tidy():
    r = []
    r += rows("q1", "Gesamt", "distribution", 40, [20, 12, 5, 3])  # 3 < 5: primary; 5: complementary
    r += rows("q1", "Nord", "distribution", 25, [10, 8, 4, 3])  # base < 30: all
    r += rows("q1", "Winzig", "distribution", 3, [2, 1, 0, 0])  # base < 5: counts blanked too
    r += rows("q1", "Süd", "distribution", 60, [30, 24, 4, 2])  # two small cells: no secondary
    r += rows("m1", "Gesamt", "multi", 50, [47])  # 3 did not tick: complement too small
    r += rows("m2", "Gesamt", "multi", 50, [10])
    mean = rows("v", "Gesamt", "mean", 31, [31]) + rows("v", "Nord", "mean", 29, [29])
    for m in mean:
        m.update(category="", category_label="Mittelwert", estimate=6.5)
    return _frame(r + mean)


def block(df, item, group):
    return df[(df["item"] == item) & (df["group"] == group)].reset_index(drop=True)


def test_small_cells_and_bases_are_suppressed():
    out = apply_disclosure(tidy(), min_cell=5, min_base=30)
    assert list(out.columns) == TIDY_COLUMNS
    a = block(out, "q1", "Gesamt")
    assert a["suppressed"].tolist() == [False, False, True, True]
    assert a["estimate"].isna().tolist() == [False, False, True, True]
    assert a["lower"].isna().tolist() == [False, False, True, True]
    assert a["n_cell"].isna().tolist() == [False, False, True, True]
    assert a["estimate"].iloc[0] == 0.5 and a["n_unweighted"].iloc[0] == 40

    nord = block(out, "q1", "Nord")
    assert nord["suppressed"].all() and nord["estimate"].isna().all()
    assert nord["n_cell"].isna().all()  # count / base would be the share on a base < 30
    assert (nord["n_unweighted"] == 25).all()

    tiny = block(out, "q1", "Winzig")
    assert tiny["suppressed"].all() and tiny["n_unweighted"].isna().all()
    assert tiny["weighted_base"].isna().all() and tiny["n_eff"].isna().all()

    sued = block(out, "q1", "Süd")
    assert sued["suppressed"].tolist() == [False, False, True, True]


def test_multi_complement_and_means():
    out = apply_disclosure(tidy())
    assert block(out, "m1", "Gesamt")["suppressed"].tolist() == [True]
    assert block(out, "m1", "Gesamt")["n_cell"].isna().all()
    assert block(out, "m2", "Gesamt")["suppressed"].tolist() == [False]
    assert block(out, "v", "Gesamt")["estimate"].tolist() == [6.5]
    nord = block(out, "v", "Nord")
    assert nord["suppressed"].tolist() == [True] and nord["estimate"].isna().all()


def test_suppressed_rows_publish_no_counts_and_resist_subtraction():
    out = apply_disclosure(tidy(), min_cell=5, min_base=30)
    hidden = out[out["suppressed"]]
    assert hidden["n_cell"].isna().all() and hidden["estimate"].isna().all()
    assert attack(out, tidy(), 5) == []


def test_collapsed_category_does_not_give_its_hidden_part_away():
    # "3+4" = 9 with "4" = 6 published would give "3" = 3
    t = rows("q", "Gesamt", "distribution", 60, [30, 21, 3, 6])
    t += [dict(t[2], category="3+4", category_label="unsicher", n_cell=9, estimate=9 / 60, kind="collapsed")]
    t = _frame(t)
    out = apply_disclosure(t)
    got = out.set_index("category")
    assert got.loc["3", "suppressed"] and got.loc["4", "suppressed"]
    assert not got.loc["3+4", "suppressed"] and got.loc["3+4", "n_cell"] == 9  # the key share stays
    assert attack(out, t, 5) == []
    # without complementary suppression the attacker wins (the test can see it)
    naive = out.copy()
    naive.loc[naive["category"] == "4", ["n_cell", "estimate"]] = [6, 0.1]
    assert [(r.category, r.value) for r in attack(naive, t, 5)] == [("3", 3.0)]


@pytest.mark.parametrize("policy", [DisclosurePolicy(5, 30), DisclosurePolicy(3, 10), DisclosurePolicy(10, 50)])
def test_thresholds_at_exact_equality(policy):
    """A base exactly at min_base and a cell exactly at min_cell are published; one below is not."""
    m, b = policy.min_cell, policy.min_base
    at = _frame(rows("q", "Gesamt", "distribution", b, [b - 2 * m, m, m]))
    out = policy.survey_estimates(at)
    assert not out["suppressed"].any() and out["n_cell"].tolist() == [b - 2 * m, m, m]
    below_cell = policy.survey_estimates(_frame(rows("q", "Gesamt", "distribution", b, [b - 2 * m + 1, m, m - 1])))
    assert below_cell["suppressed"].tolist() == [False, True, True]  # m - 1 and its complement
    below_base = policy.survey_estimates(_frame(rows("q", "Gesamt", "distribution", b - 1, [b - 1 - 2 * m, m, m])))
    assert below_base["suppressed"].all() and (below_base["n_unweighted"] == b - 1).all()
    # a base below min_cell is not even shown as a number
    tiny = policy.survey_estimates(_frame(rows("q", "Gesamt", "distribution", m - 1, [m - 1, 0])))
    assert tiny["n_unweighted"].isna().all()
    assert policy.share_ok(m, b) and not policy.share_ok(m - 1, b) and not policy.share_ok(m, b - 1)
    assert not policy.share_ok(b - m + 1, b)  # complement below min_cell


def test_policy_is_built_from_params():
    policy = policy_from_params({"privacy": {"min_cell": 7, "min_base_percent": 40}})
    assert (policy.min_cell, policy.min_base, policy.dominance) == (7, 40, None)


@st.composite
def tables(draw):
    """A random item x group block: 2-6 categories, maybe a collapsed set of the top codes."""
    cells = draw(st.lists(st.integers(0, 40), min_size=2, max_size=6))
    kind = draw(st.sampled_from(["distribution", "multi"])) if len(cells) == 2 else "distribution"
    if kind == "multi":
        base = cells[0] + cells[1]
        t = rows("m", "Gesamt", "multi", max(base, 1), [cells[0]])
        for r in t:
            r["n_unweighted"] = base
        return _frame(t)
    base = sum(cells)
    t = rows("q", "Gesamt", "distribution", max(base, 1), cells)
    for r in t:
        r["n_unweighted"] = base
    top = draw(st.integers(0, min(3, len(cells) - 1)))
    if top >= 2:
        part = t[-top:]
        cat = "+".join(r["category"] for r in part)
        n = sum(r["n_cell"] for r in part)
        t.append(dict(part[0], category=cat, category_label="zusammen", n_cell=n, kind="collapsed",
                      estimate=n / max(base, 1)))
    return _frame(t)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.sampled_from([(5, 30), (3, 10), (5, 5)]))
def test_no_hidden_cell_is_recoverable_from_random_tables(t, limits):
    min_cell, min_base = limits
    out = apply_disclosure(t, min_cell=min_cell, min_base=min_base)
    assert attack(out, t, min_cell) == []
    assert small_published_counts(out, t, min_cell, min_base) == []
    shown = out[out["n_cell"].notna()]
    assert (shown["n_cell"] >= min_cell).all()


def test_response_rates_and_sample_counts_resist_subtraction():
    policy = DisclosurePolicy()
    rr = pd.DataFrame({"margin": ["gesamt", "district", "district", "district", "sex", "sex"],
                       "category": ["", "1", "2", "3", "m", "w"], "label": [""] * 6,
                       "issued": [300, 100, 100, 100, 150, 150], "returned": [100, 60, 37, 3, 50, 50],
                       "rate": [1 / 3, 0.6, 0.37, 0.03, 1 / 3, 1 / 3]})
    out = policy.response_rates(rr).set_index(["margin", "category"])
    assert pd.isna(out.loc[("district", "3"), "returned"]) and pd.isna(out.loc[("district", "3"), "rate"])
    assert pd.isna(out.loc[("district", "2"), "returned"])  # 100 - 60 - 37 = 3 otherwise
    assert out.loc[("district", "1"), "returned"] == 60 and out.loc[("sex", "m"), "returned"] == 50
    svp = pd.DataFrame({"margin": ["district"] * 3, "category": ["1", "2", "fehlend"], "sample_n": [60, 37, 3],
                        "sample_share": [0.6, 0.37, 0.03], "population_share": [0.5, 0.5, np.nan],
                        "weighted_share": [0.5, 0.47, 0.03]})
    out = policy.sample_vs_population(svp, respondents=100)
    assert out["sample_n"].isna().tolist() == [False, True, True]
    assert out["sample_share"].isna().tolist() == [False, True, True]


def test_small_resident_counts_are_hidden_with_their_complements():
    policy = DisclosurePolicy()
    totals = pd.DataFrame({"year": [2023, 2024], "total": [1000, 1012], "m": [500, 505], "w": [500, 500],
                           "d": [0, 7], "share_female_pct": [50.0, 49.4]})
    by_district = pd.DataFrame({"year": [2024] * 3, "district_id": ["1", "2", "3"], "total": [500, 302, 210],
                                "m": [250, 150, 105], "w": [245, 150, 105], "d": [5, 2, 0],
                                "share_female_pct": [49.0, 49.7, 50.0]})
    t, d = policy.population_tables(totals, by_district)
    assert t.loc[0, "d"] == 0 and t.loc[0, "m"] == 500  # a zero names nobody: 2023 unchanged
    assert pd.isna(d.loc[1, "d"])  # 2 "divers" in district 2
    assert d.loc[0, "total"] == 500 and t.loc[1, "total"] == 1012  # totals stay
    # nothing hidden can be recomputed: rows add up to their total, districts to the commune
    hidden = [(i, c) for i in d.index for c in ("m", "w", "d", "total") if pd.isna(d.loc[i, c])]
    assert len(hidden) >= 4  # a rectangle at least: d2, d_other, and one of m/w in both rows
    for i, c in hidden:
        row_known = [x for x in ("m", "w", "d") if pd.notna(d.loc[i, x])]
        assert len(row_known) < 2 or pd.isna(d.loc[i, "total"])
        col_hidden = [j for j in d.index if pd.isna(d.loc[j, c])]
        assert len(col_hidden) >= 2 or pd.isna(t.loc[1, c])
    assert pd.isna(d.loc[1, "share_female_pct"]) or pd.notna(d.loc[1, "w"])


def test_thresholds_are_parameters_and_input_is_unchanged():
    t = tidy()
    before = t.copy()
    out = apply_disclosure(t, min_cell=2, min_base=10)
    pd.testing.assert_frame_equal(t, before)
    assert not block(out, "q1", "Nord")["suppressed"].any()
    assert attack(out, t, 2) == []
    assert block(out, "q1", "Winzig")["suppressed"].all()


ANSWERS = [
    "Am Altmarkt ist es nachts zu dunkel",
    "altmarkt: Betrunkene",
    "Mehr Licht in der Südvorstadt!",
    "suedvorstadt, hundekot überall",
    "Hundekot, Hundekot",
    "Hundekots auf dem Gehweg",
    "HUNDEKOT am Spielplatz",
    "Hundekot vor der Schule",
    "Parken auf dem Radweg",
    "",
    None,
]


def test_free_text_is_counted_never_returned():
    out = free_text_summary(pd.Series(ANSWERS), {"Hundekot": ["Hundekot"], "Altmarkt": ["Altmarkt"],
                                                 "Südvorstadt": ["Südvorstadt"]}, min_cell=3, min_base=5)
    got = out.set_index("topic")
    assert got.loc["Hundekot", "mentions"] == 5  # case, umlaut spelling and word start ignored
    assert got.loc["Hundekot", "share"] == pytest.approx(5 / 9)
    assert pd.isna(got.loc["Altmarkt", "mentions"]) and got.loc["Altmarkt", "suppressed"]
    assert pd.isna(got.loc["Südvorstadt", "mentions"])  # 2 < 3
    assert got.loc["Antworten insgesamt", "mentions"] == 9
    assert pd.isna(got.loc["ohne Zuordnung", "mentions"])  # only "Parken ..."
    shown = {str(v) for v in out.to_numpy().ravel()}
    assert not any(a and a in shown for a in ANSWERS)
    assert set(out.columns) == {"topic", "mentions", "share", "suppressed"}


def test_free_text_small_base_has_no_shares_and_district_keywords():
    out = free_text_summary(pd.Series(ANSWERS), district_keywords({"01": "Altmarkt", "02": "Südvorstadt"}),
                            min_cell=2, min_base=30)
    got = out.set_index("topic")
    assert got.loc["Altmarkt", "mentions"] == 2 and got.loc["Südvorstadt", "mentions"] == 2
    assert np.isnan(got["share"]).all()  # 9 answers < 30


def test_free_text_counts_that_add_up_are_protected_together():
    # every answer names at most one topic: topics + "ohne Zuordnung" = all answers
    texts = ["Bahnhof"] * 12 + ["Park"] * 3 + ["nichts"] * 10
    out = free_text_summary(pd.Series(texts), {"Bahnhof": ["Bahnhof"], "Park": ["Park"]}, min_cell=5, min_base=5)
    got = out.set_index("topic")
    assert pd.isna(got.loc["Park", "mentions"])
    assert got.loc["Antworten insgesamt", "mentions"] == 25
    # 25 - 12 - 10 would give Park = 3: one more count is hidden
    assert pd.isna(got.loc["Bahnhof", "mentions"]) or pd.isna(got.loc["ohne Zuordnung", "mentions"])


def test_key_indicator_row_cannot_reveal_a_hidden_collapsed_part():
    # "3" = 2 is hidden; the key share "3+4" (with "4" published) would give it back
    t = rows("q", "Gesamt", "distribution", 60, [6, 40, 2, 12])  # "1" = 6 is the cheapest complement
    t += [dict(t[2], category="3+4", category_label="unsafe", n_cell=14, estimate=14 / 60, kind="key")]
    t = _frame(t)
    out = apply_disclosure(t)
    assert attack(out, t, 5) == []
    got = out.set_index("category")
    assert got.loc["3", "suppressed"] and (got.loc["4", "suppressed"] or got.loc["3+4", "suppressed"])
    assert not got.loc["3+4", "suppressed"]  # the key indicator is kept; "4" is hidden instead


def _cleaning_log(dropped: int, duplicate: int, invalid: int, analysed: int = 400) -> pd.DataFrame:
    rows = [("missing_id", 0, 0), ("duplicate_id", duplicate, duplicate), ("missing_code", 377, 1508),
            ("invalid_code", invalid, invalid), ("records_in", analysed + dropped, 0),
            ("cases_dropped", dropped, 0), ("cases_out", analysed, 0)]
    return pd.DataFrame(rows, columns=["rule", "cases", "values"]).assign(description="x", action="y")


def test_cleaning_log_hides_small_counts_and_the_number_received():
    policy = DisclosurePolicy(min_cell=5, min_base=30)
    out, received = policy.cleaning_log(_cleaning_log(dropped=1, duplicate=1, invalid=1))
    by_rule = out.set_index("rule")
    assert by_rule.loc[["duplicate_id", "invalid_code", "records_in", "cases_dropped"], "cases"].isna().all()
    assert by_rule.loc[["duplicate_id", "invalid_code"], "values"].isna().all()
    assert by_rule.loc["missing_id", "cases"] == 0 and by_rule.loc["missing_code", "cases"] == 377
    assert by_rule.loc["cases_out", "cases"] == 400 and received is None
    # a removed number at the minimum is published, and with it the number received
    out, received = policy.cleaning_log(_cleaning_log(dropped=5, duplicate=5, invalid=0))
    assert received == 405 and out.set_index("rule").loc["cases_dropped", "cases"] == 5


@given(dropped=st.integers(0, 12), duplicate=st.integers(0, 12), invalid=st.integers(0, 12),
       min_cell=st.integers(3, 10))
def test_cleaning_log_never_publishes_a_small_count_or_lets_it_be_recomputed(dropped, duplicate, invalid, min_cell):
    policy = DisclosurePolicy(min_cell=min_cell, min_base=max(30, min_cell))
    out, received = policy.cleaning_log(_cleaning_log(dropped, duplicate, invalid))
    shown = out["cases"].dropna()
    assert ((shown == 0) | (shown >= min_cell)).all()
    if 0 < dropped < min_cell:  # received - analysed would give the removed number back
        assert received is None and pd.isna(out.set_index("rule").loc["records_in", "cases"])


def test_gesamt_minus_the_other_groups_does_not_give_a_hidden_cell_away():
    """Every respondent has a group: Gesamt minus the published groups is exact."""
    t = []
    t += rows("q", "Gesamt", "distribution", 100, [50, 40, 10])
    t += rows("q", "A", "distribution", 60, [30, 24, 6])
    t += rows("q", "B", "distribution", 40, [20, 16, 4])  # 4 < 5; 10 - 6 would give it back
    t += rows("m", "Gesamt", "mean", 100, [100]) + rows("m", "A", "mean", 97, [97]) + rows("m", "B", "mean", 3, [3])
    t = _frame(t)
    out = DisclosurePolicy(5, 30).survey_estimates(t)
    b = block(out, "q", "B")
    assert b["suppressed"].tolist()[2]
    # within B, hiding 16 and 4 would do; Gesamt minus A needs one more: a cell of A or
    # Gesamt, or B's base (then nobody knows that every respondent has a group)
    hid = lambda g: block(out, "q", g)["n_cell"].isna().sum()  # noqa: E731
    assert hid("Gesamt") + hid("A") > 0 or b["n_unweighted"].isna().all()
    assert attack(out, t, 5) == []
    # the base of the mean in group B (3) must not be Gesamt minus A
    assert block(out, "m", "B")["n_unweighted"].isna().all()
    assert block(out, "m", "B")["n_cell"].isna().all()
    # 100 - 97 only bounds it (0 to 3): nothing shows that every respondent has a group


def test_respondents_without_a_group_value_stay_hidden():
    """3 respondents have no group: Gesamt minus the published groups must not give their
    answers (1, 2 and 0 of them per category, a zero is small too)."""
    t = []
    t += rows("q", "Gesamt", "distribution", 103, [51, 34, 18])
    t += rows("q", "A", "distribution", 60, [30, 18, 12])
    t += rows("q", "B", "distribution", 40, [20, 14, 6])
    t += rows("m", "Gesamt", "multi", 103, [52]) + rows("m", "A", "multi", 60, [30]) + rows("m", "B", "multi", 40, [20])
    t = _frame(t)
    out = DisclosurePolicy(5, 30).survey_estimates(t)
    assert attack(out, t, 5) == []  # the attacker also targets the counts of the 3 without a group
    assert not block(out, "q", "Gesamt")["suppressed"].any()  # the groups carry it, not the whole sample
    hidden = out[out["group"] != "Gesamt"].groupby("item")["suppressed"].sum()
    # every category needs a hidden group cell, and a group with one hidden cell alone gives it back
    assert hidden["q"] >= 3 and hidden["m"] >= 1
    assert out["n_unweighted"].notna().all()


@st.composite
def grouped_tables(draw):
    """Gesamt, two groups and 0-4 respondents without a group, 2-4 categories."""
    k = draw(st.integers(2, 4))
    blocks = [draw(st.lists(st.integers(0, 30), min_size=k, max_size=k)) for _ in range(3)]
    rest = draw(st.lists(st.integers(0, 2), min_size=k, max_size=k))
    total = [sum(c) for c in zip(blocks[0], blocks[1], rest)]
    t = []
    for name, cells in (("Gesamt", total), ("A", blocks[0]), ("B", blocks[1])):
        part = rows("q", name, "distribution", max(sum(cells), 1), cells)
        for r in part:
            r["n_unweighted"] = sum(cells)
        t += part
    return _frame(t)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grouped_tables())
def test_no_count_of_the_respondents_without_a_group_is_recoverable(t):
    out = DisclosurePolicy(5, 10).survey_estimates(t)
    assert attack(out, t, 5) == []
    assert small_published_counts(out, t, 5, 10) == []


def test_bulk_check_agrees_with_the_single_check():
    """kit.disclosure.undetermined (all variables at once) = not determined (one by one)."""
    from kit.disclosure import determined, undetermined

    rng = np.random.default_rng(7)
    for _ in range(400):
        k = int(rng.integers(3, 12))
        x = rng.integers(0, 4, k).astype(float) * (rng.random(k) < 0.7)
        A = np.zeros((int(rng.integers(1, 5)), k))
        for row in A:
            parts = rng.choice(k, size=int(rng.integers(2, min(k, 5) + 1)), replace=False)
            row[parts[0]] += 1
            row[parts[1:]] -= 1
        hidden = rng.random(k) < 0.5
        free = undetermined(A, x, hidden)
        for v in np.flatnonzero(hidden):
            assert free[v] == (not determined(A, x, hidden, int(v)))


def test_policy_of_partial_params_takes_the_missing_thresholds_from_defaults_yaml():
    """A report part built from partial params (no privacy block) gets the thresholds of
    params/defaults.yaml, read here independently; a given key wins."""
    import yaml

    from kit.disclosure import policy_from_params
    from kit.params import PARAMS_DIR

    defaults = yaml.safe_load((PARAMS_DIR / "defaults.yaml").read_text(encoding="utf-8"))["privacy"]
    policy = policy_from_params({"commune_id": "x"})
    assert (policy.min_cell, policy.min_base) == (defaults["min_cell"], defaults["min_base_percent"])
    policy = policy_from_params({"privacy": {"min_cell": defaults["min_cell"] + 4}})
    assert (policy.min_cell, policy.min_base) == (defaults["min_cell"] + 4, defaults["min_base_percent"])
