"""Display of the citizen survey in the stage-2 notebook.

Only formats and draws what kit.survey.stage computed. Every function receives
the public part of the result (:class:`kit.survey.stage.PublicSurveyResult`:
disclosure-controlled tables and aggregate meta); the microdata never reach
this module. The explorer gets a function that computes from the private part
and returns policy-applied tables only.
"""

from __future__ import annotations

import textwrap

import pandas as pd

from kit import figures as plots
from kit.report import DASH, fmt_int, fmt_interval, fmt_num, fmt_pct, interactive_session, show_md, show_note, show_table  # noqa: F401 (interactive_session: used by the notebook)
from kit.survey.design_view import design_sentence
from kit.survey.quality_view import cleaning_sentences, cleaning_table, response_benchmark_sentence
from kit.survey.stage import (AGE_LABELS, NIGHT_ROLE_MISSING, NO_SAMPLE, SEX_ROLE_MISSING, PublicSurveyResult,
                              negative_codes)

SUPPRESSED = "nicht ausgewiesen"
MISSING_CATEGORY = "fehlend"  # kit.survey.weighting.MISSING_LABEL: respondents without a value on a margin
ALPHA_RELIABLE = 0.7  # Cronbach's alpha from which a scale counts as reliable (stated in the table caption)
GROUP_TITLES = {"sex": "Geschlecht", "age_group": "Altersgruppe"}


def _person_groups(result: PublicSurveyResult) -> dict[str, str]:
    """group_var in the estimates -> German title, for the breakdowns by sex and age present."""
    return {result.breakdowns[name]: title for name, title in GROUP_TITLES.items() if name in result.breakdowns}


def _group_label(group: str, group_var: str, result: PublicSurveyResult) -> str:
    return AGE_LABELS.get(group, group) if group_var == result.breakdowns.get("age_group") else group


def _show_fig(fig, result: PublicSurveyResult, source: str = "") -> None:
    """The figure with its number, caption, German alt text and source line (kit.figures.show_figure)."""
    survey = f"Bürgerbefragung {result.name}, gewichtete Ergebnisse ({fmt_int(result.n_respondents)} Fragebögen)"
    plots.show_figure(fig, source=f"{survey}; {source}" if source else survey)


def _n(value) -> str:
    return DASH if pd.isna(value) else fmt_int(value)


def show_overview(result: PublicSurveyResult) -> None:
    meta = result.weighting
    records_in = result.records_in
    if records_in is None:  # fewer than min_cell questionnaires were removed: not given exactly
        removed = f" (bei der Bereinigung wurden weniger als {result.min_cell} Fragebögen entfernt)"
    else:
        dropped = records_in - result.n_respondents
        removed = f" ({fmt_int(records_in)} eingegangen, {fmt_int(dropped)} bei der Bereinigung entfernt)" if dropped else ""
    text = f"Ausgewertet werden **{fmt_int(result.n_respondents)} Fragebögen**{removed}."
    if result.response is not None:
        total = result.response.iloc[0]
        text += (f" Angeschrieben wurden {fmt_int(total['issued'])} zufällig aus dem Melderegister gezogene Personen "
                 f"ab 16 Jahren; die **Rücklaufquote** beträgt {fmt_pct(total['rate'])}.")
    text += (f" Die Antworten sind auf die Einwohnerzahlen nach Alter, Geschlecht und Stadtteil **gewichtet** "
             f"(Designeffekt {fmt_num(meta['deff'], 2)}, effektive Fallzahl {fmt_int(meta['n_eff'])}). "
             f"Alle Anteile werden mit ihrem **95-%-Vertrauensbereich** angegeben. "
             f"{design_sentence(getattr(result, 'design', {}))} Aus Datenschutzgründen wird kein "
             f"Wert gezeigt, der auf weniger als {result.min_cell} Personen beruht, und kein Anteil, dem weniger als "
             f"{result.min_base} Antworten zugrunde liegen, und auch keine Zahl, aus der sich ein solcher Wert "
             f"zurückrechnen ließe; solche Felder sind mit „{SUPPRESSED}“ oder „–“ gekennzeichnet.")
    show_md(text)
    miss = margin_miss_warning(result)
    if miss:
        show_note(miss)
    for note in result.notes:
        show_note(note_text(note))


# the German sentences of the stage's note codes (kit.survey.stage.NOTE_CODES)
NOTE_TEXTS = {
    NIGHT_ROLE_MISSING: ("Im Codebuch ist keine Frage als Sicherheitsgefühl nachts gekennzeichnet "
                         "(roles: night_safety); der Vergleich von Frauen und Männern entfällt."),
    SEX_ROLE_MISSING: ("Im Codebuch ist keine Frage als Geschlecht gekennzeichnet (roles: sex) oder sie wurde "
                       "nicht beantwortet; der Vergleich von Frauen und Männern entfällt."),
    NO_SAMPLE: ("Die Zahl der angeschriebenen Personen je Gruppe wurde nicht geliefert; "
                "Rücklaufquoten können daher nicht berechnet werden."),
}


def note_text(code: str) -> str:
    """The German sentence of a note code of the survey stage."""
    return NOTE_TEXTS.get(code, code)


def margin_miss_warning(result: PublicSurveyResult) -> str | None:
    """German warning naming the weighting cells whose weighted share misses the
    population share by more than the tolerance (after trimming); None if all fit.
    Weighted shares come from the disclosure-controlled sample-vs-population table."""
    meta = result.weighting
    cells = meta.get("margin_miss_cells") or []
    if not cells:
        return None
    svp = result.sample_vs_population.set_index(["margin", "category"])
    parts = []
    for cell in cells:
        key = (cell["margin"], cell["category"])
        row = svp.loc[key] if key in svp.index else None
        label = str(row["label"]) if row is not None else str(cell["category"])
        weighted = row["weighted_share"] if row is not None else float("nan")
        population = row["population_share"] if row is not None else float("nan")
        w_text = SUPPRESSED if pd.isna(weighted) else fmt_pct(weighted)
        parts.append(f"{label}: gewichtet {w_text}, Bevölkerung {fmt_pct(population)}")
    tol = fmt_num(100 * float(meta.get("margin_tolerance", 0.01)), 1)
    return (f"Achtung – Gewichtung trifft die Bevölkerung nicht: Nach der Kappung der Gewichte weicht der gewichtete "
            f"Anteil von {len(cells)} Gruppe(n) um mehr als {tol} Prozentpunkte vom Anteil an der Bevölkerung ab ("
            + "; ".join(parts) + "). Ergebnisse, die von diesen Gruppen abhängen, sind entsprechend verzerrt, auch "
            "wenn das Raking selbst konvergiert ist; die Kappungsgrenzen sollten geprüft werden.")


def _age_phrase(label: str) -> str:
    """'16 bis 34 Jahre' -> 'im Alter von 16 bis 34 Jahren'; '75 Jahre und älter' -> 'ab 75 Jahren'."""
    label = str(label)
    if label.endswith(" Jahre und älter"):
        return f"ab {label.removesuffix(' Jahre und älter')} Jahren"
    if label.endswith(" Jahre"):
        return f"im Alter von {label.removesuffix(' Jahre')} Jahren"
    return f"der Altersgruppe {label}"


def show_response(result: PublicSurveyResult) -> None:
    if result.response is None:
        show_note("Ohne Angaben zur Stichprobe kann der Rücklauf nicht dargestellt werden.")
        return
    titles = {"gesamt": "", "district": "Stadtteil", "age_group": "Altersgruppe", "sex": "Geschlecht"}
    df = result.response.copy()
    df["group"] = df["margin"].map(titles)
    show_table(df, {"group": ("Merkmal", None), "label": ("Gruppe", None), "issued": ("angeschrieben", fmt_int),
                    "returned": ("Rücklauf", _n), "rate": ("Rücklaufquote", fmt_pct)},
               caption="Rücklauf nach Stadtteil, Alter und Geschlecht")
    benchmark = response_benchmark_sentence(getattr(result, "response_benchmark", None))
    if benchmark:
        show_md(benchmark)
    low = df[df["margin"] == "age_group"].dropna(subset=["rate"])
    if len(low) >= 2:
        lo, hi = low.loc[low["rate"].idxmin()], low.loc[low["rate"].idxmax()]
        show_md(f"Am seltensten antworteten Personen {_age_phrase(lo['label'])} ({fmt_pct(lo['rate'])}), am "
                f"häufigsten Personen {_age_phrase(hi['label'])} ({fmt_pct(hi['rate'])}). Solche Unterschiede "
                "gleicht die Gewichtung aus.")


def district_source_note() -> str:
    """Why the district counts of the response table and the respondents table differ."""
    return ("Der Rücklauf nach Stadtteil (oben) ist nach der Anschrift im Melderegister gezählt, mit der die "
            "Fragebögen verschickt wurden; diese Tabelle nach dem Stadtteil, den die Befragten im Fragebogen "
            "selbst angegeben haben. Beide Zahlen weichen etwas voneinander ab, weil manche Befragte die "
            "Frage nicht beantworten, inzwischen umgezogen sind oder ihre Wohngegend einem Nachbarstadtteil "
            "zurechnen. Gewichtet und ausgewertet wird nach der eigenen Angabe, denn nur sie liegt zu jedem "
            "Fragebogen vor (die Anschrift wird aus Datenschutzgründen nicht mit den Antworten verknüpft).")


def show_weighting(result: PublicSurveyResult) -> None:
    svp = result.sample_vs_population
    titles = {"age_sex": "Alter und Geschlecht", "district": "Stadtteil", "sex": "Geschlecht",
              "age_group": "Altersgruppe"}
    for margin, part in svp.groupby("margin", sort=False):
        missing = part["category"] == MISSING_CATEGORY
        known = part[~missing]
        show_table(known, {"label": ("Gruppe", None), "sample_n": ("Befragte", _n),
                           "sample_share": ("Anteil Befragte", fmt_pct),
                           "population_share": ("Anteil Einwohner", fmt_pct),
                           "weighted_share": ("Anteil gewichtet", fmt_pct)},
                   caption=f"Befragte und Einwohner (ab 16 Jahren) nach {titles.get(margin, margin)} "
                           "(Anteile an den Befragten mit Angabe; jede Spalte ergibt 100 %)")
        if missing.any():
            n_missing = part.loc[missing, "sample_n"].iloc[0]
            count = (f"{fmt_int(n_missing)} Befragte ({fmt_pct(n_missing / result.n_respondents)} aller Fragebögen)"
                     if pd.notna(n_missing) else
                     f"einige Befragte (weniger als {result.min_cell} oder aus Datenschutzgründen nicht ausgewiesen)")
            show_md(f"Ohne Angabe zu {titles.get(margin, margin)}: {count}. Sie sind in den Anteilen der Tabelle "
                    "nicht enthalten und behalten bei der Gewichtung ihren Anteil am Gesamtgewicht.")
        response = getattr(result, "response", None)
        if margin == "district" and response is not None and (response["margin"] == "district").any():
            show_md(district_source_note())
    m = result.weighting
    trim = m.get("trimming") or {}
    text = (f"Gewichtungsverfahren: {WEIGHTING_METHODS.get(m['method'], m['method'])} auf die Ränder {', '.join(titles.get(x, x) for x in m['margins'])}; "
            f"{'konvergiert' if m['converged'] else 'nicht konvergiert'} nach {m['iterations']} Iterationen "
            + ("(jede gewichtete Summe trifft ihren Zielwert bis auf weniger als ein Millionstel). "
               if m["max_abs_margin_error"] < 1e-6 else
               f"(größte relative Abweichung von einem Zielwert: {fmt_pct(m['max_abs_margin_error'], 4)}). ")
            + f"Die Gewichte liegen zwischen dem {fmt_num(m['weight_min'], 2)}- und dem {fmt_num(m['weight_max'], 2)}-fachen "
            "des mittleren Gewichts")
    if trim:
        text += (f"; sie sind auf das {fmt_num(trim['lower'], 1)}- bis {fmt_num(trim['upper'], 1)}-fache begrenzt "
                 f"({fmt_int(trim['n_at_bounds'])} Gewichte an der Grenze)")
    text += "."
    show_md(text)
    miss = margin_miss_warning(result)
    if miss:
        show_note(miss)
    for note in m.get("empty_categories") or []:
        show_note(empty_category_note(note))


WEIGHTING_METHODS = {"raking": "Raking (iterative proportionale Anpassung)"}


def empty_category_note(note: dict) -> str:
    """German note on weighting categories without respondents (kit.survey.weighting: action code
    ``merged`` with the merged cell in ``merged_into``, or ``spread``)."""
    cells = ", ".join(map(str, note["categories"]))
    if note["action"] == "merged":
        what = f"zusammengefasst zu {note['merged_into']} (keine Befragten)"
    elif note["action"] == "spread":
        what = "ohne Befragte: Einwohner anteilig auf die übrigen Kategorien verteilt"
    else:
        what = str(note["action"])
    return f"Gewichtung: {cells} – {what}."


def show_cleaning(result: PublicSurveyResult) -> None:
    log = result.cleaning_log
    touched = log[log["suppressed"] | (log["cases"].fillna(0) > 0) | (log["values"].fillna(0) > 0)]
    touched = touched[~touched["rule"].isin(["records_in", "cases_out"])]
    show_md(" ".join(cleaning_sentences(log, result.min_cell, getattr(result, "quality_unchecked", ()))))
    if touched.empty:
        show_md("Bei der Prüfung gegen das Codebuch fielen keine Werte auf.")
        return
    few = f"weniger als {result.min_cell}"
    show_md("Die Tabelle zeigt, welche Prüfungen gegen das Codebuch angeschlagen haben und wie die betroffenen "
            f"Angaben behandelt wurden. Betrifft eine Prüfung weniger als {result.min_cell} Fragebögen, steht dort "
            f"„{few}“, damit kein einzelner Fragebogen erkennbar wird.")
    show_table(cleaning_table(touched), {"description": ("Prüfung", None), "action": ("Behandlung", None),
                         "cases": ("Fragebögen", lambda v: few if pd.isna(v) else fmt_int(v)),
                         "values": ("Werte", lambda v: few if pd.isna(v) else fmt_int(v))},
               caption="Datenprüfung und Bereinigung (Anzahl betroffener Fragebögen und Werte)")


def _p_text(p: float) -> str:
    return "p unter 0,001" if p < 0.001 else f"p = {fmt_num(p, 3)}"


def finding_text(f, result: PublicSurveyResult) -> str:
    """One German sentence for a row of kit.survey.findings.survey_findings."""
    interval = f"95-%-Bereich {fmt_interval(f['lower'], f['upper'], percent=True)}"
    if f["code"] == "benchmark":
        label = str(f["label"])
        own = f"{label[:1].upper()}{label[1:]}: {fmt_pct(f['value'])} ({interval})"
        ref = f"{fmt_pct(f['reference_value'])} ({f['reference_label']} {int(f['reference_year'])})"
        if f["verdict"] == "higher":
            return f"{own} – mehr als im Vergleich: {ref}."
        if f["verdict"] == "lower":
            return f"{own} – weniger als im Vergleich: {ref}."
        return f"{own} – im Bereich des Vergleichswerts {ref}; der Unterschied kann Zufall sein."
    if f["code"] == "sex_difference":
        overall = f" (alle Befragten: {fmt_pct(f['reference_value'])})" if pd.notna(f["reference_value"]) else ""
        if f["verdict"] == "different":
            return (f"Frauen fühlen sich nachts in der Wohngegend häufiger unsicher als Männer: "
                    f"{fmt_pct(f['value'])} der Frauen ({interval}){overall}; der Unterschied zwischen Frauen und "
                    f"Männern geht über den Zufall hinaus (Rao-Scott-Test, {_p_text(f['p_value'])}).")
        return (f"Frauen und Männer unterscheiden sich im Unsicherheitsgefühl nachts nicht über den Zufall hinaus "
                f"(Frauen {fmt_pct(f['value'])}, {interval}{overall}).")
    if f["code"] == "top_problem":
        rank = {1: "Am häufigsten", 2: "Am zweithäufigsten", 3: "Am dritthäufigsten"}.get(int(f["count"]), "Häufig")
        return f"{rank} als Problem in der Wohngegend genannt: {f['label']} – {fmt_pct(f['value'])} ({interval})."
    if f["code"] == "wave_change":
        from kit.survey.view_waves import change_finding_text

        return change_finding_text(f)
    if f["code"] == "sample":
        rate = f", Rücklaufquote {fmt_pct(f['value'])}" if pd.notna(f["value"]) else ""
        return (f"Grundlage: {fmt_int(f['count'])} ausgewertete Fragebögen{rate}; alle Anteile sind auf die "
                f"Einwohner nach Alter, Geschlecht und Stadtteil gewichtet.")
    return ""


def show_summary(result: PublicSurveyResult) -> None:
    """'Das Wichtigste in Kürze': the findings of kit.survey.findings as numbered sentences."""
    f = result.findings
    if f is None or f.empty:
        return
    show_md("Die wichtigsten Ergebnisse der Befragung, nach Bedeutung geordnet: zuerst Abweichungen von "
            "veröffentlichten Vergleichswerten, die über die Unsicherheit der Befragung hinausgehen, dann "
            + (f"gesicherte Veränderungen seit der Befragung {result.waves.label}, "
               if getattr(result, "waves", None) is not None and (f["code"] == "wave_change").any() else "")
            + "Unterschiede zwischen Gruppen und die am häufigsten genannten Probleme.\n\n"
            + "\n".join(f"{i}. {finding_text(row, result)}" for i, (_, row) in enumerate(f.iterrows(), 1)))


BENCHMARK_VERDICT = {"higher": "höher", "lower": "niedriger", "similar": "im Bereich des Vergleichswerts",
                     "not_shown": SUPPRESSED}


def show_benchmarks(result: PublicSurveyResult) -> None:
    """The key indicators beside national surveys and the Saxon ASSKomm averages."""
    b = result.benchmarks
    if b is None or b.empty:
        show_md("Für die Kennzahlen dieser Befragung liegen keine veröffentlichten Vergleichswerte vor.")
        return
    shown = b[b["verdict"] != "not_shown"]
    different = shown[shown["verdict"].isin(["higher", "lower"])]
    text = (f"Die Tabelle stellt {len(b['indicator'].unique())} Kennzahlen der Befragung veröffentlichten Werten "
            "gegenüber: dem Deutschen Viktimisierungssurvey (bundesweit, 2012 auch für Sachsen) und dem Durchschnitt "
            "der sächsischen Kommunen, die eine ASSKomm-Sicherheitsanalyse gemacht haben. „Höher“ oder „niedriger“ "
            "steht nur, wenn der Unterschied über die Unsicherheit der eigenen Befragung hinausgeht (95-%-Bereich). ")
    if different.empty:
        text += "Keine der verglichenen Kennzahlen weicht in diesem Sinn von ihrem Vergleichswert ab."
    else:
        parts = [f"{r.indicator_label} ({fmt_pct(r.value)} gegenüber {fmt_pct(r.reference_value)}, "
                 f"{r.reference_label} {r.year})" for r in different.itertuples()]
        text += ("Deutlich abweichend: " + "; ".join(parts) + ".")
    show_md(text)
    if (b["wording"] == "similar").any():
        show_note("Wo die Vergleichsbefragung anders gefragt hat (andere Formulierung oder Antwortskala, andere "
                  "Jahre), ist der Vergleich nur eine grobe Einordnung; diese Zeilen sind mit „ähnliche Frage“ "
                  "gekennzeichnet.")
    table = b.copy()
    table["own"] = [SUPPRESSED if pd.isna(v) else f"{fmt_pct(v)} ({fmt_interval(lo, hi, percent=True)})"
                    for v, lo, hi in zip(table["value"], table["lower"], table["upper"])]
    table["ref"] = [fmt_pct(v) for v in table["reference_value"]]
    table["comparison"] = [f"{label} {year}" + ("" if w == "same" else " – ähnliche Frage")
                           for label, year, w in zip(table["reference_label"], table["year"], table["wording"])]
    table["verdict_text"] = [BENCHMARK_VERDICT[v] for v in table["verdict"]]
    show_table(table, {"indicator_label": ("Kennzahl", None), "own": (f"{result.name} (95-%-Bereich)", None),
                       "comparison": ("Vergleich", None), "ref": ("Vergleichswert", None),
                       "verdict_text": ("Einordnung", None)},
               caption="Kennzahlen der Befragung im Vergleich mit veröffentlichten Befragungen")
    sources = "; ".join(dict.fromkeys(b["source"]))
    show_note(f"Quellen der Vergleichswerte: {sources}.")


def show_key_indicators(result: PublicSurveyResult) -> None:
    k = result.key_indicators.copy()
    k["share"] = [SUPPRESSED if pd.isna(v) else fmt_pct(v) for v in k["value"]]
    k["interval"] = [fmt_interval(lo, hi, percent=True) for lo, hi in zip(k["lower"], k["upper"])]
    show_table(k, {"label": ("Kennzahl", None), "share": ("Anteil", None), "interval": ("95-%-Bereich", None)},
               caption="Kennzahlen der Befragung (gewichtet), die in die Handlungsempfehlungen eingehen")


def _overall(result: PublicSurveyResult, kind: str | None = None) -> pd.DataFrame:
    p = result.estimates
    p = p[p["group_var"] == ""]
    return p if kind is None else p[p["kind"] == kind]


def _with_interval(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["interval"] = [DASH if s or pd.isna(lo) else fmt_interval(lo, hi, percent=True)
                      for s, lo, hi in zip(df["suppressed"].astype(bool), df["lower"], df["upper"])]
    df["share"] = [SUPPRESSED if s or pd.isna(e) else fmt_pct(e)
                   for s, e in zip(df["suppressed"].astype(bool), df["estimate"])]
    return df


# under a group table with a share hidden although its group answered often enough
COMPLEMENT_NOTE = ("„Nicht ausgewiesen“ bei einer Gruppe mit vielen Antworten: Der Wert ist verdeckt, weil sich "
                   "sonst aus ihm, dem Gesamtwert und den anderen Gruppen eine zu kleine Zahl zurückrechnen ließe, "
                   "etwa die Antworten der wenigen Befragten ohne Angabe zu Geschlecht oder Alter.")


def show_breakdown(result: PublicSurveyResult, item_id: str) -> None:
    p = result.estimates
    groups = _person_groups(result)
    rows = p[(p["item"] == item_id) & (p["kind"] == "collapsed") & p["group_var"].isin(["", *groups])]
    if rows.empty:
        return
    df = _with_interval(rows)
    df["merkmal"] = [groups.get(g, "") for g in df["group_var"]]
    df["group"] = [_group_label(g, v, result) for g, v in zip(df["group"], df["group_var"])]
    label = df["category_label"].iloc[0]
    show_table(df, {"merkmal": ("Merkmal", None), "group": ("Gruppe", None), "share": ("Anteil", None),
                    "interval": ("95-%-Bereich", None), "n_unweighted": ("Antworten", _n)},
               caption=f"Anteil {label} nach Geschlecht und Alter")
    base = pd.to_numeric(df["n_unweighted"], errors="coerce")
    if (df["suppressed"].astype(bool) & (base >= result.min_base)).any():  # hidden as a complement
        show_note(COMPLEMENT_NOTE)


def show_question(result: PublicSurveyResult, question: str) -> None:
    cb = result.codebook
    items = cb.question_items(question)
    qtype = items[0].type
    qtext = cb.question_text(question)
    if qtype == "text":
        return
    if items[0].id in _weighting_items(result):
        return  # weighted to the population by construction; show_block says so once
    if qtype == "numeric":
        p = result.estimates
        groups = _person_groups(result)
        rows = p[p["item"].isin([it.id for it in items]) & p["group_var"].isin(["", *groups])]
        df = rows.copy()
        df["merkmal"] = [groups.get(g, "") for g in df["group_var"]]
        df["group"] = [_group_label(g, v, result) for g, v in zip(df["group"], df["group_var"])]
        df["mean"] = [SUPPRESSED if s or pd.isna(e) else fmt_num(e, 1)
                      for s, e in zip(df["suppressed"].astype(bool), df["estimate"])]
        df["interval"] = [DASH if s or pd.isna(lo) else fmt_interval(lo, hi, 1)
                          for s, lo, hi in zip(df["suppressed"].astype(bool), df["lower"], df["upper"])]
        show_table(df, {"merkmal": ("Merkmal", None), "group": ("Gruppe", None), "mean": ("Mittelwert", None),
                        "interval": ("95-%-Bereich", None), "n_unweighted": ("Antworten", _n)}, caption=qtext)
        return
    if qtype == "multi":
        data = _overall(result, "multi")
        data = _by_share(data[data["question"] == question])
        if _all_hidden(data):
            show_md(_hidden_sentence(qtext))
            return
        data = _with_wording(data, items)
        _show_fig(plots.share_bars(data, title=_wrap(qtext), label_col="wording_wrapped"), result)
        show_md(_ranking_sentence(data, "wording_quoted", "Am häufigsten genannt:", "am seltensten:"))
        return
    if len(items) > 1:
        # battery: unfavourable share per item when the scale is ordered, else "ja" share
        coll = _overall(result, "collapsed")
        data = coll[coll["question"] == question]
        if data.empty:
            dist = _overall(result, "distribution")
            data = dist[(dist["question"] == question) & (dist["category"] == "1")]
            label = items[0].values.get(1, "")
        else:
            label = data["category_label"].iloc[0]
        data = _by_share(data)
        if _all_hidden(data):
            show_md(_hidden_sentence(qtext))
            return
        data = _with_wording(data, items)
        _show_fig(plots.share_bars(data, title=_wrap(f"{qtext} – Anteil {label}"), label_col="wording_wrapped"),
                  result)
        quoted = label if str(label).startswith("„") else f"„{label}“"
        show_md(_ranking_sentence(data, "wording_quoted", f"Den höchsten Anteil {quoted} hat", "den niedrigsten"))
        return
    dist = _overall(result, "distribution")
    data = dist[dist["item"] == items[0].id]
    if _all_hidden(data):
        show_md(_hidden_sentence(qtext))
        return
    _show_fig(plots.share_bars(data, title=_wrap(qtext)), result)
    top = data[~data["suppressed"].astype(bool) & data["estimate"].notna()].sort_values("estimate").tail(1)
    if len(top):
        show_md(f"Die häufigste Antwort ist „{top['category_label'].iloc[0]}“ mit {fmt_pct(top['estimate'].iloc[0])} "
                f"(95-%-Bereich {fmt_interval(top['lower'].iloc[0], top['upper'].iloc[0], percent=True)}).")
    if negative_codes(items[0]):
        show_breakdown(result, items[0].id)


# weighting margins -> the codebook roles whose items they fix
MARGIN_ROLES = {"age_sex": ("age", "sex"), "age_group": ("age",), "sex": ("sex",), "district": ("district",)}


def _weighting_items(result: PublicSurveyResult) -> set[str]:
    """Items the survey was weighted on (through their codebook roles)."""
    roles = {r for m in (result.weighting or {}).get("margins", []) for r in MARGIN_ROLES.get(m, ())}
    return {result.codebook.roles[r] for r in roles if r in result.codebook.roles}


def _by_share(data: pd.DataFrame) -> pd.DataFrame:
    """Items of a battery or multiple choice, largest share first, hidden ones last."""
    return data.assign(_order=data["estimate"].where(~data["suppressed"].astype(bool))).sort_values(
        "_order", ascending=False, na_position="last", kind="stable").drop(columns="_order")


def _all_hidden(data: pd.DataFrame) -> bool:
    return data.empty or bool((data["suppressed"].astype(bool) | data["estimate"].isna()).all())


def _hidden_sentence(question: str) -> str:
    return (f"„{question}“: Zu dieser Frage haben zu wenige Befragte geantwortet, um Anteile zu zeigen; aus "
            "Datenschutzgründen wird hier kein Ergebnis ausgewiesen.")


def _with_wording(data: pd.DataFrame, items) -> pd.DataFrame:
    """Battery and multiple-choice charts name each item by its wording in the questionnaire
    (the codebook's ``text``), not by the analyst's short label: a council member reads what
    respondents were asked. Wrapped for the chart axis, quoted for sentences."""
    wording = {it.id: str(it.text or it.short_label).strip().rstrip(".") for it in items}
    out = data.copy()
    text = out["item"].map(wording).fillna(out["item_label"].astype(str))
    out["wording_wrapped"] = [textwrap.fill(t, 40) for t in text]
    out["wording_quoted"] = [f"„{t}“" for t in text]
    return out


def _ranking_sentence(data: pd.DataFrame, label_col: str, first_words: str, last_words: str) -> str:
    """'<first_words> A (x %, interval); <last_words> B (y %).' over the shown items (sorted by _by_share)."""
    shown = data[~data["suppressed"].astype(bool) & data["estimate"].notna()]
    if shown.empty:
        return ""
    first = shown.iloc[0]
    text = (f"{first_words} {first[label_col]} ({fmt_pct(first['estimate'])}, 95-%-Bereich "
            f"{fmt_interval(first['lower'], first['upper'], percent=True)})")
    if len(shown) > 1:
        last = shown.iloc[-1]
        text += f"; {last_words} {last[label_col]} ({fmt_pct(last['estimate'])})"
    hidden = len(data) - len(shown)
    if hidden:
        text += f". {hidden} weitere Angabe(n) wegen zu weniger Antworten nicht ausgewiesen"
    return text + "."


def _wrap(text: str, width: int = 70) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def show_block(result: PublicSurveyResult, block: str) -> None:
    """Every closed question of one topic block of the questionnaire."""
    cb = result.codebook
    questions = [q for q in cb.questions() if cb.block_of(q) == block]
    weighted = [q for q in questions if cb.question_items(q)[0].id in _weighting_items(result)]
    if weighted:
        # an interval on these would pretend an estimate: weighting fixes them to the population
        names = " und ".join(", ".join(f"„{cb.question_text(q)}“" for q in weighted).rsplit(", ", 1))
        show_md(f"Nicht als Ergebnis gezeigt werden {names}: Nach diesen Merkmalen ist die Befragung gewichtet, "
                "ihre gewichtete Verteilung entspricht daher nach Konstruktion der Einwohnerstatistik. Wie sich die "
                "Befragten verteilen, zeigt der Abschnitt „Rücklauf und Gewichtung“.")
    for q in questions:
        show_question(result, q)


def show_blocks(result: PublicSurveyResult, skip: tuple[str, ...] = ()) -> None:
    for block in result.codebook.blocks():
        if block in skip:
            continue
        show_md(f"### {block}")
        show_block(result, block)


def show_districts(result: PublicSurveyResult, districts_gdf, item_id: str | None = None) -> None:
    """Map and table of the unfavourable share of one item by district (default: the
    item with the codebook role night_safety)."""
    item_id = item_id or result.night_item
    if item_id is None:
        show_note(note_text(NIGHT_ROLE_MISSING))
        return
    district_col = result.breakdowns.get("district")
    if district_col is None:
        show_note("Im Codebuch ist keine Frage als Stadtteil gekennzeichnet (roles: district) oder sie wurde nicht "
                  "beantwortet; eine Auswertung nach Stadtteilen entfällt.")
        return
    p = result.estimates
    rows = p[(p["item"] == item_id) & (p["kind"] == "collapsed") & (p["group_var"] == district_col)]
    if rows.empty:
        return
    name_to_id = {v: k for k, v in result.districts.items()}
    df = _with_interval(rows)
    values = pd.Series({name_to_id.get(g): e for g, e, s in zip(df["group"], df["estimate"], df["suppressed"])
                        if not s and pd.notna(e)}, dtype=float) * 100
    label = df["category_label"].iloc[0]
    if len(values):
        _show_fig(plots.choropleth(districts_gdf, values, title=_wrap(f"Anteil {label} nach Stadtteil"),
                                   legend=f"Anteil {label} in %", decimals=0, cmap="Oranges", vmin=0,
                                   vmax=max(50.0, float(values.max())), value_suffix=" %",
                                   attribution=f"Kartengrundlage: Stadtteilgrenzen {result.name}"),
                  result, f"Kartengrundlage: Stadtteilgrenzen {result.name}")
    show_table(df, {"group": ("Stadtteil", None), "share": ("Anteil", None), "interval": ("95-%-Bereich", None),
                    "n_unweighted": ("Antworten", _n)},
               caption=f"{result.codebook.question_text(item_id)} – Anteil {label}")
    hidden = int(df["suppressed"].astype(bool).sum())
    if hidden:
        show_note(f"Für {hidden} Stadtteil(e) liegen zu wenige Antworten für einen Anteil vor; sie bleiben auf der "
                  "Karte weiß.")


def show_night_safety_test(result: PublicSurveyResult) -> None:
    t = result.tests.get("night_unsafe_by_sex")
    if not t or pd.isna(t.get("p_value")):
        return  # a missing role is stated in the notes of the overview
    verdict = ("Der Unterschied zwischen Frauen und Männern ist **statistisch gesichert**"
               if t["p_value"] < 0.05 else "Ein Unterschied zwischen Frauen und Männern ist **nicht gesichert**")
    p_text = "unter 0,001" if t["p_value"] < 0.001 else fmt_num(t["p_value"], 3)
    show_md(f"{verdict} (Rao-Scott-Test für gewichtete Daten: χ² = {fmt_num(t['statistic'], 1)}, "
            f"p {'' if t['p_value'] < 0.001 else '= '}{p_text})."
            + _night_shares_by_sex(result, t))


def _night_shares_by_sex(result: PublicSurveyResult, test: dict) -> str:
    """' Von den Frauen fühlen sich x % (a–b %) ..., von den Männern y % (c–d %).' from the
    disclosure-controlled estimates of the tested item by sex; '' if not available."""
    sex_col = result.breakdowns.get("sex")
    if sex_col is None:
        return ""
    p = result.estimates
    rows = p[(p["item"] == test.get("item")) & (p["kind"] == "collapsed") & (p["group_var"] == sex_col)]
    found = {}
    for _, r in rows.iterrows():
        word = {"w": "Frauen", "m": "Männern"}.get(_sex_code(r["group"]))
        if word is None:
            continue
        if bool(r["suppressed"]) or pd.isna(r["estimate"]):
            found[word] = SUPPRESSED
        else:
            found[word] = f"{fmt_pct(r['estimate'])} (95-%-Bereich {fmt_interval(r['lower'], r['upper'], percent=True)})"
    if len(found) < 2:
        return ""
    return (f" Nachts in ihrer Wohngegend unsicher fühlen sich von den Frauen {found['Frauen']}, "
            f"von den Männern {found['Männern']} (gewichtete Anteile).")


def _sex_code(group) -> str | None:
    low = str(group).strip().lower()
    if low in ("w", "weiblich", "frau", "frauen"):
        return "w"
    if low in ("m", "männlich", "mann", "männer"):
        return "m"
    return None


def show_scales(result: PublicSurveyResult) -> None:
    if result.scales is None or result.scales.empty:
        return
    df = result.scales.copy()
    df["range"] = [f"{fmt_int(lo)} bis {fmt_int(hi)} ({'hoch = ungünstig' if neg else 'hoch = günstig'})"
                   for lo, hi, neg in zip(df["scale_min"], df["scale_max"], df["high_is_negative"])]
    df["interval"] = [fmt_interval(lo, hi, 2) for lo, hi in zip(df["index_lower"], df["index_upper"])]
    show_table(df, {"label": ("Fragenbatterie", None), "items": ("Aussagen", fmt_int),
                    "index_mean": ("Mittelwert-Index", 2), "interval": ("95-%-Bereich", None),
                    "range": ("Skala", None), "n_complete": ("vollständige Antworten", _n),
                    "alpha": ("Cronbachs Alpha", 2)},
               caption="Fragenbatterien: gewichteter Mittelwert-Index (Mittel der Antwortcodes) und Zuverlässigkeit (Cronbachs Alpha; ab 0,7 gilt eine Skala als zuverlässig)")
    low = df[pd.to_numeric(df["alpha"], errors="coerce") < ALPHA_RELIABLE]
    if not low.empty:
        names = ", ".join(f"„{lab}“ ({fmt_num(a, 2)})" for lab, a in zip(low["label"], low["alpha"]))
        show_note(f"Cronbachs Alpha liegt unter {fmt_num(ALPHA_RELIABLE, 1)} bei {names}: Die Aussagen dieser "
                  "Fragenbatterie messen nicht zuverlässig dasselbe. Ihr Mittelwert-Index ist daher nur eingeschränkt "
                  "aussagekräftig; die einzelnen Aussagen sollten für sich gelesen werden.")


def show_free_text(result: PublicSurveyResult) -> None:
    if result.free_text is None:
        return
    df = result.free_text.copy()
    total = df[df["topic"] == "Antworten insgesamt"]
    show_md("Die offenen Antworten zu Orten, an denen sich Befragte unwohl fühlen, werden nicht wörtlich wiedergegeben "
            "(Datenschutz), sondern nach Stichworten gezählt; eine Antwort kann mehrere Themen nennen.")
    show_table(df, {"topic": ("Ort / Thema", None), "mentions": ("Nennungen", _n), "share": ("Anteil", fmt_pct)},
               caption="Orte des Unwohlseins in den offenen Antworten")
    if not total.empty and pd.isna(total["share"].iloc[0]):
        show_note(f"Weniger als {result.min_base} offene Antworten: Anteile werden nicht ausgewiesen.")


def explorer_choices(result: PublicSurveyResult) -> tuple[list[tuple[str, str]], list[tuple[str, str | None]]]:
    """(question choices, breakdown choices) for the interactive explorer."""
    cb = result.codebook
    questions = [(f"{q}: {_short(cb.question_text(q))}", q) for q in cb.questions() if cb.question_type(q) != "text"]
    breakdowns: list[tuple[str, str | None]] = [("Gesamt", None)]
    breakdowns += [(title, name) for name, title in GROUP_TITLES.items() if name in result.breakdowns]
    for q in cb.questions():
        items = cb.question_items(q)
        if len(items) == 1 and items[0].type == "single" and items[0].values:
            breakdowns.append((f"{q}: {_short(cb.question_text(q))}", items[0].id))
    return questions, breakdowns


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def show_explored(result: PublicSurveyResult, ask, question: str, by: str | None) -> None:
    """``ask(question, by)``: disclosure-controlled tidy estimates (:meth:`SurveyResult.explore`)."""
    tidy = _with_interval(ask(question, by))
    tidy = tidy[tidy["kind"] != "collapsed"]
    if by == "age_group":
        tidy["group"] = [AGE_LABELS.get(g, g) for g in tidy["group"]]
    show_table(tidy, {"item_label": ("Frage / Aussage", None), "category_label": ("Antwort", None),
                      "group": ("Gruppe", None), "share": ("Anteil / Mittelwert", None),
                      "interval": ("95-%-Bereich", None), "n_unweighted": ("Antworten", _n)},
               caption=result.codebook.question_text(question))


def explorer(result: PublicSurveyResult, ask):
    """Widgets to explore any question by any group in JupyterLab. ``ask(question, by)``
    computes from the private result and returns only policy-applied tables
    (:meth:`kit.survey.stage.SurveyResult.explore`)."""
    import ipywidgets as widgets
    from IPython.display import display

    questions, breakdowns = explorer_choices(result)
    q_box = widgets.Dropdown(options=questions, description="Frage", layout=widgets.Layout(width="95%"))
    b_box = widgets.Dropdown(options=breakdowns, description="nach", layout=widgets.Layout(width="95%"))
    out = widgets.Output()

    def update(_change=None):
        with out:
            out.clear_output(wait=True)
            show_explored(result, ask, q_box.value, b_box.value)

    q_box.observe(update, names="value")
    b_box.observe(update, names="value")
    update()
    box = widgets.VBox([q_box, b_box, out])
    display(box)
    return box



# ---------------------------------------------------------------------------
# What drives insecurity (issue 9, item 4): kit.survey.drivers.drivers -> show_drivers
# ---------------------------------------------------------------------------

DRIVER_VARIABLES = {  # variable code of kit.survey.drivers -> German wording
    "incivility": "Wahrgenommene Probleme in der Wohngegend (je Skalenpunkt 1–4)",
    "victim": "Opfer einer Straftat in den letzten 12 Monaten",
    "sex": "Geschlecht",
    "age_group": "Altersgruppe",
    "trust": "Vertrauen in die Polizei (je Punkt 0–10)",
    "district": "Stadtteil",
}
DRIVER_SHORT = {"incivility": "wahrgenommene Probleme in der Wohngegend (Müll, Graffiti, Gruppen u. Ä.)",
                "victim": "eine Opfererfahrung in den letzten 12 Monaten",
                "trust": "das Vertrauen in die Polizei"}
DRIVER_REFUSALS = {
    "no_outcome": "Das Codebuch benennt keine Frage zum Sicherheitsgefühl nachts (Rolle night_safety).",
    "no_incivility": "Der Fragebogen enthält keine Fragen zu Problemen in der Wohngegend.",
    "small_base": "Zu wenige vollständige Fragebögen für ein Modell (Datenschutz-Mindestzahl).",
    "small_outcome": "Zu wenige Befragte fühlen sich nachts unsicher (oder sicher) für ein Modell.",
    "small_category": "Eine Gruppe (z. B. Opfer, Geschlecht, Altersgruppe oder Stadtteil) ist zu klein "
                      "für eine Veröffentlichung.",
    "not_converged": "Das Modell ließ sich mit diesen Daten nicht stabil schätzen.",
}


def _driver_term_label(row, districts: dict[str, str]) -> str:
    var, cat = row["variable"], str(row["category"])
    if var == "sex":
        return {"w": "Frauen", "m": "Männer"}.get(cat, cat)
    if var == "age_group":
        return AGE_LABELS.get(cat, cat)
    if var == "district":
        return "übrige (kleine) Stadtteile" if cat == "_other" else districts.get(cat, cat)
    if var == "victim":
        return "Opfer in den letzten 12 Monaten"
    if var == "incivility":
        return "Probleme in der Wohngegend (je Punkt)"
    if var == "trust":
        return "Vertrauen in die Polizei (je Punkt)"
    return str(row.get("label") or row["term"])


def _driver_age_phrase(group: str) -> str:
    """'35-54' -> 'von 35 bis 54 Jahren', '75+' -> 'ab 75 Jahren'."""
    group = str(group)
    if group.endswith("+"):
        return f"ab {group[:-1]} Jahren"
    if "-" in group:
        lo, hi = group.split("-", 1)
        return f"von {lo} bis {hi} Jahren"
    return f"der Altersgruppe {AGE_LABELS.get(group, group)}"


def _driver_reference_text(table: pd.DataFrame, var: str, districts: dict[str, str]) -> str:
    ref = table[(table["variable"] == var) & table["reference"]]
    return _driver_term_label(ref.iloc[0], districts) if len(ref) else ""


def drivers_figure(table: pd.DataFrame, districts: dict[str, str], confidence: float = 0.95):
    """Effect chart: odds ratio with interval per term on a log axis, reference line at 1."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    rows = table[~table["reference"]].reset_index(drop=True)
    labels = []
    for _, r in rows.iterrows():
        label = _driver_term_label(r, districts)
        if r["variable"] in ("sex", "age_group", "district"):
            label += f" (vs. {_driver_reference_text(table, r['variable'], districts)})"
        labels.append(label)
    n = len(rows)
    fig, ax = plt.subplots(figsize=(plots.WIDTH_IN, 0.9 + 0.32 * n))
    y = np.arange(n)[::-1]
    sig = (rows["lower"] > 1) | (rows["upper"] < 1)
    colors = [plots.BLUE if s else plots.GREY for s in sig]
    for yi, (_, r), c in zip(y, rows.iterrows(), colors):
        ax.plot([r["lower"], r["upper"]], [yi, yi], color=c, lw=1.6)
        ax.plot([r["or"]], [yi], "o", color=c, ms=5)
    ax.axvline(1.0, color="#333333", lw=0.8, ls="--")
    ax.set_xscale("log")
    lo = float(min(rows["lower"].min(), 1.0)) / 1.15
    hi = float(max(rows["upper"].max(), 1.0)) * 1.15
    ax.set_xlim(lo, hi)
    candidates = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 50) if hi / lo > 12 else (0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5)
    ticks = [t for t in candidates if lo <= t <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_num(v, 2 if v < 1 else (1 if v % 1 else 0))))
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("Chancenverhältnis (logarithmische Achse; 1 = kein Zusammenhang)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    clear = [labels[i] for i in range(n) if sig.iloc[i]]
    pct = fmt_num(100 * confidence, 0)
    alt = ("Punktdiagramm der Chancenverhältnisse für das nächtliche Unsicherheitsgefühl mit "
           f"{pct}-%-Bereichen auf logarithmischer Achse. "
           + (f"Bereiche, die die 1 nicht einschließen: {'; '.join(clear)}." if clear
              else "Kein Bereich schließt die 1 aus."))
    return plots.describe(fig, title="Was hängt mit dem Unsicherheitsgefühl nachts zusammen? "
                                     f"Chancenverhältnisse mit {pct}-%-Bereich (gewichtete logistische Regression)",
                          alt=alt, note="Blau: Bereich schließt die 1 aus; grau: kein gesicherter Zusammenhang")


# An odds ratio of 1,5 (or 1/1,5) per category or point counts as a relevant effect: an interval
# reaching beyond it cannot rule such an effect out.
RELEVANT_ODDS_RATIO = 1.5


def undecided_drivers_text(rows: pd.DataFrame, n: int) -> str:
    """For the factors the council asks about (problems in the neighbourhood, victimisation, trust
    in the police) whose interval includes 1: say whether the survey rules out a relevant effect
    or is too small to tell, so 'not significant' is not read as 'no effect'."""
    parts_open, parts_small = [], []
    for _, r in rows.iterrows():
        if r["variable"] not in DRIVER_SHORT or r["lower"] > 1 or r["upper"] < 1:
            continue
        named = (f"{DRIVER_SHORT[r['variable']]} (Chancenverhältnis {fmt_num(r['or'], 2)}, "
                 f"Bereich {fmt_interval(r['lower'], r['upper'], 2)})")
        if r["upper"] >= RELEVANT_ODDS_RATIO or r["lower"] <= 1 / RELEVANT_ODDS_RATIO:
            parts_open.append(named)
        else:
            parts_small.append(named)
    text = ""
    if parts_open:
        text += (f"Für {' und '.join(parts_open)} ist der Bereich so breit, dass sich ein spürbarer Zusammenhang "
                 f"mit {fmt_int(n)} Befragten weder belegen noch ausschließen lässt; das Ergebnis heißt also nicht, "
                 "dass es keinen Zusammenhang gibt. ")
    if parts_small:
        text += (f"Für {' und '.join(parts_small)} schließt der Bereich einen größeren Zusammenhang aus "
                 f"(Chancenverhältnis ab {fmt_num(RELEVANT_ODDS_RATIO, 1)} bzw. bis "
                 f"{fmt_num(1 / RELEVANT_ODDS_RATIO, 2)}). ")
    return text


def drivers_design_sentence(design: dict | None) -> str:
    """What the model's intervals account for: the sample design when the stage passed one
    (kit.survey.design: the drivers model then uses the design-based sandwich)."""
    from kit.survey.design_view import design_phrase

    phrase = design_phrase(design or {})
    if phrase:
        return f"Die Bereiche berücksichtigen die Gewichtung und die Anlage der Stichprobe ({phrase})."
    return "Die Bereiche berücksichtigen die Gewichtung, nicht aber eine Schichtung oder Klumpung der Stichprobe."


def show_drivers(result: PublicSurveyResult, drivers) -> None:
    """Section 'Was hängt mit dem Unsicherheitsgefühl zusammen?': effect chart and a
    plain-German paragraph. ``drivers``: a :class:`kit.survey.drivers.DriversResult`
    (numbers only; computed by the stage)."""
    if drivers is None:
        return
    if not drivers.ok:
        code = str(drivers.reason).split(":")[0]
        show_note("Kein Modell zu den Einflussfaktoren des Unsicherheitsgefühls: "
                  + DRIVER_REFUSALS.get(code, "Das Modell wird nicht ausgewiesen."))
        return
    table = drivers.table
    districts = result.districts
    fig = drivers_figure(table, districts, drivers.confidence)
    _show_fig(fig, result, source=f"eigene Berechnung, {fmt_int(drivers.n)} vollständige Fragebögen")
    rows = table[~table["reference"]]
    up = rows[rows["lower"] > 1]
    down = rows[rows["upper"] < 1]

    def phrase(r) -> str:
        var = r["variable"]
        numbers = f"Chancenverhältnis {fmt_num(r['or'], 2)}, Bereich {fmt_interval(r['lower'], r['upper'], 2)}"
        if var in DRIVER_SHORT:
            per = "je Punkt " if var in ("incivility", "trust") else ""
            return f"{DRIVER_SHORT[var]} ({per}{numbers})"
        ref = _driver_reference_text(table, var, districts)
        if var == "sex":
            return f"Frauen (gegenüber Männern: {numbers})" if r["category"] == "w" else \
                f"Männer (gegenüber Frauen: {numbers})"
        if var == "age_group":
            ref_row = table[(table["variable"] == var) & table["reference"]].iloc[0]
            return (f"Befragte {_driver_age_phrase(r['category'])} (gegenüber Befragten "
                    f"{_driver_age_phrase(ref_row['category'])}: {numbers})")
        if var == "district":
            return f"der Stadtteil {_driver_term_label(r, districts)} (gegenüber {ref}: {numbers})"
        return f"{_driver_term_label(r, districts)} ({numbers})"

    pct = fmt_num(100 * drivers.confidence, 0)
    text = (f"Das Modell schätzt für {fmt_int(drivers.n)} Befragte mit vollständigen Angaben, wie die Chance, "
            "sich nachts in der Wohngegend eher oder sehr unsicher zu fühlen, mit den genannten Merkmalen "
            "zusammenhängt, jeweils bei gleichen übrigen Merkmalen. ")
    if len(up):
        text += "Mit mehr Unsicherheit gehen einher: " + "; ".join(phrase(r) for _, r in up.iterrows()) + ". "
    if len(down):
        text += "Mit weniger Unsicherheit gehen einher: " + "; ".join(phrase(r) for _, r in down.iterrows()) + ". "
    if not len(up) and not len(down):
        text += f"Bei keinem Merkmal schließt der {pct}-%-Bereich die 1 aus. "
    else:
        text += (f"Bei den übrigen Merkmalen schließt der {pct}-%-Bereich die 1 ein; ein Zusammenhang ist dort "
                 "nicht gesichert. ")
    text += undecided_drivers_text(rows, drivers.n)
    if drivers.pseudo_r2 is not None:
        text += (f"Die Merkmale erklären die Unterschiede nur zum Teil (Pseudo-R² nach McFadden "
                 f"{fmt_num(drivers.pseudo_r2, 2)}). ")
    text += ("Das Modell zeigt Zusammenhänge, keine Ursachen: Wer sich unsicher fühlt, nimmt Probleme "
             "möglicherweise auch stärker wahr, und nicht erfasste Merkmale können beides beeinflussen. ")
    text += drivers_design_sentence(getattr(result, "design", None))
    notes = set(drivers.notes)
    if "district_pooled" in notes:
        text += (f" Stadtteile mit weniger als {fmt_int(result.policy.min_base)} Befragten sind zu "
                 "„übrige (kleine) Stadtteile“ zusammengefasst.")
    if "district_omitted" in notes:
        text += " Der Stadtteil ist nicht im Modell, weil zu wenige Befragte je Stadtteil vorliegen."
    if "trust_absent" in notes:
        text += " Das Vertrauen in die Polizei wurde nicht erfragt und fehlt im Modell."
    show_md(text)
