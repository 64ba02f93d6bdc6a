"""Charts an officer can read and print (issue 8, item 4).

- every figure of a demo report has a number, a source line and a German alt text, rendered
  as <figure><img alt=…><figcaption>…</figcaption></figure> at >= 150 dpi (no nbconvert
  default "No description has been provided for this image");
- level bars start at zero, changes carry a sign (+85 / −65) in German format;
- the population pyramid draws every register age group over the ages it covers with
  residents per year of age, and no bar shows fewer than min_cell residents;
- maps: scale bar from the projected CRS, district labels that do not overlap and contrast
  with their fill, legend/colour bar outside the map, attribution line.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from shapely.geometry import box  # noqa: E402

from batch_runs import make_inputs  # noqa: E402
from kit import figures as plots  # noqa: E402
from kit.disclosure import DisclosurePolicy  # noqa: E402
from kit.params import PARAMS_DIR, load_params  # noqa: E402
from kit.profile import indicators as P  # noqa: E402
from kit.report import MINUS, PLUS_MINUS, fmt_signed  # noqa: E402

MIN_DPI = 150


# ---------------------------------------------------------------------------
# fixtures: demo inputs (generated into a temporary folder)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_inputs(tmp_path_factory):
    """Profile inputs of the demo communes muldenau and elbstadt (5 and 18 districts)."""
    from kit.demo import generate_demo
    from kit.profile.inputs import load_profile_inputs

    root = tmp_path_factory.mktemp("figures")
    generate_demo(root / "data", communes=["muldenau", "elbstadt"])
    out = {}
    for commune in ("muldenau", "elbstadt"):
        data = yaml.safe_load((PARAMS_DIR / f"{commune}.yaml").read_text(encoding="utf-8"))
        data["data_dir"] = str(root / "data" / commune)
        path = root / f"{commune}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        out[commune] = load_profile_inputs(load_params(path))
    return out


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------------------
# signed changes and German numbers
# ---------------------------------------------------------------------------


def _parse_german(text: str) -> float:
    return float(text.replace(".", "").replace(",", "."))


def test_fmt_signed_examples():
    assert fmt_signed(85) == "+85"
    assert fmt_signed(-65) == f"{MINUS}65"
    assert fmt_signed(0.027, 1, percent=True) == "+2,7\u00a0%"
    assert fmt_signed(-1234.5, 1) == f"{MINUS}1.234,5"
    assert fmt_signed(0) == f"{PLUS_MINUS}0"
    assert fmt_signed(-0.04, 1) == f"{PLUS_MINUS}0,0"  # rounds to zero: no sign pretending a change
    assert fmt_signed(float("nan")) == "–"


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False), st.integers(min_value=0, max_value=2),
       st.booleans())
def test_fmt_signed_property(x, decimals, percent):
    text = fmt_signed(x, decimals, percent=percent)
    v = 100 * x if percent else x
    body = text[1:].removesuffix("\u00a0%")
    assert "-" not in text  # typographic minus, never the hyphen
    assert text.endswith("\u00a0%") == percent
    shown = _parse_german(body)
    assert shown == pytest.approx(round(abs(v), decimals), abs=10 ** -decimals)  # value and grouping
    if shown == 0:
        assert text[0] == PLUS_MINUS
    else:
        assert text[0] == ("+" if v > 0 else MINUS)
    if decimals:
        assert re.fullmatch(r"\d{1,3}(\.\d{3})*,\d{%d}" % decimals, body)
    else:
        assert re.fullmatch(r"\d{1,3}(\.\d{3})*", body)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.integers(min_value=0, max_value=2))
def test_axis_formatter_german(v, decimals):
    text = plots.german_formatter(decimals)(v, 0)
    assert "-" not in text and "." not in text[-(decimals + 1):] if decimals else True
    sign = -1 if text.startswith(MINUS) else 1
    assert sign * _parse_german(text.lstrip(MINUS)) == pytest.approx(round(v, decimals), abs=10 ** -decimals)
    assert plots.german_formatter(0, absolute=True)(-1500, 0) == "1.500"


# ---------------------------------------------------------------------------
# bars from zero, signed changes on the population chart
# ---------------------------------------------------------------------------


def _muldenau_like_totals():
    totals = pd.DataFrame({"year": [2019, 2020, 2021, 2022, 2023, 2024],
                           "total": [8121, 8036, 8014, 7967, 7969, 7904]})
    totals["change"] = totals["total"].diff()
    return totals


def test_population_trend_bars_start_at_zero_with_signed_changes():
    fig = plots.population_trend(_muldenau_like_totals())
    ax = fig.axes[0]
    assert ax.get_ylim()[0] <= 0  # a 2,7 % fall must not look dramatic
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == 6 and all(b.get_y() == 0 for b in bars)
    texts = [t.get_text() for t in ax.texts]
    assert f"{MINUS}85" in texts and "+2" in texts and f"{MINUS}65" in texts
    assert "8.121" in texts and "7.904" in texts  # German grouping
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any("." in lab for lab in labels) and not any("," in lab for lab in labels)
    info = plots.figure_info(fig)
    assert info.alt == "Balkendiagramm: Einwohner 2019 bis 2024, von 8.121 auf 7.904 gesunken"


def test_level_bars_start_at_zero():
    data = pd.DataFrame({"period": ["2022", "2023", "2024"], "value": [7000.0, 7200.0, 7225.0],
                         "lower": [6900.0, 7100.0, 7120.0], "upper": [7100.0, 7300.0, 7330.0]})
    fig = plots.rate_with_interval(data, title="HZ", ylabel="Fälle je 100.000 Einw.", reference=6594.4,
                                   reference_label="Sachsen")
    assert fig.axes[0].get_ylim()[0] <= 0
    shares = pd.DataFrame({"category_label": ["sicher", "unsicher"], "estimate": [0.7, 0.3], "lower": [0.6, 0.2],
                           "upper": [0.8, 0.4], "suppressed": [False, False]})
    assert plots.share_bars(shares, title="Sicherheit").axes[0].get_xlim()[0] <= 0
    pmk = pd.DataFrame({"area": ["rechts", "rechts", "links"], "offence_type": ["Gewalt", "Propaganda", "Gewalt"],
                        "count": [4, 22, 3]})
    fig = plots.pmk_bars(pmk, title="PMK")
    assert fig.axes[0].get_xlim()[0] <= 0
    assert "−" not in "".join(t.get_text() for t in fig.axes[0].get_xticklabels())


# ---------------------------------------------------------------------------
# population pyramid: consistent bands, no small bars
# ---------------------------------------------------------------------------


def _pyramid_bars(fig):
    ax = fig.axes[0]
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() != 0]


def test_age_bands_per_year_of_age(demo_inputs):
    residents = demo_inputs["muldenau"]["residents"]
    pyramid = P.age_pyramid(residents)
    bands = P.age_bands(pyramid)
    assert list(bands["age_group"].unique()) == P.REGISTER_AGE_GROUPS
    # the bands tile the ages without gap or overlap, widths as the register defines them
    groups = bands[bands["sex"] == "m"].sort_values("age_from")
    assert groups["age_from"].iloc[0] == 0
    assert (groups["age_from"].iloc[1:].to_numpy() == groups["age_to"].iloc[:-1].to_numpy()).all()
    assert dict(zip(groups["age_group"], groups["width"]))["16-17"] == 2
    assert dict(zip(groups["age_group"], groups["width"]))["25-34"] == 10
    # one unit for every bar: residents per year of age, counts unchanged
    assert np.allclose(bands["per_year"] * bands["width"], bands["count"].astype(float))
    mw = pyramid[pyramid["sex"].isin(["m", "w"])]
    assert bands["count"].sum() == mw["count"].sum()

    fig = plots.age_pyramid(bands, year=2024)
    bars = _pyramid_bars(fig)
    assert len(bars) == 2 * len(P.REGISTER_AGE_GROUPS)
    by_start = {(round(b.get_y()), "m" if b.get_width() < 0 else "w"): b for b in bars}
    for _, r in bands.iterrows():
        bar = by_start[(r["age_from"], r["sex"])]
        assert bar.get_height() == pytest.approx(r["width"])  # drawn over the ages the group covers
        assert abs(bar.get_width()) == pytest.approx(r["per_year"])
        assert abs(bar.get_width()) * bar.get_height() == pytest.approx(float(r["count"]))  # area = residents
    assert fig.axes[0].get_xlim()[0] < 0 < fig.axes[0].get_xlim()[1]


def test_pyramid_hides_small_counts(demo_inputs):
    residents = demo_inputs["muldenau"]["residents"].copy()
    year = int(residents["year"].max())
    sel = (residents["year"] == year) & (residents["age_group"] == "85+") & (residents["sex"] == "m")
    residents.loc[sel, "count"] = 0
    residents.loc[sel[sel].index[0], "count"] = 3  # three very old men: fewer than min_cell
    pyramid = P.age_pyramid(residents)
    policy = DisclosurePolicy(min_cell=5)

    unprotected = P.age_bands(pyramid)
    assert (unprotected["count"].astype(float) < policy.min_cell).any()  # the planted cell is there

    bands = P.age_bands(pyramid, policy)
    shown = bands[~bands["hidden"]]
    assert (shown["count"].astype(float) >= policy.min_cell).all() or (shown["count"] == 0).all()
    assert bands.loc[(bands["age_group"] == "85+") & (bands["sex"] == "m"), "hidden"].item()
    assert bands["count"][bands["hidden"]].isna().all()
    # complementary suppression: the sum over the groups of a sex is published (totals by sex),
    # so a second count of that sex is hidden as well
    assert bands[bands["sex"] == "m"]["hidden"].sum() >= 2

    fig = plots.age_pyramid(bands, year=year, min_cell=policy.min_cell)
    for bar in _pyramid_bars(fig):
        residents_in_bar = abs(bar.get_width()) * bar.get_height()
        assert residents_in_bar >= policy.min_cell - 1e-9 or residents_in_bar == 0
    assert len(_pyramid_bars(fig)) == (~bands["hidden"]).sum()
    note = plots.figure_info(fig).note
    assert "Männer 85+" in note and "weniger als 5" in note


# ---------------------------------------------------------------------------
# maps
# ---------------------------------------------------------------------------


def _labels(fig):
    return [t for ax in fig.axes for t in ax.texts if t.get_gid() == plots.LABEL_GID]


def _assert_no_overlap(fig):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = _labels(fig)
    boxes = [plots.label_extent(t, renderer) for t in labels]
    for (a, ta), (b, tb) in combinations(zip(boxes, labels), 2):
        assert not a.overlaps(b), f"labels overlap: {ta.get_text()!r} and {tb.get_text()!r}"
    fb = fig.bbox
    for bb, t in zip(boxes, labels):
        assert fb.x0 <= bb.x0 and bb.x1 <= fb.x1 and fb.y0 <= bb.y0 and bb.y1 <= fb.y1, t.get_text()
    return labels


def _scalebar(fig):
    bars = [a for ax in fig.axes for a in ax.artists if a.get_gid() == plots.SCALEBAR_GID]
    assert len(bars) == 1
    return fig.axes[0], bars[0]


def _check_scalebar(fig, metres_per_unit=1.0):
    ax, bar = _scalebar(fig)
    length_m = bar.kit_length_m
    assert length_m in {m * 10 ** k for m in (1, 2, 5) for k in range(0, 6)}
    label = bar.txt_label.get_text()
    expected = f"{plots._de(length_m / 1000, 0 if length_m >= 1000 and length_m % 1000 == 0 else 1)} km" \
        if length_m >= 1000 else f"{int(length_m)} m"
    assert label == expected
    # the drawn bar has that length in map units (metres in the projected CRS)
    rect = bar.size_bar.get_children()[0]
    assert rect.get_width() * metres_per_unit == pytest.approx(length_m)
    x0, x1 = ax.get_xlim()
    assert 0.05 <= rect.get_width() / (x1 - x0) <= 0.25


@pytest.mark.parametrize("commune", ["muldenau", "elbstadt"])
def test_choropleth_labels_scalebar_legend(demo_inputs, commune):
    inputs = demo_inputs[commune]
    districts = inputs.districts
    values = pd.Series(np.linspace(10, 30, len(districts)), index=districts["district_id"])
    fig = plots.choropleth(districts, values, title="Anteil ab 65", legend="Anteil in %", cmap="Oranges",
                           attribution=f"Kartengrundlage: Stadtteilgrenzen {inputs.params['name']}")
    labels = _assert_no_overlap(fig)
    # every district is named or numbered (with the number in the key)
    numbered = set(fig.kit_labels_numbered)
    names = {t.get_text().replace("\n", " ") for t in labels}
    for did, name in zip(districts["district_id"], districts["district_name"]):
        assert name in names or did in numbered
    _check_scalebar(fig)
    # colour bar below the map, not beside it, and not wider than 60 % of the figure
    map_ax, cax = fig.axes[0], fig.axes[-1]
    assert cax.get_position().y1 < map_ax.get_position().y0
    assert cax.get_position().width <= 0.6
    assert map_ax.get_position().width > 0.9
    texts = " ".join(t.get_text() for t in fig.texts)
    assert f"Kartengrundlage: Stadtteilgrenzen {inputs.params['name']}" in texts
    # German tick labels on the colour bar
    fig.canvas.draw()
    assert all("." not in t.get_text() for t in cax.get_xticklabels() if t.get_text())


def test_label_colour_contrasts_with_fill(demo_inputs):
    from matplotlib import colormaps

    districts = demo_inputs["elbstadt"].districts
    values = pd.Series(np.linspace(0, 100, len(districts)), index=districts["district_id"])
    fig = plots.choropleth(districts, values, title="t", legend="l", cmap="Oranges")
    cm, lo, hi = colormaps["Oranges"], 0.0, 100.0
    fill = {name: cm((v - lo) / (hi - lo)) for name, v in zip(districts["district_name"], values)}
    seen = 0
    for t in _labels(fig):
        name = t.get_text().replace("\n", " ")
        if name in fill:
            seen += 1
            assert _contrast(t.get_color(), fill[name]) >= 4.0, (name, t.get_color())
    assert seen >= len(districts) // 2


def _contrast(a, b) -> float:
    la, lb = plots._luminance(a), plots._luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


@settings(max_examples=200, deadline=None)
@given(st.tuples(*[st.floats(min_value=0, max_value=1)] * 3))
def test_text_colors_pick_the_readable_one(rgb):
    fg, halo = plots.text_colors(rgb)
    other = "#1a1a1a" if fg == "white" else "white"
    assert _contrast(fg, rgb) >= _contrast(other, rgb) - 1e-9
    assert _contrast(fg, rgb) >= 4.0
    assert _contrast(halo, fg) >= 4.5


def test_crowded_map_numbers_without_collisions():
    """Many small districts with long names: names that do not fit become letters in a box
    (A, B, … in the order of the district numbers) with a key."""
    cells = [box(x * 300, y * 300, x * 300 + 290, y * 300 + 290) for y in range(6) for x in range(8)]
    names = [f"Stadtteil mit langem Namen {i}" for i in range(len(cells))]
    gdf = gpd.GeoDataFrame({"district_id": [str(i + 1) for i in range(len(cells))], "district_name": names},
                           geometry=cells, crs="EPSG:25833")
    values = pd.Series(np.arange(len(cells), dtype=float), index=gdf["district_id"])
    fig = plots.choropleth(gdf, values, title="t", legend="l", attribution="Kartengrundlage: Test")
    _assert_no_overlap(fig)
    assert len(fig.kit_labels_numbered) > 0
    key = " ".join(t.get_text() for t in fig.texts).replace("\n", " ")
    assert "Stadtteile mit Buchstaben im Kästchen: A " in key
    letters = fig.kit_labels_letters
    ordered = sorted(letters, key=int)
    assert [letters[n] for n in ordered] == [plots.box_letter(k) for k in range(len(ordered))]
    for number in fig.kit_labels_numbered:
        assert f"{letters[number]} Stadtteil mit langem Namen {int(number) - 1}" in key
    assert plots.box_letter(25) == "Z" and plots.box_letter(26) == "AA"


def test_tiny_districts_numbers_nudged_apart():
    """A cluster of tiny districts (blocks of an old town) inside a large one: their numbers
    cannot sit inside them and must be moved apart (leader lines), never on top of each other."""
    from shapely.ops import unary_union

    tiny = [box(2400 + x * 45, 2400 + y * 45, 2440 + x * 45, 2440 + y * 45) for y in range(3) for x in range(4)]
    big = box(0, 0, 5000, 5000).difference(unary_union(tiny))
    gdf = gpd.GeoDataFrame({"district_id": ["1"] + [str(i + 2) for i in range(len(tiny))],
                            "district_name": ["Umland"] + [f"Block {i + 2}" for i in range(len(tiny))]},
                           geometry=[big, *tiny], crs="EPSG:25833")
    fig = plots.choropleth(gdf, pd.Series(1.0, index=gdf["district_id"]), title="t", legend="l")
    labels = _assert_no_overlap(fig)
    assert len(fig.kit_labels_numbered) == len(tiny)
    assert {t.get_text() for t in labels} >= set(fig.kit_labels_letters.values())


def test_map_in_geographic_crs_gets_a_metric_scalebar(demo_inputs):
    districts = demo_inputs["muldenau"].districts.to_crs("EPSG:4326")
    fig = plots.choropleth(districts, pd.Series(1.0, index=districts["district_id"]), title="t", legend="l")
    _check_scalebar(fig)  # drawn in the UTM zone, in metres


def test_point_map_labels_places_and_districts(demo_inputs):
    from kit.profile.view import points_from_lonlat

    inputs = demo_inputs["elbstadt"]
    crs = inputs.districts.crs
    places = points_from_lonlat(inputs["places"], crs)
    places = places.assign(map_label=range(1, len(places) + 1))
    layers = {"Orte des Unwohlseins": (places, plots.RED, "X"),
              "BOS": (points_from_lonlat(inputs["bos"], crs), plots.BLUE, "s")}
    fig = plots.point_map(inputs.districts, layers, title="Orte", attribution="Kartengrundlage: Stadtteilgrenzen")
    labels = _assert_no_overlap(fig)
    texts = {t.get_text() for t in labels}
    place_numbers = {str(i) for i in range(1, len(places) + 1)}
    assert place_numbers <= texts
    # districts in a box carry letters: never the same label as a numbered place (Elbstadt had
    # two different "13" on one map: the district Bahnhofsviertel and a place)
    boxed = {t.get_text() for t in labels if t.get_bbox_patch() is not None}
    assert boxed == set(fig.kit_labels_letters.values())
    assert boxed and all(b.isalpha() for b in boxed) and boxed.isdisjoint(place_numbers)
    _check_scalebar(fig)
    legend = fig.legends[0]
    assert legend.get_window_extent().y1 <= fig.axes[0].get_window_extent().y0 + 1  # legend below the map
    assert "Kartengrundlage" in " ".join(t.get_text() for t in fig.texts)


# ---------------------------------------------------------------------------
# figure helper: number, caption, source, alt text, resolution
# ---------------------------------------------------------------------------


class _Figures(HTMLParser):
    """<figure> elements of a page: img attributes and caption text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.figures: list[dict] = []
        self.images_outside: list[dict] = []
        self._in_figure = self._in_caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure":
            self._in_figure = True
            self.figures.append({"img": None, "caption": ""})
        elif tag == "img":
            if self._in_figure:
                self.figures[-1]["img"] = attrs
            else:
                self.images_outside.append(attrs)
        elif tag == "figcaption" and self._in_figure:
            self._in_caption = True

    def handle_endtag(self, tag):
        if tag == "figure":
            self._in_figure = False
        elif tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.figures[-1]["caption"] += data


def _figures(page: str) -> _Figures:
    parser = _Figures()
    parser.feed(page)
    parser.close()
    return parser


def _dpi(img: dict) -> float:
    data = base64.b64decode(img["src"].split("base64,", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    px = int.from_bytes(data[16:20], "big")
    inches = float(img["width"]) / plots.CSS_PX_PER_INCH  # the <img> width in CSS px (1/96 inch)
    return px / inches


GERMAN_ALT = re.compile(r"^(Balkendiagramm|Punktdiagramm|Gestapeltes Balkendiagramm|Bevölkerungspyramide|Karte|Liniendiagramm|"
                        r"Diagramm)\b")


def _check_figures(page: str, min_figures: int):
    assert "No description has been provided" not in page
    parsed = _figures(page)
    assert not [i for i in parsed.images_outside if i.get("src", "").startswith("data:image")], \
        "image outside a <figure> (no number, source or alt text)"
    figs = parsed.figures
    assert len(figs) >= min_figures
    numbers = []
    for fig in figs:
        caption = " ".join(fig["caption"].split())
        m = re.match(r"Abbildung (\d+): \S", caption)
        assert m, caption
        numbers.append(int(m.group(1)))
        assert re.search(r"Quelle: \S.{10,}", caption), caption
        alt = fig["img"].get("alt", "")
        assert GERMAN_ALT.match(alt) and len(alt) > 30, alt
        assert _dpi(fig["img"]) >= MIN_DPI
    assert numbers == list(range(1, len(figs) + 1))  # numbered per report, from 1
    return figs


def test_show_figure_numbers_and_resets(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *objs, **_k: shown.extend(objs))
    plots.reset_figure_numbers()
    for _ in range(2):
        plots.show_figure(plots.population_trend(_muldenau_like_totals()),
                          source="Melderegister Muldenau, Stand jeweils 31.12.")
    page = "".join(h.data for h in shown)
    figs = _check_figures(page, 2)
    assert "Abbildung 2: Einwohner 2019 bis 2024" in " ".join(figs[1]["caption"].split())
    assert figs[0]["img"]["alt"] == "Balkendiagramm: Einwohner 2019 bis 2024, von 8.121 auf 7.904 gesunken"
    plots.reset_figure_numbers()
    shown.clear()
    assert plots.show_figure(plots.population_trend(_muldenau_like_totals()), source="x") == 1
    # a figure without its own description still gets a German alt text, never the English default
    fig, _ax = plt.subplots()
    html_text = plots.figure_html(fig, number=7, source="Test", title="Leeres Diagramm")
    assert 'alt="Abbildung 7: Leeres Diagramm"' in html_text


def test_setup_notebook_resets_numbering(tmp_path):
    from kit.report import setup_notebook

    plots._numbering["next"] = 9
    setup_notebook(tmp_path, "x", "profile")
    assert plots._numbering["next"] == 1


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory):
    """Muldenau run through the pipeline (papermill + nbconvert), as the reports are made."""
    from kit.runner import run_commune

    root = tmp_path_factory.mktemp("figure_reports")
    params = make_inputs(root, ["muldenau"])[0]  # demo data and a params copy under root
    status = run_commune(params, root / "output", force=True, log=lambda *_: None)
    assert status.ok, [(s.stage, s.status, s.message) for s in status.stages]
    return root / "output" / "muldenau"


@pytest.mark.parametrize("report, min_figures", [("1_profile.html", 5), ("2_survey.html", 10)])
def test_demo_report_figures_numbered_sourced_described(demo_reports, report, min_figures):
    page = Path(demo_reports / report).read_text(encoding="utf-8")
    figs = _check_figures(page, min_figures)
    if report == "1_profile.html":
        captions = [" ".join(f["caption"].split()) for f in figs]
        alts = [f["img"]["alt"] for f in figs]
        assert any("Melderegister Muldenau" in c for c in captions)
        assert any("Kartengrundlage: Stadtteilgrenzen Muldenau" in c for c in captions)
        assert any(a.startswith("Balkendiagramm: Einwohner 2019 bis 2024, von ") for a in alts)
        assert any(a.startswith("Bevölkerungspyramide") for a in alts)
        assert sum(a.startswith("Karte") for a in alts) >= 2
