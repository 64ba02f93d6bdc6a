"""Profile explorer for JupyterLab (issue 8, item 7): pick an indicator of the
area profile, its category / offence key and a year; see the districts as a
choropleth (where the indicator exists by district) and the series over the
years with its interval.

A view module: it reads the kit's indicator table (:meth:`ProfileResult.indicators`
or ``results/profile_indicators.csv``), selects rows and formats them in German;
it computes no statistic. The widget logic is testable without a browser:
:class:`ProfileExplorer` holds the widgets, :meth:`ProfileExplorer.update`
recomputes the displayed tables and figures and writes them into the Output
widgets as plain display data (HTML tables, PNG images), so a test can set
widget values and read back exactly what an analyst would see.

In batch runs (``KIT_BATCH=1``) :func:`show_explorer` shows nothing: the report's
sections are the static version of every view the explorer offers.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from kit import figures as plots
from kit.profile.indicators import natural_key
from kit.report import DASH, fmt_num, html_table, interactive_session

COMMUNE = "Gesamte Kommune"
TOTAL_SUBJECT = "insgesamt"
# Indicator families, by id prefix: the section an indicator belongs to (prefix in the menu).
FAMILIES = (("population", "Einwohner"), ("pks_", "PKS"), ("pmk_", "PMK"), ("owi_", "Ordnungswidrigkeiten"),
            ("club", "Vereine"), ("accommodation_", "Unterbringung"), ("bos_", "BOS"), ("education_", "Bildung"))
COUNT_UNITS = {"Personen", "Anzahl", "Fälle", "Plätze", "Fälle je Jahr"}
_STR = ("indicator", "label", "unit", "period", "district_id", "subject", "subject_label", "flag", "note")
_FLOAT = ("value", "lower", "upper", "count", "base", "expected", "reference")


# ---------------------------------------------------------------------------
# Selecting from the indicator table (numbers only)
# ---------------------------------------------------------------------------


def normalise_indicators(ind: pd.DataFrame) -> pd.DataFrame:
    """The indicator table with text columns as str ("" for missing), numbers as
    float and year as Int64, whether it comes from memory or from the CSV."""
    d = ind.copy()
    for col in _STR:
        if col in d.columns:
            d[col] = d[col].astype(object).where(d[col].notna(), "").astype(str)
        else:
            d[col] = ""
    for col in _FLOAT:
        d[col] = pd.to_numeric(d[col], errors="coerce").astype(float) if col in d.columns else np.nan
    d["year"] = pd.to_numeric(d["year"], errors="coerce").astype("Int64")
    return d


def read_profile_indicators(path: str | Path) -> pd.DataFrame:
    """``results/profile_indicators.csv`` (or a results folder) as the explorer needs it."""
    path = Path(path)
    if path.is_dir():
        path = path / "profile_indicators.csv"
    raw = pd.read_csv(path, dtype={c: str for c in _STR}, keep_default_na=False, na_values=[""])
    return normalise_indicators(raw)


def family(indicator: str) -> str:
    return next((name for prefix, name in FAMILIES if indicator.startswith(prefix)), "")


def indicator_choices(ind: pd.DataFrame) -> list[tuple[str, str]]:
    """(menu label, indicator id) of every indicator with values per year, in the
    order of the indicator table; trend tests (``*_trend``) and multi-year means
    are not series and are left out."""
    rows = ind[ind["year"].notna() & ~ind["indicator"].str.endswith("_trend")]
    out = []
    for indicator, label, unit in rows[["indicator", "label", "unit"]].drop_duplicates("indicator").itertuples(index=False):
        fam = family(indicator)
        text = label if (not fam or fam.lower() in label.lower()) else f"{fam}: {label}"
        out.append((f"{text} ({unit})" if unit and unit not in text else text, indicator))
    return out


def _rows(ind: pd.DataFrame, indicator: str, subject: str | None = None) -> pd.DataFrame:
    sel = ind[(ind["indicator"] == indicator) & ind["year"].notna()]
    return sel if subject is None else sel[sel["subject"] == subject]


def subject_choices(ind: pd.DataFrame, indicator: str) -> list[tuple[str, str]]:
    """(label, subject) of an indicator: the total first, then the categories or
    offence keys in the order of the table."""
    rows = _rows(ind, indicator).drop_duplicates("subject")
    out = []
    for subject, label in rows[["subject", "subject_label"]].itertuples(index=False):
        if subject == "":
            out.insert(0, (label or TOTAL_SUBJECT, ""))
        elif indicator.startswith("pks_") and subject != label:
            out.append((f"{label} ({subject})", subject))
        else:
            out.append((label or subject, subject))
    return out


def year_choices(ind: pd.DataFrame, indicator: str, subject: str) -> list[int]:
    return sorted(int(y) for y in _rows(ind, indicator, subject)["year"].unique())


def district_ids(ind: pd.DataFrame, indicator: str, subject: str) -> list[str]:
    """Districts with rows of this indicator and subject (any year), natural order."""
    ids = set(_rows(ind, indicator, subject)["district_id"]) - {""}
    return sorted(ids, key=natural_key)


def district_values(ind: pd.DataFrame, indicator: str, subject: str, year: int,
                    districts: list[str] | None = None) -> pd.DataFrame:
    """One row per district (``districts`` order; districts without a value get
    NaN) and the whole commune last (district_id ""): district_id, value, lower,
    upper, count, base, note. Empty when the indicator has no district rows."""
    rows = _rows(ind, indicator, subject)
    have = district_ids(ind, indicator, subject)
    if not have:
        return pd.DataFrame(columns=["district_id", "value", "lower", "upper", "count", "base", "note"])
    order = list(districts or []) + [d for d in have if d not in (districts or [])]
    rows = rows[rows["year"] == int(year)].drop_duplicates("district_id").set_index("district_id")
    out = rows.reindex(order + ([""] if "" in rows.index else []))
    out = out[["value", "lower", "upper", "count", "base", "note"]].rename_axis("district_id").reset_index()
    out["note"] = out["note"].fillna("")
    return out


def series(ind: pd.DataFrame, indicator: str, subject: str, district: str = "") -> pd.DataFrame:
    """The indicator over the years for one area: year, value, lower, upper,
    count, base, note (and the label columns for the wording of notes)."""
    rows = _rows(ind, indicator, subject)
    rows = rows[rows["district_id"] == district].sort_values("year").drop_duplicates("year")
    return rows.reset_index(drop=True)


def decimals_for(unit: str, values) -> int:
    """Decimals to show: counts and whole-numbered series none, rates and shares one."""
    v = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").dropna()
    if unit in COUNT_UNITS or (len(v) and bool(np.all(np.isclose(v, np.round(v))))):
        return 0
    return 1


# ---------------------------------------------------------------------------
# The explorer
# ---------------------------------------------------------------------------


def _html_bundle(markup: str) -> dict:
    text = html.unescape(" ".join(markup.replace("<", " <").split()))
    return {"output_type": "display_data", "data": {"text/html": markup, "text/plain": text}, "metadata": {}}


def _figure_bundle(fig, title: str) -> dict:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    width = int(fig.get_figwidth() * 96)
    return {"output_type": "display_data",
            "data": {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": title},
            "metadata": {"image/png": {"width": width}}}


class ProfileExplorer:
    """Widgets to explore the area profile: indicator, category/key, year and
    the area whose series is shown. Attributes after :meth:`update`:

    ``map_table`` (district_id, district_name, value, lower, upper; the commune
    last) and ``trend_table`` (year, value, lower, upper, reference): the numbers shown;
    ``map_figure`` / ``trend_figure``: the matplotlib figures (None when there
    is nothing to draw); ``map_html`` / ``trend_html``: the German tables as
    displayed; ``map_note``: the German note instead of a map.
    """

    def __init__(self, indicators: pd.DataFrame, districts=None, *, confidence: float = 0.95, name: str = ""):
        import ipywidgets as widgets

        self.ind = normalise_indicators(indicators)
        self.districts = districts
        self.names: dict[str, str] = ({} if districts is None else
                                      dict(zip(districts["district_id"].astype(str), districts["district_name"])))
        self.confidence = float(confidence)
        self.name = name
        wide = widgets.Layout(width="48%")
        style = {"description_width": "110px"}
        self.indicator = widgets.Dropdown(options=indicator_choices(self.ind), description="Kennzahl",
                                          layout=wide, style=style)
        self.subject = widgets.Dropdown(description="Art / Schlüssel", layout=wide, style=style)
        self.year = widgets.Dropdown(description="Jahr (Karte)", layout=wide, style=style)
        self.area = widgets.Dropdown(description="Verlauf für", layout=wide, style=style)
        self.map_out = widgets.Output(layout=widgets.Layout(width="50%"))
        self.trend_out = widgets.Output(layout=widgets.Layout(width="50%"))
        self.widget = widgets.VBox([widgets.HBox([self.indicator, self.subject]),
                                    widgets.HBox([self.year, self.area]),
                                    widgets.HBox([self.map_out, self.trend_out])])
        self.map_table = self.trend_table = pd.DataFrame()
        self.map_figure = self.trend_figure = None
        self.map_html = self.trend_html = self.map_note = ""
        self._holding = False
        self._choices()
        self.indicator.observe(self._on_indicator, names="value")
        self.subject.observe(self._on_subject, names="value")
        self.year.observe(self._on_value, names="value")
        self.area.observe(self._on_value, names="value")
        self.update()

    # -- construction from the kit's results ---------------------------------

    @classmethod
    def from_result(cls, result, inputs) -> "ProfileExplorer":
        """From the ProfileResult and inputs of the stage-1 notebook."""
        return cls(result.indicators(), inputs.districts, name=str(inputs.params.get("name", "")),
                   confidence=float(inputs.params["profile"].get("confidence", 0.95)))

    @classmethod
    def from_results_dir(cls, results_dir: str | Path, districts=None, **kwargs) -> "ProfileExplorer":
        """From ``output/<commune>/results/`` (districts: a GeoDataFrame for the map;
        without one, the district names of districts.csv and no map)."""
        results_dir = Path(results_dir)
        if districts is None and (results_dir / "districts.csv").exists():
            districts = pd.read_csv(results_dir / "districts.csv", dtype=str, keep_default_na=False)
        return cls(read_profile_indicators(results_dir), districts, **kwargs)

    # -- widget state ----------------------------------------------------------

    def _choices(self) -> None:
        """Options of subject, year and area for the chosen indicator, keeping the
        current choices where they still exist (year: else the latest)."""
        self._holding = True
        try:
            indicator = self.indicator.value
            subjects = subject_choices(self.ind, indicator) if indicator else []
            keep = self.subject.value
            self.subject.options = subjects
            values = [s for _, s in subjects]
            self.subject.value = keep if keep in values else (values[0] if values else None)
            self.subject.disabled = len(subjects) <= 1
            self._year_area_choices()
        finally:
            self._holding = False

    def _year_area_choices(self) -> None:
        indicator, subject = self.indicator.value, self.subject.value
        years = year_choices(self.ind, indicator, subject) if indicator else []
        keep = self.year.value
        self.year.options = [(str(y), y) for y in years]
        self.year.value = keep if keep in years else (years[-1] if years else None)
        areas = []
        if indicator:
            rows = _rows(self.ind, indicator, subject)
            if (rows["district_id"] == "").any():
                areas.append((COMMUNE, ""))
            areas += [(self.names.get(d, d), d) for d in district_ids(self.ind, indicator, subject)]
        keep = self.area.value
        self.area.options = areas
        ids = [a for _, a in areas]
        self.area.value = keep if keep in ids else (ids[0] if ids else None)
        self.area.disabled = len(areas) <= 1

    def _on_indicator(self, _change=None) -> None:
        if self._holding:
            return
        self._choices()
        self.update()

    def _on_subject(self, _change=None) -> None:
        if self._holding:
            return
        self._holding = True
        try:
            self._year_area_choices()
        finally:
            self._holding = False
        self.update()

    def _on_value(self, _change=None) -> None:
        if not self._holding:
            self.update()

    # -- what is shown -----------------------------------------------------------

    def _meta(self) -> tuple[str, str, str, str]:
        rows = _rows(self.ind, self.indicator.value, self.subject.value)
        first = rows.iloc[0]
        subject_label = dict((s, lab) for lab, s in subject_choices(self.ind, self.indicator.value)).get(
            self.subject.value, "")
        return str(first["label"]), str(first["unit"]), subject_label, self.indicator.value

    def _interval_header(self) -> str:
        return f"{fmt_num(100 * self.confidence, 0)}-%-Intervall"

    def update(self) -> None:
        """Recompute the district table and map, the series table and chart for
        the current widget values, and show them in the Output widgets."""
        for fig in (self.map_figure, self.trend_figure):
            if fig is not None:
                plt.close(fig)
        self.map_figure = self.trend_figure = None
        self.map_html = self.trend_html = self.map_note = ""
        if not self.indicator.value or self.year.value is None:
            self.map_table = self.trend_table = pd.DataFrame()
            self.map_note = "Für das Gebietsprofil liegen keine Kennzahlen vor."
            self.map_out.outputs = (_html_bundle(f"<p>{html.escape(self.map_note)}</p>"),)
            self.trend_out.outputs = ()
            return
        label, unit, subject_label, indicator = self._meta()
        subject = self.subject.value
        year = int(self.year.value)
        what = label if not subject_label or len(self.subject.options) <= 1 else f"{label}: {subject_label}"
        map_outputs = self._district_part(indicator, subject, year, what, unit)
        trend_outputs = self._trend_part(indicator, subject, year, what, unit)
        self.map_out.outputs = tuple(map_outputs)
        self.trend_out.outputs = tuple(trend_outputs)

    def _district_part(self, indicator, subject, year, what, unit) -> list[dict]:
        order = list(self.names) if self.names else None
        table = district_values(self.ind, indicator, subject, year, order)
        if table.empty:
            self.map_table = table.assign(district_name=pd.Series(dtype=object))
            self.map_note = "Diese Kennzahl liegt nur für die ganze Kommune vor, nicht nach Stadtteilen."
            return [_html_bundle(f'<p class="kit-note">{html.escape(self.map_note)}</p>')]
        table.insert(1, "district_name", [self.names.get(d, d) if d else COMMUNE for d in table["district_id"]])
        self.map_table = table
        by_district = table[table["district_id"] != ""]
        decimals = decimals_for(unit, table["value"])
        columns = {"district_name": ("Stadtteil", None), "value": (f"{what} ({unit})" if unit else what, decimals)}
        if table["lower"].notna().any():
            columns["lower"] = (self._interval_header(), None)
            table = table.assign(lower=[_interval(lo, up, decimals) for lo, up in zip(table["lower"], table["upper"])])
        self.map_html = html_table(table, columns, caption=f"{what}, {year}, nach Stadtteilen")
        out = []
        if by_district["value"].isna().all():
            self.map_note = f"Für {year} liegen keine Werte nach Stadtteilen vor."
            out.append(_html_bundle(f'<p class="kit-note">{html.escape(self.map_note)}</p>'))
        elif self.districts is not None and hasattr(self.districts, "geometry"):
            values = by_district.set_index("district_id")["value"]
            self.map_figure = plots.choropleth(self.districts, values, title=f"{what}, {year}",
                                               legend=unit or what, decimals=decimals, cmap="Blues")
            out.append(_figure_bundle(self.map_figure, f"Karte: {what}, {year}"))
        out.append(_html_bundle(self.map_html))
        return out

    def _trend_part(self, indicator, subject, year, what, unit) -> list[dict]:
        area = self.area.value if self.area.value is not None else ""
        rows = series(self.ind, indicator, subject, area)
        self.trend_table = rows[["year", "value", "lower", "upper", "reference"]].astype({"year": int})
        if rows.empty:
            return []
        where = COMMUNE if area == "" else self.names.get(area, area)
        decimals = decimals_for(unit, rows["value"])
        shown = rows.assign(year_text=[f"{int(y)}{' (Karte)' if int(y) == year else ''}" for y in rows["year"]])
        columns = {"year_text": ("Jahr", None), "value": (f"{what} ({unit})" if unit else what, decimals)}
        if rows["lower"].notna().any():
            shown["interval"] = [_interval(lo, up, decimals) for lo, up in zip(rows["lower"], rows["upper"])]
            columns["interval"] = (self._interval_header(), None)
        if rows["reference"].notna().any():
            columns["reference"] = ("Vergleichswert", decimals)
        if (rows["note"] != "").any():
            from kit.profile.view import note_text

            shown["hint"] = [note_text(r) if r["note"] else "" for _, r in rows.iterrows()]
            columns["hint"] = ("Hinweis", None)
        self.trend_html = html_table(shown, columns, caption=f"{what}: Verlauf, {where}")
        self.trend_figure = trend_chart(self.trend_table, title=f"{what} – {where}", unit=unit, decimals=decimals,
                                        highlight=year, interval_label=self._interval_header())
        return [_figure_bundle(self.trend_figure, f"Verlauf: {what}, {where}"), _html_bundle(self.trend_html)]

    def _ipython_display_(self):  # pragma: no cover - JupyterLab only
        from IPython.display import display

        display(self.widget)


def _interval(lower, upper, decimals: int) -> str:
    if pd.isna(lower) or pd.isna(upper):
        return DASH
    return f"{fmt_num(lower, decimals)} bis {fmt_num(upper, decimals)}"


def trend_chart(data: pd.DataFrame, *, title: str, unit: str, decimals: int, highlight: int | None = None,
                interval_label: str = "Intervall"):
    """Line chart of a series (columns year, value, lower, upper, optional
    reference) with its interval as a band and the reference value as a dashed
    line; the axis starts at zero, the year shown on the map is marked."""
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    years = data["year"].astype(int).to_numpy()
    values = data["value"].astype(float).to_numpy()
    if data["lower"].notna().any():
        ax.fill_between(years, data["lower"].astype(float), data["upper"].astype(float), color=plots.BLUE,
                        alpha=0.18, linewidth=0, label=interval_label)
    ax.plot(years, values, color=plots.BLUE, marker="o", lw=1.8, label="Wert")
    if highlight is not None and highlight in set(years):
        i = int(np.flatnonzero(years == highlight)[0])
        ax.plot([years[i]], [values[i]], marker="o", ms=10, mfc="none", mec=plots.ORANGE, mew=2, ls="none",
                label=f"{highlight} (Karte)")
    reference = data["reference"].astype(float) if "reference" in data.columns else pd.Series(np.nan, index=data.index)
    if reference.notna().any():
        ax.plot(years, reference, color=plots.ORANGE, ls="--", lw=1.4, marker=".", label="Vergleichswert")
    top = np.nanmax(np.r_[values, data["upper"].astype(float).to_numpy(), reference.to_numpy()]) if len(values) else 1.0
    ax.set_ylim(0, (top if np.isfinite(top) and top > 0 else 1.0) * 1.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: str(int(v))))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_num(v, decimals if decimals else 0)))
    ax.set_ylabel(unit)
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    fig.tight_layout()
    return fig


def show_explorer(result, inputs, force: bool = False) -> ProfileExplorer | None:
    """The explorer in JupyterLab; nothing in batch runs (KIT_BATCH=1), where the
    report's tables and charts are its static version."""
    if not (force or interactive_session()):
        return None
    from IPython.display import display

    explorer = ProfileExplorer.from_result(result, inputs)
    display(explorer.widget)
    return explorer
