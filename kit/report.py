"""Presentation helpers for the stage notebooks: German number formats,
HTML tables, narrative snippets and provenance. Nothing here computes
statistics; it only formats what the compute modules returned."""

from __future__ import annotations

import datetime as _dt
import html
import logging
import os
import math
import warnings
from pathlib import Path

import pandas as pd

from kit import __version__

DASH = "–"  # shown for values that do not exist or are suppressed


def _is_missing(x) -> bool:
    try:
        return x is None or pd.isna(x)
    except (TypeError, ValueError):
        return False


def fmt_num(x, decimals: int = 0) -> str:
    """1234.5 -> '1.234,5' (German grouping and decimal comma)."""
    if _is_missing(x) or (isinstance(x, float) and math.isinf(x)):
        return DASH
    text = f"{float(x):,.{decimals}f}"
    return text.replace(",", "\u0001").replace(".", ",").replace("\u0001", ".")


def fmt_int(x) -> str:
    return fmt_num(x, 0)


def fmt_count(n, singular: str, plural: str) -> str:
    """A count with its noun in singular or plural: (1, 'Stadtteil', 'Stadtteile') -> '1 Stadtteil',
    (1234, …) -> '1.234 Stadtteile'."""
    return f"{fmt_int(n)} {singular if int(n) == 1 else plural}"


def fmt_districts(n, dative: bool = False) -> str:
    """'1 Stadtteil', '3 Stadtteile'; dative (nach „in“, „von“): '1 Stadtteil', '3 Stadtteilen'."""
    return fmt_count(n, "Stadtteil", "Stadtteilen" if dative else "Stadtteile")


MINUS, PLUS_MINUS = "\u2212", "\u00b1"  # typographic minus (not the hyphen) and "±" for no change


def fmt_signed(x, decimals: int = 0, percent: bool = False) -> str:
    """A change with its sign, German format: 85 -> '+85', -65 -> '−65', 0.027 with
    percent=True -> '+2,7 %' (x is then a share); '±0' when it rounds to zero."""
    if _is_missing(x) or (isinstance(x, float) and math.isinf(x)):
        return DASH
    v = 100 * float(x) if percent else float(x)
    text = fmt_num(abs(v), decimals)
    zero = float(f"{abs(v):.{decimals}f}") == 0
    sign = PLUS_MINUS if zero else ("+" if v > 0 else MINUS)
    return f"{sign}{text}" + ("\u00a0%" if percent else "")


def fmt_pct(share, decimals: int = 1) -> str:
    """A share 0..1 as '12,3 %'."""
    if _is_missing(share):
        return DASH
    return f"{fmt_num(100 * float(share), decimals)}\u00a0%"


def fmt_interval(lower, upper, decimals: int = 1, percent: bool = False) -> str:
    if _is_missing(lower) or _is_missing(upper):
        return DASH
    f = (lambda v: fmt_num(100 * float(v), decimals)) if percent else (lambda v: fmt_num(v, decimals))
    unit = "\u00a0%" if percent else ""
    return f"{f(lower)}{DASH}{f(upper)}{unit}"


def html_table(df: pd.DataFrame, columns: dict[str, tuple[str, object]] | None = None,
               caption: str | None = None) -> str:
    """Render a table with German headers. `columns` maps a column to
    (header, formatter); a formatter is a callable or an int (decimals)."""
    columns = columns or {c: (c, None) for c in df.columns}
    caption = caption or df.attrs.get("caption")  # a table may carry its own (e.g. provenance_table)
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _ in columns.values())
    rows = []
    for _, row in df.iterrows():
        cells = []
        for col, (_, fmt) in columns.items():
            value = row[col]
            if callable(fmt):
                text = fmt(value)
            elif isinstance(fmt, int):
                text = fmt_num(value, fmt)
            else:
                text = DASH if _is_missing(value) else str(value)
            align = ' class="num"' if (isinstance(fmt, int) or fmt in (fmt_int, fmt_pct)) else ""
            cells.append(f"<td{align}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="kit-table">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


TABLE_CSS = """<style>
.kit-table {border-collapse: collapse; margin: 0.5em 0 1.2em 0; font-size: 0.92em;}
.kit-table caption {text-align: left; font-weight: 600; padding-bottom: 0.3em;}
.kit-table th {background: #e8eef4; text-align: left; padding: 4px 8px; border-bottom: 2px solid #6a8caf;}
.kit-table td {padding: 3px 8px; border-bottom: 1px solid #dde3ea;}
.kit-table td.num {text-align: right; font-variant-numeric: tabular-nums;}
.kit-note {background: #fff8e5; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; margin: 0.6em 0;}
</style>"""


def show_html(markup: str) -> None:
    from IPython.display import HTML, display

    display(HTML(markup))


def show_table(df: pd.DataFrame, columns=None, caption=None) -> None:
    show_html(html_table(df, columns, caption))


def show_md(text: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_note(text: str) -> None:
    show_html(f'<div class="kit-note">{html.escape(text)}</div>')


def setup_notebook(output_dir: str | Path, commune_id: str, stage: str) -> None:
    """Prepare a stage notebook: table styles, matplotlib defaults, and
    warnings routed to a log file instead of the report."""
    import matplotlib

    if not _in_ipython():  # plain Python (scripts, tests): no display; kernels keep the inline backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "axes.spines.top": False,
                         "axes.spines.right": False, "font.size": 10})
    from kit.figures import reset_figure_numbers

    reset_figure_numbers()  # "Abbildung 1" is the first figure of each report
    log_dir = Path(output_dir) / commune_id / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logging.captureWarnings(True)
    logger = logging.getLogger("py.warnings")
    logger.handlers[:] = [logging.FileHandler(log_dir / f"{stage}.warnings.log", encoding="utf-8")]
    logger.propagate = False
    warnings.simplefilter("default")
    show_html(TABLE_CSS)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def interactive_session() -> bool:
    """A person at JupyterLab, not a batch run (the runner sets KIT_BATCH for its kernels)."""
    if os.environ.get("KIT_BATCH"):
        return False
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "ZMQInteractiveShell" in type(ip).__name__
    except ImportError:
        return False


def provenance_table(params: dict, hashes: dict[str, str]) -> pd.DataFrame:
    rows = [("Kit-Version", __version__),
            ("Erstellt am", _dt.date.today().strftime("%d.%m.%Y")),
            ("Parameterdatei", Path(params["params_file"]).name)]
    for path, digest in sorted(hashes.items()):
        rows.append((f"Eingabe {Path(path).name}", f"SHA-256 {digest[:16]}…"))
    table = pd.DataFrame(rows, columns=["Angabe", "Wert"])
    table.attrs["caption"] = "Herkunft der Angaben: Kit-Version, Datum, Parameterdatei und Prüfsummen der Eingabedateien"
    return table


COUNT_UNITS = ("Anzahl", "Personen", "Fälle")


def fmt_indicator(value, unit: str = "") -> str:
    """A key-indicator value in German with its unit: shares as percent, counts
    without decimals, yes/no flags as words."""
    unit = unit if isinstance(unit, str) else ""
    if _is_missing(value):
        return DASH
    if unit == "Anteil":
        return fmt_pct(value)
    if unit == "ja/nein":
        return "ja" if float(value) >= 0.5 else "nein"
    if unit in COUNT_UNITS:
        return fmt_num(value, 0) + ("" if unit == "Anzahl" else f" {unit}")
    return f"{fmt_num(value, 1)} {unit}".strip()
