"""Survey report: every chart gets a sentence; batteries are sorted; an item whose cells are
all suppressed gets a sentence instead of an empty chart (issue 9 report defects)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kit.survey import view


def _rows(shares: list[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"item_label": [f"Item {i}" for i in range(len(shares))],
                         "estimate": [np.nan if s is None else s for s in shares],
                         "lower": [np.nan if s is None else max(s - 0.05, 0) for s in shares],
                         "upper": [np.nan if s is None else min(s + 0.05, 1) for s in shares],
                         "suppressed": [s is None for s in shares]})


@given(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=1, max_size=12))
def test_battery_is_sorted_by_share_with_hidden_items_last(shares):
    out = view._by_share(_rows(shares))
    shown = out["estimate"][~out["suppressed"]].tolist()
    assert shown == sorted(shown, reverse=True)
    hidden = out["suppressed"].tolist()
    assert hidden == sorted(hidden)  # False (shown) before True (hidden)
    assert view._all_hidden(out) == all(s is None for s in shares)


def test_ranking_sentence_names_first_and_last_shown_item_and_counts_hidden_ones():
    data = view._by_share(_rows([0.10, None, 0.615, 0.30]))
    text = view._ranking_sentence(data, "item_label", "Am häufigsten genannt:", "am seltensten:")
    text = text.replace("\xa0", " ")  # percent signs follow a non-breaking space
    assert text.startswith("Am häufigsten genannt: Item 2 (61,5 %, 95-%-Bereich 56,5–66,5 %)")
    assert "am seltensten: Item 0 (10,0 %)" in text
    assert "1 weitere Angabe(n) wegen zu weniger Antworten nicht ausgewiesen" in text
    assert view._ranking_sentence(view._by_share(_rows([None, None])), "item_label", "a", "b") == ""


def test_fully_suppressed_question_gets_a_sentence_not_a_chart(monkeypatch):
    """A question whose shares are all hidden (Muldenau: reporting to the police) is stated in
    words; no empty chart is drawn."""
    drawn, said = [], []
    monkeypatch.setattr(view, "_show_fig", lambda *a, **k: drawn.append(a))
    monkeypatch.setattr(view, "show_md", lambda text: said.append(text))

    class Item:
        type, id = "multi", "Q19_01"
        values = {1: "ja"}

    class Codebook:
        roles = {"sex": "Q51"}

        def question_items(self, q):
            return [Item()]

        def question_text(self, q):
            return "Wenn ja: Haben Sie die Tat bei der Polizei angezeigt?"

    class Result:
        codebook = Codebook()
        weighting = {"margins": ["age_sex", "district"]}
        estimates = _rows([None, None]).assign(question="Q19", item="Q19_01", group_var="", kind="multi")

    view.show_question(Result(), "Q19")
    assert drawn == [] and len(said) == 1 and "zu wenige Befragte" in said[0]


def test_weighting_variables_are_not_shown_as_estimates(monkeypatch):
    """Age, sex and district equal the population by construction once weighted: the report
    says so instead of showing a weighted share with an interval."""
    drawn, said = [], []
    monkeypatch.setattr(view, "_show_fig", lambda *a, **k: drawn.append(a))
    monkeypatch.setattr(view, "show_md", lambda text: said.append(text))
    monkeypatch.setattr(view, "show_breakdown", lambda *a, **k: drawn.append(a))

    class Item:
        def __init__(self, id_):
            self.id, self.type, self.values = id_, "single", {1: "männlich", 2: "weiblich"}
            self.direction = None

    class Codebook:
        roles = {"sex": "Q51", "age": "Q50", "district": "Q52"}

        def questions(self):
            return ["Q50", "Q51", "Q53"]

        def block_of(self, q):
            return "Statistische Angaben"

        def question_items(self, q):
            item = Item(q)
            if q == "Q50":
                item.type = "numeric"
            return [item]

        def question_text(self, q):
            return {"Q50": "Alter", "Q51": "Geschlecht", "Q53": "Wohndauer"}[q]

    class Result:
        codebook = Codebook()
        weighting = {"margins": ["age_sex"]}
        estimates = _rows([0.5, 0.5]).assign(item="Q53", category_label=["a", "b"], group_var="", kind="distribution")

    view.show_block(Result(), "Statistische Angaben")
    # one sentence names both weighting variables; only the other question is charted
    assert "„Alter“ und „Geschlecht“" in said[0] and "gewichtet" in said[0]
    assert len(drawn) == 1 and "häufigste Antwort" in said[1]  # the chart of Wohndauer only


def test_non_significant_driver_is_called_undecided_or_ruled_out():
    """'Interval includes 1' is said as 'too few respondents to tell' when the interval reaches a
    relevant odds ratio (1,5 or 1/1,5), as 'rules out a larger effect' when it does not, and
    significant or uncontrolled terms (sex, age) are not mentioned at all."""
    import pandas as pd
    from kit.survey import view

    rows = pd.DataFrame([
        {"variable": "incivility", "category": "", "or": 1.2, "lower": 0.9, "upper": 1.6},   # open
        {"variable": "victim", "category": "", "or": 1.0, "lower": 0.8, "upper": 1.3},       # ruled out
        {"variable": "trust", "category": "", "or": 0.8, "lower": 0.66, "upper": 0.97},     # significant
        {"variable": "sex", "category": "w", "or": 1.1, "lower": 0.5, "upper": 2.5},        # not a driver
    ])
    text = view.undecided_drivers_text(rows, 330).replace("\xa0", " ")
    open_part, _, small_part = text.partition("Für eine Opfererfahrung")
    assert "wahrgenommene Probleme" in open_part and "weder belegen noch ausschließen" in open_part
    assert "330 Befragten" in open_part and "1,20" in open_part
    assert "schließt der Bereich einen größeren Zusammenhang aus" in small_part
    assert "Vertrauen" not in text and "Frauen" not in text
    # lower bound below 1/1,5 also keeps a relevant (protective) effect open
    rows2 = pd.DataFrame([{"variable": "victim", "category": "", "or": 0.9, "lower": 0.6, "upper": 1.3}])
    assert "weder belegen" in view.undecided_drivers_text(rows2, 100)
    assert view.undecided_drivers_text(rows.iloc[2:], 100) == ""


def test_battery_items_are_named_by_their_questionnaire_wording():
    """Charts and sentences of batteries use the codebook's item wording (what respondents
    read), not the analyst's short label."""
    from types import SimpleNamespace

    import pandas as pd
    from kit.survey import view

    items = [SimpleNamespace(id="Q04_06", text="Zu schnell fahrende Autos und Motorräder (Raserei)",
                             short_label="Raserei"),
             SimpleNamespace(id="Q09_05", text="Ich lasse Wertsachen zu Hause.", short_label="Wertsachen"),
             SimpleNamespace(id="Q04_99", text=None, short_label="nur Kurzlabel")]
    data = pd.DataFrame({"item": ["Q04_06", "Q09_05", "Q04_99"], "item_label": ["Raserei", "Wertsachen", "x"],
                         "estimate": [0.6, 0.3, 0.1], "lower": [0.5, 0.2, 0.05], "upper": [0.7, 0.4, 0.2],
                         "suppressed": [False, False, False]})
    out = view._with_wording(data, items)
    assert out["wording_quoted"].tolist() == ["„Zu schnell fahrende Autos und Motorräder (Raserei)“",
                                              "„Ich lasse Wertsachen zu Hause“", "„nur Kurzlabel“"]
    assert all(len(line) <= 40 for t in out["wording_wrapped"] for line in t.split("\n"))
    sentence = view._ranking_sentence(out, "wording_quoted", "Am häufigsten genannt:", "am seltensten:")
    assert sentence.startswith("Am häufigsten genannt: „Zu schnell fahrende Autos")


def test_drivers_sentence_names_the_design_it_accounts_for():
    """The drivers model uses the design-based sandwich when the stage has a design: the report
    says so (and names it) instead of claiming strata and clusters are ignored."""
    from kit.survey import view

    text = view.drivers_design_sentence({"type": "stratified", "strata": "district", "fpc": True,
                                         "calibration": True, "interval": "korn_graubard"})
    assert "geschichtete Stichprobe nach Stadtteilen" in text and "nicht aber" not in text
    assert "nicht aber eine Schichtung" in view.drivers_design_sentence({})
    assert "nicht aber eine Schichtung" in view.drivers_design_sentence(None)


def _breakdown_result(hidden_men: bool, base_men: int):
    from types import SimpleNamespace

    rows = pd.DataFrame({
        "item": ["Q1"] * 3, "kind": ["collapsed"] * 3, "group_var": ["", "sex", "sex"],
        "group": ["Gesamt", "Männer", "Frauen"], "category_label": ["„unsicher“"] * 3,
        "estimate": [0.3, np.nan if hidden_men else 0.25, 0.35], "lower": [0.25, np.nan, 0.3],
        "upper": [0.35, np.nan, 0.4], "suppressed": [False, hidden_men, False],
        "n_unweighted": [400, base_men, 220]})
    return SimpleNamespace(estimates=rows, breakdowns={"sex": "sex"}, min_base=30)


@pytest.mark.parametrize("hidden_men, base_men, noted", [(True, 160, True), (True, 12, False), (False, 160, False)])
def test_breakdown_explains_a_share_hidden_although_its_group_is_large(monkeypatch, hidden_men, base_men, noted):
    """A large group hidden as a complement (e.g. so that the few without a stated sex stay
    hidden) gets a sentence saying why; a small group (too few answers) or none hidden does not."""
    from kit.survey import view

    notes = []
    monkeypatch.setattr(view, "show_table", lambda *a, **k: None)
    monkeypatch.setattr(view, "show_note", lambda text, *a, **k: notes.append(text))
    view.show_breakdown(_breakdown_result(hidden_men, base_men), "Q1")
    assert (view.COMPLEMENT_NOTE in notes) == noted
