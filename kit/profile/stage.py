"""Stage 1 (Gebietsprofil): run the area-profile computations for one commune,
assemble the key indicators for stage 3 and write the results.

The notebook calls `compute_profile` once and then only displays parts of the
returned `ProfileResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.profile import pks as pks_mod
from kit.profile import reference as bench
from kit.profile import indicators as prof
from kit.profile import gaps as gaps_mod
from kit.profile import realdata
from kit.errors import ParamsError
from kit.profile.inputs import ProfileInputs
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.results import ResultStore

# Summary keys shown in the report, in this order (those present in the data).
PKS_DISPLAY_KEYS = ["000000", "892000", "899000", "674000", "****00", "435*00", "210000", "220000",
                    "222000", "224000", "891000", "730000", "897000", "515001", "326*00", "326000"]
# All crime and the summary groups of issue #3 (violent, street, property
# damage, theft, drugs, computer, bodily injury, robbery) for the tables over
# the years. (fallback, preferred): a fallback key is shown only when the
# preferred key is absent (the BKA Kreis table has 222000/224000 instead of
# 220000 and 730000 instead of 891000).
PKS_GROUP_KEYS = ["000000", "892000", "899000", "674000", "****00", "891000", "730000", "897000", "220000",
                  "222000", "224000", "210000"]
PKS_FALLBACK_KEYS = {"730000": "891000", "222000": "220000", "224000": "220000"}


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
    reference: dict = field(default_factory=dict)  # reference HZ by key, or {key: {year: HZ}} (params)
    reference_label: str = ""
    population: pd.DataFrame | None = None  # population indicator rows (every year, commune and districts)
    pmk_indicators: pd.DataFrame | None = None  # PMK cases as indicator rows
    pmk_types: pd.DataFrame | None = None  # PMK cases by year, area and offence type (pks.pmk_by_area_and_type)
    # default comparison with Land Sachsen and the Landkreis (kit.profile.reference): indicator rows
    # pks_hz_land / pks_hz_kreis, what they rest on, and the population shares beside Kreis and Land
    benchmarks: pd.DataFrame | None = None
    benchmark_info: bench.BenchmarkInfo | None = None
    population_benchmarks: pd.DataFrame | None = None
    # survey mentions of the places of discomfort, counted as in stage 2 (kit.survey.places), and a
    # German note when the survey could not be read
    place_mentions: object | None = None
    place_mentions_note: str | None = None
    # real files (kit.profile.realdata): Stadtteile of the residents table beside the polygons, the
    # kit's HZ beside the BKA's, Kreis indicators of the Deutschlandatlas; None / empty when absent
    district_match: pd.DataFrame | None = None
    hz_comparison: pd.DataFrame | None = None
    context: pd.DataFrame | None = None
    has_age_groups: bool = True

    def latest_pks_year(self, key: str) -> int | None:
        years = self.pks.loc[(self.pks["indicator"] == "pks_cases") & (self.pks["subject"] == key), "year"]
        return int(years.max()) if len(years) else None

    def indicators(self) -> pd.DataFrame:
        """Every stage-1 indicator in one long table (written as profile_indicators)."""
        parts = [t for t in (self.population, self.pks, self.benchmarks, self.pmk_indicators, self.owi, self.clubs,
                             self.accommodation, self.bos, self.education)
                 if t is not None and len(t)]
        return pd.concat(parts, ignore_index=True) if parts else prof.empty_indicators()


def _pks_key(key) -> str:
    """Straftatenschlüssel from YAML: 000000 unquoted arrives as the int 0, 892000 as an int."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{key:06d}"
    return str(key).strip()


def reference_from_params(params: dict) -> dict:
    """profile.pks_reference as {key: HZ} or {key: {year: HZ}} with 6-digit text keys.

    Raises ParamsError (German) for values that are not numbers.
    """
    raw = params["profile"].get("pks_reference") or {}
    if not isinstance(raw, dict):
        raise ParamsError(f"Parameterdatei {params.get('params_file', '')}: 'profile.pks_reference' muss eine "
                          "Zuordnung Schlüssel: Häufigkeitszahl sein, z. B. \"892000\": 180.")
    out: dict = {}
    for key, value in raw.items():
        k = _pks_key(key)
        try:
            if isinstance(value, dict):
                out[k] = {int(y): float(v) for y, v in value.items()}
            else:
                out[k] = float(value)
        except (TypeError, ValueError):
            raise ParamsError(f"Parameterdatei {params.get('params_file', '')}: 'profile.pks_reference' für "
                              f"Schlüssel {k}: Wert {value!r}; erwartet: Häufigkeitszahl (Zahl) oder "
                              "Jahr: Häufigkeitszahl.") from None
    return out


def reference_value(result: "ProfileResult", key: str, year: int) -> float | None:
    """Reference HZ of ``key`` for ``year`` (plain values apply to the latest year only)."""
    ref = result.reference.get(key)
    if isinstance(ref, dict):
        return ref.get(int(year))
    return ref if ref is not None and int(year) == result.latest_pks_year(key) else None


def compute_profile(inputs: ProfileInputs) -> ProfileResult:
    params = inputs.params
    residents = inputs["residents"]
    totals = prof.population_totals(residents)
    latest = int(totals["year"].max())
    cfg = params["profile"]
    k, conf = int(cfg["years_for_mean"]), float(cfg["confidence"])
    reference = reference_from_params(params)
    pks_ind = pks_mod.pks_indicators(inputs["pks"], totals, years_for_mean=k, conf=conf,
                                     reference=reference or None,
                                     reference_label=cfg.get("pks_reference_label", ""))
    owi = prof.owi_rates(inputs["owi"], totals, conf=conf) if inputs["owi"] is not None else None
    clubs = prof.club_rates(inputs["clubs"], residents) if inputs["clubs"] is not None else None
    acc = (prof.accommodation_summary(inputs["accommodation"], residents)
           if inputs["accommodation"] is not None else None)
    bos = prof.bos_staff_rates_by_year(inputs["bos"], totals) if inputs["bos"] is not None else None
    edu = prof.education_per_resident(inputs["education"], totals) if inputs["education"] is not None else None
    pmk = pks_mod.pmk_summary(inputs["pmk"]) if inputs["pmk"] is not None else None

    benchmarks, benchmark_info = bench.pks_benchmarks(pks_ind, params["ags"], conf=conf)
    # a HZ above Saxony's in the most recent year with a Land value is a problem sign like one above the reference
    indicator_parts = [t for t in (pks_ind, bench.latest_land_rows(benchmarks), owi) if t is not None]
    problems = prof.problem_topics_from_indicators(pd.concat(indicator_parts, ignore_index=True))
    gaps = None
    if inputs["prevention"] is not None:
        gaps = gaps_mod.gap_table(inputs["prevention"], problems, districts=list(inputs.districts["district_id"]))
    return ProfileResult(
        commune_id=params["commune_id"], latest_year=latest, totals=totals,
        by_district=prof.population_by_district(residents), pyramid=prof.age_pyramid(residents),
        margins=prof.survey_population_margins(residents), pks=pks_ind, pmk=pmk, owi=owi, clubs=clubs,
        accommodation=acc, bos=bos, education=edu, problems=problems, gaps=gaps, notes=dict(inputs.notes),
        reference=reference, reference_label=str(cfg.get("pks_reference_label") or ""),
        population=prof.population_indicators(residents),
        pmk_indicators=pks_mod.pmk_indicators(inputs["pmk"]) if inputs["pmk"] is not None else None,
        pmk_types=pks_mod.pmk_by_area_and_type(inputs["pmk"]) if inputs["pmk"] is not None else None,
        benchmarks=benchmarks, benchmark_info=benchmark_info,
        population_benchmarks=bench.population_benchmarks(totals, params["ags"]),
        **_place_mentions(params, inputs),
        district_match=inputs.district_match, hz_comparison=realdata.hz_comparison(inputs["pks"], pks_ind),
        context=inputs["context"], has_age_groups=prof.has_age_groups(residents),
    )


def _place_mentions(params: dict, inputs: ProfileInputs) -> dict:
    """The places' survey mentions by the one method of kit.survey.places (stage 2 counts the same)."""
    if inputs["places"] is None or not params.get("survey"):
        return {}
    from kit.survey.places import profile_place_mentions

    result, note = profile_place_mentions(params, inputs.district_names)
    return {"place_mentions": result, "place_mentions_note": note}


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
    for ind, col, label in (("profile.share_65plus", "share_65plus_pct", "Anteil der Einwohner ab 65 Jahren"),
                            ("profile.share_under18", "share_under18_pct", "Anteil der Einwohner unter 18 Jahren")):
        if not pd.isna(latest[col]):  # without age groups the share is unknown: no key indicator
            rows.append({"indicator": ind, "label": label, "value": float(latest[col]) / 100, "unit": "Anteil"})
    for key in PKS_DISPLAY_KEYS:
        mean = _row(result.pks, "pks_hz_mean", key)
        if mean is not None:
            rows.append({"indicator": f"profile.hz_mean_{key}",
                         "label": f"HZ {mean['subject_label']} (Mittel {mean['period']})",
                         "value": mean["value"], "lower": mean["lower"], "upper": mean["upper"],
                         "unit": "je 100.000 Einw."})
        # hand-typed reference (profile.pks_reference) or Land Sachsen; the most recent year with one
        ratio = bench.hz_ratio_basis(result.pks, result.benchmarks, key)
        if ratio is not None:
            who = (f"zum Referenzwert ({result.reference_label})" if result.reference_label else "zum Referenzwert") \
                if ratio["source"] == "params" else f"zu {bench.LAND_NAME}"
            when = (" (letztes Jahr mit Vergleichswert)"
                    if ratio["year"] < ratio["latest_year"] else "")
            rows.append({"indicator": f"profile.hz_ratio_{key}",
                         "label": f"HZ {ratio['subject_label']} {ratio['year']} im Verhältnis {who}{when}",
                         "value": ratio["value"] / ratio["reference"], "lower": ratio["lower"] / ratio["reference"],
                         "upper": ratio["upper"] / ratio["reference"], "unit": "× Referenz"})
        trend = _row(result.pks, "pks_trend", key)
        if trend is not None and trend["flag"]:
            rows.append({"indicator": f"profile.pks_rise_{key}",
                         "label": (f"Auffälliger Anstieg {trend['subject_label']} {int(trend['year'])} "
                                   f"(gegenüber {trend['period']}; Hinweis, kein Beweis)"),
                         "value": 1.0 if trend["flag"] == "rise" else 0.0, "unit": "ja/nein"})
    if result.owi is not None:
        for _, r in result.owi[(result.owi["indicator"] == "owi_per_1000") & result.owi["year"].notna()].iterrows():
            if int(r["year"]) == result.owi["year"].max():
                slug = r["subject"] or "gesamt"
                rows.append({"indicator": f"profile.owi_rate_{slug}",
                             "label": f"OWi {r['subject_label'] or 'insgesamt'} je 1.000 Einw. {r['period']}",
                             "value": r["value"], "lower": r["lower"], "upper": r["upper"], "unit": "je 1.000 Einw."})
        for _, r in result.owi[(result.owi["indicator"] == "owi_trend") & (result.owi["flag"] != "")].iterrows():
            rows.append({"indicator": f"profile.owi_rise_{r['subject'] or 'gesamt'}",
                         "label": (f"Auffälliger Anstieg OWi {r['subject_label']} {r['year']} "
                                   f"(gegenüber {r['period']}; Hinweis, kein Beweis)"),
                         "value": 1.0 if r["flag"] == "rise" else 0.0, "unit": "ja/nein"})
    if "share_nongerman_pct" in result.totals.columns and not pd.isna(latest["share_nongerman_pct"]):
        rows.append({"indicator": "profile.share_nongerman", "label": "Anteil nichtdeutscher Einwohner",
                     "value": float(latest["share_nongerman_pct"]) / 100, "unit": "Anteil"})
    for table, indicator, key_id, label, unit in (
            (result.bos, "bos_fulltime_per_10000", "profile.bos_fulltime_per_10000",
             "Hauptamtliches Personal der BOS (Polizei, Vollzugsdienst, Berufsfeuerwehr, Rettung) je 10.000 Einwohner",
             "je 10.000 Einw."),
            (result.bos, "bos_volunteer_per_10000", "profile.bos_volunteer_per_10000",
             "Mitglieder der Freiwilligen Feuerwehr je 10.000 Einwohner", "je 10.000 Einw."),
            (result.clubs, "clubs_per_1000", "profile.clubs_per_1000", "Vereine je 1.000 Einwohner",
             "je 1.000 Einw."),
            (result.education, "education_eur_per_resident", "profile.education_eur_per_resident",
             "Bildungsausgaben je Einwohner", "EUR je Einw."),
            (result.pmk_indicators, "pmk_cases", "profile.pmk_cases", "Fälle politisch motivierter Kriminalität",
             "Fälle")):
        r = _row(table, indicator) if table is not None else None
        if r is not None:
            rows.append({"indicator": key_id, "label": f"{label} {r['period']}", "value": r["value"], "unit": unit})
    if result.gaps is not None:
        n_gaps = gaps_mod.gap_count(result.gaps)
        rows.append({"indicator": "profile.prevention_gaps",
                     "label": ("Stadtteile und Themen mit Problemanzeichen aus dem Gebietsprofil ohne "
                               "Präventionsaktivität vor Ort"),
                     "value": float(n_gaps), "unit": "Anzahl"})
    out = pd.DataFrame(rows)
    for col in KEY_INDICATOR_COLUMNS:
        if col not in out.columns:
            out[col] = np.nan
    out["source"] = "Gebietsprofil"
    return out[KEY_INDICATOR_COLUMNS]


# Which input a key indicator is computed from (by its id's prefix), so that an indicator of an
# input marked ``synthetic: true`` carries that in its source column into stage 3 and the
# Lagebericht (numbers before words: the words are written by the views).
INDICATOR_INPUTS = {"profile.hz_": "pks", "profile.pks_": "pks", "profile.owi_": "owi", "profile.population": "residents",
                    "profile.share_": "residents", "profile.bos_": "bos", "profile.clubs_": "clubs",
                    "profile.education_": "education", "profile.prevention_": "prevention", "profile.pmk_": "pmk"}
SOURCE_SYNTHETIC = "Gebietsprofil (synthetische Werte)"


def mark_synthetic_indicators(rows: pd.DataFrame, params) -> pd.DataFrame:
    """Key indicators whose input is marked ``synthetic: true`` get the source
    :data:`SOURCE_SYNTHETIC` (a demo commune, made up as a whole, says so once in its note)."""
    if params.get("demo"):
        return rows
    made_up = {name for name, spec in (params.get("inputs") or {}).items()
               if isinstance(spec, dict) and spec.get("synthetic")}
    if not made_up:
        return rows
    out = rows.copy()
    for prefix, name in INDICATOR_INPUTS.items():
        if name in made_up:
            out.loc[out["indicator"].astype(str).str.startswith(prefix), "source"] = SOURCE_SYNTHETIC
    return out


def published_population(result: ProfileResult, params: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(totals, by_district, indicators) as they may leave memory: resident counts by sex follow
    the small-number rule (e.g. a few "divers" in a district), and the population indicator rows
    hide what the tables hide, so that no hidden count follows from the two together."""
    from kit.disclosure import policy_from_params

    policy = policy_from_params(params)
    totals, by_district = policy.population_tables(result.totals, result.by_district)
    return totals, by_district, policy.population_indicators(result.indicators(), totals, by_district)


def write_profile(result: ProfileResult, store: ResultStore, inputs: ProfileInputs) -> None:

    store.write_table("districts", pd.DataFrame(
        {"district_id": inputs.districts["district_id"], "district_name": inputs.districts["district_name"]}))
    if inputs["prevention"] is not None:  # stage 3 relates recommended measures to what exists
        store.write_table("prevention_inventory", inputs["prevention"])
    totals, by_district, indicators = published_population(result, inputs.params)
    store.write_table("population_totals", totals)
    store.write_table("population_by_district", by_district)
    store.write_table("population_margins", result.margins)
    store.write_table("profile_indicators", indicators)
    if result.pmk is not None:
        store.write_table("pmk_summary", result.pmk)
    if result.pmk_types is not None:
        store.write_table("pmk_by_type", result.pmk_types)
    if result.gaps is not None:
        store.write_table("prevention_gaps", result.gaps)  # long: topic x district, status codes
    # the signals behind the gap matrix, for the combined matrix of stage 3
    store.write_table("prevention_signals", result.problems.assign(source=gaps_mod.SOURCE_PROFILE))
    store.write_table("key_indicators_profile", mark_synthetic_indicators(key_indicators(result), inputs.params))
    if result.district_match is not None:
        # resident totals as published in population_by_district (after the small-number rule)
        match = result.district_match.copy()
        published = by_district.assign(district_id=by_district["district_id"].astype(str)).set_index("district_id")
        match["residents"] = match["district_id"].map(published["total"].astype("Float64")).astype("float64")
        store.write_table("district_match", match)
    if result.hz_comparison is not None and len(result.hz_comparison):
        store.write_table("pks_hz_comparison", result.hz_comparison)
    if result.context is not None and len(result.context):
        store.write_table("kreis_context", result.context)
    store.write_json("provenance_profile", {"input_hashes": inputs.hashes, "notes": result.notes,
                                            "latest_year": result.latest_year})


def pks_overview(result: ProfileResult) -> pd.DataFrame:
    """One row per summary key for the report table (latest year and multi-year mean).

    Columns: key, label, year, cases, hz, hz_mean (+ _lower, _upper), period,
    clearance, suspects, trend_flag, reference_hz (NaN without reference),
    reference_flag, control. Numbers and flags only: the view words the trend
    and the reference comparison from the rows of ``result.pks``
    (:func:`pks_row`).
    """
    rows = []
    for key in PKS_DISPLAY_KEYS:
        cases = _row(result.pks, "pks_cases", key)
        if cases is None:
            continue
        hz = _row(result.pks, "pks_hz", key)
        mean = _row(result.pks, "pks_hz_mean", key)
        clear = _row(result.pks, "pks_clearance", key)
        suspects = _row(result.pks, "pks_suspects", key)
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
            "suspects": suspects["value"] if suspects is not None else np.nan,
            "trend_flag": trend["flag"] if trend is not None else "",
            "reference_hz": ref["reference"] if ref is not None else np.nan,
            "reference_flag": ref["flag"] if ref is not None else "",
            "control": key in pks_mod.CONTROL_KEYS,
        })
    return pd.DataFrame(rows)


def pks_row(result: ProfileResult, indicator: str, key: str) -> pd.Series | None:
    """The latest row of a PKS indicator for one key (None when absent)."""
    return _row(result.pks, indicator, key)


def _subject_order(subjects) -> list[str]:
    """Subjects in order of appearance, the total ("") last."""
    seen = list(dict.fromkeys(str(s) for s in subjects))
    return [s for s in seen if s != ""] + ([""] if "" in seen else [])


def indicator_by_year(ind: pd.DataFrame | None, indicator: str, *, district: str = "",
                      field: str = "value", subjects: list[str] | None = None) -> pd.DataFrame:
    """Wide table of one indicator over the years: one row per subject (in
    ``subjects`` order when given, else order of appearance with the total ""
    last), columns subject, subject_label and one column per year (int).
    Only rows with a year and of ``district`` ("" = whole commune)."""
    if ind is None:
        return pd.DataFrame(columns=["subject", "subject_label"])
    rows = ind[(ind["indicator"] == indicator) & (ind["district_id"] == district) & ind["year"].notna()]
    if rows.empty:
        return pd.DataFrame(columns=["subject", "subject_label"])
    order = [s for s in subjects if s in set(rows["subject"])] if subjects is not None else _subject_order(rows["subject"])
    wide = rows.pivot_table(index="subject", columns="year", values=field, aggfunc="first", dropna=False)
    wide = wide.reindex(index=order)
    wide.columns = [int(c) for c in wide.columns]
    labels = rows.drop_duplicates("subject").set_index("subject")["subject_label"]
    wide.insert(0, "subject_label", labels.reindex(order).to_numpy())
    wide.columns.name = None
    return wide.reset_index()


def indicator_by_district(ind: pd.DataFrame | None, indicator: str, *, year: int | None = None,
                          field: str = "value") -> pd.DataFrame:
    """Wide table of one indicator by district and subject: one row per
    district (the whole commune "" last), one column per subject (total ""
    last); latest year unless ``year`` is given. Columns district_id, then the
    subjects."""
    if ind is None:
        return pd.DataFrame(columns=["district_id"])
    rows = ind[ind["indicator"] == indicator]
    if rows["year"].notna().any():
        rows = rows[rows["year"] == (rows["year"].max() if year is None else year)]
    if rows.empty:
        return pd.DataFrame(columns=["district_id"])
    wide = rows.pivot_table(index="district_id", columns="subject", values=field, aggfunc="first", dropna=False)
    districts = [d for d in dict.fromkeys(rows["district_id"]) if d != ""]
    districts = sorted(districts, key=prof._natural_key) + ([""] if "" in set(rows["district_id"]) else [])
    wide = wide.reindex(index=districts, columns=_subject_order(rows["subject"]))
    wide.columns.name = None
    return wide.reset_index()


def pks_group_keys(result: ProfileResult) -> list[str]:
    """Keys of :data:`PKS_GROUP_KEYS` present in the data; a fallback key only
    when its preferred key is absent."""
    present = set(result.pks.loc[result.pks["indicator"] == "pks_cases", "subject"])
    return [k for k in PKS_GROUP_KEYS
            if k in present and not (k in PKS_FALLBACK_KEYS and PKS_FALLBACK_KEYS[k] in present)]


def pks_year_table(result: ProfileResult, indicator: str, keys: list[str] | None = None) -> pd.DataFrame:
    """Cases, HZ, clearance or suspects (``indicator`` pks_cases, pks_hz,
    pks_clearance, pks_suspects) of all crime and the summary groups over the
    years: columns key, label, one column per year."""
    keys = pks_group_keys(result) if keys is None else keys
    wide = indicator_by_year(result.pks, indicator, subjects=keys)
    return wide.rename(columns={"subject": "key", "subject_label": "label"})
