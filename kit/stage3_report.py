"""Display of the recommendations in the stage-3 notebook (formatting only)."""

from __future__ import annotations

import pandas as pd

from .recommendations import recommendations_markdown
from .report import show_md, show_table


def show_recommendations(result: pd.DataFrame) -> None:
    show_md(recommendations_markdown(result))


def show_rules(result: pd.DataFrame) -> None:
    """Every rule that was checked, recommended or not."""
    show_table(result, {
        "title": ("Maßnahme", None),
        "triggered": ("Empfohlen", lambda v: "ja" if v else "nein"),
        "checked": ("Geprüfte Befunde", None),
    })
