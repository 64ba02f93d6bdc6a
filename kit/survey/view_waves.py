"""Report section 'Veränderung gegenüber der Befragung <Jahr>' (kit.survey.waves).

Only formats and draws what :func:`kit.survey.waves.compare_previous_wave` computed
(public, disclosure-controlled numbers). A commune without an earlier wave gets no
section.
"""

from __future__ import annotations

import pandas as pd

from kit import figures as plots
from kit.report import fmt_int, fmt_interval, fmt_num, fmt_pct, fmt_signed, show_md, show_note, show_table

MISMATCH_REASONS = {"only_current": "nur in der aktuellen Befragung gestellt",
                    "only_previous": "nur in der früheren Befragung gestellt",
                    "categories": "andere Antwortmöglichkeiten"}


def pp(change: float) -> str:
    """A change of a share in percentage points: '−9,8 Prozentpunkte'."""
    return f"{fmt_signed(100 * float(change), 1)} Prozentpunkte"


def pp_interval(lower: float, upper: float) -> str:
    return f"{fmt_signed(100 * float(lower), 1)} bis {fmt_signed(100 * float(upper), 1)} Prozentpunkte"


def row_label(r) -> str:
    """German label of a compared share: the key indicator's label, or item and answer."""
    if r["comparison"] == "key":
        return str(r["label"])
    return item_answer_label(str(r["label"]), str(r["category_label"]), str(r["kind"]))


def item_answer_label(item: str, answer: str, kind: str) -> str:
    if kind == "multi":
        return f"{item} (genannt)"
    if kind == "collapsed":  # the answer label is already quoted: „eher unsicher“ oder „sehr unsicher“
        return f"{item}: {answer}"
    return f"{item}: „{answer}“"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def change_sentence(r, label: str) -> str:
    """One marked change: label, both values and the change with its interval."""
    word = "gestiegen" if r["change"] > 0 else "gesunken"
    return (f"{_capital(row_label(r))}: von {fmt_pct(r['previous'])} ({label}) auf {fmt_pct(r['current'])} "
            f"{word} ({pp(r['change'])}, Bereich {pp_interval(r['change_lower'], r['change_upper'])})")


def change_finding_text(f) -> str:
    """Sentence for a 'wave_change' row of kit.survey.findings (Das Wichtigste in Kürze)."""
    label = str(f["label"])
    if "|" in label:
        item, answer = label.split("|", 1)
        kind = "collapsed" if answer.startswith("„") else ("multi" if answer == "genannt" else "distribution")
        label = item_answer_label(item, answer, kind)
    word = "mehr" if f["verdict"] == "rise" else "weniger"
    change = float(f["value"]) - float(f["reference_value"])
    interval = (f" (95-%-Bereich {fmt_interval(f['lower'], f['upper'], percent=True)})"
                if pd.notna(f.get("lower")) and pd.notna(f.get("upper")) else "")
    return (f"{_capital(label)}: {fmt_pct(f['value'])}{interval} – {word} als bei der Befragung {f['reference_label']} "
            f"({fmt_pct(f['reference_value'])}, {pp(change)}); die Veränderung geht über den Zufall hinaus, "
            "auch unter Berücksichtigung der vielen verglichenen Fragen.")


def waves_figure(table: pd.DataFrame, label: str, confidence: float = 0.95):
    """Dot-and-interval chart of the changes in percentage points (marked ones in colour)."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    rows = table.sort_values("change").reset_index(drop=True)
    labels = [_short(row_label(r)) for _, r in rows.iterrows()]
    n = len(rows)
    fig, ax = plt.subplots(figsize=(plots.WIDTH_IN, 1.0 + 0.3 * n))
    y = np.arange(n)
    for yi, (_, r) in zip(y, rows.iterrows()):
        color = (plots.RED if r["change"] > 0 else plots.BLUE) if r["significant"] else plots.GREY
        ax.plot([100 * r["change_lower"], 100 * r["change_upper"]], [yi, yi], color=color, lw=1.6)
        ax.plot([100 * r["change"]], [yi], "o", color=color, ms=5)
    ax.axvline(0.0, color="#333333", lw=0.8, ls="--")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_signed(v, 0) if v else "0"))
    ax.set_xlabel(f"Veränderung gegenüber {label} in Prozentpunkten ({fmt_num(100 * confidence, 0)}-%-Bereich)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    marked = [labels[i] for i in range(n) if rows["significant"].iloc[i]]
    alt = (f"Punktdiagramm der Veränderungen von {n} Anteilen gegenüber der Befragung {label} in Prozentpunkten "
           "mit Vertrauensbereichen. "
           + (f"Über den Zufall hinaus verändert: {'; '.join(marked)}." if marked
              else "Keine Veränderung geht über den Zufall hinaus."))
    return plots.describe(fig, title=f"Veränderung der Kennzahlen gegenüber der Befragung {label} "
                                     f"(Prozentpunkte, {fmt_num(100 * confidence, 0)}-%-Bereich)",
                          alt=alt, note="Rot: gestiegen, blau: gesunken (jeweils über den Zufall hinaus, "
                                        "nach Benjamini-Hochberg); grau: keine gesicherte Veränderung")


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def show_waves(result) -> None:
    """Section 'Veränderung gegenüber der Befragung <label>' (nothing without an earlier wave)."""
    waves = getattr(result, "waves", None)
    if waves is None:
        return
    label = waves.label
    show_md(f"## Veränderung gegenüber der Befragung {label}")
    table = waves.table
    pct = fmt_num(100 * waves.confidence, 0)
    if table.empty:
        show_md(f"Mit der Befragung {label} lässt sich keine Kennzahl vergleichen: kein Anteil ist in beiden "
                "Befragungen gefragt und veröffentlicht.")
        _show_mismatches(waves)
        return
    sig = table[table["significant"]]
    rises, falls = sig[sig["change"] > 0], sig[sig["change"] < 0]
    n_prev = f" ({fmt_int(waves.n_previous)} ausgewertete Fragebögen)" if waves.n_previous else ""
    text = (f"Schon {label} gab es eine Bürgerbefragung{n_prev}. Verglichen werden "
            f"{fmt_int(len(table))} Anteile, die in beiden Befragungen gleich gefragt und veröffentlicht sind: "
            f"die Kennzahlen und jede Antwortmöglichkeit der übrigen Fragen. Weil bei so vielen Vergleichen "
            "einige allein durch Zufall auffallen würden, gilt eine Veränderung erst dann als gesichert, wenn sie "
            "auch nach der Korrektur für viele Vergleiche (Verfahren nach Benjamini und Hochberg, Fehlerrate 5 %) "
            "über den Zufall hinausgeht. ")
    if sig.empty:
        text += "Keine Veränderung geht in diesem Sinn über den Zufall hinaus."
    else:
        text += (f"Das trifft auf {fmt_int(len(sig))} Anteile zu: {fmt_int(len(rises))} sind gestiegen, "
                 f"{fmt_int(len(falls))} gesunken.")
    show_md(text)
    key = table[table["comparison"] == "key"]
    chart = pd.concat([key, sig[sig["comparison"] != "key"]], ignore_index=True)
    if len(chart):
        show_md(f"Die Abbildung zeigt für die Kennzahlen{' und die übrigen gesichert veränderten Anteile' if len(chart) > len(key) else ''}, "
                f"um wie viele Prozentpunkte sie sich seit {label} verändert haben; die Linie ist der "
                f"{pct}-%-Bereich der Veränderung (ohne Korrektur für viele Vergleiche). Punkte rechts der "
                "gestrichelten Linie bedeuten einen höheren Anteil als damals.")
        fig = waves_figure(chart, label, waves.confidence)
        plots.show_figure(fig, source=f"Bürgerbefragungen {label} und aktuell, gewichtete Ergebnisse; eigene Berechnung")
    if len(rises):
        show_md("**Gestiegen:** " + "; ".join(change_sentence(r, label) for _, r in rises.iterrows()) + ".")
    if len(falls):
        show_md("**Gesunken:** " + "; ".join(change_sentence(r, label) for _, r in falls.iterrows()) + ".")
    if len(sig):
        shown = sig.copy()
        shown["what"] = [row_label(r) for _, r in shown.iterrows()]
        shown["then"] = [fmt_pct(v) for v in shown["previous"]]
        shown["now"] = [fmt_pct(v) for v in shown["current"]]
        shown["diff"] = [pp(v).replace(" Prozentpunkte", "") for v in shown["change"]]
        shown["range"] = [pp_interval(lo, hi).replace(" Prozentpunkte", "")
                          for lo, hi in zip(shown["change_lower"], shown["change_upper"])]
        show_md(f"Die Tabelle listet alle gesicherten Veränderungen mit beiden Werten, der Differenz in "
                f"Prozentpunkten und ihrem {pct}-%-Bereich.")
        show_table(shown, {"what": ("Kennzahl oder Antwort", None), "then": (str(label), None),
                           "now": ("aktuell", None), "diff": ("Veränderung (Prozentpunkte)", None),
                           "range": (f"{pct}-%-Bereich", None)},
                   caption=f"Gesicherte Veränderungen gegenüber der Befragung {label}")
    _show_mismatches(waves)
    caveat = ("Vergleichbar sind nur Fragen mit gleichem Wortlaut und gleichen Antwortmöglichkeiten; beide "
              "Befragungen sind mit demselben Verfahren bereinigt, gewichtet und ausgewertet")
    if waves.source == "results":
        caveat = (f"Die Werte von {label} stammen aus den veröffentlichten Ergebnissen der damaligen Auswertung "
                  "(mit den heutigen Datenschutzregeln erneut geprüft). Vergleichbar sind nur Fragen mit gleichem "
                  "Wortlaut und gleichen Antwortmöglichkeiten; ob damals genauso gewichtet wurde, ist dort nachzulesen")
    if waves.current_margins and waves.source == "responses":
        caveat += (f"; die Antworten von {label} sind auf die heutigen Einwohnerzahlen nach Alter, Geschlecht "
                   "und Stadtteil gewichtet, weil keine damaligen angegeben wurden – hat sich die Bevölkerung "
                   "seitdem stark verändert, ist das eine zusätzliche Unsicherheit")
    show_note(caveat + ". Eine Veränderung sagt nicht, warum sich etwas verändert hat.")


def _show_mismatches(waves) -> None:
    m = waves.mismatches
    if m is None or m.empty:
        return
    parts = []
    for reason, text in MISMATCH_REASONS.items():
        labels = [str(x) for x in m.loc[m["reason"] == reason, "label"]]
        if labels:
            parts.append(f"{text}: {', '.join(labels)}")
    show_md("Nicht verglichen werden Fragen, die nicht in beiden Befragungen gleich gestellt wurden – "
            + "; ".join(parts) + ".")
