"""Reference values shipped with the kit ("Benchmarks by default").

Stage 1 compares a commune with Land Sachsen and with its Landkreis without
any parameter: the numbers live in two small derived files under
``kit/profile/reference_data/`` (see the README there for sources, licence
and method), made by :func:`build_reference_tables` from the public source
files (command: ``python benchmarks/reference_data.py``):

- ``pks_sachsen.csv``: Häufigkeitszahl (HZ), cases and population per
  Straftatenschlüssel (:data:`REFERENCE_KEYS`) for Land Sachsen and each of
  its 13 Kreise, report years 2020 and 2022, from the BKA Kreis table
  KR-F-01-T01. Kreis: the HZ the BKA publishes; Land: computed from the 13
  Kreise (sum of cases * 100,000 / sum of population), as
  :func:`kit.profile.bka.bka_reference` does.
- ``bevoelkerung_sachsen.csv``: shares of residents under 18, 65 and older and
  without German citizenship per Kreis (Deutschlandatlas, table KRS1222, year
  2022) and for Sachsen (the Kreis shares weighted with the Kreis population
  of 31.12.2021 from the Gemeindeverzeichnis).

At run time this module only reads those files (the kit's own data; the
source files are not needed) and returns numbers and codes:

- :func:`kreis_for_ags`: the Kreis of a commune from the first five digits of
  its AGS, with a status code (:data:`KREIS_FOUND`, :data:`KREIS_IS_COMMUNE`
  for a kreisfreie Stadt, :data:`KREIS_UNKNOWN`).
- :func:`pks_benchmarks`: indicator rows ``pks_hz_land`` and ``pks_hz_kreis``
  (own HZ with its comparison interval, reference HZ, flag above/below/like
  the reference) for every key and year with a reference, plus
  :class:`BenchmarkInfo` (which years and keys have none, sources, the
  interval method).
- :func:`population_benchmarks`: the commune's shares beside Kreis and Land.
- :func:`hz_ratio_basis`: the comparison that feeds the key indicator
  ``profile.hz_ratio_<key>`` (hand-typed ``profile.pks_reference`` first,
  else Land Sachsen; the most recent year that has one).

The comparison interval
-----------------------
A commune's HZ of one year is compared with the reference as an estimate of
the commune's *level*, not of that one year: crime counts vary from year to
year far more than a Poisson count (kit.profile.early_warning: negative
binomial, for large counts ±3-10 % where Poisson allows ±1 %). An exact
Poisson interval of the year's count (±1,5 % at 17.000 cases) would call a
commune "higher" or "lower" than Saxony in about half of all years even when
its level equals Saxony's. So the interval behind the verdict
(:func:`comparison_interval`) is the exact interval for the mean mu of a
negative-binomial count with variance ``mu + a*mu²``: the mu whose upper and
lower tail probabilities of the observed count are (1 - conf)/2 (test
inversion; for a = 0 this is the Garwood Poisson interval), divided by the
population. ``a`` is the commune's PKS dispersion pooled over all its PKS
keys by the early warning (:func:`comparison_dispersion`, from the base years
of the latest year). With fewer evaluable series than the early warning needs
to pool (:data:`kit.profile.early_warning.DEFAULT_RULE`, 5 series with 3 base
years each) ``a`` cannot be estimated and the Poisson interval is used
(:data:`COMPARISON_POISSON`, stated by the report).
Measured in tests/test_reference.py: communes whose level equals the
reference, counts negative binomial like the demo communes, are called
higher or lower in about 5 % of cases; the Poisson rule calls them in far
more.

The German wording lives in :mod:`kit.profile.view`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from scipy import optimize, special

from kit.profile.early_warning import pooled_dispersion
from kit.profile.indicators import make_indicators, poisson_interval

REFERENCE_DIR = Path(__file__).resolve().with_name("reference_data")
PKS_FILE = REFERENCE_DIR / "pks_sachsen.csv"
POPULATION_FILE = REFERENCE_DIR / "bevoelkerung_sachsen.csv"

LAND_KEY = "14"
LAND_NAME = "Sachsen"
LAND_LEVEL, KREIS_LEVEL = "land", "kreis"

# Keys of the BKA Kreis table T01 shipped with the kit: the summary keys and
# control offences the report shows (kit.profile.pks.SUMMARY_KEYS, CONTROL_KEYS)
# as far as T01 has them (it has no 220000 Körperverletzung insgesamt and no
# 891000 Rauschgiftkriminalität, see kit.profile.pks).
REFERENCE_KEYS: list[str] = ["000000", "892000", "899000", "674000", "****00", "435*00", "210000", "222000",
                             "224000", "730000", "897000", "899500", "515001", "326*00"]
# A commune's key -> the key of the BKA table for the same offence
# (326000 is how design.md and commune tables write 326*00).
KEY_ALIASES: dict[str, str] = {"326000": "326*00"}

# Kreis match (kreis_for_ags)
KREIS_FOUND = "kreis"            # a Landkreis: compare with Land and Kreis
KREIS_IS_COMMUNE = "kreisfrei"   # a kreisfreie Stadt: the Kreis is the commune itself, Land only
KREIS_UNKNOWN = "unknown"        # no Kreis with this key in the reference data: Land only

# Comparison flags (same rule and codes as pks_hz_reference in kit.profile.pks)
ABOVE, BELOW, LIKE = "above_reference", "below_reference", "like_reference"

BENCHMARK_INDICATORS = {LAND_LEVEL: "pks_hz_land", KREIS_LEVEL: "pks_hz_kreis"}
# the BKA table behind pks_sachsen.csv (both report years in version 1.0)
PKS_TABLE = "KR-F-01-T01"

PKS_REFERENCE_COLUMNS = ["level", "region_key", "region_name", "kreisart", "year", "key", "label", "cases",
                         "population", "hz", "method", "source"]
POPULATION_REFERENCE_COLUMNS = ["level", "region_key", "region_name", "kreisart", "year", "indicator",
                                "value_pct", "weight_population", "weight_year", "method", "source"]
# population indicator -> column of kit.profile.indicators.population_totals
POPULATION_INDICATORS: dict[str, str] = {"share_under18": "share_under18_pct",
                                         "share_65plus": "share_65plus_pct",
                                         "share_nongerman": "share_nongerman_pct"}
# Deutschlandatlas column -> population indicator
_ATLAS_COLUMNS = {"bev_u18": "share_under18", "bev_ue65": "share_65plus", "bev_ausl": "share_nongerman"}

# Comparison interval (comparison_interval): negative binomial with the commune's pooled PKS
# dispersion, or Poisson when it cannot be estimated
COMPARISON_NB = "nb_pooled"          # NB interval, dispersion pooled over the commune's PKS keys
COMPARISON_POISSON = "poisson"       # exact Poisson interval (too few series/years to estimate the dispersion)

# method codes (the README of reference_data words them)
METHOD_BKA_KREIS = "bka_kreis"            # HZ as published by the BKA for the Kreis
METHOD_LAND_FROM_KREISE = "land_aus_kreisen"  # sum of cases / sum of population of the 13 Kreise
METHOD_ATLAS_KREIS = "atlas_kreis"        # share as published in the Deutschlandatlas
METHOD_LAND_WEIGHTED = "land_gewichtet"   # Kreis shares weighted with the Kreis population


# ---------------------------------------------------------------------------
# Building the shipped files from the public sources (generator only)
# ---------------------------------------------------------------------------


def kreis_display_name(name: str, kreisart: str) -> str:
    """Official-style name: 'Landkreis Mittelsachsen', 'Erzgebirgskreis', 'Stadt Chemnitz'."""
    name = " ".join(str(name).split())
    if kreisart == "KfS":
        return f"Stadt {name}"
    return name if name.lower().endswith("kreis") else f"Landkreis {name}"


def build_pks_reference(bka_files: Iterable[str | Path]) -> pd.DataFrame:
    """The rows of ``pks_sachsen.csv`` from BKA Kreis tables KR-F-01-T01 (one
    per report year, XLSX or CSV; the XLSX states its year, for a CSV pass
    ``(path, year)``). Per year: one row per Saxon Kreis and key of
    :data:`REFERENCE_KEYS` (HZ as published, cases, population behind the
    HZ) and one row per key for Land Sachsen computed from the Kreise."""
    from kit.profile.bka import _kreis_population, read_bka_all

    parts = []
    for item in bka_files:
        path, year = (item if isinstance(item, tuple) else (item, None))
        path = Path(path)
        table = read_bka_all(path, year)
        year = int(table.attrs["year"])
        source = f"BKA PKS {year} KR-F-01-T01 ({path.name})"
        kreise = table[table["region_key"].str[:2] == LAND_KEY]
        pop = _kreis_population(kreise, path).set_index("region_key")["population"]
        sel = kreise[kreise["key"].isin(REFERENCE_KEYS)]
        parts.append(pd.DataFrame({
            "level": KREIS_LEVEL, "region_key": sel["region_key"].astype(str),
            "region_name": [kreis_display_name(n, a) for n, a in zip(sel["region_name"], sel["kreisart"])],
            "kreisart": sel["kreisart"].astype(str), "year": year, "key": sel["key"].astype(str),
            "label": sel["label"].astype(str), "cases": sel["cases"].astype("int64"),
            "population": sel["region_key"].map(pop).astype("int64"), "hz": sel["hz_bka"].astype(float),
            "method": METHOD_BKA_KREIS, "source": source}))
        # the Land from its Kreise as kit.profile.bka.bka_reference computes it: per key the sum of
        # cases * 100,000 / the sum of the population of the Kreise that have a row for the key
        kreis_rows = parts[-1]
        land = kreis_rows.groupby("key", sort=False).agg(label=("label", "first"), cases=("cases", "sum"),
                                                         population=("population", "sum")).reset_index()
        parts.append(pd.DataFrame({
            "level": LAND_LEVEL, "region_key": LAND_KEY, "region_name": LAND_NAME, "kreisart": "Land",
            "year": year, "key": land["key"].astype(str), "label": land["label"].astype(str),
            "cases": land["cases"].astype("int64"), "population": land["population"].astype("int64"),
            "hz": land["cases"].astype(float) * 100000 / land["population"].astype(float),
            "method": METHOD_LAND_FROM_KREISE, "source": source}))
    out = pd.concat(parts, ignore_index=True)
    order = {k: i for i, k in enumerate(REFERENCE_KEYS)}
    out["_k"] = out["key"].map(order)
    out["_l"] = (out["level"] == KREIS_LEVEL).astype(int)
    out = out.sort_values(["year", "_l", "region_key", "_k"], kind="stable").drop(columns=["_k", "_l"])
    out["hz"] = out["hz"].round(2)
    return out[PKS_REFERENCE_COLUMNS].reset_index(drop=True)



def _sheet_rows(path, sheet: str) -> list[list]:
    """All rows of one sheet of a source workbook (values, not formulas)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [list(r) for r in wb[sheet].iter_rows(values_only=True)]
    finally:
        wb.close()

def _gv_kreise(gv_path: Path) -> pd.DataFrame:
    """Saxon Kreise from the Destatis Gemeindeverzeichnis (GV-ISys) extract:
    region_key, name, kreisart (KfS/LK from Textkennzeichen 41/44), population
    (sum of the Gemeinden, Satzart 60) and its date (year)."""
    rows = _sheet_rows(gv_path, "Onlineprodukt_Gemeinden")
    m = re.search(r"am 31\.12\.(\d{4})", str(rows[0][0] or ""))
    year = int(m.group(1)) if m else None
    kreise: dict[str, dict] = {}
    for r in rows:
        satzart, land = str(r[0] or "").strip(), str(r[2] or "").strip()
        if land != LAND_KEY:
            continue
        key = f"{land}{str(r[3] or '').strip()}{str(r[4] or '').strip()}"
        if satzart == "40":
            kreise[key] = {"region_key": key, "name": str(r[7]).strip(),
                           "kreisart": {"41": "KfS", "42": "KfS", "43": "LK", "44": "LK"}.get(str(r[1]).strip(), ""),
                           "population": 0}
        elif satzart == "60":
            kreise[key]["population"] += int(r[9])
    out = pd.DataFrame(list(kreise.values()))
    out.attrs["year"] = year
    return out


def build_population_reference(atlas_path: str | Path, gv_path: str | Path) -> pd.DataFrame:
    """The rows of ``bevoelkerung_sachsen.csv``: per Saxon Kreis the shares
    (in %) of residents under 18, 65 and older and foreigners from the
    Deutschlandatlas table KRS1222 (2022), and for Sachsen their mean weighted
    with the Kreis population from the Gemeindeverzeichnis (31.12.2021)."""
    atlas_path, gv_path = Path(atlas_path), Path(gv_path)
    rows = _sheet_rows(atlas_path, "Deutschlandatlas_KRS1222")
    header = [str(h) for h in rows[0]]
    idx = {h: header.index(h) for h in ("KRS1222", "Kreisname", *_ATLAS_COLUMNS)}
    atlas = {}
    for r in rows[1:]:
        key = str(r[idx["KRS1222"]] or "").strip()
        key = key.zfill(8)[:5] if key.isdigit() else ""
        if key[:2] == LAND_KEY:
            atlas[key] = {c: float(r[idx[c]]) for c in _ATLAS_COLUMNS}
    gv = _gv_kreise(gv_path).set_index("region_key")
    if set(atlas) != set(gv.index):
        raise ValueError(f"Kreise im Deutschlandatlas {sorted(atlas)} und im Gemeindeverzeichnis "
                         f"{sorted(gv.index)} stimmen nicht überein.")
    year, weight_year = 2022, int(gv.attrs.get("year") or 2021)
    source_atlas = f"Deutschlandatlas (BMWSB/BBSR), Stand 12/2024, Tabellenblatt KRS1222 ({atlas_path.name})"
    source_gv = f"Destatis Gemeindeverzeichnis 31.12.{weight_year} ({gv_path.name})"
    rows_out = []
    for key in sorted(atlas):
        k = gv.loc[key]
        for col, indicator in _ATLAS_COLUMNS.items():
            rows_out.append({"level": KREIS_LEVEL, "region_key": key,
                             "region_name": kreis_display_name(k["name"].split(",")[0], k["kreisart"]),
                             "kreisart": k["kreisart"], "year": year, "indicator": indicator,
                             "value_pct": atlas[key][col], "weight_population": int(k["population"]),
                             "weight_year": weight_year, "method": METHOD_ATLAS_KREIS, "source": source_atlas})
    total = int(gv["population"].sum())
    for col, indicator in _ATLAS_COLUMNS.items():
        mean = sum(atlas[key][col] * int(gv.loc[key, "population"]) for key in atlas) / total
        rows_out.append({"level": LAND_LEVEL, "region_key": LAND_KEY, "region_name": LAND_NAME, "kreisart": "Land",
                         "year": year, "indicator": indicator, "value_pct": round(mean, 2),
                         "weight_population": total, "weight_year": weight_year, "method": METHOD_LAND_WEIGHTED,
                         "source": f"{source_atlas}; {source_gv}"})
    return pd.DataFrame(rows_out, columns=POPULATION_REFERENCE_COLUMNS)


def build_reference_tables(bka_files: Iterable[str | Path], atlas_path: str | Path,
                           gv_path: str | Path) -> dict[str, pd.DataFrame]:
    """Both shipped tables: {"pks": ..., "population": ...}."""
    return {"pks": build_pks_reference(bka_files),
            "population": build_population_reference(atlas_path, gv_path)}


def write_reference_tables(tables: dict[str, pd.DataFrame], folder: str | Path = REFERENCE_DIR) -> list[Path]:
    """Write the tables as UTF-8 CSV (',' separator, '.' decimal point, LF)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, file in (("pks", PKS_FILE.name), ("population", POPULATION_FILE.name)):
        path = folder / file
        tables[name].to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        written.append(path)
    return written


# ---------------------------------------------------------------------------
# Reading the shipped files
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _read(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"region_key": str, "key": str, "kreisart": str, "level": str}, encoding="utf-8",
                       keep_default_na=False, na_values=[""])


def shipped_pks_reference(path: str | Path = PKS_FILE) -> pd.DataFrame:
    """The shipped PKS reference table (columns :data:`PKS_REFERENCE_COLUMNS`)."""
    return _read(str(path)).copy()


def shipped_population_reference(path: str | Path = POPULATION_FILE) -> pd.DataFrame:
    """The shipped population-structure table (columns :data:`POPULATION_REFERENCE_COLUMNS`)."""
    return _read(str(path)).copy()


def reference_years(table: pd.DataFrame | None = None) -> list[int]:
    """Report years with PKS reference values."""
    table = shipped_pks_reference() if table is None else table
    return sorted(int(y) for y in table["year"].unique())


# ---------------------------------------------------------------------------
# Lookup for a commune
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KreisMatch:
    status: str          # KREIS_FOUND, KREIS_IS_COMMUNE or KREIS_UNKNOWN
    region_key: str      # the 5-digit Kreis key from the AGS
    region_name: str = ""  # e.g. "Landkreis Mittelsachsen" ("" when unknown)
    kreisart: str = ""     # "LK" or "KfS" ("" when unknown)


def kreis_for_ags(ags: str, table: pd.DataFrame | None = None) -> KreisMatch:
    """The Kreis of a commune: the first five digits of its 8-digit AGS.
    A kreisfreie Stadt is its own Kreis (status KREIS_IS_COMMUNE); a key that
    is no Saxon Kreis of the reference data gives KREIS_UNKNOWN."""
    table = shipped_pks_reference() if table is None else table
    key = str(ags or "").strip()[:5]
    rows = table[(table["level"] == KREIS_LEVEL) & (table["region_key"] == key)]
    if not re.fullmatch(r"\d{5}", key) or rows.empty:
        return KreisMatch(KREIS_UNKNOWN, key)
    first = rows.iloc[0]
    status = KREIS_IS_COMMUNE if str(first["kreisart"]) == "KfS" else KREIS_FOUND
    return KreisMatch(status, key, str(first["region_name"]), str(first["kreisart"]))


def nb_count_interval(count: float, a: float, conf: float = 0.95) -> tuple[float, float]:
    """Exact interval for the mean mu of a negative-binomial count with
    variance mu + a*mu² (a >= 0 known) from one observed count: lower solves
    P(X >= count | mu) = (1 - conf)/2, upper P(X <= count | mu) = (1 - conf)/2.
    a = 0 (or nan): the Garwood Poisson interval."""
    x = float(count)
    if math.isnan(x):
        return math.nan, math.nan
    if not a > 0:
        return poisson_interval(x, conf)
    tail = (1.0 - conf) / 2
    n = 1.0 / a
    x = math.floor(x)

    # NB with size n = 1/a and success probability p = 1/(1 + a*mu) (mean mu):
    # P(X <= k) = I_p(n, k + 1), P(X >= k) = I_(1-p)(k, n) (regularised incomplete beta)
    def upper_tail(mu):   # P(X >= x), increasing in mu
        return float(special.betainc(x, n, a * mu / (1.0 + a * mu)))

    def lower_tail(mu):   # P(X <= x), decreasing in mu
        return float(special.betainc(n, x + 1, 1.0 / (1.0 + a * mu)))

    lower = 0.0
    if x > 0:
        hi = x
        while upper_tail(hi) < tail:
            hi *= 2
        lower = float(optimize.brentq(lambda m: upper_tail(m) - tail, 0.0, hi, xtol=1e-9, rtol=1e-12))
    lo, hi = max(x, 1e-9), max(2 * x, 1.0)
    while lower_tail(hi) > tail:
        lo, hi = hi, hi * 2
    upper = float(optimize.brentq(lambda m: lower_tail(m) - tail, lo, hi, xtol=1e-9, rtol=1e-12))
    return lower, upper


def comparison_interval(count: float, base: float, a: float, conf: float = 0.95) -> tuple[float, float]:
    """The interval of a HZ (per 100,000) behind the comparison with a reference:
    :func:`nb_count_interval` of the count with dispersion ``a`` (nan or 0:
    Poisson) scaled by 100,000 / ``base``; (nan, nan) without a positive base."""
    if base is None or not float(base) > 0:
        return math.nan, math.nan
    lo, hi = nb_count_interval(count, a, conf)
    return lo * 100000 / float(base), hi * 100000 / float(base)


def comparison_dispersion(pks_ind: pd.DataFrame) -> tuple[float, str]:
    """The commune's year-to-year dispersion of PKS counts for the comparison:
    the NB2 ``a`` the early warning pools over all PKS keys (rows ``pks_cases``
    of :func:`kit.profile.pks.pks_indicators`, population offset from their
    ``base``), and the method code: (a, COMPARISON_NB), or (nan,
    COMPARISON_POISSON) when too few keys have enough years to estimate it."""
    cases = pks_ind[(pks_ind["indicator"] == "pks_cases") & (pks_ind["district_id"] == "")
                    & pks_ind["year"].notna()]
    return dispersion_of_counts(cases["subject"], cases["year"], cases["value"], cases["base"])


def dispersion_of_counts(keys, years, counts, bases) -> tuple[float, str]:
    """:func:`comparison_dispersion` from parallel sequences (key, year, cases,
    population); the population is the offset only when every row has one."""
    counts = pd.DataFrame({"series": pd.Series(keys).astype(str).to_numpy(),
                           "year": pd.Series(years).astype(int).to_numpy(),
                           "count": pd.Series(counts).astype(float).to_numpy(),
                           "population": pd.Series(bases).astype(float).to_numpy()})
    counts = counts[counts["count"].notna()]
    if counts.empty:
        return math.nan, COMPARISON_POISSON
    if not (counts["population"] > 0).all():
        counts = counts.drop(columns="population")
    a, code = pooled_dispersion(counts, group_col=None)
    return (a, COMPARISON_NB) if code == "pooled" else (math.nan, COMPARISON_POISSON)


def compare_flag(lower: float, upper: float, reference: float) -> str:
    """above_reference when the reference lies below the interval of the own
    HZ, below_reference when above it, like_reference when inside (bounds
    included); "" when a number is missing."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (lower, upper, reference)):
        return ""
    if reference < lower:
        return ABOVE
    if reference > upper:
        return BELOW
    return LIKE


@dataclass
class BenchmarkInfo:
    """What the comparison rests on (numbers and codes; the view words them)."""

    kreis: KreisMatch
    reference_years: list[int]                       # years with shipped values (2020, 2022)
    pks_years: list[int] = field(default_factory=list)   # years of the commune's PKS
    years_compared: list[int] = field(default_factory=list)  # PKS years that got a comparison
    years_without: list[int] = field(default_factory=list)   # PKS years without a reference
    keys_without: list[str] = field(default_factory=list)    # shown keys without a reference (e.g. 220000)
    sources: list[str] = field(default_factory=list)          # source strings of the rows used
    # interval behind the verdicts (comparison_interval): COMPARISON_NB or COMPARISON_POISSON,
    # the NB2 dispersion a used (nan for Poisson) and the confidence level
    method: str = COMPARISON_POISSON
    dispersion: float = math.nan
    conf: float = 0.95


def _lookup(table: pd.DataFrame) -> dict[tuple[str, str, int, str], float]:
    return {(str(r.level), str(r.region_key), int(r.year), str(r.key)): float(r.hz)
            for r in table.itertuples(index=False)}


def pks_benchmarks(pks_ind: pd.DataFrame, ags: str, keys: Iterable[str] | None = None,
                   table: pd.DataFrame | None = None, conf: float = 0.95,
                   dispersion: tuple[float, str] | None = None) -> tuple[pd.DataFrame, BenchmarkInfo]:
    """Compare the commune's HZ (rows ``pks_hz`` of
    :func:`kit.profile.pks.pks_indicators`) with Land Sachsen and, for a
    commune in a Landkreis, with that Kreis.

    Returns indicator rows ``pks_hz_land`` / ``pks_hz_kreis`` (subject = key,
    year, value = own HZ, lower/upper = its :func:`comparison_interval` at
    ``conf`` with the commune's year-to-year dispersion, reference =
    reference HZ, flag per :func:`compare_flag`, count/base/base_year as the
    HZ row, note = the HZ row's note) for every key (``keys``: only these) and
    year that has a reference, and the :class:`BenchmarkInfo`.
    ``dispersion``: (a, method code) instead of :func:`comparison_dispersion`.
    """
    table = shipped_pks_reference() if table is None else table
    a, method = comparison_dispersion(pks_ind) if dispersion is None else dispersion
    kreis = kreis_for_ags(ags, table)
    ref = _lookup(table)
    years_ref = reference_years(table)
    hz = pks_ind[(pks_ind["indicator"] == "pks_hz") & (pks_ind["district_id"] == "") & pks_ind["year"].notna()]
    if keys is not None:
        hz = hz[hz["subject"].isin(list(keys))]
    levels = [(LAND_LEVEL, LAND_KEY)] + ([(KREIS_LEVEL, kreis.region_key)] if kreis.status == KREIS_FOUND else [])
    rows, compared, keys_with = [], set(), set()
    for r in hz.itertuples(index=False):
        key, year = str(r.subject), int(r.year)
        ref_key = KEY_ALIASES.get(key, key)
        for level, region in levels:
            value = ref.get((level, region, year, ref_key))
            if value is None:
                continue
            compared.add(year)
            keys_with.add(key)
            name = LAND_NAME if level == LAND_LEVEL else kreis.region_name
            lower, upper = comparison_interval(r.count, r.base, a, conf)
            rows.append(dict(indicator=BENCHMARK_INDICATORS[level],
                             label=f"Häufigkeitszahl im Vergleich mit {name}", unit="je 100.000 Einw.",
                             year=year, period=str(year), subject=key, subject_label=r.subject_label,
                             value=r.value, lower=lower, upper=upper, count=r.count, base=r.base,
                             base_year=r.base_year, reference=value,
                             flag=compare_flag(lower, upper, value), note=r.note))
    pks_years = sorted({int(y) for y in hz["year"]})
    all_keys = list(dict.fromkeys(str(s) for s in hz["subject"]))
    key_any_ref = {k for (_, _, _, k) in ref}
    info = BenchmarkInfo(
        kreis=kreis, reference_years=years_ref, pks_years=pks_years, years_compared=sorted(compared),
        years_without=[y for y in pks_years if y not in compared],
        keys_without=[k for k in all_keys if KEY_ALIASES.get(k, k) not in key_any_ref],
        sources=sorted(set(table.loc[table["year"].isin(sorted(compared)), "source"])),
        method=method, dispersion=a, conf=conf)
    return make_indicators(rows), info


def latest_land_rows(benchmarks: pd.DataFrame) -> pd.DataFrame:
    """Per key the Land comparison of the most recent year that has one (the
    rows that count as a problem sign when above the reference)."""
    land = benchmarks[benchmarks["indicator"] == BENCHMARK_INDICATORS[LAND_LEVEL]]
    if land.empty:
        return land
    return land.sort_values("year").groupby("subject", sort=False).tail(1)


def hz_ratio_basis(pks_ind: pd.DataFrame, benchmarks: pd.DataFrame | None, key: str) -> dict | None:
    """The comparison behind the key indicator ``profile.hz_ratio_<key>``:
    the most recent year with a reference; hand-typed values
    (``pks_hz_reference`` rows from ``profile.pks_reference``) win over the
    shipped Land value of the same year and extend it to other years.

    Returns dict(year, value, lower, upper, reference, source: "params" or
    "land", latest_year: last PKS year of the key, subject_label) or None."""
    cands = []
    own = pks_ind[(pks_ind["indicator"] == "pks_hz_reference") & (pks_ind["subject"] == key)
                  & pks_ind["reference"].notna() & (pks_ind["reference"] > 0)]
    for r in own.itertuples(index=False):
        cands.append((int(r.year), 1, r, "params"))
    if benchmarks is not None and len(benchmarks):
        land = benchmarks[(benchmarks["indicator"] == BENCHMARK_INDICATORS[LAND_LEVEL])
                          & (benchmarks["subject"] == key) & (benchmarks["reference"] > 0)]
        for r in land.itertuples(index=False):
            cands.append((int(r.year), 0, r, "land"))
    cands = [c for c in cands if not (isinstance(c[2].value, float) and math.isnan(c[2].value))]
    if not cands:
        return None
    year, _, r, source = max(cands, key=lambda c: (c[0], c[1]))
    years = pks_ind.loc[(pks_ind["indicator"] == "pks_cases") & (pks_ind["subject"] == key), "year"].dropna()
    return dict(year=year, value=float(r.value), lower=float(r.lower), upper=float(r.upper),
                reference=float(r.reference), source=source, subject_label=str(r.subject_label),
                latest_year=int(years.max()) if len(years) else year)


def population_benchmarks(totals: pd.DataFrame, ags: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The commune's population shares beside Kreis and Land.

    One row per indicator of :data:`POPULATION_INDICATORS` that the commune
    has: indicator, year (the reference year), commune_year (the reference
    year when the residents table has it, else its latest year),
    commune_pct, land_pct, kreis_pct (NaN for a kreisfreie Stadt or unknown
    Kreis), kreis_status, kreis_name. ``attrs``: source strings.
    """
    table = shipped_population_reference() if table is None else table
    kreis = kreis_for_ags(ags, shipped_pks_reference())
    rows = []
    for indicator, col in POPULATION_INDICATORS.items():
        if col not in totals.columns:
            continue
        ref = table[table["indicator"] == indicator]
        land = ref[ref["level"] == LAND_LEVEL]
        if land.empty:
            continue
        year = int(land["year"].iloc[0])
        t = totals[totals["year"].astype(int) == year]
        if t.empty or pd.isna(t[col].iloc[0]):
            t = totals.dropna(subset=[col]).sort_values("year").tail(1)
        if t.empty:
            continue
        kr = ref[(ref["level"] == KREIS_LEVEL) & (ref["region_key"] == kreis.region_key)]
        kreis_pct = float(kr["value_pct"].iloc[0]) if kreis.status == KREIS_FOUND and len(kr) else math.nan
        rows.append(dict(indicator=indicator, year=year, commune_year=int(t["year"].iloc[0]),
                         commune_pct=float(t[col].iloc[0]), land_pct=float(land["value_pct"].iloc[0]),
                         kreis_pct=kreis_pct, kreis_status=kreis.status, kreis_name=kreis.region_name))
    out = pd.DataFrame(rows, columns=["indicator", "year", "commune_year", "commune_pct", "land_pct", "kreis_pct",
                                      "kreis_status", "kreis_name"])
    out.attrs["sources"] = sorted(set(table["source"]))
    return out
