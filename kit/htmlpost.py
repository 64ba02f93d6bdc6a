"""Accessibility and offline rules for every HTML page the kit writes (BITV 2.0 / WCAG).

One post-processing step, applied to the stage reports (kit.runner.render_html), the
Lagebericht (kit.lagebericht) and the index (kit.runner.write_index):

- German language (``<html lang="de">``) and a document ``<title>``;
- no "¶" anchor links in headings (nbconvert adds them; screen readers announce them), the
  heading ids stay so links to sections keep working;
- a real heading hierarchy: one ``<h1>``, no skipped level (an h4 right after an h2 becomes h3);
- tables: header cells with ``scope="col"``; the first cell of a body row that names the row
  becomes a ``<th scope="row">``; every table gets a ``<caption>`` (when a view gave none: the
  section it stands in);
- images: nbconvert's English default alt text is replaced (by the figure's German caption);
- nothing is loaded from another server: scripts, style sheets, images, frames with an
  http(s) source are removed, as are CSS ``@import``/``url()`` pointing to one.

BeautifulSoup (already a dependency of nbconvert) parses and edits the page; regular
expressions are used only inside CSS text, which it does not parse.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Tag

LANG = "de"
HEADINGS = ["h1", "h2", "h3", "h4", "h5", "h6"]
NBCONVERT_DEFAULT_ALT = "No description has been provided for this image"
EXTERNAL = re.compile(r"^\s*(?:https?:)?//", re.I)
# attributes through which a browser (or WeasyPrint) loads something
LOADING_ATTRS = ("src", "href", "srcset", "data", "poster", "action", "background", "xlink:href", "formaction")
CSS_EXTERNAL_URL = re.compile(r"url\(\s*['\"]?\s*(?:https?:)?//[^)]*\)", re.I)
# An address inside inline script code (e.g. nbconvert's mermaid loader: import("https://cdnjs…")):
# a script that may load from another server is removed whole.
SCRIPT_EXTERNAL = re.compile(r"""["'`]\s*(?:https?:)?//[^"'`\s]+""", re.I)
CSS_EXTERNAL_IMPORT = re.compile(r"@import\s+(?:url\()?\s*['\"]?\s*(?:https?:)?//[^;]*;?", re.I)
NUMBER = re.compile(r"^[\s+\-−±]*[\d.,\s]*\d[\d.,\s]*(?:\s*%|\s*‰)?$")


def soup_of(page: str) -> BeautifulSoup:
    return BeautifulSoup(page, "html.parser")


def accessible(page: str, *, title: str | None = None) -> str:
    """The page with every rule of this module applied (a full HTML document)."""
    soup = soup_of(page)
    apply_rules(soup, title=title)
    return str(soup)


def apply_rules(soup: BeautifulSoup, *, title: str | None = None) -> BeautifulSoup:
    _document_frame(soup, title)
    remove_anchor_links(soup)
    remove_external_resources(soup)
    fix_heading_hierarchy(soup)
    fix_tables(soup)
    fix_images(soup)
    return soup


# ---------------------------------------------------------------------------
# document frame
# ---------------------------------------------------------------------------


def _document_frame(soup: BeautifulSoup, title: str | None) -> None:
    html = soup.find("html")
    if html is None:  # a fragment: wrap it into a document
        body = soup.new_tag("body")
        for node in list(soup.contents):
            body.append(node.extract())
        html = soup.new_tag("html")
        head = soup.new_tag("head")
        html.append(head)
        html.append(body)
        soup.append(html)
    html["lang"] = LANG
    head = soup.find("head")
    if head is None:
        head = soup.new_tag("head")
        html.insert(0, head)
    if head.find("meta", charset=True) is None:
        head.insert(0, soup.new_tag("meta", charset="utf-8"))
    node = head.find("title")
    if title or node is None or not node.get_text(strip=True):
        if node is None:
            node = soup.new_tag("title")
            head.append(node)
        h1 = soup.find("h1")
        node.string = title or (h1.get_text(" ", strip=True).replace("¶", "").strip() if h1 else "Bericht")


def remove_anchor_links(soup: BeautifulSoup) -> None:
    """nbconvert's "¶" permalinks (``<a class="anchor-link">``) go; the heading keeps its id."""
    for a in soup.select("a.anchor-link"):
        a.decompose()
    for h in soup.find_all(HEADINGS):
        for a in h.find_all("a"):
            if a.get_text(strip=True) == "¶":
                a.decompose()
        for text in h.find_all(string=True):
            if "¶" in text:
                text.replace_with(text.replace("¶", ""))


def remove_external_resources(soup: BeautifulSoup) -> None:
    """Nothing that loads from another server stays: the element (script, style sheet link,
    image, frame …) is removed; a plain link (<a href>) to another server loses its href and
    keeps its text, so a source can still be named without the document requesting anything."""
    for tag in soup.find_all(True):
        if tag.decomposed:  # removed with an ancestor
            continue
        for attr in LOADING_ATTRS:
            value = tag.get(attr)
            if isinstance(value, str) and (EXTERNAL.match(value) or _srcset_external(attr, value)):
                if tag.name == "a":
                    del tag[attr]
                else:
                    tag.decompose()
                break
    for script in soup.find_all("script"):
        if not script.decomposed and SCRIPT_EXTERNAL.search(script.get_text()):
            script.decompose()
    for style in soup.find_all("style"):
        css = style.string or style.get_text()
        cleaned = CSS_EXTERNAL_URL.sub("none", CSS_EXTERNAL_IMPORT.sub("", css))
        if cleaned != css:
            style.string = cleaned
    for tag in soup.find_all(style=True):
        css = tag["style"]
        cleaned = CSS_EXTERNAL_URL.sub("none", css)
        if cleaned != css:
            tag["style"] = cleaned


def _srcset_external(attr: str, value: str) -> bool:
    return attr == "srcset" and any(EXTERNAL.match(part) for part in value.split(","))


# ---------------------------------------------------------------------------
# headings
# ---------------------------------------------------------------------------


def fix_heading_hierarchy(soup: BeautifulSoup) -> None:
    """One h1 (the first heading), every later heading at most one level below the one before
    it: an h4 after an h2 becomes an h3, a second h1 becomes an h2."""
    previous = 0
    for h in soup.find_all(HEADINGS):
        level = int(h.name[1])
        if previous == 0:
            new = 1
        else:
            new = min(max(level, 2), previous + 1)
        h.name = f"h{new}"
        previous = new


# ---------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------


def fix_tables(soup: BeautifulSoup) -> None:
    for table in soup.find_all("table"):
        _header_scopes(soup, table)
        _row_headers(soup, table)
        if table.find("caption") is None:
            cap = soup.new_tag("caption")
            cap.string = fallback_caption(table)
            table.insert(0, cap)


def _rows(table: Tag) -> list[Tag]:
    return [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]


def _header_rows(table: Tag) -> list[Tag]:
    thead = table.find("thead")
    if thead is not None and thead.find_parent("table") is table:
        return [tr for tr in thead.find_all("tr")]
    rows = _rows(table)
    return [rows[0]] if rows and all(c.name == "th" for c in rows[0].find_all(["td", "th"], recursive=False)) else []


def _header_scopes(soup: BeautifulSoup, table: Tag) -> None:
    for tr in _header_rows(table):
        for cell in tr.find_all(["td", "th"], recursive=False):
            cell.name = "th"
            cell["scope"] = "colgroup" if int(cell.get("colspan", 1) or 1) > 1 else "col"


def _row_headers(soup: BeautifulSoup, table: Tag) -> None:
    """The first cell of each body row becomes its row header when the first column names the
    rows: text, not numbers (a 'num' cell or a number), in a table of at least two columns."""
    heads = set(map(id, _header_rows(table)))
    body = [tr for tr in _rows(table) if id(tr) not in heads]
    firsts = []
    for tr in body:
        cells = tr.find_all(["td", "th"], recursive=False)
        if len(cells) < 2:
            return
        firsts.append(cells[0])
    if not firsts:
        return
    if not all(c.name == "th" for c in firsts):
        numeric = [c for c in firsts if "num" in (c.get("class") or []) or NUMBER.match(c.get_text(" ", strip=True) or "0")]
        if len(numeric) > len(firsts) / 2:
            return
    for cell in firsts:
        cell.name = "th"
        cell["scope"] = "rowgroup" if int(cell.get("rowspan", 1) or 1) > 1 else "row"


def fallback_caption(table: Tag) -> str:
    """A caption for a table that a view left without one: the section it stands in."""
    heading = table.find_previous(HEADINGS)
    if heading is not None:
        text = " ".join(heading.get_text(" ", strip=True).replace("¶", "").split())
        if text:
            return f"Tabelle zum Abschnitt „{text}“"
    return "Tabelle"


# ---------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------


def fix_images(soup: BeautifulSoup) -> None:
    """No image without a German alt text: nbconvert's English default (or a missing alt) is
    replaced by the figure's caption where it has one."""
    for img in soup.find_all("img"):
        alt = (img.get("alt") or "").strip()
        if alt and alt != NBCONVERT_DEFAULT_ALT:
            continue
        figure = img.find_parent("figure")
        caption = figure.find("figcaption") if figure is not None else None
        text = " ".join(caption.get_text(" ", strip=True).split()) if caption is not None else ""
        img["alt"] = text or "Abbildung ohne Beschreibung"


# ---------------------------------------------------------------------------
# checks (used by the tests and by anyone who wants to verify a page)
# ---------------------------------------------------------------------------


def problems(page: str) -> list[str]:
    """Every rule this module enforces that the page breaks, in German (empty: none)."""
    soup = soup_of(page)
    found: list[str] = []
    html = soup.find("html")
    if html is None or html.get("lang") != LANG:
        found.append('Sprache nicht als lang="de" angegeben')
    title = soup.find("title")
    if title is None or not title.get_text(strip=True):
        found.append("kein Dokumenttitel")
    if "¶" in soup.get_text() or soup.select("a.anchor-link"):
        found.append("Ankerlink „¶“ vorhanden")
    levels = [int(h.name[1]) for h in soup.find_all(HEADINGS)]
    if levels.count(1) != 1 or (levels and levels[0] != 1):
        found.append(f"nicht genau eine Hauptüberschrift zu Beginn ({levels.count(1)} × h1)")
    for a, b in zip(levels, levels[1:]):
        if b > a + 1:
            found.append(f"Überschriftenebene übersprungen (h{a} → h{b})")
            break
    for i, table in enumerate(soup.find_all("table"), 1):
        cap = table.find("caption")
        if cap is None or not cap.get_text(strip=True):
            found.append(f"Tabelle {i} ohne Beschriftung (caption)")
        for th in table.find_all("th"):
            if th.get("scope") not in ("col", "row", "colgroup", "rowgroup"):
                found.append(f"Tabelle {i}: Kopfzelle „{th.get_text(' ', strip=True)[:30]}“ ohne scope")
                break
    for img in soup.find_all("img"):
        alt = (img.get("alt") or "").strip()
        if not alt or alt == NBCONVERT_DEFAULT_ALT:
            found.append("Bild ohne deutschen Alternativtext")
            break
    found += [f"externe Ressource: {u}" for u in external_references(page)]
    return found


def external_references(page: str) -> list[str]:
    """Every http(s) (or protocol-relative) address the page would load or link: in a loading
    attribute of any element, in CSS url() or @import. Text that merely mentions an address
    (e.g. a source named in the appendix) is not a reference."""
    soup = soup_of(page)
    found = []
    for tag in soup.find_all(True):
        for attr in LOADING_ATTRS:
            value = tag.get(attr)
            if isinstance(value, str) and (EXTERNAL.match(value) or _srcset_external(attr, value)):
                found.append(f"<{tag.name} {attr}={value[:80]}>")
    for script in soup.find_all("script"):
        found += [f"<script> {m.group(0).strip(chr(34) + chr(39) + '`')[:80]}" for m in SCRIPT_EXTERNAL.finditer(script.get_text())]
    css = " ".join(s.get_text() for s in soup.find_all("style"))
    css += " ".join(t["style"] for t in soup.find_all(style=True))
    found += [m.group(0)[:80] for m in CSS_EXTERNAL_URL.finditer(css)]
    found += [m.group(0)[:80] for m in CSS_EXTERNAL_IMPORT.finditer(css)]
    return found


__all__ = ["accessible", "apply_rules", "problems", "external_references", "soup_of"]
