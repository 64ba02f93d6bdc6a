"""Stage 1 (Gebietsprofil): run the area-profile computations for one commune,
assemble the key indicators for stage 3 and write the results.

The notebook calls `compute_profile` once and then only displays parts of the
returned `ProfileResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import pks as pks_mod
from . import profile as prof
from .load import ProfileInputs
from .recommendations import KEY_INDICATOR_COLUMNS
from .results import ResultStore

# Summary keys shown in the report, in this order (those present in the data).
PKS_DISPLAY_KEYS = ["000000", "892000", "899000", "674000", "****00", "435*00", "210000", "220000",
                    "222000", "224000", "891000", "730000", "897000", "515001", "326*00"]


@dataclass
class ProfileResult:
    commune_id: str
    latest_year: int
    totals: pd.DataFrame
    by_district: pd.DataFrame
    pyramid: pd.DataFrame
    margins: pd.DataFrame
    pks: pd.DataFrame
    pmk: pd.DataFrame | None
    owi: pd.DataFrame | None
    clubs: pd.DataFrame | None
    accommodation: pd.DataFrame | None
    bos: pd.DataFrame | None
    education: pd.DataFrame | None
    problems: pd.DataFrame
    gaps: pd.DataFrame | None
    notes: dict[str, str] = field(default_factory=dict)
    reference: dict[str, float] = field(default_factory=dict)  # reference HZ by key (params)

    def indicators(self) -> pd.DataFrame:
        parts = [t for t in (self.pks, self.owi, self.clubs, self.accommodation, self.bos, self.education)
                 if t is not None and len(t)]
        return pd.concat(parts, ignore_index=True) if parts else prof.empty_indicators()


def compute_profile(inputs: ProfileInputs) -> ProfileResult:
    params = inputs.params
    residents = inputs["residents"]
    totals = prof.population_totals(residents)
    latest = int(totals["year"].max())
    cfg = params["profile"]
    k, conf = int(cfg["years_for_mean"]), float(cfg["confidence"])
    reference = {str(key): float(v) for key, v in (cfg.get("pks_reference") or {}).items()}
    pks_ind = pks_mod.pks_indicators(inputs["pks"], totals, years_for_mean=k, conf=conf,
                                     reference=reference or None,
                                     reference_label=cfg.get("pks_reference_label", ""))
    owi = prof.owi_rates(inputs["owi"], totals, k=k, conf=conf) if inputs["owi"] is not None else None
    clubs = prof.club_rates(inputs["clubs"], residents) if inputs["clubs"] is not None else None
    acc = (prof.accommodation_summary(inputs["accommodation"], residents)
           if inputs["accommodation"] is not None else None)
    bos = prof.bos_staff_rates(inputs["bos"], totals) if inputs["bos"] is not None else None
    edu = prof.education_per_resident(inputs["education"], totals) if inputs["education"] is not None else None
    pmk = pks_mod.pmk_summary(inputs["pmk"]) if inputs["pmk"] is not None else None

    indicator_parts = [t for t in (pks_ind, owi) if t is not None]
    problems = prof.problem_topics_from_indicators(pd.concat(indicator_parts, ignore_index=True))
    gaps = None
    if inputs["prevention"] is not None:
        gaps = prof.prevention_gap_matrix(inputs["prevention"], problems, districts=list(inputs.districts["district_id"]))
    return ProfileResult(
        commune_id=params["commune_id"], latest_year=latest, totals=totals,
        by_district=prof.population_by_district(residents), pyramid=prof.age_pyramid(residents),
        margins=prof.survey_population_margins(residents), pks=pks_ind, pmk=pmk, owi=owi, clubs=clubs,
        accommodation=acc, bos=bos, education=edu, problems=problems, gaps=gaps, notes=dict(inputs.notes),
        reference=reference,
    )


def _row(indicators: pd.DataFrame, indicator: str, subject: str = "", district: str = "") -> pd.Series | None:
    sel = indicators[(indicators["indicator"] == indicator) & (indicators["subject"] == subject)
                     & (indicators["district_id"] == district)]
    if sel.empty:
        return None
    if sel["year"].notna().any():
        sel = sel.sort_values("year")
    return sel.iloc[-1]


def key_indicators(result: ProfileResult) -> pd.DataFrame:
    """The stage-1 indicators that recommendation rules can refer to."""
    rows = []
    latest = result.totals.iloc[-1]
    rows.append({"indicator": "profile.population", "label": f"Einwohner {int(latest['year'])}",
                 "value": float(latest["total"]), "unit": "Personen"})
    rows.append({"indicator": "profile.share_65plus", "label": "Anteil der Einwohner ab 65 Jahren",
                 "value": float(latest["share_65plus_pct"]) / 100, "unit": "Anteil"})
    rows.append({"indicator": "profile.share_under18", "label": "Anteil der Einwohner unter 18 Jahren",
                 "value": float(latest["share_under18_pct"]) / 100, "unit": "Anteil"})
    for key in PKS_DISPLAY_KEYS:
        mean = _row(result.pks, "pks_hz_mean", key)
        if mean is not None:
            rows.append({"indicator": f"profile.hz_mean_{key}",
                         "label": f"HZ {mean['subject_label']} (Mittel {mean['period']})",
                         "value": mean["value"], "lower": mean["lower"], "upper": mean["upper"],
                         "unit": "je 100.000 Einw."})
        ref = _row(result.pks, "pks_hz_reference", key)
        reference = result.reference.get(key)
        if ref is not None and reference:
            rows.append({"indicator": f"profile.hz_ratio_{key}",
                         "label": f"HZ {ref['subject_label']} {ref['period']} im Verhältnis zum Referenzwert",
                         "value": ref["value"] / reference, "lower": ref["lower"] / reference,
                         "upper": ref["upper"] / reference, "unit": "× Referenz"})
        trend = _row(result.pks, "pks_trend", key)
        if trend is not None and trend["flag"]:
            rows.append({"indicator": f"profile.pks_rise_{key}",
                         "label": f"Signifikanter Anstieg {trend['subject_label']} {trend['period']}",
                         "value": 1.0 if trend["flag"] == "rise" else 0.0, "unit": "ja/nein"})
    if result.owi is not None:
        for _, r in result.owi[(result.owi["indicator"] == "owi_per_1000") & result.owi["year"].notna()].iterrows():
            if int(r["year"]) == result.owi["year"].max():
                slug = r["subject"] or "gesamt"
                rows.append({"indicator": f"profile.owi_rate_{slug}",
                             "label": f"OWi {r['subject_label'] or 'insgesamt'} je 1.000 Einw. {r['period']}",
                             "value": r["value"], "lower": r["lower"], "upper": r["upper"], "unit": "je 1.000 Einw."})
    if result.gaps is not None:
        n_gaps = int((result.gaps == prof.GAP_MISSING).to_numpy().sum())
        rows.append({"indicator": "profile.prevention_gaps",
                     "label": "Themen/Stadtteile mit Problemanzeichen ohne Präventionsaktivität",
                     "value": float(n_gaps), "unit": "Anzahl"})
    out = pd.DataFrame(rows)
    for col in KEY_INDICATOR_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    out["source"] = "Gebietsprofil"
    return out[KEY_INDICATOR_COLUMNS]


def write_profile(result: ProfileResult, store: ResultStore, inputs: ProfileInputs) -> None:
    store.write_table("districts", pd.DataFrame(
        {"district_id": inputs.districts["district_id"], "district_name": inputs.districts["district_name"]}))
    store.write_table("population_totals", result.totals)
    store.write_table("population_by_district", result.by_district)
    store.write_table("population_margins", result.margins)
    store.write_table("profile_indicators", result.indicators())
    if result.pmk is not None:
        store.write_table("pmk_summary", result.pmk)
    if result.gaps is not None:
        store.write_table("prevention_gaps", result.gaps.reset_index())
    store.write_table("key_indicators_profile", key_indicators(result))
    store.write_json("provenance_profile", {"input_hashes": inputs.hashes, "notes": result.notes,
                                            "latest_year": result.latest_year})


def pks_overview(result: ProfileResult) -> pd.DataFrame:
    """One row per summary key for the report table (latest year and multi-year mean)."""
    rows = []
    for key in PKS_DISPLAY_KEYS:
        cases = _row(result.pks, "pks_cases", key)
        if cases is None:
            continue
        hz = _row(result.pks, "pks_hz", key)
        mean = _row(result.pks, "pks_hz_mean", key)
        clear = _row(result.pks, "pks_clearance", key)
        trend = _row(result.pks, "pks_trend", key)
        ref = _row(result.pks, "pks_hz_reference", key)
        rows.append({
            "key": key, "label": cases["subject_label"], "year": int(cases["year"]),
            "cases": cases["value"], "hz": hz["value"] if hz is not None else np.nan,
            "hz_mean": mean["value"] if mean is not None else np.nan,
            "hz_mean_lower": mean["lower"] if mean is not None else np.nan,
            "hz_mean_upper": mean["upper"] if mean is not None else np.nan,
            "period": mean["period"] if mean is not None else "",
            "clearance": clear["value"] if clear is not None else np.nan,
            "trend": trend["note"] if trend is not None else "",
            "reference": ref["note"] if ref is not None else "",
            "control": key in pks_mod.CONTROL_KEYS,
        })
    return pd.DataFrame(rows)
