"""Display of the recommendations in the stage-3 notebook (formatting only)."""

from __future__ import annotations

import pandas as pd

from kit.report import show_md, show_table


def show_recommendations(result: pd.DataFrame) -> None:
    show_md(recommendations_markdown(result))


def show_rules(result: pd.DataFrame) -> None:
    """Every rule that was checked, recommended or not."""
    show_table(result, {
        "title": ("Maßnahme", None),
        "triggered": ("Empfohlen", lambda v: "ja" if v else "nein"),
        "checked": ("Geprüfte Befunde", None),
    })


def recommendations_markdown(result: pd.DataFrame) -> str:
    """German report text for the triggered measures, each with its reasons."""
    chosen = result[result["triggered"]]
    if chosen.empty:
        return ("Nach den festgelegten Regeln löst keiner der Befunde eine Maßnahme aus. "
                "Die geprüften Regeln stehen in der Tabelle unten.")
    parts = []
    for i, (_, m) in enumerate(chosen.iterrows(), 1):
        reasons = "\n".join(f"  - {e}" for e in m["evidence"].split(" | "))
        actors = f"\n- **Beteiligte:** {m['actors']}" if m["actors"] else ""
        parts.append(
            f"### {i}. {m['title']}\n\n{m['description']}\n\n"
            f"- **Warum?** Ausgelöst durch:\n{reasons}\n"
            f"- **Thema:** {m['topic']}{actors}\n"
            f"- **Wirksamkeit:** {m['evidence_level']}\n"
            f"- **Förderfähig nach RL KommPräv:** {m['kommpraev']}\n"
            + (f"- **Bestehende Aktivitäten:** {m['existing']}\n" if m.get("existing") else "")
        )
    return "\n".join(parts)
