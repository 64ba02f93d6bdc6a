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

# Key-indicator ids: one place for the ids the stages write and read.
PROFILE = "profile."  # stage 1 (kit.profile.stage.key_indicators)
SURVEY = "survey."  # stage 2: "survey." + the id of a key indicator in the params (survey.key_indicators)
# stage 1: the indicators with a fixed name ...
PROFILE_FIXED = ("population", "share_65plus", "share_under18", "share_nongerman", "bos_fulltime_per_10000",
                 "bos_volunteer_per_10000", "clubs_per_1000", "education_eur_per_resident", "pmk_cases",
                 "prevention_gaps")
# ... and the families whose suffix is a PKS key (kit.profile.stage.PKS_DISPLAY_KEYS) or an OWi
# category (data_schemas/owi.yaml, or gesamt)
PKS_FAMILIES = ("hz_mean_", "hz_ratio_", "pks_rise_")
OWI_FAMILIES = ("owi_rate_", "owi_rise_")
# Describe the population, not a problem (a rule on them may only narrow a measure).
DEMOGRAPHIC_INDICATORS = tuple(PROFILE + name for name in ("population", "share_65plus", "share_under18",
                                                            "share_nongerman"))
# stage 2: the night-safety indicators the findings and the crime-fear comparison read (ids of
# params/defaults.yaml survey.key_indicators) and the prefix of the problem shares
UNSAFE_NIGHT = SURVEY + "unsafe_night"
UNSAFE_NIGHT_WOMEN = SURVEY + "unsafe_night_women"
SURVEY_PROBLEM_PREFIX = SURVEY + "problem_"
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
