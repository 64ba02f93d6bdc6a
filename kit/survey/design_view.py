"""German wording of the sample design and variance method (kit.survey.design.BoundDesign.describe)."""

from __future__ import annotations

from kit.report import fmt_int

STRATA_WORDS = {"district": "Stadtteilen", "age_group": "Altersgruppen", "sex": "Geschlecht"}


def design_phrase(design: dict) -> str:
    """E.g. "geschichtete Stichprobe nach Stadtteilen, Varianz mit Endlichkeitskorrektur und
    Kalibrierungsresiduen, Intervalle nach Korn-Graubard"; "" without a design description."""
    if not design:
        return ""
    strata = STRATA_WORDS.get(design.get("strata") or "", "")
    kind = design.get("type", "srs")
    if kind == "stratified":
        parts = [f"geschichtete Stichprobe nach {strata}"]
    elif kind == "clustered":
        parts = ["Klumpenstichprobe" + (f", geschichtet nach {strata}" if strata else "")]
    else:
        parts = ["einfache Zufallsstichprobe"]
    reps = design.get("replicates", "none")
    if reps in ("jackknife", "bootstrap"):
        name = "Jackknife" if reps == "jackknife" else "Bootstrap (Rao-Wu)"
        extra = ", jedes Replikat neu gewichtet" if design.get("calibration") else ""
        parts.append(f"Varianz nach dem {name}-Verfahren mit {fmt_int(design.get('n_replicates', 0))} "
                     f"Replikaten{extra}")
    else:
        bits = [w for w, on in (("Endlichkeitskorrektur", design.get("fpc")),
                                ("Kalibrierungsresiduen", design.get("calibration"))) if on]
        parts.append("Varianz " + ("mit " + " und ".join(bits) if bits else "ohne Endlichkeitskorrektur"))
    parts.append("Intervalle nach Korn-Graubard" if design.get("interval", "korn_graubard") == "korn_graubard"
                 else "Intervalle auf der Logit-Skala")
    return ", ".join(parts)


def design_sentence(design: dict) -> str:
    """One sentence for the methods paragraph of the survey report ("" without a design)."""
    phrase = design_phrase(design)
    if not phrase:
        return ""
    return (f"Die Vertrauensbereiche berücksichtigen, wie die Stichprobe gezogen und gewichtet wurde "
            f"({phrase}).")


__all__ = ["design_phrase", "design_sentence"]
