"""German sentences for the response quality and the response rate (stage-2 report).

Phrases only what :mod:`kit.survey.cleaning` / :mod:`kit.survey.quality` (via the
disclosure-controlled cleaning log) and :mod:`kit.survey.response_benchmark` computed;
called from :mod:`kit.survey.view`. A count hidden by the disclosure policy is written
"weniger als N".
"""

from __future__ import annotations

import pandas as pd

from kit.report import fmt_int, fmt_interval, fmt_num, fmt_pct

# what a counted questionnaire is, per rule of the cleaning log
PHRASES = {
    "duplicate_id": "doppelt erfasste Datensätze",
    "empty": "leere Fragebögen (so gut wie keine Frage beantwortet)",
    "breakoff": "abgebrochene Online-Fragebögen (nicht abgeschickt, weniger als die Hälfte der Fragen beantwortet)",
    "incomplete": "nicht abgeschickte Online-Fragebögen",
    "speeding": "sehr schnell ausgefüllte Fragebögen (weit unter der mittleren Bearbeitungszeit)",
    "straightlining": "Fragebögen mit gleichförmigem Antwortmuster (in allen langen Fragebatterien dieselbe Antwort)",
}
UNCHECKED = {"incomplete": "unvollständige Fragebögen (die Antwortdatei enthält kein Abschlussdatum und keine "
                           "zuletzt besuchte Seite)",
             "speeding": "die Bearbeitungszeit (die Antwortdatei enthält keine Zeitangaben)",
             "straightlining": "gleichförmiges Antworten (das Codebuch hat keine passende Fragebatterie)",
             "empty": "leere Fragebögen"}


# the German wording of the cleaning log's codes (kit.survey.cleaning, kit.survey.quality.log_fields)
ACTION_LABELS = {
    "set_missing": "auf fehlend gesetzt",
    "drop_case": "Fall entfernt",
    "stop": "Abbruch",
    "keep_first": "spätere Datensätze entfernt",
    "recode": "umkodiert",
    "id_from_row": "Zeilennummer als ID verwendet",
    "flag": "markiert, in der Auswertung behalten",
}
RULE_LABELS = {
    "missing_id": "Fallnummer (ID) fehlt",
    "duplicate_id": "Doppelte Fallnummer (ID)",
    "missing_code": "Fehlende-Werte-Code oder -Label (z. B. -9, k.A.) → fehlend",
    "multi_blank": "Mehrfachauswahl: leeres Feld = nicht genannt",
    "invalid_code": "Ungültiger Antwortcode (nicht im Codebuch)",
    "not_numeric": "Keine Zahl bei Zahlenfrage",
    "out_of_range": "Zahl außerhalb des Wertebereichs (min/max)",
    "records_in": "Datensätze in der Datei",
    "cases_dropped": "Entfernte Datensätze",
    "cases_out": "Fälle nach der Bereinigung",
}


def _share(share: float) -> str:
    """A setting share as a percentage: 0.1 -> "10 %", 0.125 -> "12,5 %"."""
    return f"{100 * share:.0f} %" if float(100 * share).is_integer() else f"{100 * share:.1f} %".replace(".", ",")


def rule_description(row) -> str:
    """German description of a cleaning-log row (what was checked, with its setting), from its
    rule code, its codebook label (consistency rules) and its setting numbers."""
    rule = str(row["rule"])
    if rule in RULE_LABELS:
        return RULE_LABELS[rule]
    if rule.startswith("inconsistent:"):
        label = row.get("label")
        return f"Unplausible Kombination: {label if isinstance(label, str) and label else rule.split(':', 1)[1]}"
    if rule == "empty":
        return f"Leerer Fragebogen (weniger als {_share(row['min_answered'])} der Fragen beantwortet)"
    if rule == "incomplete":
        kept = pd.notna(row.get("min_answered")) and not bool(row.get("removes"))
        tail = f", mindestens {_share(row['min_answered'])} der Fragen beantwortet" if kept else ""
        return f"Unvollständig (nicht abgeschickt oder vor der letzten Seite beendet){tail}"
    if rule == "breakoff":
        return (f"Abgebrochen (nicht abgeschickt oder vor der letzten Seite beendet, weniger als "
                f"{_share(row['min_answered'])} der Fragen beantwortet)")
    if rule == "speeding":
        return (f"Sehr schnell ausgefüllt (Bearbeitungszeit unter "
                f"{str(float(row['max_share_of_median'])).replace('.', ',')} × Median)")
    if rule == "straightlining":
        return (f"Gleichförmig geantwortet (in jeder Fragebatterie mit mindestens {int(row['min_items'])} "
                "Aussagen bei allen Aussagen dieselbe Antwort)")
    return rule


def action_label(code) -> str:
    """German wording of an action code of the cleaning log ("" for the summary rows)."""
    if not isinstance(code, str) or not code:
        return ""
    return ACTION_LABELS.get(code, code)


def cleaning_table(log: pd.DataFrame) -> pd.DataFrame:
    """The cleaning log with its German ``description`` and ``action`` for the report table."""
    return log.assign(description=[rule_description(row) for _, row in log.iterrows()],
                      action=[action_label(a) for a in log["action"]])


def _count(value, min_cell: int) -> str:
    return f"weniger als {min_cell}" if pd.isna(value) else fmt_int(value)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " und " + parts[-1]


def cleaning_sentences(log: pd.DataFrame, min_cell: int, unchecked=()) -> list[str]:
    """What the cleaning excluded and what it flagged, from the published cleaning log."""
    rows = log[~log["rule"].isin(["records_in", "cases_dropped", "cases_out"])]
    shown = rows[rows["suppressed"].fillna(False).astype(bool) | (rows["cases"].fillna(0) > 0)]
    removes = shown["removes"].fillna(False).astype(bool) if "removes" in shown.columns else \
        pd.Series(False, index=shown.index)
    removed, kept = [], []
    for (_, row), drop in zip(shown.iterrows(), removes):
        phrase = PHRASES.get(row["rule"])
        if phrase is None:
            if not drop:
                continue  # value-level rules (missing codes, invalid codes): the table shows them
            phrase = f"Fragebögen mit „{rule_description(row)}“"
        (removed if drop else kept).append(f"{_count(row['cases'], min_cell)} {phrase}")
    out = []
    if removed:
        out.append(f"Von der Auswertung ausgeschlossen wurden {_join(removed)}.")
    else:
        out.append("Von der Auswertung wurde kein Fragebogen ausgeschlossen.")
    if kept:
        out.append(f"Gezählt, aber in der Auswertung behalten wurden {_join(kept)}; solche Antworten können "
                   "echt sein, ob sie ungültig sind, lässt sich allein daraus nicht sagen.")
    missing = [UNCHECKED[r] for r in unchecked if r in UNCHECKED]
    if missing:
        out.append(f"Nicht prüfen ließen sich {_join(missing)}; bei Papierfragebögen und manueller Erfassung "
                   "ist das üblich.")
    if any(pd.isna(c) for c in shown["cases"]):
        out.append(f"„weniger als {min_cell}“ steht für eine kleine Zahl, die aus Datenschutzgründen nicht genau "
                   "genannt wird.")
    return out


VERDICT_PHRASE = {"within": "innerhalb", "below": "unterhalb", "above": "oberhalb"}


def response_benchmark_sentence(rb: dict | None) -> str | None:
    """The response rate beside the ASSKomm range, with its interval; None without a comparison."""
    if not rb:
        return None
    level = fmt_num(100 * float(rb["confidence"]), 0)
    rng = f"{fmt_num(100 * rb['reference_low'], 0)} bis {fmt_pct(rb['reference_high'], 0)}"
    own = (f"Die Rücklaufquote von {fmt_pct(rb['rate'])} ({level}-%-Bereich "
           f"{fmt_interval(rb['lower'], rb['upper'], percent=True)})")
    ref = (f"der Spanne, die der Landespräventionsrat Sachsen für die Bürgerbefragungen der ASSKomm-"
           f"Sicherheitsanalysen angibt ({rng})")
    verdict = rb["verdict"]
    if verdict == "overlaps":
        side = "unter" if rb["rate"] < rb["reference_low"] else "über"
        text = f"{own} liegt knapp {side} {ref}; der Unterschied kann Zufall sein."
    else:
        text = f"{own} liegt {VERDICT_PHRASE[verdict]} {ref}."
    if verdict == "below":
        text += (" Mit weniger Antworten sind die Ergebnisse unsicherer, und wer nicht antwortet, kann sich in "
                 "Dingen unterscheiden, die die Gewichtung nach Alter, Geschlecht und Stadtteil nicht ausgleicht.")
    return text + f" Quelle: {rb['source']}."


__all__ = ["ACTION_LABELS", "RULE_LABELS", "action_label", "cleaning_sentences", "cleaning_table",
           "response_benchmark_sentence", "rule_description"]
