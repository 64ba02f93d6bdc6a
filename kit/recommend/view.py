"""Display of the recommendations in the stage-3 notebook.

Numbers before words: kit.recommend.rules returns flags, counts and one tidy
row per measure x trigger; this module alone writes the German text (the
"Warum?" reasons, the evidence levels, the wording of operators and of rules
that cannot be evaluated)."""

from __future__ import annotations

import pandas as pd

from kit.recommend.rules import REASON_MISSING, REASON_SUPPRESSED, Recommendations
from kit.report import DASH, fmt_indicator, fmt_interval, fmt_num, fmt_pct, show_md, show_table

OP_WORDS = {">": "über", ">=": "mindestens", "<": "unter", "<=": "höchstens"}
EVIDENCE_LEVEL_TEXT = {"1": "Grüne Liste Prävention: Stufe 1 (theoretisch gut begründet)",
                       "2": "Grüne Liste Prävention: Stufe 2 (wahrscheinlich wirksam)",
                       "3": "Grüne Liste Prävention: Stufe 3 (nachgewiesen wirksam)",
                       "good practice": "Good Practice (Erfahrungswissen, nicht evaluiert)"}
SOURCE_WORDS = {"survey": "der Bürgerbefragung", "profile": "des Gebietsprofils"}


def _text(value) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def evidence_level_text(code) -> str:
    key = _text(code).strip()
    if key.endswith(".0"):  # read back from CSV as a float
        key = key[:-2]
    return EVIDENCE_LEVEL_TEXT.get(key, key)


def value_text(rule) -> str:
    """'31,0 % (95-%-Intervall 26,0–36,0 %)': the indicator value with its unit and interval."""
    unit = _text(rule.get("unit"))
    text = fmt_indicator(rule.get("value"), unit)
    lower, upper = rule.get("lower"), rule.get("upper")
    if not pd.isna(lower) and not pd.isna(upper) and unit != "ja/nein":
        text += f" (95-%-Intervall {fmt_interval(lower, upper, 1, percent=unit == 'Anteil')})"
    return text


def threshold_text(value: float, unit: str) -> str:
    unit = _text(unit)
    if unit == "Anzahl":
        return fmt_num(value, 0)
    if unit == "Anteil":
        return f"{fmt_num(100 * float(value), 1)} %"
    if unit == "ja/nein":
        return f"{fmt_num(value, 1)} (1 = ja, 0 = nein)"
    return f"{fmt_num(value, 1)} {unit}".strip()


def rule_condition(rule) -> str:
    """'Schwelle: gesamtes 95-%-Intervall mindestens 25,0 %' (interval words only when the
    interval was compared)."""
    words = OP_WORDS.get(_text(rule.get("op")), _text(rule.get("op")))
    threshold = threshold_text(rule.get("threshold"), rule.get("unit"))
    if _text(rule.get("compared")) in ("lower", "upper"):
        return f"Schwelle: gesamtes 95-%-Intervall {words} {threshold}"
    return f"Schwelle: {words} {threshold}"


def finding_name(rule) -> str:
    """The finding a rule rests on, in words: its label, or (without one) where it comes from;
    never the indicator id."""
    label = _text(rule.get("label"))
    if label:
        return f"Der Befund „{label}“"
    source = SOURCE_WORDS.get(_text(rule.get("indicator")).split(".", 1)[0])
    return f"Ein Befund {source}, auf den sich die Regel stützt," if source else \
        "Ein Befund, auf den sich die Regel stützt,"


MISSING_WORDS = {REASON_MISSING: "liegt nicht vor", REASON_SUPPRESSED: "zu wenige Fälle, nicht ausgewiesen"}


def short_finding_name(rule) -> str:
    source = SOURCE_WORDS.get(_text(rule.get("indicator")).split(".", 1)[0])
    return f"ein Befund {source}" if source else "ein Befund"


def unevaluable_text(rule) -> str:
    name = finding_name(rule)
    if _text(rule.get("reason")) == REASON_SUPPRESSED:
        return f"Nicht prüfbar: {name} wird wegen zu weniger Fälle nicht ausgewiesen."
    if _text(rule.get("reason")) == REASON_MISSING and _text(rule.get("indicator")).startswith("survey."):
        return f"Nicht prüfbar: {name} liegt für diese Kommune nicht vor (keine Bürgerbefragung oder Frage nicht gestellt)."
    return f"Nicht prüfbar: {name} liegt für diese Kommune nicht vor."


def rule_text(rule, with_result: bool = True) -> str:
    """One checked rule as a German sentence: indicator, value with interval, threshold and
    whether it was met; a readable reason when the rule could not be evaluated."""
    if not bool(rule.get("evaluable")):
        return unevaluable_text(rule)
    text = f"{_text(rule.get('label')) or 'Befund'}: {value_text(rule)}; {rule_condition(rule)}"
    if with_result:
        text += " – erfüllt" if bool(rule.get("met")) else " – nicht erfüllt"
    return text + "."


def decision_text(measure) -> str:
    """'ja', 'nein' or why the rules do not decide."""
    if bool(measure["triggered"]):
        return "ja"
    if bool(measure["evaluable"]):
        return "nein"
    n, k = int(measure["n_triggers"]), int(measure["n_evaluable"])
    if k == 0:
        return "nicht prüfbar (keiner der Befunde liegt vor)"
    return f"nicht entscheidbar ({fmt_num(n - k)} von {fmt_num(n)} Befunden liegen nicht vor)"


def existing_activities_text(measure, activities: pd.DataFrame | None) -> str:
    """Prevention activities already under way that a measure builds on, as German text ("" when
    nothing can be said: no inventory or no prevention topics)."""
    if pd.isna(measure.get("n_activities", float("nan"))):
        return ""
    topics = _text(measure.get("prevention_topics"))
    hits = (activities[activities["measure_id"] == measure["measure_id"]]
            if activities is not None and len(activities) else pd.DataFrame())
    if hits.empty:
        return f"Im Bestand der Präventionsaktivitäten ist zum Thema {topics} nichts erfasst."
    parts = []
    for _, a in hits.iterrows():
        extra = ", ".join(x for x in (_text(a.get("provider")), _text(a.get("district_name"))) if x)
        parts.append(_text(a["title"]) + (f" ({extra})" if extra else ""))
    return "Darauf lässt sich aufbauen: " + "; ".join(parts) + "."


def _flag(values: pd.Series) -> pd.Series:
    """A yes/no column of the results as plain booleans (undecided, i.e. missing, counts as no)."""
    return values.astype("boolean").fillna(False).astype(bool)


def show_summary(result: Recommendations, max_items: int = 5) -> None:
    """'Das Wichtigste in Kürze': how many measures the rules recommend, the strongest ones
    with the finding that triggered them (value, interval, threshold), and what could not
    be decided for lack of findings."""
    m = result.measures
    chosen = m[_flag(m["triggered"])].sort_values("n_met", ascending=False, kind="stable")
    undecided = m[~_flag(m["triggered"]) & ~_flag(m["evaluable"])]
    text = (f"Von {fmt_num(len(m))} Maßnahmen des Katalogs empfehlen die Regeln {fmt_num(len(chosen))} für diese "
            "Kommune; jede Empfehlung beruht auf einem Befund, dessen Wert und Unsicherheit genannt sind.")
    funded = int(_flag(chosen["kommpraev"]).sum()) if len(chosen) else 0
    if funded:
        text += f" {fmt_num(funded)} davon sind nach der Förderrichtlinie Kommunale Prävention förderfähig."
    lines = []
    for _, measure in chosen.head(max_items).iterrows():
        met = result.rules[(result.rules["measure_id"] == measure["measure_id"]) & _flag(result.rules["met"])]
        reason = rule_text(met.iloc[0], with_result=False) if len(met) else ""
        extra = len(met) - 1
        more = (f" (und {fmt_num(extra)} {'weiteren Befund' if extra == 1 else 'weiteren Befunden'})"
                if extra else "")
        lines.append(f"**{measure['title']}** – ausgelöst durch {reason.rstrip('.')}{more}.")
    if len(chosen) > max_items:
        lines.append(f"Dazu {fmt_num(len(chosen) - max_items)} weitere Empfehlungen (siehe unten).")
    if len(undecided):
        lines.append(f"Nicht entschieden werden konnten {fmt_num(len(undecided))} Maßnahmen, weil ihre Befunde fehlen "
                     f"({', '.join(undecided['title'])}); die Tabelle „Alle geprüften Regeln“ nennt die fehlenden Angaben.")
    show_md(text + "\n\n" + "\n".join(f"{i}. {line}" for i, line in enumerate(lines, 1)))


def show_recommendations(result: Recommendations) -> None:
    show_md(recommendations_markdown(result))


def rules_table(result: Recommendations) -> pd.DataFrame:
    """Every rule that was checked, one row per measure x trigger, in words."""
    measures = result.measures.set_index("measure_id")
    rows = []
    for _, r in result.rules.iterrows():
        m = measures.loc[r["measure_id"]]
        first = int(r["trigger"]) == 1
        evaluable = bool(r["evaluable"])
        rows.append({
            "measure": m["title"] if first else "",
            "decision": decision_text(m) if first else "",
            "finding": _text(r["label"]) or short_finding_name(r),
            "value": value_text(r) if evaluable else MISSING_WORDS.get(_text(r["reason"]), DASH),
            "rule": rule_condition(r).removeprefix("Schwelle: "),
            "met": ("ja" if bool(r["met"]) else "nein") if evaluable else "nicht prüfbar",
        })
    return pd.DataFrame(rows, columns=["measure", "decision", "finding", "value", "rule", "met"])


def show_rules(result: Recommendations) -> None:
    """Every rule that was checked, recommended or not."""
    show_table(rules_table(result), {
        "measure": ("Maßnahme", None), "decision": ("Empfohlen", None), "finding": ("Befund", None),
        "value": ("Wert", None), "rule": ("Schwelle", None), "met": ("erfüllt", None),
    }, caption="Alle geprüften Regeln: je Maßnahme der Befund, sein Wert, die Schwelle und ob sie erfüllt ist")


def recommendations_markdown(result: Recommendations) -> str:
    """German report text for the triggered measures, each with its reasons."""
    measures = result.measures
    chosen = measures[measures["triggered"].astype(bool)]
    if chosen.empty:
        return ("Nach den festgelegten Regeln löst keiner der Befunde eine Maßnahme aus. "
                "Die geprüften Regeln stehen in der Tabelle unten.")
    parts = []
    for i, (_, m) in enumerate(chosen.iterrows(), 1):
        rules = result.rules[result.rules["measure_id"] == m["measure_id"]]
        met = rules[rules["met"].fillna(False).astype(bool)]
        why = "Alle Regeln sind erfüllt" if m["logic"] == "all" else "Ausgelöst durch"
        reasons = "\n".join(f"  - {rule_text(r, with_result=False)}" for _, r in met.iterrows())
        others = rules.drop(met.index)
        if len(others):
            reasons += "\n" + "\n".join(f"  - Ebenfalls geprüft: {rule_text(r)}" for _, r in others.iterrows())
        actors = f"\n- **Beteiligte:** {m['actors']}" if _text(m["actors"]) else ""
        existing = existing_activities_text(m, result.activities)
        parts.append(
            f"### {i}. {m['title']}\n\n{m['description']}\n\n"
            f"- **Warum?** {why}:\n{reasons}\n"
            f"- **Thema:** {m['topic']}{actors}\n"
            f"- **Wirksamkeit:** {evidence_level_text(m['evidence_level'])}\n"
            f"- **Förderfähig nach RL KommPräv:** {'ja' if bool(m['kommpraev']) else 'nein'}\n"
            + (f"- **Bestehende Aktivitäten:** {existing}\n" if existing else "")
        )
    return "\n".join(parts)


def survey_signal_text(rows: pd.DataFrame, names: dict) -> str:
    """The signals of one survey problem indicator (rows: its met rows, commune "" and districts) in
    words: value for the whole commune with interval, districts above the threshold, the threshold."""
    first = rows.iloc[0]
    parts = []
    commune = rows[rows["district_id"] == ""]
    if len(commune):
        parts.append(f"ganze Kommune {value_text(commune.iloc[0])}")
    local = rows[rows["district_id"] != ""]
    if len(local):
        parts.append("über der Schwelle in " + ", ".join(
            f"{names.get(d, d)} {fmt_pct(v)}" for d, v in zip(local["district_id"], local["value"])))
    return f"Bürgerbefragung: {_text(first.get('label'))}: " + "; ".join(parts) + f" ({rule_condition(first)})"


def gap_evidence_frame(gaps) -> pd.DataFrame:
    """The signals behind the combined matrix in words: Thema, Stadtteil, Anzeichen (profile first,
    then one row per survey indicator)."""
    from kit.profile.view import profile_evidence_frame

    names = gaps.districts
    parts = []
    if gaps.profile_signals is not None and len(gaps.profile_signals):
        parts.append(profile_evidence_frame(gaps.profile_signals, names))
    survey = gaps.survey_signals
    if survey is not None and survey["met"].any():
        rows = []
        for (topic, _), met in survey[survey["met"]].groupby(["topic", "indicator"], sort=False):
            n_local = int((met["district_id"] != "").sum())
            where = ["gesamte Kommune"] if (met["district_id"] == "").any() else []
            if n_local:
                where.append("1 Stadtteil" if n_local == 1 else f"{fmt_num(n_local)} Stadtteile")
            rows.append({"Thema": topic, "Stadtteil": "; ".join(where), "Anzeichen": survey_signal_text(met, names)})
        parts.append(pd.DataFrame(rows))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["Thema", "Stadtteil", "Anzeichen"])


def survey_signal_rule_text(gaps) -> str:
    """How survey answers become signals of the matrix, and which were checked but stay below."""
    survey = gaps.survey_signals
    if survey is None:
        return ("Für diese Kommune liegen keine Ergebnisse der Bürgerbefragung vor; die Lückenmatrix beruht allein "
                "auf den Problemanzeichen des Gebietsprofils.")
    text = ("Aus der Bürgerbefragung zählt ein Problem in der Wohngegend (z. B. Raserei, Müll, Alkohol trinkende "
            "Gruppen) als Anzeichen für sein Thema, wenn der Anteil der Befragten, die es ein ziemliches oder großes "
            "Problem nennen, die Schwelle der Empfehlungsregeln erreicht (sonst mindestens 25 %), und zwar mit dem "
            "gesamten 95-%-Intervall, wo die Regel das verlangt. Für einen Stadtteil gilt dieselbe Schwelle für den "
            "Wert der Befragten aus diesem Stadtteil; Stadtteilwerte, die wegen zu weniger Antworten nicht "
            "ausgewiesen werden, zählen nicht.")
    below = survey[(survey["district_id"] == "") & ~survey["met"]]
    if len(below):
        text += (" Geprüft, für die ganze Kommune aber unter der Schwelle: "
                 + "; ".join(f"{_text(r['label'])}: {value_text(r)}" for _, r in below.iterrows()) + ".")
    return text


def show_gaps(gaps) -> None:
    """The combined gap matrix of stage 3 (profile and survey signals), with its rules and evidence."""
    from kit.profile.view import show_gap_matrix

    if gaps is None:
        show_md("Für diese Kommune liegt keine Bestandsaufnahme der Präventionsaktivitäten vor; "
                "die Lückenmatrix entfällt.")
        return
    show_md(survey_signal_rule_text(gaps))
    if gaps.table.empty:
        show_md("Weder das Gebietsprofil noch die Bürgerbefragung zeigen für ein Thema ein Problemanzeichen; "
                "die Lückenmatrix entfällt, denn sie zeigt nur Themen mit Problemanzeichen.")
        return
    show_gap_matrix(gaps.table, gaps.inventory, gaps.districts, gap_evidence_frame(gaps),
                    caption="Lückenmatrix aus Gebietsprofil und Bürgerbefragung: Themen mit Problemanzeichen "
                            "nach Stadtteil")
