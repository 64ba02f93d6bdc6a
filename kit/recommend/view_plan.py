"""Report sections of the action plan (stage 3): "Aktionsplan", "Stärken und Schwächen
(SWOT)", "Vergleich mit anderen Kommunen", "Vorhandene Angebote und Akteure" and the technical
appendix. The only place that words the results of kit.recommend.plan, swot, compare and
matching in German and draws the comparison chart; nothing here computes a statistic."""

from __future__ import annotations

import textwrap

import pandas as pd

from kit.recommend import compare as compare_mod
from kit.recommend import plan as plan_mod
from kit.recommend.action import ActionPlan
from kit.recommend.view import synthetic_mark
from kit.report import (
    DASH,
    fmt_indicator,
    fmt_interval,
    fmt_num,
    fmt_pct,
    show_md,
    show_table,
)

PRIORITY_WORDS = {"high": "hoch", "medium": "mittel", "low": "niedrig"}
EVIDENCE_WORDS = {"3": "nachgewiesen wirksam (Grüne Liste Prävention, Stufe 3)",
                  "2": "wahrscheinlich wirksam (Grüne Liste Prävention, Stufe 2)",
                  "1": "theoretisch gut begründet (Grüne Liste Prävention, Stufe 1)",
                  "good practice": "Erfahrungswissen (Good Practice, nicht evaluiert)"}
CATEGORY_TITLES = {"strength": "Stärken", "weakness": "Schwächen", "opportunity": "Chancen", "threat": "Risiken"}
CATEGORY_EMPTY = {"strength": "Die Regeln zeigen keine deutliche Stärke.",
                  "weakness": "Die Regeln zeigen keine deutliche Schwäche.",
                  "opportunity": "Die Regeln zeigen keine Chance, auf der sich unmittelbar aufbauen lässt.",
                  "threat": "Kein auffälliger Anstieg in der Kriminalitäts- oder Ordnungswidrigkeitenstatistik."}
OP_WORDS = {">": "über", ">=": "mindestens", "<": "unter", "<=": "höchstens"}


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _missing(x) -> bool:
    try:
        return x is None or pd.isna(x)
    except (TypeError, ValueError):
        return False


RATIO_UNIT = "× Referenz"


def _year(value) -> str:
    return "" if _missing(value) else str(int(float(value)))


def number(value, unit) -> str:
    """A value in German with its unit; ratios to the reference with two decimals ('1,06-fach')."""
    unit = _text(unit)
    if unit == RATIO_UNIT:
        return DASH if _missing(value) else f"{fmt_num(value, 2)}-fach"
    return fmt_indicator(value, unit)


def value_with_interval(value, lower, upper, unit) -> str:
    """'25,4 % (95-%-Intervall 23,2–27,7 %)' or the value alone."""
    unit = _text(unit)
    text = number(value, unit)
    if not _missing(lower) and not _missing(upper) and unit != "ja/nein":
        decimals = 2 if unit == RATIO_UNIT else 1
        text += f" (95-%-Intervall {fmt_interval(lower, upper, decimals, percent=unit == 'Anteil')})"
    return text


def span_text(low, high, unit) -> str:
    """'21,8–31,6 %' or '2.826,7–7.225,1 je 100.000 Einw.': the unit once."""
    unit = _text(unit)
    if _missing(low) or _missing(high):
        return DASH
    if unit == "Anteil":
        return fmt_interval(low, high, 1, percent=True)
    if unit == RATIO_UNIT:
        return f"{fmt_interval(low, high, 2)}-fach"
    decimals = 0 if fmt_indicator(1.0, unit).split(" ")[0] == "1" else 1
    return f"{fmt_interval(low, high, decimals)} {unit}".strip()


def _level_key(code) -> str:
    key = _text(code).strip()
    return key.removesuffix(".0")


def evidence_words(code) -> str:
    key = _level_key(code)
    return EVIDENCE_WORDS.get(key, key or "nicht angegeben")


def _split(text) -> list[str]:
    t = _text(text)
    return [p.strip() for p in t.split(plan_mod.LIST_SEPARATOR) if p.strip()] if t else []


# ---------------------------------------------------------------------------
# Aktionsplan
# ---------------------------------------------------------------------------

def plan_overview(plan: pd.DataFrame) -> pd.DataFrame:
    """The one-page overview in words: Rang, Maßnahme, Priorität, federführend, Partner, erste
    Schritte, Zeitrahmen, Erfolgsindikator."""
    rows = []
    for _, p in plan.iterrows():
        general = p["kind"] == plan_mod.KIND_GENERAL
        prio = PRIORITY_WORDS.get(_text(p["priority"]), DASH)
        rows.append({
            "rank": fmt_num(p["rank"]),
            "measure": _text(p["title"]) + (" (allgemeine Empfehlung)" if general else ""),
            "priority": f"{prio} ({fmt_num(p['score'], 1)} von 10 Punkten)",
            "lead": _text(p["lead"]) or "noch festzulegen",
            "partners": ", ".join(_split(p["partners"])) or DASH,
            "steps": "; ".join(_split(p["first_steps"])) or "im Präventionsgremium festzulegen",
            "time": _text(p["time_frame"]) or DASH,
            "success": _text(p["success_indicator"]) or "noch festzulegen",
        })
    return pd.DataFrame(rows, columns=["rank", "measure", "priority", "lead", "partners", "steps", "time", "success"])


def exceedance_words(p) -> str:
    """'der Befund „…“ liegt 45 % über der Schwelle' for the largest exceedance of a plan row."""
    e = p["max_exceedance"]
    label = _text(p["exceedance_label"])
    if _missing(e):
        return ""
    what = f"„{label}“" if label else "ein Befund"
    if float(e) == 0:
        return f"{what} erreicht die Schwelle gerade"
    if _text(p["exceedance_op"]) == "flag":
        return f"{what} ist ein Frühwarnhinweis"
    verb = "unterschreitet" if _text(p["exceedance_op"]) in ("<", "<=") else "überschreitet"
    if float(e) >= plan_mod.EXCEEDANCE_CAP:
        return f"{what} {verb} die Schwelle um {fmt_pct(plan_mod.EXCEEDANCE_CAP, 0)} oder mehr"
    return f"{what} {verb} die Schwelle um {fmt_pct(float(e), 0)}"


def rank_reason(p) -> str:
    """Why a measure has its rank: the four points of the score in words."""
    parts = [f"{evidence_words(p['evidence_level'])}: {fmt_num(p['evidence_points'], 1)} Punkte"]
    n = int(p["n_met"])
    if n:
        parts.append(f"{fmt_num(n)} erfüllte {'Regel' if n == 1 else 'Regeln'}: {fmt_num(p['breadth_points'], 1)} Punkte")
        size = exceedance_words(p)
        if size:
            parts.append(f"Größe des Problems ({size}): {fmt_num(p['size_points'], 1)} Punkte")
    else:
        parts.append("allgemein empfohlen, ohne auslösenden Befund: 0 Punkte für Befunde und Problemgröße")
    acts = p["n_activities"]
    if not _missing(acts):
        if float(acts) > 0:
            one = float(acts) == 1
            parts.append(f"{fmt_num(acts)} {'passendes Angebot' if one else 'passende Angebote'} vor Ort, "
                         f"{'auf dem' if one else 'auf denen'} sich aufbauen lässt: {fmt_num(p['build_points'], 1)} Punkt")
        else:
            parts.append("noch kein passendes Angebot vor Ort: 0 Punkte")
    return "; ".join(parts) + f"; zusammen {fmt_num(p['score'], 1)} Punkte."


def show_plan(action: ActionPlan) -> None:
    plan = action.plan
    if plan.empty:
        show_md("Nach den festgelegten Regeln ist für diese Kommune keine Maßnahme empfohlen; der Aktionsplan "
                "entfällt.")
        return
    n_spec = int((plan["kind"] == plan_mod.KIND_SPECIFIC).sum())
    n_high = int((plan["priority"] == "high").sum())
    intro = (f"Der Aktionsplan ordnet die {fmt_num(len(plan))} empfohlenen Maßnahmen nach Dringlichkeit und "
             "Aussicht auf Erfolg. Zuerst stehen die Maßnahmen, die ein Befund dieser Kommune auslöst "
             f"({fmt_num(n_spec)}), danach allgemeine Empfehlungen. Die Rangfolge ergibt sich aus einer "
             "Punktzahl (höchstens 10): wie gut die Wirksamkeit belegt ist, wie viele Befunde auf die Maßnahme "
             "hinweisen, wie deutlich der Befund die Schwelle überschreitet und ob es vor Ort schon ein passendes "
             f"Angebot gibt, auf dem sich aufbauen lässt. {fmt_num(n_high)} "
             f"{'Maßnahme hat' if n_high == 1 else 'Maßnahmen haben'} hohe Priorität (ab "
             f"{fmt_num(plan_mod.HIGH_FROM)} Punkten).")
    show_md(intro)
    show_md("Die Übersicht zeigt für jede empfohlene Maßnahme ihren Rang, ihre Priorität, wer sie federführend "
            "übernimmt, die Partner, die ersten Schritte, den Zeitrahmen und woran sich der Erfolg in einer "
            "späteren Befragung messen lässt.")
    show_table(plan_overview(plan), {
        "rank": ("Rang", None), "measure": ("Maßnahme", None), "priority": ("Priorität", None),
        "lead": ("federführend", None), "partners": ("Partner", None), "steps": ("erste Schritte", None),
        "time": ("Zeitrahmen", None), "success": ("Erfolgsindikator", None)},
        caption="Aktionsplan: empfohlene Maßnahmen nach Priorität")
    lines = [f"{fmt_num(p['rank'])}. **{_text(p['title'])}**: {rank_reason(p)}" for _, p in plan.iterrows()]
    show_md("**Warum diese Reihenfolge?**\n\n" + "\n".join(lines))


# ---------------------------------------------------------------------------
# SWOT
# ---------------------------------------------------------------------------

def swot_point_text(point, titles: dict[str, str], communes: int | None = None) -> str:
    """One SWOT point as a German sentence with its number and comparison."""
    kind = _text(point["kind"])
    if kind in ("activities", "funding"):
        ids = [i for i in _text(point["detail"]).split(",") if i]
        names = ", ".join(titles.get(i, DASH) for i in ids)
        if kind == "activities":
            n = fmt_num(point["n"])
            return (f"Für {fmt_num(len(ids))} der empfohlenen Maßnahmen gibt es vor Ort schon passende Angebote "
                    f"(zusammen {n}), auf denen sich aufbauen lässt: {names}.")
        return (f"{fmt_num(len(ids))} der empfohlenen Maßnahmen "
                f"{'ist' if len(ids) == 1 else 'sind'} nach der Förderrichtlinie Kommunale Prävention "
                f"förderfähig: {names}.")
    label = _text(point["label"]) or "Kennzahl"
    unit = _text(point["unit"])
    if kind == "flag":
        return f"{label}."
    value = value_with_interval(point["value"], point["lower"], point["upper"], unit)
    if unit == RATIO_UNIT:
        value = f"{value.replace('-fach', '-fache', 1)} des Werts für Sachsen"
    value += synthetic_mark(point)
    above = (float(point["value"]) > float(point["comparison_value"])
             if not _missing(point["comparison_value"]) else None)
    if kind == "threshold":
        interval = _text(point["comparison_label"]) == "interval"
        cond = f"{OP_WORDS.get(_text(point['compared_with']), '')} {fmt_indicator(point['comparison_value'], unit)}"
        return f"{label}: {value}; {'das gesamte Intervall liegt' if interval else 'der Wert liegt'} bei {cond}."
    direction = "höher als" if above else "niedriger als"
    if kind == "reference":
        if unit == RATIO_UNIT:
            return f"{label}: {value}; deutlich {direction} in {_text(point['comparison_label']) or 'Sachsen'}."
        year = f" ({_year(point['comparison_year'])})" if not _missing(point["comparison_year"]) else ""
        ref = number(point["comparison_value"], unit)
        return f"{label}: {value}; deutlich {direction} {_text(point['comparison_label'])}{year}: {ref}."
    if kind == "benchmark":
        year = f" ({_year(point['comparison_year'])})" if not _missing(point["comparison_year"]) else ""
        return (f"{label}: {value}; deutlich {direction} im Vergleich „{_text(point['comparison_label'])}“{year}: "
                f"{fmt_indicator(point['comparison_value'], unit)}.")
    if kind == "batch_median":
        n = fmt_num(point["n"])
        return (f"{label}: {value}; deutlich {direction} der Median der {n} verglichenen Kommunen "
                f"({fmt_indicator(point['comparison_value'], unit)}).")
    return f"{label}: {value}."


def swot_markdown(action: ActionPlan) -> str:
    swot = action.swot
    parts = [("Die Übersicht fasst die Befunde beider Teile der Analyse nach Stärken, Schwächen, Chancen und Risiken "
              "zusammen. Jeder Punkt nennt seine Zahl und womit sie verglichen wurde; als deutlich gilt ein "
              "Unterschied, wenn das gesamte 95-%-Intervall auf einer Seite des Vergleichswerts liegt.")]
    for cat in ("strength", "weakness", "opportunity", "threat"):
        rows = swot[swot["category"] == cat]
        parts.append(f"**{CATEGORY_TITLES[cat]}**")
        if rows.empty:
            parts.append(CATEGORY_EMPTY[cat])
        else:
            parts.append("\n".join(f"- {swot_point_text(p, action.titles)}" for _, p in rows.iterrows()))
    return "\n\n".join(parts)


def show_swot(action: ActionPlan) -> None:
    show_md(swot_markdown(action))


# ---------------------------------------------------------------------------
# Vergleich mit anderen Kommunen
# ---------------------------------------------------------------------------

TABLE_EXCLUDE_PREFIXES = ("profile.hz_ratio_", "profile.owi_rate_", "profile.population", "profile.prevention_gaps",
                          "survey.prevention_gaps", "profile.pmk_cases")
TABLE_KEEP = ("profile.owi_rate_gesamt",)
CONTROL_KEYS = ("515001", "326000", "891000")


def comparison_rows(comparison: pd.DataFrame) -> pd.DataFrame:
    ind = comparison["indicator"].astype(str)
    keep = ~ind.str.startswith(TABLE_EXCLUDE_PREFIXES) | ind.isin(TABLE_KEEP)
    keep &= ~ind.apply(lambda i: i.startswith("profile.hz_mean_") and i.rsplit("_", 1)[-1] in CONTROL_KEYS)
    return comparison[keep]


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, c in comparison_rows(comparison).iterrows():
        unit = _text(c["unit"])
        enough = int(c["n_communes"]) >= compare_mod.MIN_COMMUNES
        span = span_text(c["batch_min"], c["batch_max"], unit) if enough else DASH
        ref = DASH
        if not _missing(c["reference_value"]):
            ref = number(c["reference_value"], unit)
            if not _missing(c["reference_year"]):
                ref += f" ({_year(c['reference_year'])})"
        value = number(c["value"], unit) + (" (synthetisch)" if "source" in c and synthetic_mark(c) else "")
        rows.append({"label": _text(c["label"]), "value": value, "span": span,
                     "median": number(c["batch_median"], unit) if enough else DASH, "saxony": ref})
    return pd.DataFrame(rows, columns=["label", "value", "span", "median", "saxony"])


def comparison_figure(comparison: pd.DataFrame, commune: str):
    """Dot plot of the share indicators: the commune (dot), range of the batch (line), its median
    (tick) and Saxony (diamond), in percent. Plotting only."""
    import matplotlib.pyplot as plt

    from kit.figures import BLUE, GREY, ORANGE, WIDTH_IN, describe, german_formatter

    data = comparison_rows(comparison)
    data = data[data["unit"].astype(str) == "Anteil"].reset_index(drop=True)
    n = len(data)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.38 * n + 1.3))
    ys = list(range(n))[::-1]
    for y, (_, c) in zip(ys, data.iterrows()):
        if not _missing(c["batch_min"]):
            ax.plot([100 * c["batch_min"], 100 * c["batch_max"]], [y, y], color=GREY, lw=3, solid_capstyle="round",
                    zorder=1)
            ax.plot([100 * c["batch_median"]], [y], marker="|", color="#555555", ms=12, mew=2, zorder=2)
        if not _missing(c["reference_value"]):
            ax.plot([100 * c["reference_value"]], [y], marker="D", color=ORANGE, ms=6, zorder=3, ls="none")
        ax.plot([100 * c["value"]], [y], marker="o", color=BLUE, ms=7, zorder=4, ls="none")
    ax.set_yticks(ys)
    ax.set_yticklabels(["\n".join(textwrap.wrap(_text(c["label"]), 48)) for _, c in data.iterrows()], fontsize=7)
    ax.xaxis.set_major_formatter(german_formatter(0, percent=True))
    ax.set_xlabel("Anteil der Einwohner bzw. der Befragten")
    ax.grid(axis="x", color="#e5e5e5")
    ax.set_axisbelow(True)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", color=BLUE, ls="none", label=commune),
               Line2D([], [], color=GREY, lw=3, label="Spannweite der Kommunen"),
               Line2D([], [], marker="|", color="#555555", ls="none", ms=10, mew=2, label="Median der Kommunen"),
               Line2D([], [], marker="D", color=ORANGE, ls="none", label="Sachsen")]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.4, 1.0), ncol=4,
              fontsize=7, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return describe(fig, title=f"Anteile in {commune} im Vergleich mit den anderen Kommunen und Sachsen",
                    alt=(f"Punktdiagramm: für {n} Anteile der Wert von {commune} (Punkt), die Spannweite und der "
                         "Median der verglichenen Kommunen (Linie und Strich) und, wo vorhanden, der Wert für "
                         "Sachsen (Raute)."))


def comparison_sentence(action: ActionPlan) -> str:
    comp = action.comparison
    commune = action.communes.get(action.commune_id, "die Kommune")
    n = int(comp["n_communes"].max()) if len(comp) else 0
    ids = sorted({i for s in comp["batch_communes"].dropna().astype(str) for i in s.split(",") if i})
    names = [action.communes.get(i, i) for i in ids]
    if n < compare_mod.MIN_COMMUNES:
        return (f"In diesem Lauf liegen Ergebnisse von {fmt_num(max(n, 1))} "
                f"{'Kommune' if max(n, 1) == 1 else 'Kommunen'} vor ({', '.join(names) or commune}). "
                f"Spannweite und Median werden erst ab {fmt_num(compare_mod.MIN_COMMUNES)} Kommunen gezeigt, "
                "weil sie bei weniger Kommunen nichts über die Werte hinaus aussagen; der Vergleich beschränkt "
                "sich daher auf die Werte für Sachsen, wo es sie gibt.")
    return (f"Verglichen wird {commune} mit allen {fmt_num(n)} Kommunen dieses Laufs ({', '.join(names)}); "
            f"Spannweite und Median schließen {commune} ein. Wo es einen Wert für Sachsen gibt, steht er daneben. "
            "Die Kommunen unterscheiden sich in Größe und Struktur; eine Abweichung ist ein Anlass zum "
            "Nachfragen, kein Urteil.")


def show_comparison(action: ActionPlan) -> None:
    from kit.figures import show_figure

    comp = action.comparison
    if comp.empty:
        show_md("Für diese Kommune liegen keine Kennzahlen zum Vergleich vor.")
        return
    show_md(comparison_sentence(action))
    commune = action.communes.get(action.commune_id, "Kommune")
    shares = comparison_rows(comp)
    shares = shares[shares["unit"].astype(str) == "Anteil"]
    if len(shares) and (shares["batch_min"].notna().any() or shares["reference_value"].notna().any()):
        if shares["batch_min"].notna().any():
            show_md(f"Die Abbildung zeigt für jeden Anteil, wo {commune} liegt (Punkt), wie weit die Werte der "
                    "Kommunen auseinanderliegen (graue Linie, Strich = Median) und den Wert für Sachsen (Raute).")
        else:
            show_md(f"Die Abbildung zeigt für jeden Anteil den Wert von {commune} (Punkt) und, wo es ihn gibt, "
                    "den Wert für Sachsen (Raute).")
        show_figure(comparison_figure(comp, commune),
                    source="Gebietsprofil und Bürgerbefragung der Kommunen; Sachsen: Deutschlandatlas, "
                           "Deutscher Viktimisierungssurvey, ASSKomm")
    refs = [r for r in dict.fromkeys(comparison_rows(comp)["reference_label"].dropna().astype(str))
            if r and r != "Sachsen"]
    survey_refs = (" Für Befragungswerte steht in der Spalte Sachsen der Vergleichswert aus "
                   + " bzw. ".join(f"„{r}“" for r in refs) + "." if refs else "")
    made_up = ("source" in comp.columns and comparison_rows(comp)["source"].astype(str).str.contains("synthetisch").any())
    made_up_note = (f" Werte mit dem Zusatz „synthetisch“ sind keine echten Zahlen von {commune}, sondern aus "
                    "öffentlichen Daten abgeleitet (siehe Datenquellen); ihr Vergleich sagt nichts über die Lage vor Ort."
                    if made_up else "")
    show_md(f"Die Tabelle nennt für jede Kennzahl den Wert von {commune}, die Spannweite und den Median der "
            "verglichenen Kommunen und den Wert für Sachsen mit seinem Jahr." + survey_refs + made_up_note)
    show_table(comparison_table(comp), {
        "label": ("Kennzahl", None), "value": (commune, None), "span": ("Spannweite der Kommunen", None),
        "median": ("Median der Kommunen", None), "saxony": ("Sachsen", None)},
        caption=f"Kennzahlen von {commune} im Vergleich")
    if action.crime_fear is not None and not action.crime_fear.empty:
        from kit.survey.view_crime import show_commune_relation

        show_md("### Kriminalität und Sicherheitsgefühl im Vergleich der Kommunen")
        conf, min_units = action.crime_fear_settings
        show_commune_relation(action.crime_fear, action.crime_fear_points, conf, min_units, show_figure)


# ---------------------------------------------------------------------------
# Vorhandene Angebote und Akteure
# ---------------------------------------------------------------------------

REASON_WORDS = {"target_group": "andere Zielgruppe", "place": "anderer Ort", "focus": "anderer Schwerpunkt",
                "measure_without_target_groups": "Zielgruppe der Maßnahme nicht angegeben"}


def offers_markdown(action: ActionPlan) -> str:
    if not action.has_inventory:
        return ("Für diese Kommune liegt keine Bestandsaufnahme der Präventionsaktivitäten vor; welche Angebote "
                "schon bestehen, lässt sich daher nicht sagen.")
    if action.plan.empty:
        return "Da keine Maßnahme empfohlen ist, entfällt der Abgleich mit den vorhandenen Angeboten."
    text = [("Ein vorhandenes Angebot zählt für eine empfohlene Maßnahme nur, wenn Thema, Zielgruppe und Ort "
             "zusammenpassen; ein gleiches Thema allein reicht nicht. Angebote mit gleichem Thema, die aus einem "
             "dieser Gründe nicht zählen, sind mit dem Grund genannt.")]
    m = action.matches
    for _, p in action.plan.iterrows():
        rows = m[m["measure_id"] == p["measure_id"]] if len(m) else m
        counted = rows[rows["counts"].astype(bool)] if len(rows) else rows
        other = rows[~rows["counts"].astype(bool)] if len(rows) else rows
        if len(counted):
            line = "baut auf: " + "; ".join(
                f"{_text(a['title'])} ({_text(a['provider'])}, seit {_text(a['since_year'])})" for _, a in counted.iterrows())
        else:
            line = "kein passendes Angebot vorhanden – hier ist Neues aufzubauen"
        if len(other):
            line += ". Nicht passend: " + "; ".join(
                f"{_text(a['title'])} ({REASON_WORDS.get(_text(a['reason']), 'passt nicht')})"
                for _, a in other.iterrows())
        text.append(f"- **{_text(p['title'])}**: {line}.")
    return "\n".join([text[0], ""] + text[1:])


def actors_table(action: ActionPlan) -> pd.DataFrame:
    rows = []
    for _, a in action.actors.iterrows():
        needed = [action.titles.get(i, "") for i in _text(a["needed_by"]).split(",") if i]
        present = a["present"]
        if _missing(present):
            status = "in den Unterlagen nicht erfasst"
        elif bool(present):
            education = a["source"].startswith("education")
            count = "" if _missing(a["count"]) else fmt_num(a["count"], 1 if education else 0)
            one = not _missing(a["count"]) and float(a["count"]) == 1
            unit = ("Stellen" if education else
                    ("Verein" if one else "Vereine") if a["source"] == "clubs" else
                    ("Eintrag im Bestand" if one else "Einträge im Bestand") if a["source"] == "council" else
                    ("Dienststelle" if one else "Dienststellen"))
            status = f"vorhanden ({count} {unit})" if count else "vorhanden"
        else:
            status = "im Bestand der Präventionsaktivitäten nicht genannt" if a["source"] == "council" \
                else "nicht vorhanden"
        missing = bool(needed) and (_missing(present) or not bool(present))
        rows.append({"actor": a["actor"], "status": status,
                     "needed": ", ".join(needed) if needed else "von keiner empfohlenen Maßnahme genannt",
                     "gap": "fehlt oder ist zu klären" if missing else DASH})
    return pd.DataFrame(rows, columns=["actor", "status", "needed", "gap"])


def show_offers(action: ActionPlan) -> None:
    show_md(offers_markdown(action))
    if action.actors.empty:
        return
    table = actors_table(action)
    n_gap = int((table["gap"] != DASH).sum())
    council = action.actors[action.actors["source"] == "council"]
    council_text = ""
    if len(council):
        c = council.iloc[0]
        council_text = (" Ein kommunaler Präventionsrat ist im Bestand der Präventionsaktivitäten "
                        + ("genannt" if not _missing(c["present"]) and bool(c["present"]) else "nicht genannt")
                        + "; ob er eine Koordinatorin oder einen Koordinator und eigenes Personal hat, erfassen "
                          "die Unterlagen des Gebietsprofils nicht.")
    show_md("Die Tabelle zeigt, welche Akteure die empfohlenen Maßnahmen brauchen und ob das Gebietsprofil sie für "
            f"die Kommune ausweist. {fmt_num(n_gap)} "
            f"{'benötigter Akteur fehlt' if n_gap == 1 else 'benötigte Akteure fehlen'} oder "
            f"{'ist' if n_gap == 1 else 'sind'} zu klären." + council_text)
    show_table(table, {"actor": ("Akteur", None), "status": ("laut Gebietsprofil", None),
                       "needed": ("gebraucht für", None), "gap": ("Lücke", None)},
               caption="Akteure und Ressourcen für die empfohlenen Maßnahmen")


# ---------------------------------------------------------------------------
# Anhang
# ---------------------------------------------------------------------------

def appendix_markdown() -> str:
    ev = ", ".join(f"{evidence_words(k)} {fmt_num(v, 1)}" for k, v in
                   (("3", 3.0), ("2", 2.0), ("1", 1.0), ("good practice", 0.5)))
    return (
        "**Punktzahl des Aktionsplans.** Die Priorität einer Maßnahme ist die Summe aus vier Teilen (höchstens "
        f"10 Punkte): (1) Wirksamkeit: {ev} Punkte; (2) Zahl der erfüllten Regeln, je Regel ein Punkt, höchstens "
        f"{fmt_num(plan_mod.MAX_BREADTH)}; (3) Größe des Problems (Bevölkerungsanteile zählen hier nicht): wie weit "
        "der verglichene Wert (bei Regeln auf "
        "das ganze Intervall die der Schwelle nähere Intervallgrenze) jenseits der Schwelle liegt, gemessen am "
        f"Schwellenwert; 100 % oder mehr ergeben {fmt_num(plan_mod.SIZE_WEIGHT)} Punkte, weniger anteilig; ein "
        f"Frühwarnhinweis zählt wie {fmt_pct(plan_mod.FLAG_EXCEEDANCE, 0)}; (4) ein passendes Angebot vor Ort: "
        f"{fmt_num(plan_mod.BUILD_POINTS)} Punkt. Hohe Priorität ab {fmt_num(plan_mod.HIGH_FROM)} Punkten, mittlere ab "
        f"{fmt_num(plan_mod.MEDIUM_FROM)}. Bei gleicher Punktzahl bleibt die Reihenfolge des Maßnahmenkatalogs.\n\n"
        "**Stärken und Schwächen.** Die Punkte entstehen nach festen, im Kit hinterlegten Regeln: Schwellenwerte "
        "(mit dem ganzen 95-%-Intervall), der Wert für Sachsen, der Vergleich mit bundesweiten und sächsischen "
        "Befragungen (Unterschiedstest der Bürgerbefragung), der Median der Kommunen dieses Laufs (ab drei "
        "Kommunen) und Frühwarnhinweise des Gebietsprofils als Risiken. Kontrolldelikte (Beförderungserschleichung, "
        "Ladendiebstahl, Rauschgiftdelikte) bleiben außen vor, weil sie vor allem die Kontrolltätigkeit der Polizei "
        "abbilden.\n\n"
        "**Abgleich mit vorhandenen Angeboten.** Ein Angebot zählt für eine Maßnahme, wenn (1) sein Thema zu den "
        "Themen der Maßnahme gehört, (2) die Zielgruppen zusammenpassen (eine Maßnahme oder ein Angebot für alle "
        "passt zu jeder Zielgruppe), (3) der Ort passt (ein Angebot für die ganze Kommune passt überall; ein "
        "Angebot in einem Stadtteil ohne Ortsangabe gilt als Angebot im Wohngebiet) und (4) beide, wo ihr Titel "
        "einen Schwerpunkt erkennen lässt (z. B. Leerstand, Sauberkeit, Betrug), denselben haben. Zielgruppe und "
        "Ort des Bestands werden über Wortlisten den Begriffen des Maßnahmenkatalogs zugeordnet.\n\n"
        "**Vergleich mit anderen Kommunen.** Verglichen werden die Kommunen, deren Ergebnisse beim Erstellen "
        "dieses Berichts vorlagen. Werte für Sachsen: Bevölkerungsanteile aus dem Deutschlandatlas, "
        "Häufigkeitszahlen aus der Kreistabelle der Polizeilichen Kriminalstatistik (letztes Jahr mit "
        "Vergleichswert), Befragungswerte aus dem Deutschen Viktimisierungssurvey 2012 (Sachsen) und dem Mittel "
        "der ASSKomm-Kommunen.")


def show_appendix() -> None:
    show_md(appendix_markdown())
