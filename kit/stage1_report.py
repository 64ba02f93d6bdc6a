"""Display of the area profile (tables, figures, German text) in the stage-1
notebook. Only formats and draws what kit.stage1 computed."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from . import plots
from .load import ProfileInputs
from .profile import REGISTER_AGE_GROUPS
from .report import (DASH, fmt_int, fmt_interval, fmt_num, show_md, show_note, show_table)
from .stage1 import ProfileResult, pks_overview


def _show_fig(fig) -> None:
    from IPython.display import display

    display(fig)
    plt.close(fig)


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
    t = result.totals
    last = t.iloc[-1]
    first = t.iloc[0]
    change = (float(last["total"]) - float(first["total"])) / float(first["total"])
    direction = "gewachsen" if change > 0.005 else ("geschrumpft" if change < -0.005 else "etwa gleich geblieben")
    show_md(
        f"Am 31.12.{int(last['year'])} lebten **{fmt_int(last['total'])} Menschen** mit Hauptwohnsitz in "
        f"{inputs.params['name']}. Seit {int(first['year'])} ist die Einwohnerzahl {direction} "
        f"({fmt_num(100 * change, 1)} %). {fmt_num(last['share_65plus_pct'], 1)} % der Einwohner sind 65 Jahre "
        f"oder älter, {fmt_num(last['share_under18_pct'], 1)} % jünger als 18 Jahre."
    )
    cols = {"year": ("Jahr", lambda v: str(int(v))), "total": ("Einwohner", fmt_int),
            "change": ("Veränderung zum Vorjahr", lambda v: DASH if pd.isna(v) else f"{'+' if v > 0 else ''}{fmt_int(v)}"),
            "share_under18_pct": ("unter 18 Jahre (%)", 1), "share_65plus_pct": ("65 Jahre und älter (%)", 1)}
    if "share_nongerman_pct" in t.columns:
        cols["share_nongerman_pct"] = ("nichtdeutsch (%)", 1)
    show_table(t, cols, caption="Einwohner nach Jahren (Hauptwohnsitz, 31.12.)")
    _show_fig(plots.population_trend(t))
    _show_fig(plots.age_pyramid(result.pyramid[result.pyramid["sex"].isin(["m", "w"])], REGISTER_AGE_GROUPS,
                                title=f"Altersaufbau {result.latest_year}"))
    d_total = result.pyramid.loc[result.pyramid["sex"] == "d", "count"].sum()
    if d_total:
        show_md(f"Zusätzlich sind {fmt_int(d_total)} Personen mit dem Geschlechtseintrag „divers“ gemeldet.")


def show_districts(result: ProfileResult, inputs: ProfileInputs) -> None:
    names = inputs.district_names
    d = result.by_district.copy()
    d["name"] = d["district_id"].map(names)
    cols = {"name": ("Stadtteil", None), "total": ("Einwohner", fmt_int), "share_of_commune_pct": ("Anteil an der Kommune (%)", 1),
            "share_under18_pct": ("unter 18 (%)", 1), "share_65plus_pct": ("65 und älter (%)", 1)}
    if "share_nongerman_pct" in d.columns:
        cols["share_nongerman_pct"] = ("nichtdeutsch (%)", 1)
    show_table(d, cols, caption=f"Einwohner nach Stadtteilen {result.latest_year}")
    _show_fig(plots.choropleth(inputs.districts, d.set_index("district_id")["share_65plus_pct"],
                               title=f"Anteil der Einwohner ab 65 Jahren {result.latest_year}",
                               legend="Anteil in %", cmap="Oranges"))
    crs = inputs.districts.crs
    layers = {
        "Orte des Unwohlseins": (points_from_lonlat(inputs["places"], crs), plots.RED, "X"),
        "Polizei / Ordnungsamt / Feuerwehr / Rettung": (points_from_lonlat(inputs["bos"], crs), plots.BLUE, "s"),
        "Präventionsaktivitäten": (points_from_lonlat(inputs["prevention"], crs), "#1f7a3a", "o"),
    }
    if any(v[0] is not None for v in layers.values()):
        _show_fig(plots.point_map(inputs.districts, layers, title="Orte des Unwohlseins, BOS und Prävention"))
    if inputs["places"] is not None:
        p = inputs["places"].copy()
        p["Stadtteil"] = p["district_id"].map(names)
        cols = {"name": ("Ort", None), "category": ("Art", None), "Stadtteil": ("Stadtteil", None), "source": ("Quelle", None)}
        if "mentions" in p.columns:
            cols["mentions"] = ("Nennungen", fmt_int)
        show_table(p, cols, caption="Orte des Unwohlseins")


def show_pks(result: ProfileResult, params: dict) -> None:
    ov = pks_overview(result)
    if ov.empty:
        show_note("Die PKS-Daten enthalten keine der Summenschlüssel.")
        return
    year = int(ov["year"].max())
    period = ov["period"].iloc[0]
    ov["hz_ci"] = [fmt_interval(lo, hi, 0) for lo, hi in zip(ov["hz_mean_lower"], ov["hz_mean_upper"])]
    ov["label_shown"] = ov.apply(lambda r: f"{r['label']} (Kontrolldelikt)" if r["control"] else r["label"], axis=1)
    show_table(ov, {
        "key": ("Schlüssel", None), "label_shown": ("Straftat", None), "cases": (f"Fälle {year}", fmt_int),
        "hz": (f"HZ {year}", 0), "hz_mean": (f"HZ Mittel {period}", 0),
        "hz_ci": ("95-%-Intervall", None),
        "clearance": ("Aufklärungsquote (%)", 1), "trend": ("Entwicklung", None),
    } | ({"reference": ("Vergleich", None)} if ov["reference"].astype(bool).any() else {}),
        caption="Polizeilich registrierte Kriminalität (Hellfeld)")
    total = result.pks[(result.pks["indicator"] == "pks_hz") & (result.pks["subject"] == "000000")].sort_values("year")
    if len(total):
        data = total.assign(period=total["year"].astype(int).astype(str))
        ref = (params["profile"].get("pks_reference") or {}).get("000000")
        _show_fig(plots.rate_with_interval(data, title="Häufigkeitszahl Straftaten insgesamt mit 95-%-Zufallsintervall",
                                           ylabel="Fälle je 100.000 Einw.", reference=ref,
                                           reference_label=params["profile"].get("pks_reference_label") or "Referenz"))


def _indicator_table(ind: pd.DataFrame, indicator: str, *, latest_only: bool = True, decimals: int = 1,
                     subject_header: str = "Kategorie", value_header: str = "Wert", caption: str = "",
                     with_interval: bool = False, district_names: dict | None = None) -> None:
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
    cols["value"] = (value_header, decimals)
    if with_interval:
        rows["ci"] = [fmt_interval(lo, hi, decimals) for lo, hi in zip(rows["lower"], rows["upper"])]
        cols["ci"] = ("95-%-Intervall", None)
    show_table(rows, cols, caption=caption)


def show_owi(result: ProfileResult) -> None:
    if result.owi is None:
        show_note(result.notes.get("owi", "Für Ordnungswidrigkeiten liegen keine Daten vor."))
        return
    ind = result.owi
    year = int(ind["year"].max())
    _indicator_table(ind, "owi_per_1000", caption=f"Ordnungswidrigkeiten je 1.000 Einwohner {year}",
                     value_header="je 1.000 Einw.", with_interval=True)
    trends = ind[(ind["indicator"] == "owi_trend") & (ind["flag"] == "rise")]
    if len(trends):
        names = ", ".join(t if t else "insgesamt" for t in trends["subject_label"])
        show_md(f"**Auffällige Anstiege** (außerhalb der zufällig erwartbaren Schwankung): {names}.")
    else:
        show_md("Bei keiner Kategorie liegt der Anstieg im letzten Jahr über dem zufällig erwartbaren Maß.")


def show_pmk(result: ProfileResult) -> None:
    if result.pmk is None:
        show_note(result.notes.get("pmk", "Für die politisch motivierte Kriminalität liegen keine Daten vor."))
        return
    cols = {c: (str(c) if c != "year" else "Jahr", (lambda v: str(int(v))) if c == "year" else fmt_int)
            for c in result.pmk.columns}
    show_table(result.pmk, cols, caption="Politisch motivierte Kriminalität nach Phänomenbereich (Fälle)")


def show_structure(result: ProfileResult, inputs: ProfileInputs) -> None:
    names = inputs.district_names
    if result.clubs is not None:
        _indicator_table(result.clubs[result.clubs["district_id"] == ""], "clubs_per_1000",
                         caption="Vereine je 1.000 Einwohner nach Art", value_header="je 1.000 Einw.", decimals=2,
                         subject_header="Art")
    if result.accommodation is not None:
        _indicator_table(result.accommodation, "accommodation_places", caption="Unterbringung: Plätze nach Art",
                         value_header="Plätze", decimals=0, subject_header="Art", district_names=names)
    if result.bos is not None:
        _indicator_table(result.bos, "bos_staff_per_10000", caption="Personal der BOS je 10.000 Einwohner",
                         value_header="je 10.000 Einw.", decimals=1, subject_header="Art")
    if result.education is not None:
        _indicator_table(result.education, "education_eur_per_resident", caption="Bildungsausgaben je Einwohner (EUR)",
                         value_header="EUR je Einw.", decimals=2, subject_header="Bereich")


def show_prevention(result: ProfileResult, inputs: ProfileInputs) -> None:
    prev = inputs["prevention"]
    if prev is None:
        return
    names = inputs.district_names
    p = prev.copy()
    p["Stadtteil"] = p["district_id"].map(names).fillna("gesamte Kommune") if "district_id" in p.columns else "gesamte Kommune"
    show_table(p, {"title": ("Maßnahme", None), "topic": ("Thema", None), "target_group": ("Zielgruppe", None),
                   "Stadtteil": ("Stadtteil", None), "provider": ("Träger", None), "since_year": ("seit", lambda v: str(int(v)))},
               caption="Bestandsaufnahme der Präventionsaktivitäten")
    if result.problems.empty:
        show_md("Aus PKS und Ordnungswidrigkeiten ergeben sich keine signifikanten Problemanzeichen "
                "(Anstieg über das Zufallsmaß oder deutlich über dem Referenzwert); eine Lückenmatrix entfällt.")
        return
    gaps = result.gaps.reset_index()
    gaps.columns = ["Thema", *[("gesamte Kommune" if c == "gesamt" else names.get(c, c)) for c in gaps.columns[1:]]]
    gaps = gaps.fillna("").replace({"": DASH})
    show_table(gaps, {c: (c, None) for c in gaps.columns},
               caption="Lückenmatrix: Themen mit Problemanzeichen und vorhandene Aktivitäten")
