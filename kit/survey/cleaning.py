"""Clean raw survey responses against the codebook.

Each check is a *rule*; every case and value a rule touches is listed in
``issues`` (respondent id, file row, item, value, rule code, action code) and counted
in ``log`` (one row per rule: rule and action codes, counts, the setting of a quality
rule as a number; the German wording is :mod:`kit.survey.quality_view`), so the
cleaning can be shown in the report and redone by hand.

Rules (``rules`` argument, defaults in ``params/defaults.yaml``):

- ``out_of_range``: ``set_missing`` | ``drop_case`` | ``stop`` — applies to
  codes not in the codebook, non-numeric values and numbers outside min/max.
- ``inconsistent`` (optional, default = ``out_of_range``): the same actions
  for the codebook's ``consistency`` rules (impossible combinations, e.g.
  "reported to the police" answered by a non-victim); ``set_missing`` blanks
  the dependent items named in ``then_missing``.
- ``duplicates``: ``drop`` (keep the first record of an id) | ``stop``.
- response quality (:mod:`kit.survey.quality`): ``empty``, ``incomplete``,
  ``speeding``, ``straightlining``, each a mapping with ``action`` and its
  setting; applied only when named (the commune params always name them).
  Every removed case is counted by the first rule that removed it (log column
  ``removed``; ``removes`` says whether a rule removes cases), so the removed
  numbers add up to ``cases_dropped``.

Numbers are read by the kit's one number parser (:func:`kit.schemas.parse_cell`) under the
number convention of the response file (``raw.attrs["numbers"]``, set by
:func:`kit.io.read_table`: the params' ``survey.numbers``; else German in a ``;`` file; else
by the form of each value). A numeric or coded answer whose value that convention leaves open
("2.000" in a ``,``-separated file or a workbook's text cell) is an InputError naming file,
row, column and value, whatever the rules say; numbers read with thousands separators or a
decimal comma are noted in :mod:`kit.inputs_log` for the file.

Always applied: missing codes (``missing_codes``) and missing labels
(``missing_labels``, e.g. "k.A.") become NaN; in a multiple-choice question a
blank option counts as "nicht genannt" (0) when the respondent ticked another
option of the same question, and the whole question is missing when nothing
was ticked (LimeSurvey leaves unticked boxes empty); a missing respondent id
is replaced by ``Zeile_<row>``.

``stop`` collects every problem of the file first, then raises one
InputError listing them all.

Derived weighting variables (from the codebook ``roles``): ``age_group``
(16-34, 35-54, 55-74, 75+; ages below 16 -> NaN), ``sex`` ("m"/"w"; divers and
missing -> NaN) and ``district_id`` (str).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kit import inputs_log
from kit.errors import InputError, ParamsError, Problem
from kit.schemas import TYPE_LABELS, AmbiguousNumber, ambiguous_expected, cell_modes, parse_cell
from kit.survey.codebook import AGE_GROUPS, Codebook, Item, _norm_group
from kit.survey.importing import ID_NAME, label_lookup, normalise_text
from kit.survey.quality import (QUALITY_RULES, SETTING_COLUMNS, apply_quality_rules, check_quality_settings,
                                log_fields)

RULE_CHOICES = {
    "out_of_range": ("set_missing", "drop_case", "stop"),
    "inconsistent": ("set_missing", "drop_case", "stop"),
    "duplicates": ("drop", "stop"),
}
DEFAULT_RULES = {"out_of_range": "set_missing", "duplicates": "drop"}

# Action codes of the cleaning log and the issues (German wording: kit.survey.quality_view.ACTION_LABELS):
# id_from_row (row number used as id), keep_first (later records of a duplicate id removed), recode,
# set_missing, drop_case (case removed), stop (file refused), flag (counted, kept in the analysis).
ACTION_CODES = ("id_from_row", "keep_first", "recode", "set_missing", "drop_case", "stop", "flag")
REMOVING_ACTIONS = ("keep_first", "drop_case")

ISSUE_COLUMNS = ["respondent_id", "row", "item", "value", "rule", "action"]
# rule code, label (the codebook label of a consistency rule), action code, counts, and the setting of a
# response-quality rule as a number (kit.survey.quality.log_fields)
LOG_COLUMNS = ["rule", "label", "action", "cases", "values", "removed", "removes", *SETTING_COLUMNS]
DERIVED = ("age_group", "sex", "district_id")


@dataclass
class CleanResult:
    data: pd.DataFrame  # one row per respondent, index = respondent id
    log: pd.DataFrame  # one row per rule
    issues: pd.DataFrame  # one row per case/value touched
    unchecked: tuple[str, ...] = ()  # quality rules the file gives no data for (e.g. no submit date)


def _check_rules(rules: Mapping[str, str] | None) -> dict[str, str]:
    merged = {**DEFAULT_RULES, **{k: v for k, v in dict(rules or {}).items() if k not in QUALITY_RULES}}
    merged.setdefault("inconsistent", merged["out_of_range"])
    for key, value in merged.items():
        if key not in RULE_CHOICES:
            raise ParamsError(f"survey.cleaning: unbekannte Regel '{key}' (erlaubt: {', '.join(RULE_CHOICES)})")
        if value not in RULE_CHOICES[key]:
            raise ParamsError(f"survey.cleaning.{key}: Wert '{value}' – erlaubt: {', '.join(RULE_CHOICES[key])}")
    return merged


def _is_blank(value) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


# A response table without a stated convention (built in code, a SAV's text cells): each value by its form.
BY_FORM = {"decimal": ".", "thousands": "", "source": "form"}
NUMBERS_SETTING = "den Parametern der Befragung (survey.numbers)"


def _parse(value, convention: Mapping | None = None, mode: str | None = None) -> tuple[float | None, bool, bool]:
    """(number or None, thousands separator used, decimal comma used) of one cell; raises
    :class:`kit.schemas.AmbiguousNumber` when the convention leaves the value open."""
    if isinstance(value, bool):
        return float(value), False, False
    if isinstance(value, (int, float, np.integer, np.floating)):
        return (float(value) if math.isfinite(float(value)) else None), False, False
    try:
        return parse_cell(str(value), dict(convention or BY_FORM), mode)
    except AmbiguousNumber:
        raise
    except ValueError:
        return None, False, False


def parse_number(value, convention: Mapping | None = None, mode: str | None = None) -> float | None:
    """Number from a cell: ints/floats as they are, text by :func:`kit.schemas.parse_cell` under
    ``convention`` (a table's ``attrs["numbers"]``; default: by the value's form, so 2,5 and 2.5
    are 2.5 and 2.000 raises :class:`kit.schemas.AmbiguousNumber`); None for no number."""
    return _parse(value, convention, mode)[0]


def _normalise_id(value) -> str | None:
    if _is_blank(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text


class _Parser:
    """Parse one item's raw cell into (value, status)."""

    def __init__(self, codebook: Codebook, item: Item):
        self.item = item
        self.missing_labels = {normalise_text(x) for x in codebook.missing_labels if str(x).strip()}
        self.missing_codes = set(codebook.missing_codes)
        self.lookup = label_lookup(item) if item.is_coded else {}
        if item.is_district and item.values:
            ids = list(item.values)
            self.district_ids = set(ids)
            by_number: dict[int, list[str]] = {}
            for d in ids:
                n = parse_number(d)
                if n is not None and n.is_integer():
                    by_number.setdefault(int(n), []).append(d)
            self.district_by_number = {k: v[0] for k, v in by_number.items() if len(v) == 1}
        else:
            self.district_ids = None
            self.district_by_number = {}

    def __call__(self, raw, convention: Mapping | None = None, mode: str | None = None) -> tuple[object, str]:
        """(value, status); ``self.marks``: (thousands separator, decimal comma) of the number read."""
        item = self.item
        self.marks = (False, False)
        if _is_blank(raw):
            return None, "blank"
        if isinstance(raw, str) and normalise_text(raw) in self.missing_labels:
            return None, "missing_code"
        try:
            number, *marks = _parse(raw, convention, mode)
        except AmbiguousNumber as amb:
            if item.type == "text":
                return str(raw).strip(), "ok"
            if item.is_district:  # a district is matched by its id or name as written
                return self._district(raw, None)
            return amb, "ambiguous"  # the caller names it (file, row, column) and keeps no value
        if number is not None and item.type != "text":
            self.marks = tuple(marks)
        if number is not None and number in self.missing_codes:
            return None, "missing_code"
        if item.type == "text":
            return str(raw).strip(), "ok"
        if item.is_district:
            return self._district(raw, number)
        if item.type == "numeric":
            if number is None:
                return None, "not_numeric"
            if (item.min is not None and number < item.min) or (item.max is not None and number > item.max):
                return None, "out_of_range"
            return number, "ok"
        # single / scale / multi
        if number is None and isinstance(raw, str):
            code = self.lookup.get(normalise_text(raw))
            number = float(code) if code is not None else None
        if number is None or not number.is_integer() or int(number) not in item.values:
            return None, "invalid_code"
        return float(number), "ok"

    def _district(self, raw, number):
        text = _normalise_id(raw)
        if self.district_ids is None:  # no district list given: accept any id
            return text, "ok"
        if text in self.district_ids:
            return text, "ok"
        if number is not None and number.is_integer() and int(number) in self.district_by_number:
            return self.district_by_number[int(number)], "ok"
        key = normalise_text(raw)
        for code, label in self.item.values.items():
            if normalise_text(label) == key:
                return code, "ok"
        return None, "invalid_code"


def _age_group(age: float) -> str | None:
    if age is None or (isinstance(age, float) and math.isnan(age)):
        return None
    age = math.floor(age)
    if age < 16:
        return None
    if age <= 34:
        return "16-34"
    if age <= 54:
        return "35-54"
    if age <= 74:
        return "55-74"
    return "75+"


def clean_responses(raw: pd.DataFrame, codebook: Codebook, rules: Mapping[str, str] | None = None) -> CleanResult:
    """Clean the output of :func:`kit.survey.importing.read_responses`.

    ``raw`` needs a column ``id`` and one column per codebook item;
    ``raw.attrs`` may hold ``source`` and ``first_data_row`` (for the file rows
    in ``issues`` and error messages).
    """
    quality = check_quality_settings(rules)
    rules = _check_rules(rules)
    source = str(raw.attrs.get("source", "<Antworten>"))
    first_row = int(raw.attrs.get("first_data_row", 2))
    missing_cols = [c for c in [ID_NAME, *codebook.items] if c not in raw.columns]
    if missing_cols:
        raise InputError([Problem(file=source, row=1, column=c, value="fehlt",
                                  expected="Spalte laut Codebuch (read_responses verwenden)")
                          for c in missing_cols])
    n = len(raw)
    rows = np.arange(first_row, first_row + n)
    issues: list[dict] = []
    stop: list[Problem] = []
    counts: dict[str, dict] = {}

    def count(rule: str, case_ids, n_values: int, action: str, label: str | None = None,
              removes: bool | None = None, setting: Mapping | None = None):
        entry = counts.setdefault(rule, {"label": label, "action": action, "cases": set(), "values": 0,
                                         "removes": action in REMOVING_ACTIONS if removes is None else removes,
                                         **dict(setting or {})})
        entry["cases"].update(case_ids)
        entry["values"] += n_values

    def mark_drop(pos: int, rule: str):
        if not drop[pos]:
            drop[pos] = True
            removed_by[pos] = rule

    def issue(pos: int, item: str | None, value, rule: str, action: str, expected: str = ""):
        issues.append({"respondent_id": ids[pos], "row": int(rows[pos]), "item": item,
                       "value": None if _is_blank(value) else str(value), "rule": rule, "action": action})
        if action == "stop":
            column = id_label if item == ID_NAME else item
            stop.append(Problem(file=source, row=int(rows[pos]), column=column,
                                value=None if _is_blank(value) else value, expected=expected))

    # --- ids -----------------------------------------------------------------
    id_label = str(raw.attrs.get("id_column", ID_NAME))
    ids = [_normalise_id(v) for v in raw[ID_NAME].tolist()]
    for pos in range(n):
        if ids[pos] is None:
            ids[pos] = f"Zeile_{rows[pos]}"
            issue(pos, ID_NAME, None, "missing_id", "id_from_row")
            count("missing_id", [ids[pos]], 1, "id_from_row")
    count("missing_id", [], 0, "id_from_row")
    drop = np.zeros(n, dtype=bool)
    removed_by: list[str | None] = [None] * n  # the first rule that removed a case
    first_pos: dict[str, int] = {}
    dup_action = "keep_first" if rules["duplicates"] == "drop" else rules["duplicates"]  # drop: keep the first
    for pos, rid in enumerate(ids):
        if rid in first_pos:
            issue(pos, ID_NAME, rid, "duplicate_id", dup_action,
                  expected=f"eindeutige Fallnummer (schon in Zeile {rows[first_pos[rid]]})")
            count("duplicate_id", [f"{rid}@{rows[pos]}"], 1, dup_action)
            mark_drop(pos, "duplicate_id")
        else:
            first_pos[rid] = pos
    count("duplicate_id", [], 0, dup_action)

    # --- values --------------------------------------------------------------
    # numbers under the file's convention (kit.io.read_table; kit.schemas.parse_cell)
    convention = dict(raw.attrs.get("numbers") or BY_FORM)
    file_columns = dict(raw.attrs.get("file_columns") or {})
    ambiguous: list[Problem] = []
    parsed: dict[str, list] = {}
    status: dict[str, list] = {}
    for item in codebook.items.values():
        parser = _Parser(codebook, item)
        cache: dict = {}
        values, states = [], []
        n_thousands = n_comma = 0
        for pos, (v, mode) in enumerate(zip(raw[item.id].tolist(), cell_modes(convention, item.id, raw.index))):
            key = (type(v).__name__, v if not _is_blank(v) else None, mode)
            try:
                res = cache[key]
            except (KeyError, TypeError):
                res = (*parser(v, convention, mode), parser.marks)
                try:
                    cache[key] = res
                except TypeError:
                    pass
            if res[1] == "ambiguous":
                label = TYPE_LABELS["number"] if item.type == "numeric" else "Antwortcode (ganze Zahl)"
                ambiguous.append(Problem(file=source, row=int(rows[pos]), column=file_columns.get(item.id, item.id),
                                         value=res[0].text, expected=ambiguous_expected(label, res[0], NUMBERS_SETTING)))
                res = (None, "ambiguous", res[2])
            n_thousands += res[2][0]
            n_comma += res[2][1]
            values.append(res[0])
            states.append(res[1])
        parsed[item.id] = values
        status[item.id] = states
        if convention.get("file"):  # what was read with which marks (kit.inputs_log)
            inputs_log.repair(convention["file"], "thousands_separator", n_thousands, file_columns.get(item.id, item.id))
            inputs_log.repair(convention["file"], "decimal_comma", n_comma, file_columns.get(item.id, item.id))
    if ambiguous:  # never guessed, whatever the cleaning rules say
        raise InputError(ambiguous)

    range_action = rules["out_of_range"]
    for key in ("missing_code", "invalid_code", "not_numeric", "out_of_range"):
        action = "recode" if key == "missing_code" else range_action
        count(key, [], 0, action)
    expected_of = {}
    for item in codebook.items.values():
        if item.type == "numeric":
            rng = f"{item.min:g} bis {item.max:g}" if item.min is not None and item.max is not None else "beliebig"
            expected_of[item.id] = f"Zahl ({rng}) oder Fehlende-Werte-Code"
        elif item.is_district:
            expected_of[item.id] = "Stadtteil-Nr. aus der Stadtteilliste"
        else:
            codes = ", ".join(f"{c}={lab}" for c, lab in list(item.values.items())[:8])
            expected_of[item.id] = f"Code aus dem Codebuch ({codes})"
        for pos, st in enumerate(status[item.id]):
            if st in ("ok", "blank"):
                continue
            if st == "missing_code":
                count("missing_code", [ids[pos]], 1, "recode")
                continue
            value = raw[item.id].iat[pos]
            issue(pos, item.id, value, st, range_action, expected=expected_of[item.id])
            count(st, [ids[pos]], 1, range_action)
            if range_action == "drop_case":
                mark_drop(pos, st)

    # multiple choice: blanks -> 0 when the question was answered
    count("multi_blank", [], 0, "recode")
    multi_questions = dict.fromkeys(it.question for it in codebook.items_of_type("multi"))
    for qid in multi_questions:
        options = [it.id for it in codebook.question_items(qid)]
        for pos in range(n):
            vals = [parsed[o][pos] for o in options]
            if any(v == 1.0 for v in vals):
                blanks = [o for o in options if status[o][pos] == "blank"]
                for o in blanks:
                    parsed[o][pos] = 0.0
                if blanks:
                    count("multi_blank", [ids[pos]], len(blanks), "recode")

    # --- consistency ---------------------------------------------------------
    cons_action = rules["inconsistent"]
    for rule in codebook.consistency:
        rule_key = f"inconsistent:{rule.id}"
        cond_values = parsed[rule.if_item]
        count(rule_key, [], 0, cons_action, rule.label)
        for pos, cv in enumerate(cond_values):
            if cv is None or (isinstance(cv, float) and math.isnan(cv)):
                continue
            hit = (cv in rule.codes) != rule.negate
            if not hit:
                continue
            for dep in rule.then_missing:
                dv = parsed[dep][pos]
                if dv is None or (isinstance(dv, float) and math.isnan(dv)):
                    continue
                shown = raw[dep].iat[pos]
                cond_txt = "nicht " if rule.negate else ""
                issue(pos, dep, shown, rule_key, cons_action,
                      expected=f"keine Angabe, wenn {rule.if_item} {cond_txt}in {list(rule.codes)}")
                count(rule_key, [ids[pos]], 1, cons_action)
                if cons_action == "drop_case":
                    mark_drop(pos, rule_key)
                parsed[dep][pos] = None

    if stop:
        stop.sort(key=lambda p: p.row or 0)
        raise InputError(stop)

    # --- response quality (kit.survey.quality) -----------------------------------
    unchecked = []
    skip = set(raw.attrs.get("absent_optional") or [])
    for outcome in apply_quality_rules(quality, parsed, codebook, raw.attrs.get("paradata"), drop.copy(), skip):
        if not outcome.checked:
            if outcome.rule != "breakoff":
                unchecked.append(outcome.rule)
            continue
        fields = log_fields(outcome)
        action = fields.pop("action")
        count(outcome.rule, [], 0, action, removes=outcome.removes, setting=fields)
        for pos in outcome.positions:
            issue(pos, None, None, outcome.rule, action)
            count(outcome.rule, [ids[pos]], 1, action)
            if outcome.removes:
                mark_drop(pos, outcome.rule)

    str_dtype = pd.StringDtype(na_value=np.nan)
    columns = {}
    for item in codebook.items.values():
        if item.type == "text" or item.is_district:
            columns[item.id] = pd.Series(parsed[item.id], dtype=str_dtype)
        else:
            columns[item.id] = pd.Series(
                [np.nan if v is None else v for v in parsed[item.id]], dtype="float64")
    data = pd.DataFrame(columns)
    data.index = pd.Index(ids, name=ID_NAME, dtype=str_dtype)
    data = data.loc[~drop]
    dropped_cases = int(drop.sum())

    # --- derived weighting variables -------------------------------------------
    data = data.assign(**derive_weighting_variables(data, codebook))

    removed = pd.Series([r for r in removed_by if r is not None], dtype=object).value_counts()
    log = pd.DataFrame(
        [{"rule": key, "label": v["label"], "action": v["action"],
          "cases": len(v["cases"]), "values": v["values"], "removed": int(removed.get(key, 0)),
          "removes": bool(v["removes"]), **{c: v.get(c) for c in SETTING_COLUMNS}} for key, v in counts.items()],
        columns=LOG_COLUMNS,
    )
    summary = pd.DataFrame([
        {"rule": "records_in", "cases": n, "values": 0, "removed": 0, "removes": False},
        {"rule": "cases_dropped", "cases": dropped_cases, "values": 0, "removed": 0, "removes": False},
        {"rule": "cases_out", "cases": len(data), "values": 0, "removed": 0, "removes": False},
    ], columns=LOG_COLUMNS)
    log = pd.concat([log.astype(object), summary.astype(object)], ignore_index=True)
    log = log.astype({"cases": int, "values": int, "removed": int, "removes": bool,
                      "label": pd.StringDtype(na_value=np.nan), "action": pd.StringDtype(na_value=np.nan),
                      "min_answered": float, "max_share_of_median": float, "min_items": "Int64"})
    issues_df = pd.DataFrame(issues, columns=ISSUE_COLUMNS)
    order = {c: i for i, c in enumerate([ID_NAME, *codebook.items])}
    issues_df = (issues_df.assign(_o=issues_df["item"].map(order))
                 .sort_values(["row", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True))
    return CleanResult(data=data, log=log, issues=issues_df, unchecked=tuple(unchecked))


def derive_weighting_variables(data: pd.DataFrame, codebook: Codebook) -> dict[str, pd.Series]:
    """``age_group``, ``sex`` and ``district_id`` from the codebook roles.

    Roles that the codebook does not define give all-missing columns.
    """
    idx = data.index
    str_dtype = pd.StringDtype(na_value=np.nan)
    out: dict[str, pd.Series] = {}
    age = codebook.role_item("age")
    if age is None:
        out["age_group"] = pd.Series(np.nan, index=idx, dtype=str_dtype)
    elif age.type == "numeric":
        out["age_group"] = pd.Series([_age_group(v) for v in data[age.id]], index=idx, dtype=str_dtype)
    else:
        groups = {code: _norm_group(lab) for code, lab in age.values.items()}
        out["age_group"] = pd.Series(
            [groups.get(int(v)) if pd.notna(v) else None for v in data[age.id]], index=idx, dtype=str_dtype)
    sex = codebook.role_item("sex")
    if sex is None:
        out["sex"] = pd.Series(np.nan, index=idx, dtype=str_dtype)
    else:
        code_to_key = {c: k for k, codes in codebook.sex_codes.items() for c in codes}
        out["sex"] = pd.Series(
            [code_to_key.get(int(v)) if pd.notna(v) else None for v in data[sex.id]], index=idx, dtype=str_dtype)
    dist = codebook.role_item("district")
    if dist is None:
        out["district_id"] = pd.Series(np.nan, index=idx, dtype=str_dtype)
    else:
        out["district_id"] = data[dist.id].astype(str_dtype)
    assert set(out) == set(DERIVED)
    for name in out:
        if name in codebook.items:
            raise InputError(Problem(file=codebook.source, column=name,
                                     expected=f"kein Item mit dem reservierten Namen '{name}'"))
    return out


__all__ = ["AGE_GROUPS", "CleanResult", "clean_responses", "derive_weighting_variables", "parse_number"]
