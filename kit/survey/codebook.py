"""The questionnaire as data: load and check a survey codebook (YAML).

Format: ``data_schemas/README.md`` ("Survey codebook"). This module adds two
optional keys that the README leaves open:

- ``optional: true`` on an item: the column may be absent from a response
  file (it is then treated as all missing), e.g. free-text columns that a
  commune does not hand over.
- ``consistency:`` at the top level: a list of plausibility rules (filter
  questions). Each rule is::

      - id: anzeige_ohne_opfer           # optional, default rule_<n>
        label: Anzeige ohne Opfererfahrung  # German, optional
        if: {item: Q30, in: [2]}          # condition on one item (or not_in: [...])
        then_missing: [Q31]               # these items must then be missing

  A case that meets the condition but answered one of the ``then_missing``
  items is "unplausibel"; ``kit.survey.cleaning`` lists it and applies the
  cleaning rule (set missing, drop case or stop).

Codes are ints, except for items whose value set is ``"@districts"``: their
codes are district ids (strings) and their labels district names, taken from
the ``districts`` mapping given to :func:`load_codebook`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kit.errors import CodebookLookupError, InputError, Problem, missing_file

ITEM_TYPES = ("single", "multi", "scale", "numeric", "text")
DIRECTIONS = ("high_is_negative", "high_is_positive")
DISTRICTS_SET = "@districts"
KNOWN_ROLES = ("age", "sex", "district", "night_safety")
AGE_GROUPS = ("16-34", "35-54", "55-74", "75+")  # survey weighting groups
MULTI_VALUES = {0: "nicht genannt", 1: "genannt"}
ITEM_KEYS = {"id", "block", "question", "question_text", "text", "type", "values", "direction",
             "min", "max", "optional", "label"}
EXTRA_ITEM_KEYS = ("limesurvey_codes", "review")  # written by kit.survey.lss, kept in Item.extra
TOP_KEYS = {"name", "title", "missing_codes", "missing_labels", "roles", "value_sets", "items",
            "consistency", "description", "version", "language", "notes", "source", "references"}


@dataclass(frozen=True)
class Item:
    """One column of the response file."""

    id: str
    question: str
    type: str
    text: str = ""
    block: str = ""
    values: Mapping[Any, str] = field(default_factory=dict)  # code -> label
    value_set: str | None = None  # name of the value set, "@districts" or None (inline)
    direction: str | None = None
    min: float | None = None
    max: float | None = None
    optional: bool = False
    question_text: str = ""  # common stem of a battery (falls back to text)
    label: str = ""  # short label for tables (falls back to text)
    extra: Mapping[str, Any] = field(default_factory=dict)  # EXTRA_ITEM_KEYS given

    @property
    def is_coded(self) -> bool:
        return self.type in ("single", "scale", "multi")

    @property
    def is_district(self) -> bool:
        return self.value_set == DISTRICTS_SET

    @property
    def short_label(self) -> str:
        return self.label or self.text or self.id


@dataclass(frozen=True)
class ConsistencyRule:
    """If ``if_item`` has a code in ``codes`` (or not in them when ``negate``),
    the items in ``then_missing`` must be missing."""

    id: str
    label: str
    if_item: str
    codes: tuple
    then_missing: tuple[str, ...]
    negate: bool = False


@dataclass
class Codebook:
    name: str
    title: str
    missing_codes: list[float]
    missing_labels: list[str]
    roles: dict[str, str]
    items: dict[str, Item]
    value_sets: dict[str, dict[Any, str]]
    consistency: list[ConsistencyRule] = field(default_factory=list)
    source: str = ""
    sex_codes: dict[str, list[int]] = field(default_factory=dict)  # "m"/"w" -> codes

    # -- lookups -----------------------------------------------------------
    def item(self, item_id: str) -> Item:
        try:
            return self.items[item_id]
        except KeyError:
            raise CodebookLookupError(f"Item '{item_id}' steht nicht im Codebuch {self.name}") from None

    def labels(self, item_id: str) -> dict:
        """Code -> German label of an item (empty for numeric and text items)."""
        return dict(self.item(item_id).values)

    def questions(self) -> list[str]:
        """Question ids in questionnaire order (first appearance)."""
        return list(dict.fromkeys(it.question for it in self.items.values()))

    def question_items(self, question_id: str) -> list[Item]:
        found = [it for it in self.items.values() if it.question == question_id]
        if not found:
            raise CodebookLookupError(f"Frage '{question_id}' steht nicht im Codebuch {self.name}")
        return found

    def question_type(self, question_id: str) -> str:
        return self.question_items(question_id)[0].type

    def question_text(self, question_id: str) -> str:
        items = self.question_items(question_id)
        first = items[0]
        if first.question_text:
            return first.question_text
        return first.text if len(items) == 1 else question_id

    def block_of(self, item_or_question_id: str) -> str:
        """Topic block of an item id or a question id."""
        if item_or_question_id in self.items:
            return self.items[item_or_question_id].block
        return self.question_items(item_or_question_id)[0].block

    def blocks(self) -> list[str]:
        return list(dict.fromkeys(it.block for it in self.items.values()))

    def items_of_type(self, *types: str) -> list[Item]:
        return [it for it in self.items.values() if it.type in types]

    def role_item(self, role: str) -> Item | None:
        item_id = self.roles.get(role)
        return self.items[item_id] if item_id else None

    def is_missing_code(self, value: float) -> bool:
        return value in self.missing_codes


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------


def _item_lines(text: str) -> dict[int, int]:
    """Line numbers (1-based) of the entries of the top-level ``items`` list."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[int, int] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                for i, node in enumerate(value.value):
                    lines[i] = node.start_mark.line + 1
    return lines


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", "."))
        except ValueError:
            return None
    return None


def _int_code(value: Any) -> int | None:
    number = _as_number(value)
    if number is None or not float(number).is_integer():
        return None
    return int(number)


def _sex_key(label: str) -> str | None:
    low = label.strip().lower()
    if low.startswith(("männ", "maenn", "mann")) or low in ("m", "male"):
        return "m"
    if low.startswith(("weib", "frau")) or low in ("w", "f", "female"):
        return "w"
    return None


def load_codebook(path: str | Path, districts: Mapping[str, str] | None = None) -> Codebook:
    """Read a codebook YAML file and check it.

    ``districts`` maps district_id -> district name; it replaces value sets
    named ``"@districts"``. Without it such items keep an empty label map and
    any district id is accepted when cleaning (nothing can be checked).

    Raises InputError naming the file, the line of the item and the item id
    for every defect found (all at once).
    """
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Codebuch")
    # duplicate keys are refused (kit.yamlio)
    from kit.yamlio import YamlFileError, read_yaml

    src = str(path)
    try:
        doc = read_yaml(path, "Codebuch", require_mapping=False)
    except YamlFileError as exc:
        raise InputError(Problem(file=src, row=exc.line, column=exc.key_path or None,
                                 expected=exc.expected or "gültiges YAML")) from None
    data = doc.data
    if not isinstance(data, dict):
        raise InputError(Problem(file=src, expected="YAML-Zuordnung mit den Schlüsseln name, items, ..."))
    return codebook_from_dict(data, source=src, districts=districts, line_of=doc.line_of)


def codebook_from_dict(data: Mapping[str, Any], *, source: str = "<codebook>",
                       districts: Mapping[str, str] | None = None,
                       item_lines: Mapping[int, int] | None = None, line_of=None) -> Codebook:
    """Build a Codebook from already parsed YAML (see :func:`load_codebook`).

    The keys and values of the top level, ``roles`` and every item are checked first by the
    typed model kit.params.CodebookTop (unknown keys and roles refused); then what needs the
    other items (value sets, roles and rules naming items). ``line_of(key path)`` or
    ``item_lines`` (position in ``items`` -> line) give the lines for the messages."""
    from kit.params import codebook_problems

    item_lines = dict(item_lines or {})
    if line_of is None:
        def line_of(loc):
            return item_lines.get(loc[1]) if len(loc) >= 2 and loc[0] == "items" else None
    problems: list[Problem] = codebook_problems(data, source, line_of)
    if problems:
        raise InputError(problems)

    def bad(expected: str, *, column: str | None = None, value: Any = None, row: int | None = None):
        problems.append(Problem(file=source, row=row, column=column, value=value, expected=expected))

    # missing codes / labels
    missing_codes: list[float] = []
    for value in data.get("missing_codes") or []:
        number = _as_number(value)
        if number is None:
            bad("Zahl als Fehlende-Werte-Code", column="missing_codes", value=value)
        else:
            missing_codes.append(number)
    missing_labels = [str(v).strip() for v in (data.get("missing_labels") or [])]

    # value sets
    value_sets: dict[str, dict[Any, str]] = {}
    raw_sets = data.get("value_sets") or {}
    if not isinstance(raw_sets, Mapping):
        bad("Zuordnung Name -> {Code: Label}", column="value_sets")
        raw_sets = {}
    for name, mapping in raw_sets.items():
        parsed = _parse_value_map(mapping, f"value_sets.{name}", bad)
        if parsed is not None:
            value_sets[str(name)] = parsed
    district_values = {str(k): str(v) for k, v in (districts or {}).items()}

    # items
    raw_items = data.get("items")
    items: dict[str, Item] = {}
    if not isinstance(raw_items, list) or not raw_items:
        bad("nicht leere Liste 'items'", column="items")
        raw_items = []
    for i, raw in enumerate(raw_items):
        row = line_of(("items", i))
        if not isinstance(raw, Mapping):
            bad("Item als Zuordnung (id, type, ...)", column=f"items[{i + 1}]", row=row)
            continue
        item_id = str(raw.get("id", "")).strip()
        if not item_id:
            bad("Item mit 'id'", column=f"items[{i + 1}]", row=row)
            continue
        where = item_id
        if item_id in items:
            bad("eindeutige Item-id", column=f"{where}.id", value=item_id, row=row)
            continue
        item_type = str(raw.get("type", "")).strip()
        if item_type not in ITEM_TYPES:
            bad(f"type eines von {', '.join(ITEM_TYPES)}", column=f"{where}.type",
                value=raw.get("type"), row=row)
            continue
        extra = {k: raw[k] for k in EXTRA_ITEM_KEYS if raw.get(k) is not None}
        values: dict = {}
        value_set: str | None = None
        spec = raw.get("values")
        if item_type in ("single", "scale"):
            if spec is None:
                bad("'values': Name eines value_sets, '@districts' oder {Code: Label}",
                    column=f"{where}.values", row=row)
                continue
            if isinstance(spec, str):
                value_set = spec.strip()
                if value_set == DISTRICTS_SET:
                    values = dict(district_values)
                elif value_set in value_sets:
                    values = dict(value_sets[value_set])
                else:
                    bad(f"bekanntes value_set ({', '.join(value_sets) or 'keine definiert'}) oder '@districts'",
                        column=f"{where}.values", value=spec, row=row)
                    continue
            else:
                parsed = _parse_value_map(spec, f"{where}.values", bad, row=row)
                if parsed is None:
                    continue
                values = parsed
            if not values and value_set != DISTRICTS_SET:
                bad("mindestens einen Code", column=f"{where}.values", row=row)
                continue
        elif item_type == "multi":
            values = dict(MULTI_VALUES)
            if spec is not None:
                parsed = (value_sets.get(spec) if isinstance(spec, str)
                          else _parse_value_map(spec, f"{where}.values", bad, row=row))
                if parsed is None or set(parsed) != {0, 1}:
                    bad("Mehrfachauswahl mit den Codes 0 und 1", column=f"{where}.values", value=spec, row=row)
                    continue
                values = dict(parsed)
        elif spec is not None:
            bad("keine 'values' bei numeric/text", column=f"{where}.values", value=spec, row=row)

        lo = hi = None
        if item_type == "numeric":
            for key in ("min", "max"):
                if raw.get(key) is not None and _as_number(raw.get(key)) is None:
                    bad("Zahl", column=f"{where}.{key}", value=raw.get(key), row=row)
            lo = _as_number(raw.get("min")) if raw.get("min") is not None else None
            hi = _as_number(raw.get("max")) if raw.get("max") is not None else None
            if lo is not None and hi is not None and lo > hi:
                bad("min <= max", column=f"{where}.min", value=f"{lo} > {hi}", row=row)
        elif raw.get("min") is not None or raw.get("max") is not None:
            bad("min/max nur bei numeric", column=f"{where}.min", row=row)
        direction = raw.get("direction")
        if direction is not None and direction not in DIRECTIONS:
            bad(f"direction eines von {', '.join(DIRECTIONS)}", column=f"{where}.direction",
                value=direction, row=row)
            direction = None
        items[item_id] = Item(
            id=item_id,
            question=str(raw.get("question") or item_id).strip(),
            type=item_type,
            text=str(raw.get("text") or "").strip(),
            block=str(raw.get("block") or "").strip(),
            values=values,
            value_set=value_set,
            direction=direction,
            min=lo,
            max=hi,
            optional=bool(raw.get("optional", False)),
            question_text=str(raw.get("question_text") or "").strip(),
            label=str(raw.get("label") or "").strip(),
            extra=extra,
        )

    # all items of a question share the type; single/numeric/text questions
    # with several items are allowed (e.g. several 0-10 ratings)
    seen_type: dict[str, tuple[str, str]] = {}
    for it in items.values():
        first = seen_type.setdefault(it.question, (it.type, it.id))
        if first[0] != it.type:
            bad(f"gleicher type wie {first[1]} ({first[0]}) in Frage {it.question}",
                column=f"{it.id}.type", value=it.type)

    # roles
    roles: dict[str, str] = {}
    raw_roles = data.get("roles") or {}
    sex_codes: dict[str, list[int]] = {}
    if not isinstance(raw_roles, Mapping):
        bad("Zuordnung Rolle -> Item-id", column="roles")
        raw_roles = {}
    for role in KNOWN_ROLES:  # other role names are refused by kit.params.Roles
        if raw_roles.get(role) is None:
            continue
        item_id = str(raw_roles[role])
        if item_id not in items:
            bad(_item_ids_expected(item_id, list(items)), column=f"roles.{role}", value=item_id,
                row=line_of(("roles", role)))
            continue
        roles[role] = item_id
    if "age" in roles:
        age = items[roles["age"]]
        if age.type == "numeric":
            pass
        elif age.type == "single":
            unknown = [lab for lab in age.values.values() if _norm_group(lab) not in AGE_GROUPS]
            if unknown:
                bad(f"Altersgruppen-Labels {', '.join(AGE_GROUPS)}", column=f"roles.age ({age.id})",
                    value=unknown[0])
        else:
            bad("numeric (Alter in Jahren) oder single mit Altersgruppen", column=f"roles.age ({age.id})",
                value=age.type)
    if "sex" in roles:
        sex = items[roles["sex"]]
        explicit = raw_roles.get("sex_codes")
        if sex.type != "single":
            bad("single", column=f"roles.sex ({sex.id})", value=sex.type)
        elif explicit is not None:
            if not isinstance(explicit, Mapping) or set(explicit) - {"m", "w"}:
                bad("sex_codes: {m: [Codes], w: [Codes]}", column="roles.sex_codes", value=explicit)
            else:
                for key, codes in explicit.items():
                    codes = codes if isinstance(codes, list) else [codes]
                    sex_codes[key] = [c for c in (_int_code(v) for v in codes) if c is not None]
        else:
            for code, lab in sex.values.items():
                key = _sex_key(lab)
                if key:
                    sex_codes.setdefault(key, []).append(code)
            if set(sex_codes) != {"m", "w"}:
                bad("Labels 'männlich' und 'weiblich' (oder roles.sex_codes: {m: [1], w: [2]})",
                    column=f"roles.sex ({sex.id})", value=list(sex.values.values()))
    if "district" in roles:
        dist = items[roles["district"]]
        if dist.type != "single":
            bad("single mit values: '@districts'", column=f"roles.district ({dist.id})", value=dist.type)
    if "night_safety" in roles:  # feeling safe at night: an ordered scale whose high codes are unsafe
        night = items[roles["night_safety"]]
        if night.type not in ("single", "scale") or night.direction != "high_is_negative" or len(night.values) < 3:
            bad("single/scale mit mindestens 3 geordneten Antworten und direction: high_is_negative",
                column=f"roles.night_safety ({night.id})", value=night.type)

    # consistency rules
    rules: list[ConsistencyRule] = []
    for n, raw in enumerate(data.get("consistency") or [], start=1):
        rid = str(raw.get("id", f"rule_{n}")) if isinstance(raw, Mapping) else f"rule_{n}"
        where = f"consistency.{rid}"
        if not isinstance(raw, Mapping) or not isinstance(raw.get("if"), Mapping):
            bad("Regel mit 'if: {item: ..., in: [...]}' und 'then_missing: [...]'", column=where)
            continue
        cond = raw["if"]
        if_item = str(cond.get("item", ""))
        negate = "not_in" in cond
        codes_raw = cond.get("not_in" if negate else "in")
        then = raw.get("then_missing")
        then = [then] if isinstance(then, str) else then
        if if_item not in items:
            bad(_item_ids_expected(if_item, list(items)), column=f"{where}.if.item", value=if_item)
            continue
        if not isinstance(codes_raw, list) or not codes_raw:
            bad("Liste von Codes in 'in' oder 'not_in'", column=f"{where}.if", value=codes_raw)
            continue
        if not isinstance(then, list) or not then:
            bad("Liste von Item-ids in 'then_missing'", column=f"{where}.then_missing", value=then)
            continue
        unknown = [t for t in then if str(t) not in items]
        if unknown:
            bad(_item_ids_expected(str(unknown[0]), list(items)), column=f"{where}.then_missing", value=unknown[0])
            continue
        cond_item = items[if_item]
        if cond_item.is_district:
            codes = tuple(str(c) for c in codes_raw)
        else:
            codes = tuple(_int_code(c) for c in codes_raw)
            if cond_item.is_coded and any(c is None or c not in cond_item.values for c in codes):
                bad(f"Codes von {if_item} ({', '.join(map(str, cond_item.values))})",
                    column=f"{where}.if", value=codes_raw)
                continue
        rules.append(ConsistencyRule(
            id=rid, label=str(raw.get("label") or rid), if_item=if_item, codes=codes,
            then_missing=tuple(str(t) for t in then), negate=negate))

    if problems:
        raise InputError(problems)
    return Codebook(
        name=str(data.get("name", "")),
        title=str(data.get("title", "")),
        missing_codes=missing_codes,
        missing_labels=missing_labels,
        roles=roles,
        items=items,
        value_sets=value_sets,
        consistency=rules,
        source=source,
        sex_codes=sex_codes,
    )


def _item_ids_expected(given: str, ids: list[str], shown: int = 12) -> str:
    """'id eines Items im Codebuch (vorhanden: ...)' with the closest id, for a role or rule naming an item."""
    listed = ", ".join(ids) if len(ids) <= shown else \
        f"{', '.join(ids[:shown - 2])}, …, {ids[-1]}; {len(ids)} Items"
    close = difflib.get_close_matches(given, ids, n=1)
    return f"id eines Items im Codebuch (vorhanden: {listed or 'keine'})" + (f"; gemeint: {close[0]}?" if close else "")


def _norm_group(label: str) -> str:
    return str(label).replace(" ", "").replace("–", "-").replace("bis", "-").replace("Jahre", "")


def _parse_value_map(mapping: Any, where: str, bad, row: int | None = None) -> dict[int, str] | None:
    if not isinstance(mapping, Mapping) or not mapping:
        bad("Zuordnung {Code: Label}", column=where, value=mapping, row=row)
        return None
    out: dict[int, str] = {}
    for code, label in mapping.items():
        icode = _int_code(code)
        if icode is None:
            bad("ganzzahliger Code", column=where, value=code, row=row)
            return None
        if label is None or str(label).strip() == "":
            bad("Label zu jedem Code", column=where, value=code, row=row)
            return None
        out[icode] = str(label).strip()
    return out
