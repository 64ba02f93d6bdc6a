"""Figures for the reports. Plotting only: every value drawn comes from a
compute function; nothing here estimates or aggregates statistics."""

from __future__ import annotations


import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from kit.report import fmt_num

BLUE, ORANGE, GREY, RED = "#2f5d8a", "#d9822b", "#9aa5b1", "#b00020"
SEX_COLORS = {"m": "#4a7bb7", "w": "#d9822b"}
SEX_LABELS = {"m": "männlich", "w": "weiblich", "d": "divers"}


def _german_axis(ax, axis="y", decimals=0, percent=False):
    def f(v, _pos):
        return f"{fmt_num(100 * v if percent else v, decimals)}{' %' if percent else ''}"

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(FuncFormatter(f))


def population_trend(totals: pd.DataFrame, *, year_col="year", value_col="total"):
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    ax.bar(totals[year_col].astype(str), totals[value_col], color=BLUE)
    ax.set_ylabel("Einwohner")
    ax.set_title("Einwohnerentwicklung (jeweils 31.12.)", loc="left")
    _german_axis(ax)
    lo = float(totals[value_col].min())
    ax.set_ylim(lo * 0.95, float(totals[value_col].max()) * 1.01)
    fig.tight_layout()
    return fig


def age_pyramid(pyramid: pd.DataFrame, age_order: list[str], *, title: str):
    """pyramid: columns age_group, sex (m/w), count."""
    table = pyramid.pivot_table(index="age_group", columns="sex", values="count", aggfunc="sum").reindex(age_order).fillna(0)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    y = np.arange(len(age_order))
    ax.barh(y, -table.get("m", 0), color=SEX_COLORS["m"], label="männlich")
    ax.barh(y, table.get("w", 0), color=SEX_COLORS["w"], label="weiblich")
    ax.set_yticks(y, age_order)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_num(abs(v))))
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("Einwohner")
    ax.set_ylabel("Altersgruppe (Jahre)")
    ax.set_title(title, loc="left")
    ax.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def choropleth(districts, values: pd.Series, *, title: str, legend: str, decimals: int = 1,
               cmap: str = "Blues", vmin: float | None = None, vmax: float | None = None):
    """districts: GeoDataFrame with district_id, district_name; values indexed by district_id."""
    gdf = districts.copy()
    gdf["value"] = gdf["district_id"].map(values)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    gdf.plot(column="value", cmap=cmap, vmin=vmin, vmax=vmax, edgecolor="white", linewidth=0.8, ax=ax, legend=True,
             legend_kwds={"label": legend, "shrink": 0.6, "format": FuncFormatter(lambda v, _p: fmt_num(v, decimals))},
             missing_kwds={"color": "#eeeeee", "label": "keine Angabe"})
    for _, row in gdf.iterrows():
        pt = row.geometry.representative_point()
        ax.annotate(row["district_name"], (pt.x, pt.y), ha="center", fontsize=7, color="#222")
    ax.set_axis_off()
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


def point_map(districts, layers: dict[str, tuple[object, str, str]], *, title: str):
    """layers: German label -> (GeoDataFrame of points in the districts' CRS, color, marker)."""
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    districts.plot(ax=ax, color="#f2f4f7", edgecolor="#9aa5b1", linewidth=0.8)
    for label, (points, color, marker) in layers.items():
        if points is not None and len(points):
            points.plot(ax=ax, color=color, marker=marker, markersize=36, label=label, edgecolor="white", linewidth=0.5)
    ax.set_axis_off()
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


def rate_with_interval(data: pd.DataFrame, *, title: str, ylabel: str, reference: float | None = None,
                       reference_label: str = "Referenz"):
    """data: columns period (x labels), value, lower, upper."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    x = np.arange(len(data))
    err = np.vstack([data["value"] - data["lower"], data["upper"] - data["value"]])
    ax.bar(x, data["value"], color=BLUE, width=0.6)
    ax.errorbar(x, data["value"], yerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    if reference is not None and not pd.isna(reference):
        ax.axhline(reference, color=ORANGE, ls="--", lw=1.2, label=reference_label)
        ax.legend(frameon=False)
    ax.set_xticks(x, data["period"].astype(str))
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left")
    _german_axis(ax)
    fig.tight_layout()
    return fig


def share_bars(data: pd.DataFrame, *, title: str, label_col: str = "category_label"):
    """Weighted shares with 95 % intervals; suppressed rows are drawn empty and labelled."""
    data = data.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(data) + 1.2))
    y = np.arange(len(data))[::-1]
    shown = ~data["suppressed"].astype(bool) & data["estimate"].notna()
    ax.barh(y[shown], data.loc[shown, "estimate"], color=BLUE, height=0.6)
    err = np.vstack([data.loc[shown, "estimate"] - data.loc[shown, "lower"],
                     data.loc[shown, "upper"] - data.loc[shown, "estimate"]])
    ax.errorbar(data.loc[shown, "estimate"], y[shown], xerr=err, fmt="none", ecolor="black", capsize=3, lw=1)
    for yi, (_, row) in zip(y, data.iterrows()):
        if bool(row["suppressed"]) or pd.isna(row["estimate"]):
            ax.text(0.005, yi, "nicht ausgewiesen (zu wenige Antworten)", va="center", fontsize=8, color="#666")
        else:
            ax.text(row["upper"] + 0.01, yi, f"{fmt_num(100 * row['estimate'], 1)} %", va="center", fontsize=8)
    ax.set_yticks(y, data[label_col])
    ax.set_xlim(0, 1.05)
    _german_axis(ax, "x", percent=True)
    # title flush with the figure's left edge: long answer labels would push an axes title off the figure
    fig.suptitle(title, x=0.01, ha="left", fontsize=plt.rcParams["axes.titlesize"])
    fig.tight_layout()
    return fig


GREEN = "#1f7a3a"
MAP_CRS = "EPSG:4326"  # Leaflet draws longitude/latitude


def interactive_map(districts, district_popups: dict[str, str] | None = None,
                    layers: dict[str, tuple[object, str]] | None = None):
    """Interactive Leaflet map (folium) for the notebook, without a tile layer.

    No background map is loaded from a tile server: the districts themselves
    are the base layer, so the map needs no map service (folium still loads
    the Leaflet script from its CDN, or the browser's cache).

    districts: GeoDataFrame with district_id, district_name (any CRS).
    district_popups: district_id -> popup HTML (German text, formatted and
    escaped by the caller). layers: German layer name -> (GeoDataFrame of
    points with the text columns ``popup`` (HTML) and ``tooltip``, colour).
    Every layer (districts included) is a FeatureGroup that the layer control
    can switch on and off. Returns the folium.Map.
    """
    import html as _html

    import folium

    district_popups = district_popups or {}
    d = districts.to_crs(MAP_CRS)
    minx, miny, maxx, maxy = (float(v) for v in d.total_bounds)
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None, control_scale=True,
                   zoom_start=12)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    base = folium.FeatureGroup(name="Stadtteile", overlay=True, control=True, show=True)
    style = {"fillColor": "#e8eef4", "color": GREY, "weight": 1.2, "fillOpacity": 0.6}
    highlight = {"fillColor": "#c7d6e5", "weight": 2.0}
    for _, row in d.iterrows():
        gj = folium.GeoJson(row.geometry.__geo_interface__, name=str(row["district_name"]),
                            style_function=lambda _f, s=style: s, highlight_function=lambda _f, h=highlight: h,
                            tooltip=folium.Tooltip(_html.escape(str(row["district_name"]))))
        text = district_popups.get(str(row["district_id"]))
        if text:
            folium.Popup(text, max_width=320).add_to(gj)
        gj.add_to(base)
    base.add_to(m)
    for name, (points, color) in (layers or {}).items():
        if points is None or not len(points):
            continue
        group = folium.FeatureGroup(name=name, overlay=True, control=True, show=True)
        pts = points.to_crs(MAP_CRS)
        for _, row in pts.iterrows():
            folium.CircleMarker(location=[float(row.geometry.y), float(row.geometry.x)], radius=7, color="white",
                                weight=1.5, fill=True, fill_color=color, fill_opacity=0.9,
                                popup=folium.Popup(str(row["popup"]), max_width=320),
                                tooltip=folium.Tooltip(str(row["tooltip"]))).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
