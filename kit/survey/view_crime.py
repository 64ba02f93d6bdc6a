"""German report sections "Dunkelfeld und Anzeigeverhalten" and "Kriminalität und
Sicherheitsgefühl" (issue 9, items 5 and 6). Views only: every number comes from the public
result (:mod:`kit.survey.dark_figure`, :mod:`kit.survey.crime_fear`), nothing is computed here
beyond formatting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kit import figures as plots
from kit.report import (DASH, MINUS, fmt_districts, fmt_int, fmt_interval, fmt_num, fmt_pct, show_md, show_note,
                        show_table)

VERDICT_MISSING = "nicht ausgewiesen"


def _show_fig(fig, result, source: str) -> None:
    plots.show_figure(fig, source=f"Bürgerbefragung {result.name} ({fmt_int(result.n_respondents)} Fragebögen); "
                                  f"{source}")


def _pp(x, decimals: int = 1, dative: bool = False) -> str:
    """A difference of shares in percentage points."""
    return f"{_num(100 * float(x), decimals)} Prozentpunkte{'n' if dative else ''}"


def _num(x, decimals: int) -> str:
    """fmt_num with the typographic minus."""
    return fmt_num(x, decimals).replace("-", MINUS)


def _range(lo, hi, decimals: int) -> str:
    """'−0,26 bis 0,61' (a range that may cross zero; a dash would read as a minus)."""
    return f"{_num(lo, decimals)} bis {_num(hi, decimals)}"


def _pct_range(lo, hi) -> str:
    return f"{fmt_interval(lo, hi, 1, percent=True)}"


def _pct_word(conf: float) -> str:
    return f"{fmt_num(100 * conf, 0)}-%-Bereich"


# ---------------------------------------------------------------------------
# dark figure
# ---------------------------------------------------------------------------

DARK_CAVEAT = (
    "Befragung und Polizeiliche Kriminalstatistik zählen Verschiedenes, der Vergleich ist daher nur eine "
    "grobe Größenordnung: Die Befragung fragt nach den letzten zwölf Monaten vor der Befragung, die PKS zählt die "
    "im Kalenderjahr erfassten Fälle; die Befragten entscheiden selbst, was sie als Diebstahl, Sachbeschädigung "
    "oder Bedrohung ansehen, während die PKS den Straftatbeständen folgt; die Befragung zählt Personen (wer "
    "mehrmals Opfer wurde, zählt einmal), die PKS zählt Fälle; die Befragung gilt für Einwohner ab 16 Jahren, die "
    "PKS erfasst alle Taten in der Kommune, auch an Kindern, Betrieben und Ortsfremden; ein Wohnungseinbruch "
    "betrifft oft mehrere Bewohner eines Haushalts. Ein Verhältnis über 1 bedeutet daher nicht allein, dass Taten "
    "nicht angezeigt wurden.")


def dark_figure_figure(df: pd.DataFrame, confidence: float):
    """Victims per 1.000 residents 16+ (survey, with interval) beside recorded cases per
    1.000 residents (PKS), per offence type."""
    import matplotlib.pyplot as plt

    rows = df.reset_index(drop=True)
    n = len(rows)
    fig, ax = plt.subplots(figsize=(plots.WIDTH_IN, 1.0 + 0.55 * n))
    y = np.arange(n)[::-1]
    h = 0.36
    surv = rows["victims_per_1000_16plus"].to_numpy(dtype=float)
    lo = rows["victims_per_1000_lower"].to_numpy(dtype=float)
    hi = rows["victims_per_1000_upper"].to_numpy(dtype=float)
    pks = rows["pks_per_1000"].to_numpy(dtype=float)
    ok = np.isfinite(surv)
    ax.barh(y[ok] + h / 2, surv[ok], height=h, color=plots.BLUE, label="Opfer laut Befragung je 1.000 Einwohner ab 16")
    ax.errorbar(surv[ok], y[ok] + h / 2, xerr=[surv[ok] - lo[ok], hi[ok] - surv[ok]], fmt="none", ecolor="black",
                lw=1, capsize=2)
    okp = np.isfinite(pks)
    ax.barh(y[okp] - h / 2, pks[okp], height=h, color=plots.GREY, label="erfasste Fälle (PKS) je 1.000 Einwohner")
    for yi, s in zip(y, ok):
        if not s:
            ax.text(0, yi + h / 2, "  Befragung: nicht ausgewiesen", va="center", fontsize=7.5, color="#555555")
    ax.set_yticks(y)
    ax.set_yticklabels(rows["label"], fontsize=8.5)
    plots._german_axis(ax, axis="x", decimals=0)
    ax.set_xlabel("je 1.000 Einwohner")
    ax.legend(fontsize=7.5, loc="lower left", bbox_to_anchor=(0.0, 1.0), frameon=False, ncol=1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    pct = fmt_num(100 * confidence, 0)
    parts = []
    for r in rows.itertuples(index=False):
        s = (f"{r.label}: Befragung {fmt_num(r.victims_per_1000_16plus, 0)}" if pd.notna(r.victims_per_1000_16plus)
             else f"{r.label}: Befragung nicht ausgewiesen")
        s += f", PKS {fmt_num(r.pks_per_1000, 1)}" if pd.notna(r.pks_per_1000) else ", PKS ohne Angabe"
        parts.append(s)
    return plots.describe(fig, title="Opfer laut Befragung und polizeilich erfasste Fälle je 1.000 Einwohner, "
                                     "nach Delikt",
                          alt="Balkendiagramm: " + "; ".join(parts) + ".",
                          note=f"Schwarze Linien: {pct}-%-Bereich der Befragung")


def _offence_sentence(r, conf: float) -> str:
    label = r["label"]
    if r["prevalence_suppressed"] or pd.isna(r["prevalence"]):
        return (f"Zu „{label}“ gab es zu wenige Angaben, um den Anteil der Opfer auszuweisen "
                "(Datenschutz und Aussagekraft).")
    s = (f"„{label}“: {fmt_pct(r['prevalence'])} der Einwohner ab 16 Jahren wurden nach eigener Angabe in den "
         f"letzten zwölf Monaten Opfer ({_pct_word(conf)} {_pct_range(r['prevalence_lower'], r['prevalence_upper'])}), "
         f"hochgerechnet etwa {fmt_int(round(r['victims'], -1))} Personen "
         f"(Bereich {fmt_int(round(r['victims_lower'], -1))} bis {fmt_int(round(r['victims_upper'], -1))}).")
    if not (r["reporting_suppressed"] or pd.isna(r["reporting_rate"])):
        s += (f" Davon haben {fmt_pct(r['reporting_rate'], 0)} die Tat der Polizei gemeldet "
              f"({_pct_range(r['reporting_lower'], r['reporting_upper'])}); auf eine angezeigte Tat kommen damit "
              f"etwa {fmt_num(r['unreported_per_reported'], 1)} nicht angezeigte "
              f"(Bereich {fmt_interval(r['unreported_lower'], r['unreported_upper'], 1)}).")
    else:
        s += " Wie viele Opfer die Tat angezeigt haben, lässt sich wegen zu weniger Antworten nicht ausweisen."
    if pd.notna(r["pks_cases"]) and pd.notna(r["pks_year"]):
        s += (f" Die Polizei erfasste {int(r['pks_year'])} {fmt_int(r['pks_cases'])} Fälle "
              f"({fmt_num(r['pks_per_1000'], 1)} je 1.000 Einwohner).")
        if pd.notna(r["ratio"]):
            s += (f" Rechnerisch kommen auf einen erfassten Fall etwa {fmt_num(r['ratio'], 1)} Opfer laut Befragung "
                  f"(Bereich {fmt_interval(r['ratio_lower'], r['ratio_upper'], 1)}).")
    else:
        s += " Vergleichbare Fälle der Polizeilichen Kriminalstatistik liegen nicht vor."
    if isinstance(r["keys_missing"], str) and r["keys_missing"].strip() and pd.notna(r["pks_cases"]):
        keys = r["keys_missing"].split()
        s += (" Die Fallzahl ist unvollständig: In der gelieferten PKS "
              + (f"fehlt der Straftatenschlüssel {keys[0]}." if len(keys) == 1
                 else f"fehlen die Straftatenschlüssel {', '.join(keys)}."))
    return s


def show_dark_figure(result) -> None:
    """Section 'Dunkelfeld und Anzeigeverhalten'."""
    df = getattr(result, "dark_figure", None)
    if df is None or df.empty:
        show_md("Die Befragung enthält keine Fragen zu Opfererfahrungen, die sich mit der Polizeilichen "
                "Kriminalstatistik vergleichen lassen; der Abschnitt entfällt.")
        return
    conf = float(result.confidence)
    show_md("Nicht jede Straftat wird der Polizei bekannt. Die Befragung fragt, wer in den letzten zwölf Monaten "
            "in der Kommune Opfer bestimmter Delikte wurde und ob die Tat angezeigt wurde. Abbildung und Tabelle "
            "stellen die hochgerechneten Opfer je 1.000 Einwohner ab 16 Jahren den polizeilich erfassten Fällen je "
            "1.000 Einwohner gegenüber.")
    if df["victims_per_1000_16plus"].notna().any() or df["pks_per_1000"].notna().any():
        _show_fig(dark_figure_figure(df, conf), result, "Polizeiliche Kriminalstatistik (Gebietsprofil); eigene "
                                                        "Berechnung")
    table = pd.DataFrame({
        "Delikt": df["label"],
        "Opfer (Anteil ab 16 J.)": [fmt_pct(p) if pd.notna(p) else VERDICT_MISSING for p in df["prevalence"]],
        "Bereich": [fmt_interval(lo, hi, 1, percent=True) for lo, hi in zip(df["prevalence_lower"], df["prevalence_upper"])],
        "angezeigt (Anteil der Opfer)": [fmt_pct(p, 0) if pd.notna(p) else VERDICT_MISSING for p in df["reporting_rate"]],
        "erfasste Fälle je 1.000 Einw.": [fmt_num(v, 1) for v in df["pks_per_1000"]],
        "Opfer je erfasstem Fall (Bereich)": [
            f"{fmt_num(v, 1)} ({fmt_interval(lo, hi, 1)})" if pd.notna(v) else DASH
            for v, lo, hi in zip(df["ratio"], df["ratio_lower"], df["ratio_upper"])],
    })
    year = df["pks_year"].dropna()
    pks_year = f" (PKS {int(year.iloc[0])})" if len(year) else ""
    show_md(f"Die Tabelle zeigt je Delikt den Anteil der Opfer mit {_pct_word(conf)}, den Anteil der Opfer, die "
            f"angezeigt haben, die erfassten Fälle{pks_year} und das Verhältnis beider Zahlen. "
            f"„{VERDICT_MISSING}“: zu wenige Antworten; {DASH}: nicht berechenbar.")
    show_table(table, caption="Opfererfahrungen, Anzeigeverhalten und polizeilich erfasste Fälle")
    show_md("\n".join(f"- {_offence_sentence(r, conf)}" for _, r in df.iterrows()))
    show_note(DARK_CAVEAT)


# ---------------------------------------------------------------------------
# crime vs feeling of safety
# ---------------------------------------------------------------------------

def _rho_text(r, conf: float) -> str:
    return (f"Rangkorrelation {_num(r['rho'], 2)}, {_pct_word(conf)} {_range(r['lower'], r['upper'], 2)}, "
            f"Permutationstest p = {fmt_num(r['p_value'], 2) if r['p_value'] >= 0.01 else '< 0,01'}")


def relation_sentence(r, conf: float, min_units: int) -> str:
    """The German verdict on one relation row."""
    units = "Stadtteile" if r["level"] == "district" else "Kommunen"
    n = int(r["n_units"])
    what = ("der in den Stadtteilen erfassten Kriminalität" if r["level"] == "district"
            else "der erfassten Kriminalität der Kommunen (Häufigkeitszahl)")
    if r["verdict"] == "too_few":
        one = "einen Stadtteil" if r["level"] == "district" else "eine Kommune"
        have = f"nur für {one}" if n == 1 else f"nur für {fmt_int(n)} {units}"
        return (f"Für einen Vergleich über {units} liegen {have} ausgewiesene Werte vor. "
                f"Für eine belastbare Aussage wären mindestens {fmt_int(min_units)} nötig; ein Zusammenhang wird "
                "daher nicht berechnet. Ob Kriminalität und Unsicherheitsgefühl hier zusammenhängen, lässt sich mit "
                "diesen Daten nicht sagen.")
    if r["verdict"] == "none":
        return (f"Zwischen der Höhe {what} und dem Anteil derer, die sich nachts unsicher fühlen, zeigt sich über "
                f"{fmt_int(n)} {units} kein belastbarer Zusammenhang ({_rho_text(r, conf)}). Ausgeschlossen ist ein "
                "schwacher Zusammenhang damit nicht (siehe Bereich). Das passt zum Befund anderer ASSKomm-Befragungen, nach dem das Sicherheitsgefühl nicht einfach der registrierten "
                "Kriminalität folgt.")
    more = r["verdict"] == "robust_positive"
    return (f"Über {fmt_int(n)} {units} zeigt sich ein belastbarer Zusammenhang: Wo mehr Straftaten je Einwohner "
            f"erfasst werden, fühlen sich {'mehr' if more else 'weniger'} Menschen nachts unsicher "
            f"({_rho_text(r, conf)}). Das ist ein Zusammenhang zwischen Gebieten, kein Nachweis einer Ursache.")


def crime_fear_figure(points: pd.DataFrame, category: str, level: str, confidence: float):
    """Scatter: crime rate (x) vs share unsafe at night (y, with interval) per unit."""
    import matplotlib.pyplot as plt

    p = points.dropna(subset=["rate", "unsafe"]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(plots.WIDTH_IN, 3.8))
    ax.errorbar(p["rate"], p["unsafe"], yerr=[p["unsafe"] - p["unsafe_lower"], p["unsafe_upper"] - p["unsafe"]],
                fmt="o", color=plots.BLUE, ecolor="#9aaec4", ms=4, lw=1, capsize=2)
    for r in p.itertuples(index=False):
        ax.annotate(str(r.unit_label), (r.rate, r.unsafe), fontsize=6.5, xytext=(3, 3), textcoords="offset points",
                    color="#333333")
    unit = "Stadtteil" if level == "district" else "Kommune"
    ax.set_xlabel(f"{category}: erfasste Fälle je 1.000 Einwohner")
    ax.set_ylabel("nachts eher/sehr unsicher")
    plots._german_axis(ax, axis="x", decimals=0)
    plots._german_axis(ax, axis="y", share=True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    pct = fmt_num(100 * confidence, 0)
    hi = p.loc[p["unsafe"].idxmax()] if len(p) else None
    alt = (f"Streudiagramm mit {len(p)} Punkten (je {unit}): erfasste Fälle je 1.000 Einwohner gegen den Anteil "
           "der nachts Unsicheren"
           + (f"; den höchsten Anteil hat {hi['unit_label']} mit {fmt_pct(hi['unsafe'])}." if hi is not None else "."))
    return plots.describe(fig, title=f"Erfasste Kriminalität und Unsicherheitsgefühl nachts je {unit}",
                          alt=alt, note=f"Senkrechte Linien: {pct}-%-Bereich des Anteils")


def _battery_sentence(r, conf: float) -> str:
    label = r["label"]
    if pd.isna(r["affected"]):
        return f"Zum Fragenblock „{label}“ gibt es zu wenige Antworten für eine Auswertung."
    answer = r["affected_label"] if isinstance(r["affected_label"], str) and r["affected_label"] else "ungünstig"
    s = (f"Im Fragenblock „{label}“ antworten {fmt_pct(r['affected'], 0)} der Befragten bei mindestens einem Punkt "
         f"mit {answer} ({_pct_range(r['affected_lower'], r['affected_upper'])}).")
    if pd.isna(r["difference"]):
        s += (" Ob sich die Betroffenen nachts häufiger unsicher fühlen als die übrigen, lässt sich wegen zu "
              "weniger Antworten in einer der beiden Gruppen nicht ausweisen (Datenschutz).")
    else:
        clear = r["difference_lower"] > 0 or r["difference_upper"] < 0
        s += (f" Von ihnen fühlen sich {fmt_pct(r['unsafe_affected'], 0)} nachts unsicher, von den übrigen "
              f"{fmt_pct(r['unsafe_not_affected'], 0)}: ein Unterschied von {_pp(r['difference'], dative=True)} "
              f"({_pct_word(conf)} {_range(100 * r['difference_lower'], 100 * r['difference_upper'], 1)} Prozentpunkte)" + ("." if clear else "; der Unterschied ist nicht gesichert."))
    return s


def show_crime_fear(result) -> None:
    """Section 'Kriminalität und Sicherheitsgefühl'."""
    cf = getattr(result, "crime_fear", None)
    if cf is None:
        return
    conf = float(cf.confidence)
    show_md("Fühlen sich die Menschen dort unsicherer, wo mehr Straftaten erfasst werden? Der Abschnitt vergleicht "
            "den Anteil derer, die sich nachts in ihrer Wohngegend eher oder sehr unsicher fühlen, mit der "
            "polizeilich erfassten Kriminalität je Einwohner. Die Rangkorrelation reicht von −1 bis 1 (0: kein "
            "Zusammenhang); ihr Bereich berücksichtigt die Unsicherheit der Befragungsanteile und der Fallzahlen.")
    rel = cf.relations
    districts = rel[rel["level"] == "district"]
    for _, r in districts.iterrows():
        pts = cf.points[(cf.points["level"] == "district") & (cf.points["category"] == r["category"])]
        if r["verdict"] != "too_few" and pts[["rate", "unsafe"]].notna().all(axis=1).any():
            _show_fig(crime_fear_figure(pts, r["category"], "district", conf), result,
                      f"Kriminalität nach Stadtteilen {int(r['year'])}; eigene Berechnung")
        text = relation_sentence(r, conf, cf.min_units)
        if r["excluded_units"]:
            text += (f" {fmt_districts(r['excluded_units'])} ohne ausgewiesenen Anteil (zu wenige Antworten) "
                     f"{'fehlt' if int(r['excluded_units']) == 1 else 'fehlen'} im Vergleich.")
        show_md(text)
    if not len(districts):
        show_md("Für die Stadtteile liegen keine Fallzahlen der Polizei vor. Den Vergleich über die Kommunen "
                "der Auswertung zeigt das Kapitel Handlungsempfehlungen (Vergleich mit anderen Kommunen).")
    else:
        show_md("Den Vergleich über die Kommunen der Auswertung zeigt das Kapitel Handlungsempfehlungen "
                "(Vergleich mit anderen Kommunen).")

    show_md("### Verwahrlosung und Unordnung oder Gruppen von Menschen?")
    b = cf.batteries
    if b is None or b.empty:
        show_md("Die beiden Fragenblöcke zu Problemen in der Wohngegend und zur Beeinträchtigung durch Gruppen und "
                "Orte sind im Fragebogen nicht enthalten; der Vergleich entfällt.")
        return
    table = pd.DataFrame({
        "Fragenblock": b["label"],
        "nennt mind. ein Problem": [fmt_pct(v, 0) for v in b["affected"]],
        "Bereich": [fmt_interval(lo, hi, 0, percent=True) for lo, hi in zip(b["affected_lower"], b["affected_upper"])],
        "Mittelwert (1–4)": [fmt_num(v, 2) for v in b["index_mean"]],
        "nachts unsicher: betroffen": [fmt_pct(v, 0) for v in b["unsafe_affected"]],
        "nachts unsicher: nicht betroffen": [fmt_pct(v, 0) for v in b["unsafe_not_affected"]],
        "Unterschied (Prozentpunkte)": [
            f"{_num(100 * d, 1)} ({_range(100 * lo, 100 * hi, 1)})" if pd.notna(d) else DASH
            for d, lo, hi in zip(b["difference"], b["difference_lower"], b["difference_upper"])],
    })
    show_md("Die ASSKomm-Befragungen fanden mehr Beeinträchtigung durch physische Gegebenheiten (Verwahrlosung, "
            "Schmierereien, Hundekot, Verkehr) als durch Personengruppen. Die Tabelle vergleicht die beiden "
            "Fragenblöcke: wie viele Befragte mindestens einen Punkt als (ziemliches oder großes) Problem bzw. "
            "Beeinträchtigung nennen, den mittleren Wert der Antworten und wie viel häufiger sich die Betroffenen "
            f"nachts unsicher fühlen ({_pct_word(conf)} in Klammern).")
    show_table(table, caption="Probleme in der Wohngegend und Beeinträchtigung durch Gruppen und Orte")
    text = " ".join(_battery_sentence(r, conf) for _, r in b.iterrows())
    gap = cf.battery_gap or {}
    if gap and len(b) >= 2:
        first = b[b["battery"] == gap["first"]]["label"].iloc[0]
        second = b[b["battery"] == gap["second"]]["label"].iloc[0]
        d, lo, hi = gap["difference"], gap["lower"], gap["upper"]
        if lo > 0:
            text += (f" Mehr Befragte nennen Probleme im Block „{first}“ als im Block „{second}“ "
                     f"(Unterschied {_pp(d)}, {_pct_word(conf)} {_range(100 * lo, 100 * hi, 1)} Prozentpunkte).")
        elif hi < 0:
            text += (f" Mehr Befragte nennen Beeinträchtigungen im Block „{second}“ als Probleme im Block "
                     f"„{first}“ (Unterschied {_pp(-d)}, {_pct_word(conf)} {_range(-100 * hi, -100 * lo, 1)} Prozentpunkte).")
        else:
            text += (" Die Anteile in beiden Blöcken unterscheiden sich nicht gesichert "
                     f"(Unterschied {_pp(d)}, {_pct_word(conf)} {_range(100 * lo, 100 * hi, 1)} Prozentpunkte).")
    text += (" Die Fragen sind unterschiedlich formuliert (Problem in der Wohngegend gegenüber persönlicher "
             "Beeinträchtigung); der Vergleich zeigt Tendenzen, keine exakt gleichen Maßstäbe.")
    show_md(text)


def show_commune_relation(relation: pd.DataFrame | None, points: pd.DataFrame | None, confidence: float,
                          min_units: int, show_figure) -> None:
    """Crime vs. feeling of safety across the communes of the batch (shown in stage 3, which runs
    once every commune has its survey results). ``show_figure``: the caller's figure display."""
    if relation is None or relation.empty:
        return
    r = relation.iloc[0]
    show_md("Fühlen sich die Menschen in Kommunen mit mehr erfassten Straftaten unsicherer? Verglichen werden die "
            "Kommunen dieser Auswertung mit Befragungsergebnissen: die Häufigkeitszahl der Polizeilichen "
            "Kriminalstatistik und der Anteil derer, die sich nachts in ihrer Wohngegend unsicher fühlen.")
    if r["verdict"] != "too_few" and points is not None and points[["rate", "unsafe"]].notna().all(axis=1).any():
        show_figure(crime_fear_figure(points, r["category"], "commune", confidence),
                    source="Polizeiliche Kriminalstatistik (Gebietsprofile) und Bürgerbefragungen der Kommunen; "
                           "eigene Berechnung")
    show_md(relation_sentence(r, confidence, min_units))
