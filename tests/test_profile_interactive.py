"""Stage 1 interactive tools (issue 8, item 7), checked without a browser:

1. the profile explorer (kit/profile/explorer.py) driven through its widgets; the
   numbers it shows are compared with the indicator table the kit wrote
   (results/profile_indicators.csv), read here with the csv module;
2. the interactive map (kit/profile/webmap.py) saved to HTML references no
   external URL (parsed: src/href/url(...), script and style loads, the iframe
   of the notebook display) and holds the district and place names;
3. batch runs (KIT_BATCH=1) show neither: no widget or map output in the
   executed notebook; a JupyterLab-like kernel run shows both.
"""

from __future__ import annotations

import csv
import html as _html
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from helpers import raw_demo_rows

DEMO = "muldenau"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


# ---------------------------------------------------------------------------
# Fixtures: the demo commune computed once, its indicator table written
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import matplotlib

    matplotlib.use("Agg")
    from kit.demo import generate_demo
    from kit.params import PARAMS_DIR, load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.results import ResultStore

    root = tmp_path_factory.mktemp("interactive")
    generate_demo(root / "data", communes=[DEMO])
    data = yaml.safe_load((PARAMS_DIR / f"{DEMO}.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(root / "data" / DEMO)
    params_file = root / f"{DEMO}.yaml"
    params_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    inputs = load_profile_inputs(load_params(params_file))
    result = compute_profile(inputs)
    store = ResultStore(root / "output", DEMO)
    write_profile(result, store, inputs)
    return {"root": root, "params_file": params_file, "inputs": inputs, "result": result,
            "results_dir": store.dir, "data_dir": root / "data" / DEMO}


def csv_rows(results_dir: Path) -> list[dict]:
    """profile_indicators.csv as plain dicts (strings), independent of the kit's readers."""
    with open(results_dir / "profile_indicators.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def pick(rows, **where) -> list[dict]:
    return [r for r in rows if all(r[k] == v for k, v in where.items())]


def num(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def de(x: float, decimals: int) -> str:
    """German number text, written here independently of kit.report."""
    s = f"{x:,.{decimals}f}"
    return s.replace(",", "\u0001").replace(".", ",").replace("\u0001", ".")


class _Tables(HTMLParser):
    """Rows (lists of cell texts) of every table in an HTML fragment."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def shown_tables(output_widget) -> list[list[list[str]]]:
    """The tables an analyst sees in an Output widget."""
    tables = []
    for out in output_widget.outputs:
        markup = out["data"].get("text/html", "")
        if "<table" in markup:
            parser = _Tables()
            parser.feed(markup)
            tables.append(parser.rows)
    return tables


def shown_images(output_widget) -> int:
    return sum("image/png" in out["data"] for out in output_widget.outputs)


@pytest.fixture(params=["memory", "csv"])
def explorer(request, demo):
    """The explorer built from the ProfileResult (as in the notebook) or from the results folder."""
    from kit.profile.explorer import ProfileExplorer

    if request.param == "memory":
        return ProfileExplorer.from_result(demo["result"], demo["inputs"])
    return ProfileExplorer.from_results_dir(demo["results_dir"], demo["inputs"].districts)


# ---------------------------------------------------------------------------
# 1. Profile explorer
# ---------------------------------------------------------------------------


def test_explorer_menus_list_the_indicator_table(demo, explorer):
    rows = csv_rows(demo["results_dir"])
    series = [r["indicator"] for r in rows if r["year"] and not r["indicator"].endswith("_trend")]
    assert [v for _, v in explorer.indicator.options] == list(dict.fromkeys(series))
    for wanted in ("population_share_65plus", "pks_hz", "owi_per_1000", "clubs_per_1000", "bos_staff_per_10000"):
        assert wanted in series
    # subjects of PKS HZ: every key of the table, labelled with label and key
    explorer.indicator.value = "pks_hz"
    keys = list(dict.fromkeys(r["subject"] for r in pick(rows, indicator="pks_hz")))
    assert sorted(v for _, v in explorer.subject.options) == sorted(keys)
    label = {r["subject"]: r["subject_label"] for r in pick(rows, indicator="pks_hz")}
    assert dict((v, t) for t, v in explorer.subject.options)["892000"] == f"{label['892000']} (892000)"
    # years of the chosen series; the latest is preselected
    years = sorted({int(r["year"]) for r in pick(rows, indicator="pks_hz", subject="892000")})
    explorer.subject.value = "892000"
    assert [v for _, v in explorer.year.options] == years and explorer.year.value == years[-1]


def test_explorer_district_map_shows_the_chosen_year(demo, explorer, monkeypatch):
    from kit import figures

    drawn = {}
    original = figures.choropleth

    def spy(districts, values, **kwargs):
        drawn["values"] = dict(values)
        return original(districts, values, **kwargs)

    monkeypatch.setattr(figures, "choropleth", spy)
    rows = csv_rows(demo["results_dir"])
    years = sorted({int(r["year"]) for r in pick(rows, indicator="population_share_65plus")})
    explorer.indicator.value = "population_share_65plus"
    explorer.year.value = years[0]  # not the default (latest)
    expected = {r["district_id"]: float(r["value"])
                for r in pick(rows, indicator="population_share_65plus", year=str(years[0]))}
    names = demo["inputs"].district_names
    assert len(expected) == len(names) + 1  # every district and the whole commune
    # the numbers behind the display
    table = explorer.map_table
    assert dict(zip(table["district_id"], table["value"])) == pytest.approx(expected)
    # the figure was drawn from exactly the district values of that year
    assert drawn["values"] == pytest.approx({d: v for d, v in expected.items() if d})
    assert shown_images(explorer.map_out) == 1
    # the table the analyst sees: district name and the value in German format, commune last
    (shown,) = shown_tables(explorer.map_out)
    body = shown[1:]
    assert [r[0] for r in body] == [names[d] for d in names] + ["Gesamte Kommune"]
    for district, row in zip(list(names) + [""], body):
        assert row[1] == de(expected[district], 1)
    assert str(years[0]) in explorer.map_html


def test_explorer_trend_shows_series_with_interval(demo, explorer):
    rows = csv_rows(demo["results_dir"])
    category = sorted({r["subject"] for r in pick(rows, indicator="owi_per_1000") if r["subject"]})[0]
    explorer.indicator.value = "owi_per_1000"
    explorer.subject.value = category
    series = sorted(pick(rows, indicator="owi_per_1000", subject=category, district_id=""), key=lambda r: r["year"])
    assert len(series) >= 3 and all(r["lower"] and r["upper"] for r in series)
    years = [int(r["year"]) for r in series]
    values = [float(r["value"]) for r in series]
    lower, upper = [float(r["lower"]) for r in series], [float(r["upper"]) for r in series]
    t = explorer.trend_table
    assert list(t["year"]) == years
    assert list(t["value"]) == pytest.approx(values)
    assert list(t["lower"]) == pytest.approx(lower) and list(t["upper"]) == pytest.approx(upper)
    # the chart: the value line and the interval band carry exactly these numbers
    ax = explorer.trend_figure.axes[0]
    line = next(ln for ln in ax.lines if ln.get_label() == "Wert")
    assert list(line.get_xdata()) == years and list(line.get_ydata()) == pytest.approx(values)
    band_y = {round(float(y), 9) for y in ax.collections[0].get_paths()[0].vertices[:, 1]}
    assert {round(v, 9) for v in lower + upper} <= band_y
    assert ax.get_ylim()[0] == 0  # levels start at zero
    # the table the analyst sees: year, value and interval in German format
    tables = shown_tables(explorer.trend_out)
    assert len(tables) == 1 and shown_images(explorer.trend_out) == 1
    head, *body = tables[0]
    assert head[:3] == ["Jahr", head[1], "95-%-Intervall"] and "je 1.000 Einw." in head[1]
    for row, y, v, lo, up in zip(body, years, values, lower, upper):
        assert row[0].startswith(str(y))
        assert row[1] == de(v, 1) and row[2] == f"{de(lo, 1)} bis {de(up, 1)}"
    assert body[-1][0] == f"{years[-1]} (Karte)"  # the year of the map is marked
    # OWi exist for the whole commune only: a note instead of a map
    assert explorer.map_figure is None and "nur für die ganze Kommune" in explorer.map_note


def test_explorer_follows_indicator_year_and_area(demo, explorer):
    rows = csv_rows(demo["results_dir"])
    explorer.indicator.value = "population"
    explorer.year.value = min(v for _, v in explorer.year.options)
    # clubs exist for one year only: the year follows, districts have their own series
    explorer.indicator.value = "clubs_per_1000"
    club_years = sorted({int(r["year"]) for r in pick(rows, indicator="clubs_per_1000")})
    assert explorer.year.value == club_years[-1]
    district = sorted({r["district_id"] for r in pick(rows, indicator="clubs_per_1000") if r["district_id"]})[-1]
    explorer.area.value = district
    expected = pick(rows, indicator="clubs_per_1000", subject="", district_id=district)
    assert list(explorer.trend_table["value"]) == pytest.approx([float(r["value"]) for r in expected])
    assert demo["inputs"].district_names[district] in explorer.trend_html
    # BOS by type, whole commune; values equal the table's
    explorer.indicator.value = "bos_staff_per_10000"
    kind = [v for _, v in explorer.subject.options if v][0]
    explorer.subject.value = kind
    expected = sorted(pick(rows, indicator="bos_staff_per_10000", subject=kind, district_id=""),
                      key=lambda r: r["year"])
    assert list(explorer.trend_table["value"]) == pytest.approx([float(r["value"]) for r in expected])


def test_explorer_text_is_german_and_clean(demo, explorer):
    for indicator in [v for _, v in explorer.indicator.options]:
        explorer.indicator.value = indicator
        text = " ".join(out["data"].get("text/plain", "") + out["data"].get("text/html", "")
                        for w in (explorer.map_out, explorer.trend_out) for out in w.outputs)
        for pattern in (r"\bNaN\b", r"\bnan\b", r"<NA>", r"\bNone\b", r"subject_label", r"district_id",
                        r"(?<![\d.])\d+\.\d{1,2}(?![\d.])"):  # no English decimal point
            assert not re.search(pattern, text), (indicator, pattern)


def test_show_explorer_only_in_jupyterlab(demo, monkeypatch):
    import IPython.display
    import ipywidgets

    from kit.profile import explorer as explorer_mod

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_kw: shown.extend(objs))
    monkeypatch.setenv("KIT_BATCH", "1")
    assert explorer_mod.show_explorer(demo["result"], demo["inputs"]) is None
    assert shown == []
    ex = explorer_mod.show_explorer(demo["result"], demo["inputs"], force=True)
    assert len(shown) == 1 and isinstance(shown[0], ipywidgets.VBox) and shown[0] is ex.widget


# ---------------------------------------------------------------------------
# 2. Interactive map without network
# ---------------------------------------------------------------------------

URL_ATTRIBUTES = {"src", "href", "xlink:href", "data", "poster", "srcset", "action", "background", "formaction",
                  "manifest", "cite", "longdesc", "ping"}
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)|@import\s+(['\"])(.*?)\3", re.IGNORECASE | re.DOTALL)


class _References(HTMLParser):
    """Every address a page would load or link: URL attributes, url(...) and
    @import in style elements and attributes, pages inside iframe srcdoc."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self.text: list[str] = []
        self._in: str | None = None

    def _css(self, css: str) -> None:
        for m in CSS_URL.finditer(css):
            self.refs.append((m.group(2) or m.group(4) or "").strip())

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name.lower() in URL_ATTRIBUTES:
                self.refs.append(value.strip())
            elif name.lower() == "style":
                self._css(value)
            elif name.lower() == "srcdoc":
                inner = references(value)  # the notebook shows the map as an iframe page
                self.refs += inner.refs
                self.text += inner.text
        self._in = tag.lower() if tag.lower() in ("style", "script") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "style":
            self._css(data)
        elif self._in != "script":
            self.text.append(data)


def references(page: str) -> _References:
    parser = _References()
    parser.feed(page)
    parser.close()
    return parser


def external(refs: list[str]) -> list[str]:
    """Addresses that are not inline data (data: URIs)."""
    return [r for r in refs if not r.lower().startswith("data:")]


def test_reference_check_sees_external_addresses():
    """The checker itself: a plain folium map (CDN scripts) and each way of loading are found."""
    import folium

    page = folium.Map(tiles=None).get_root().render()
    assert any("cdn.jsdelivr.net" in r for r in external(references(page).refs))
    for snippet in ('<script src="https://x.org/a.js"></script>', '<link rel="stylesheet" href="//x.org/a.css">',
                    '<img src="images/a.png">', "<style>.a {background: url('http://x.org/b.png')}</style>",
                    '<style>@import "https://x.org/c.css";</style>', '<div style="background:url(a.png)"></div>',
                    '<iframe srcdoc="&lt;script src=&quot;https://x.org/d.js&quot;&gt;&lt;/script&gt;"></iframe>'):
        assert external(references(snippet).refs), snippet
    assert not external(references('<img src="data:image/png;base64,AAAA"><script>var u = "https://x";</script>')
                        .refs)


def test_saved_map_loads_nothing_from_the_network(demo, tmp_path):
    from kit.profile import view

    m = view.interactive_map(demo["result"], demo["inputs"])
    target = tmp_path / "karte.html"
    m.save(str(target))
    page = target.read_text(encoding="utf-8")
    found = references(page)
    assert external(found.refs) == []
    assert found.refs, "the inlined images of leaflet.css are data: URIs"
    assert "L.map(" in page and 'version="1.9.4"' in page  # Leaflet inline
    assert "L.tileLayer(" not in page  # no tile server
    # names: every district and each place of discomfort from the raw files
    inputs = demo["inputs"]
    for name in inputs.district_names.values():
        assert _html.escape(name) in page, name
    places = raw_demo_rows(demo["data_dir"] / "places.csv")
    with_coordinates = [p for p in places if p.get("lon")]
    assert with_coordinates
    for place in with_coordinates:
        assert _html.escape(place["name"]) in page, place["name"]
    # the notebook display (iframe srcdoc) is just as self-contained
    shown = m._repr_html_()
    inner = references(shown)
    assert external(inner.refs) == [] and "Die Karte wird geladen" in shown
    assert _html.escape(with_coordinates[0]["name"]) in _html.unescape(shown)


def test_offline_map_refuses_a_network_plugin():
    """An element that brings its own CDN script is refused, not silently loaded."""
    import geopandas as gpd
    from folium.plugins import MarkerCluster
    from shapely.geometry import box

    from kit.errors import KitError
    from kit.profile import webmap

    districts = gpd.GeoDataFrame({"district_id": ["1"], "district_name": ["Altstadt"]},
                                 geometry=[box(410000, 5650000, 412000, 5652000)], crs="EPSG:25833")
    m = webmap.district_map(districts)
    assert external(references(m.get_root().render()).refs) == []
    MarkerCluster().add_to(m)
    with pytest.raises(KitError, match="aus dem Netz"):
        m.get_root().render()


def _walk(element):
    for child in element._children.values():
        yield child
        yield from _walk(child)


def test_interactive_map_of_demo_commune(demo, monkeypatch):
    import folium
    import IPython.display

    from kit.profile import view, webmap

    inputs, result = demo["inputs"], demo["result"]
    m = view.interactive_map(result, inputs)
    elements = list(_walk(m))
    assert not any(isinstance(e, folium.TileLayer) for e in elements)
    groups = [e for e in elements if isinstance(e, folium.FeatureGroup)]
    assert [g.layer_title for g in groups] == ["Stadtteile", "Orte des Unwohlseins",
                                               "Polizei, Ordnungsamt, Feuerwehr, Rettung", "Präventionsaktivitäten"]
    assert all(g.layer_title in g.layer_name for g in groups)  # layer control entry (with colour dot)
    assert sum(isinstance(e, folium.LayerControl) for e in elements) == 1
    page = m.get_root().render()
    # popup of district 1: residents of the latest year, summed here from the raw file
    res = raw_demo_rows(demo["data_dir"] / "residents.csv")
    latest = max(int(r["year"]) for r in res)
    n = sum(int(r["count"]) for r in res if int(r["year"]) == latest and r["district_id"] == "1")
    name = inputs.district_names["1"]
    assert f"<b>{name}</b><br>Einwohner {latest}: {de(n, 0)}" in page
    for german in ("Art: ", "Stadtteil: ", "Thema: ", "Zielgruppe: ", "Träger: ", "Personal ", f"Daten: {inputs.params['name']}"):
        assert german in page, german
    own = page  # the page without the inlined libraries
    for script in ("leaflet/leaflet.js", "jquery/jquery.min.js"):
        own = own.replace(webmap._script(script), "")
    assert len(own) < len(page) - 200_000
    for pattern in (r"\bNaN\b", r"\bnan\b", r"<NA>", r"\bNone\b"):
        assert not re.search(pattern, own), pattern
    # BOS markers: units of the latest year only, one marker each
    bos = raw_demo_rows(demo["data_dir"] / "bos.csv")
    last_bos = max(int(b["year"]) for b in bos)
    bos_group = next(g for g in groups if g.layer_title.startswith("Polizei"))
    assert sum(isinstance(c, folium.CircleMarker) for c in bos_group._children.values()) == \
        sum(1 for b in bos if int(b["year"]) == last_bos and b["lon"])
    # in a batch run (KIT_BATCH=1, papermill) nothing is shown; forced, the map is displayed
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_kw: shown.extend(objs))
    monkeypatch.setenv("KIT_BATCH", "1")
    view.show_interactive_map(result, inputs)
    assert shown == []
    view.show_interactive_map(result, inputs, force=True)
    assert len(shown) == 1 and isinstance(shown[0], folium.Map)


# ---------------------------------------------------------------------------
# 3. The stage-1 notebook: batch run without, kernel run with widgets and map
# ---------------------------------------------------------------------------


def _execute(demo, out_dir: Path, batch: bool) -> dict:
    """Run notebooks/1_profile.ipynb for the demo commune: as the runner does
    (KIT_BATCH=1) or as a JupyterLab kernel would (no KIT_BATCH)."""
    import nbformat
    import papermill as pm

    from kit.params import REPO_ROOT
    from kit.runner import execute_stage
    from kit.stage import OUTPUT_DIR_ENV

    notebook = REPO_ROOT / "notebooks" / "1_profile.ipynb"
    executed = out_dir / "1_profile.ipynb"
    params = {"commune_id": DEMO, "params_file": str(demo["params_file"]), "output_dir": str(out_dir)}
    if batch:
        execute_stage(notebook, executed, params, log_file=out_dir / "kernel.log")
    else:
        executed.parent.mkdir(parents=True, exist_ok=True)
        saved = {k: os.environ.pop(k, None) for k in ("KIT_BATCH", OUTPUT_DIR_ENV)}
        try:
            pm.execute_notebook(str(notebook), str(executed), parameters=params, kernel_name="python3",
                                cwd=str(notebook.parent), progress_bar=False)
        finally:
            os.environ.update({k: v for k, v in saved.items() if v is not None})
    return nbformat.read(executed, as_version=4)


def _outputs_by_cell(nb) -> dict[str, list[dict]]:
    return {c.get("id", ""): c.get("outputs", []) for c in nb.cells if c.cell_type == "code"}


def _interactive_outputs(nb) -> list[str]:
    """What in an executed notebook is a widget view or the Leaflet map."""
    found = []
    for cell_id, outputs in _outputs_by_cell(nb).items():
        for out in outputs:
            data = out.get("data", {})
            if WIDGET_MIME in data:
                found.append(f"{cell_id}: widget")
            if "leaflet" in str(data.get("text/html", "")).lower():
                found.append(f"{cell_id}: map")
    return found


def test_batch_run_shows_no_widgets_and_kernel_run_shows_them(demo, tmp_path):
    from kit.runner import render_html

    batch = _execute(demo, tmp_path / "batch", batch=True)
    assert _interactive_outputs(batch) == []
    assert WIDGET_MIME not in Path(tmp_path / "batch" / "1_profile.ipynb").read_text(encoding="utf-8")
    # the report holds neither the tools nor their headings
    render_html(tmp_path / "batch" / "1_profile.ipynb", tmp_path / "batch" / "1_profile.html")
    report = (tmp_path / "batch" / "1_profile.html").read_text(encoding="utf-8")
    for text in ("Profil-Explorer", "Interaktive Karte", "leaflet", WIDGET_MIME):
        assert text not in report, text
    # the same notebook in a kernel as in JupyterLab: the explorer widget and the map appear
    lab = _execute(demo, tmp_path / "lab", batch=False)
    found = _interactive_outputs(lab)
    assert "profile-explorer: widget" in found and any(f.endswith(": map") for f in found), found


def test_notebook_keeps_the_explorer_out_of_the_report():
    import nbformat

    from kit.params import REPO_ROOT

    nb = nbformat.read(REPO_ROOT / "notebooks" / "1_profile.ipynb", as_version=4)
    cells = [c for c in nb.cells if "explorer" in c.source.lower()]
    assert [c.cell_type for c in cells] == ["markdown", "code"]
    assert all("remove_cell" in c.metadata.get("tags", []) for c in cells)
