"""Dark figure (Dunkelfeld): survey victimisation and reporting vs. recorded PKS cases.

For each offence type of the mapping file ``reference_data/dark_figure_offences.csv`` (survey
item -> BKA keys, with the definitional differences in its comments):

- the weighted 12-month prevalence (share of residents 16+ who were victims at least once) and
  its interval, taken from the stage's disclosure-controlled estimates (so they carry whatever
  interval :mod:`kit.survey.estimates` computes and the disclosure policy's suppression);
- the weighted reporting rate among victims (same source) and the survey's own dark-figure
  relation: not reported per reported victimisation, ``(1 - r) / r`` (interval by transforming
  the bounds of ``r``; the function is monotone);
- the PKS cases of the matching keys in the latest year and per 1.000 residents (stage-1
  results: ``pks_cases`` rows of ``profile_indicators``; base = the residents stage 1 used);
- estimated victims = prevalence x population 16+ (register, from the weighting margins) and
  the ratio "estimated victims per recorded case", with the prevalence's interval scaled alike.
  The PKS count is a full count and is treated as fixed; the ratio's interval is that of the
  survey. The view shows the ratio only with its interval and caveats.

Numbers and codes only; the view (:mod:`kit.survey.view_crime`) phrases them. A suppressed
prevalence leaves every number derived from it empty (NaN).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from kit.errors import InputError, Problem

OFFENCE_FILE = Path(__file__).resolve().parent / "reference_data" / "dark_figure_offences.csv"
OFFENCE_COLUMNS = ["offence", "label", "victim_item", "reported_item", "yes_code", "bka_keys", "note"]
_KEY = re.compile(r"^[0-9*]{6}$")

DARK_FIGURE_COLUMNS = [
    "offence", "label", "victim_item", "prevalence", "prevalence_lower", "prevalence_upper",
    "prevalence_n", "prevalence_suppressed", "reporting_rate", "reporting_lower", "reporting_upper",
    "reporting_n", "reporting_suppressed", "unreported_per_reported", "unreported_lower", "unreported_upper",
    "population_16plus", "victims", "victims_lower", "victims_upper", "pks_year", "pks_cases",
    "pks_population", "pks_per_1000", "victims_per_1000_16plus", "victims_per_1000_lower",
    "victims_per_1000_upper", "ratio", "ratio_lower", "ratio_upper", "keys_used", "keys_missing",
]


def parse_keys(text: str) -> list[tuple[int, str]]:
    """``"****00 - ***300 + 232300"`` -> [(1, "****00"), (-1, "***300"), (1, "232300")];
    ValueError for anything else."""
    tokens = str(text).split()
    out: list[tuple[int, str]] = []
    sign = 1
    expect_key = True
    for i, tok in enumerate(tokens):
        if tok in "+-" and len(tok) == 1:
            if expect_key and i > 0:
                raise ValueError(tok)
            sign = 1 if tok == "+" else -1
            expect_key = True
            continue
        if not expect_key or not _KEY.match(tok):
            raise ValueError(tok)
        out.append((sign, tok))
        expect_key = False
        sign = 1
    if not out or expect_key:
        raise ValueError(text)
    return out


def load_offence_map(path: str | Path = OFFENCE_FILE) -> pd.DataFrame:
    """The offence mapping, validated (German InputError naming file, row, column, value)."""
    path = Path(path)
    df = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False)
    missing = [c for c in OFFENCE_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(Problem(file=str(path), row=None, column=", ".join(missing), value="fehlt",
                                 expected=f"Spalten {', '.join(OFFENCE_COLUMNS)}"))
    # rows in the file: comment lines are skipped by pandas, so count them to name the real line
    lines = path.read_text(encoding="utf-8").splitlines()
    data_lines = [i + 1 for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")][1:]
    for i, r in df.iterrows():
        row = data_lines[i] if i < len(data_lines) else None
        for col in ("offence", "label", "victim_item", "reported_item"):
            if not str(r[col]).strip():
                raise InputError(Problem(file=str(path), row=row, column=col, value="(leer)",
                                         expected="nicht leerer Text"))
        if not re.fullmatch(r"-?\d+", str(r["yes_code"]).strip()):
            raise InputError(Problem(file=str(path), row=row, column="yes_code", value=str(r["yes_code"]),
                                     expected="ganze Zahl (Antwortcode für „ja“, z. B. 1)"))
        try:
            parse_keys(r["bka_keys"])
        except ValueError:
            raise InputError(Problem(file=str(path), row=row, column="bka_keys", value=str(r["bka_keys"]),
                                     expected="Straftatenschlüssel aus 6 Zeichen (Ziffern oder *), verbunden mit "
                                              "+ oder -, z. B. „****00 - ***300“")) from None
    dup = df[df["offence"].duplicated()]
    if len(dup):
        i = int(dup.index[0])
        raise InputError(Problem(file=str(path), row=data_lines[i] if i < len(data_lines) else None,
                                 column="offence", value=str(dup["offence"].iloc[0]), expected="jede Kennung nur einmal"))
    df["yes_code"] = df["yes_code"].astype(int)
    return df


def pks_cases(pks: pd.DataFrame, keys: list[tuple[int, str]], year: int | None = None
              ) -> tuple[float, float, int | None, list[str], list[str]]:
    """Signed sum of the PKS cases of ``keys`` in ``year`` (default: latest year present).

    ``pks``: rows with subject (key), year, count (cases) and base (residents), e.g. the
    ``pks_cases`` rows of stage 1's ``profile_indicators``. Returns (cases, residents, year,
    keys used, keys missing). Missing keys are left out of the sum and named (the view says the
    sum is partial); cases NaN when no key with a plus sign is present."""
    if pks is None or pks.empty:
        return np.nan, np.nan, None, [], [k for _, k in keys]
    df = pks.copy()
    df["subject"] = df["subject"].astype(str)
    df["year"] = pd.to_numeric(df["year"], errors="coerce")
    df = df.dropna(subset=["year"])
    year = int(df["year"].max()) if year is None else int(year)
    cur = df[df["year"] == year].drop_duplicates("subject").set_index("subject")
    total, used, missing = 0.0, [], []
    for sign, key in keys:
        if key in cur.index and pd.notna(cur.loc[key, "count"]):
            total += sign * float(cur.loc[key, "count"])
            used.append(("-" if sign < 0 else "") + key)
        else:
            missing.append(key)
    if not used or all(k.startswith("-") for k in used):
        return np.nan, np.nan, year, used, missing
    base = pd.to_numeric(cur["base"], errors="coerce").dropna()
    residents = float(base.iloc[0]) if len(base) else np.nan
    return max(total, 0.0), residents, year, used, missing


def _row(estimates: pd.DataFrame, item: str, code: int) -> pd.Series | None:
    sel = estimates[(estimates["item"].astype(str) == item) & (estimates["group_var"].fillna("").astype(str) == "")
                    & (estimates["category"].astype(str) == str(code)) & (estimates["kind"] == "distribution")]
    return None if sel.empty else sel.iloc[0]


def _share(estimates: pd.DataFrame, item: str, code: int) -> tuple[float, float, float, float, bool]:
    r = _row(estimates, item, code)
    if r is None:
        return np.nan, np.nan, np.nan, np.nan, True
    hidden = bool(r["suppressed"]) or pd.isna(r["estimate"])
    if hidden:
        return np.nan, np.nan, np.nan, (np.nan if pd.isna(r["n_unweighted"]) else float(r["n_unweighted"])), True
    return (float(r["estimate"]), float(r["lower"]), float(r["upper"]),
            np.nan if pd.isna(r["n_unweighted"]) else float(r["n_unweighted"]), False)


def _odds_against(r: float) -> float:
    return (1 - r) / r if r > 0 else np.nan


def dark_figure(estimates: pd.DataFrame, pks: pd.DataFrame | None, population_16plus: float,
                offences: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per offence type (:data:`DARK_FIGURE_COLUMNS`).

    ``estimates``: disclosure-controlled tidy estimates (:mod:`kit.survey.estimates` format);
    ``pks``: stage-1 ``pks_cases`` rows (subject, year, count, base) or None;
    ``population_16plus``: residents aged 16+ (register) the prevalence is scaled to.
    Offences whose victim item is not among the estimates are left out."""
    offences = load_offence_map() if offences is None else offences
    items = set(estimates["item"].astype(str))
    rows = []
    for o in offences.itertuples(index=False):
        if o.victim_item not in items:
            continue
        code = int(o.yes_code)
        p, p_lo, p_hi, p_n, p_hidden = _share(estimates, o.victim_item, code)
        r, r_lo, r_hi, r_n, r_hidden = _share(estimates, o.reported_item, code)
        cases, residents, year, used, missing = pks_cases(pks, parse_keys(o.bka_keys))
        pop = float(population_16plus) if population_16plus else np.nan
        victims = p * pop
        ratio_ok = not p_hidden and pd.notna(cases) and cases > 0
        rows.append({
            "offence": o.offence, "label": o.label, "victim_item": o.victim_item,
            "prevalence": p, "prevalence_lower": p_lo, "prevalence_upper": p_hi, "prevalence_n": p_n,
            "prevalence_suppressed": p_hidden,
            "reporting_rate": r, "reporting_lower": r_lo, "reporting_upper": r_hi, "reporting_n": r_n,
            "reporting_suppressed": r_hidden,
            # not reported per reported: decreasing in r, so the bounds swap
            "unreported_per_reported": np.nan if r_hidden else _odds_against(r),
            "unreported_lower": np.nan if r_hidden else _odds_against(r_hi),
            "unreported_upper": np.nan if r_hidden else _odds_against(r_lo),
            "population_16plus": pop, "victims": victims, "victims_lower": p_lo * pop, "victims_upper": p_hi * pop,
            "pks_year": year, "pks_cases": cases, "pks_population": residents,
            "pks_per_1000": cases / residents * 1000 if pd.notna(cases) and residents and residents > 0 else np.nan,
            "victims_per_1000_16plus": p * 1000, "victims_per_1000_lower": p_lo * 1000,
            "victims_per_1000_upper": p_hi * 1000,
            "ratio": victims / cases if ratio_ok else np.nan,
            "ratio_lower": p_lo * pop / cases if ratio_ok else np.nan,
            "ratio_upper": p_hi * pop / cases if ratio_ok else np.nan,
            "keys_used": " ".join(used), "keys_missing": " ".join(missing),
        })
    df = pd.DataFrame(rows, columns=DARK_FIGURE_COLUMNS)
    for col in ("prevalence_n", "reporting_n", "pks_year"):
        df[col] = pd.array(pd.to_numeric(df[col], errors="coerce"), dtype="Float64").round().astype("Int64")
    return df


__all__ = ["DARK_FIGURE_COLUMNS", "OFFENCE_FILE", "dark_figure", "load_offence_map", "parse_keys", "pks_cases"]
