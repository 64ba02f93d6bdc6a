"""Display of the recommendations in the stage-3 notebook.

Numbers before words: kit.recommend.rules returns flags, counts and one tidy
row per measure x trigger; this module alone writes the German text (the
"Warum?" reasons, the evidence levels, the wording of operators and of rules
that cannot be evaluated)."""

from __future__ import annotations

import pandas as pd

from kit.recommend.rules import (KIND_GENERAL, LIST_SEPARATOR, REASON_MISSING, REASON_NO_INTERVAL,
                                  REASON_REFERENCE_MISSING, REASON_SUPPRESSED, REASON_TOO_FEW_COMMUNES,
                                  REASON_VERSUS_MISSING, Recommendations)
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


RATIO_UNIT = "× Referenz"  # kit.profile.stage: HZ relative to Saxony (or an own reference)


SYNTHETIC_MARK = " (synthetische Werte, keine echten Zahlen der Kommune)"


def synthetic_mark(rule) -> str:
    """The mark after a value computed from an input marked synthetic (kit.profile.stage
    writes that into the key indicator's source)."""
    return SYNTHETIC_MARK if "synthetisch" in _text(rule.get("source")) else ""


def value_text(rule) -> str:
    """'31,0 % (95-%-Intervall 26,0–36,0 %)': the indicator value with its unit and interval;
    marked when it rests on synthetic data."""
    return _value_text(rule) + synthetic_mark(rule)


def _value_text(rule) -> str:
    unit = _text(rule.get("unit"))
    text = (f"{fmt_num(rule.get('value'), 2)} {unit}" if unit == RATIO_UNIT and not pd.isna(rule.get("value"))
            else fmt_indicator(rule.get("value"), unit))
    lower, upper = rule.get("lower"), rule.get("upper")
    if not pd.isna(lower) and not pd.isna(upper) and unit != "ja/nein":
        digits = 2 if unit == RATIO_UNIT else 1
        text += f" (95-%-Intervall {fmt_interval(lower, upper, digits, percent=unit == 'Anteil')})"
    return text


def threshold_text(value: float, unit: str) -> str:
    unit = _text(unit)
    if unit == "Anzahl":
        return fmt_num(value, 0)
    if unit == "Anteil":
        return f"{fmt_num(100 * float(value), 1)} %"
    if unit == "ja/nein":
        return f"{fmt_num(value, 1)} (1 = ja, 0 = nein)"
    if unit == RATIO_UNIT:
        return f"{fmt_num(value, 2)} {unit}"
    return f"{fmt_num(value, 1)} {unit}".strip()


def _points(value: float) -> str:
    return f"{fmt_num(100 * float(value), 1)} Prozentpunkte"


def rule_condition(rule) -> str:
    """'Schwelle: gesamtes 95-%-Intervall mindestens 25,0 %' (interval words only when the
    interval was compared); for flags, group differences and comparisons with other communes
    the condition in words."""
    words = OP_WORDS.get(_text(rule.get("op")), _text(rule.get("op")))
    kind = _text(rule.get("kind")) or "threshold"
    if kind == "flag":
        return "Schwelle: Frühwarnung meldet einen auffälligen Anstieg"
    if kind == "group_difference":
        gap = _points(rule.get("threshold")) if _text(rule.get("unit")) == "Anteil" else fmt_num(rule.get("threshold"), 1)
        higher = "höher" if _text(rule.get("op")) in (">", ">=") else "niedriger"
        return f"Schwelle: Unterschied mit seinem ganzen Intervall mehr als {gap} {higher}"
    if kind == "batch":
        direction = "höchster" if _text(rule.get("op")) in (">", ">=") else "niedrigster"
        if _text(rule.get("statistic")) == "rank":
            k = int(rule.get("threshold"))
            return (f"Schwelle: {direction} Wert unter den Kommunen der Auswertung" if k == 1 else
                    f"Schwelle: unter den {fmt_num(k)} Kommunen mit dem {direction}n Wert")
        gap = (_points(rule.get("threshold")) if _text(rule.get("unit")) == "Anteil"
               else threshold_text(rule.get("threshold"), rule.get("unit")))
        side = "über" if _text(rule.get("op")) in (">", ">=") else "unter"
        whole = "gesamtes 95-%-Intervall " if _text(rule.get("compared")) in ("lower", "upper") else ""
        return f"Schwelle: {whole}mehr als {gap} {side} dem Median der anderen Kommunen"
    if kind == "reference" and _text(rule.get("indicator")).startswith("survey."):
        side = "niedriger" if _text(rule.get("op")) in ("<", "<=") else "höher"
        ref = rule.get("reference_value")
        value = "" if ref is None or pd.isna(ref) else f" {threshold_text(ref, rule.get('unit'))} ({_text(rule.get('versus_label'))})"
        return f"Schwelle: {side} als der Vergleichswert{value}, über die Zufallsschwankung hinaus (95-%-Intervall)"
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


MISSING_WORDS = {REASON_MISSING: "liegt nicht vor", REASON_SUPPRESSED: "zu wenige Fälle, nicht ausgewiesen",
                 REASON_VERSUS_MISSING: "Wert der Vergleichsgruppe liegt nicht vor",
                 REASON_NO_INTERVAL: "ohne Unsicherheitsangabe, kein Vergleich möglich",
                 REASON_TOO_FEW_COMMUNES: "zu wenige Kommunen für einen Vergleich",
                 REASON_REFERENCE_MISSING: "kein Vergleichswert für Sachsen"}


def short_finding_name(rule) -> str:
    source = SOURCE_WORDS.get(_text(rule.get("indicator")).split(".", 1)[0])
    return f"ein Befund {source}" if source else "ein Befund"


def unevaluable_text(rule) -> str:
    name = finding_name(rule)
    reason = _text(rule.get("reason"))
    if reason == REASON_TOO_FEW_COMMUNES:
        n = rule.get("n_communes")
        have = "nur diese Kommune" if pd.isna(n) or int(n) <= 1 else f"nur {fmt_num(n)} Kommunen"
        return (f"Nicht entscheidbar: {name} lässt sich nicht mit anderen Kommunen vergleichen, denn in dieser "
                f"Auswertung liegen Ergebnisse für {have} vor; ein Vergleich braucht mindestens drei.")
    if reason == REASON_VERSUS_MISSING:
        return f"Nicht prüfbar: Für den Vergleich der Gruppen fehlt der Wert der Vergleichsgruppe ({name.removeprefix('Der Befund ').rstrip(',')})."
    if reason == REASON_NO_INTERVAL:
        return f"Nicht prüfbar: {name} hat keine Unsicherheitsangabe; ein Gruppenunterschied lässt sich nicht prüfen."
    if reason == REASON_REFERENCE_MISSING:
        return f"Nicht prüfbar: Für {name.removeprefix('Der Befund ')} gibt es keinen Vergleichswert für Sachsen."
    if _text(rule.get("reason")) == REASON_SUPPRESSED:
        return f"Nicht prüfbar: {name} wird wegen zu weniger Fälle nicht ausgewiesen."
    if _text(rule.get("reason")) == REASON_MISSING and _text(rule.get("indicator")).startswith("survey."):
        return f"Nicht prüfbar: {name} liegt für diese Kommune nicht vor (keine Bürgerbefragung oder Frage nicht gestellt)."
    return f"Nicht prüfbar: {name} liegt für diese Kommune nicht vor."


def rule_value_text(rule) -> str:
    """The value a rule compared, in words: for a group difference both groups and the
    difference with its interval; for a comparison with other communes the value and the
    median or rank; else :func:`value_text`."""
    kind = _text(rule.get("kind")) or "threshold"
    unit = _text(rule.get("unit"))
    if kind == "group_difference":
        share = unit == "Anteil"
        diff = (_points(rule.get("value")) if share else fmt_num(rule.get("value"), 1))
        interval = (f"{fmt_num(100 * float(rule.get('lower')), 1)} bis {fmt_num(100 * float(rule.get('upper')), 1)} "
                    "Prozentpunkte" if share else fmt_interval(rule.get("lower"), rule.get("upper"), 1))
        other = _text(rule.get("versus_label")) or "Vergleichsgruppe"
        return (f"{fmt_indicator(rule.get('reference_value'), unit)} gegenüber {fmt_indicator(rule.get('versus_value'), unit)} "
                f"({other}), Unterschied {diff} (Intervall {interval})")
    if kind == "batch":
        n = rule.get("n_communes")
        if _text(rule.get("statistic")) == "rank":
            return f"{value_text(rule)}, Rang {fmt_num(rule.get('rank'))} von {fmt_num(n)} Kommunen"
        return f"{value_text(rule)}; Median der anderen {fmt_num(n - 1)} Kommunen {fmt_indicator(rule.get('reference_value'), unit)}"
    return value_text(rule)


def rule_text(rule, with_result: bool = True) -> str:
    """One checked rule as a German sentence: indicator, value with interval, threshold and
    whether it was met; a readable reason when the rule could not be evaluated."""
    if not bool(rule.get("evaluable")):
        return unevaluable_text(rule)
    text = f"{_text(rule.get('label')) or 'Befund'}: {rule_value_text(rule)}; {rule_condition(rule)}"
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
    nothing can be said: no inventory). The activities are those that count by topic, target group
    and place (kit.recommend.matching), as in the section on existing offers."""
    if pd.isna(measure.get("n_activities", float("nan"))):
        return ""
    hits = (activities[activities["measure_id"] == measure["measure_id"]]
            if activities is not None and len(activities) else pd.DataFrame())
    if hits.empty:
        return ("Im Bestand der Präventionsaktivitäten ist kein Angebot erfasst, das nach Thema, Zielgruppe "
                "und Ort zu dieser Maßnahme passt.")
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
    off = _flag(m["switched_off"]) if "switched_off" in m.columns else pd.Series(False, index=m.index)
    chosen = m[_flag(m["triggered"]) & ~off].sort_values("n_met", ascending=False, kind="stable")
    recommended = _flag(m["recommended"]) if "recommended" in m.columns else _flag(m["triggered"])
    undecided = m[~recommended & ~_flag(m["evaluable"]) & ~off]
    text = (f"Von {fmt_num(len(m))} Maßnahmen des Katalogs empfehlen die Regeln {fmt_num(len(chosen))} für diese "
            "Kommune; jede dieser Empfehlungen beruht auf einem Befund, dessen Wert und Unsicherheit genannt sind.")
    general = m[(m["recommendation_kind"].fillna("") == KIND_GENERAL) & ~off] if "recommendation_kind" in m.columns else m.iloc[0:0]
    if len(general):
        one = len(general) == 1
        text += (f" Dazu {'kommt' if one else 'kommen'} {fmt_num(len(general))} allgemeine "
                 f"{'Empfehlung, die' if one else 'Empfehlungen, die'} für jede Kommune (oder jede dieser Größe) "
                 f"{'gilt' if one else 'gelten'}: {', '.join(general['title'])}.")
    if off.any():
        n_off = int(off.sum())
        text += (f" {'Eine Maßnahme haben' if n_off == 1 else fmt_num(n_off) + ' Maßnahmen haben'} die Analysten für "
                 "diese Kommune abgeschaltet (Gründe unten).")
    funded = int(_flag(chosen["kommpraev"]).sum()) if len(chosen) else 0
    if funded:  # counted among the measures a finding triggered, not the general ones
        text += (f" Von den {fmt_num(len(chosen))} durch Befunde ausgelösten Empfehlungen "
                 f"{'ist' if funded == 1 else 'sind'} {fmt_num(funded)} nach der Förderrichtlinie Kommunale "
                 "Prävention förderfähig.")
    lines = []
    for _, measure in chosen.head(max_items).iterrows():
        met = result.rules[(result.rules["measure_id"] == measure["measure_id"]) & _flag(result.rules["met"])]
        reason = rule_text(met.iloc[0], with_result=False) if len(met) else ""
        extra = len(met) - 1
        more = (f" (und {fmt_num(extra)} {'weiteren Befund' if extra == 1 else 'weiteren Befunden'})"
                if extra else "")
        lines.append(f"**{measure['title']}** – ausgelöst durch {reason.rstrip('.')}{more}.")
    if len(chosen) > max_items:
        rest = len(chosen) - max_items
        lines.append("Dazu eine weitere Empfehlung (siehe unten)." if rest == 1 else
                     f"Dazu {fmt_num(rest)} weitere Empfehlungen (siehe unten).")
    if len(undecided):
        n = len(undecided)
        lines.append(("Nicht entschieden werden konnte eine Maßnahme, weil ihre Befunde fehlen" if n == 1 else
                      f"Nicht entschieden werden konnten {fmt_num(n)} Maßnahmen, weil ihre Befunde fehlen")
                     + f" ({', '.join(undecided['title'])}); der Abschnitt „Alle geprüften Regeln“ nennt die "
                       "fehlenden Angaben.")
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
            "value": rule_value_text(r) if evaluable else MISSING_WORDS.get(_text(r["reason"]), DASH),
            "rule": rule_condition(r).removeprefix("Schwelle: "),
            "met": ("ja" if bool(r["met"]) else "nein") if evaluable else "nicht prüfbar",
        })
    return pd.DataFrame(rows, columns=["measure", "decision", "finding", "value", "rule", "met"])


RULE_GROUPS = (("ja", "Maßnahmen, die die Regeln empfehlen"),
               ("offen", "Maßnahmen, über die die Regeln nicht entscheiden können"),
               ("nein", "Maßnahmen, die die Regeln nicht empfehlen"))
RULES_PER_TABLE = 40  # a longer table is split (readable in print; no table looks like a record list)


def rule_groups(result: Recommendations) -> list[tuple[str, pd.DataFrame]]:
    """The rules table split by the decision on the measure (recommended, undecided, not
    recommended), each part at most RULES_PER_TABLE rows and never splitting one measure's rules
    unless the measure alone has more."""
    table = rules_table(result)
    measure_of_row = table["measure"].replace("", pd.NA).ffill()
    decision_of_row = table["decision"].replace("", pd.NA).ffill().fillna("")
    kind = decision_of_row.map(lambda d: d if d in ("ja", "nein") else "offen")
    parts = []
    for key, title in RULE_GROUPS:
        part = table[kind == key]
        if part.empty:
            continue
        chunks, current, size = [], [], 0
        for _, block in part.groupby(measure_of_row[kind == key], sort=False):
            if current and size + len(block) > RULES_PER_TABLE:
                chunks.append(pd.concat(current))
                current, size = [], 0
            current.append(block)
            size += len(block)
        chunks.append(pd.concat(current))
        for i, chunk in enumerate(chunks, 1):
            suffix = f" (Teil {i} von {len(chunks)})" if len(chunks) > 1 else ""
            parts.append((title + suffix, chunk))
    return parts


def show_rules(result: Recommendations) -> None:
    """Every rule that was checked, recommended or not, in one table per decision."""
    show_md("Die folgenden Tabellen zeigen für jede Maßnahme des Katalogs, welche Befunde geprüft wurden, "
            "welchen Wert sie haben, welche Schwelle gilt und ob sie erreicht ist – getrennt nach empfohlenen, "
            "offenen und nicht empfohlenen Maßnahmen.")
    for title, part in rule_groups(result):
        show_table(part, {
            "measure": ("Maßnahme", None), "decision": ("Empfohlen", None), "finding": ("Befund", None),
            "value": ("Wert", None), "rule": ("Schwelle", None), "met": ("erfüllt", None),
        }, caption=f"Geprüfte Regeln – {title}: je Maßnahme der Befund, sein Wert, die Schwelle und ob sie "
                   "erfüllt ist")


def _items(cell) -> list[str]:
    return [x.strip() for x in _text(cell).split(LIST_SEPARATOR.strip()) if x.strip()]


def contacts_text(measure_id: str, contacts: pd.DataFrame | None) -> str:
    """Wegweiser of one measure: whom to contact (names; what they offer and where to find them
    stand once in :func:`show_contacts`)."""
    if contacts is None or not len(contacts):
        return ""
    rows = contacts[contacts["measure_id"] == measure_id]
    return "; ".join(_text(n) for n in rows["name"])


def _web(value) -> str:
    return _text(value).removeprefix("https://").removeprefix("http://").rstrip("/")


def show_contacts(result: Recommendations) -> None:
    """Wegweiser: every contact named for the recommended measures, once, with what it offers,
    where to find it and for how many of the recommended measures it is named."""
    contacts = getattr(result, "contacts", None)
    m = result.measures
    chosen = set(m.loc[_flag(m["recommended"]), "measure_id"]) if "recommended" in m.columns else set()
    if contacts is None or not len(contacts) or not chosen:
        show_md("Für diese Kommune ist keine Maßnahme empfohlen; der Wegweiser entfällt.")
        return
    used = contacts[contacts["measure_id"].isin(chosen)]
    table = (used.groupby(["name", "what", "web"], sort=False, dropna=False).size().reset_index(name="n"))
    table["web"] = table["web"].map(_web)
    table["n"] = table["n"].map(lambda n: fmt_num(n))
    show_md("Wen die Kommune zu den empfohlenen Maßnahmen ansprechen kann: die polizeiliche Beratungsstelle der "
            "zuständigen Polizeidirektion, die Allianz Sichere Sächsische Kommunen beim Landespräventionsrat und, "
            "für förderfähige Maßnahmen, die Förderrichtlinie Kommunale Prävention. Es sind öffentliche Stellen mit "
            "ihrer allgemeinen Internetadresse; Zuständigkeiten vor der Kontaktaufnahme dort nachsehen.")
    show_table(table, {"name": ("Ansprechpartner", None), "what": ("Wofür", None), "web": ("Internet", None),
                       "n": ("genannt bei Maßnahmen", None)},
               caption="Wegweiser: Ansprechpartner der empfohlenen Maßnahmen, was sie anbieten und wo sie zu finden sind")


def measure_details(m) -> str:
    """Who, what evidence, funding, cost, time and success indicator of one measure, as a list."""
    lines = []
    lead, partners = _text(m.get("lead")), ", ".join(_items(m.get("partners")))
    if lead:
        lines.append(f"- **Federführung:** {lead}" + (f"; **Partner:** {partners}" if partners else ""))
    groups, places = ", ".join(_items(m.get("target_groups"))), ", ".join(_items(m.get("places")))
    if groups:
        lines.append(f"- **Zielgruppen:** {groups}" + (f"; **Orte:** {places}" if places else ""))
    source = _text(m.get("evidence_source"))
    lines.append(f"- **Wirksamkeit:** {evidence_level_text(m['evidence_level'])}" + (f" – {source}" if source else ""))
    reason = _text(m.get("kommpraev_reason"))
    lines.append(f"- **Förderfähig nach RL KommPräv:** {'ja' if bool(m['kommpraev']) else 'nein'}"
                 + (f" – {reason}" if reason else ""))
    cost, duration, frame = _text(m.get("cost_class")), _text(m.get("duration")), _text(m.get("time_frame"))
    if cost or duration or frame:
        bits = [f"Kosten {cost}" if cost else "", f"Dauer {duration}" if duration else "", frame]
        lines.append("- **Aufwand und Zeit:** " + ", ".join(b for b in bits if b))
    steps = _items(m.get("first_steps"))
    if steps:
        lines.append("- **Erste Schritte:**\n" + "\n".join(f"  - {x}" for x in steps))
    success = _text(m.get("success_indicator"))
    if success:
        lines.append(f"- **Woran der Erfolg zu messen ist:** {success}")
    return "\n".join(lines)


def recommendations_markdown(result: Recommendations) -> str:
    """German report text for the recommended measures: the specific ones (triggered by a
    finding, each with its reasons) and the general ones (apply without a finding), each with
    lead and partners, evidence with its source, funding, first steps, success indicator and
    whom to contact; then the measures the analysts switched off, with their reason."""
    measures = result.measures
    col = "recommended" if "recommended" in measures.columns else "triggered"
    chosen = measures[_flag(measures[col])]
    off = measures[_flag(measures["switched_off"])] if "switched_off" in measures.columns else measures.iloc[0:0]
    if chosen.empty:
        text = ("Nach den festgelegten Regeln löst keiner der Befunde eine Maßnahme aus. "
                "Die geprüften Regeln stehen in der Tabelle unten.")
        return text + ("\n\n" + switched_off_text(off) if len(off) else "")
    parts = []
    for i, (_, m) in enumerate(chosen.iterrows(), 1):
        rules = result.rules[result.rules["measure_id"] == m["measure_id"]]
        met = rules[rules["met"].fillna(False).astype(bool)]
        if _text(m.get("recommendation_kind")) == KIND_GENERAL:
            size = m.get("general_min_population")
            why = ("Allgemeine Empfehlung für jede Kommune" if pd.isna(size) or bool(m.get("general_always")) else
                   f"Allgemeine Empfehlung für Kommunen ab {fmt_num(size)} Einwohnern")
            reasons = ("\n" + "\n".join(f"  - Geprüft: {rule_text(r)}" for _, r in rules.iterrows())) if len(rules) else ""
            why_line = f"- **Warum?** {why}.{reasons}\n"
        else:
            head = "Alle Regeln sind erfüllt" if m["logic"] == "all" else "Ausgelöst durch"
            reasons = "\n".join(f"  - {rule_text(r, with_result=False)}" for _, r in met.iterrows())
            others = rules.drop(met.index)
            if len(others):
                reasons += "\n" + "\n".join(f"  - Ebenfalls geprüft: {rule_text(r)}" for _, r in others.iterrows())
            why_line = f"- **Warum?** {head}:\n{reasons}\n"
        existing = existing_activities_text(m, result.activities)
        contacts = contacts_text(m["measure_id"], getattr(result, "contacts", None))
        own = " (für diese Kommune ergänzt)" if _text(m.get("origin")) == "commune" else ""
        parts.append(
            f"### {i}. {m['title']}{own}\n\n{m['description']}\n\n"
            f"{why_line}"
            f"- **Thema:** {m['topic']}\n"
            f"{measure_details(m)}\n"
            + (f"- **Bestehende Aktivitäten:** {existing}\n" if existing else "")
            + (f"- **Ansprechpartner (siehe Wegweiser):** {contacts}\n" if contacts else "")
        )
    if len(off):
        parts.append(switched_off_text(off))
    return "\n".join(parts)


def switched_off_text(off: pd.DataFrame) -> str:
    """The measures the analysts switched off for this commune, each with its reason."""
    lines = [f"- **{m['title']}:** {_text(m.get('switch_off_reason'))}" for _, m in off.iterrows()]
    return ("### Für diese Kommune abgeschaltete Maßnahmen\n\nDie Analysten haben diese Maßnahmen des Katalogs "
            "für diese Kommune nicht übernommen; sie werden unabhängig von den Befunden nicht empfohlen:\n\n"
            + "\n".join(lines) + "\n")


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
