"""Interactive map of the area profile (districts, places of discomfort, BOS,
prevention activities) for JupyterLab that works with no network.

Why folium with inlined, vendored assets (issue 8, item 7):

- folium is already a dependency; its FeatureGroups, LayerControl, popups and
  tooltips give switchable layers and German popups. What made it need the
  network were only the links folium puts in the page (Leaflet, jQuery,
  Bootstrap, Font Awesome, awesome-markers from CDNs) and a tile layer.
  :class:`OfflineMap` renders Leaflet 1.9.4 and jQuery 3.7.1 *inline* from
  copies taken unchanged from the npm registry (``kit/profile/assets/``, with
  their BSD-2 / MIT licence files; about 250 kB per map) and draws the districts
  as polygons on a white background, with no tile layer. A link it cannot
  inline makes it refuse to render (no silent download).
- plotly was not chosen: a further large dependency, and its geo subplots fetch
  base-map topojson from cdn.plot.ly, its tile maps need style and glyph servers.
- ipyleaflet was not chosen: a widget whose JavaScript comes from the JupyterLab
  extension, while a saved HTML page or an exported notebook load it from a CDN;
  its default basemap comes from a tile server.

The map is a view: German text (popups, layer names, source line) is formatted by
the caller (:func:`kit.profile.view.interactive_map`) or here.
"""

from __future__ import annotations

import base64
import html as _html
import re
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import folium
from branca.element import CssLink, Element, JavascriptLink, MacroElement
from folium.template import Template

from kit.errors import KitError

ASSETS = Path(__file__).with_name("assets")
LEAFLET_VERSION = "1.9.4"
JQUERY_VERSION = "3.7.1"
MAP_CRS = "EPSG:4326"  # Leaflet draws longitude/latitude
GREY = "#9aa5b1"

_SOURCE_MAP = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_CSS_IMAGE = re.compile(r"url\((images/[\w.-]+\.png)\)")
_CSS_VML = re.compile(r"^.*behavior:\s*url\(#default#VML\);.*$", re.MULTILINE)  # Internet Explorer 8 only


@lru_cache(maxsize=None)
def _script(relative: str) -> str:
    """A vendored script without its source-map comment (the map file is not shipped)."""
    text = (ASSETS / relative).read_text(encoding="utf-8")
    return _SOURCE_MAP.sub("", text)


@lru_cache(maxsize=None)
def _leaflet_css() -> str:
    """leaflet.css with its images as data: URIs (no file or server needed)."""
    folder = ASSETS / "leaflet"

    def data_uri(match: re.Match) -> str:
        data = base64.b64encode((folder / match.group(1)).read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = (folder / "leaflet.css").read_text(encoding="utf-8")
    return _CSS_VML.sub("", _CSS_IMAGE.sub(data_uri, css))


# Page style of the kit's map: white background instead of (missing) tiles, small labels.
MAP_CSS = """
.leaflet-container {background: #ffffff; font-family: system-ui, "Segoe UI", Arial, sans-serif;}
.leaflet-tooltip.kit-label {background: rgba(255,255,255,0.85); border: none; box-shadow: none;
  color: #222; font-size: 11px; font-weight: 600; padding: 0 3px;}
.leaflet-control-layers-overlays label {font-size: 12px;}
.kit-swatch {display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin: 0 4px 0 2px;
  border: 1px solid #fff; box-shadow: 0 0 0 1px #999;}
"""

# Header elements that replace folium's CDN links, by folium's link names.
INLINE_JS = {"leaflet": lambda: _script("leaflet/leaflet.js"), "jquery": lambda: _script("jquery/jquery.min.js")}
INLINE_CSS = {"leaflet_css": _leaflet_css}
# Links folium adds by default that the kit's map does not use (markers are circles, no icons).
NOT_NEEDED = {"bootstrap", "awesome_markers", "bootstrap_css", "glyphicons_css", "awesome_markers_font_css",
              "awesome_markers_css", "awesome_rotate_css"}


class _Inline(Element):
    """Verbatim markup in the page (not parsed as a template: minified code may hold ``{{``)."""

    _template = Template("{{ this.body }}")

    def __init__(self, body: str):
        super().__init__()
        self.body = body


class OfflineMap(folium.Map):
    """folium.Map whose page loads nothing from the network: Leaflet and jQuery
    are inlined, no tile layer. Rendering refuses any other external script or
    stylesheet (an element that would need one raises a KitError)."""

    def __init__(self, *args, **kwargs):
        kwargs["tiles"] = None
        super().__init__(*args, **kwargs)

    def render(self, **kwargs):
        figure = self.get_root()
        super().render(**kwargs)  # children add their links to figure.header here
        header = figure.header
        inline = [("kit_leaflet_css", _Inline(f"<style>{_leaflet_css()}</style>")),
                  ("kit_leaflet", _Inline(f"<script>{INLINE_JS['leaflet']()}</script>")),
                  ("kit_jquery", _Inline(f"<script>{INLINE_JS['jquery']()}</script>")),
                  ("kit_map_css", _Inline(f"<style>{MAP_CSS}</style>"))]
        rest = []
        for name, child in header._children.items():
            if isinstance(child, (JavascriptLink, CssLink)):
                if name in INLINE_JS or name in INLINE_CSS or name in NOT_NEEDED:
                    continue
                raise KitError(f"Die interaktive Karte bräuchte eine Datei aus dem Netz ({child.url}); "
                               "sie soll ohne Netzverbindung funktionieren. Bitte das Kartenelement entfernen "
                               "oder die Datei unter kit/profile/assets/ ablegen.")
            if not name.startswith("kit_"):
                rest.append((name, child))
        for _name, child in inline:
            child._parent = header
        header._children = OrderedDict(inline + rest)

    def _repr_html_(self, **kwargs) -> str:
        """The map in a notebook: the page in an iframe (srcdoc), German hint while it loads."""
        page = _html.escape(self.get_root().render(**kwargs))
        return ('<div style="width:100%;"><div style="position:relative;width:100%;height:0;padding-bottom:60%;">'
                '<span style="color:#565656">Die Karte wird geladen. Erscheint sie nicht, das Notebook als '
                'vertrauenswürdig markieren (Befehl „Trust Notebook“).</span>'
                f'<iframe srcdoc="{page}" style="position:absolute;width:100%;height:100%;left:0;top:0;'
                'border:none !important;" allowfullscreen></iframe></div></div>')


class _MapSetup(MacroElement):
    """Metric scale bar and the source line in the attribution corner (instead of
    Leaflet's own link)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});
            {{ this._parent.get_name() }}.attributionControl.setPrefix(false);
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.source|tojson }});
        {% endmacro %}
    """)

    def __init__(self, source: str):
        super().__init__()
        self._name = "MapSetup"
        self.source = _html.escape(source)


def _safe(fragment: str) -> str:
    """Popup HTML goes into a JavaScript template string in folium's page: no ${…}."""
    return str(fragment).replace("$", "&#36;")


def swatch_label(name: str, color: str) -> str:
    """Layer-control entry with a colour dot (the control doubles as the legend)."""
    return f'<span class="kit-swatch" style="background:{_html.escape(color)}"></span>{_html.escape(name)}'


def district_map(districts, district_popups: dict[str, str] | None = None,
                 layers: dict[str, tuple[object, str]] | None = None, *, source: str = "",
                 district_layer: str = "Stadtteile") -> OfflineMap:
    """Interactive map without network: districts as polygons (labelled, popup on
    click), one switchable layer of circle markers per entry of ``layers``.

    districts: GeoDataFrame with district_id, district_name (any CRS).
    district_popups: district_id -> popup HTML (German, escaped by the caller).
    layers: German layer name -> (GeoDataFrame of points with the text columns
    ``popup`` (HTML) and ``tooltip``, colour); empty layers are left out.
    source: German source line shown in the map's corner.
    """
    district_popups = district_popups or {}
    d = districts.to_crs(MAP_CRS)
    bounds = [float(v) for v in d.total_bounds]
    m = OfflineMap(location=[(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], zoom_start=13,
                   control_scale=False)
    m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    _MapSetup(source).add_to(m)
    base = folium.FeatureGroup(name=swatch_label(district_layer, "#e8eef4"), overlay=True, control=True, show=True)
    base.layer_title = district_layer
    style = {"fillColor": "#e8eef4", "color": GREY, "weight": 1.2, "fillOpacity": 0.6}
    highlight = {"fillColor": "#c7d6e5", "weight": 2.0}
    for _, row in d.iterrows():
        name = _html.escape(str(row["district_name"]))
        gj = folium.GeoJson(row.geometry.__geo_interface__, name=name,
                            style_function=lambda _f, s=style: s, highlight_function=lambda _f, h=highlight: h,
                            tooltip=folium.Tooltip(_safe(name), permanent=True, direction="center", sticky=False,
                                                   class_name="kit-label"))
        text = district_popups.get(str(row["district_id"]))
        if text:
            folium.Popup(_safe(text), max_width=320).add_to(gj)
        gj.add_to(base)
    base.add_to(m)
    for title, (points, color) in (layers or {}).items():
        if points is None or not len(points):
            continue
        group = folium.FeatureGroup(name=swatch_label(title, color), overlay=True, control=True, show=True)
        group.layer_title = title
        for _, row in points.to_crs(MAP_CRS).iterrows():
            folium.CircleMarker(location=[float(row.geometry.y), float(row.geometry.x)], radius=7, color="white",
                                weight=1.5, fill=True, fill_color=color, fill_opacity=0.9,
                                popup=folium.Popup(_safe(row["popup"]), max_width=320),
                                tooltip=folium.Tooltip(_safe(row["tooltip"]))).add_to(group)
        group.add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m
