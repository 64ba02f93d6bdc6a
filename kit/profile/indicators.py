"""Stage 1 (Gebietsprofil): indicators of the area profile as pure functions.

Every function takes validated, typed DataFrames whose columns are those of
``data_schemas/*.yaml`` and returns a new DataFrame; nothing is printed,
plotted or written.

Most results are *indicator tables*: one tidy row per indicator, year,
district and subject, with the columns in :data:`indicator_columns`::

    indicator      machine id, e.g. "owi_per_1000"
    label          German label, e.g. "Ordnungswidrigkeiten je 1.000 Einwohner"
    unit           German unit, e.g. "je 1.000 Einw."
    year           Int64; <NA> for multi-year values
    period         "2022" or "2020–2022"
    district_id    "" for the whole commune
    subject        category, type or Straftatenschlüssel; "" for all/none
    subject_label  German label of the subject
    value          the indicator value
    lower, upper   interval (NaN when there is none)
    count          the underlying count (cases, clubs, EUR ...)
    base           the denominator (population; for shares the base count)
    base_year      Int64; year (31.12.) of the population used as base, <NA>
                   when the base is no population
    expected       trend rows: the count expected without change (level of the
                   previous years, population-adjusted); else NaN
    reference      reference rows: the reference value compared with; else NaN
    flag           "" or a machine flag: rise, fall, within_chance,
                   above_reference, below_reference, like_reference
    note           "" or note codes joined by ";" (see :data:`NOTE_CODES`)

Numbers before words: these tables hold numbers, flags, codes and labels
(offence labels, categories), never formatted numbers or sentences. The
German wording of flags and note codes lives in :mod:`kit.profile.view`.

Population conventions: residents are main residents at 31.12. of each year
(schema ``residents``). Rates of a year use the population at 31.12. of the
same year (OWi, education, BOS, clubs); PKS uses the BKA convention of the
previous year (see :mod:`kit.profile.pks`). When the wanted year is missing the
nearest available year is used (note code ``population_fallback``, ``base_year``
names the year used).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from kit.errors import DataError, ParamsError
from kit.profile.early_warning import DEFAULT_RULE, EarlyWarningRule, early_warning
from scipy import stats


# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

indicator_columns: list[str] = [
    "indicator", "label", "unit", "year", "period", "district_id", "subject",
    "subject_label", "value", "lower", "upper", "count", "base", "base_year", "expected", "reference",
    "flag", "note",
]
INDICATOR_COLUMNS = indicator_columns  # alias in constant style

_STR_COLUMNS = ["indicator", "label", "unit", "period", "district_id", "subject", "subject_label", "flag", "note"]
_FLOAT_COLUMNS = ["value", "lower", "upper", "count", "base", "expected", "reference"]
_INT_COLUMNS = ["year", "base_year"]

REGISTER_AGE_GROUPS: list[str] = [
    "0-5", "6-15", "16-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+",
]
SEXES: list[str] = ["m", "w", "d"]
UNDER_18 = frozenset({"0-5", "6-15", "16-17"})
AGED_65_PLUS = frozenset({"65-74", "75-84", "85+"})

SURVEY_AGE_GROUPS: list[str] = ["16-34", "35-54", "55-74", "75+"]
# Register age group -> survey weighting group (0-5 and 6-15 are outside the survey).
SURVEY_AGE_MAP: dict[str, str] = {
    "16-17": "16-34", "18-24": "16-34", "25-34": "16-34",
    "35-44": "35-54", "45-54": "35-54",
    "55-64": "55-74", "65-74": "55-74",
    "75-84": "75+", "85+": "75+",
}
SURVEY_SEXES: list[str] = ["m", "w"]

PREVENTION_TOPICS: list[str] = [
    "Gewalt", "Sucht/Alkohol", "Verkehr", "Sauberkeit/Ordnung", "Einbruchschutz", "Jugend",
    "Senioren", "Nachbarschaft", "Extremismus", "Häusliche Gewalt", "Cybercrime", "Sonstiges",
]

# Flags that make an indicator row count as evidence of a problem.
PROBLEM_FLAGS: tuple[str, ...] = ("rise", "above_reference")

# (indicator family, subject) -> prevention topic. The family is the part of
# the indicator id before the first "_" ("owi", "pks"). Deliberately short:
# only links that hold in general; analysts add problems by hand (e.g. from
# the survey) by appending rows to the problems table.
TOPIC_RULES: dict[tuple[str, str], str] = {
    ("owi", "Abfall/Vermüllung"): "Sauberkeit/Ordnung",
    ("owi", "Hunde"): "Sauberkeit/Ordnung",
    ("owi", "Sondernutzung"): "Sauberkeit/Ordnung",
    ("owi", "Lärm"): "Nachbarschaft",
    ("owi", "Parken"): "Verkehr",
    ("owi", "Alkoholkonsumverbot"): "Sucht/Alkohol",
    ("owi", "Jugendschutz"): "Jugend",
    ("pks", "892000"): "Gewalt",        # Gewaltkriminalität
    ("pks", "210000"): "Gewalt",        # Raub
    ("pks", "220000"): "Gewalt",        # Körperverletzung
    ("pks", "222000"): "Gewalt",        # gefährliche und schwere Körperverletzung
    ("pks", "224000"): "Gewalt",        # vorsätzliche einfache Körperverletzung
    ("pks", "674000"): "Sauberkeit/Ordnung",  # Sachbeschädigung
    ("pks", "899500"): "Sauberkeit/Ordnung",  # Graffiti
    ("pks", "435*00"): "Einbruchschutz",      # Wohnungseinbruchdiebstahl
    ("pks", "436*00"): "Einbruchschutz",      # Tageswohnungseinbruch
    ("pks", "897000"): "Cybercrime",
    ("pks", "891000"): "Sucht/Alkohol",       # Rauschgiftkriminalität (Kontrolldelikt)
    ("pks", "730000"): "Sucht/Alkohol",       # Rauschgiftdelikte (Kontrolldelikt)
}

# Note codes of the indicator tables (column ``note``, several joined by ";").
# The numbers a note refers to are in the row itself (year, period, base_year,
# expected, lower, upper, reference); kit.profile.view words them in German.
POPULATION_FALLBACK = "population_fallback"    # population of base_year used, the wanted year is missing
POPULATION_MISSING = "population_missing"      # no population at all: no rate
NO_DISTRICT_POPULATION = "no_district_population"
TREND_NO_VALUES = "trend_no_values"
TREND_MISSING_YEARS = "trend_missing_years"    # too few previous years in the window (period) for the early warning
TREND_POPULATION_MISSING = "trend_population_missing"
TREND_NO_BASE_COUNTS = "trend_no_base_counts"  # no case in any previous year: no level to compare with
OWI_ENFORCEMENT = "owi_enforcement"            # OWi counts also mirror how often the office checks
MEMBERS_ELSEWHERE = "members_elsewhere"        # club members need not live in the commune
OVER_CAPACITY = "over_capacity"                # occupancy above places
VOLUNTEER_MEMBERS = "volunteer_members"        # volunteer fire brigade: members, not posts
NOTE_CODES: tuple[str, ...] = (
    POPULATION_FALLBACK, POPULATION_MISSING, NO_DISTRICT_POPULATION, TREND_NO_VALUES, TREND_MISSING_YEARS,
    TREND_POPULATION_MISSING, TREND_NO_BASE_COUNTS, OWI_ENFORCEMENT, MEMBERS_ELSEWHERE, OVER_CAPACITY,
    VOLUNTEER_MEMBERS,
    # kit.profile.pks
    "control_offence", "clearance_earlier_years", "mean_fewer_years", "reference_hz_missing",
)

# ---------------------------------------------------------------------------
# Indicator tables
# ---------------------------------------------------------------------------


def empty_indicators() -> pd.DataFrame:
    """An indicator table with no rows and the right columns and dtypes."""
    return make_indicators([])


def make_indicators(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Build an indicator table from dicts; missing keys get defaults
    ("" for text, NaN for numbers, <NA> for year)."""
    rows = list(rows)
    data = {}
    for col in indicator_columns:
        if col in _STR_COLUMNS:
            data[col] = pd.Series([_text(r.get(col, "")) for r in rows], dtype="str")
        elif col in _INT_COLUMNS:
            data[col] = pd.Series([_year(r.get(col)) for r in rows], dtype="Int64")
        else:
            data[col] = pd.Series([_float(r.get(col)) for r in rows], dtype="float64")
    return pd.DataFrame(data, columns=indicator_columns)


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _year(value):
    if value is None or pd.isna(value):
        return pd.NA
    return int(value)


def _float(value) -> float:
    if value is None or pd.isna(value):
        return math.nan
    return float(value)


def format_period(years: Iterable[int]) -> str:
    """'2022', '2020–2022' for consecutive years, else '2018, 2020, 2021'."""
    ys = sorted({int(y) for y in years})
    if not ys:
        return ""
    if len(ys) == 1:
        return str(ys[0])
    if ys == list(range(ys[0], ys[-1] + 1)):
        return f"{ys[0]}–{ys[-1]}"
    return ", ".join(str(y) for y in ys)


def _join_notes(*codes: str) -> str:
    """Note codes joined by ";" (each once, in order; empty ones dropped)."""
    parts = [p.strip() for c in codes if c for p in str(c).split(";") if p.strip()]
    return ";".join(dict.fromkeys(parts))


def note_codes(note: str) -> list[str]:
    """The codes of a ``note`` cell ("" -> [])."""
    return [p for p in str(note or "").split(";") if p]


# ---------------------------------------------------------------------------
# Statistics helpers
# ---------------------------------------------------------------------------


def rate_per(count, population, per: float):
    """count * per / population; NaN where the population is 0 or missing.

    Scalars give a float, Series give a Series (index of ``count`` when it is
    a Series), anything else an ndarray.
    """
    index = count.index if isinstance(count, pd.Series) else (
        population.index if isinstance(population, pd.Series) else None)
    c = np.asarray(pd.Series(count).astype("float64") if isinstance(count, pd.Series) else count, dtype="float64")
    p = np.asarray(pd.Series(population).astype("float64") if isinstance(population, pd.Series) else population,
                   dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(p > 0, c * per / p, np.nan)
    if index is not None:
        return pd.Series(out, index=index)
    return float(out) if out.ndim == 0 else out


def poisson_interval(count, conf: float = 0.95):
    """Exact (Garwood) interval for a Poisson mean given an observed count.

    lower = chi2.ppf(a/2, 2x) / 2 (0 for x = 0), upper = chi2.ppf(1 - a/2, 2x + 2) / 2
    with a = 1 - conf. Returns (lower, upper) as floats or arrays.
    """
    x = np.asarray(count, dtype="float64")
    a = 1.0 - conf
    with np.errstate(invalid="ignore"):
        # chi2 with 0 degrees of freedom is undefined (nan): x = 0 gets lower 0
        lower = np.where(x == 0, 0.0, stats.chi2.ppf(a / 2, 2 * x) / 2)
        upper = stats.chi2.ppf(1 - a / 2, 2 * x + 2) / 2
    if x.ndim == 0:
        return float(lower), float(upper)
    return lower, upper


def early_warning_trends(counts: pd.DataFrame, group: str, population=None,
                         rule: EarlyWarningRule = DEFAULT_RULE) -> dict[str, dict]:
    """Early warning for the latest year of several yearly series of one kind.

    ``counts``: long table with columns ``subject``, ``year`` and ``count``
    (one row per subject and year). ``group`` names the kind of series ("pks",
    "owi"): the year-to-year variability is estimated from all series passed
    together, so pass the series of one kind in one call and never mix PKS
    and OWi. ``population``: {year: population} (or a Series) used as offset,
    so a growing town is not flagged for growing; None or any missing year:
    no offset.

    The rule is :func:`kit.profile.early_warning.early_warning` (negative
    binomial variability pooled over the group, up to ``rule.max_years``
    previous years, at least ``rule.min_years``); its statement and measured
    false-alarm rate are :data:`kit.profile.early_warning.RULE` and
    :data:`~kit.profile.early_warning.CALIBRATION`.

    Returns {subject: dict} with year (latest), period (the previous years
    used, or when too few: the window of ``max_years`` years before),
    count, expected (count expected without change), lower, upper (the range
    expected without change), flag ("rise", "fall", "within_chance" or "" when
    not evaluable), note (a trend note code or ""), available (previous years
    present in the window, list of int), z and p_value.
    """
    c = pd.DataFrame({"series": counts["subject"].astype("str").to_numpy(),
                      "year": pd.to_numeric(counts["year"]).astype("int64").to_numpy(),
                      "count": pd.to_numeric(counts["count"]).astype("float64").to_numpy()})
    c = c[c["count"].notna()]
    if c.empty:
        return {}
    c["group"] = str(group)
    if population is not None:
        pop = pd.Series(population)
        pop.index = pop.index.astype(int)
        pop = pop.astype("float64")
        values = c["year"].map(pop)
        if values.notna().all() and (values > 0).all():
            c["population"] = values.to_numpy()
    ew = early_warning(c, rule).set_index("series")
    out: dict[str, dict] = {}
    for subject, g in c.groupby("series", sort=False):
        r = ew.loc[subject]
        latest = int(r["latest_year"])
        window = range(latest - rule.max_years, latest)
        available = sorted(int(y) for y in g["year"] if int(y) in window)
        flag = _EW_FLAGS.get(str(r["flag"]), "")
        note = "" if flag else _EW_REASONS.get(str(r["reason"]), TREND_MISSING_YEARS)
        evaluated = bool(flag)
        out[str(subject)] = {
            "year": latest, "period": format_period(available if evaluated else window),
            "count": float(r["observed"]),
            "expected": float(r["expected"]) if evaluated else math.nan,
            "lower": float(r["lower"]) if evaluated else math.nan,
            "upper": float(r["upper"]) if evaluated else math.nan,
            "flag": flag, "note": note, "available": available,
            "z": float(r["z"]) if evaluated else math.nan,
            "p_value": float(r["p_value"]) if evaluated else math.nan,
        }
    return out


# early_warning flag -> indicator-table flag; reason -> note code
_EW_FLAGS = {"rise": "rise", "fall": "fall", "none": "within_chance"}
_EW_REASONS = {"too_few_years": TREND_MISSING_YEARS, "population_missing": TREND_POPULATION_MISSING,
               "no_base_counts": TREND_NO_BASE_COUNTS}


# ---------------------------------------------------------------------------
# Population
# ---------------------------------------------------------------------------


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    """Copy with plain dtypes: text as str, count as float."""
    out = df.copy()
    if "age_group" not in out.columns:  # residents without age groups (e.g. Dresden's open data)
        out["age_group"] = None
    for col in ("district_id", "age_group", "sex", "nationality"):
        if col in out.columns:
            out[col] = out[col].astype("str").where(out[col].notna(), None)
    out["year"] = out["year"].astype("int64")
    out["count"] = out["count"].astype("float64").fillna(0.0)
    return out


def _group_counts(res: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts behind the population shares, by ``by``: total, m, w, d,
    under18, aged65plus and, when nationality is given, nongerman and
    known_nationality (residents whose nationality is stated)."""
    out = res.groupby(by, sort=True)["count"].sum().rename("total").to_frame()
    by_sex = res.pivot_table(index=by, columns="sex", values="count", aggfunc="sum", fill_value=0.0)
    for sex in SEXES:
        out[sex] = by_sex[sex].reindex(out.index, fill_value=0.0) if sex in by_sex.columns else 0.0
    u18 = res[res["age_group"].isin(UNDER_18)].groupby(by)["count"].sum()
    o65 = res[res["age_group"].isin(AGED_65_PLUS)].groupby(by)["count"].sum()
    out["under18"] = u18.reindex(out.index, fill_value=0.0)
    out["aged65plus"] = o65.reindex(out.index, fill_value=0.0)
    if not has_age_groups(res):  # unknown, not zero: the shares by age stay NaN
        out["under18"] = out["aged65plus"] = np.nan
    if "nationality" in res.columns and res["nationality"].notna().any():
        known = res[res["nationality"].notna()]
        out["known_nationality"] = known.groupby(by)["count"].sum().reindex(out.index, fill_value=0.0)
        foreign = known[known["nationality"] == "nichtdeutsch"].groupby(by)["count"].sum()
        out["nongerman"] = foreign.reindex(out.index, fill_value=0.0)
    return out


def has_age_groups(residents: pd.DataFrame) -> bool:
    """Whether the residents table gives age groups (the column is optional in the schema)."""
    return "age_group" in residents.columns and bool(residents["age_group"].notna().any())


def _summarise(res: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Totals by sex, shares of under-18 / 65+ / women / non-Germans (in %)."""
    counts = _group_counts(res, by)
    out = counts[["total", *SEXES]].copy()
    out["share_under18_pct"] = rate_per(counts["under18"], counts["total"], 100)
    out["share_65plus_pct"] = rate_per(counts["aged65plus"], counts["total"], 100)
    out["share_female_pct"] = rate_per(counts["w"], counts["total"], 100)
    if "nongerman" in counts.columns:
        out["share_nongerman_pct"] = rate_per(counts["nongerman"], counts["known_nationality"], 100)
    for col in ["total", *SEXES]:
        out[col] = out[col].round().astype("Int64")
    return out.reset_index()


def population_totals(residents: pd.DataFrame) -> pd.DataFrame:
    """Population of the whole commune per year.

    Columns: year, total, m, w, d, share_under18_pct, share_65plus_pct,
    share_female_pct, share_nongerman_pct (only when the nationality column is present; share
    of residents with known nationality), change (absolute change against the
    previous calendar year; <NA> when that year is missing), change_pct.
    """
    res = _counts(residents)
    out = _summarise(res, ["year"])
    out["year"] = out["year"].astype("Int64")
    prev = out.set_index("year")["total"].astype("float64")
    previous = [prev.get(int(y) - 1, np.nan) for y in out["year"]]
    out["change"] = (out["total"].astype("float64") - np.array(previous, dtype="float64"))
    out["change_pct"] = rate_per(out["change"], pd.Series(previous, index=out.index), 100)
    out["change"] = out["change"].round().astype("Int64")
    return out


def _latest_year(df: pd.DataFrame, year: int | None) -> int:
    years = sorted(int(y) for y in df["year"].dropna().unique())
    if not years:
        raise DataError("Die Tabelle enthält keine Jahre.")
    if year is None:
        return years[-1]
    if int(year) not in years:
        raise DataError(f"Jahr {year} ist nicht in den Daten (vorhanden: {', '.join(map(str, years))}).")
    return int(year)


def population_by_district(residents: pd.DataFrame, year: int | None = None) -> pd.DataFrame:
    """Population per district in one year (default: latest).

    Columns: year, district_id, total, m, w, d, share_under18_pct,
    share_65plus_pct, share_female_pct, [share_nongerman_pct],
    share_of_commune_pct.
    """
    res = _counts(residents)
    year = _latest_year(res, year)
    out = _summarise(res[res["year"] == year], ["district_id"])
    out["share_of_commune_pct"] = rate_per(out["total"].astype("float64"), float(out["total"].sum()), 100)
    out.insert(0, "year", pd.array([year] * len(out), dtype="Int64"))
    return out


_POPULATION_SHARES = [
    # indicator id, German label, count column, base column
    ("population_share_under18", "Anteil unter 18 Jahren", "under18", "total"),
    ("population_share_65plus", "Anteil ab 65 Jahren", "aged65plus", "total"),
    ("population_share_female", "Frauenanteil", "w", "total"),
    ("population_share_nongerman", "Anteil nichtdeutscher Einwohner", "nongerman", "known_nationality"),
]


def population_indicators(residents: pd.DataFrame) -> pd.DataFrame:
    """Population as indicator rows, every year, for the commune (district_id
    "") and each district: ``population`` (residents at 31.12.) and the shares
    in % ``population_share_under18``, ``population_share_65plus``,
    ``population_share_female`` and, where nationality is given,
    ``population_share_nongerman`` (base: residents with known nationality).
    count = residents in the group, base = residents of the unit. Written to
    the results so other communes and stage 3 can compare without the
    register file.
    """
    res = _counts(residents)
    rows = []
    for by, district_of in ((["year"], lambda key: ""), (["year", "district_id"], lambda key: key[1])):
        counts = _group_counts(res, by)
        for key, r in counts.iterrows():
            key = key if isinstance(key, tuple) else (key,)
            year, district = int(key[0]), district_of(key)
            common = dict(year=year, period=str(year), district_id=district)
            rows.append(dict(common, indicator="population", label="Einwohner (Hauptwohnsitz, 31.12.)",
                             unit="Personen", value=r["total"], count=r["total"]))
            for indicator, label, part, base in _POPULATION_SHARES:
                if part not in counts.columns or pd.isna(r[part]):  # e.g. no age groups
                    continue
                rows.append(dict(common, indicator=indicator, label=label, unit="%",
                                 value=rate_per(r[part], r[base], 100), count=r[part], base=r[base]))
    return make_indicators(rows)


def age_pyramid(residents: pd.DataFrame, year: int | None = None, district_id: str | None = None) -> pd.DataFrame:
    """Counts by age group and sex for one year (default latest), whole
    commune or one district.

    Columns: age_group (ordered categorical, young to old), sex, count,
    share_pct (of everyone in the selection). All age groups appear for m and
    w (0 where empty). Residents with sex "d" are few and cannot be drawn on a
    two-sided pyramid: they come as separate rows with sex "d" (only age groups
    with at least one person); plots show m/w and state the d total in words.
    """
    res = _counts(residents)
    year = _latest_year(res, year)
    res = res[res["year"] == year]
    if not has_age_groups(res):  # no age groups: no pyramid (the report says so)
        out = pd.DataFrame({"age_group": pd.Categorical([], categories=REGISTER_AGE_GROUPS, ordered=True),
                            "sex": pd.Series([], dtype="str"), "count": pd.array([], dtype="Int64"),
                            "share_pct": pd.Series([], dtype="float64")})
        return out
    if district_id is not None:
        if str(district_id) not in set(res["district_id"]):
            raise DataError(f"Stadtteil '{district_id}' kommt im Jahr {year} in den Einwohnerdaten nicht vor.")
        res = res[res["district_id"] == str(district_id)]
    counts = res.groupby(["age_group", "sex"])["count"].sum()
    rows = []
    for sex in SEXES:
        for age in REGISTER_AGE_GROUPS:
            n = float(counts.get((age, sex), 0.0))
            if sex == "d" and n == 0:
                continue
            rows.append({"age_group": age, "sex": sex, "count": n})
    out = pd.DataFrame(rows, columns=["age_group", "sex", "count"])
    total = float(res["count"].sum())
    out["share_pct"] = rate_per(out["count"], total, 100)
    out["age_group"] = pd.Categorical(out["age_group"], categories=REGISTER_AGE_GROUPS, ordered=True)
    out["count"] = out["count"].round().astype("Int64")
    return out.reset_index(drop=True)


OPEN_BAND_YEARS = 10  # the open register group "85+" is drawn over 85 to 94 years


def age_band_limits(age_group: str) -> tuple[int, int]:
    """Ages a register group covers, upper limit exclusive: '25-34' -> (25, 35), '16-17' ->
    (16, 18), '85+' -> (85, 85 + OPEN_BAND_YEARS)."""
    text = str(age_group).strip()
    if text.endswith("+"):
        start = int(text[:-1])
        return start, start + OPEN_BAND_YEARS
    a, b = text.split("-", 1)
    return int(a), int(b) + 1


def age_bands(pyramid: pd.DataFrame, policy=None) -> pd.DataFrame:
    """The pyramid of :func:`age_pyramid` (m and w) on a true age axis, for drawing.

    The register groups differ in width (2 to 10 years) and their limits (0, 6, 16, 18, 25, …)
    admit no common width, so the comparable quantity is residents per year of age: count /
    width. Drawn over the ages it covers, each bar's area is then proportional to its residents.

    Columns: age_group, sex (m, w), age_from, age_to (exclusive), width (years), count (Int64,
    <NA> when hidden), per_year (NaN when hidden), hidden (bool).

    ``policy`` (:class:`kit.disclosure.DisclosurePolicy`): counts of 1 to min_cell - 1 residents
    are hidden, and so are the counts that would give them back (each sex sums over the groups
    to the published total by sex; the sum m + w of a group is treated as known).
    """
    mw = pyramid[pyramid["sex"].isin(["m", "w"])].copy()
    mw["age_group"] = mw["age_group"].astype(str)
    groups = [g for g in REGISTER_AGE_GROUPS if g in set(mw["age_group"])]
    wide = (mw.pivot_table(index="age_group", columns="sex", values="count", aggfunc="sum")
            .reindex(index=groups, columns=["m", "w"]).astype(float).fillna(0.0))
    hidden = pd.DataFrame(False, index=wide.index, columns=["m", "w"])
    if policy is not None and len(wide):
        frame = wide.copy()
        frame.loc["__all__"] = wide.sum()
        frame["mw"] = frame["m"] + frame["w"]
        mask = policy.resident_counts(frame, ["m", "w"], "mw", sum_row="__all__")
        hidden = mask.loc[groups, ["m", "w"]].astype(bool)
    rows = []
    for sex in ("m", "w"):
        for group in groups:
            start, stop = age_band_limits(group)
            n, h = float(wide.loc[group, sex]), bool(hidden.loc[group, sex])
            rows.append({"age_group": group, "sex": sex, "age_from": start, "age_to": stop, "width": stop - start,
                         "count": np.nan if h else n, "per_year": np.nan if h else n / (stop - start), "hidden": h})
    out = pd.DataFrame(rows, columns=["age_group", "sex", "age_from", "age_to", "width", "count", "per_year",
                                      "hidden"])
    out["count"] = out["count"].round().astype("Int64")
    return out


def survey_population_margins(residents: pd.DataFrame, year: int | None = None,
                              diverse: str = "distribute") -> pd.DataFrame:
    """Population aged 16+ by district x survey age group x sex (m/w), the
    margins for survey weighting. Latest year by default.

    Survey groups: 16-34 (16-17, 18-24, 25-34), 35-54, 55-74, 75+.
    The survey records sex as m/w only, so residents registered as "d" must
    go somewhere. ``diverse="distribute"`` (default) spreads them over m and w
    in proportion to m and w in the same district and register age group
    (half and half when both are 0), so the margins still add up to the 16+
    population; ``diverse="drop"`` leaves them out. The difference is tiny
    (d is a few dozen people in a town). Populations are floats because
    distributing gives fractions.

    Columns: district_id, age_group, sex, population (every combination of
    the districts present, the four age groups and m/w).
    """
    if diverse not in ("distribute", "drop"):
        raise ParamsError("diverse muss 'distribute' oder 'drop' sein.")
    res = _counts(residents)
    year = _latest_year(res, year)
    if not has_age_groups(res[res["year"] == year]):  # no age groups: no margins to weight by age
        return pd.DataFrame({"district_id": pd.Series([], dtype="str"), "age_group": pd.Series([], dtype="str"),
                             "sex": pd.Series([], dtype="str"), "population": pd.Series([], dtype="float64")})
    res = res[(res["year"] == year) & res["age_group"].isin(SURVEY_AGE_MAP)]
    cells = res.pivot_table(index=["district_id", "age_group"], columns="sex", values="count",
                            aggfunc="sum", fill_value=0.0)
    for sex in SEXES:
        if sex not in cells.columns:
            cells[sex] = 0.0
    m, w, d = cells["m"].astype(float), cells["w"].astype(float), cells["d"].astype(float)
    if diverse == "distribute":
        mw = m + w
        share_m = np.where(mw > 0, m / mw.where(mw > 0, 1.0), 0.5)
        m = m + d * share_m
        w = w + d * (1 - share_m)
    long = pd.DataFrame({"m": m, "w": w}).reset_index()
    long["age_group"] = long["age_group"].map(SURVEY_AGE_MAP)
    long = long.groupby(["district_id", "age_group"])[["m", "w"]].sum()
    districts = sorted(res["district_id"].unique(), key=_natural_key)
    full = pd.MultiIndex.from_product([districts, SURVEY_AGE_GROUPS], names=["district_id", "age_group"])
    long = long.reindex(full, fill_value=0.0)
    out = long.stack().rename("population").reset_index().rename(columns={"level_2": "sex"})
    out.columns = ["district_id", "age_group", "sex", "population"]
    out["population"] = out["population"].astype("float64")
    return out.reset_index(drop=True)


def natural_key(text: str):
    """Sort '2' before '10' but keep text ids sortable."""
    s = str(text)
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


_natural_key = natural_key  # older name used inside this module


def _population_series(population_totals: pd.DataFrame | pd.Series) -> pd.Series:
    if isinstance(population_totals, pd.Series):
        pop = population_totals.copy()
    else:
        pop = population_totals.set_index("year")["total"]
    pop.index = pop.index.astype(int)
    return pop.astype("float64")


def population_for_year(pop: pd.Series, year: int, lag: int = 0) -> tuple[float, int | None, str]:
    """Population at 31.12. of ``year - lag``; if missing, of the nearest
    available year (later one on ties). Returns (population, year used, note
    code: "" or ``population_fallback``; ``population_missing`` without any)."""
    wanted = int(year) - lag
    if wanted in pop.index and pop[wanted] > 0:
        return float(pop[wanted]), wanted, ""
    available = [y for y in pop.index if pop[y] > 0]
    if not available:
        return math.nan, None, POPULATION_MISSING
    used = min(available, key=lambda y: (abs(y - wanted), -y))
    return float(pop[used]), int(used), POPULATION_FALLBACK


# ---------------------------------------------------------------------------
# OWi, clubs, accommodation, BOS, education
# ---------------------------------------------------------------------------


def owi_rates(owi: pd.DataFrame, population_totals: pd.DataFrame | pd.Series,
              conf: float = 0.95) -> pd.DataFrame:
    """Administrative offences per 1,000 residents by category and year.

    Rows: ``owi_per_1000`` per category and year plus the sum of all
    categories (subject ""), with the exact Poisson interval of the rate;
    ``owi_trend`` for the latest year per category and in total (early
    warning of :func:`early_warning_trends`, the categories and the total
    pooled as one group "owi", population-adjusted). Population: 31.12. of
    the same year.

    A category's series starts in the first year it was recorded: rows with
    an empty count (and years without a row) are "not recorded" (e.g. an
    alcohol ban not yet in force) and are left out of its rates, of the
    total of that year and of the early warning's base years; a count of 0
    is a recorded zero and is kept (data_schemas/owi.yaml).
    """
    pop = _population_series(population_totals)
    df = owi.copy()
    df["year"] = df["year"].astype(int)
    df["category"] = df["category"].astype(str)
    df["count"] = df["count"].astype("float64")
    df = df[df["count"].notna()]  # empty = not recorded that year, not a zero
    by_cat = df.groupby(["category", "year"])["count"].sum()
    total = df.groupby("year")["count"].sum()
    series = {c: by_cat.loc[c] for c in by_cat.index.get_level_values(0).unique()}
    series[""] = total
    years_pop = {int(y): population_for_year(pop, y, 0)[0] for y in total.index}
    trends = early_warning_trends(
        pd.DataFrame([(subject, int(y), float(n)) for subject, s in series.items() for y, n in s.items()],
                     columns=["subject", "year", "count"]), "owi", population=years_pop)
    rows = []
    for subject, s in series.items():
        label = subject if subject else "alle Kategorien"
        for year, n in s.items():
            base, used, pnote = population_for_year(pop, year, lag=0)
            lo, hi = poisson_interval(n, conf)
            rows.append(dict(indicator="owi_per_1000", label="Ordnungswidrigkeiten je 1.000 Einwohner",
                             unit="je 1.000 Einw.", year=year, period=str(year), subject=subject,
                             subject_label=label, value=rate_per(n, base, 1000), lower=rate_per(lo, base, 1000),
                             upper=rate_per(hi, base, 1000), count=n, base=base, base_year=used, note=pnote))
        tr = trends.get(subject)
        if tr is None:  # no year recorded at all (every count empty)
            continue
        rows.append(dict(indicator="owi_trend", label="Ordnungswidrigkeiten: Entwicklung",
                         unit="Anzahl", year=tr["year"], period=tr["period"], subject=subject, subject_label=label,
                         value=tr["count"], lower=tr["lower"], upper=tr["upper"], count=tr["count"],
                         base=years_pop.get(tr["year"], math.nan), expected=tr["expected"], flag=tr["flag"],
                         note=_join_notes(tr["note"], OWI_ENFORCEMENT if tr["flag"] else "")))
    return make_indicators(rows)


def _district_population(residents: pd.DataFrame, year: int) -> pd.Series:
    res = _counts(residents)
    return res[res["year"] == year].groupby("district_id")["count"].sum()


def club_rates(clubs: pd.DataFrame, residents: pd.DataFrame, year: int | None = None) -> pd.DataFrame:
    """Clubs per 1,000 residents by type and district (population of ``year``,
    default the latest).

    Rows ``clubs_per_1000``: every district x type seen (0 where none), the
    district over all types (subject ""), the commune by type and in total
    (district_id ""). When the members column is present,
    ``club_members_per_1000`` for the commune by type and in total: members
    may live elsewhere and are counted per club, so this is a rough measure;
    the note says for how many clubs the number is known.
    """
    year = _latest_year(_counts(residents), year)
    dpop = _district_population(residents, year)
    commune_pop = float(dpop.sum())
    c = clubs.copy()
    c["type"] = c["type"].astype(str)
    c["district_id"] = c["district_id"].astype(str)
    districts = sorted(set(dpop.index) | set(c["district_id"]), key=_natural_key)
    types = sorted(c["type"].unique())
    counts = c.groupby(["district_id", "type"]).size()
    rows = []

    def add(district, subject, n, base):
        note = "" if base > 0 else NO_DISTRICT_POPULATION
        rows.append(dict(indicator="clubs_per_1000", label="Vereine je 1.000 Einwohner", unit="je 1.000 Einw.",
                         year=year, period=str(year), district_id=district, subject=subject,
                         subject_label=subject or "alle Arten", value=rate_per(n, base, 1000),
                         count=n, base=base if base > 0 else math.nan, base_year=year if base > 0 else None,
                         note=note))

    for d in districts:
        base = float(dpop.get(d, 0.0))
        for t in types:
            add(d, t, float(counts.get((d, t), 0)), base)
        add(d, "", float(counts.loc[d].sum()) if d in counts.index.get_level_values(0) else 0.0, base)
    for t in types:
        add("", t, float((c["type"] == t).sum()), commune_pop)
    add("", "", float(len(c)), commune_pop)

    if "members" in c.columns and c["members"].notna().any():
        c["members"] = c["members"].astype("float64")
        for t in [*types, ""]:
            sel = c if t == "" else c[c["type"] == t]
            known = sel["members"].notna()
            if not known.any():
                continue
            n = float(sel.loc[known, "members"].sum())
            common = dict(year=year, period=str(year), subject=t, subject_label=t or "alle Arten")
            rows.append(dict(common, indicator="club_members_per_1000", label="Vereinsmitglieder je 1.000 Einwohner",
                             unit="je 1.000 Einw.", value=rate_per(n, commune_pop, 1000), count=n,
                             base=commune_pop, base_year=year, note=MEMBERS_ELSEWHERE))
            rows.append(dict(common, indicator="clubs_members_known", label="Vereine mit bekannter Mitgliederzahl",
                             unit="Anzahl", value=float(known.sum()), count=float(known.sum()),
                             base=float(len(sel))))
    return make_indicators(rows)


# Facility types whose district must not be published (protected addresses).
PROTECTED_ACCOMMODATION = frozenset({"Frauenschutzhaus"})


def accommodation_summary(accommodation: pd.DataFrame, residents: pd.DataFrame | None = None,
                          year: int | None = None) -> pd.DataFrame:
    """Places, occupancy and facilities by type and district, per year (all
    years, or only ``year``).

    Rows: ``accommodation_facilities`` (number), ``accommodation_places``,
    ``accommodation_occupancy_pct`` (occupancy / places * 100; count =
    occupancy, base = places), and with ``residents``
    ``accommodation_places_per_1000`` (population of the same year).
    Levels: district x type, district over all types (subject ""), commune by
    type and in total (district_id ""). Women's shelters (Frauenschutzhaus)
    are shown only for the whole commune and are left out of district rows,
    because their location is protected.
    """
    acc = accommodation.copy()
    acc["year"] = acc["year"].astype(int)
    for col in ("type", "district_id"):
        acc[col] = acc[col].astype(str)
    for col in ("places", "occupancy"):
        acc[col] = acc[col].astype("float64")
    if year is not None:
        acc = acc[acc["year"] == int(year)]
    rows = []
    for y, ay in acc.groupby("year"):
        dpop = _district_population(residents, y) if residents is not None else None
        cpop = float(dpop.sum()) if dpop is not None and len(dpop) else math.nan
        public = ay[~ay["type"].isin(PROTECTED_ACCOMMODATION)]
        groups: list[tuple[str, str, pd.DataFrame, float]] = []
        for (d, t), g in public.groupby(["district_id", "type"]):
            groups.append((d, t, g, float(dpop.get(d, math.nan)) if dpop is not None else math.nan))
        for d, g in public.groupby("district_id"):
            groups.append((d, "", g, float(dpop.get(d, math.nan)) if dpop is not None else math.nan))
        for t, g in ay.groupby("type"):
            groups.append(("", t, g, cpop))
        groups.append(("", "", ay, cpop))
        for d, t, g, base in groups:
            common = dict(year=y, period=str(y), district_id=d, subject=t, subject_label=t or "alle Arten")
            places, occ = float(g["places"].sum()), float(g["occupancy"].sum())
            rows.append(dict(common, indicator="accommodation_facilities", label="Einrichtungen", unit="Anzahl",
                             value=float(len(g)), count=float(len(g))))
            rows.append(dict(common, indicator="accommodation_places", label="Plätze", unit="Plätze",
                             value=places, count=places))
            rows.append(dict(common, indicator="accommodation_occupancy_pct", label="Auslastung", unit="%",
                             value=rate_per(occ, places, 100), count=occ, base=places,
                             note=OVER_CAPACITY if occ > places else ""))
            if residents is not None:
                rows.append(dict(common, indicator="accommodation_places_per_1000",
                                 label="Plätze je 1.000 Einwohner", unit="je 1.000 Einw.",
                                 value=rate_per(places, base, 1000), count=places, base=base))
    return make_indicators(rows)


# BOS types (schema bos.yaml) by kind of staff: full-time posts vs volunteer members.
BOS_FULLTIME_TYPES: tuple[str, ...] = ("Polizeirevier", "Polizeiposten", "Bürgerpolizist",
                                       "Gemeindlicher Vollzugsdienst", "Berufsfeuerwehr", "Rettungswache")
BOS_VOLUNTEER_TYPES: tuple[str, ...] = ("Freiwillige Feuerwehr",)


def bos_staff_rates(bos: pd.DataFrame, population_totals: pd.DataFrame | pd.Series,
                    year: int | None = None) -> pd.DataFrame:
    """Staff of police, public-order service, fire brigades and rescue per
    10,000 residents, for one year (default latest in ``bos``).

    Rows ``bos_units`` (number of units) per type and over all types (subject
    ""), ``bos_staff_per_10000`` per type (schema order), and the two kinds of
    staff, which are never added up: ``bos_fulltime_per_10000`` (staff of the
    :data:`BOS_FULLTIME_TYPES`: police, public-order service, professional
    fire brigade, rescue) and ``bos_volunteer_per_10000`` (members of the
    :data:`BOS_VOLUNTEER_TYPES`, note ``volunteer_members``), each with
    subject "" and only in a year with units of that kind.
    """
    b = bos.copy()
    b["year"] = b["year"].astype(int)
    b["type"] = b["type"].astype(str)
    b["staff"] = b["staff"].astype("float64")
    year = _latest_year(b, year)
    b = b[b["year"] == year]
    base, used, pnote = population_for_year(_population_series(population_totals), year, lag=0)
    rows = []
    known = [*BOS_FULLTIME_TYPES, *BOS_VOLUNTEER_TYPES]
    types = [t for t in known if t in set(b["type"])] + sorted(set(b["type"]) - set(known))
    for t in types:
        g = b[b["type"] == t]
        common = dict(year=year, period=str(year), subject=t, subject_label=t)
        staff = float(g["staff"].sum())
        note = VOLUNTEER_MEMBERS if t in BOS_VOLUNTEER_TYPES else ""
        rows.append(dict(common, indicator="bos_units", label="Dienststellen/Einheiten", unit="Anzahl",
                         value=float(len(g)), count=float(len(g))))
        rows.append(dict(common, indicator="bos_staff_per_10000", label="Personal je 10.000 Einwohner",
                         unit="je 10.000 Einw.", value=rate_per(staff, base, 10000), count=staff, base=base,
                         base_year=used, note=_join_notes(note, pnote)))
    common = dict(year=year, period=str(year), subject="")
    rows.append(dict(common, subject_label="alle Arten", indicator="bos_units", label="Dienststellen/Einheiten",
                     unit="Anzahl", value=float(len(b)), count=float(len(b))))
    for indicator, kinds, label, note in (
            ("bos_fulltime_per_10000", BOS_FULLTIME_TYPES, "Hauptamtliches Personal je 10.000 Einwohner", ""),
            ("bos_volunteer_per_10000", BOS_VOLUNTEER_TYPES,
             "Mitglieder der Freiwilligen Feuerwehr je 10.000 Einwohner", VOLUNTEER_MEMBERS)):
        g = b[b["type"].isin(kinds)]
        if g.empty:
            continue
        staff = float(g["staff"].sum())
        rows.append(dict(common, subject_label="", indicator=indicator, label=label, unit="je 10.000 Einw.",
                         value=rate_per(staff, base, 10000), count=staff, base=base, base_year=used,
                         note=_join_notes(note, pnote)))
    return make_indicators(rows)


def bos_staff_rates_by_year(bos: pd.DataFrame, population_totals: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """:func:`bos_staff_rates` for every year in ``bos`` (rows of all years)."""
    years = sorted(int(y) for y in bos["year"].dropna().unique())
    parts = [bos_staff_rates(bos, population_totals, year=y) for y in years]
    return pd.concat(parts, ignore_index=True) if parts else empty_indicators()


def education_per_resident(education: pd.DataFrame, population_totals: pd.DataFrame | pd.Series) -> pd.DataFrame:
    """Education spending in EUR per resident, by year and area and in total.

    Rows ``education_eur_per_resident`` (count = EUR, base = population at
    31.12. of the year) and, where posts are given,
    ``education_fte_per_10000`` (full-time equivalents per 10,000 residents).
    """
    pop = _population_series(population_totals)
    e = education.copy()
    e["year"] = e["year"].astype(int)
    e["area"] = e["area"].astype(str)
    e["amount_eur"] = e["amount_eur"].astype("float64")
    has_posts = "posts_fte" in e.columns
    if has_posts:
        e["posts_fte"] = e["posts_fte"].astype("float64")
    rows = []
    for y, ey in e.groupby("year"):
        base, used, pnote = population_for_year(pop, y, lag=0)
        groups = [(a, g) for a, g in ey.groupby("area")] + [("", ey)]
        for a, g in groups:
            common = dict(year=y, period=str(y), subject=a, subject_label=a or "alle Bereiche", base=base,
                          base_year=used, note=pnote)
            amount = float(g["amount_eur"].sum())
            rows.append(dict(common, indicator="education_eur_per_resident", label="Bildungsausgaben je Einwohner",
                             unit="EUR je Einw.", value=rate_per(amount, base, 1), count=amount))
            if has_posts and g["posts_fte"].notna().any():
                fte = float(g["posts_fte"].sum())
                rows.append(dict(common, indicator="education_fte_per_10000", label="Stellen (VZÄ) je 10.000 Einwohner",
                                 unit="VZÄ je 10.000 Einw.", value=rate_per(fte, base, 10000), count=fte))
    return make_indicators(rows)


# ---------------------------------------------------------------------------
# Prevention gaps
# ---------------------------------------------------------------------------


PROBLEM_COLUMNS: list[str] = ["topic", *indicator_columns]


def problem_topics_from_indicators(indicators: pd.DataFrame, rules: Mapping[tuple[str, str], str] | None = None,
                                   flags: Iterable[str] = PROBLEM_FLAGS) -> pd.DataFrame:
    """Prevention topics with a sign of a problem, from indicator flags.

    A row of ``indicators`` is evidence of a problem when its flag is one of
    ``flags`` (default: "rise" = a rise flagged by the early warning, "above_reference" =
    the reference lies below the interval of the own HZ) and ``rules`` (default
    :data:`TOPIC_RULES`) maps (indicator family, subject) to a topic, where
    the family is the indicator id up to the first "_" ("owi", "pks"). For
    example a flagged rise of OWi "Abfall/Vermüllung" gives the topic
    "Sauberkeit/Ordnung". A high value alone is no evidence: without a trend
    or a comparison there is no yardstick.

    Returns the evidence rows: column ``topic`` followed by the indicator
    columns of each triggering row (so one row per topic, district and
    indicator row; the view words the evidence). Append rows by hand (e.g.
    from the survey; topic and district_id suffice) before building the gap
    matrix (:func:`kit.profile.gaps.gap_table`).
    """
    rules = TOPIC_RULES if rules is None else rules
    flags = set(flags)
    rows = []
    for _, row in indicators.iterrows():
        if row["flag"] not in flags:
            continue
        family = str(row["indicator"]).split("_", 1)[0]
        topic = rules.get((family, str(row["subject"])))
        if topic is None:
            continue
        rows.append({"topic": topic, **{c: row[c] for c in indicator_columns}})
    out = make_indicators(rows)
    out.insert(0, "topic", pd.Series([r["topic"] for r in rows], dtype="str"))
    return out.sort_values(["topic", "district_id"], kind="stable").reset_index(drop=True)

