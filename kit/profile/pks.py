"""Police crime statistics (PKS) and politically motivated crime (PMK): indicators.

- :func:`pks_indicators` derives cases, Häufigkeitszahl (HZ) with exact
  Poisson intervals, clearance rate, suspects, attempts, multi-year means,
  the early-warning flag of the latest year and the comparison with a reference HZ.
- :func:`pmk_summary` tabulates PMK cases by year and phenomenon area.
- Reading the BKA district table lives in :mod:`kit.profile.bka`.

Population convention: the BKA computes the HZ of report year Y with the
population at 31.12. of Y-1 (the 2020 table states "EW 31.12.2019"), so
:func:`pks_indicators` uses ``population_lag=1`` by default; the commune's
residents table holds 31.12. populations.
"""


from __future__ import annotations

import math

import pandas as pd

from kit.profile.indicators import (
    _join_notes,
    _population_series,
    early_warning_trends,
    format_period,
    make_indicators,
    poisson_interval,
    population_for_year,
    rate_per,
)
from kit.profile.reference import comparison_interval, dispersion_of_counts

# Summary keys of the PKS (Straftatenschlüssel). The BKA writes "------" for
# "Straftaten insgesamt"; the kit uses "000000" (schema pattern [0-9*]{6}).
TOTAL_KEY = "000000"
SUMMARY_KEYS: dict[str, str] = {
    "000000": "Straftaten insgesamt",
    "892000": "Gewaltkriminalität",
    "899000": "Straßenkriminalität",
    "674000": "Sachbeschädigung",
    "****00": "Diebstahl insgesamt",
    "435*00": "Wohnungseinbruchdiebstahl",
    "210000": "Raub, räuberische Erpressung",
    # Körperverletzung insgesamt: in the Bund/Land tables, not in the BKA
    # Kreis table T01, which has 222000 and 224000 instead.
    "220000": "Körperverletzung",
    "222000": "Gefährliche und schwere Körperverletzung",
    "224000": "Vorsätzliche einfache Körperverletzung",
    # Rauschgiftkriminalität is a summary key of the Bund/Land tables; the
    # Kreis table T01 has 730000 Rauschgiftdelikte (BtMG) instead.
    "891000": "Rauschgiftkriminalität",
    "730000": "Rauschgiftdelikte",
    # Named "Computerkriminalität" up to report year 2020, "Cybercrime" from
    # 2021 (checked in the BKA T01 tables 2020 and 2022).
    "897000": "Computerkriminalität/Cybercrime",
    "899500": "Sachbeschädigung durch Graffiti",
}

# Control offences ("Kontrolldelikte"): they come to light mostly when police
# or ticket inspectors look for them, so their numbers rise and fall with
# control activity (checks on trains, shop detectives, drug checks), not with
# how often they happen. Keys as in the BKA T01 tables (2020, 2022): shoplifting
# there is 326*00 "Einfacher Ladendiebstahl"; *26*00 is Ladendiebstahl
# insgesamt in the Bund tables.
CONTROL_KEYS: dict[str, str] = {
    "515001": "Beförderungserschleichung",
    "326*00": "Einfacher Ladendiebstahl",
    "326000": "Einfacher Ladendiebstahl",  # spelling of design.md and of commune-supplied tables
    "*26*00": "Ladendiebstahl insgesamt",
    "891000": "Rauschgiftkriminalität",
    "730000": "Rauschgiftdelikte",
}
# Note codes of the PKS rows (German wording in kit.profile.view).
CONTROL_OFFENCE = "control_offence"             # control offence: counts mirror control activity
CLEARANCE_EARLIER_YEARS = "clearance_earlier_years"  # over 100 %: cases of earlier years cleared
MEAN_FEWER_YEARS = "mean_fewer_years"           # multi-year mean over fewer years than wanted (period)
REFERENCE_HZ_MISSING = "reference_hz_missing"   # reference given, own HZ not computable
POPULATION_LAG = 1  # BKA convention: HZ of year Y with the population at 31.12. of Y-1

PKS_COLUMNS = ["year", "key", "label", "cases", "attempts", "cleared", "suspects"]
BKA_EXTRA_COLUMNS = ["hz_bka", "population_bka"]

# ---------------------------------------------------------------------------
# Indicators
# ---------------------------------------------------------------------------


def _reference_for(reference: dict | None, key: str, year: int, latest: int):
    """Reference HZ for (key, year): entries (key, year) apply to that year,
    plain key entries to the latest year only."""
    if not reference:
        return None
    for k in ((key, year), (key, str(year)), f"{key}:{year}"):
        if k in reference:
            return float(reference[k])
    if year == latest and key in reference and not isinstance(reference[key], dict):
        return float(reference[key])
    if isinstance(reference.get(key), dict):  # {key: {year: hz}} as read from YAML
        by_year = reference[key]
        for k in (year, str(year)):
            if k in by_year:
                return float(by_year[k])
    return None


def pks_indicators(pks: pd.DataFrame, population_totals: pd.DataFrame | pd.Series, years_for_mean: int = 3,
                   conf: float = 0.95, reference: dict | None = None, reference_label: str = "",
                   population_lag: int = POPULATION_LAG) -> pd.DataFrame:
    """PKS indicators per Straftatenschlüssel (subject = key).

    Per key and year:
      pks_cases           recorded cases
      pks_hz              HZ = cases * 100,000 / population, with the exact
                          (Garwood) Poisson interval of the cases scaled alike
      pks_clearance       cleared / cases * 100 (may exceed 100: cases of
                          earlier years cleared this year)
      pks_suspects        suspects
      pks_attempts_share  attempts / cases * 100 (when attempts are given)
    Over the calendar years latest - ``years_for_mean`` + 1 .. latest (those
    present; year <NA>; period names them):
      pks_cases_mean      mean cases per year; interval = Garwood interval of
                          the summed cases / number of years
      pks_hz_mean         summed cases * 100,000 / summed population, interval
                          likewise (cases per 100,000 residents and year)
    Latest year:
      pks_trend           flag rise / fall / within_chance of the early
                          warning (:func:`kit.profile.indicators.early_warning_trends`:
                          all keys pooled as group "pks", up to 5 previous
                          years, population-adjusted); value = latest cases,
                          expected = cases expected without change,
                          lower/upper = range expected without change,
                          period = the previous years used
      pks_hz_reference    only with ``reference`` (key -> HZ for the latest
                          year, or (key, year) -> HZ, or key -> {year: HZ}):
                          value = own HZ; lower/upper = its comparison
                          interval (:func:`kit.profile.reference.comparison_interval`:
                          negative binomial with the year-to-year dispersion
                          pooled over all keys, Poisson when it cannot be
                          estimated, as for the shipped Land values); flag
                          above_reference when the reference lies below the
                          lower bound, below_reference when above the upper
                          bound, else like_reference; column reference =
                          the reference HZ.
    Control offences (:data:`CONTROL_KEYS`) carry the note code
    ``control_offence`` on every row. Notes are codes (see
    :data:`kit.profile.indicators.NOTE_CODES`), never sentences;
    ``reference_label`` is accepted for compatibility and not stored (the view
    names the reference).

    Population: 31.12. of year - ``population_lag`` (BKA convention: lag 1);
    when that year is missing, the nearest available year, with a note.
    """
    df = pks.copy()
    df["year"] = df["year"].astype(int)
    df["key"] = df["key"].astype(str)
    for col in ("cases", "cleared", "suspects", "attempts"):
        if col in df.columns:
            df[col] = df[col].astype("float64")
    has_attempts = "attempts" in df.columns
    pop = _population_series(population_totals)
    pop_by_year = {int(y): population_for_year(pop, y, lag=population_lag)[0] for y in df["year"].unique()}
    trends = early_warning_trends(df.rename(columns={"key": "subject", "cases": "count"}), "pks",
                                  population=pop_by_year)
    # year-to-year dispersion for the comparison with a reference (as kit.profile.reference)
    disp_a = math.nan
    if reference:
        disp_a, _method = dispersion_of_counts(df["key"], df["year"], df["cases"], df["year"].map(pop_by_year))
    rows = []
    for key in dict.fromkeys(df["key"]):
        g = df[df["key"] == key].sort_values("year")
        label = SUMMARY_KEYS.get(key) or str(g["label"].iloc[-1])
        control = CONTROL_OFFENCE if key in CONTROL_KEYS else ""
        years = list(g["year"])
        latest = years[-1]
        bases, used, pnotes = {}, {}, {}
        for y in years:
            bases[y], used[y], pnotes[y] = population_for_year(pop, y, lag=population_lag)
        subj = dict(subject=key, subject_label=label)
        hz_by_year = {}
        for r in g.itertuples(index=False):
            y, n, base = r.year, float(r.cases), bases[r.year]
            common = dict(subj, year=y, period=str(y), base_year=used[y])
            note = _join_notes(pnotes[y], control)
            lo, hi = poisson_interval(n, conf)
            hz = rate_per(n, base, 100000)
            hz_by_year[y] = (hz, rate_per(lo, base, 100000), rate_per(hi, base, 100000), n, base)
            rows.append(dict(common, indicator="pks_cases", label="Erfasste Fälle", unit="Fälle", value=n,
                             count=n, base=base, note=control))
            rows.append(dict(common, indicator="pks_hz", label="Häufigkeitszahl", unit="je 100.000 Einw.",
                             value=hz, lower=hz_by_year[y][1], upper=hz_by_year[y][2], count=n, base=base,
                             note=note))
            cleared = float(r.cleared)
            over = CLEARANCE_EARLIER_YEARS if cleared > n else ""
            rows.append(dict(common, indicator="pks_clearance", label="Aufklärungsquote", unit="%",
                             value=rate_per(cleared, n, 100), count=cleared, base=n, base_year=None,
                             note=_join_notes(over, control)))
            rows.append(dict(common, indicator="pks_suspects", label="Tatverdächtige", unit="Personen",
                             value=float(r.suspects), count=float(r.suspects), base_year=None, note=control))
            if has_attempts and not pd.isna(r.attempts):
                rows.append(dict(common, indicator="pks_attempts_share", label="Anteil Versuche", unit="%",
                                 value=rate_per(float(r.attempts), n, 100), count=float(r.attempts), base=n,
                                 base_year=None, note=control))

        # multi-year mean over the last k years
        window = range(latest - years_for_mean + 1, latest + 1)
        last = [y for y in years if y in window]
        if years_for_mean > 1 and last:
            s = float(g[g["year"].isin(last)]["cases"].sum())
            nyears = len(last)
            lo, hi = poisson_interval(s, conf)
            sum_pop = float(sum(bases[y] for y in last))
            fewer = MEAN_FEWER_YEARS if nyears < years_for_mean else ""
            common = dict(subj, year=None, period=format_period(last))
            rows.append(dict(common, indicator="pks_cases_mean", label="Fälle im Mehrjahresmittel",
                             unit="Fälle je Jahr", value=s / nyears, lower=lo / nyears, upper=hi / nyears,
                             count=s, base=sum_pop / nyears, note=_join_notes(fewer, control)))
            rows.append(dict(common, indicator="pks_hz_mean", label="Häufigkeitszahl im Mehrjahresmittel",
                             unit="je 100.000 Einw.", value=rate_per(s, sum_pop, 100000),
                             lower=rate_per(lo, sum_pop, 100000), upper=rate_per(hi, sum_pop, 100000),
                             count=s, base=sum_pop / nyears, note=_join_notes(fewer, control)))

        # early warning for the latest year
        tr = trends[key]
        rows.append(dict(subj, indicator="pks_trend", label="Entwicklung der erfassten Fälle", unit="Fälle",
                         year=latest, period=tr["period"], value=tr["count"], lower=tr["lower"],
                         upper=tr["upper"], count=tr["count"], base=bases[latest], base_year=used[latest],
                         expected=tr["expected"], flag=tr["flag"], note=_join_notes(tr["note"], control)))

        # comparison with a reference HZ
        for y in years:
            ref = _reference_for(reference, key, y, latest)
            if ref is None:
                continue
            hz, _lo, _hi, n, base = hz_by_year[y]
            lo_hz, hi_hz = comparison_interval(n, base, disp_a, conf)
            if math.isnan(hz):
                flag, code = "", REFERENCE_HZ_MISSING
            elif ref < lo_hz:
                flag, code = "above_reference", ""
            elif ref > hi_hz:
                flag, code = "below_reference", ""
            else:
                flag, code = "like_reference", ""
            rows.append(dict(subj, indicator="pks_hz_reference", label="Häufigkeitszahl im Vergleich zur Referenz",
                             unit="je 100.000 Einw.", year=y, period=str(y), value=hz, lower=lo_hz, upper=hi_hz,
                             count=n, base=base, base_year=used[y], reference=ref, flag=flag,
                             note=_join_notes(code, control)))
    return make_indicators(rows)


# ---------------------------------------------------------------------------
# PMK
# ---------------------------------------------------------------------------

PMK_AREAS = ["links", "rechts", "ausländische Ideologie", "religiöse Ideologie", "sonstige Zuordnung"]
PMK_OFFENCE_TYPES = ["Gewaltdelikte", "Propagandadelikte", "Sachbeschädigung", "Sonstige Delikte"]


def pmk_summary(pmk: pd.DataFrame, by: str = "area") -> pd.DataFrame:
    """PMK cases by year (rows) and phenomenon area (columns, schema order,
    0 where a year has no row for an area), plus a column "Insgesamt".
    ``by="offence_type"`` tabulates by offence type instead. Columns: year,
    the categories, Insgesamt.
    """
    if by not in ("area", "offence_type"):
        raise ValueError("by muss 'area' oder 'offence_type' sein.")
    order = PMK_AREAS if by == "area" else PMK_OFFENCE_TYPES
    p = pmk.copy()
    p["year"] = p["year"].astype(int)
    p[by] = p[by].astype(str)
    p["count"] = p["count"].astype("float64")
    wide = p.pivot_table(index="year", columns=by, values="count", aggfunc="sum", fill_value=0.0)
    columns = [c for c in order if c in wide.columns] + sorted(set(wide.columns) - set(order))
    columns = order + [c for c in columns if c not in order]
    wide = wide.reindex(columns=columns, fill_value=0.0)
    wide["Insgesamt"] = wide.sum(axis=1)
    wide = wide.round().astype("Int64")
    wide.columns.name = None
    out = wide.reset_index()
    out["year"] = out["year"].astype("Int64")
    return out


def pmk_indicators(pmk: pd.DataFrame) -> pd.DataFrame:
    """PMK cases as indicator rows (``pmk_cases``) per year and phenomenon
    area (subject = area) and over all areas (subject ""), for the results
    and comparisons across communes. The areas of :data:`PMK_AREAS` appear
    in every year (0 where the input has no row)."""
    wide = pmk_summary(pmk, by="area")
    rows = []
    for _, r in wide.iterrows():
        year = int(r["year"])
        for col in wide.columns:
            if col == "year":
                continue
            subject = "" if col == "Insgesamt" else str(col)
            n = float(r[col])
            rows.append(dict(indicator="pmk_cases", label="Politisch motivierte Kriminalität: Fälle", unit="Fälle",
                             year=year, period=str(year), subject=subject,
                             subject_label=subject or "alle Phänomenbereiche", value=n, count=n))
    return make_indicators(rows)



PMK_TYPE_COLUMNS = ["year", "area", "offence_type", "count"]


def pmk_by_area_and_type(pmk: pd.DataFrame) -> pd.DataFrame:
    """PMK cases by year, phenomenon area and offence type (long table,
    :data:`PMK_TYPE_COLUMNS`): every year of the input with every area of
    :data:`PMK_AREAS` and offence type of :data:`PMK_OFFENCE_TYPES` in schema
    order (0 where the input has no row; categories outside the schema
    follow, alphabetically). Rows of the same year, area and type are summed."""
    p = pmk.copy()
    p["year"] = p["year"].astype(int)
    p["area"] = p["area"].astype(str)
    p["offence_type"] = p["offence_type"].astype(str)
    p["count"] = p["count"].astype("float64")
    sums = p.groupby(["year", "area", "offence_type"])["count"].sum()
    areas = PMK_AREAS + sorted(set(p["area"]) - set(PMK_AREAS))
    types = PMK_OFFENCE_TYPES + sorted(set(p["offence_type"]) - set(PMK_OFFENCE_TYPES))
    full = pd.MultiIndex.from_product([sorted(p["year"].unique()), areas, types],
                                      names=["year", "area", "offence_type"])
    out = sums.reindex(full, fill_value=0.0).reset_index()
    out["year"] = out["year"].astype("Int64")
    out["count"] = out["count"].round().astype("Int64")
    return out[PMK_TYPE_COLUMNS]
