"""The German "Datenquellen" of a report (issue 12 item 5): the sentence that says which inputs
are real and which made up, the note under a report's title when some are made up, and the
table of sources with their credit lines (numbers and labels from :mod:`kit.sources`).

Used by the three stage notebooks (:func:`show_data_note` under the title,
:func:`show_sources` in "Herkunft der Angaben") and by :mod:`kit.lagebericht` (title page and
the appendix "Datenquellen und Lizenzen"). File names are not shown here: they are in the
provenance tables.
"""

from __future__ import annotations

import html

import pandas as pd

from kit.sources import REFERENCE, real_and_synthetic, sources

HEADING = "Datenquellen"
SECTION_CLASS = "kit-sources"   # the Lagebericht leaves the stages' copies out (it has one for all)
NOTE_CLASS = "kit-data-note"    # the note under a stage report's title (the Lagebericht's is on its title page)
CAPTION = "Datenquellen des Berichts mit Quellenangabe und Lizenz"


def _and(items: list[str]) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " und " + items[-1]


def statement(table: pd.DataFrame) -> str:
    """One German sentence: which inputs of the report are real and which made up (synthetic)."""
    real, made_up = real_and_synthetic(table)
    with_reference = bool((table["kind"] == REFERENCE).any())
    if made_up and not real:
        return ("Alle Eingabedaten dieses Berichts sind erfunden (synthetisch erzeugt); seine Ergebnisse beschreiben "
                "keine wirkliche Kommune" + (", echt sind nur die mitgelieferten Vergleichswerte." if with_reference
                                              else ".") + _derived_text(table))
    if made_up:
        return (f"Dieser Bericht beruht nur zum Teil auf echten Daten: erfunden (synthetisch erzeugt), weil keine "
                f"echten Daten vorliegen, {'ist' if len(made_up) == 1 else 'sind'} {_and(made_up)}, echt "
                f"{'ist' if len(real) == 1 else 'sind'} {_and(real)}; was auf den erfundenen Daten beruht, "
                "beschreibt nicht die wirkliche Lage." + _derived_text(table))
    if real:
        return f"Alle Eingabedaten dieses Berichts sind echte Daten ({_and(real)}); erfundene Daten enthält er nicht."
    return ("Welche Eingabedaten dieser Bericht verwendet und ob sie echt oder erfunden sind, lässt sich nicht "
            "angeben: die Parameter des Laufs liegen nicht mehr vor.")


def _derived_text(table: pd.DataFrame) -> str:
    """' Synthetisch aus öffentlichen Daten abgeleitet: …' for the made-up inputs derived from
    public data ('' when there are none)."""
    rows = table[(table["kind"] != REFERENCE) & table["synthetic"] & (table["derived_from"].fillna("") != "")]
    if rows.empty:
        return ""
    return (" Synthetisch aus öffentlichen Daten abgeleitet (keine echten Zahlen der Kommune): "
            + "; ".join(f"{r['label']} aus {r['derived_from']}" for _, r in rows.iterrows()) + ".")


def has_synthetic(table: pd.DataFrame) -> bool:
    return bool(real_and_synthetic(table)[1])


def note_html(table: pd.DataFrame) -> str:
    """The statement as a note box, for the top of a report; "" when every input is real."""
    if not has_synthetic(table):
        return ""
    return f'<div class="kit-note {NOTE_CLASS}" role="note">{html.escape(statement(table))}</div>'


def table_html(table: pd.DataFrame, caption: str = CAPTION) -> str:
    from kit.report import html_table

    # made up from public data (kit sachsen's PKS) is "synthetisch", made up outright "erfunden"
    shown = table.assign(kind_de=[("synthetisch" if str(d or "") else "erfunden") if s else "echt"
                                  for s, d in zip(table["synthetic"], table["derived_from"])])
    return html_table(shown, {"label": ("Angabe", None), "dataset": ("Quelle", None),
                              "attribution": ("Quellenangabe", None), "licence": ("Lizenz", None),
                              "kind_de": ("Daten", None)}, caption=caption)


def section_html(table: pd.DataFrame, level: int = 3) -> str:
    """Heading "Datenquellen", the statement and the table, in one block."""
    return (f'<div class="{SECTION_CLASS}"><h{level}>{HEADING}</h{level}><p>{html.escape(statement(table))} '
            "Die Tabelle nennt jede Quelle mit der Quellenangabe, die ihre Lizenz verlangt.</p>"
            + table_html(table) + "</div>")


def synthetic_marks(params: dict, stage: str | None = "profile") -> dict[str, str]:
    """Input name -> the German words that mark its figures where a report states them
    ("synthetische Werte, aus der Kreis-PKS des Bundeskriminalamts abgeleitet"; "erfundene Werte"
    without a public data set behind them), for every input marked ``synthetic: true``. A demo
    commune (``demo: true``: the commune and all its data made up) gets none: its note under the
    title says so for the whole report."""
    if params.get("demo"):
        return {}
    table = sources(params, stage)
    made_up = table[(table["kind"] != REFERENCE) & table["synthetic"]]
    return {r["name"]: (f"synthetische Werte, aus {r['derived_from']} abgeleitet" if r["derived_from"]
                        else "erfundene Werte") for _, r in made_up.iterrows()}


def synthetic_sentence(params: dict, marks: dict[str, str], names: list[str] | None = None) -> str:
    """One German sentence for the top of a summary: which inputs' figures are synthetic and that
    each figure taken from them is marked ("" when none of ``names`` (default: all) is)."""
    from kit.sources import _titles

    shown = [n for n in (names or list(marks)) if n in marks]
    if not shown:
        return ""
    titles = _titles()
    what = "; ".join(f"{titles.get(n, n)}: {marks[n]}" for n in shown)
    commune = params.get("name") or "der Kommune"
    return (f"**Synthetische Daten:** {what}. Das sind keine echten Zahlen von {commune}; jede Angabe, die auf "
            "ihnen beruht, ist so gekennzeichnet und beschreibt nicht die wirkliche Lage.")


def show_data_note(params: dict, stage: str | None = None) -> None:
    """Under a stage report's title: the note that some (or all) inputs are made up."""
    from kit.report import show_html

    note = note_html(sources(params, stage))
    if note:
        show_html(note)


def show_sources(params: dict, stage: str | None = None) -> None:
    """The "Datenquellen" block of a stage report (in its section "Herkunft der Angaben")."""
    from kit.report import show_html

    show_html(section_html(sources(params, stage)))
