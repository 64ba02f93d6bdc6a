"""Disclosure control on tiny groups and free text."""

import numpy as np
import pandas as pd
import pytest

from kit.disclosure import apply_disclosure, district_keywords, free_text_summary
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
    r += rows("q1", "Gesamt", "distribution", 40, [20, 12, 5, 3])  # 3 < 5: primary; 5: secondary
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
    assert nord["n_cell"].isna().tolist() == [False, False, True, True]  # counts >= 5 may be shown
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


def test_without_secondary_suppression_only_primary_cells():
    out = apply_disclosure(tidy(), secondary=False)
    assert block(out, "q1", "Gesamt")["suppressed"].tolist() == [False, False, False, True]
    assert block(out, "m1", "Gesamt")["suppressed"].tolist() == [False]


def test_thresholds_are_parameters_and_input_is_unchanged():
    t = tidy()
    before = t.copy()
    out = apply_disclosure(t, min_cell=2, min_base=10)
    pd.testing.assert_frame_equal(t, before)
    assert not block(out, "q1", "Nord")["suppressed"].any()
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
