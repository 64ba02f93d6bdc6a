"""The key-indicator contract between the stages.

Stages 1 and 2 each write ``results/key_indicators_<stage>.csv`` with exactly
:data:`KEY_INDICATOR_COLUMNS`; stage 3 and the comparison across communes read
them back through :func:`collect_key_indicators`. Values are numbers (shares as
fractions 0-1), never formatted text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kit.errors import KitError
from kit.results import STAGE_RESULT_NAMES, ResultStore

KEY_INDICATOR_COLUMNS = ["indicator", "label", "value", "lower", "upper", "unit", "source"]
COMPARISON_COLUMNS = ["commune_id", "commune", *KEY_INDICATOR_COLUMNS]


def key_indicator_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows -> a key-indicator table in contract order (missing keys become empty)."""
    return pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)


def collect_key_indicators(store: ResultStore) -> pd.DataFrame:
    """Key indicators of stages 1 and 2 (one tidy table) for stage 3 and comparisons."""
    frames = [store.read_table(f"key_indicators_{name}") for name in STAGE_RESULT_NAMES
              if store.exists(f"key_indicators_{name}")]
    if not frames:
        raise KitError("Keine Kennzahlen aus Gebietsprofil oder Bürgerbefragung gefunden. "
                       "Bitte zuerst die Stufen 1 und 2 ausführen.")
    return pd.concat(frames, ignore_index=True)



def compare_key_indicators(output_dir: str | Path, communes: list[tuple[str, str]]) -> pd.DataFrame:
    """Key indicators of several communes in one tidy table (commune_id, commune,
    indicator, label, value, lower, upper, unit, source), for comparisons across
    communes. Communes without results are left out."""
    frames = []
    for commune_id, name in communes:
        store = ResultStore(output_dir, commune_id)
        try:
            df = collect_key_indicators(store)
        except KitError:
            continue
        frames.append(df.assign(commune_id=commune_id, commune=name))
    if not frames:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    return out[COMPARISON_COLUMNS]
