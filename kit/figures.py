"""Figures for the reports. Plotting only: every value drawn comes from a
compute function; nothing here estimates or aggregates statistics.

Every figure function returns a matplotlib Figure that carries its German
title and alt text (:func:`figure_info`). :func:`show_figure` puts it into the
report as ``<figure><img alt=…><figcaption>Abbildung n: … Quelle: …</figcaption></figure>``
at print resolution; the number counts per report (reset by
:func:`kit.report.setup_notebook`)."""

from __future__ import annotations

import base64
import html
import io
import math
import textwrap
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.colors import Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from kit.report import DASH, MINUS, fmt_districts, fmt_num, fmt_signed

BLUE, ORANGE, GREY, RED = "#2f5d8a", "#d9822b", "#9aa5b1", "#b00020"
GREEN = "#1f7a3a"
SEX_COLORS = {"m": "#4a7bb7", "w": "#d9822b"}
SEX_LABELS = {"m": "männlich", "w": "weiblich", "d": "divers"}
SEX_PLURAL = {"m": "Männer", "w": "Frauen"}

PRINT_DPI = 200  # pixels per inch of the embedded images (print needs >= 150)
CSS_PX_PER_INCH = 96  # a CSS pixel is 1/96 inch: the image is shown at the figure's size in inches
WIDTH_IN = 6.5  # figure width in inches (fits an A4 page with margins)
LABEL_GID = "kit-map-label"  # gid of the district and place labels on maps
SCALEBAR_GID = "kit-scalebar"


# ---------------------------------------------------------------------------
# Figure number, caption, source line, alt text
# ---------------------------------------------------------------------------


@dataclass
class FigureInfo:
    title: str  # German title, shown in the caption after "Abbildung n:"
    alt: str  # German alt text: what the figure shows and its message
    note: str = ""  # German note shown in the caption (e.g. bars hidden for privacy)


_numbering = {"next": 1}


def reset_figure_numbers() -> None:
    """The next figure is 'Abbildung 1' (called by kit.report.setup_notebook for each report)."""
    _numbering["next"] = 1


def describe(fig: Figure, *, title: str, alt: str, note: str = "") -> Figure:
    """Attach the German title, alt text and note to a figure (read by :func:`show_figure`)."""
    fig.kit_info = FigureInfo(title=title, alt=alt, note=note)
    return fig


def figure_info(fig: Figure) -> FigureInfo:
    return getattr(fig, "kit_info", None) or FigureInfo(title="", alt="")


def _png(fig: Figure) -> tuple[bytes, int, int]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PRINT_DPI, bbox_inches="tight", pad_inches=0.05, facecolor="white")
    data = buf.getvalue()
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")  # PNG IHDR
    return data, width, height


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if not text or text[-1] in ".!?:" else text + "."


def figure_html(fig: Figure, *, number: int, source: str, title: str | None = None, alt: str | None = None,
                note: str | None = None) -> str:
    """The figure as an HTML <figure>: PNG at PRINT_DPI shown at its size in inches, German alt
    text, caption 'Abbildung n: title. note. Quelle: source.'"""
    info = figure_info(fig)
    title = " ".join(str(title if title is not None else info.title).split())
    alt = " ".join(str(alt if alt is not None else info.alt).split()) or f"Abbildung {number}: {title}"
    note = " ".join(str(note if note is not None else info.note).split())
    data, width, height = _png(fig)
    css_w = round(width * CSS_PX_PER_INCH / PRINT_DPI)
    css_h = round(height * CSS_PX_PER_INCH / PRINT_DPI)
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    caption = f"<b>Abbildung {number}:</b> {html.escape(_sentence(title))}"
    if note:
        caption += f" {html.escape(_sentence(note))}"
    if source:
        caption += f" Quelle: {html.escape(_sentence(source))}"
    return (f'<figure class="kit-figure" id="abbildung-{number}" style="margin: 0.8em 0 1.4em 0; '
            f'break-inside: avoid; page-break-inside: avoid;">'
            f'<img alt="{html.escape(alt, quote=True)}" src="{src}" width="{css_w}" height="{css_h}" '
            f'style="max-width: 100%; height: auto;">'
            f'<figcaption style="font-size: 0.9em; color: #333; max-width: {css_w}px; margin-top: 0.3em;">'
            f"{caption}</figcaption></figure>")


def show_figure(fig: Figure, *, source: str, title: str | None = None, alt: str | None = None,
                note: str | None = None) -> int:
    """Show a figure in the report with the next figure number, its caption and source line,
    and close it. Returns the figure number."""
    from IPython.display import HTML, display

    number = _numbering["next"]
    _numbering["next"] += 1
    try:
        display(HTML(figure_html(fig, number=number, source=source, title=title, alt=alt, note=note)))
    finally:
        plt.close(fig)
    return number


# ---------------------------------------------------------------------------
# German numbers on axes
# ---------------------------------------------------------------------------


def _de(v, decimals: int = 0) -> str:
    """German number with a typographic minus; '0' rather than '-0'."""
    if v is None or pd.isna(v):
        return DASH
    v = float(v)
    if float(f"{abs(v):.{decimals}f}") == 0:
        v = 0.0
    text = fmt_num(abs(v), decimals)
    return f"{MINUS}{text}" if v < 0 else text


def german_formatter(decimals: int = 0, percent: bool = False, absolute: bool = False,
                     share: bool = False) -> FuncFormatter:
    """Tick labels in German format (1.234,5; typographic minus). ``share``: values 0..1 shown
    as percent; ``percent``: append ' %'; ``absolute``: no sign (the two sides of a pyramid)."""

    def f(v, _pos=None):
        x = 100 * v if share else v
        x = abs(x) if absolute else x
        return _de(x, decimals) + ("\u00a0%" if (percent or share) else "")

    return FuncFormatter(f)


def _german_axis(ax, axis="y", decimals=0, percent=False, absolute=False, share=False):
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(
        german_formatter(decimals, percent=percent, absolute=absolute, share=share))


def _halo(color: str = "white", width: float = 2.5):
    return [patheffects.withStroke(linewidth=width, foreground=color)]


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------


def population_trend(totals: pd.DataFrame, *, year_col="year", value_col="total", change_col="change"):
    """Residents per year as bars from zero, each labelled with its number and the signed
    change to the previous year (``change_col``, computed by kit.profile.indicators)."""
    t = totals.reset_index(drop=True)
    years = [str(int(y)) for y in t[year_col]]
    values = pd.to_numeric(t[value_col], errors="coerce").astype(float)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.4))
    x = np.arange(len(t))
    ax.bar(x, values.fillna(0), color=BLUE, width=0.65)
    top = float(np.nanmax(values)) if values.notna().any() else 1.0
    for xi, v in zip(x, values):
        if pd.notna(v):
            ax.text(xi, v - 0.03 * top, _de(v), ha="center", va="top", fontsize=8, color="white",
                    path_effects=_halo(BLUE, 1.5))
    if change_col in t.columns:
        for xi, v, ch in zip(x, values, t[change_col]):
            if pd.notna(v) and pd.notna(ch):
                ax.text(xi, v + 0.015 * top, fmt_signed(ch), ha="center", va="bottom", fontsize=8, color="#333")
    ax.set_xticks(x, years)
    ax.set_ylim(0, top * 1.12)
    ax.set_ylabel("Einwohner")
    _german_axis(ax)
    if change_col in t.columns:
        ax.text(0, 1.02, "über den Balken: Veränderung zum Vorjahr", transform=ax.transAxes, fontsize=7.5,
                color="#555", ha="left", va="bottom")
    fig.tight_layout()
    title = f"Einwohner {years[0]} bis {years[-1]} (Hauptwohnsitz, jeweils am 31.12.)" if years else "Einwohner"
    alt = "Balkendiagramm: Einwohner"
    first, last = values.dropna().index.min(), values.dropna().index.max()
    if pd.notna(first) and first != last:
        a, b = values[first], values[last]
        how = "gestiegen" if b > a else ("gesunken" if b < a else "gleich geblieben")
        alt += f" {years[first]} bis {years[last]}, von {_de(a)} auf {_de(b)} {how}"
    elif pd.notna(last):
        alt += f" {years[last]}: {_de(values[last])}"
    return describe(fig, title=title, alt=alt)


def _band_label(age_group: str) -> str:
    return str(age_group).replace("-", "\u2013")


def age_pyramid(bands: pd.DataFrame, *, year: int | None = None, min_cell: int | None = None):
    """Population pyramid on a true age axis: each register age group is drawn over the ages it
    covers (bar thickness = its width in years) with length = residents per year of age, so
    groups of different width compare fairly and bar area is proportional to residents.

    bands: :func:`kit.profile.indicators.age_bands` (age_group, sex m/w, age_from, age_to,
    width, count, per_year, hidden). Hidden rows (disclosure policy) are not drawn; they are
    marked with × at the axis and listed in the figure note."""
    b = bands[bands["sex"].isin(["m", "w"])].copy()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.6))
    hidden_rows = []
    for sex, sign in (("m", -1), ("w", 1)):
        part = b[b["sex"] == sex]
        shown = part[~part["hidden"].astype(bool)]
        ax.barh(shown["age_from"].astype(float), sign * shown["per_year"].astype(float),
                height=shown["width"].astype(float), align="edge", color=SEX_COLORS[sex],
                edgecolor="white", linewidth=0.6, label=SEX_PLURAL[sex])
        for _, r in part[part["hidden"].astype(bool)].iterrows():
            hidden_rows.append((sex, r["age_group"]))
    xmax = float(pd.to_numeric(b["per_year"], errors="coerce").max()) if b["per_year"].notna().any() else 1.0
    for sex, group in hidden_rows:
        r = b[(b["sex"] == sex) & (b["age_group"] == group)].iloc[0]
        ax.plot([(-1 if sex == "m" else 1) * 0.04 * xmax], [float(r["age_from"]) + float(r["width"]) / 2],
                marker="x", color="#555", markersize=5, linestyle="none")
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlim(-1.08 * xmax, 1.08 * xmax)
    groups = b.drop_duplicates("age_group").sort_values("age_from")
    ax.set_ylim(float(groups["age_from"].min()), float((groups["age_from"] + groups["width"]).max()))
    ax.set_yticks((groups["age_from"] + groups["width"] / 2).astype(float), [_band_label(g) for g in groups["age_group"]],
                  fontsize=8)
    ax.set_ylabel("Altersgruppe (Jahre)")
    _german_axis(ax, "x", absolute=True)
    ax.set_xlabel("Einwohner je Altersjahr (Durchschnitt der Altersgruppe)")
    ax.text(0.25, 1.01, SEX_PLURAL["m"], transform=ax.transAxes, ha="center", va="bottom", fontsize=9,
            color=SEX_COLORS["m"], fontweight="bold")
    ax.text(0.75, 1.01, SEX_PLURAL["w"], transform=ax.transAxes, ha="center", va="bottom", fontsize=9,
            color=SEX_COLORS["w"], fontweight="bold")
    fig.tight_layout()
    when = f" {year}" if year is not None else ""
    title = f"Altersaufbau{when}: Einwohner je Altersjahr nach Altersgruppe und Geschlecht"
    alt = (f"Bevölkerungspyramide{when}: Männer links, Frauen rechts, Balkenlänge = Einwohner je Altersjahr "
           "der Altersgruppe")
    for sex in ("m", "w"):
        part = b[(b["sex"] == sex) & ~b["hidden"].astype(bool) & b["per_year"].notna()]
        if len(part):
            top = part.loc[pd.to_numeric(part["per_year"]).astype(float).idxmax()]
            alt += f"; {SEX_PLURAL[sex]}: am stärksten besetzt {_band_label(top['age_group'])} Jahre"
    note = ""
    if hidden_rows:
        names = ", ".join(f"{SEX_PLURAL[s]} {_band_label(g)}" for s, g in hidden_rows)
        few = f"weniger als {min_cell} Einwohner" if min_cell else "zu wenige Einwohner"
        note = (f"Mit × markiert und nicht dargestellt: {names} ({few} oder daraus rückrechenbar; "
                "Datenschutz).")
        alt += f"; {len(hidden_rows)} Balken aus Datenschutzgründen nicht dargestellt"
    note = ("Altersgruppen unterschiedlicher Breite sind über die Jahre gezeichnet, die sie umfassen; "
            "„85+“ ist als 85 bis 94 Jahre gezeichnet. " + note).strip()
    return describe(fig, title=title, alt=alt, note=note)


def rate_with_interval(data: pd.DataFrame, *, title: str, ylabel: str, reference: float | None = None,
                       reference_label: str = "Referenz", decimals: int = 0):
    """data: columns period (x labels), value, lower, upper. Bars from zero with the interval."""
    data = data.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.4))
    x = np.arange(len(data))
    err = np.vstack([data["value"] - data["lower"], data["upper"] - data["value"]])
    ax.bar(x, data["value"], color=BLUE, width=0.6, label="Wert")
    ax.errorbar(x, data["value"], yerr=err, fmt="none", ecolor="black", capsize=3, lw=1,
                label="95-%-Zufallsintervall")
    has_ref = reference is not None and not pd.isna(reference)
    if has_ref:
        ax.axhline(reference, color=ORANGE, ls="--", lw=1.4, label=reference_label)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=3)
    ax.set_xticks(x, data["period"].astype(str))
    ax.set_ylabel(ylabel)
    top = float(np.nanmax([data["upper"].max(), data["value"].max(), reference if has_ref else 0]))
    ax.set_ylim(0, top * 1.08 if top > 0 else 1)
    _german_axis(ax, decimals=0)
    fig.tight_layout()
    periods = data["period"].astype(str).tolist()
    alt = f"Balkendiagramm mit 95-%-Zufallsintervallen: {ylabel}"
    if periods:
        last = data.iloc[-1]
        alt += (f", {periods[0]} bis {periods[-1]}; zuletzt {_de(last['value'], decimals)} ({periods[-1]}, "
                f"Intervall {_de(last['lower'], decimals)} bis {_de(last['upper'], decimals)})")
    if has_ref:
        alt += f"; gestrichelte Linie: {reference_label} {_de(reference, decimals)}"
    return describe(fig, title=title, alt=alt)


def share_bars(data: pd.DataFrame, *, title: str, label_col: str = "category_label"):
    """Weighted shares with 95 % intervals; suppressed rows are drawn empty and labelled."""
    data = data.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.42 * len(data) + 0.9))
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
            ax.text(row["upper"] + 0.01, yi, f"{_de(100 * row['estimate'], 1)}\u00a0%", va="center", fontsize=8)
    ax.set_yticks(y, data[label_col])
    ax.set_xlim(0, 1.05)
    _german_axis(ax, "x", share=True)
    fig.tight_layout()
    parts = [f"{str(row[label_col]).replace(chr(10), ' ')} {_de(100 * row['estimate'], 0)}\u00a0%"
             for _, row in data[shown].iterrows()]
    alt = "Balkendiagramm: gewichtete Anteile mit 95-%-Vertrauensbereich"
    if parts:
        alt += ": " + "; ".join(parts)
    n_hidden = int((~shown).sum())
    if n_hidden:
        alt += f"; {n_hidden} Wert(e) nicht ausgewiesen (zu wenige Antworten)"
    return describe(fig, title=" ".join(str(title).split()), alt=alt)


PALETTE = ["#2f5d8a", "#d9822b", "#1f7a3a", "#b00020", "#6b4c9a", "#8c6d31", "#4a9bb5", "#9aa5b1"]


def pmk_bars(data: pd.DataFrame, *, title: str, label_col: str = "area", part_col: str = "offence_type",
             value_col: str = "count"):
    """Cases of one year as horizontal bars from zero, one per phenomenon area (``label_col``),
    stacked by offence type (``part_col``); segments labelled with their count."""
    d = data.copy()
    d[value_col] = pd.to_numeric(d[value_col], errors="coerce").fillna(0.0)
    areas = list(dict.fromkeys(d[label_col].astype(str)))
    parts = list(dict.fromkeys(d[part_col].astype(str)))
    cross = d.pivot_table(index=label_col, columns=part_col, values=value_col, aggfunc="sum", sort=False)
    cross.index, cross.columns = cross.index.astype(str), cross.columns.astype(str)
    cross = cross.reindex(index=areas, columns=parts).fillna(0.0)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 0.45 * len(areas) + 1.5))
    y = np.arange(len(areas))[::-1]
    left = np.zeros(len(areas))
    ends = cross.to_numpy().cumsum(axis=1)[:, -1] if len(parts) else left
    span = float(ends.max()) if len(ends) and ends.max() > 0 else 1.0
    for i, part in enumerate(parts):
        vals = cross[part].to_numpy(dtype=float)
        ax.barh(y, vals, left=left, height=0.6, color=PALETTE[i % len(PALETTE)], edgecolor="white", linewidth=0.6,
                label=part)
        fg, _halo_color = text_colors(PALETTE[i % len(PALETTE)])
        for yi, l, v in zip(y, left, vals):
            if v > 0 and v >= 0.06 * span:
                ax.text(l + v / 2, yi, _de(v), ha="center", va="center", fontsize=7.5, color=fg)
        left = left + vals
    for yi, end in zip(y, left):
        ax.text(end + 0.01 * span, yi, _de(end), ha="left", va="center", fontsize=8, color="#222")
    ax.set_yticks(y, areas)
    ax.set_xlim(0, span * 1.1)
    _german_axis(ax, "x")
    ax.set_xlabel("Fälle")
    ncol = min(len(parts), 4) or 1
    fig.legend(frameon=False, fontsize=7.5, loc="lower center", ncol=ncol, handles=ax.get_legend_handles_labels()[0])
    fig.tight_layout(rect=(0, (0.12 + 0.2 * math.ceil(len(parts) / ncol)) / fig.get_size_inches()[1], 1, 1))
    alt = "Gestapeltes Balkendiagramm: Fälle nach Phänomenbereich, unterteilt nach Deliktsart"
    if len(areas):
        alt += ": " + "; ".join(f"{a} {_de(e)}" for a, e in zip(areas, left))
    return describe(fig, title=title, alt=alt)


# ---------------------------------------------------------------------------
# Maps
# ---------------------------------------------------------------------------


def _projected(gdf):
    """The geometry in a projected CRS with metres (a geographic CRS goes to its UTM zone)."""
    if gdf.crs is None:
        return gdf
    if gdf.crs.is_geographic:
        return gdf.to_crs(gdf.estimate_utm_crs())
    return gdf


def _metres_per_unit(crs) -> float:
    try:
        return float(crs.axis_info[0].unit_conversion_factor)
    except (AttributeError, IndexError, TypeError):
        return 1.0


def nice_scale_length(extent_m: float, fraction: float = 0.22) -> float:
    """A round length (1, 2 or 5 × 10^k metres) of at most ``fraction`` of the map width."""
    target = max(extent_m * fraction, 1e-9)
    exp = math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * 10 ** exp <= target:
            return float(m * 10 ** exp)
    return float(10 ** exp)


def _scale_label(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return f"{_de(km, 0 if km == int(km) else 1)} km"
    return f"{_de(metres, 0)} m"


def _map_axes(fig, bounds, left_in, bottom_in, width_in, height_in):
    """An axes of ``width_in`` x ``height_in`` for the map with equal aspect whose limits exactly
    fill it (labels are placed in display coordinates, so the transform must not change after
    placement)."""
    minx, miny, maxx, maxy = bounds
    pad = 0.03 * max(maxx - minx, maxy - miny)
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    units_per_in = max((maxx - minx) / width_in, (maxy - miny) / height_in)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes((left_in / fw, bottom_in / fh, width_in / fw, height_in / fh))
    ax.set_xlim(cx - units_per_in * width_in / 2, cx + units_per_in * width_in / 2)
    ax.set_ylim(cy - units_per_in * height_in / 2, cy + units_per_in * height_in / 2)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return ax


def _map_height(bounds, width_in, max_height_in=5.6, min_height_in=3.0):
    minx, miny, maxx, maxy = bounds
    pad = 0.03 * max(maxx - minx, maxy - miny)
    dx, dy = max(maxx - minx + 2 * pad, 1e-9), max(maxy - miny + 2 * pad, 1e-9)
    return float(min(max_height_in, max(min_height_in, width_in * dy / dx)))


def add_scalebar(ax, crs):
    """Scale bar (matplotlib's AnchoredSizeBar, no extra package) with a round length in m/km
    computed from the projected CRS; returns the artist."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    x0, x1 = ax.get_xlim()
    per_unit = _metres_per_unit(crs) if crs is not None else 1.0
    length_m = nice_scale_length((x1 - x0) * per_unit)
    bar = AnchoredSizeBar(ax.transData, length_m / per_unit, _scale_label(length_m), loc="lower right",
                          pad=0.35, borderpad=0.4, sep=3, frameon=True, size_vertical=(x1 - x0) * 0.006,
                          color="#222", fontproperties=FontProperties(size=7))
    bar.patch.set(facecolor="white", alpha=0.85, edgecolor="none")
    bar.set_gid(SCALEBAR_GID)
    bar.kit_length_m = length_m
    ax.add_artist(bar)
    return bar


def add_north_arrow(ax):
    ax.annotate("N", xy=(0.965, 0.97), xytext=(0.965, 0.88), xycoords="axes fraction", ha="center", va="center",
                fontsize=8, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "#222", "lw": 1.2, "shrinkA": 5, "shrinkB": 0})


def _luminance(rgb) -> float:
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(rgb))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


DARK_TEXT = "#1a1a1a"


def text_colors(fill) -> tuple[str, str]:
    """(text colour, halo colour) readable on ``fill``: dark on light fills, white on dark ones
    (whichever has the higher WCAG contrast ratio with the fill)."""
    lum, dark = _luminance(fill), _luminance(DARK_TEXT)
    on_white = 1.05 / (lum + 0.05)
    on_dark = (lum + 0.05) / (dark + 0.05)
    return ("white", "#222222") if on_white > on_dark else (DARK_TEXT, "white")


def _wrapped(name: str) -> list[str]:
    """The name on one line, then on two lines (at a space or hyphen) when it has one."""
    out = [name]
    for sep in (" ", "-"):
        if sep in name:
            i = min((abs(k - len(name) / 2), k) for k, ch in enumerate(name) if ch == sep)[1]
            head, tail = name[:i + (1 if sep == "-" else 0)], name[i + 1:]
            out.append(f"{head.strip()}\n{tail.strip()}")
            break
    return out


def _candidate_points(geom, n_extra: int = 8):
    from shapely.ops import polylabel

    poly = max(geom.geoms, key=lambda g: g.area) if geom.geom_type == "MultiPolygon" else geom
    pts = []
    try:
        pts.append(polylabel(poly, tolerance=max(poly.length / 500, 1e-6)))
    except Exception:  # noqa: BLE001 (degenerate polygon: fall back to the representative point)
        pass
    pts.append(geom.representative_point())
    c = geom.centroid
    if geom.contains(c):
        pts.append(c)
    minx, miny, maxx, maxy = poly.bounds
    base = pts[0]
    for k in range(n_extra):
        ang = 2 * math.pi * k / n_extra
        for f in (0.15, 0.28):
            p = type(base)(base.x + f * (maxx - minx) * math.cos(ang), base.y + f * (maxy - miny) * math.sin(ang))
            if poly.contains(p):
                pts.append(p)
    return pts


def _bbox_polygon(ax, bbox):
    from shapely.geometry import box

    inv = ax.transData.inverted()
    (x0, y0), (x1, y1) = inv.transform([(bbox.x0, bbox.y0), (bbox.x1, bbox.y1)])
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _overlaps(bbox, others, pad: float = 1.5) -> bool:
    return any(bbox.x0 - pad < o.x1 and o.x0 < bbox.x1 + pad and bbox.y0 - pad < o.y1 and o.y0 < bbox.y1 + pad
               for o in others)


def label_extent(text, renderer):
    """Display box of a label, including the box drawn around a number."""
    from matplotlib.transforms import Bbox

    from matplotlib.text import Annotation, Text

    if isinstance(text, Annotation):  # the text only, not its leader line
        text.update_positions(renderer)
    bb = Text.get_window_extent(text, renderer)
    if text.get_bbox_patch() is not None:
        pad = 0.35 * text.get_fontsize() * text.figure.dpi / 72
        bb = Bbox.from_extents(bb.x0 - pad, bb.y0 - pad, bb.x1 + pad, bb.y1 + pad)
    return bb


NUMBER_BOX = {"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "#555555", "linewidth": 0.6}


def place_area_labels(ax, items, *, fontsize=7.0, taken=None, fit_inside=True):
    """Label polygons without collisions. items: dicts with geometry, name, number, color,
    halo. Tries the name (one line, then two) at points inside the polygon where its box lies
    inside the polygon and overlaps no other label or ``taken`` box; otherwise the number
    (smallest polygons first get their pick). A boxed label is a letter, A, B, … in the order of
    the items' numbers (district ids), so it cannot be mistaken for the numbers of point markers
    (places) on the same map; the item gets ``letter``. Returns the items labelled in a box."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    taken = list(taken or [])
    numbered = []
    boxed = []  # (item, text artist)
    for item in sorted(items, key=lambda it: it["geometry"].area):
        geom = item["geometry"]
        inside = geom.buffer(0)
        points = _candidate_points(geom)
        placed = None
        texts = _wrapped(str(item["name"])) if item.get("name") else []
        for text, size in [(t, fontsize) for t in texts] + [(t, 0.85 * fontsize) for t in texts]:
            for p in points:
                t = ax.text(p.x, p.y, text, ha="center", va="center", fontsize=size, color=item["color"],
                            path_effects=_halo(item["halo"], 2.2), linespacing=1.0, gid=LABEL_GID)
                bb = t.get_window_extent(renderer)
                if (not fit_inside or inside.contains(_bbox_polygon(ax, bb))) and not _overlaps(bb, taken):
                    placed = t
                    taken.append(bb)
                    break
                t.remove()
            if placed is not None:
                break
        if placed is None:
            number = str(item["number"])
            fallback = None
            for p in points + [geom.representative_point()]:
                t = ax.text(p.x, p.y, number, ha="center", va="center", fontsize=fontsize, fontweight="bold",
                            color="#1a1a1a", bbox=NUMBER_BOX, gid=LABEL_GID)
                bb = label_extent(t, renderer)
                if not _overlaps(bb, taken):
                    placed = t
                    break
                t.remove()
                fallback = p
            if placed is None:  # every point taken: move outwards (away from the map centre) until free
                p = fallback or geom.representative_point()
                (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
                base = math.atan2(p.y - (y0 + y1) / 2, p.x - (x0 + x1) / 2)
                tries = [(radius, turn) for radius in range(8, 8 + 4 * 10, 4) for turn in (0, .4, -.4, .8, -.8, 1.2, -1.2)]
                for k, (radius, turn) in enumerate(tries):
                    dx, dy = radius * math.cos(base + turn), radius * math.sin(base + turn)
                    t = ax.annotate(number, (p.x, p.y), xytext=(dx, dy), textcoords="offset points", ha="center",
                                    va="center", fontsize=fontsize, fontweight="bold", color="#1a1a1a",
                                    bbox=NUMBER_BOX, gid=LABEL_GID,
                                    arrowprops={"arrowstyle": "-", "color": "#444", "lw": 0.6})
                    bb = label_extent(t, renderer)
                    if not _overlaps(bb, taken) or k == len(tries) - 1:  # a number is never dropped
                        placed = t
                        break
                    t.remove()
            taken.append(label_extent(placed, renderer))
            numbered.append(item)
            boxed.append((item, placed))
    # letters instead of the district numbers (one character, never wider than the number placed)
    for k, (item, artist) in enumerate(sorted(boxed, key=lambda p: _natural(p[0]["number"]))):
        item["letter"] = box_letter(k)
        artist.set_text(item["letter"])
    return numbered


def box_letter(k: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA', 27 -> 'AB' (labels of districts in a box)."""
    out = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        out = chr(ord("A") + r) + out
    return out


def place_point_labels(ax, points, labels, *, color="#1a1a1a", fontsize=6.5, taken=None):
    """Small labels (e.g. numbers) beside point markers, in the first of eight directions whose
    box overlaps no other label or ``taken`` box; returns the boxes used."""
    renderer = ax.figure.canvas.get_renderer()
    taken = list(taken or [])
    offsets = [(5, 5), (5, -5), (-5, 5), (-5, -5), (7, 0), (-7, 0), (0, 7), (0, -7)]
    aligns = {1: "left", -1: "right", 0: "center"}
    for (x, y), label in zip(points, labels):
        chosen = None
        for r in (1.0, 1.8, 2.6):
            for dx, dy in offsets:
                t = ax.annotate(str(label), (x, y), xytext=(r * dx, r * dy), textcoords="offset points",
                                ha=aligns[int(np.sign(dx))], va={1: "bottom", -1: "top", 0: "center"}[int(np.sign(dy))],
                                fontsize=fontsize, color=color, fontweight="bold", path_effects=_halo("white", 2.0),
                                gid=LABEL_GID)
                bb = t.get_window_extent(renderer)
                if not _overlaps(bb, taken, pad=0.5):
                    chosen = t
                    break
                t.remove()
            if chosen is not None:
                break
        if chosen is None:
            chosen = ax.annotate(str(label), (x, y), xytext=(5, 5), textcoords="offset points", fontsize=fontsize,
                                 color=color, fontweight="bold", path_effects=_halo("white", 2.0), gid=LABEL_GID)
        taken.append(chosen.get_window_extent(renderer))
    return taken


def _key_text(numbered, width_chars=105) -> str:
    entries = [f"{it['letter']} {it['name']}" for it in sorted(numbered, key=lambda it: (len(it["letter"]),
                                                                                         it["letter"]))]
    return "\n".join(textwrap.wrap("Stadtteile mit Buchstaben im Kästchen: " + " · ".join(entries), width_chars))


def _natural(text):
    import re

    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text))]


def _fixed_artists_boxes(ax, artists):
    renderer = ax.figure.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


LINE_IN = 0.16  # height of a line of 7-point text below a map, inches


def _map_figure(bounds):
    """Figure and map axes; the space below the map is sized by :func:`_below_map` later."""
    map_w = WIDTH_IN - 0.2
    map_h = _map_height(bounds, map_w)
    fig = plt.figure(figsize=(WIDTH_IN, map_h + 1.0))
    ax = _map_axes(fig, bounds, 0.1, 1.0, map_w, map_h)
    fig.kit_map_size = (map_w, map_h)
    return fig, ax


def _below_map(fig, ax, *, block_in: float, lines: list[str]):
    """Make room below the map for a block (colour bar or legend, ``block_in`` high) and the text
    ``lines`` (key, attribution); keeps the map's size in inches, so placed labels stay put.
    Returns (figure height, bottom of the block) in inches."""
    map_w, map_h = fig.kit_map_size
    text_h = LINE_IN * sum(line.count("\n") + 1 for line in lines) + (0.08 if lines else 0.0)
    bottom = text_h + block_in + 0.05
    fh = map_h + bottom
    fig.set_size_inches(WIDTH_IN, fh)
    ax.set_position((0.1 / WIDTH_IN, bottom / fh, map_w / WIDTH_IN, map_h / fh))
    if lines:
        fig.text(0.02, 0.04 / fh, "\n".join(lines), fontsize=7, color="#333", ha="left", va="bottom",
                 linespacing=1.35)
    return fh, text_h + 0.05


def _district_items(gdf, colors=None):
    items = []
    for i, (_, row) in enumerate(gdf.iterrows()):
        fg, halo = text_colors(colors[i]) if colors is not None else ("#555555", "white")
        items.append({"geometry": row.geometry, "name": str(row["district_name"]), "number": str(row["district_id"]),
                      "color": fg, "halo": halo})
    return items


def choropleth(districts, values: pd.Series, *, title: str, legend: str, decimals: int = 1,
               cmap: str = "Blues", vmin: float | None = None, vmax: float | None = None,
               attribution: str = "", value_suffix: str = "", missing_label: str = "keine Angabe"):
    """districts: GeoDataFrame with district_id, district_name; values indexed by district_id
    (NaN: hatched, with ``missing_label`` in the legend).

    District names (or a letter in a box, with a key below the map, when a name does not
    fit) in a colour that contrasts with the fill, a horizontal colour bar below the map, a
    scale bar from the projected CRS, a north arrow and the attribution line of the geometry."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable

    gdf = _projected(districts.copy())
    gdf["value"] = gdf["district_id"].astype(str).map({str(k): v for k, v in values.items()})
    vals = pd.to_numeric(gdf["value"], errors="coerce")
    lo = float(vmin) if vmin is not None else (float(vals.min()) if vals.notna().any() else 0.0)
    hi = float(vmax) if vmax is not None else (float(vals.max()) if vals.notna().any() else 1.0)
    if hi <= lo:
        hi = lo + 1.0
    norm = Normalize(lo, hi)
    cm = colormaps[cmap]
    fig, ax = _map_figure(gdf.total_bounds)
    colors = [cm(norm(v)) if pd.notna(v) else (0.93, 0.93, 0.93, 1.0) for v in vals]
    gdf.plot(ax=ax, color=colors, edgecolor="white", linewidth=0.9)
    missing = vals.isna()
    if missing.any():
        gdf[missing].plot(ax=ax, facecolor="none", edgecolor="#bbbbbb", hatch="////", linewidth=0)
    bar = add_scalebar(ax, gdf.crs)
    add_north_arrow(ax)
    fig.canvas.draw()
    numbered = place_area_labels(ax, _district_items(gdf, colors), taken=_fixed_artists_boxes(ax, [bar]))
    lines = ([_key_text(numbered)] if numbered else []) + ([attribution] if attribution else [])
    fh, y0 = _below_map(fig, ax, block_in=0.75, lines=lines)
    # colour bar below the map, centred, 56 % of the width: the map keeps the full width
    cax = fig.add_axes((0.22, (y0 + 0.5) / fh, 0.56, 0.13 / fh))
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cm), cax=cax, orientation="horizontal")
    cb.ax.xaxis.set_major_formatter(german_formatter(decimals))
    cb.ax.tick_params(labelsize=7.5)
    cb.set_label(legend, fontsize=8)
    if missing.any():
        fig.legend(handles=[Patch(facecolor="#eeeeee", edgecolor="#bbbbbb", hatch="////", label=missing_label)],
                   loc="center left", bbox_to_anchor=(0.80, (y0 + 0.565) / fh), frameon=False, fontsize=7.5)
    alt = f"Karte ({fmt_districts(len(gdf))}): {title}"
    if vals.notna().any():
        i_lo, i_hi = vals.idxmin(), vals.idxmax()
        alt += (f"; am niedrigsten {gdf.loc[i_lo, 'district_name']} ({_de(vals[i_lo], decimals)}{value_suffix}), "
                f"am höchsten {gdf.loc[i_hi, 'district_name']} ({_de(vals[i_hi], decimals)}{value_suffix})")
    if missing.any():
        alt += f"; {int(missing.sum())} Stadtteil(e) " + ("ohne Angabe" if missing_label == "keine Angabe"
                                                         else missing_label)
    fig.kit_labels_numbered = [it["number"] for it in numbered]
    fig.kit_labels_letters = {it["number"]: it["letter"] for it in numbered}
    return describe(fig, title=title, alt=alt)


def point_map(districts, layers: dict[str, tuple], *, title: str, attribution: str = ""):
    """layers: German label -> (GeoDataFrame of points, color, marker); a point layer with a
    column ``map_label`` gets those labels (e.g. numbers of the table below the map) beside its
    markers. District names are drawn in grey, the legend sits below the map."""
    from matplotlib.transforms import Bbox

    d = _projected(districts.copy())
    fig, ax = _map_figure(d.total_bounds)
    d.plot(ax=ax, color="#f2f4f7", edgecolor="#9aa5b1", linewidth=0.8)
    handles, counts, drawn = [], {}, []
    for label, spec in layers.items():
        points, color, marker = spec[:3]
        if points is None or not len(points):
            continue
        pts = points.to_crs(d.crs) if d.crs is not None and points.crs is not None else points
        pts.plot(ax=ax, color=color, marker=marker, markersize=34, edgecolor="white", linewidth=0.5, zorder=3)
        handles.append(plt.Line2D([], [], color=color, marker=marker, linestyle="none", markersize=7,
                                  markeredgecolor="white", label=label))
        counts[label] = len(pts)
        drawn.append((pts, color))
    bar = add_scalebar(ax, d.crs)
    add_north_arrow(ax)
    fig.canvas.draw()
    taken = _fixed_artists_boxes(ax, [bar])
    for pts, _c in drawn:  # markers are obstacles for the labels
        for x, y in zip(pts.geometry.x, pts.geometry.y):
            px, py = ax.transData.transform((x, y))
            taken.append(Bbox.from_extents(px - 5, py - 5, px + 5, py + 5))
    for pts, color in drawn:
        if "map_label" in pts.columns:
            sel = pts[pts["map_label"].notna()]
            taken = place_point_labels(ax, list(zip(sel.geometry.x, sel.geometry.y)), list(sel["map_label"]),
                                       color=color, taken=taken)
    numbered = place_area_labels(ax, _district_items(d), fontsize=6.8, taken=taken)
    ncol = 3 if sum(len(h.get_label()) for h in handles) <= 80 else 2
    rows = math.ceil(len(handles) / ncol) if handles else 0
    lines = ([_key_text(numbered)] if numbered else []) + ([attribution] if attribution else [])
    fh, y0 = _below_map(fig, ax, block_in=0.08 + 0.2 * rows, lines=lines)
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.01, (y0 + 0.08 + 0.2 * rows) / fh),
                   ncol=ncol, frameon=False, fontsize=7.5, handletextpad=0.3, columnspacing=1.2,
                   borderaxespad=0.0, borderpad=0.0)
    what = "; ".join(f"{label}: {n}" for label, n in counts.items()) or "keine Punkte mit Koordinaten"
    alt = f"Karte ({fmt_districts(len(d))}) mit Punkten ({what})"
    fig.kit_labels_numbered = [it["number"] for it in numbered]
    fig.kit_labels_letters = {it["number"]: it["letter"] for it in numbered}
    return describe(fig, title=title, alt=alt)
