"""Display of the area profile (tables, figures, German text) in the stage-1
notebook. Only formats and draws what kit.profile.stage computed.

Numbers before words: the indicator tables hold flags and note codes; this
module alone words them in German (:func:`note_text`, :func:`trend_text`,
:func:`reference_text`, :func:`problem_evidence`)."""

from __future__ import annotations

import html
import math

import pandas as pd

from kit import figures as plots
from kit.profile.inputs import INPUT_TITLES, ProfileInputs
from kit.profile import reference as bench
from kit.profile.pks import CONTROL_KEYS, POPULATION_LAG
from kit.profile.early_warning import CALIBRATION as EW_CALIBRATION, RULE as EW_RULE
from kit.profile import gaps as gaps_mod
from kit.profile.indicators import BOS_FULLTIME_TYPES, BOS_VOLUNTEER_TYPES, age_bands, note_codes
from kit.report import (DASH, fmt_districts, fmt_int, interactive_session, fmt_interval, fmt_num, fmt_signed, show_md,
                        show_note, show_table)
from kit.profile.stage import (ProfileResult, indicator_by_district, indicator_by_year, pks_overview, pks_row,
                               pks_year_table, reference_value)

# ---------------------------------------------------------------------------
# Wording of flags and note codes
# ---------------------------------------------------------------------------

NOTE_TEXT: dict[str, str] = {
    "population_missing": "Keine Einwohnerzahl vorhanden.",
    "no_district_population": "Keine Einwohnerzahl für diesen Stadtteil.",
    "trend_no_values": "Keine Werte vorhanden.",
    "trend_population_missing": "Einwohnerzahlen fehlen für einzelne Jahre; kein Trend berechnet.",
    "trend_no_base_counts": "In den Vorjahren kein Fall: kein Vergleichsniveau, keine Trendaussage.",
    "owi_enforcement": ("OWi-Zahlen spiegeln auch, wie oft das Ordnungsamt kontrolliert, nicht nur, "
                        "wie oft Verstöße vorkommen."),
    "members_elsewhere": "Mitglieder wohnen nicht unbedingt in der Kommune.",
    "over_capacity": "Belegung über der Platzzahl (Überbelegung).",
    "volunteer_members": "Freiwillige Feuerwehr: Mitglieder, keine hauptamtlichen Stellen.",
    "control_offence": ("Kontrolldelikt: Die Zahl hängt vor allem davon ab, wie viel Polizei, Kontrolleure oder "
                        "Ladendetektive kontrollieren, weniger davon, wie oft die Tat vorkommt."),
    "clearance_earlier_years": "Über 100 %: Es wurden auch Fälle aus früheren Jahren aufgeklärt.",
    "reference_hz_missing": "Eigene Häufigkeitszahl nicht berechenbar.",
}
TREND_TEXT = {"rise": "Auffälliger Anstieg",
              "fall": "Auffälliger Rückgang",
              "within_chance": "Im Rahmen der üblichen Schwankungen"}
# said with every "auffällig": the early warning flags about 1 in 20 unchanged series
TREND_CAVEAT = "ein Hinweis zum Hinschauen, kein Beweis"
REFERENCE_TEXT = {"above_reference": ("Über dem Referenzwert", "liegt unter dem"),
                  "below_reference": ("Unter dem Referenzwert", "liegt über dem"),
                  "like_reference": ("Im Rahmen des Referenzwerts", "liegt im")}
GAP_TEXT = {gaps_mod.GAP: "Lücke", gaps_mod.ACTIVITY: "Aktivität vor Ort", gaps_mod.NO_SIGNAL: "kein Anzeichen"}
GAP_SOURCE_TEXT = {gaps_mod.SOURCE_PROFILE: "dem Gebietsprofil (PKS, Ordnungswidrigkeiten)",
                   gaps_mod.SOURCE_SURVEY: "der Bürgerbefragung"}
GAP_SOURCE_SHORT = {gaps_mod.SOURCE_PROFILE: "Gebietsprofil", gaps_mod.SOURCE_SURVEY: "Bürgerbefragung"}


def _get(row, name, default=None):
    value = row.get(name, default) if hasattr(row, "get") else default
    if isinstance(value, (list, tuple)):
        return value
    try:
        missing = value is None or (not isinstance(value, str) and bool(pd.isna(value)))
    except (TypeError, ValueError):
        missing = False
    return default if missing else value


def _period_years(period: str) -> list[int]:
    """'2019–2021' -> [2019, 2020, 2021]; '2018, 2020' -> [2018, 2020]; '2022' -> [2022]."""
    years: list[int] = []
    for part in str(period or "").split(","):
        part = part.strip()
        if "–" in part:
            a, b = part.split("–", 1)
            years += list(range(int(a), int(b) + 1))
        elif part.isdigit():
            years.append(int(part))
    return years


def _count_num(x) -> str:
    """A count or an expected count: one decimal below 10, else whole numbers."""
    return fmt_num(x, 1 if not pd.isna(x) and abs(float(x)) < 10 else 0)


def _count_range(lower, upper) -> str:
    """The whole counts inside the range expected without change: '15 bis 36' for 14,4 to 36,1
    (so a flagged count never seems to lie inside the range shown)."""
    import math

    if pd.isna(lower) or pd.isna(upper):
        return f"{fmt_num(lower)} bis {fmt_num(upper)}"
    lo, hi = math.ceil(float(lower) - 1e-9), math.floor(float(upper) + 1e-9)
    return f"{fmt_int(lo)} bis {fmt_int(max(hi, lo))}"


def trend_text(row, available=None) -> str:
    """The early warning's finding in German, from a trend row (pks_trend/owi_trend, or a
    dict of kit.profile.indicators.early_warning_trends): flag, year, count, expected count
    and the range expected without change; "auffällig" always with its caveat."""
    flag = _get(row, "flag", "")
    period = _get(row, "period", "")
    codes = note_codes(_get(row, "note", ""))
    if flag in TREND_TEXT:
        count = _get(row, "count", _get(row, "value"))
        if count is None or _get(row, "year") is None:
            text = f"{TREND_TEXT[flag]}."
        else:
            text = (f"{TREND_TEXT[flag]}: {int(_get(row, 'year'))} {_n_cases(count)}; bei gleichbleibender Lage "
                    f"wie {period} waren etwa {_count_num(_get(row, 'expected'))} zu erwarten, üblich wären "
                    f"{_count_range(_get(row, 'lower'), _get(row, 'upper'))}.")
        if flag in ("rise", "fall"):
            text += f" Das ist {TREND_CAVEAT}."
        return text
    if "trend_missing_years" in codes:
        window = _period_years(period)
        if available is None:
            available = _get(row, "available")
        text = (f"Keine Trendaussage: Dafür werden Werte aus mindestens {EW_RULE['min_years']} der "
                f"{len(window)} Vorjahre {period} benötigt")
        if available is not None:
            from kit.profile.indicators import format_period

            text += f" (vorhanden: {format_period([y for y in available if y in window]) or 'keines'})"
        return text + "."
    for code in ("trend_no_values", "trend_population_missing", "trend_no_base_counts"):
        if code in codes:
            return NOTE_TEXT[code]
    return ""


NO_TREND_SHORT = "keine Aussage (zu wenige Vorjahre)"


def shorten_missing_trends(texts: list[str]) -> list[str]:
    """When no series has enough earlier years (e.g. a two-year series), every cell would repeat the
    same long sentence: then each says :data:`NO_TREND_SHORT` and the text under the table explains
    it once; any further note of the cell (e.g. on a control offence) stays."""
    if not texts or not all(t.startswith("Keine Trendaussage") for t in texts):
        return texts
    return [NO_TREND_SHORT + t[t.find(").") + 2:] if ")." in t else NO_TREND_SHORT for t in texts]


def early_warning_rule_text(n_series: int | None = None, *, short: bool = False) -> str:
    """The early-warning rule and its measured false-alarm rate in plain German, from
    kit.profile.early_warning.RULE and CALIBRATION (``n_series``: series checked, for the
    number of flags expected by chance; ``short``: two sentences for the PKS section)."""
    r, c = EW_RULE, EW_CALIBRATION
    level = fmt_num(100 * (1 - r["alpha"]), 0)
    one_in = fmt_int(round(1 / r["alpha"]))
    both = r["sided"] == "two"
    which = "ein Anstieg oder ein Rückgang" if both else "ein Anstieg"
    rate = f"{fmt_num(100 * c['false_alarm_rate'], 1)} %"
    if short:
        return (f"„Auffällig“ in der Spalte „Entwicklung“ heißt: Die Fallzahl des letzten Jahres liegt außerhalb des "
                f"Bereichs, der nach bis zu {r['max_years']} Vorjahren bei gleichbleibender Lage üblich ist. Auch "
                f"ohne echte Veränderung trifft das auf etwa jede {one_in}. Reihe zu (in einer Simulation {rate}); "
                f"es ist {TREND_CAVEAT}. Die Regel steht im Abschnitt „Auffällige Entwicklungen“.")
    text = (f"**So wird „auffällig“ bestimmt:** Für jede Reihe wird aus bis zu {r['max_years']} Vorjahren "
            f"(mindestens {r['min_years']}) das übliche Niveau bestimmt, an die Einwohnerzahl angepasst. Wie stark "
            "solche Zahlen von Jahr zu Jahr schwanken, wird aus allen Reihen der Kommune gemeinsam geschätzt, "
            "getrennt für PKS und Ordnungswidrigkeiten; denn Fallzahlen schwanken deutlich stärker, als der reine "
            f"Zufall erwarten ließe. Auffällig ist {which}, wenn die Zahl des letzten Jahres außerhalb des Bereichs "
            f"liegt, in den sie bei gleichbleibender Lage mit {level} % Wahrscheinlichkeit fiele. Auch ohne jede "
            f"echte Veränderung trifft das auf etwa jede {one_in}. Reihe zu: In einer Simulation mit "
            f"{fmt_int(c['simulated_series'])} Reihen ohne Veränderung waren {rate} auffällig.")
    if n_series:
        text += (f" Bei {fmt_int(n_series)} geprüften Reihen sind also etwa {fmt_num(n_series * r['alpha'], 1)} "
                 "auffällige Werte allein durch Zufall zu erwarten.")
    pw = c["power"]
    text += (f" Umgekehrt wird nicht jede echte Veränderung erkannt: Ein Anstieg um {fmt_num(100 * pw['effect'], 0)} % "
             f"bei rund {fmt_int(pw['mean'])} Fällen im Jahr, die sonst um etwa {fmt_num(100 * pw['swing'], 0)} % "
             f"schwanken, fällt nur in etwa {fmt_num(100 * pw['value'], 0)} % der Fälle auf, bei kleineren Zahlen "
             f"seltener. Ein auffälliger Wert ist deshalb {TREND_CAVEAT}; ein unauffälliger keine Entwarnung.")
    return text


def reference_text(row, reference_label: str = "") -> str:
    """The comparison of a pks_hz_reference row with its reference HZ, in German."""
    who = f"Referenz ({reference_label})" if reference_label else "Referenz"
    ref = fmt_num(_get(row, "reference"))
    flag = _get(row, "flag", "")
    if flag in REFERENCE_TEXT:
        head, where = REFERENCE_TEXT[flag]
        return (f"{head}: {who} HZ {ref} {where} zufällig erwartbaren Bereich der eigenen HZ "
                f"({fmt_num(_get(row, 'lower'))} bis {fmt_num(_get(row, 'upper'))}).")
    return f"{who}: HZ {ref}; eigene HZ nicht berechenbar."


def population_fallback_text(row) -> str:
    """'Einwohnerzahl vom 31.12.2022 verwendet (31.12.2023 nicht vorhanden).'"""
    lag = POPULATION_LAG if str(_get(row, "indicator", "")).startswith("pks_") else 0
    year, used = _get(row, "year"), _get(row, "base_year")
    if used is None:
        return "Einwohnerzahl eines anderen Jahres verwendet."
    wanted = f" (31.12.{int(year) - lag} nicht vorhanden)" if year is not None else ""
    return f"Einwohnerzahl vom 31.12.{int(used)} verwendet{wanted}."


def note_text(row, *, reference_label: str = "", available=None) -> str:
    """Everything an indicator row says in words: its flag (trend, reference comparison)
    and each note code, as German sentences."""
    parts = []
    indicator = str(_get(row, "indicator", ""))
    codes = note_codes(_get(row, "note", ""))
    if indicator.endswith("_trend"):
        parts.append(trend_text(row, available))
    elif indicator.endswith("_reference"):
        parts.append(reference_text(row, reference_label))
    elif indicator in bench.BENCHMARK_INDICATORS.values():
        parts.append(benchmark_text(row))
    for code in codes:
        if code == "population_fallback":
            parts.append(population_fallback_text(row))
        elif code == "mean_fewer_years":
            parts.append(f"Mittel über die vorhandenen Jahre {_get(row, 'period', '')}.")
        elif code.startswith("trend_") or code == "reference_hz_missing":
            continue  # worded with the flag above
        else:
            parts.append(NOTE_TEXT.get(code, code))
    return " ".join(p for p in parts if p)


def _available_years(table: pd.DataFrame | None, row) -> list[int] | None:
    """Years of the series behind a trend row (pks_cases / owi_per_1000 of the same subject)."""
    if table is None:
        return None
    base = {"pks_trend": "pks_cases", "owi_trend": "owi_per_1000"}.get(str(_get(row, "indicator", "")))
    sel = table[(table["indicator"] == base) & (table["subject"] == _get(row, "subject", ""))
                & (table["district_id"] == _get(row, "district_id", "")) & table["year"].notna()]
    return sorted(int(y) for y in sel["year"])


def problem_evidence(problems: pd.DataFrame, reference_label: str = "") -> pd.DataFrame:
    """Problem signs by topic and district with the evidence in German (topic, district_id,
    evidence; several findings joined by ' | '), from kit.profile.indicators.problem_topics_from_indicators
    (rows added by hand may bring their own ``evidence``)."""
    found: dict[tuple[str, str], list[str]] = {}
    for _, row in problems.iterrows():
        own = _get(row, "evidence", "")
        if own:
            text = str(own)
        else:
            label, subject_label = _get(row, "label", ""), _get(row, "subject_label", "")
            what = f"{label} – {subject_label}" if subject_label else str(label)
            year, period = _get(row, "year"), _get(row, "period", "")
            if str(_get(row, "indicator", "")).endswith("_trend") and year is not None and period:
                when = f" ({int(year)} gegenüber {period})"  # the period of a trend row is the years before
            else:
                when = f" ({period})" if period else ""
            words = note_text(row, reference_label=reference_label)
            text = f"{what}{when}: {words}" if words else f"{what}{when}"
        found.setdefault((str(row["topic"]), str(_get(row, "district_id", ""))), []).append(text)
    rows = [{"topic": t, "district_id": d, "evidence": " | ".join(ev)} for (t, d), ev in found.items()]
    return pd.DataFrame(rows, columns=["topic", "district_id", "evidence"])


def _show_fig(fig, source: str = "") -> None:
    """The figure with its number, caption, German alt text and source line (kit.figures.show_figure)."""
    plots.show_figure(fig, source=source)


def _register_source(inputs: ProfileInputs, year=None) -> str:
    stand = f"Stand 31.12.{int(year)}" if year is not None else "Stand jeweils 31.12."
    given = (inputs.params["inputs"].get("residents") or {}).get("source")  # inputs.residents.source
    if given:
        return f"{given} (Einwohner mit Hauptwohnsitz), {stand}"
    return f"Melderegister {inputs.params['name']} (Einwohner mit Hauptwohnsitz), {stand}"


def _map_attribution(inputs: ProfileInputs) -> str:
    given = (inputs.params["inputs"].get("districts") or {}).get("source")  # inputs.districts.source
    return f"Kartengrundlage: {given}" if given else f"Kartengrundlage: Stadtteilgrenzen {inputs.params['name']}"


def _year_text(v) -> str:
    return DASH if pd.isna(v) else str(int(v))


def _missing_note(result: ProfileResult, name: str) -> None:
    """The note on an optional input that was not supplied (from kit.profile.inputs), or a generic one."""
    show_note(result.notes.get(name, f"Für {INPUT_TITLES.get(name, name)} liegen keine Daten vor; "
                                     "der Abschnitt entfällt."))


def _year_columns(wide: pd.DataFrame, decimals: int | None) -> dict:
    """Column spec for the int year columns of a wide table (decimals None = whole numbers)."""
    years = [c for c in wide.columns if isinstance(c, int)]
    return {y: (str(y), fmt_int if decimals is None else decimals) for y in years}


def points_from_lonlat(df: pd.DataFrame | None, crs: str):
    """Rows with lon/lat as points in the districts' CRS (rows without coordinates are left out)."""
    import geopandas as gpd

    if df is None or "lon" not in df.columns or "lat" not in df.columns:
        return None
    d = df.dropna(subset=["lon", "lat"])
    if d.empty:
        return None
    return gpd.GeoDataFrame(d, geometry=gpd.points_from_xy(d["lon"].astype(float), d["lat"].astype(float)),
                            crs="EPSG:4326").to_crs(crs)


def show_data_notes(result: ProfileResult) -> None:
    if not result.notes:
        show_md("Für alle Abschnitte des Gebietsprofils liegen Daten vor.")
    for note in result.notes.values():
        show_note(note)


def show_population(result: ProfileResult, inputs: ProfileInputs) -> None:
    from kit.disclosure import policy_from_params

    from kit.profile import realdata_view
    from kit.profile.stage import published_population

    t = published_population(result, inputs.params)[0]  # counts by sex after the small-number rule
    last = t.iloc[-1]
    first = t.iloc[0]
    change = (float(last["total"]) - float(first["total"])) / float(first["total"])
    direction = "gewachsen" if change > 0.005 else ("geschrumpft" if change < -0.005 else "etwa gleich geblieben")
    since = (f" Seit {int(first['year'])} ist die Einwohnerzahl {direction} ({fmt_signed(change, 1, percent=True)})."
             if len(t) > 1 else "")
    ages = (f" {fmt_num(last['share_65plus_pct'], 1)} % der Einwohner sind 65 Jahre oder älter, "
            f"{fmt_num(last['share_under18_pct'], 1)} % jünger als 18 Jahre." if result.has_age_groups else "")
    show_md(
        f"Am 31.12.{int(last['year'])} lebten **{fmt_int(last['total'])} Menschen** mit Hauptwohnsitz in "
        f"{inputs.params['name']}.{since}{ages}"
    )
    coverage = realdata_view.coverage_text(result, inputs.params["name"])
    if coverage:
        show_md(coverage)
    if not result.has_age_groups:
        show_note(realdata_view.no_age_text(result, inputs.params["name"]))
    cols = {"year": ("Jahr", _year_text), "total": ("Einwohner", fmt_int),
            "change": ("Veränderung zum Vorjahr", fmt_signed),
            "share_under18_pct": ("unter 18 Jahre (%)", 1), "share_65plus_pct": ("65 Jahre und älter (%)", 1),
            "share_female_pct": ("Frauen (%)", 1)}
    if not result.has_age_groups:
        cols = {k: v for k, v in cols.items() if k not in ("share_under18_pct", "share_65plus_pct")}
    if len(t) == 1:
        cols.pop("change")
    if "share_nongerman_pct" in t.columns:
        cols["share_nongerman_pct"] = ("nichtdeutsch (%)", 1)
    show_table(t, cols, caption="Einwohner nach Jahren (Hauptwohnsitz, 31.12.)")
    show_population_benchmarks(result, inputs.params)
    realdata_view.show_kreis_context(result)
    if len(t) > 1:
        _show_fig(plots.population_trend(t), _register_source(inputs))
    policy = policy_from_params(inputs.params)
    if result.has_age_groups:
        _show_fig(plots.age_pyramid(age_bands(result.pyramid, policy), year=result.latest_year,
                                    min_cell=policy.min_cell),
                  _register_source(inputs, result.latest_year))
    d_total = result.pyramid.loc[result.pyramid["sex"] == "d", "count"].sum()
    if d_total and policy.small_count(d_total, zero_is_small=False):
        show_md(f"Zusätzlich sind weniger als {policy.min_cell} Personen mit dem Geschlechtseintrag „divers“ "
                "gemeldet (genaue Zahl aus Datenschutzgründen nicht ausgewiesen).")
    elif d_total:
        show_md(f"Zusätzlich sind {fmt_int(d_total)} Personen mit dem Geschlechtseintrag „divers“ gemeldet.")


def show_districts(result: ProfileResult, inputs: ProfileInputs) -> None:
    from kit.profile import realdata_view

    names = realdata_view.district_names(result, inputs.district_names)
    show_md(districts_text(result, inputs))
    realdata_view.show_district_match(result)
    from kit.profile.stage import published_population

    d = published_population(result, inputs.params)[1].copy()  # after the small-number rule
    d["name"] = d["district_id"].map(names)
    cols = {"name": ("Stadtteil", None), "total": ("Einwohner", fmt_int),
            "share_of_commune_pct": ("Anteil an der Kommune (%)", 1),
            "share_under18_pct": ("unter 18 (%)", 1), "share_65plus_pct": ("65 und älter (%)", 1),
            "share_female_pct": ("Frauen (%)", 1)}
    if not result.has_age_groups:
        cols = {k: v for k, v in cols.items() if k not in ("share_under18_pct", "share_65plus_pct")}
    if "share_nongerman_pct" in d.columns:
        cols["share_nongerman_pct"] = ("nichtdeutsch (%)", 1)
    structure = "Alters- und Geschlechtsstruktur" if result.has_age_groups else "Geschlecht und Staatsangehörigkeit"
    show_table(d, cols, caption=f"Einwohner nach Stadtteilen {result.latest_year}: {structure}")
    if result.has_age_groups:
        shown, what = "share_65plus_pct", "Anteil der Einwohner ab 65 Jahren"
    else:  # without age groups the map shows the share of non-German residents
        shown, what = "share_nongerman_pct", "Anteil nichtdeutscher Einwohner"
    if shown in d.columns:
        _show_fig(plots.choropleth(inputs.districts, d.set_index("district_id")[shown],
                                   title=f"{what} {result.latest_year} nach Stadtteilen",
                                   legend=f"{what} in %", cmap="Oranges", value_suffix=" %",
                                   attribution=_map_attribution(inputs)),
                  f"{_register_source(inputs, result.latest_year)}; {_map_attribution(inputs)}")
    crs = inputs.districts.crs
    layers = {
        "Orte des Unwohlseins (Nr. wie in der Tabelle)": (_numbered(points_from_lonlat(inputs["places"], crs),
                                                                   inputs["places"]), plots.RED, "X"),
        "Polizei / Ordnungsamt / Feuerwehr / Rettung": (points_from_lonlat(_latest_bos(inputs["bos"]), crs),
                                                        plots.BLUE, "s"),
        "Präventionsaktivitäten": (points_from_lonlat(inputs["prevention"], crs), plots.GREEN, "o"),
    }
    if any(v[0] is not None for v in layers.values()):
        _show_fig(plots.point_map(inputs.districts, layers, title="Orte des Unwohlseins, Standorte der BOS und "
                                  "Präventionsaktivitäten", attribution=_map_attribution(inputs)),
                  f"Angaben der Kommune {inputs.params['name']} (Orte des Unwohlseins, BOS-Standorte, "
                  f"Bestandsaufnahme der Prävention); {_map_attribution(inputs)}")
        without = {label: _count_without_coordinates(inputs[name]) for label, name in
                   (("Orte des Unwohlseins", "places"), ("Präventionsaktivitäten", "prevention"))}
        without = {k: v for k, v in without.items() if v}
        if without:
            show_md("Ohne Koordinaten und daher nicht in der Karte: "
                    + "; ".join(f"{k}: {fmt_int(v)}" for k, v in without.items())
                    + " (Präventionsaktivitäten ohne Ort gelten für die ganze Kommune).")
    if inputs["places"] is None:
        _missing_note(result, "places")
    else:
        p = inputs["places"].copy()
        p["Stadtteil"] = p["district_id"].map(names)
        p["nr"] = range(1, len(p) + 1)  # the numbers beside the places on the map
        cols = {"nr": ("Nr.", None), "name": ("Ort", None), "category": ("Art", None), "Stadtteil": ("Stadtteil", None),
                "source": ("Quelle", None)}
        counted = result.place_mentions  # survey mentions by the one method of stage 2 (kit.survey.places)
        if counted is not None:
            from kit.survey.view_places import method_text

            p["mentions"] = p["place_id"].astype(str).map(counted.places.set_index("place_id")["mentions"])
            cols["mentions"] = ("Nennungen", lambda v: DASH if pd.isna(v) else fmt_int(v))
            show_md(method_text(counted.threshold, stage="profile") + f" „{DASH}“: nicht ausgewiesen.")
        elif "mentions" in p.columns:  # no survey: the commune's own counts, small ones hidden all the same
            from kit.disclosure import policy_from_params

            policy = policy_from_params(inputs.params)
            p["mentions"] = [pd.NA if pd.isna(v) else policy.count_or_na(v) for v in p["mentions"]]
            cols["mentions"] = ("Nennungen (Angabe der Kommune)", lambda v: DASH if pd.isna(v) else fmt_int(v))
        if result.place_mentions_note:  # the survey's error message
            show_note(f"Die Nennungen in der Bürgerbefragung konnten nicht gezählt werden "
                      f"({result.place_mentions_note.rstrip('.')}).")
        show_table(p, cols, caption="Orte des Unwohlseins")


def _numbered(points, table: pd.DataFrame | None):
    """Points with ``map_label``: their row number in ``table`` (the table below the map)."""
    if points is None or table is None:
        return points
    position = {idx: i + 1 for i, idx in enumerate(table.index)}
    return points.assign(map_label=[position.get(i) for i in points.index])


def _pks_source(result: ProfileResult, params: dict) -> str:
    spec = params["inputs"].get("pks") or {}
    # inputs.pks.source first: a synthetic PKS (kit sachsen) must not be credited as the commune's PKS
    pks = spec.get("source") or ("Bundeskriminalamt, Polizeiliche Kriminalstatistik (Kreistabelle)"
                                 if spec.get("format") == "bka"
                                 else f"Polizeiliche Kriminalstatistik (PKS) für {params['name']}")
    register = (params["inputs"].get("residents") or {}).get("source") or f"Melderegister {params['name']}"
    hz = result.pks[(result.pks["indicator"] == "pks_hz") & result.pks["base_year"].notna()]
    fallback = bool(len(hz)) and bool((hz["base_year"].astype(int) != hz["year"].astype(int) - 1).any())
    when = "nächstgelegenes Jahr mit Einwohnerzahl, siehe Text" if fallback else "31.12. des Vorjahres"
    text = f"{pks}; Einwohner: {register} ({when})"
    if result.reference_label:
        text += f"; Referenz: {result.reference_label}"
    return text


def _count_without_coordinates(df: pd.DataFrame | None) -> int:
    if df is None:
        return 0
    if "lon" not in df.columns or "lat" not in df.columns:
        return len(df)
    return int((df["lon"].isna() | df["lat"].isna()).sum())


def _latest_bos(bos: pd.DataFrame | None) -> pd.DataFrame | None:
    """BOS units of the latest year only (the file may list several years)."""
    if bos is None or bos.empty:
        return bos
    return bos[bos["year"] == bos["year"].max()]


# ---------------------------------------------------------------------------
# Interactive map (notebook only)
# ---------------------------------------------------------------------------


def _popup(title: str, lines: list[tuple[str, str]]) -> str:
    """Popup HTML: bold title and 'Label: value' lines; every text escaped."""
    body = "".join(f"<br>{html.escape(k)}: {html.escape(v)}" for k, v in lines if v not in ("", DASH))
    return f"<b>{html.escape(title)}</b>{body}"


def _text(v) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def interactive_map(result: ProfileResult, inputs: ProfileInputs):
    """Map of the districts (popup: residents and age structure), places of
    discomfort, BOS units (latest year) and prevention activities, one
    switchable layer each; works with no network (Leaflet inlined, no tile
    server: :mod:`kit.profile.webmap`). Returns a folium.Map."""
    names = inputs.district_names
    by = result.by_district.set_index("district_id")
    places = inputs["places"]
    n_places = (places["district_id"].astype(str).value_counts() if places is not None else pd.Series(dtype=int))
    district_popups = {}
    for did, name in names.items():
        lines = []
        if did in by.index:
            r = by.loc[did]
            lines = [(f"Einwohner {result.latest_year}", fmt_int(r["total"]))]
            if result.has_age_groups:
                lines += [("unter 18 Jahre", f"{fmt_num(r['share_under18_pct'], 1)} %"),
                          ("65 Jahre und älter", f"{fmt_num(r['share_65plus_pct'], 1)} %")]
            if "share_nongerman_pct" in by.columns:
                lines.append(("nichtdeutsch", f"{fmt_num(r['share_nongerman_pct'], 1)} %"))
        if places is not None:
            lines.append(("Orte des Unwohlseins", fmt_int(n_places.get(did, 0))))
        district_popups[did] = _popup(name, lines)

    crs = inputs.districts.crs
    layers = {}
    pts = points_from_lonlat(places, crs)
    if pts is not None:
        pts = pts.assign(
            popup=[_popup(_text(r["name"]), [("Art", _text(r["category"])),
                                             ("Stadtteil", names.get(_text(r["district_id"]), "")),
                                             ("Quelle", _text(r["source"])),
                                             ("Nennungen", fmt_int(r["mentions"]) if "mentions" in pts.columns else "")])
                   for _, r in pts.iterrows()],
            tooltip=[html.escape(_text(v)) for v in pts["name"]])
        layers["Orte des Unwohlseins"] = (pts, plots.RED)
    bos = _latest_bos(inputs["bos"])
    pts = points_from_lonlat(bos, crs)
    if pts is not None:
        pts = pts.assign(
            popup=[_popup(_text(r["name"]), [("Art", _text(r["type"])),
                                             ("Stadtteil", names.get(_text(r["district_id"]), "")),
                                             (f"Personal {int(r['year'])}", fmt_int(r["staff"]))])
                   for _, r in pts.iterrows()],
            tooltip=[html.escape(_text(v)) for v in pts["name"]])
        layers["Polizei, Ordnungsamt, Feuerwehr, Rettung"] = (pts, plots.BLUE)
    prev = inputs["prevention"]
    pts = points_from_lonlat(prev, crs)
    if pts is not None:
        pts = pts.assign(
            popup=[_popup(_text(r["title"]), [("Thema", _text(r["topic"])), ("Zielgruppe", _text(r["target_group"])),
                                              ("Träger", _text(r["provider"])),
                                              ("seit", _year_text(r["since_year"]))])
                   for _, r in pts.iterrows()],
            tooltip=[html.escape(_text(v)) for v in pts["title"]])
        layers["Präventionsaktivitäten"] = (pts, plots.GREEN)
    from kit.profile import webmap

    return webmap.district_map(inputs.districts, district_popups, layers,
                               source=f"Daten: {inputs.params['name']} (Stadtteile, Orte, BOS, Prävention)")


def show_interactive_map(result: ProfileResult, inputs: ProfileInputs, force: bool = False) -> None:
    """Show the interactive map in JupyterLab; nothing in batch runs (the
    static maps above are the report's version)."""
    if not (force or interactive_session()):
        return
    from IPython.display import display

    display(interactive_map(result, inputs))


# ---------------------------------------------------------------------------
# PKS and PMK
# ---------------------------------------------------------------------------


def pks_mark(params: dict) -> str:
    """The words marking the PKS figures as synthetic ("" for a real PKS): every sentence and
    caption of the PKS section that states them carries them (kit.sources_view.synthetic_marks)."""
    from kit.sources_view import synthetic_marks

    return synthetic_marks(params, "profile").get("pks", "")


def show_pks(result: ProfileResult, params: dict) -> None:
    ov = pks_overview(result)
    if ov.empty:
        show_note("Die PKS-Daten enthalten keine der Summenschlüssel.")
        return
    mark = pks_mark(params)
    if mark:
        show_md(f"**Synthetische Daten:** Alle Fallzahlen, Häufigkeitszahlen, Aufklärungsquoten und Tatverdächtigen "
                f"von {params['name']} in diesem Abschnitt sind {mark}, keine echten Zahlen der Kommune; sie "
                "beschreiben nicht die wirkliche Lage. Echt sind nur die Vergleichswerte für Sachsen und den Kreis.")
    year = int(ov["year"].max())
    period = ov["period"].iloc[0]
    has_reference = bool(ov["reference_hz"].notna().any())
    ov["hz_ci"] = [fmt_interval(lo, hi, 0) for lo, hi in zip(ov["hz_mean_lower"], ov["hz_mean_upper"])]
    ov["label_shown"] = ov.apply(lambda r: f"{r['label']} (Kontrolldelikt)" if r["control"] else r["label"], axis=1)
    ov["trend"] = shorten_missing_trends([_pks_note(result, "pks_trend", key) for key in ov["key"]])
    ov["reference"] = [_pks_note(result, "pks_hz_reference", key) for key in ov["key"]]
    cols = {
        "key": ("Schlüssel", None), "label_shown": ("Straftat", None), "cases": (f"Fälle {year}", fmt_int),
        "hz": (f"HZ {year}", 0), "hz_mean": (f"HZ Mittel {period}", 0),
        "hz_ci": ("95-%-Intervall", None),
        "clearance": (f"Aufklärungsquote {year} (%)", 1), "suspects": (f"Tatverdächtige {year}", fmt_int),
        "trend": ("Entwicklung", None),
    }
    label = result.reference_label or "Referenz"
    if has_reference:
        cols["reference_hz"] = (f"HZ {label}", 0)
        cols["reference"] = ("Vergleich mit der Referenz", None)
        show_md(f"Eigene Vergleichswerte der Kommune (Häufigkeitszahlen): **{label}**. Als über oder unter dem "
                "Referenzwert gilt eine HZ nur, wenn der Referenzwert außerhalb ihres 95-%-Zufallsintervalls liegt.")
    show_table(ov, cols, caption="Polizeilich registrierte Kriminalität (Hellfeld): letztes Jahr und Mehrjahresmittel"
                                 + _paren(mark))
    show_md(pks_overview_text(result, ov, mark))
    show_md(early_warning_rule_text(short=True))
    show_pks_benchmarks(result, params)
    from kit.profile import realdata_view

    realdata_view.show_hz_comparison(result, list(ov["key"]), params["name"])

    show_md("**Entwicklung über die Jahre** für alle Straftaten und die Summenschlüssel (Gewalt-, Straßen-, "
            "Rauschgift- und Computerkriminalität, Sachbeschädigung, Diebstahl, Körperverletzung, Raub). "
            "Die Häufigkeitszahl bezieht sich auf die Einwohner zum 31.12. des Vorjahres.")
    for indicator, caption, decimals in (
            ("pks_cases", "Erfasste Fälle nach Jahren", None),
            ("pks_hz", "Häufigkeitszahl (Fälle je 100.000 Einwohner) nach Jahren", 0),
            ("pks_clearance", "Aufklärungsquote (%) nach Jahren", 1),
            ("pks_suspects", "Tatverdächtige nach Jahren", None)):
        wide = pks_year_table(result, indicator)
        if wide.empty:
            continue
        wide["label_shown"] = [f"{lab} (Kontrolldelikt)" if key in CONTROL_KEYS else lab
                               for key, lab in zip(wide["key"], wide["label"])]
        show_table(wide, {"key": ("Schlüssel", None), "label_shown": ("Straftat", None),
                          **_year_columns(wide, decimals)}, caption=caption + _paren(mark))

    total = result.pks[(result.pks["indicator"] == "pks_hz") & (result.pks["subject"] == "000000")].sort_values("year")
    if len(total):
        data = total.assign(period=total["year"].astype(int).astype(str))
        ref = reference_value(result, "000000", int(total["year"].max()))
        fig = plots.rate_with_interval(data, title="Häufigkeitszahl Straftaten insgesamt mit 95-%-Zufallsintervall"
                                       + _paren(mark), ylabel="Fälle je 100.000 Einw.", reference=ref,
                                       reference_label=f"{label} (letztes Jahr)")
        if mark:  # the alt text states the figures too
            info = plots.figure_info(fig)
            plots.describe(fig, title=info.title, alt=info.alt + _paren(mark), note=info.note)
        _show_fig(fig, _pks_source(result, params))


# ---------------------------------------------------------------------------
# Comparison with Land Sachsen and the Landkreis (kit.profile.reference)
# ---------------------------------------------------------------------------

# flag -> German comparison word; {where}: "in Sachsen" / "im Landkreis Mittelsachsen",
# {level}: "des Landeswerts" / "des Kreiswerts"
BENCHMARK_WORDS = {bench.ABOVE: "höher als {where}", bench.BELOW: "niedriger als {where}",
                   bench.LIKE: "im Bereich {level}"}
_LEVEL_WORDS = {bench.LAND_LEVEL: "des Landeswerts", bench.KREIS_LEVEL: "des Kreiswerts"}
_POPULATION_WORDS = {"share_65plus": "65 Jahre und älter", "share_under18": "unter 18 Jahre",
                     "share_nongerman": "nichtdeutsche Staatsangehörigkeit"}
_POPULATION_SENTENCES = {"share_65plus": "{pct} % der Einwohner waren 65 Jahre oder älter",
                         "share_under18": "{pct} % waren jünger als 18 Jahre",
                         "share_nongerman": "{pct} % hatten keine deutsche Staatsangehörigkeit"}


def _hz_decimals(*values) -> int:
    """Decimals for HZ shown side by side: whole numbers, one decimal when all are below 100."""
    known = [abs(float(v)) for v in values if v is not None and not pd.isna(v)]
    return 1 if known and max(known) < 100 else 0


def _hz(value, *beside) -> str:
    """A HZ, with the decimals of :func:`_hz_decimals` over it and the values shown beside it."""
    return fmt_num(value, _hz_decimals(value, *beside))


def _where(level: str, region_name: str = "") -> str:
    if level == bench.LAND_LEVEL:
        return f"in {bench.LAND_NAME}"
    return f"im {region_name}" if region_name else "im Landkreis"


def _list_de(items) -> str:
    """['a', 'b', 'c'] -> 'a, b und c'."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " und " + items[-1]


def benchmark_phrase(flag: str, value, reference, level: str, region_name: str = "",
                     with_numbers: bool = True, decimals: int | None = None) -> str:
    """'höher als in Sachsen (7.018 gegenüber 6.594)', 'im Bereich des Landeswerts (…)' – the
    words follow the flag of :func:`kit.profile.reference.compare_flag` (the reference outside the
    95-% interval of the own HZ), never the bare difference of the two numbers."""
    if flag not in BENCHMARK_WORDS:
        return "kein Vergleich möglich (eigene Häufigkeitszahl nicht berechenbar)"
    words = BENCHMARK_WORDS[flag].format(where=_where(level, region_name), level=_LEVEL_WORDS[level])
    if not with_numbers:
        return words
    d = _hz_decimals(value, reference) if decimals is None else decimals
    return f"{words} ({fmt_num(value, d)} gegenüber {fmt_num(reference, d)})"


def comparison_range_words(info) -> str:
    """What the interval behind "höher"/"niedriger" contains, in plain words (BenchmarkInfo.method)."""
    if info is not None and getattr(info, "method", "") == bench.COMPARISON_NB:
        return ("dieser Bereich enthält die üblichen Schwankungen von Jahr zu Jahr, wie sie die Zahlen der "
                "Kommune selbst zeigen (ein einzelnes ungewöhnliches Jahr macht noch keinen Unterschied).")
    return ("für die üblichen Schwankungen von Jahr zu Jahr liegen zu wenige Jahre oder Straftatengruppen vor; "
            "der Bereich enthält nur die Zufallsschwankung eines einzelnen Jahres und ist deshalb eher zu eng.")


def benchmark_text(row) -> str:
    """A pks_hz_land / pks_hz_kreis row in words (for problem evidence)."""
    level = bench.LAND_LEVEL if _get(row, "indicator") == bench.BENCHMARK_INDICATORS[bench.LAND_LEVEL] \
        else bench.KREIS_LEVEL
    text = benchmark_phrase(_get(row, "flag", ""), _get(row, "value"), _get(row, "reference"), level)
    lower, upper = _get(row, "lower"), _get(row, "upper")
    return f"{text[0].upper()}{text[1:]}; 95-%-Bereich der eigenen HZ (mit den üblichen Schwankungen von Jahr " \
           f"zu Jahr) {_hz(lower, upper)} bis {_hz(upper, lower)}."


def benchmark_table(result: ProfileResult) -> pd.DataFrame:
    """One row per shown key and year with a reference: key, label, year, hz, lower, upper,
    land_hz, land_flag, kreis_hz, kreis_flag (NaN/"" without a Kreis value)."""
    b = result.benchmarks
    if b is None or b.empty:
        return pd.DataFrame(columns=["key", "label", "year", "hz", "lower", "upper", "land_hz", "land_flag",
                                     "kreis_hz", "kreis_flag"])
    keys = [k for k in pks_overview(result)["key"]] if len(result.pks) else []
    rows = []
    for key in keys:
        for year in sorted({int(y) for y in b.loc[b["subject"] == key, "year"]}):
            sel = b[(b["subject"] == key) & (b["year"] == year)]
            land = sel[sel["indicator"] == bench.BENCHMARK_INDICATORS[bench.LAND_LEVEL]]
            kreis = sel[sel["indicator"] == bench.BENCHMARK_INDICATORS[bench.KREIS_LEVEL]]
            first = sel.iloc[0]
            rows.append({"key": key, "label": f"{first['subject_label']} (Kontrolldelikt)"
                         if key in CONTROL_KEYS else first["subject_label"],
                         "year": year, "hz": first["value"], "lower": first["lower"], "upper": first["upper"],
                         "land_hz": land["reference"].iloc[0] if len(land) else float("nan"),
                         "land_flag": land["flag"].iloc[0] if len(land) else "",
                         "kreis_hz": kreis["reference"].iloc[0] if len(kreis) else float("nan"),
                         "kreis_flag": kreis["flag"].iloc[0] if len(kreis) else ""})
    return pd.DataFrame(rows)


def _pks_source_line(info) -> str:
    years = _list_de(info.reference_years)
    return (f"*Quelle der Vergleichswerte: Polizeiliche Kriminalstatistik (PKS), Bundeskriminalamt, Tabelle "
            f"{bench.PKS_TABLE} (Kreise, Fälle, Häufigkeitszahlen), Berichtsjahre {years}, Lizenz: Datenlizenz "
            "Deutschland – Namensnennung (dl-de/by-2-0); Land Sachsen aus "
            "den 13 Kreisen berechnet (Summe der Fälle je 100.000 Einwohner aller Kreise). Fälle, die das BKA "
            "keinem Kreis zuordnet, fehlen in der Kreistabelle; der Landeswert kann deshalb etwas unter dem der "
            "Landestabelle liegen.*")


def show_pks_benchmarks(result: ProfileResult, params: dict) -> None:
    """Land Sachsen and Landkreis beside the commune's HZ for every year with a reference,
    the years without one, and the source."""
    info = result.benchmark_info
    if info is None:
        return
    name = params.get("name", "die Kommune")
    kreis = info.kreis
    with_kreis = kreis.status == bench.KREIS_FOUND
    title = f"Sachsen und dem {kreis.region_name}" if with_kreis else "Sachsen"
    show_md(f"**Vergleich mit {title}.** Die Häufigkeitszahlen von {name} stehen hier neben den Werten für "
            f"Sachsen{f' und den {kreis.region_name}' if with_kreis else ''} aus der Polizeilichen "
            "Kriminalstatistik des Bundeskriminalamts. „Höher“ oder „niedriger“ steht nur, wenn der Vergleichswert "
            f"außerhalb des 95-%-Bereichs der eigenen Häufigkeitszahl liegt; {comparison_range_words(info)} Sonst "
            "liegt sie „im Bereich“ des Vergleichswerts und der Unterschied kann Zufall sein.")
    if kreis.status == bench.KREIS_IS_COMMUNE:
        show_md(f"{name} ist eine kreisfreie Stadt und damit selbst ein Kreis (die Kreiswerte des BKA sind die "
                "der Stadt); verglichen wird daher nur mit dem Land Sachsen.")
    elif kreis.status == bench.KREIS_UNKNOWN:
        # the keys (Gemeindeschlüssel, Kreisschlüssel) are named in the technical notes
        show_md(f"Für {name} enthält die Kreistabelle des BKA keinen eigenen Wert; verglichen wird daher nur mit "
                "Sachsen.")
    mark = pks_mark(params)
    table = benchmark_table(result)
    if table.empty:
        show_md("Für die Jahre und Straftatenschlüssel der PKS-Daten liegen keine Vergleichswerte vor; die "
                f"BKA-Kreistabellen {_list_de(info.reference_years)} sind im Kit hinterlegt.")
        return
    year = int(table["year"].max())
    latest = table[table["year"] == year]
    total = latest[latest["key"] == "000000"]
    if len(total):
        t = total.iloc[0]
        parts = [benchmark_phrase(t["land_flag"], t["hz"], t["land_hz"], bench.LAND_LEVEL, with_numbers=False)
                 + f" ({_hz(t['land_hz'], t['hz'])})"]
        if with_kreis and t["kreis_flag"]:
            parts.append(benchmark_phrase(t["kreis_flag"], t["hz"], t["kreis_hz"], bench.KREIS_LEVEL,
                                          kreis.region_name, with_numbers=False) + f" ({_hz(t['kreis_hz'], t['hz'])})")
        ci = f"95-%-Bereich {_hz(t['lower'], t['hz'])} bis {_hz(t['upper'], t['hz'])}"
        show_md(f"Im Jahr {year} lag die Häufigkeitszahl aller Straftaten in {name} bei **{_hz(t['hz'])}**"
                f"{_paren(mark, ci)} und damit "
                f"{' sowie '.join(parts)}.")
    groups = latest[latest["key"] != "000000"]
    if len(groups):
        by_flag = {f: list(groups.loc[groups["land_flag"] == f, "label"]) for f in BENCHMARK_WORDS}
        said = []
        if by_flag[bench.ABOVE]:
            said.append(f"höher als in Sachsen: {_list_de(by_flag[bench.ABOVE])}")
        if by_flag[bench.BELOW]:
            said.append(f"niedriger: {_list_de(by_flag[bench.BELOW])}")
        if by_flag[bench.LIKE]:
            said.append(f"im Bereich des Landeswerts: {_list_de(by_flag[bench.LIKE])}")
        show_md(f"Straftatengruppen {year} im Vergleich mit Sachsen{_paren(mark)} – " + "; ".join(said) + ".")
    # one number format per row: the commune's HZ, its interval and the reference values alike
    table["decimals"] = [_hz_decimals(*vals) for vals in zip(table["hz"], table["land_hz"], table["kreis_hz"])]
    table["ci"] = [fmt_interval(lo, hi, d) for lo, hi, d in zip(table["lower"], table["upper"], table["decimals"])]
    for col in ("hz", "land_hz", "kreis_hz"):
        table[f"{col}_text"] = [fmt_num(v, d) for v, d in zip(table[col], table["decimals"])]
    table["land_words"] = [benchmark_phrase(f, v, r, bench.LAND_LEVEL, decimals=d) if f else DASH
                           for f, v, r, d in zip(table["land_flag"], table["hz"], table["land_hz"], table["decimals"])]
    cols = {"label": ("Straftat", None), "year": ("Jahr", _year_text), "hz_text": (f"HZ {name}", None),
            "ci": ("95-%-Intervall", None), "land_hz_text": ("HZ Sachsen", None),
            "land_words": ("Vergleich mit Sachsen", None)}
    if with_kreis:
        table["kreis_words"] = [benchmark_phrase(f, v, r, bench.KREIS_LEVEL, kreis.region_name, decimals=d)
                                if f else DASH for f, v, r, d in
                                zip(table["kreis_flag"], table["hz"], table["kreis_hz"], table["decimals"])]
        cols |= {"kreis_hz_text": (f"HZ {kreis.region_name}", None),
                 "kreis_words": (f"Vergleich mit dem {kreis.region_name}", None)}
    show_table(table, cols, caption=f"Häufigkeitszahl (Fälle je 100.000 Einwohner) im Vergleich mit {title}"
                                    + _paren(mark))
    missing_years = info.years_without
    if missing_years:
        verb = "liegt" if len(missing_years) == 1 else "liegen"
        show_md(f"Für {_list_de(missing_years)} {verb} keine Vergleichswerte vor; die BKA-Kreistabellen "
                f"{_list_de(info.reference_years)} sind im Kit hinterlegt.")
    shown = set(pks_overview(result)["key"])
    no_key = [k for k in info.keys_without if k in shown]
    if no_key:
        labels = [str(pks_row(result, "pks_cases", k)["subject_label"]) for k in no_key]
        show_md(f"Für {_list_de(labels)} weist die Kreistabelle des BKA keine Werte aus; dafür gibt es keinen "
                "Vergleich.")
    show_md(_pks_source_line(info))


def show_population_benchmarks(result: ProfileResult, params: dict) -> None:
    """The commune's shares of residents 65+, under 18 and non-German beside its Landkreis and Sachsen."""
    pb = result.population_benchmarks
    if pb is None or pb.empty:
        return
    name = params.get("name", "die Kommune")
    with_kreis = bool(pb["kreis_pct"].notna().any())
    kreis_name = str(pb["kreis_name"].iloc[0])
    ref_year = int(pb["year"].iloc[0])
    years = sorted(set(int(y) for y in pb["commune_year"]))
    sentences = []
    for _, r in pb.set_index("indicator", drop=False).reindex(list(_POPULATION_SENTENCES)).dropna(
            subset=["indicator"]).iterrows():
        diff = float(r["commune_pct"]) - float(r["land_pct"])
        compared = "etwa so viele wie in Sachsen" if abs(diff) < 0.5 else \
            f"{fmt_num(abs(diff), 1)} Prozentpunkte {'mehr' if diff > 0 else 'weniger'} als in Sachsen"
        kreis = f"; {kreis_name} {fmt_num(r['kreis_pct'], 1)} %" if with_kreis and not pd.isna(r["kreis_pct"]) else ""
        sentences.append(_POPULATION_SENTENCES[r["indicator"]].format(pct=fmt_num(r["commune_pct"], 1))
                         + f", {compared} ({fmt_num(r['land_pct'], 1)} %{kreis})")
    when = (f"{name} am 31.12.{ref_year}" if years == [ref_year]
            else f"{name} am 31.12.{_list_de(years)} (Vergleichswerte: {ref_year})")
    show_md(f"**Bevölkerungsstruktur im Vergleich mit Sachsen{f' und dem {kreis_name}' if with_kreis else ''}.** "
            f"{when}: " + "; ".join(sentences) + ".")
    t = pb.set_index("indicator", drop=False).reindex(list(_POPULATION_SENTENCES)).dropna(subset=["indicator"])
    t = t.assign(what=[_POPULATION_WORDS[i] for i in t["indicator"]])
    cols = {"what": ("Anteil der Einwohner (%)", None),
            "commune_pct": (f"{name} {_list_de(years)}", 1)}
    if with_kreis:
        cols["kreis_pct"] = (f"{kreis_name} {ref_year}", 1)
    cols["land_pct"] = (f"Sachsen {ref_year}", 1)
    show_table(t, cols, caption=f"Bevölkerungsstruktur von {name} im Vergleich mit "
                                f"{f'dem {kreis_name} und ' if with_kreis else ''}Sachsen")
    show_md(f"*Quelle der Vergleichswerte: Deutschlandatlas, BMWSB/BBSR, Stand 12/2024 (Kreise, Jahr {ref_year}), "
            "Lizenz: Datenlizenz Deutschland – Namensnennung (dl-de/by-2-0); Sachsen: Mittel der 13 Kreise, "
            "gewichtet mit "
            "ihrer Einwohnerzahl am 31.12.2021 (© Statistisches Bundesamt (Destatis), 2022, Gemeindeverzeichnis). "
            f"Werte von {name}: Einwohnerdaten der Kommune (31.12.).*")


def _pks_note(result: ProfileResult, indicator: str, key: str) -> str:
    row = pks_row(result, indicator, key)
    if row is None:
        return ""
    return note_text(row, reference_label=result.reference_label, available=_available_years(result.pks, row))


def show_pmk(result: ProfileResult) -> None:
    """PMK: a sentence on the latest year, the cases by phenomenon area and offence type (table
    and stacked bars) and the areas over the years."""
    if result.pmk is None:
        _missing_note(result, "pmk")
        return
    show_md(pmk_text(result))
    types = result.pmk_types
    if types is not None and len(types):
        year = int(types["year"].max())
        latest = types[types["year"] == year]
        cross = latest.pivot_table(index="area", columns="offence_type", values="count", aggfunc="sum", sort=False)
        cross = cross.reindex(index=list(dict.fromkeys(latest["area"])),
                              columns=list(dict.fromkeys(latest["offence_type"])))
        cross["Insgesamt"] = cross.sum(axis=1)
        cross.loc["Insgesamt"] = cross.sum(axis=0)
        cross = cross.reset_index().rename(columns={"index": "area"})
        cols = {"area": ("Phänomenbereich", None)} | {c: (str(c), fmt_int) for c in cross.columns if c != "area"}
        show_table(cross, cols, caption=f"Politisch motivierte Kriminalität {year} nach Phänomenbereich und "
                                        "Deliktsart (Fälle)")
        _show_fig(plots.pmk_bars(latest, title=f"Politisch motivierte Kriminalität {year}: Fälle nach "
                                               "Phänomenbereich und Deliktsart"),
                  "Polizeiliche Statistik der politisch motivierten Kriminalität (PMK)")
    cols = {c: (str(c) if c != "year" else "Jahr", _year_text if c == "year" else fmt_int)
            for c in result.pmk.columns}
    show_table(result.pmk, cols, caption="Politisch motivierte Kriminalität nach Phänomenbereich und Jahr (Fälle)")


def _and_list(items: list[str]) -> str:
    """['a', 'b', 'c'] -> 'a, b und c'."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " und " + items[-1]


def _cases(n) -> str:
    return "1 Fall" if int(n) == 1 else f"{fmt_int(n)} Fälle"


def pmk_text(result: ProfileResult) -> str:
    """The latest PMK year in words: cases, change to the year before, the largest phenomenon
    area with its main offence type, and the caveat on small numbers."""
    wide = result.pmk.sort_values("year")
    last = wide.iloc[-1]
    year, total = int(last["year"]), int(last["Insgesamt"])
    text = f"{year} wurden {_cases(total)} politisch motivierter Kriminalität erfasst"
    if len(wide) > 1:
        before = wide.iloc[-2]
        text += f" ({int(before['year'])}: {fmt_int(before['Insgesamt'])})"
    if total == 0:
        return text + "."
    types = result.pmk_types
    if types is not None and len(types):
        latest = types[types["year"] == year]
        by_area = latest.groupby("area", sort=False)["count"].sum()
        top = by_area[by_area == by_area.max()].index.tolist()
        text += (f". Die meisten Fälle entfallen auf den Phänomenbereich {_and_list([f'„{a}“' for a in top])} "
                 f"({_cases(by_area.max())}{' je Bereich' if len(top) > 1 else ''})")
        if len(top) == 1:
            main = latest[latest["area"] == top[0]].set_index("offence_type")["count"]
            if main.max() > 0:
                lead = main[main == main.max()].index.tolist()
                text += f", davon {fmt_int(main.max())} {_and_list(lead)}"
        by_type = latest.groupby("offence_type", sort=False)["count"].sum()
        lead = by_type[by_type == by_type.max()].index.tolist()
        text += (f". Nach Deliktsart über alle Bereiche: am häufigsten {_and_list(lead)} "
                 f"({_cases(by_type.max())}{' je Deliktsart' if len(lead) > 1 else ''})")
    return (text + ". Verglichen mit der Polizeilichen Kriminalstatistik sind die Zahlen klein: Schon wenige Taten, "
            "etwa eine Serie von Schmierereien, verändern sie von Jahr zu Jahr deutlich.")


# ---------------------------------------------------------------------------
# OWi, clubs, accommodation, BOS, education
# ---------------------------------------------------------------------------


def _indicator_table(ind: pd.DataFrame, indicator: str, *, latest_only: bool = True, decimals: int = 1,
                     subject_header: str = "Kategorie", value_header: str = "Wert", caption: str = "",
                     with_interval: bool = False, district_names: dict | None = None,
                     count_header: str | None = None) -> None:
    rows = ind[ind["indicator"] == indicator].copy()
    if latest_only and rows["year"].notna().any():
        rows = rows[rows["year"] == rows["year"].max()]
    if rows.empty:
        return
    rows["subject_shown"] = rows["subject_label"].where(rows["subject_label"] != "", "insgesamt")
    cols = {"subject_shown": (subject_header, None)}
    if district_names is not None:
        rows["district"] = rows["district_id"].map(district_names).fillna("gesamte Kommune")
        cols = {"district": ("Stadtteil", None), **cols}
    if count_header:
        cols["count"] = (count_header, fmt_int)
    cols["value"] = (value_header, decimals)
    if with_interval:
        rows["ci"] = [fmt_interval(lo, hi, decimals) for lo, hi in zip(rows["lower"], rows["upper"])]
        cols["ci"] = ("95-%-Intervall", None)
    show_table(rows, cols, caption=caption)


def _wide_by_year(ind: pd.DataFrame, indicator: str, *, caption: str, subject_header: str, decimals: int,
                  total_label: str = "insgesamt") -> None:
    wide = indicator_by_year(ind, indicator)
    if wide.empty:
        return
    wide["subject_shown"] = wide["subject_label"].where(wide["subject"] != "", total_label)
    show_table(wide, {"subject_shown": (subject_header, None), **_year_columns(wide, decimals)}, caption=caption)


#: Ordnungswidrigkeiten, Vereine, BOS and Bildungsausgaben: the kit ships no Saxon values (only the
#: HZ and the population structure); stage 3 (kit.recommend.compare) puts their key indicators beside
#: the other communes of the batch.
NO_SAXON_BENCHMARK = (" Für Sachsen gibt es hierzu keine veröffentlichten Vergleichswerte; den Vergleich mit den "
                      "anderen Kommunen derselben Auswertung enthält der Bericht mit den Handlungsempfehlungen.")


def show_owi(result: ProfileResult) -> None:
    if result.owi is None:
        _missing_note(result, "owi")
        return
    ind = result.owi
    show_md(owi_text(result) + NO_SAXON_BENCHMARK)
    year = int(ind["year"].max())
    _indicator_table(ind, "owi_per_1000", caption=f"Ordnungswidrigkeiten {year}: Fälle und je 1.000 Einwohner",
                     value_header="je 1.000 Einw.", with_interval=True, count_header=f"Fälle {year}")
    _wide_by_year(ind, "owi_per_1000", caption="Ordnungswidrigkeiten je 1.000 Einwohner nach Kategorie und Jahr",
                  subject_header="Kategorie", decimals=1)
    show_md(owi_trend_text(result))


def show_clubs(result: ProfileResult, inputs: ProfileInputs) -> None:
    if result.clubs is None:
        _missing_note(result, "clubs")
        return
    c = result.clubs
    show_md(clubs_text(result, inputs) + NO_SAXON_BENCHMARK)
    _indicator_table(c[c["district_id"] == ""], "clubs_per_1000",
                     caption=f"Vereine nach Art: Anzahl und je 1.000 Einwohner ({result.latest_year})",
                     value_header="je 1.000 Einw.", decimals=2, subject_header="Art", count_header="Vereine")
    wide = indicator_by_district(c, "clubs_per_1000")
    counts = indicator_by_district(c, "clubs_per_1000", field="count")
    if len(wide) > 1:
        names = inputs.district_names
        wide["name"] = [names.get(d, "gesamte Kommune" if d == "" else d) for d in wide["district_id"]]
        wide["n_clubs"] = counts[""].to_numpy() if "" in counts.columns else float("nan")
        subjects = [s for s in wide.columns if s not in ("district_id", "name", "n_clubs")]
        cols = {"name": ("Stadtteil", None), "n_clubs": ("Vereine", fmt_int)}
        cols |= {s: (s if s else "alle Arten", 2) for s in subjects}
        show_table(wide, cols, caption=f"Vereine je 1.000 Einwohner nach Stadtteil und Art ({result.latest_year})")
    members = c[(c["indicator"] == "club_members_per_1000") & (c["subject"] == "")]
    if len(members):
        m = members.iloc[0]
        known = c[(c["indicator"] == "clubs_members_known") & (c["subject"] == "")]
        text = f"Vereinsmitglieder: {fmt_num(m['value'], 0)} je 1.000 Einwohner."
        if len(known):
            k = known.iloc[0]
            text += f" Mitgliederzahl für {fmt_int(k['value'])} von {fmt_int(k['base'])} Vereinen bekannt;"
        show_md(f"{text} {note_text(m)}")


def show_accommodation(result: ProfileResult, inputs: ProfileInputs) -> None:
    if result.accommodation is None:
        _missing_note(result, "accommodation")
        return
    show_md(accommodation_text(result))
    a = result.accommodation
    a = a[a["year"] == a["year"].max()]
    year = int(a["year"].max())
    key = ["district_id", "subject"]
    table = a[a["indicator"] == "accommodation_places"][key + ["subject_label", "value"]].rename(
        columns={"value": "places"})
    for indicator, col in (("accommodation_facilities", "facilities"), ("accommodation_occupancy_pct", "occupancy"),
                           ("accommodation_places_per_1000", "per_1000")):
        part = a[a["indicator"] == indicator][key + ["value"]].rename(columns={"value": col})
        table = table.merge(part, on=key, how="left")
    names = inputs.district_names
    table["district"] = [names.get(d, "gesamte Kommune" if d == "" else d) for d in table["district_id"]]
    table["type"] = table["subject_label"].where(table["subject"] != "", "alle Arten")
    # district file order, the whole commune last; within a district the types, then "alle Arten"
    rank = {d: i for i, d in enumerate(names)}
    table["d_rank"] = [rank.get(d, len(rank)) if d != "" else len(rank) + 1 for d in table["district_id"]]
    table["t_rank"] = table["subject"] == ""
    table = table.sort_values(["d_rank", "t_rank", "type"], kind="stable")
    cols = {"district": ("Stadtteil", None), "type": ("Art", None), "facilities": ("Einrichtungen", fmt_int),
            "places": ("Plätze", fmt_int), "occupancy": ("Auslastung (%)", 1)}
    if "per_1000" in table.columns and table["per_1000"].notna().any():
        cols["per_1000"] = ("Plätze je 1.000 Einw.", 1)
    show_table(table, cols, caption=f"Unterbringung nach Stadtteil und Art {year}")
    show_md("Frauenschutzhäuser werden nur für die gesamte Kommune ausgewiesen, weil ihr Ort geschützt ist.")


BOS_FULLTIME_WORDS = "Polizei, Gemeindlicher Vollzugsdienst, Berufsfeuerwehr und Rettungsdienst"


def bos_text(result: ProfileResult) -> str:
    """Full-time staff and volunteer members per 10,000 residents in words (latest year and
    the change since the first year), never added up."""
    from kit.report import fmt_signed

    b = result.bos
    year = int(b["year"].max())

    def row(indicator, y=year):
        sel = b[(b["indicator"] == indicator) & (b["year"] == y) & (b["subject"] == "")]
        return sel.iloc[0] if len(sel) else None

    parts = []
    full, vol = row("bos_fulltime_per_10000"), row("bos_volunteer_per_10000")
    if full is not None:
        units = b[(b["indicator"] == "bos_units") & (b["year"] == year) & b["subject"].isin(BOS_FULLTIME_TYPES)]
        parts.append(f"{year} kamen auf 10.000 Einwohner **{fmt_num(full['value'], 1)} hauptamtliche Kräfte** "
                     f"({BOS_FULLTIME_WORDS}; zusammen {fmt_int(full['count'])} Personen in "
                     f"{fmt_int(units['value'].sum())} Dienststellen).")
    else:
        parts.append(f"Für {year} sind keine hauptamtlichen Kräfte ({BOS_FULLTIME_WORDS}) erfasst.")
    if vol is not None:
        parts.append(f"Dazu kommen **{fmt_num(vol['value'], 1)} Mitglieder der Freiwilligen Feuerwehr** je 10.000 "
                     f"Einwohner ({fmt_int(vol['count'])} Mitglieder). Sie sind ehrenamtlich tätig; ihre Zahl wird "
                     "deshalb nicht zum hauptamtlichen Personal addiert, und der Vergleich mit anderen Kommunen "
                     "nutzt nur das hauptamtliche Personal.")
    first = int(b["year"].min())
    start = row("bos_fulltime_per_10000", first)
    if first < year and full is not None and start is not None:
        parts.append(f"Seit {first} hat sich das hauptamtliche Personal je 10.000 Einwohner um "
                     f"{fmt_signed(full['value'] - start['value'], 1)} verändert ({first}: {fmt_num(start['value'], 1)}).")
    return " ".join(parts)


def show_bos(result: ProfileResult) -> None:
    if result.bos is None:
        _missing_note(result, "bos")
        return
    b = result.bos
    show_md(bos_text(result) + NO_SAXON_BENCHMARK)
    year = int(b["year"].max())
    latest = b[b["year"] == year]
    units = latest[latest["indicator"] == "bos_units"][["subject", "value"]].rename(columns={"value": "units"})
    staff = latest[latest["indicator"] == "bos_staff_per_10000"].merge(units, on="subject", how="left")
    staff["kind"] = ["ehrenamtlich (Mitglieder)" if t in BOS_VOLUNTEER_TYPES else "hauptamtlich"
                     for t in staff["subject"]]
    staff["subject_shown"] = staff["subject_label"]
    full = latest[latest["indicator"] == "bos_fulltime_per_10000"]
    full_units = units[units["subject"].isin(BOS_FULLTIME_TYPES)]["units"].sum()
    rows = [staff[staff["kind"] == "hauptamtlich"]]
    if len(full):
        rows.append(full.assign(subject_shown="Hauptamtliche Kräfte zusammen", kind="hauptamtlich",
                                units=full_units))
    rows.append(staff[staff["kind"] != "hauptamtlich"])
    table = pd.concat(rows, ignore_index=True)
    show_table(table, {"subject_shown": ("Art", None), "kind": ("Personal", None),
                       "units": ("Dienststellen/Einheiten", fmt_int), "count": ("Personen", fmt_int),
                       "value": ("je 10.000 Einw.", 1)},
               caption=f"Behörden und Organisationen mit Sicherheitsaufgaben (BOS) {year}: Personal je 10.000 "
                       "Einwohner, hauptamtlich und ehrenamtlich getrennt")
    if b["year"].nunique() > 1:
        groups = b[b["indicator"].isin(["bos_fulltime_per_10000", "bos_volunteer_per_10000"])].copy()
        groups["subject"] = groups["indicator"]
        groups["subject_label"] = groups["indicator"].map(
            {"bos_fulltime_per_10000": "Hauptamtliche Kräfte zusammen",
             "bos_volunteer_per_10000": "Freiwillige Feuerwehr (Mitglieder, ehrenamtlich)"})
        groups["indicator"] = "bos_staff_per_10000"
        per_type = b[b["indicator"] == "bos_staff_per_10000"]
        # the volunteer group row stands for the Freiwillige Feuerwehr (the only volunteer type)
        order = [t for t in BOS_FULLTIME_TYPES if t in set(per_type["subject"])] + ["bos_fulltime_per_10000"] + \
                [t for t in per_type["subject"].unique() if t not in (*BOS_FULLTIME_TYPES, *BOS_VOLUNTEER_TYPES)] + \
                ["bos_volunteer_per_10000"]
        wide = indicator_by_year(pd.concat([per_type, groups], ignore_index=True), "bos_staff_per_10000",
                                 subjects=order)
        show_table(wide, {"subject_label": ("Art", None), **_year_columns(wide, 1)},
                   caption="Personal der BOS je 10.000 Einwohner nach Jahr (hauptamtlich und ehrenamtlich getrennt)")


def show_education(result: ProfileResult) -> None:
    if result.education is None:
        _missing_note(result, "education")
        return
    show_md(education_text(result) + NO_SAXON_BENCHMARK)
    e = result.education
    _wide_by_year(e, "education_eur_per_resident", caption="Bildungsausgaben je Einwohner (EUR) nach Bereich und Jahr",
                  subject_header="Bereich", decimals=2)
    if (e["indicator"] == "education_fte_per_10000").any():
        _wide_by_year(e, "education_fte_per_10000",
                      caption="Stellen (Vollzeitäquivalente) je 10.000 Einwohner nach Bereich und Jahr",
                      subject_header="Bereich", decimals=2)


def show_structure(result: ProfileResult, inputs: ProfileInputs) -> None:
    """Clubs, accommodation, BOS and education in one go (each with a note when its input is missing)."""
    show_clubs(result, inputs)
    show_accommodation(result, inputs)
    show_bos(result)
    show_education(result)


# ---------------------------------------------------------------------------
# Prevention and trends
# ---------------------------------------------------------------------------


def _activity_count(n) -> str:
    return "1 Aktivität" if int(n) == 1 else f"{fmt_int(n)} Aktivitäten"


def gap_cell_text(status: str, n_activities, signal: str = "") -> str:
    """One cell of the gap matrix in words."""
    if status == gaps_mod.ACTIVITY:
        return _activity_count(n_activities)
    if status == gaps_mod.GAP:
        return "Lücke (Anzeichen im Stadtteil)" if signal == gaps_mod.SIGNAL_DISTRICT else "Lücke"
    return GAP_TEXT.get(status, status)


def _signal_sources(table: pd.DataFrame) -> list[str]:
    return sorted({s for v in table["sources"] for s in str(v).split(";") if s})


def gap_rule_text(table: pd.DataFrame) -> str:
    """What the matrix shows and how a cell is decided, in words (rows only for topics with a signal)."""
    from kit.profile.indicators import PREVENTION_TOPICS

    topics = list(dict.fromkeys(table["topic"]))
    where = _and_list([GAP_SOURCE_TEXT.get(s, s) for s in _signal_sources(table)])
    return (f"Die Lückenmatrix enthält nur Themen mit einem Problemanzeichen aus {where}: hier {fmt_int(len(topics))} "
            f"von {fmt_int(len(PREVENTION_TOPICS))} Themen. Themen ohne Anzeichen stehen nicht in der Matrix. "
            "Eine Präventionsaktivität zählt in dem Stadtteil, in dem sie stattfindet. Aktivitäten ohne Ortsangabe "
            "(für die ganze Kommune) stehen in einer eigenen Spalte und füllen keinen Stadtteil, weil nicht belegt "
            "ist, dass sie dort ankommen. Ein Anzeichen für die ganze Kommune gilt für jeden Stadtteil (PKS und "
            "Ordnungswidrigkeiten liegen nur für die ganze Kommune vor); ein Anzeichen, das nur ein Stadtteil "
            "zeigt, gilt nur dort. **Lücke** heißt: Problemanzeichen, aber keine Aktivität zum Thema im Stadtteil."
            + (" „Lücke (Anzeichen im Stadtteil)“: Das Anzeichen zeigt sich in den Werten dieses Stadtteils selbst."
               if (table["signal"] == gaps_mod.SIGNAL_DISTRICT).any() else ""))


def _districts_text(ids: list[str], all_ids: list[str], names: dict) -> str:
    """'Kernstadt und Oberau', or for long lists 'alle außer Nordvorstadt' / a count."""
    shown = [names.get(d, d) for d in ids]
    if len(ids) <= 6:
        return _and_list(shown)
    rest = [names.get(d, d) for d in all_ids if d not in ids]
    return f"allen außer {_and_list(rest)}" if rest and len(rest) <= 6 else ""


def gap_topic_lines(table: pd.DataFrame, commune_wide: pd.DataFrame, names: dict,
                    titles: dict[str, str]) -> list[str]:
    """One German line per topic: where the gaps are, where activities run, what runs commune-wide."""
    lines = []
    all_ids = list(dict.fromkeys(table["district_id"]))
    wide = commune_wide.set_index("topic")
    for topic, t in table.groupby("topic", sort=False):
        gap_ids = list(t.loc[t["status"] == gaps_mod.GAP, "district_id"])
        act_ids = list(t.loc[t["status"] == gaps_mod.ACTIVITY, "district_id"])
        parts = []
        if gap_ids:
            where = _districts_text(gap_ids, all_ids, names)
            parts.append(f"Lücke in {fmt_int(len(gap_ids))} von {fmt_districts(len(all_ids), dative=True)}"
                         + (f" ({where})" if where else ""))
        else:
            parts.append("keine Lücke")
        if act_ids:
            parts.append("Aktivität vor Ort in "
                         + (_districts_text(act_ids, all_ids, names) or fmt_districts(len(act_ids), dative=True)))
        ids = [i for i in str(wide.loc[topic, "activity_ids"]).split(";") if i] if topic in wide.index else []
        if ids:
            parts.append("ohne Ortsangabe (ganze Kommune): " + "; ".join(titles.get(i, i) for i in ids))
        elif not act_ids:
            parts.append("zum Thema ist keine Präventionsaktivität erfasst")
        lines.append(f"- **{topic}**: " + "; ".join(parts) + ".")
    return lines


def gap_matrix_frame(table: pd.DataFrame, commune_wide: pd.DataFrame, names: dict) -> pd.DataFrame:
    """The matrix in words: Thema, Anzeichen aus, ohne Ortsangabe (count), one column per district."""
    rows = []
    wide = commune_wide.set_index("topic")
    for topic, t in table.groupby("topic", sort=False):
        commune = (t["signal"] == gaps_mod.SIGNAL_COMMUNE).any()
        n_local = int((t["signal"] == gaps_mod.SIGNAL_DISTRICT).sum())
        local = fmt_districts(n_local)
        level = ("ganze Kommune" + (f", {local} auch einzeln" if n_local else "")) if commune else local
        src = _and_list([GAP_SOURCE_SHORT.get(s, s) for s in _signal_sources(t)])
        row = {"Thema": topic, "Anzeichen aus": f"{src} ({level})",
               "ohne Ortsangabe (ganze Kommune)": _activity_count(wide.loc[topic, "n_activities"])
               if topic in wide.index and int(wide.loc[topic, "n_activities"]) else "keine"}
        for _, c in t.iterrows():
            row[names.get(c["district_id"], c["district_id"])] = gap_cell_text(c["status"], c["n_activities"],
                                                                              c["signal"])
        rows.append(row)
    return pd.DataFrame(rows)


def show_gap_matrix(table: pd.DataFrame, prevention: pd.DataFrame | None, names: dict,
                    evidence: pd.DataFrame | None = None, *, caption: str) -> None:
    """Rule, findings per topic, the matrix, the commune-wide activities and (``evidence``:
    columns Thema, Stadtteil, Anzeichen) the signals behind it."""
    commune_wide = gaps_mod.commune_wide_activities(prevention, list(dict.fromkeys(table["topic"])))
    titles = {}
    if prevention is not None and "activity_id" in prevention.columns:
        titles = {str(a): str(t) for a, t in zip(prevention["activity_id"], prevention["title"])}
    show_md(gap_rule_text(table))
    n_gap, cells = gaps_mod.gap_count(table), len(table)
    show_md(f"**Ergebnis:** {fmt_int(n_gap)} von {fmt_int(cells)} Feldern (Stadtteil und Thema) sind Lücken.\n\n"
            + "\n".join(gap_topic_lines(table, commune_wide, names, titles)))
    frame = gap_matrix_frame(table, commune_wide, names)
    show_table(frame, {c: (c, None) for c in frame.columns}, caption=caption)
    if prevention is not None and int(commune_wide["n_activities"].sum()):
        p = gaps_mod.activities_frame(prevention).assign(
            title=list(prevention["title"]), provider=list(prevention.get("provider", [""] * len(prevention))),
            target_group=list(prevention.get("target_group", [""] * len(prevention))))
        p = p[(p["district_id"] == "") & p["topic"].isin(list(commune_wide["topic"]))]
        show_table(p, {"topic": ("Thema", None), "title": ("Maßnahme", None), "target_group": ("Zielgruppe", None),
                       "provider": ("Träger", None)},
                   caption="Aktivitäten ohne Ortsangabe (ganze Kommune) zu diesen Themen: in der Matrix keinem "
                           "Stadtteil zugerechnet")
    if evidence is not None and len(evidence):
        show_table(evidence, {c: (c, None) for c in ("Thema", "Stadtteil", "Anzeichen")},
                   caption="Problemanzeichen hinter der Lückenmatrix")


def show_prevention(result: ProfileResult, inputs: ProfileInputs) -> None:
    prev = inputs["prevention"]
    if prev is None:
        _missing_note(result, "prevention")
        return
    names = inputs.district_names
    p = prev.copy()
    p["Stadtteil"] = p["district_id"].map(names).fillna("gesamte Kommune") if "district_id" in p.columns else "gesamte Kommune"
    acts = gaps_mod.activities_frame(prev)
    n_wide = int((acts["district_id"] == "").sum())
    show_md(f"Erfasst sind {_activity_count(len(acts))}: {fmt_int(len(acts) - n_wide)} mit Ort in einem Stadtteil, "
            f"{fmt_int(n_wide)} ohne Ortsangabe (für die ganze Kommune).")
    show_table(p, {"title": ("Maßnahme", None), "topic": ("Thema", None), "target_group": ("Zielgruppe", None),
                   "Stadtteil": ("Stadtteil", None), "provider": ("Träger", None), "since_year": ("seit", _year_text)},
               caption="Bestandsaufnahme der Präventionsaktivitäten")
    if result.gaps is None or result.gaps.empty:
        show_md("Aus PKS und Ordnungswidrigkeiten ergibt sich für kein Thema ein Problemanzeichen (kein auffälliger "
                "Anstieg, kein Wert über dem Vergleichswert). Die Lückenmatrix entfällt, denn sie zeigt nur Themen "
                "mit Problemanzeichen. Die Ergebnisse der Bürgerbefragung kommen in den Handlungsempfehlungen hinzu.")
        return
    show_gap_matrix(result.gaps, prev, names, profile_evidence_frame(result.problems, names, result.reference_label),
                    caption="Lückenmatrix: Themen mit Problemanzeichen nach Stadtteil")
    if (inputs.params.get("survey") or {}).get("responses"):
        show_md("Die Handlungsempfehlungen ergänzen die Matrix um die Problemanzeichen aus der Bürgerbefragung.")


def profile_evidence_frame(problems: pd.DataFrame, names: dict, reference_label: str = "") -> pd.DataFrame:
    """The profile's problem signals in words: Thema, Stadtteil, Anzeichen."""
    ev = problem_evidence(problems, reference_label)
    return pd.DataFrame({"Thema": ev["topic"],
                         "Stadtteil": [names.get(d, "gesamte Kommune" if d == "" else d) for d in ev["district_id"]],
                         "Anzeichen": ev["evidence"]})


def trend_overview(result: ProfileResult) -> pd.DataFrame:
    """Rows of the PKS and OWi trend indicators (for the early-warning list; flag "" = not checked)."""
    parts = [t[t["indicator"].isin(["pks_trend", "owi_trend"])]
             for t in (result.pks, result.owi) if t is not None]
    if not parts:
        return pd.DataFrame(columns=result.pks.columns)
    return pd.concat(parts, ignore_index=True)


def _trend_what(row) -> str:
    """The series of a trend row in words: 'Diebstahl insgesamt', 'Einfacher Ladendiebstahl (Kontrolldelikt)',
    'alle Kategorien'."""
    label, indicator, key = _get(row, "subject_label", ""), _get(row, "indicator", ""), _get(row, "subject", "")
    if indicator == "owi_trend" and key == "":
        return "alle Kategorien"
    return (label or "insgesamt") + (" (Kontrolldelikt)" if indicator == "pks_trend" and key in CONTROL_KEYS else "")


def show_trends(result: ProfileResult) -> None:
    """Early warning: the PKS and OWi series whose latest year lies outside the range expected
    without change (rises first, then falls), with the rule and its false-alarm rate."""
    t = trend_overview(result)
    checked = t[t["flag"].isin(["rise", "fall", "within_chance"])]
    show_md(early_warning_rule_text(len(checked)))
    flagged = checked[checked["flag"].isin(["rise", "fall"])].copy()
    not_checked = len(t) - len(checked)
    rest = (f" {fmt_int(not_checked)} weitere Reihen ließen sich nicht prüfen (zu wenige Vorjahre oder keine Fälle "
            "in den Vorjahren)." if not_checked else "")
    if checked.empty and not_checked:  # e.g. two report years (Dresden from the BKA tables 2020 and 2022)
        show_md(f"Keine der {fmt_int(not_checked)} Reihen ließ sich prüfen: Dafür fehlen Vorjahre (oder Fälle in den "
                "Vorjahren). Ob sich etwas auffällig entwickelt hat, bleibt deshalb offen.")
        return
    if flagged.empty:
        show_md(f"Von {fmt_int(len(checked))} geprüften Reihen (PKS und Ordnungswidrigkeiten) ist keine auffällig: "
                f"Alle Werte des letzten Jahres liegen im Bereich der üblichen Schwankungen.{rest}")
        return
    n_rise, n_fall = int((flagged["flag"] == "rise").sum()), int((flagged["flag"] == "fall").sum())
    counts = _list_de([f"{fmt_int(n)} {word}" for n, word in ((n_rise, "mit auffälligem Anstieg"),
                                                                (n_fall, "mit auffälligem Rückgang")) if n])
    show_md(f"Von {fmt_int(len(checked))} geprüften Reihen (PKS und Ordnungswidrigkeiten) sind {counts}; "
            f"jede davon ist {TREND_CAVEAT}.{rest}")
    flagged["area"] = ["PKS" if i == "pks_trend" else "Ordnungswidrigkeiten" for i in flagged["indicator"]]
    flagged["what"] = [_trend_what(r) for _, r in flagged.iterrows()]
    flagged["finding"] = [note_text(r) for _, r in flagged.iterrows()]
    flagged["order"] = flagged["flag"].map({"rise": 0, "fall": 1})
    flagged["area_order"] = (flagged["area"] != "PKS").astype(int)
    flagged = flagged.sort_values(["order", "area_order"], kind="stable")
    show_table(flagged, {"area": ("Bereich", None), "what": ("Reihe", None), "year": ("Jahr", _year_text),
                         "finding": ("Befund", None)},
               caption=f"Frühwarnung: auffällige Entwicklungen ({fmt_int(len(flagged))} von "
                       f"{fmt_int(len(checked))} geprüften Reihen)")


# ---------------------------------------------------------------------------
# "Das Wichtigste in Kürze", section sentences, technical notes
# ---------------------------------------------------------------------------

_REF_WORDS = {"above_reference": "höher als", "below_reference": "niedriger als", "like_reference": "im Bereich"}
_SHARE_WORDS = {"share_65plus": "65 Jahre und älter", "share_under18": "unter 18 Jahre",
                "share_nongerman": "ohne deutsche Staatsangehörigkeit"}


def _n_cases(n) -> str:
    """'1 Fall', '1.234 Fälle'."""
    return "1 Fall" if int(n) == 1 else f"{fmt_int(n)} Fälle"


def _signed_pct(x) -> str:
    """A change in per cent (x in per cent) with its sign: '+2,7 %', '−2,7 %'."""
    return fmt_signed(float(x) / 100, 1, percent=True)


def _compare_words(flag: str, reference, who: str) -> str:
    """'niedriger als in Sachsen (6.594)', 'im Bereich des Werts von Sachsen (6.594)'."""
    if flag == "like_reference":
        return f"im Bereich des Werts {who} ({_hz(reference)})"
    return f"{_REF_WORDS.get(flag, '')} {who} ({_hz(reference)})".strip()


def _who(kind: str, label: str = "") -> str:
    if kind == "land":
        return "in Sachsen"
    if kind == "kreis":
        return f"im {label}" if label else "im Landkreis"
    return f"bei der Referenz {label}" if label else "bei der Referenz"


def _paren(*parts) -> str:
    """' (a; b)' of the non-empty parts, '' when all are empty."""
    shown = [p for p in parts if p]
    return f" ({'; '.join(shown)})" if shown else ""


# area of a finding (kit.profile.findings) -> the inputs its numbers come from: a synthetic one
# (kit.sources_view.synthetic_marks) is marked in the finding's sentence
AREA_INPUTS = {"pks": ("pks",), "owi": ("owi",), "pmk": ("pmk",), "population": ("residents",),
               "districts": ("residents",), "prevention": ("prevention", "pks", "owi")}


def finding_mark(row, marks: dict[str, str]) -> str:
    """The words marking a finding's figures as synthetic ("" when its inputs are real)."""
    return "; ".join(dict.fromkeys(marks[n] for n in AREA_INPUTS.get(_get(row, "area", ""), ()) if n in marks))


REGISTER_COUNT = "eine Zählung des Melderegisters"
OFFICIAL_COUNT = "die amtliche Einwohnerzahl (Bevölkerungsfortschreibung, Statistisches Bundesamt)"


def population_basis(params) -> str:
    """What the residents figure is: the commune's own register count, or (residents taken from
    the Destatis Gemeindeverzeichnis, e.g. kit sachsen) the official population estimate."""
    spec = ((params or {}).get("inputs") or {}).get("residents") or {}
    said = " ".join([str(spec.get("source") or ""), *map(str, spec.get("derived_from") or [])])
    return OFFICIAL_COUNT if ("Destatis" in said or "Gemeindeverzeichnis" in said or "_GV" in said) else REGISTER_COUNT


def finding_text(row, result: ProfileResult, district_names: dict | None = None, *,
                 say_last_year: bool = True, synthetic: str = "", population: str = REGISTER_COUNT) -> str:
    """One finding of kit.profile.findings in German: its number, comparison and uncertainty
    (``say_last_year``: say when a comparison is not of the latest year; ``synthetic``: the words
    that mark its figures as synthetic, :func:`finding_mark`, put where the figures stand)."""
    names = district_names or {}
    syn = synthetic
    kind = _get(row, "finding", "")
    year = _get(row, "year")
    y = str(int(year)) if year is not None else ""
    label = _get(row, "subject_label", "")
    control = " Kontrolldelikt: Die Zahl spiegelt vor allem, wie viel kontrolliert wird." if _get(row, "control") \
        else ""
    ci = f"95-%-Zufallsintervall {_hz(_get(row, 'lower'))} bis {_hz(_get(row, 'upper'))}"
    if kind == "hz_benchmark":
        parts = [_compare_words(_get(row, "flag", ""), _get(row, "reference"),
                                _who(_get(row, "reference_kind", ""), _get(row, "reference_label", "")))]
        if _get(row, "other_kind") == "kreis":
            parts.append(_compare_words(_get(row, "other_flag", ""), _get(row, "other"),
                                        _who("kreis", _get(row, "other_label", ""))))
        last = result.latest_pks_year(_get(row, "subject", ""))
        when = f" ({y} ist das letzte Jahr mit Vergleichswerten)" if say_last_year and last is not None \
            and year is not None and int(year) < last else ""
        ci = f"95-%-Bereich {_hz(_get(row, 'lower'))} bis {_hz(_get(row, 'upper'))}"
        return (f"**{label} {y}: Häufigkeitszahl {_hz(_get(row, 'value'))}**{_paren(syn, ci)} – "
                f"{' und '.join(parts)}{when}.{control}")
    if kind == "trend":
        what = f"Ordnungswidrigkeiten {label or 'insgesamt'}" if _get(row, "area") == "owi" else label
        head = "auffälliger Anstieg" if _get(row, "flag") == "rise" else "auffälliger Rückgang"
        extra = " OWi-Zahlen spiegeln auch, wie oft das Ordnungsamt kontrolliert." if _get(row, "area") == "owi" \
            else control
        return (f"**{what}: {head} {y}** – {_n_cases(_get(row, 'value'))}{_paren(syn)}; bei gleichbleibender Lage "
                "wie "
                f"{_get(row, 'period', '')} waren etwa {_count_num(_get(row, 'reference'))} zu erwarten, üblich "
                f"wären {_count_range(_get(row, 'lower'), _get(row, 'upper'))}. Das ist {TREND_CAVEAT}.{extra}")
    if kind == "gaps":
        topics = [t for t in str(_get(row, "items", "")).split(";") if t]
        return (f"**Präventionslücken:** In {fmt_int(_get(row, 'n_items'))} von {fmt_int(_get(row, 'n_total'))} "
                "Feldern der Lückenmatrix (Thema und Stadtteil) gibt es ein Problemanzeichen, aber keine "
                f"Präventionsaktivität vor Ort{f' (Themen: {_list_de(topics)})' if topics else ''}."
                + (f" Die Zahlen dahinter sind zum Teil synthetisch ({syn})." if syn else ""))
    if kind == "few_cases":
        from kit.profile.findings import FEW_CASES

        return (f"**Kleine Zahlen:** Bei {fmt_int(_get(row, 'n_items'))} von {fmt_int(_get(row, 'n_total'))} "
                f"Straftatengruppen wurden {y} weniger als {FEW_CASES} Fälle erfasst, z. B. {label}: "
                f"{_n_cases(_get(row, 'count'))}, Häufigkeitszahl {_hz(_get(row, 'value'))}{_paren(syn, ci)}. "
                "Schon wenige Taten "
                "mehr oder weniger verändern solche Werte stark; Unterschiede zum Vorjahr oder zu Vergleichswerten "
                "sind dann oft Zufall.")
    if kind == "hz_level":
        text = (f"**{label} {y}: {_n_cases(_get(row, 'count'))}, Häufigkeitszahl {_hz(_get(row, 'value'))}**"
                f"{_paren(syn, ci)}")
        if _get(row, "reference_kind") == "multi_year_mean":
            text += (f"; Mittel {_get(row, 'period', '')}: {_hz(_get(row, 'reference'))} ("
                     f"{_hz(_get(row, 'reference_lower'))} bis {_hz(_get(row, 'reference_upper'))})")
        if _get(row, "other_kind") == "previous_year":
            text += f"; HZ {int(_get(row, 'other_year'))}: {_hz(_get(row, 'other'))}"
        return text + "."
    if kind == "population":
        text = f"**{fmt_int(_get(row, 'value'))} Einwohner**{_paren(syn)} am 31.12.{y}"
        ref = _get(row, "reference")
        if ref:
            change = 100 * (float(_get(row, "value")) - float(ref)) / float(ref)
            text += (f" ({_signed_pct(change)} seit 31.12.{int(_get(row, 'reference_year'))}: "
                     f"{fmt_int(ref)})")
        return text + f"; {population}, ohne Zufallsschwankung."
    if kind == "population_structure":
        diff = float(_get(row, "value")) - float(_get(row, "reference"))
        where = "etwa so hoch wie in Sachsen" if abs(diff) < 0.5 else \
            f"{fmt_num(abs(diff), 1)} Prozentpunkte {'höher' if diff > 0 else 'niedriger'} als in Sachsen"
        text = (f"**{fmt_num(_get(row, 'value'), 1)} % der Einwohner {_SHARE_WORDS.get(_get(row, 'subject', ''), '')}**"
                f"{_paren(y, syn)} – {where} ({fmt_num(_get(row, 'reference'), 1)} %, "
                f"{int(_get(row, 'reference_year'))}")
        if _get(row, "other_kind") == "kreis":
            text += f"; {_get(row, 'other_label', '') or 'Landkreis'}: {fmt_num(_get(row, 'other'), 1)} %"
        return text + ")."
    if kind == "owi_level":
        text = (f"**Ordnungswidrigkeiten {y}: {_n_cases(_get(row, 'count'))}, {fmt_num(_get(row, 'value'), 1)} je "
                f"1.000 Einwohner** ({f'{syn}; ' if syn else ''}95-%-Zufallsintervall "
                f"{fmt_num(_get(row, 'lower'), 1)} bis "
                f"{fmt_num(_get(row, 'upper'), 1)}")
        if _get(row, "reference_kind") == "previous_year":
            text += f"; {int(_get(row, 'reference_year'))}: {fmt_num(_get(row, 'reference'), 1)}"
        text += ")"
        if _get(row, "other_kind") == "top_category_share":
            text += f"; die meisten betreffen {label} ({fmt_num(_get(row, 'other'), 0)} %)"
        return text + "."
    if kind == "districts":
        hi = names.get(_get(row, "district_id", ""), _get(row, "district_id", ""))
        lo = names.get(_get(row, "other_label", ""), _get(row, "other_label", ""))
        return (f"**Stadtteile:** Der Anteil der Einwohner ab 65 Jahren reicht {y} von "
                f"{fmt_num(_get(row, 'other'), 1)} % ({lo}) bis {fmt_num(_get(row, 'value'), 1)} % ({hi}); "
                f"in der ganzen Kommune {fmt_num(_get(row, 'reference'), 1)} %{_paren(syn)}.")
    if kind == "pmk":
        text = f"**Politisch motivierte Kriminalität {y}: {_n_cases(_get(row, 'value'))}**"
        previous = (f"{int(_get(row, 'reference_year'))}: {fmt_int(_get(row, 'reference'))}"
                    if _get(row, "reference_kind") == "previous_year" else "")
        text += _paren(syn, previous)
        text += f"; 95-%-Zufallsintervall {fmt_num(_get(row, 'lower'), 0)} bis {fmt_num(_get(row, 'upper'), 0)}"
        if _get(row, "flag") == "few_cases":
            text += ", eine kleine Zahl: Schon wenige Taten verändern sie von Jahr zu Jahr deutlich"
        return text + "."
    return ""


def show_summary(result: ProfileResult, inputs: ProfileInputs | None = None) -> None:
    """"Das Wichtigste in Kürze": 5-8 findings of kit.profile.findings, most important first."""
    from kit.profile.findings import summary_findings
    from kit.sources_view import synthetic_marks, synthetic_sentence

    names = inputs.district_names if inputs is not None else {}
    params = inputs.params if inputs is not None else {}
    marks = synthetic_marks(params, "profile") if params else {}  # inputs marked synthetic: true
    found = summary_findings(result)
    kinds = list(found["finding"])
    first_benchmark = kinds.index("hz_benchmark") if "hz_benchmark" in kinds else -1
    if found.empty:
        show_md("Für eine Zusammenfassung liegen zu wenige Daten vor.")
        return
    used = [n for area in found["area"] for n in AREA_INPUTS.get(area, ())]
    warning = synthetic_sentence(params, marks, list(dict.fromkeys(used)))
    show_md("Die wichtigsten Befunde dieses Gebietsprofils, nach ihrer Bedeutung für die Prävention geordnet: "
            "zuerst, was Anlass zur Sorge gibt (höher als der Vergleichswert, ein auffälliger Anstieg, Lücken in "
            "der Prävention), die größte Abweichung zuerst; dann, was eher beruhigt (niedriger als der "
            "Vergleichswert, ein auffälliger Rückgang); dann Hinweise auf kleine Zahlen und die Grundzahlen. "
            "„Höher“ oder „niedriger“ steht nur, wenn der Vergleichswert außerhalb des 95-%-Bereichs liegt, der "
            "die üblichen Schwankungen von Jahr zu Jahr enthält; „auffällig“ ist "
            f"{TREND_CAVEAT} (Regel im Abschnitt „Auffällige Entwicklungen“).\n\n"
            + (f"{warning}\n\n" if warning else "")
            + "\n".join(f"{i}. " + finding_text(r, result, names, say_last_year=i - 1 == first_benchmark,
                                                 synthetic=finding_mark(r, marks),
                                                 population=population_basis(params))
                        for i, (_, r) in enumerate(found.iterrows(), 1)))


def pks_overview_text(result: ProfileResult, ov: pd.DataFrame, synthetic: str = "") -> str:
    """What the PKS overview table shows, with the latest total and its multi-year mean
    (``synthetic``: the words marking the figures as synthetic, :func:`pks_mark`)."""
    year = int(ov["year"].max())
    text = ("Die Tabelle zeigt für alle Straftaten und die Summenschlüssel die Fälle, die Häufigkeitszahl (HZ), "
            f"die Aufklärungsquote und die Tatverdächtigen {year} sowie die HZ im Mittel mehrerer Jahre.")
    total = ov[ov["key"] == "000000"]
    if len(total):
        t = total.iloc[0]
        text += (f" {year} wurden **{_n_cases(t['cases'])}**{_paren(synthetic)} erfasst, eine HZ von {_hz(t['hz'])}; "
                 "im Mittel "
                 f"{t['period']} lag sie bei {_hz(t['hz_mean'])} (95-%-Zufallsintervall {_hz(t['hz_mean_lower'])} "
                 f"bis {_hz(t['hz_mean_upper'])}).")
    flags = {f: [lab for lab, fl in zip(ov["label"], ov["trend_flag"]) if fl == f] for f in ("rise", "fall")}
    said = [f"ein auffälliger {word} bei {_list_de(flags[f])}" for f, word in (("rise", "Anstieg"),
                                                                              ("fall", "Rückgang")) if flags[f]]
    if said:
        text += f" Im letzten Jahr zeigt sich {' und '.join(said)}{_paren(TREND_CAVEAT, synthetic)}."
    elif not (ov["trend_flag"].astype(str) != "").any():  # no series had enough earlier years (e.g. 2020 and 2022)
        text += (" Ob sich eine Reihe im letzten Jahr auffällig entwickelt hat, lässt sich mit diesen Jahren nicht "
                 "prüfen: Dafür fehlen Vorjahre.")
    else:
        text += " Keine dieser Reihen ist im letzten Jahr auffällig."
    return text


def owi_text(result: ProfileResult) -> str:
    """The latest OWi year in words: cases, rate with interval, the largest category."""
    ind = result.owi
    rows = ind[(ind["indicator"] == "owi_per_1000") & (ind["district_id"] == "") & ind["year"].notna()]
    year = int(rows["year"].max())
    latest = rows[rows["year"] == year]
    total = latest[latest["subject"] == ""]
    if total.empty:
        return ""
    t = total.iloc[0]
    n = "1 Ordnungswidrigkeit" if int(t["count"]) == 1 else f"{fmt_int(t['count'])} Ordnungswidrigkeiten"
    text = (f"{year} wurden **{n}** erfasst, {fmt_num(t['value'], 1)} je "
            f"1.000 Einwohner (95-%-Zufallsintervall {fmt_num(t['lower'], 1)} bis {fmt_num(t['upper'], 1)}).")
    cats = latest[latest["subject"] != ""].sort_values("count", ascending=False)
    if len(cats) and t["count"] > 0:
        top = cats.iloc[0]
        text += (f" Die meisten betreffen {top['subject_label']} ({_n_cases(top['count'])}, "
                 f"{fmt_num(100 * top['count'] / t['count'], 0)} %).")
    text += " Die Tabellen zeigen die Kategorien im letzten Jahr und über die Jahre."
    n_years = rows.loc[rows["subject"] == "", "year"].nunique()
    if (rows[rows["subject"] != ""].groupby("subject")["year"].nunique() < n_years).any():
        text += (" Ein Strich steht für ein Jahr, in dem eine Kategorie nicht erfasst wurde (etwa vor dem "
                 "Inkrafttreten eines Alkoholkonsumverbots); die Frühwarnung vergleicht nur Jahre, in denen sie erfasst wurde.")
    return text


def owi_trend_text(result: ProfileResult) -> str:
    """Which OWi categories the early warning flags in the latest year, in words."""
    ind = result.owi
    trends = ind[ind["indicator"] == "owi_trend"]
    flagged = trends[trends["flag"].isin(["rise", "fall"])]
    if flagged.empty:
        checked = int(trends["flag"].isin(["within_chance"]).sum())
        return (f"Keine der {fmt_int(checked)} geprüften Reihen weicht im letzten Jahr auffällig von ihren üblichen "
                "Schwankungen ab.")
    parts = []
    for flag, word in (("rise", "Auffälliger Anstieg"), ("fall", "Auffälliger Rückgang")):
        sel = flagged[flagged["flag"] == flag]
        if len(sel):
            items = [f"{_trend_what(r)} ({int(r['year'])}: {_n_cases(r['value'])}; üblich "
                     f"{_count_range(r['lower'], r['upper'])})" for _, r in sel.iterrows()]
            parts.append(f"{word}: {_list_de(items)}.")
    return (" ".join(parts) + f" Das ist {TREND_CAVEAT}; OWi-Zahlen spiegeln auch, wie oft das Ordnungsamt "
            "kontrolliert.")


def districts_text(result: ProfileResult, inputs: ProfileInputs) -> str:
    """What the district table and map show: size range and the age structure's spread."""
    d = result.by_district.dropna(subset=["total"])
    if d.empty:
        return ""
    from kit.profile.realdata_view import district_names

    names = district_names(result, inputs.district_names)
    big, small = d.loc[d["total"].idxmax()], d.loc[d["total"].idxmin()]
    if len(d) == 1:  # e.g. kit sachsen: the commune's boundary as its single district
        only = names.get(big["district_id"], big["district_id"])
        text = (f"Die Daten beschreiben {inputs.params['name']} als ein einziges Gebiet"
                f"{'' if only == inputs.params['name'] else f' ({only})'} mit {fmt_int(big['total'])} Einwohnern; "
                "Vergleiche zwischen Stadtteilen entfallen deshalb.")
    else:
        text = (f"{inputs.params['name']} hat {fmt_districts(len(d))}; der größte ist "
                f"{names.get(big['district_id'], big['district_id'])} mit {fmt_int(big['total'])} Einwohnern, der "
                f"kleinste {names.get(small['district_id'], small['district_id'])} mit {fmt_int(small['total'])}.")
    s = d.dropna(subset=["share_65plus_pct"])
    if len(s) > 1:
        hi, lo = s.loc[s["share_65plus_pct"].idxmax()], s.loc[s["share_65plus_pct"].idxmin()]
        text += (f" Der Anteil der Einwohner ab 65 Jahren reicht von {fmt_num(lo['share_65plus_pct'], 1)} % "
                 f"({names.get(lo['district_id'], lo['district_id'])}) bis {fmt_num(hi['share_65plus_pct'], 1)} % "
                 f"({names.get(hi['district_id'], hi['district_id'])}); die Karte zeigt ihn für jeden Stadtteil.")
    places = inputs["places"]
    if places is not None and len(places):
        per = places["district_id"].astype(str).value_counts()
        top = per[per == per.max()].index.tolist()
        text += (f" Genannt sind {fmt_int(len(places))} Orte des Unwohlseins, die meisten in "
                 f"{_list_de([names.get(t, t) for t in top])} ({fmt_int(per.max())}).")
    return text


def clubs_text(result: ProfileResult, inputs: ProfileInputs) -> str:
    """The clubs table in words: number, rate, largest type, range over the districts."""
    c = result.clubs
    total = c[(c["indicator"] == "clubs_per_1000") & (c["district_id"] == "") & (c["subject"] == "")]
    if total.empty:
        return ""
    t = total.iloc[0]
    text = (f"{result.latest_year} gab es **{fmt_int(t['count'])} Vereine**, {fmt_num(t['value'], 2)} je 1.000 "
            "Einwohner.")
    types = c[(c["indicator"] == "clubs_per_1000") & (c["district_id"] == "") & (c["subject"] != "")]
    if len(types) and t["count"] > 0:
        top = types.sort_values("count", ascending=False).iloc[0]
        text += (f" Am häufigsten ist die Art {top['subject_label']} ({fmt_int(top['count'])} Vereine, "
                 f"{fmt_num(100 * top['count'] / t['count'], 0)} %).")
    by = c[(c["indicator"] == "clubs_per_1000") & (c["district_id"] != "") & (c["subject"] == "")
           & c["value"].notna()]
    if len(by) > 1:
        names = inputs.district_names
        hi, lo = by.loc[by["value"].idxmax()], by.loc[by["value"].idxmin()]
        text += (f" Je 1.000 Einwohner reicht die Zahl von {fmt_num(lo['value'], 2)} "
                 f"({names.get(lo['district_id'], lo['district_id'])}) bis {fmt_num(hi['value'], 2)} "
                 f"({names.get(hi['district_id'], hi['district_id'])}).")
    return text


def accommodation_text(result: ProfileResult) -> str:
    """The accommodation table in words: facilities, places, occupancy of the latest year."""
    a = result.accommodation
    year = int(a["year"].max())
    a = a[(a["year"] == year) & (a["district_id"] == "")]

    def value(indicator, subject=""):
        sel = a[(a["indicator"] == indicator) & (a["subject"] == subject)]
        return sel.iloc[0] if len(sel) else None

    fac, places, occ = (value("accommodation_facilities"), value("accommodation_places"),
                        value("accommodation_occupancy_pct"))
    if fac is None or places is None:
        return ""
    text = (f"{year} gab es {fmt_int(fac['value'])} Einrichtungen der Unterbringung mit zusammen "
            f"**{fmt_int(places['value'])} Plätzen**")
    if occ is not None and not pd.isna(occ["value"]):
        text += f", zu {fmt_num(occ['value'], 1)} % belegt"
    text += "."
    types = a[(a["indicator"] == "accommodation_places") & (a["subject"] != "")]
    if len(types) and places["value"] > 0:
        top = types.sort_values("value", ascending=False).iloc[0]
        text += f" Die meisten Plätze hat die Art {top['subject_label']} ({fmt_int(top['value'])})."
    full = a[(a["indicator"] == "accommodation_occupancy_pct") & (a["subject"] != "") & (a["value"] >= 95)]
    if len(full):
        text += (f" Nahezu oder ganz voll belegt (ab 95 %): {_list_de(list(full['subject_label']))}.")
    return text


def education_text(result: ProfileResult) -> str:
    """The education table in words: spending per resident in the latest year and its change."""
    e = result.education
    rows = e[(e["indicator"] == "education_eur_per_resident") & (e["subject"] == "")].sort_values("year")
    if rows.empty:
        return ""
    last, first = rows.iloc[-1], rows.iloc[0]
    text = (f"{int(last['year'])} gab die Kommune **{fmt_num(last['value'], 2)} EUR je Einwohner** für Bildung, "
            f"Betreuung und Jugendarbeit aus (zusammen {fmt_int(last['count'])} EUR)")
    if len(rows) > 1 and first["value"] > 0:
        text += (f"; {int(first['year'])} waren es {fmt_num(first['value'], 2)} EUR "
                 f"({_signed_pct(100 * (last['value'] - first['value']) / first['value'])}, ohne Preisbereinigung)")
    text += "."
    areas = e[(e["indicator"] == "education_eur_per_resident") & (e["subject"] != "") & (e["year"] == last["year"])]
    if len(areas):
        top = areas.sort_values("value", ascending=False).iloc[0]
        text += (f" Der größte Bereich ist {top['subject_label']} ({fmt_num(top['value'], 2)} EUR je Einwohner).")
    return text


def comparison_method_note(result: ProfileResult, params: dict) -> str:
    """The method of the comparison with Sachsen / the Landkreis / the own reference values, for the
    technical notes (with the keys the body text leaves out)."""
    info = result.benchmark_info
    text = ("Vergleich mit Sachsen, dem Landkreis und eigenen Vergleichswerten: „höher“/„niedriger“, wenn der "
            "Vergleichswert außerhalb des 95-%-Bereichs der eigenen Häufigkeitszahl liegt. ")
    if info is not None and info.method == bench.COMPARISON_NB:
        text += ("Der Bereich ist das exakte Intervall für den Mittelwert einer Negativ-Binomial-Verteilung "
                 "(Varianz μ + a·μ², Testinversion der beiden Randwahrscheinlichkeiten von je 2,5 %) bei den "
                 "beobachteten Fällen, geteilt durch die Einwohnerzahl; a ist die Überstreuung der PKS-Reihen der "
                 f"Kommune, wie die Frühwarnung sie über alle Straftatenschlüssel gemeinsam schätzt (a = "
                 f"{fmt_num(info.dispersion, 4)}, Schwankung von Jahr zu Jahr etwa ±"
                 f"{fmt_num(100 * math.sqrt(info.dispersion), 0)} % über die Poisson-Streuung hinaus). Bei a = 0 "
                 "ist es das exakte Poisson-Intervall. In Simulationen mit Kommunen, deren Niveau dem "
                 "Vergleichswert entspricht, heißt es so in etwa 5 % der Fälle „höher“ oder „niedriger“; mit dem "
                 "Poisson-Intervall eines einzelnen Jahres in etwa einem Viertel.")
    else:
        text += (f"Die Überstreuung ließ sich nicht schätzen (weniger als {EW_RULE['min_series_pooled']} "
                 f"Straftatenschlüssel mit mindestens {EW_RULE['min_years']} Vorjahren); der Bereich ist daher das "
                 "exakte Poisson-Intervall (Garwood) des Jahres und eher zu eng.")
    if info is not None and info.kreis.status == bench.KREIS_UNKNOWN:
        text += (f" Der Gemeindeschlüssel {params.get('ags', '')} (Kreisschlüssel {info.kreis.region_key}) gehört "
                 f"zu keinem der 13 sächsischen Kreise der BKA-Tabelle {bench.PKS_TABLE}; daher nur der "
                 "Landesvergleich.")
    return text


def show_technical_notes(result: ProfileResult, params: dict) -> None:
    """Appendix for whoever maintains the commune's settings and checks the methods: what could be
    added, and how the numbers were made. Names no settings keys, modules or files (the README
    describes them); a command to run is the only technical detail."""
    from kit.profile.findings import FEW_CASES

    r = EW_RULE
    notes = []
    if not result.reference:
        notes.append("Eigene Vergleichswerte (z. B. Vergleichsstädte oder ein Landkreis für Jahre, zu denen das Kit "
                     "keine Werte mitbringt) lassen sich in der Parameterdatei der Kommune als Häufigkeitszahl je "
                     "Straftatenschlüssel und Jahr mit einer Bezeichnung eintragen (wie, beschreibt die README des "
                     "Kits). Aus der Kreistabelle des BKA erzeugt sie der Befehl "
                     "`python -m kit pks-referenz`.")
    else:
        notes.append(f"Eigene Vergleichswerte der Kommune aus der Parameterdatei: "
                     f"{result.reference_label or 'ohne Bezeichnung'}.")
    notes.append("Frühwarnung: Die Streuung der Jahreswerte folgt einer Negativ-Binomial-Verteilung, deren "
                 "Überstreuung je Gruppe (PKS, Ordnungswidrigkeiten) über alle Reihen der Kommune gemeinsam "
                 "geschätzt wird; die Skala jeder Reihe wird empirisch-bayessch zur Gruppe hin gezogen (moderierter "
                 f"t-Test, höchstens {fmt_num(r['max_prior_df'], 0)} geliehene Freiheitsgrade), die Varianz unter "
                 "„keine Veränderung“ bestimmt (Score-Test) und der Bereich schief korrigiert (Cornish-Fisher). "
                 f"Fehlalarmwahrscheinlichkeit {fmt_num(100 * r['alpha'], 0)} % "
                 f"({'zweiseitig' if r['sided'] == 'two' else 'nur Anstiege'}), {r['min_years']} bis "
                 f"{r['max_years']} Vorjahre; gemeinsam geschätzt ab {r['min_series_pooled']} Reihen, sonst je Reihe "
                 "und mindestens mit Poisson-Streuung. Die Kalibrierung (Simulation) liegt im Ordner "
                 "„benchmarks“ des Kits.")
    notes.append(f"„Kleine Zahlen“ in der Zusammenfassung: weniger als {FEW_CASES} Fälle im letzten Jahr. Die "
                 "Intervalle der Häufigkeitszahl eines Jahres sind exakte Poisson-Intervalle (Garwood).")
    notes.append(comparison_method_note(result, params))
    notes.append(f"Das Mehrjahresmittel umfasst {fmt_int(params['profile'].get('years_for_mean'))} Jahre, die "
                 f"Intervalle gelten zum Niveau {fmt_num(100 * float(params['profile'].get('confidence')), 0)} %.")
    show_md("\n".join(f"- {n}" for n in notes))
