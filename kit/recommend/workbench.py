"""Recommendations workbench for JupyterLab (issue 10, item 9): the measures of stage 3 with
their evidence, and the analyst's choices for this commune (switch a measure off with a
reason, switch it on again, add a measure, reword one) written back to the commune's params
file, so that the next batch run uses them.

Two layers:

- Editing the params file (no widgets, testable as functions): :class:`Choices` holds what
  the analyst decided; :func:`apply_choices` edits the YAML *text* with ruamel.yaml's
  round-trip mode, so comments, key order and quoting stay as they were. Only the top-level
  ``recommendations`` block is re-emitted; every line outside it is copied from the old text
  unchanged. :func:`preview_choices` validates the new text through the typed params model
  (:func:`kit.params.load_params` on a temporary copy, then the catalogue overrides and
  indicator checks of stage 3) and returns the unified diff; :func:`save_choices` does the same,
  then keeps a backup of the old file (``<name>.yaml.bak-<timestamp>`` next to it) and writes
  the new text atomically. Bad choices raise :class:`ChoiceError` (German) before anything is
  written.
- The widget (:class:`Workbench`, ipywidgets): list of measures (recommended, not triggered,
  not decidable, switched off) with the checked rules as sentences (value, interval,
  threshold), forms for switching off, rewording and adding, a "Vorschau" button showing the
  diff and a "Speichern" button that becomes active only after a valid preview.
  :func:`show_workbench` shows it in JupyterLab only; in batch runs (``KIT_BATCH=1``) it shows
  nothing (the notebook cell is tagged ``remove_cell`` as well).

The workbench writes only the params file, never anything under output/; the evidence it
shows comes from the stage-3 result tables (already disclosure-controlled).
"""

from __future__ import annotations

import copy
import datetime as _dt
import difflib
import html
import io
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from kit.errors import ParamsError
from kit.params import DEFAULTS_FILE, Measure, describe_problem, load_params, problems_from_validation
from kit.results import atomic_write_text

SECTION = "recommendations"
# Key order of an added measure as written to the params file (the catalogue's order).
MEASURE_KEY_ORDER = tuple(Measure.model_fields)
# Inner mappings and short lists of an added measure are written in flow style ({…}, […]).
_FLOW_KEYS = {"evidence", "funding", "success_indicator", "general", "target_groups", "places", "partners",
              "prevention_topics"}
_PLAIN = re.compile(r"^[A-Za-z_][\w.\-/]*$")


class ChoiceError(ParamsError):
    """The analyst's choices cannot be written (German message naming the measure and what is
    missing); nothing was written."""


@dataclass
class Choices:
    """What the analyst decided for one commune (ids as in the catalogue or recommendations.add).

    ``switch_off``: id -> reason (required); ``switch_on``: ids switched off earlier that are to
    be recommended again; ``reword``: id -> {"title": …, "description": …} (a key with "" drops
    that part of an earlier rewording); ``add``: full measures (fields as in the catalogue);
    ``remove_added``: ids of measures added earlier that are to be removed."""

    switch_off: dict[str, str] = field(default_factory=dict)
    switch_on: list[str] = field(default_factory=list)
    reword: dict[str, dict[str, str]] = field(default_factory=dict)
    add: list[dict] = field(default_factory=list)
    remove_added: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.switch_off or self.switch_on or self.reword or self.add or self.remove_added)


@dataclass
class Preview:
    """A validated edit: the old and new text of the params file and their unified diff."""

    path: Path
    old_text: str
    new_text: str
    diff: str
    changed: bool


@dataclass
class Saved(Preview):
    backup: Path | None = None


# ---------------------------------------------------------------------------
# YAML text editing (ruamel.yaml round trip)
# ---------------------------------------------------------------------------

def _yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap a line
    y.indent(mapping=2, sequence=4, offset=2)  # "  - {id: …}" as in params/defaults.yaml
    return y


def _scalar(value):
    """A string as the kit's YAML reader (PyYAML, YAML 1.1) will read it back: plain when it is
    an identifier-like word that stays a string ("saubere_stadt"), else double-quoted (so
    "ja", "no", "2023" or a text with ':' stay text)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(value, str):
        if _PLAIN.match(value) and yaml.safe_load(value) == value:
            return value
        return DoubleQuotedScalarString(value)
    return value


def _quoted(text: str):
    """Free text (titles, descriptions, reasons): always double-quoted."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    return DoubleQuotedScalarString(text)


# Free-text keys of an added measure: always written double-quoted.
_TEXT_KEYS = {"title", "description", "source", "reason", "text", "duration", "label"}


def _node(value, flow: bool = False, key: str = ""):
    """Plain Python data as ruamel nodes (mappings keep their key order)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _node(v, flow=k in _FLOW_KEYS, key=k)
        if flow:
            out.fa.set_flow_style()
        return out
    if isinstance(value, (list, tuple)):
        out = CommentedSeq([_node(v, flow=True) for v in value])
        if flow:
            out.fa.set_flow_style()
        return out
    if isinstance(value, str):
        return _quoted(value.strip()) if key in _TEXT_KEYS else _scalar(value.strip())
    return value


def _measure_node(measure: dict):
    """An added measure in the catalogue's key order, block style, inner parts in flow style."""
    from ruamel.yaml.comments import CommentedMap

    ordered = {k: measure[k] for k in MEASURE_KEY_ORDER if k in measure}
    ordered.update({k: v for k, v in measure.items() if k not in ordered})
    node = CommentedMap()
    for k, v in ordered.items():
        if k == "triggers":
            node[k] = _node([dict(t) for t in v])  # one flow mapping per trigger
        elif k == "first_steps":
            node[k] = _node(list(v))  # block list: steps are sentences
            for i in range(len(node[k])):
                node[k][i] = _quoted(str(v[i]).strip())
        else:
            node[k] = _node(v, flow=k in _FLOW_KEYS, key=k)
    return node


def _near(name: str, known) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.75)
    return f" (gemeint vielleicht: {', '.join(close)})" if close else ""


def _plain(node):
    """ruamel nodes back to plain Python data."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return str(node) if isinstance(node, str) else node


def measure_problems(measure: dict, label: str) -> list[str]:
    """German problems of one measure to be added (typed model kit.params.Measure): missing
    fields, values not allowed; [] when it is complete."""
    try:
        Measure.model_validate(measure)
    except ValidationError as exc:
        return [f"{label}: {describe_problem(p, p.path or '(Maßnahme)')}"
                for p in problems_from_validation(exc, Measure)]
    return []


def check_choices(choices: Choices, current: dict, catalogue_ids: set[str] | None = None) -> None:
    """Refuse choices that cannot be right, with one German ChoiceError listing every problem:
    a switch-off without a reason, an id that is neither in the catalogue nor added, a measure
    to add with a missing field or an id that exists, a rewording without text.

    ``current``: the commune's present ``recommendations`` block (plain data);
    ``catalogue_ids``: the catalogue's ids (None: ids are checked against the added ones only
    when the catalogue is not known, i.e. not at all for catalogue measures)."""
    problems = []
    added_now = [str(m.get("id", "")) for m in current.get("add") or [] if isinstance(m, dict)]
    removed = set(choices.remove_added)
    for mid in choices.remove_added:
        if mid not in added_now:
            problems.append(f"Hinzugefügte Maßnahme „{mid}“ entfernen: In der Parameterdatei ist keine Maßnahme mit "
                            f"dieser Kennung hinzugefügt{_near(mid, added_now)}.")
    new_ids = []
    taken = set(catalogue_ids or set()) | (set(added_now) - removed)
    for k, m in enumerate(choices.add, 1):
        mid = str(m.get("id") or "")
        label = f"Neue Maßnahme Nr. {k}" + (f" ({mid})" if mid else "")
        problems += measure_problems(m, label)
        if mid and (mid in taken or mid in new_ids):
            problems.append(f"{label}: Die Kennung „{mid}“ gibt es schon; bitte eine andere wählen "
                            "(zum Umformulieren einer vorhandenen Maßnahme „Wortlaut ändern“ verwenden).")
        new_ids.append(mid)
    known = (set(catalogue_ids) | set(added_now) | set(new_ids)) - removed if catalogue_ids is not None else None

    def unknown(mid: str, what: str) -> None:
        if known is not None and mid not in known:
            problems.append(f"{what}: Eine Maßnahme mit der Kennung „{mid}“ gibt es weder im Katalog noch unter den "
                            f"hinzugefügten Maßnahmen{_near(mid, known)}.")

    for mid, reason in choices.switch_off.items():
        what = f"Maßnahme „{mid}“ abschalten"
        unknown(mid, what)
        if not str(reason or "").strip():
            problems.append(f"{what}: Die Begründung fehlt; sie erscheint im Bericht und ist Pflicht "
                            "(z. B. „läuft bereits seit 2023“).")
    off_now = {str(x.get("id")) for x in current.get("switch_off") or [] if isinstance(x, dict)}
    for mid in choices.switch_on:
        if mid in choices.switch_off:
            problems.append(f"Maßnahme „{mid}“ soll zugleich abgeschaltet und wieder eingeschaltet werden.")
        elif mid not in off_now:
            problems.append(f"Maßnahme „{mid}“ wieder einschalten: Sie ist in der Parameterdatei nicht abgeschaltet.")
    for mid, change in choices.reword.items():
        what = f"Wortlaut der Maßnahme „{mid}“ ändern"
        unknown(mid, what)
        change = change or {}
        extra = set(change) - {"title", "description"}
        if extra:
            problems.append(f"{what}: nur Titel (title) und Beschreibung (description) lassen sich ändern, "
                            f"nicht {', '.join(sorted(extra))}.")
        if not any(k in change for k in ("title", "description")):
            problems.append(f"{what}: weder Titel noch Beschreibung angegeben.")
    if problems:
        head = [] if len(problems) == 1 else [f"Die Änderungen lassen sich nicht übernehmen ({len(problems)} Probleme):"]
        raise ChoiceError("\n".join(head + problems))


def _apply_to_block(rec, choices: Choices) -> None:
    """Apply the choices to the ruamel mapping of the ``recommendations`` block (in place)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    def seq(key):
        if rec.get(key) is None:
            rec[key] = CommentedSeq()
        return rec[key]

    def drop(key, ids):
        items = rec.get(key)
        for i in reversed(range(len(items) if ids and items is not None else 0)):
            if str(items[i].get("id")) in set(ids):
                del items[i]

    drop("switch_off", choices.switch_on)
    for mid, reason in choices.switch_off.items():
        reason = " ".join(str(reason).split())
        items = seq("switch_off")
        hit = next((x for x in items if str(x.get("id")) == mid), None)
        if hit is not None:
            hit["reason"] = _quoted(reason)
        else:
            item = CommentedMap([("id", _scalar(mid)), ("reason", _quoted(reason))])
            item.fa.set_flow_style()
            items.append(item)
    drop("add", choices.remove_added)
    for m in choices.add:
        seq("add").append(_measure_node(m))
    for mid, change in choices.reword.items():
        if rec.get("reword") is None:
            rec["reword"] = CommentedMap()
        entry = rec["reword"].get(mid)
        if entry is None:
            entry = CommentedMap()
        for key in ("title", "description"):
            if key not in (change or {}):
                continue
            text = str(change[key] or "").strip()
            if text:
                entry[key] = _quoted(text)
            elif key in entry:
                del entry[key]
        if entry:
            rec["reword"][mid] = entry
        elif mid in rec["reword"]:
            del rec["reword"][mid]
    for key in ("switch_off", "add", "reword"):  # nothing left: the key goes, the defaults apply
        if key in rec and rec[key] is not None and len(rec[key]) == 0:
            del rec[key]


def _dump(y, data) -> str:
    buf = io.StringIO()
    y.dump(data, buf)
    return buf.getvalue()


def _block_lines(data, lines: list[str], key: str) -> tuple[int, int]:
    """Lines [start, end) of the top-level ``key`` and its value: from its line up to the next
    top-level key, without the blank and comment lines just before that key (they introduce
    the next section and stay where they are)."""
    keys = list(data)
    start = data.lc.key(key)[0]
    i = keys.index(key)
    end = data.lc.key(keys[i + 1])[0] if i + 1 < len(keys) else len(lines)
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    return start, end


def apply_choices(params_text: str, choices: Choices, catalogue_ids: set[str] | None = None) -> str:
    """The params file's text with the choices written into its ``recommendations`` block.

    Pure: text in, text out. Comments, key order and quoting are kept (ruamel.yaml round trip);
    every line outside the ``recommendations`` block is copied unchanged, and a file without
    that block gets it appended at the end. Raises ChoiceError (German) for choices that
    cannot be right (:func:`check_choices`); the full validation against the params model is
    :func:`preview_choices`."""
    from ruamel.yaml.comments import CommentedMap

    y = _yaml()
    try:
        data = y.load(params_text)
    except Exception as exc:  # ruamel's own parser errors: the kit's reader names line and column
        raise ChoiceError("Die Parameterdatei ist kein gültiges YAML; bitte zuerst die Datei reparieren "
                          f"({type(exc).__name__}).") from None
    if not isinstance(data, dict):
        raise ChoiceError("Die Parameterdatei enthält auf oberster Ebene keine Zuordnung (Schlüssel: Wert).")
    rec = data.get(SECTION)
    if rec is not None and not isinstance(rec, dict):
        raise ChoiceError("In der Parameterdatei ist „recommendations“ keine Zuordnung (Schlüssel: Wert); "
                          "bitte zuerst die Datei reparieren.")
    check_choices(choices, _plain(rec) if rec is not None else {}, catalogue_ids)
    if choices.is_empty():
        return params_text
    newline = "\r\n" if "\r\n" in params_text else "\n"
    lines = params_text.splitlines(keepends=True)
    if SECTION not in data:
        rec = CommentedMap()
        _apply_to_block(rec, choices)
        if not rec:
            return params_text
        block = _dump(y, CommentedMap([(SECTION, rec)]))
        head = params_text
        if head and not head.endswith(("\n", "\r")):
            head += newline
        if head.strip() and not head.endswith(newline * 2):
            head += newline
        return head + block.replace("\n", newline)
    # only the block is parsed and re-emitted: comments inside it stay in place, every other line
    # is copied as it was (ruamel would re-flow e.g. a flow list spread over several lines)
    start, end = _block_lines(data, lines, SECTION)
    part = y.load("".join(lines[start:end]))
    if part[SECTION] is None:
        part[SECTION] = CommentedMap()
    _apply_to_block(part[SECTION], choices)
    block = _dump(y, part).replace("\n", newline) if part[SECTION] else ""  # empty would read as null
    head, tail = "".join(lines[:start]), "".join(lines[end:])
    if not block and not tail.strip():  # the block was last: no blank lines left at the end
        return head.rstrip("\r\n") + newline if head.strip() else ""
    return head + block + tail


def unified_diff(old: str, new: str, name: str) -> str:
    """The change as a unified diff (difflib), labelled with the file name."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"{name} (bisher)", tofile=f"{name} (neu)", n=2))


# ---------------------------------------------------------------------------
# Validation, backup, atomic write
# ---------------------------------------------------------------------------

def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")  # bytes: keep \r\n as it is


def _catalogue(params: dict) -> list[dict]:
    from kit.recommend.rules import load_catalogue

    return load_catalogue(params[SECTION]["catalogue"])


def validate_text(params_file: Path, new_text: str, choices: Choices, catalogue: list[dict],
                  defaults_file: Path = DEFAULTS_FILE) -> dict:
    """Validate the new text as the next run will: the typed params model (load_params on a
    temporary copy with the same file name), the catalogue overrides and the indicator ids of
    added measures; then check that the file read back carries every choice. Returns the
    params; raises ChoiceError naming the params file (nothing is written)."""
    from kit.recommend import catalogue as cat

    name = params_file.name
    with tempfile.TemporaryDirectory(prefix="kit-workbench-") as tmp:
        probe = Path(tmp) / name
        probe.write_bytes(new_text.encode("utf-8"))
        try:
            params = load_params(probe, defaults_file)
            measures, switched, origin, _ = cat.apply_overrides(catalogue, params[SECTION], f"Parameterdatei {name}")
            added = [m for m in measures if origin.get(m["id"]) == "commune"]
            cat.check_indicators(added, params, f"Parameterdatei {name}, recommendations.add")
        except ParamsError as exc:
            text = str(exc).replace(str(probe), name).replace(tmp, str(params_file.parent))
            raise ChoiceError("Nicht gespeichert – mit diesen Änderungen wäre die Parameterdatei fehlerhaft:\n"
                              + text) from None
    by_id = {m["id"]: m for m in measures}
    lost = []
    for mid, reason in choices.switch_off.items():
        if switched.get(mid) != " ".join(str(reason).split()):
            lost.append(f"Abschalten von „{mid}“")
    lost += [f"Wiedereinschalten von „{mid}“" for mid in choices.switch_on if mid in switched]
    for mid, change in choices.reword.items():
        for key, text in (change or {}).items():
            if str(text or "").strip() and by_id.get(mid, {}).get(key) != str(text).strip():
                lost.append(f"neuer Wortlaut ({key}) von „{mid}“")
    lost += [f"neue Maßnahme „{m.get('id')}“" for m in choices.add if origin.get(m.get("id")) != "commune"]
    lost += [f"Entfernen von „{mid}“" for mid in choices.remove_added if mid in origin and origin[mid] == "commune"]
    if lost:
        raise ChoiceError("Nicht gespeichert: Die geänderte Parameterdatei gibt nicht alle Änderungen wieder ("
                          + ", ".join(lost) + "). Bitte die Datei von Hand prüfen.")
    return params


def preview_choices(params_file: str | Path, choices: Choices, defaults_file: Path = DEFAULTS_FILE) -> Preview:
    """The edited text and its diff, validated (:func:`validate_text`); nothing is written."""
    path = Path(params_file)
    old = _read(path)
    current = load_params(path, defaults_file)
    catalogue = _catalogue(current)
    new = apply_choices(old, choices, {m["id"] for m in catalogue})
    if new != old:
        validate_text(path, new, choices, catalogue, defaults_file)
    return Preview(path, old, new, unified_diff(old, new, path.name), new != old)


def backup_path(path: Path, now: _dt.datetime | None = None) -> Path:
    """``<name>.yaml.bak-<YYYYmmdd-HHMMSS>`` next to the file (a number appended when taken)."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.bak-{stamp}")
    k = 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.bak-{stamp}-{k}")
        k += 1
    return candidate


def save_choices(params_file: str | Path, choices: Choices, defaults_file: Path = DEFAULTS_FILE,
                 expected_old: str | None = None, now: _dt.datetime | None = None) -> Saved:
    """Validate, back up the old file, write the new text atomically; returns the diff and the
    backup's path. ``expected_old``: the text the preview was made from; when the file has
    changed since (edited by hand meanwhile), nothing is written. No change: nothing written."""
    path = Path(params_file)
    preview = preview_choices(path, choices, defaults_file)
    if expected_old is not None and preview.old_text != expected_old:
        raise ChoiceError(f"Nicht gespeichert: Die Parameterdatei {path.name} wurde seit der Vorschau verändert; "
                          "bitte die Vorschau neu erstellen.")
    if not preview.changed:
        return Saved(path, preview.old_text, preview.new_text, "", False, None)
    backup = backup_path(path, now)
    atomic_write_text(backup, preview.old_text)
    if _read(path) != preview.old_text:  # changed while we validated
        raise ChoiceError(f"Nicht gespeichert: Die Parameterdatei {path.name} wurde während des Speicherns "
                          f"verändert; die Sicherung {backup.name} bleibt erhalten.")
    atomic_write_text(path, preview.new_text)
    return Saved(path, preview.old_text, preview.new_text, preview.diff, True, backup)


def suggest_id(title: str, taken: set[str]) -> str:
    """A measure id from a title: lower case, umlauts spelled out, words joined by '_'; a number
    appended when it is taken."""
    text = title.lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(a, b)
    base = "_".join(re.findall(r"[a-z0-9]+", text))[:40].strip("_") or "massnahme"
    mid, k = base, 2
    while mid in taken:
        mid, k = f"{base}_{k}", k + 1
    return mid


def copy_measure(measure: dict, new_id: str) -> dict:
    """A catalogue measure as the starting point of a new one (deep copy with a new id)."""
    out = copy.deepcopy(measure)
    out["id"] = new_id
    return out


# ---------------------------------------------------------------------------
# German text for the workbench (the analyst's view, not the council report)
# ---------------------------------------------------------------------------

# status codes of a measure in the stage-3 result (see :func:`measure_status`)
STATUS_WORDS = {"specific": "empfohlen (Befund)", "general": "empfohlen (allgemein)",
                "not_triggered": "nicht ausgelöst", "undecided": "nicht entscheidbar",
                "switched_off": "abgeschaltet"}
STATUS_ORDER = ("specific", "general", "undecided", "not_triggered", "switched_off")
FIELD_LABELS = {"id": "Kennung", "title": "Titel", "description": "Beschreibung", "topic": "Thema",
                "target_groups": "Zielgruppen", "lead": "Federführung", "partners": "Partner",
                "evidence": "Wirksamkeit", "funding": "Förderung", "cost_class": "Kostenklasse",
                "duration": "Dauer", "first_steps": "Erste Schritte", "time_frame": "Zeitrahmen",
                "success_indicator": "Erfolgsindikator"}


def measure_status(m) -> str:
    """Status code of one row of the measures table."""
    if bool(m.get("switched_off")):
        return "switched_off"
    if bool(m.get("triggered")):
        return "specific"
    if bool(m.get("general")):
        return "general"
    return "not_triggered" if bool(m.get("evaluable")) else "undecided"


def option_label(m) -> str:
    """One entry of the measures list: status, title, and whether this commune added or reworded it."""
    marks = [word for flag, word in ((str(m.get("origin")) == "commune", "hinzugefügt"),
                                     (bool(m.get("reworded")), "umformuliert")) if flag]
    return f"{STATUS_WORDS[measure_status(m)]}: {m['title']}" + (f" ({', '.join(marks)})" if marks else "")


def describe_choices(choices: Choices, titles: dict[str, str]) -> list[str]:
    """The pending choices, one German line each."""
    def name(mid):
        return f"„{titles.get(mid, mid)}“"

    lines = [f"Abschalten: {name(mid)} – Begründung: {reason}" for mid, reason in choices.switch_off.items()]
    lines += [f"Wieder einschalten: {name(mid)}" for mid in choices.switch_on]
    for mid, change in choices.reword.items():
        parts = [("neuer Titel „" + change["title"] + "“") if change.get("title") else "",
                 "neue Beschreibung" if change.get("description") else ""]
        lines.append(f"Wortlaut ändern: {name(mid)} – " + (", ".join(p for p in parts if p) or "zurück zum Katalog"))
    lines += [f"Hinzufügen: „{m.get('title', '')}“ (Kennung {m.get('id', '')})" for m in choices.add]
    lines += [f"Hinzugefügte Maßnahme entfernen: {name(mid)}" for mid in choices.remove_added]
    return lines


def diff_html(diff: str) -> str:
    """A unified diff as HTML (added lines green, removed lines red)."""
    out = []
    for line in diff.splitlines():
        style = ("color:#1a7f37" if line.startswith("+") and not line.startswith("+++") else
                 "color:#b42318" if line.startswith("-") and not line.startswith("---") else "color:#555")
        out.append(f'<span style="{style}">{html.escape(line)}</span>')
    return '<pre style="font-size:0.85em; line-height:1.3">' + "\n".join(out) + "</pre>"


def evidence_html(m, rules) -> str:
    """One measure with its evidence: status, the reason of a switch-off, the evidence level and
    every checked rule (finding, value with interval, threshold, result) as a table."""
    from kit.recommend import view

    status = measure_status(m)
    parts = [f"<h4>{html.escape(str(m['title']))}</h4>",
             f"<p><b>Stand:</b> {html.escape(STATUS_WORDS[status])}. <b>Regeln erfüllt:</b> "
             f"{html.escape(view.decision_text(m))}.</p>"]
    if status == "switched_off":
        parts.append(f"<p><b>Abgeschaltet, Begründung:</b> {html.escape(str(m.get('switch_off_reason') or ''))}</p>")
    parts.append(f"<p>{html.escape(' '.join(str(m['description']).split()))}</p>")
    level = view.evidence_level_text(m.get("evidence_level"))
    source = m.get("evidence_source")
    if level:
        parts.append(f"<p><b>Wirksamkeit:</b> {html.escape(level)}"
                     + (f" (Quelle: {html.escape(source)})" if isinstance(source, str) and source else "") + "</p>")
    own = rules[rules["measure_id"] == m["measure_id"]]
    if own.empty:
        parts.append("<p>Keine Auslöseregel: allgemeine Empfehlung.</p>")
        return "\n".join(parts)
    rows = []
    for _, r in own.iterrows():
        label = r["label"] if isinstance(r["label"], str) and r["label"] else "Befund"
        if bool(r["evaluable"]):
            cells = (label, view.rule_value_text(r), view.rule_condition(r).removeprefix("Schwelle: "),
                     "erfüllt" if bool(r["met"]) else "nicht erfüllt")
        else:
            cells = (label, "–", view.rule_condition(r).removeprefix("Schwelle: "), view.unevaluable_text(r))
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    logic = "eine der Regeln genügt" if (m.get("logic") or "any") == "any" else "alle Regeln müssen erfüllt sein"
    parts.append(f'<table class="kit-table"><caption>Geprüfte Regeln ({logic})</caption><thead><tr><th>Befund</th>'
                 "<th>Wert (95-%-Intervall)</th><th>Schwelle</th><th>Ergebnis</th></tr></thead><tbody>"
                 + "".join(rows) + "</tbody></table>")
    return "\n".join(parts)


# ---------------------------------------------------------------------------
# The widget
# ---------------------------------------------------------------------------

class Workbench:
    """The workbench widget for one commune: ``widget`` is the box to display. Every button's
    handler is a method, so tests can set widget values and call ``button.click()``."""

    def __init__(self, result, params_file: str | Path, catalogue: list[dict],
                 defaults_file: Path = DEFAULTS_FILE, commune_name: str = ""):
        import ipywidgets as w
        from kit.params import COST_CLASSES, EVIDENCE_LEVELS, TARGET_GROUPS, TIME_FRAMES

        self.result, self.params_file, self.defaults_file = result, Path(params_file), defaults_file
        self.catalogue = {m["id"]: m for m in catalogue}
        self.pending = Choices()
        self._previewed: str | None = None
        self._template: dict | None = None
        measures = result.measures.copy()
        measures["_status"] = [measure_status(m) for _, m in measures.iterrows()]
        measures["_order"] = measures["_status"].map({s: i for i, s in enumerate(STATUS_ORDER)})
        self.measures = measures.sort_values(["_order", "title"], kind="stable").reset_index(drop=True)
        self.titles = dict(zip(self.measures["measure_id"], self.measures["title"]))
        layout = w.Layout(width="95%")
        self.select = w.Select(options=[(option_label(m), m["measure_id"]) for _, m in self.measures.iterrows()],
                               rows=14, layout=w.Layout(width="95%"), description="")
        self.evidence = w.HTML()
        self.message = w.HTML()
        # switch off / on
        self.reason = w.Textarea(placeholder="Begründung (Pflicht; erscheint im Bericht)", layout=layout)
        self.switch_off_button = w.Button(description="Abschalten vormerken", icon="ban")
        self.switch_on_button = w.Button(description="Wieder einschalten vormerken", icon="check")
        self.remove_button = w.Button(description="Hinzugefügte entfernen", icon="trash")
        # reword
        self.new_title = w.Text(description="Titel", layout=layout)
        self.new_description = w.Textarea(description="Beschreibung", layout=w.Layout(width="95%", height="8em"))
        self.reword_button = w.Button(description="Wortlaut vormerken", icon="pencil")
        # add
        topics = sorted({str(m.get("topic")) for m in catalogue if m.get("topic")})
        style = {"description_width": "10em"}
        self.form = {
            "id": w.Text(description="Kennung", placeholder="leer: aus dem Titel gebildet", layout=layout, style=style),
            "title": w.Text(description="Titel", layout=layout, style=style),
            "description": w.Textarea(description="Beschreibung", layout=layout, style=style),
            "topic": w.Combobox(description="Thema", options=topics, layout=layout, style=style),
            "target_groups": w.SelectMultiple(description="Zielgruppen", options=list(TARGET_GROUPS), rows=4, style=style),
            "lead": w.Text(description="Federführung", placeholder="z. B. Ordnungsamt", layout=layout, style=style),
            "partners": w.Text(description="Partner", placeholder="durch Kommas getrennt", layout=layout, style=style),
            "evidence_level": w.Dropdown(description="Wirksamkeit", options=list(EVIDENCE_LEVELS),
                                         value="Good Practice (nicht evaluiert)", layout=layout, style=style),
            "evidence_source": w.Text(description="Quelle", placeholder="Grüne Liste, Studie oder Ort der Praxis",
                                      layout=layout, style=style),
            "kommpraev": w.Checkbox(description="förderfähig nach RL KommPräv", value=False, style=style),
            "kommpraev_reason": w.Text(description="Begründung", layout=layout, style=style),
            "cost_class": w.Dropdown(description="Kostenklasse", options=list(COST_CLASSES), style=style),
            "duration": w.Text(description="Dauer", placeholder="z. B. 6–12 Monate", layout=layout, style=style),
            "first_steps": w.Textarea(description="Erste Schritte", placeholder="ein Schritt je Zeile", layout=layout,
                                      style=style),
            "time_frame": w.Dropdown(description="Zeitrahmen", options=list(TIME_FRAMES), style=style),
            "success_text": w.Text(description="Erfolgsindikator", placeholder="woran der Erfolg zu messen ist",
                                   layout=layout, style=style),
        }
        self.copy_button = w.Button(description="Ausgewählte als Vorlage", icon="copy")
        self.template_note = w.HTML("<p>Neue Maßnahme ohne Auslöser: Sie wird immer empfohlen.</p>")
        self.add_button = w.Button(description="Maßnahme vormerken", icon="plus")
        # pending, preview, save
        self.pending_html = w.HTML()
        self.preview_button = w.Button(description="Vorschau", icon="eye")
        self.save_button = w.Button(description="Speichern", icon="save", button_style="primary", disabled=True)
        self.discard_button = w.Button(description="Verwerfen", icon="times")
        self.diff = w.HTML()

        self.select.observe(self._on_select, names="value")
        self.switch_off_button.on_click(self._on_switch_off)
        self.switch_on_button.on_click(self._on_switch_on)
        self.remove_button.on_click(self._on_remove)
        self.reword_button.on_click(self._on_reword)
        self.copy_button.on_click(self._on_copy)
        self.add_button.on_click(self._on_add)
        self.preview_button.on_click(self._on_preview)
        self.save_button.on_click(self._on_save)
        self.discard_button.on_click(self._on_discard)

        tabs = w.Tab(children=[
            w.VBox([w.HTML("<p>Die ausgewählte Maßnahme für diese Kommune abschalten: Sie wird dann unabhängig von "
                           "den Befunden nicht empfohlen; die Begründung erscheint im Bericht.</p>"),
                    self.reason, w.HBox([self.switch_off_button, self.switch_on_button, self.remove_button])]),
            w.VBox([w.HTML("<p>Titel und Beschreibung der ausgewählten Maßnahme für diese Kommune anders "
                           "formulieren (leer lassen = Wortlaut des Katalogs).</p>"),
                    self.new_title, self.new_description, self.reword_button]),
            w.VBox([w.HTML("<p>Eine eigene Maßnahme anlegen oder eine Maßnahme des Katalogs als Vorlage nehmen "
                           "(ihre Auslöseregeln werden übernommen).</p>"),
                    self.copy_button, self.template_note, *self.form.values(), self.add_button]),
            w.VBox([self.pending_html, w.HBox([self.preview_button, self.save_button, self.discard_button]),
                    self.diff]),
        ])
        for i, title in enumerate(("Abschalten", "Wortlaut ändern", "Maßnahme hinzufügen", "Speichern")):
            tabs.set_title(i, title)
        self.tabs = tabs
        intro = w.HTML(
            f"<p><b>Werkbank der Empfehlungen{(' für ' + html.escape(commune_name)) if commune_name else ''}.</b> "
            "Links jede Maßnahme des Katalogs mit ihrem Stand, rechts die geprüften Befunde. Vorgemerkte "
            f"Änderungen werden nach einer Vorschau in die Parameterdatei {html.escape(self.params_file.name)} "
            "geschrieben (die alte Fassung bleibt als Sicherung daneben); der nächste Lauf von Stufe 3 verwendet sie.</p>")
        self.widget = w.VBox([intro, w.HBox([w.VBox([self.select], layout=w.Layout(width="40%")),
                                             w.VBox([self.evidence], layout=w.Layout(width="60%"))]),
                              tabs, self.message])
        if self.select.options:
            self.select.value = self.select.options[0][1]
            self._on_select()
        self._refresh_pending()

    # -- helpers -------------------------------------------------------------
    def _row(self, mid: str):
        return self.measures[self.measures["measure_id"] == mid].iloc[0]

    def _say(self, text: str, error: bool = False) -> None:
        color = "#b42318" if error else "#1a5fb4"
        body = "<br>".join(html.escape(line) for line in text.splitlines())
        self.message.value = f'<div style="color:{color}; white-space:normal">{body}</div>'

    def _changed(self) -> None:
        """Pending choices changed: an earlier preview no longer holds."""
        self._previewed = None
        self.save_button.disabled = True
        self.diff.value = ""
        self._refresh_pending()

    def _refresh_pending(self) -> None:
        lines = describe_choices(self.pending, self.titles)
        self.pending_html.value = ("<p><b>Vorgemerkte Änderungen:</b></p><ul>" +
                                   "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>" if lines else
                                   "<p>Noch keine Änderungen vorgemerkt.</p>")

    # -- handlers ------------------------------------------------------------
    def _on_select(self, change=None) -> None:
        mid = self.select.value
        if mid is None:
            return
        m = self._row(mid)
        self.evidence.value = evidence_html(m, self.result.rules)
        self.new_title.value = str(m["title"])
        self.new_description.value = " ".join(str(m["description"]).split())
        self.switch_on_button.disabled = not bool(m["switched_off"])
        self.remove_button.disabled = str(m.get("origin")) != "commune"
        self.reason.value = str(m.get("switch_off_reason") or "") if bool(m["switched_off"]) else ""

    def _on_switch_off(self, _button=None) -> None:
        mid, reason = self.select.value, " ".join(self.reason.value.split())
        if not reason:
            self._say("Bitte eine Begründung angeben: Sie erscheint im Bericht und ist Pflicht.", error=True)
            return
        self.pending.switch_off[mid] = reason
        if mid in self.pending.switch_on:
            self.pending.switch_on.remove(mid)
        self._say(f"Vorgemerkt: „{self.titles.get(mid, mid)}“ abschalten.")
        self._changed()

    def _on_switch_on(self, _button=None) -> None:
        mid = self.select.value
        self.pending.switch_off.pop(mid, None)
        if bool(self._row(mid)["switched_off"]) and mid not in self.pending.switch_on:
            self.pending.switch_on.append(mid)
        self._say(f"Vorgemerkt: „{self.titles.get(mid, mid)}“ wieder einschalten.")
        self._changed()

    def _on_remove(self, _button=None) -> None:
        mid = self.select.value
        if str(self._row(mid).get("origin")) != "commune":
            self._say("Nur Maßnahmen, die für diese Kommune hinzugefügt wurden, lassen sich entfernen; "
                      "eine Maßnahme des Katalogs bitte abschalten.", error=True)
            return
        if mid not in self.pending.remove_added:
            self.pending.remove_added.append(mid)
        self._say(f"Vorgemerkt: hinzugefügte Maßnahme „{self.titles.get(mid, mid)}“ entfernen.")
        self._changed()

    def _on_reword(self, _button=None) -> None:
        mid = self.select.value
        base = self.catalogue.get(mid, {})
        change = {}
        for key, widget in (("title", self.new_title), ("description", self.new_description)):
            text = " ".join(widget.value.split())
            if text != " ".join(str(base.get(key, "")).split()):
                change[key] = text
        if not change:
            self._say("Der Wortlaut entspricht dem bisherigen; nichts vorgemerkt.", error=True)
            return
        self.pending.reword[mid] = change
        self._say(f"Vorgemerkt: neuer Wortlaut für „{self.titles.get(mid, mid)}“.")
        self._changed()

    def _on_copy(self, _button=None) -> None:
        mid = self.select.value
        m = self.catalogue.get(mid)
        if m is None:
            return
        f = self.form
        self._template = copy.deepcopy(m)
        f["id"].value = ""
        f["title"].value = str(m.get("title", ""))
        f["description"].value = " ".join(str(m.get("description", "")).split())
        f["topic"].value = str(m.get("topic", ""))
        f["target_groups"].value = tuple(g for g in m.get("target_groups") or [] if g in f["target_groups"].options)
        f["lead"].value = str(m.get("lead", ""))
        f["partners"].value = ", ".join(m.get("partners") or [])
        evidence, funding = m.get("evidence") or {}, m.get("funding") or {}
        if evidence.get("level") in f["evidence_level"].options:
            f["evidence_level"].value = evidence["level"]
        f["evidence_source"].value = str(evidence.get("source", ""))
        f["kommpraev"].value = bool(funding.get("kommpraev"))
        f["kommpraev_reason"].value = str(funding.get("reason", ""))
        f["cost_class"].value = m.get("cost_class") or f["cost_class"].options[0]
        f["duration"].value = str(m.get("duration", ""))
        f["first_steps"].value = "\n".join(m.get("first_steps") or [])
        f["time_frame"].value = m.get("time_frame") or f["time_frame"].options[0]
        f["success_text"].value = str((m.get("success_indicator") or {}).get("text", ""))
        self.template_note.value = (f"<p>Vorlage: „{html.escape(str(m.get('title', '')))}“ – ihre Auslöseregeln werden "
                                    "übernommen; bitte eine neue Kennung wählen oder leer lassen.</p>")

    def form_measure(self) -> dict:
        """The add form as a measure dict (empty fields left out, so the model names them)."""
        f = self.form
        measure = copy.deepcopy(self._template) if self._template else {"general": {"always": True}}
        text = {k: " ".join(str(f[k].value).split()) for k in ("title", "description", "topic", "lead", "duration")}
        taken = set(self.catalogue) | {m["id"] for m in self.pending.add}
        measure["id"] = " ".join(f["id"].value.split()) or (suggest_id(text["title"], taken) if text["title"] else "")
        for key, value in text.items():
            measure.pop(key, None)
            if value:
                measure[key] = value
        measure["target_groups"] = list(f["target_groups"].value)
        measure["partners"] = [p.strip() for p in f["partners"].value.split(",") if p.strip()]
        evidence = {"level": f["evidence_level"].value}
        if f["evidence_source"].value.strip():
            evidence["source"] = " ".join(f["evidence_source"].value.split())
        measure["evidence"] = evidence
        funding = {"kommpraev": bool(f["kommpraev"].value)}
        if f["kommpraev_reason"].value.strip():
            funding["reason"] = " ".join(f["kommpraev_reason"].value.split())
        measure["funding"] = funding
        measure["cost_class"] = f["cost_class"].value
        measure["first_steps"] = [s.strip() for s in f["first_steps"].value.splitlines() if s.strip()]
        measure["time_frame"] = f["time_frame"].value
        success = dict((self._template or {}).get("success_indicator") or {})
        success.pop("text", None)
        if f["success_text"].value.strip():
            success["text"] = " ".join(f["success_text"].value.split())
        measure["success_indicator"] = success
        return measure

    def _on_add(self, _button=None) -> None:
        measure = self.form_measure()
        taken = (set(self.catalogue) | {m["id"] for m in self.pending.add}) - set(self.pending.remove_added)
        problems = measure_problems(measure, "Neue Maßnahme")
        if measure.get("id") in taken:
            problems.append(f"Neue Maßnahme: Die Kennung „{measure['id']}“ gibt es schon; bitte eine andere wählen.")
        if problems:
            self._say("Nicht vorgemerkt:\n" + "\n".join(_label_fields(p) for p in problems), error=True)
            return
        self.pending.add.append(measure)
        self.titles[measure["id"]] = measure["title"]
        self._template = None
        import ipywidgets as w

        for widget in self.form.values():
            if isinstance(widget, (w.Text, w.Textarea)):  # Combobox is a Text
                widget.value = ""
        self.form["target_groups"].value = ()
        self.template_note.value = "<p>Neue Maßnahme ohne Auslöser: Sie wird immer empfohlen.</p>"
        self._say(f"Vorgemerkt: neue Maßnahme „{measure['title']}“ (Kennung {measure['id']}).")
        self._changed()

    def _on_preview(self, _button=None) -> Preview | None:
        if self.pending.is_empty():
            self._say("Noch keine Änderungen vorgemerkt.", error=True)
            return None
        try:
            preview = preview_choices(self.params_file, self.pending, self.defaults_file)
        except ParamsError as exc:
            self._previewed = None
            self.save_button.disabled = True
            self.diff.value = ""
            self._say(_label_fields(str(exc)), error=True)
            return None
        if not preview.changed:
            self._say("Die vorgemerkten Änderungen stehen schon so in der Parameterdatei.")
            return preview
        self._previewed = preview.old_text
        self.save_button.disabled = False
        self.diff.value = (f"<p>So ändert sich {html.escape(self.params_file.name)} (+ neu, − entfällt):</p>"
                           + diff_html(preview.diff))
        self._say("Vorschau geprüft: Die Parameterdatei bleibt gültig. Zum Übernehmen „Speichern“ drücken.")
        return preview

    def _on_save(self, _button=None) -> Saved | None:
        if self._previewed is None:
            self._say("Bitte zuerst die Vorschau ansehen.", error=True)
            return None
        try:
            saved = save_choices(self.params_file, self.pending, self.defaults_file, expected_old=self._previewed)
        except ParamsError as exc:
            self._say(_label_fields(str(exc)), error=True)
            self.save_button.disabled = True
            self._previewed = None
            return None
        self.pending = Choices()
        self._previewed = None
        self.save_button.disabled = True
        self._refresh_pending()
        self.diff.value = (f"<p>Gespeichert in {html.escape(self.params_file.name)}"
                           + (f"; die alte Fassung liegt als {html.escape(saved.backup.name)} daneben" if saved.backup else "")
                           + ". Geändert wurde:</p>" + diff_html(saved.diff))
        self._say("Gespeichert. Der nächste Lauf von Stufe 3 (Stapellauf oder dieses Notebook neu ausführen) "
                  "verwendet die Änderungen.")
        return saved

    def _on_discard(self, _button=None) -> None:
        self.pending = Choices()
        self._say("Alle vorgemerkten Änderungen verworfen.")
        self._changed()


def _label_fields(text: str) -> str:
    """Field names of the add form in messages as the form labels them ('lead' -> 'Federführung (lead)')."""
    for key, label in FIELD_LABELS.items():
        text = re.sub(rf"'{key}(?=[.'\[])", f"'{label} ({key})", text)
    return text


def workbench_for(result, params: dict) -> Workbench:
    """The workbench for the commune of ``params`` (load_params result) and its stage-3 result;
    the catalogue as this commune sees it (overrides applied) serves as templates."""
    from kit.recommend import catalogue as cat

    catalogue = _catalogue(params)
    catalogue, *_ = cat.apply_overrides(catalogue, params[SECTION], f"Parameterdatei {params['params_file']}")
    return Workbench(result, params["params_file"], catalogue, commune_name=str(params.get("name") or ""))


def show_workbench(result, params: dict, force: bool = False) -> Workbench | None:
    """The workbench in JupyterLab; nothing in batch runs (KIT_BATCH=1), where the report's
    sections on recommendations and rules are its static version."""
    from kit.report import interactive_session

    if not (force or interactive_session()):
        return None
    from IPython.display import display

    bench = workbench_for(result, params)
    display(bench.widget)
    return bench
