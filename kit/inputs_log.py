"""What the readers assumed and repaired, one record per input file (issue 13).

Every reader notes here how it read a file: format, encoding, separator, decimal and
thousands marks (and where that convention came from), header row, sheet, layer, CRS,
and each repair it made, as a code with a count and a short detail (a column name, a
row number). Nothing is repaired without a record, so an analyst can see what the kit
assumed (German wording: :mod:`kit.inputs_view`, section "Datengrundlage und Prüfungen").

The log also keeps the *findings* of the plausibility rules (data_schemas/*.yaml): values a
named exception explains (e.g. clearance above 100 %), gaps between district polygons,
districts of one file missing in the other under ``profile.unmatched_districts: report`` —
reported, not refused. :func:`record_findings` (kit.profile.inputs) adds them, one row each
(input, file, row, column, value, rule, meaning) in ``results/input_findings_<stage>.csv``.

The records of one stage are collected in a log: :func:`begin` (called by
:func:`kit.stage.open_stage`) starts it, :func:`collecting` opens a nested one (its
records also go to the enclosing log), :func:`write_input_checks` writes the log to
``results/input_checks_<stage>.csv`` (and the findings, when the stage checked any). Without a
log, notes are dropped (the readers work the same). Numbers and codes only: no German
sentences in this module (``meaning`` is the checker's German text, passed through).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

# Repair codes (German text: kit.inputs_view.REPAIR_TEXTS).
REPAIR_CODES = (
    "bom_removed",            # a byte-order mark at the start of a text file was dropped
    "excel_content",          # an Excel workbook with another file name (e.g. .csv) read as Excel
    "text_content",           # a text table named .xlsx/.xls read as text (CSV)
    "header_below_notes",     # the header row was found below lines of notes (detail: file row)
    "header_spelling",        # a column name matched in another spelling (detail: file name=kit name)
    "numbering_column",       # a leading numbering column (1, 2, 3 ...) was dropped (detail: its header)
    "empty_columns",          # columns without header and without values were dropped
    "short_lines",            # lines with fewer fields than the header; the missing fields may be empty
    "whitespace_trimmed",     # spaces around cell values removed (e.g. padded ids; detail: a column)
    "thousands_separator",    # numbers with thousands separators read (detail: a column)
    "decimal_comma",          # numbers with a decimal comma read (detail: a column)
    "numbering_line",         # a line "1;2;3;..." below the header skipped (BKA table)
    "transliterated_header",  # header texts matched with ae/oe/ue/ss for umlauts (BKA table)
    "labels_to_codes",        # survey answers given as texts mapped to their codes
    "bracket_headings",       # LimeSurvey headings Q05[SQ001] matched to item Q05_SQ001
    "system_columns_ignored",  # LimeSurvey system columns (submitdate, token ...) not read as answers
    "absent_optional_items",  # optional codebook items without a column, taken as unanswered
)

RESULT_NAME = "input_checks"  # results/input_checks_<stage>.csv
FINDINGS_NAME = "input_findings"  # results/input_findings_<stage>.csv
# one row per finding: the input (params name), file (name), file row (header = 1; empty for a whole
# file or polygon gap), column as the file names it, value, rule (kit.schemas.Finding.rule or
# district_ids / covers_districts), meaning (German: what it means and what to do)
FINDING_COLUMNS = ["input", "file", "row", "column", "value", "rule", "meaning"]
COLUMNS = ["input", "file", "format", "encoding", "separator", "decimal", "thousands", "numbers",
           "header_row", "sheet", "sheets", "layer", "crs", "repairs", "repair_details"]
# separator, decimal and thousands marks are written as names in the results (a ';' cell in a CSV is easily misread)
MARK_NAMES = {";": "semicolon", ",": "comma", "\t": "tab", "|": "pipe", ".": "point", " ": "space",
              "'": "apostrophe", "": "none"}


@dataclass
class Repair:
    code: str
    count: int = 0
    detail: str = ""  # first detail given (a column, a row), machine-readable


@dataclass
class InputRecord:
    """How one input file was read. Empty strings / None: not applicable or not known."""

    file: str
    input: str = ""      # what the file is: residents, pks, survey_responses, codebook, settings ...
    format: str = ""     # csv, xlsx, xls, sav, yaml, geojson, gpkg, shp, bka_csv, bka_xlsx
    encoding: str = ""   # utf-8, utf-8-sig (with BOM), cp1252, utf-16-le, utf-16-be, latin-1, xlsx ...
    separator: str = ""  # the field separator of a text table
    decimal: str = ""    # decimal mark of numbers written as text
    thousands: str = ""  # thousands separator of numbers written as text ("" = none)
    numbers: str = ""    # where decimal/thousands come from: params | separator | form | cells | file_format
    header_row: int | None = None  # file row (1-based) of the header
    sheet: str = ""      # worksheet read
    sheets: list[str] = field(default_factory=list)  # all worksheets of the workbook
    layer: str = ""      # layer of a GeoPackage
    crs: str = ""        # coordinate reference system stated in the file
    repairs: dict[str, Repair] = field(default_factory=dict)

    def add_repair(self, code: str, count: int = 1, detail: object = "") -> None:
        if count <= 0:
            return
        rep = self.repairs.setdefault(code, Repair(code))
        rep.count += int(count)
        if not rep.detail and detail not in (None, ""):
            rep.detail = _clean(detail)

    def row(self) -> dict:
        return {
            "input": self.input, "file": Path(self.file).name, "format": self.format, "encoding": self.encoding,
            "separator": MARK_NAMES.get(self.separator, self.separator) if self.separator else "",
            "decimal": MARK_NAMES.get(self.decimal, self.decimal) if self.decimal else "",
            "thousands": MARK_NAMES.get(self.thousands, self.thousands) if self.numbers else "",
            "numbers": self.numbers, "header_row": self.header_row, "sheet": self.sheet,
            "sheets": "|".join(self.sheets), "layer": self.layer, "crs": self.crs,
            "repairs": ";".join(f"{r.code}={r.count}" for r in self.repairs.values()),
            "repair_details": ";".join(f"{r.code}={r.detail}" for r in self.repairs.values() if r.detail),
        }


def _clean(detail: object) -> str:
    """A detail for the results file: one line, no list separators, short."""
    text = " ".join(str(detail).split()).replace(";", ",").replace("=", ":")
    return text[:80]


class InputLog:
    """The records of one stage run, in the order the files were first read."""

    def __init__(self) -> None:
        self.records: dict[str, InputRecord] = {}
        self.findings: list[dict] = []  # FINDING_COLUMNS
        self.plausibility_checked = False  # a stage that checked plausibility writes its findings (maybe none)

    def record(self, file: str | Path) -> InputRecord:
        key = str(file)
        if key not in self.records:
            self.records[key] = InputRecord(file=key)
        return self.records[key]

    def merge(self, other: "InputLog") -> None:
        for key, rec in other.records.items():
            self.records[key] = rec
        self.add_findings(other.findings)
        self.plausibility_checked |= other.plausibility_checked

    def add_findings(self, rows: list[dict]) -> None:
        for row in rows:
            if row not in self.findings:  # the same inputs read twice in a stage
                self.findings.append(row)

    def findings_table(self) -> pd.DataFrame:
        """One row per finding, columns :data:`FINDING_COLUMNS`."""
        df = pd.DataFrame(self.findings, columns=FINDING_COLUMNS)
        df["row"] = pd.array(df["row"], dtype="Int64")
        return df

    def table(self) -> pd.DataFrame:
        """One row per input file, columns :data:`COLUMNS`."""
        rows = [rec.row() for rec in self.records.values()]
        df = pd.DataFrame(rows, columns=COLUMNS)
        df["header_row"] = pd.array(df["header_row"], dtype="Int64")
        return df


_current: InputLog | None = None


def begin() -> InputLog:
    """Start a new log for this process (the start of a stage)."""
    global _current
    _current = InputLog()
    return _current


def current() -> InputLog | None:
    return _current


@contextlib.contextmanager
def collecting():
    """A log for the readers called inside the block; on leaving, its records are also
    added to the enclosing log (if any)."""
    global _current
    outer, log = _current, InputLog()
    _current = log
    try:
        yield log
    finally:
        _current = outer
        if outer is not None:
            outer.merge(log)


def note(file: str | Path, **fields) -> InputRecord:
    """The record of ``file`` in the current log (a detached one without log), with the
    given fields set (None values are skipped)."""
    rec = _current.record(file) if _current is not None else InputRecord(file=str(file))
    for name, value in fields.items():
        if value is None:
            continue
        if not hasattr(rec, name) or name in ("file", "repairs"):
            raise TypeError(f"unknown input record field {name!r}")
        setattr(rec, name, value)
    return rec


def repair(file: str | Path, code: str, count: int = 1, detail: object = "") -> None:
    """Note a repair made while reading ``file`` (``code`` one of :data:`REPAIR_CODES`)."""
    if code not in REPAIR_CODES:
        raise ValueError(f"unknown repair code {code!r}")
    note(file).add_repair(code, count, detail)


def note_geometry(file: str | Path, gdf, input: str = "districts") -> InputRecord:
    """Note a geometry file read by kit.io.read_geometry: format, layer, the CRS stated in the
    file (read from its metadata: the GeoDataFrame is reprojected already), encoding."""
    path = Path(file)
    layer = gdf.attrs.get("layer") if gdf is not None else None
    fields = {"input": input, "format": path.suffix.lower().lstrip("."), "layer": "" if layer is None else str(layer)}
    try:
        import pyogrio

        info = pyogrio.read_info(path, layer=layer)
        fields["crs"] = str(info.get("crs") or "")
        fields["encoding"] = str(info.get("encoding") or "")
        if layer is None and len(pyogrio.list_layers(path)) == 1:
            fields["layer"] = str(pyogrio.list_layers(path)[0][0]) if path.suffix.lower() == ".gpkg" else ""
    except Exception:  # noqa: BLE001 - metadata only; the file itself was read by read_geometry
        if gdf is not None and gdf.crs is not None:
            fields["crs"] = gdf.crs.to_string()
    return note(path, **fields)


# kit.yamlio.read_yaml's German name of a settings file -> input code
YAML_INPUTS = {"Parameterdatei": "params", "Maßnahmenkatalog": "catalogue", "Codebuch": "codebook",
               "Ansprechpartner-Datei": "contacts", "Quellenverzeichnis": "sources", "SWOT-Regeln": "swot_rules",
               "Zuordnungsregeln der Präventionsaktivitäten": "matching_rules"}


def note_yaml(file: str | Path, what: str, bom: bool = False) -> InputRecord:
    """Note a YAML settings file (params, catalogue, codebook ...) read by kit.yamlio."""
    rec = note(file, input=YAML_INPUTS.get(what, "settings"), format="yaml", encoding="utf-8-sig" if bom else "utf-8")
    if bom and "bom_removed" not in rec.repairs:
        rec.add_repair("bom_removed", 1, "utf-8-sig")
    return rec


def finding_row(problem, input: str, rule: str = "") -> dict:
    """A finding (a kit.errors.Problem / kit.schemas.Finding reported, not refused) as a row of
    :data:`FINDING_COLUMNS`; ``rule`` when the problem carries none."""
    value = problem.value
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return {"input": input, "file": Path(str(problem.file)).name,
            "row": None if problem.row is None else int(problem.row),
            "column": "" if problem.column is None else str(problem.column),
            "value": "" if value is None else str(value),
            "rule": getattr(problem, "rule", "") or rule, "meaning": " ".join(str(problem.expected).split())}


def record_findings(rows: list[dict]) -> None:
    """Note that plausibility was checked in this stage, with these findings (rows of
    :func:`finding_row`; none: nothing to report)."""
    if _current is None:
        return
    _current.plausibility_checked = True
    _current.add_findings(rows)


def record_of(file: str | Path) -> InputRecord | None:
    """The record of ``file`` in the current log, if any."""
    return _current.records.get(str(file)) if _current is not None else None


def write_input_checks(store, log: InputLog | None = None) -> pd.DataFrame:
    """Write the log (default: the current one) to results/input_checks_<stage>.csv via the
    stage's ResultStore and return the table; a stage that checked plausibility also writes its
    findings to results/input_findings_<stage>.csv (header only when there are none). The
    findings go with the table as ``attrs["findings"]`` (records), for kit.inputs_view."""
    log = log if log is not None else (_current or InputLog())
    table = log.table()
    store.write_table(f"{RESULT_NAME}_{store.stage}" if store.stage else RESULT_NAME, table)
    findings = log.findings_table()
    if log.plausibility_checked or len(findings):
        store.write_table(f"{FINDINGS_NAME}_{store.stage}" if store.stage else FINDINGS_NAME, findings)
    table.attrs["findings"] = log.findings.copy()
    table.attrs["plausibility_checked"] = log.plausibility_checked
    return table
