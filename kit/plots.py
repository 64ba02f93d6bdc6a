"""Figures for the reports. Plotting only: every value drawn comes from a
compute function; nothing here estimates or aggregates statistics."""

from __future__ import annotations

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from .report import fmt_num

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
    ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig
