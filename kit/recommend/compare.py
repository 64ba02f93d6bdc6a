"""Stage 3: the commune's key indicators beside the other communes of the batch and Saxony.

The stage runs per commune; the other communes' key indicators are read from their result
folders in the same output folder (kit.indicators.compare_key_indicators), so the batch is
every commune whose stage 1 or 2 results lie there when this report is made (the runner runs
communes in parallel: a commune still running may be missing; the result names the communes
compared). Range (min, max) and median of the batch are given only with at least
:data:`MIN_COMMUNES` communes (with two, the median is just the mean of two and the range says
nothing more than the two values).

The Saxon reference, where the kit has one:

- population shares (profile.share_65plus, share_under18, share_nongerman): Land Sachsen from
  the shipped Deutschlandatlas table (kit.profile.reference);
- Häufigkeitszahlen (profile.hz_mean_<key>): Land Sachsen's HZ of the most recent year with a
  comparison value (stage 1's ``pks_hz_land`` rows in profile_indicators.csv); the ratios
  profile.hz_ratio_<key> are already relative to Saxony (reference 1) when their label says so;
- survey indicators: the Saxon benchmark in survey_benchmarks.csv (DVS 2012 Sachsen, ASSKomm
  average of Saxon communes), when stage 2 has one.

Yes/no flags (unit ja/nein) are left out: a range of flags says nothing. Numbers and codes
only (German text and chart: :mod:`kit.recommend.view_plan`). Everything compared is already
published in the communes' own results.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from kit.indicators import compare_key_indicators

MIN_COMMUNES = 3
COMPARISON_COLUMNS = ["indicator", "label", "unit", "value", "lower", "upper", "n_communes", "batch_min",
                      "batch_median", "batch_max", "rank_desc", "batch_communes", "reference_value",
                      "reference_label", "reference_year", "reference_source"]
SAXON = re.compile(r"sachsen|sächs", re.IGNORECASE)
POPULATION_KEYS = {"profile.share_65plus": "share_65plus", "profile.share_under18": "share_under18",
                   "profile.share_nongerman": "share_nongerman"}


def batch_communes(output_dir: str | Path) -> list[tuple[str, str]]:
    """(commune id, name) of every commune folder with key indicators; the name from the
    runner's status.json, else the id."""
    out = []
    root = Path(output_dir)
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if not any((d / "results" / f"key_indicators_{s}.csv").is_file() for s in ("profile", "survey")):
            continue
        name = d.name
        status = d / "status.json"
        if status.is_file():
            try:
                name = json.loads(status.read_text(encoding="utf-8")).get("name") or name
            except (ValueError, OSError):
                pass
        out.append((d.name, str(name)))
    return out


def batch_statistics(values: pd.DataFrame, commune_id: str) -> pd.DataFrame:
    """Per indicator over the communes of ``values`` (commune_id, indicator, value): number of
    communes with a value, min, median, max (NaN with fewer than MIN_COMMUNES) and the
    commune's rank from the highest value (1 = highest; ties share the best rank)."""
    rows = []
    for indicator, g in values.groupby("indicator", sort=False):
        v = pd.to_numeric(g["value"], errors="coerce")
        g = g.assign(value=v).dropna(subset=["value"])
        n = len(g)
        enough = n >= MIN_COMMUNES
        own = g[g["commune_id"] == commune_id]
        rank = float((g["value"] > own["value"].iloc[0]).sum() + 1) if len(own) else np.nan
        rows.append({"indicator": indicator, "n_communes": n,
                     "batch_min": g["value"].min() if enough else np.nan,
                     "batch_median": g["value"].median() if enough else np.nan,
                     "batch_max": g["value"].max() if enough else np.nan,
                     "rank_desc": rank, "batch_communes": ",".join(g["commune_id"].astype(str))})
    return pd.DataFrame(rows, columns=["indicator", "n_communes", "batch_min", "batch_median", "batch_max",
                                       "rank_desc", "batch_communes"])


def saxon_references(own: pd.DataFrame, profile_indicators: pd.DataFrame | None,
                     benchmarks: pd.DataFrame | None) -> pd.DataFrame:
    """indicator, reference_value, reference_label, reference_year, reference_source for the
    commune's key indicators that have a Saxon comparison value (see the module docstring)."""
    from kit.profile import reference as bench

    rows = []
    pop = bench.shipped_population_reference()
    land = pop[pop["level"] == bench.LAND_LEVEL]
    for indicator, key in POPULATION_KEYS.items():
        r = land[land["indicator"] == key]
        if len(r):
            rows.append({"indicator": indicator, "reference_value": float(r["value_pct"].iloc[0]) / 100,
                         "reference_label": bench.LAND_NAME, "reference_year": int(r["year"].iloc[0]),
                         "reference_source": str(r["source"].iloc[0])})
    if profile_indicators is not None and len(profile_indicators):
        pi = profile_indicators[profile_indicators["indicator"] == "pks_hz_land"].copy()
        pi["reference"] = pd.to_numeric(pi["reference"], errors="coerce")
        pi = pi.dropna(subset=["reference"])
        pi["year"] = pd.to_numeric(pi["year"], errors="coerce")
        for key, g in pi.groupby(pi["subject"].astype(str)):
            last = g.sort_values("year").iloc[-1]
            rows.append({"indicator": f"profile.hz_mean_{key}", "reference_value": float(last["reference"]),
                         "reference_label": bench.LAND_NAME, "reference_year": int(last["year"]),
                         "reference_source": "Polizeiliche Kriminalstatistik (BKA), Kreistabelle"})
    for _, r in own.iterrows():
        ind = str(r["indicator"])
        if ind.startswith("profile.hz_ratio_") and SAXON.search(str(r.get("label") or "")):
            rows.append({"indicator": ind, "reference_value": 1.0, "reference_label": bench.LAND_NAME,
                         "reference_year": np.nan, "reference_source": "Polizeiliche Kriminalstatistik (BKA)"})
    if benchmarks is not None and len(benchmarks):
        b = benchmarks[benchmarks["reference_label"].astype(str).str.contains(SAXON)]
        b = b.assign(year=pd.to_numeric(b["year"], errors="coerce")).sort_values("year", kind="stable")
        for ind, g in b.groupby("indicator", sort=False):
            last = g.iloc[-1]
            rows.append({"indicator": ind, "reference_value": float(last["reference_value"]),
                         "reference_label": str(last["reference_label"]),
                         "reference_year": last["year"], "reference_source": str(last["source"])})
    out = pd.DataFrame(rows, columns=["indicator", "reference_value", "reference_label", "reference_year",
                                      "reference_source"])
    return out.drop_duplicates("indicator", keep="first")


def compare_with_batch(own: pd.DataFrame, batch: pd.DataFrame, commune_id: str,
                       profile_indicators: pd.DataFrame | None = None,
                       benchmarks: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per key indicator of the commune (``own``, kit.indicators contract; flags left
    out) with the batch statistics of ``batch`` (commune_id, indicator, value; the commune's own
    rows included) and the Saxon reference (:data:`COMPARISON_COLUMNS`)."""
    own = own[own["unit"].astype(str) != "ja/nein"].drop_duplicates("indicator")
    stats = batch_statistics(batch[batch["unit"].astype(str) != "ja/nein"] if "unit" in batch else batch,
                             commune_id)
    refs = saxon_references(own, profile_indicators, benchmarks)
    out = own[["indicator", "label", "unit", "value", "lower", "upper"]].merge(stats, on="indicator", how="left")
    out = out.merge(refs, on="indicator", how="left")
    out["n_communes"] = out["n_communes"].fillna(0).astype(int)
    return out[COMPARISON_COLUMNS]


def compute_comparison(store, commune_id: str) -> pd.DataFrame:
    """The comparison for one commune from the result folders next to its own (see module docstring)."""
    from kit.indicators import collect_key_indicators

    own = collect_key_indicators(store)
    output_dir = store.commune_dir.parent
    communes = batch_communes(output_dir)
    if commune_id not in [c for c, _ in communes]:
        communes.append((commune_id, commune_id))
    batch = compare_key_indicators(output_dir, communes)
    profile = store.read_table("profile_indicators", dtype={"subject": str, "district_id": str}) \
        if store.exists("profile_indicators") else None
    bench = store.read_table("survey_benchmarks") if store.exists("survey_benchmarks") else None
    out = compare_with_batch(own, batch, commune_id, profile, bench)
    # the source of the commune's own value, e.g. "Gebietsprofil (synthetische Werte)"
    sources = own.drop_duplicates("indicator").set_index("indicator")["source"]
    out["source"] = out["indicator"].map(sources).fillna("")
    return out


def commune_names(output_dir: str | Path) -> dict[str, str]:
    return dict(batch_communes(output_dir))
