"""Response-quality rules of the survey cleaning: empty, incomplete, straight-lining, speeding.

Called by :func:`kit.survey.cleaning.clean_responses` after the values are parsed; the
settings come from ``survey.cleaning`` (pydantic model :class:`kit.params.Cleaning`,
commented defaults in ``params/defaults.yaml``). Each rule returns case positions and
numbers only; the cleaning log (rule and action codes, settings as numbers, counts
controlled by :meth:`kit.disclosure.DisclosurePolicy.cleaning_log`) is built from them in
:mod:`kit.survey.cleaning`, the German wording in :mod:`kit.survey.quality_view`.

Rules, applied in this order to the cases no earlier rule removed (so every removed case
is counted by exactly one rule and the removed numbers add up to ``cases_dropped``):

- ``empty``: fewer than ``min_answered`` of the questions have a substantive answer
  (not blank, not a missing code such as "k.A." or "weiß nicht"; a multiple-choice
  question counts when any option is coded, a text question when it has text).
  ``drop`` | ``flag``.
- ``incomplete``: LimeSurvey paradata say the questionnaire was not submitted (empty
  ``submitdate``) or left before the last page (``lastpage`` below ``last_page``,
  default: the highest ``lastpage`` of the submitted ones). ``keep``: incomplete
  questionnaires with at least ``min_answered`` of the questions answered are kept
  (AAPOR's "partial"), the rest are removed as break-offs; ``drop``: all are removed.
  Without ``submitdate`` and ``lastpage`` columns (paper questionnaires, manual entry)
  the rule cannot be checked and gets no log row.
- ``speeding``: completion time (``interviewtime`` in seconds, else ``submitdate`` -
  ``startdate``) below ``max_share_of_median`` times the median of the completed
  questionnaires. ``flag`` | ``drop``. Needs at least ``MIN_TIMES`` completion times.
- ``straightlining``: every qualifying scale battery (items of type ``scale`` sharing
  ``question``) answered completely, each with one and the same answer on all its items.
  A battery qualifies with ``min_items`` items or more, or with 3 or more items of mixed
  ``direction`` (there a uniform answer contradicts itself). A single uniform battery
  is common among genuine answers (in the demo about one in eight answer the five
  neighbourhood statements alike), uniform answers across all long batteries are rare.
  ``flag`` | ``drop``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.errors import ParamsError
from kit.survey.codebook import Codebook
from kit.survey.importing import PARADATA_COLUMNS  # LimeSurvey system columns kept in attrs["paradata"]

QUALITY_RULES = ("empty", "incomplete", "speeding", "straightlining")
ACTIONS = {"empty": ("drop", "flag"), "incomplete": ("keep", "drop"),
           "speeding": ("flag", "drop"), "straightlining": ("flag", "drop")}
SETTINGS = {  # setting -> (lower bound, upper bound, integer?)
    "min_answered": (0.0, 1.0, False),
    "max_share_of_median": (0.0, 1.0, False),
    "min_items": (2, 1000, True),
    "last_page": (1, 10_000, True),
}
ALLOWED_KEYS = {"empty": {"action", "min_answered"}, "incomplete": {"action", "min_answered", "last_page"},
                "speeding": {"action", "max_share_of_median"}, "straightlining": {"action", "min_items"}}
# Function-level defaults, equal to params/defaults.yaml (the reasons are given there).
DEFAULTS = {
    "empty": {"action": "drop", "min_answered": 0.1},
    "incomplete": {"action": "keep", "min_answered": 0.5, "last_page": None},
    "speeding": {"action": "flag", "max_share_of_median": 0.3},
    "straightlining": {"action": "flag", "min_items": 5},
}
MIN_TIMES = 20  # fewer completion times give no stable median to compare with
MIN_MIXED_ITEMS = 3  # a battery of mixed direction qualifies from this many items


@dataclass
class QualityOutcome:
    """Positions (row numbers of ``raw``) each rule hit; ``removed`` says whether the
    rule removes them. ``checked`` is False for a rule the file gives no data for."""

    rule: str
    positions: list[int] = field(default_factory=list)
    removes: bool = False
    checked: bool = True
    setting: dict = field(default_factory=dict)


def check_quality_settings(rules: Mapping | None) -> dict[str, dict]:
    """The quality settings among ``rules`` (survey.cleaning), merged over DEFAULTS for the
    rules that are named; rules not named are off (``None``). German ParamsError on bad values."""
    out: dict[str, dict | None] = {}
    for rule in QUALITY_RULES:
        given = (rules or {}).get(rule)
        if given is None:
            out[rule] = None
            continue
        if not isinstance(given, Mapping):
            raise ParamsError(f"survey.cleaning.{rule}: Wert '{given}' – erwartet eine Zuordnung wie "
                              f"{{action: {ACTIONS[rule][0]}}}")
        unknown = sorted(set(given) - ALLOWED_KEYS[rule])
        if unknown:
            raise ParamsError(f"survey.cleaning.{rule}: unbekannte Einstellung '{unknown[0]}' (erlaubt: "
                              f"{', '.join(sorted(ALLOWED_KEYS[rule]))})")
        merged = {**DEFAULTS[rule], **dict(given)}
        if merged["action"] not in ACTIONS[rule]:
            raise ParamsError(f"survey.cleaning.{rule}.action: Wert '{merged['action']}' – erlaubt: "
                              f"{' | '.join(ACTIONS[rule])}")
        for key, value in merged.items():
            if key == "action" or (key == "last_page" and value is None):
                continue
            lo, hi, integer = SETTINGS[key]
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            ok = ok and (not integer or float(value).is_integer()) and lo <= value <= hi
            if key in ("min_answered", "max_share_of_median"):
                ok = ok and 0 < value < 1
            if not ok:
                what = (f"ganze Zahl von {lo} bis {hi}" if integer else "Anteil größer 0 und kleiner 1 (z. B. 0.3)")
                raise ParamsError(f"survey.cleaning.{rule}.{key}: Wert '{value}' – erlaubt: {what}")
        out[rule] = merged
    return out


# ---------------------------------------------------------------------------
# building blocks (pure functions, tested on their own)
# ---------------------------------------------------------------------------


def answered_share(parsed: Mapping[str, list], codebook: Codebook, n: int,
                   skip_items: set[str] | frozenset = frozenset()) -> np.ndarray:
    """Share of the questionnaire's questions with a substantive answer, per case.

    ``parsed``: item id -> list of parsed values (None/NaN = no answer, as after
    :class:`kit.survey.cleaning._Parser`). Questions whose items are all in
    ``skip_items`` (optional items absent from the file) are not counted."""
    questions = [q for q in codebook.questions()
                 if any(it.id not in skip_items for it in codebook.question_items(q))]
    if not questions:
        return np.ones(n)
    answered = np.zeros(n)
    for q in questions:
        hit = np.zeros(n, dtype=bool)
        for it in codebook.question_items(q):
            if it.id in skip_items:
                continue
            hit |= np.array([_present(v) for v in parsed[it.id]], dtype=bool)
        answered += hit
    return answered / len(questions)


def _present(value) -> bool:
    if value is None or value is pd.NA:
        return False
    if isinstance(value, float) and math.isnan(value):
        return False
    return not (isinstance(value, str) and not value.strip())


def batteries(codebook: Codebook, min_items: int) -> dict[str, list[str]]:
    """Question id -> item ids of the scale batteries that qualify for the straight-lining rule."""
    out = {}
    for q in codebook.questions():
        items = codebook.question_items(q)
        if len(items) < 2 or any(it.type != "scale" for it in items):
            continue
        directions = {it.direction for it in items if it.direction}
        if len(items) >= min_items or (len(directions) > 1 and len(items) >= MIN_MIXED_ITEMS):
            out[q] = [it.id for it in items]
    return out


def straightliners(values: pd.DataFrame, battery_items: Mapping[str, list[str]]) -> np.ndarray:
    """True where the case answered every qualifying battery completely and gave one and the
    same answer to all items of each (the answer may differ between batteries).
    ``values``: parsed codes, NaN = no answer. No batteries: all False."""
    n = len(values)
    out = np.full(n, bool(battery_items))
    for items in battery_items.values():
        block = values[list(items)].to_numpy(dtype=float)
        complete = ~np.isnan(block).any(axis=1)
        out &= complete & (np.nanmax(block, axis=1, initial=-np.inf) == np.nanmin(block, axis=1, initial=np.inf))
    return out


def _to_time(values) -> pd.Series:
    s = pd.Series(list(values), dtype=object)
    s = s.map(lambda v: None if (v is None or (isinstance(v, str) and not v.strip())
                                 or (isinstance(v, float) and math.isnan(v))) else v)
    return pd.to_datetime(s, errors="coerce", format="mixed")


def _to_number(values) -> pd.Series:
    return pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")


def incomplete_cases(paradata: Mapping[str, list] | None, n: int, last_page: int | None = None) -> np.ndarray | None:
    """True for questionnaires not submitted or left before the last page; None when the file
    has neither ``submitdate`` nor ``lastpage``."""
    paradata = paradata or {}
    has_submit, has_page = "submitdate" in paradata, "lastpage" in paradata
    if not (has_submit or has_page):
        return None
    out = np.zeros(n, dtype=bool)
    submitted = np.ones(n, dtype=bool)
    if has_submit:
        submitted = _to_time(paradata["submitdate"]).notna().to_numpy()
        out |= ~submitted
    if has_page:
        page = _to_number(paradata["lastpage"]).to_numpy(dtype=float)
        final = last_page
        if final is None:
            ref = page[submitted & ~np.isnan(page)]
            final = float(ref.max()) if len(ref) else None
        if final is not None:
            out |= ~np.isnan(page) & (page < final)
    return out


def completion_seconds(paradata: Mapping[str, list] | None, n: int) -> np.ndarray | None:
    """Completion time in seconds per case (NaN where unknown); None when the file has
    neither ``interviewtime`` nor both ``startdate`` and ``submitdate``."""
    paradata = paradata or {}
    times = np.full(n, np.nan)
    found = False
    if "interviewtime" in paradata:
        times = _to_number(paradata["interviewtime"]).to_numpy(dtype=float)
        found = True
    if "startdate" in paradata and "submitdate" in paradata:
        span = (_to_time(paradata["submitdate"]) - _to_time(paradata["startdate"])).dt.total_seconds()
        times = np.where(np.isnan(times), span.to_numpy(dtype=float), times)
        found = True
    if not found:
        return None
    times = np.where(times > 0, times, np.nan)
    return times


def speeders(seconds: np.ndarray, eligible: np.ndarray, share: float) -> tuple[np.ndarray, float | None]:
    """True where the time is below ``share`` x the median time of the eligible cases;
    (all False, None) with fewer than MIN_TIMES known times."""
    known = eligible & ~np.isnan(seconds)
    if known.sum() < MIN_TIMES:
        return np.zeros(len(seconds), dtype=bool), None
    median = float(np.median(seconds[known]))
    return known & (seconds < share * median), median


# ---------------------------------------------------------------------------
# the rules in order
# ---------------------------------------------------------------------------


def apply_quality_rules(settings: Mapping[str, dict | None], parsed: Mapping[str, list], codebook: Codebook,
                        paradata: Mapping[str, list] | None, dropped: np.ndarray,
                        skip_items: set[str] | frozenset = frozenset()) -> list[QualityOutcome]:
    """Run the configured rules on the cases not in ``dropped`` (bool per raw row).

    Returns one QualityOutcome per configured rule (positions hit, in QUALITY_RULES
    order); a rule removing cases excludes them from the later rules."""
    n = len(dropped)
    gone = np.asarray(dropped, dtype=bool).copy()
    out: list[QualityOutcome] = []
    share = None
    if settings.get("empty") or settings.get("incomplete"):
        share = answered_share(parsed, codebook, n, skip_items)

    cfg = settings.get("empty")
    if cfg:
        hit = ~gone & (share < cfg["min_answered"])
        removes = cfg["action"] == "drop"
        out.append(QualityOutcome("empty", np.flatnonzero(hit).tolist(), removes, True, cfg))
        if removes:
            gone |= hit

    incomplete = None
    cfg = settings.get("incomplete")
    if cfg:
        incomplete = incomplete_cases(paradata, n, cfg.get("last_page"))
        if incomplete is None:
            out.append(QualityOutcome("incomplete", [], False, False, cfg))
            out.append(QualityOutcome("breakoff", [], True, False, cfg))
        elif cfg["action"] == "drop":
            hit = ~gone & incomplete
            out.append(QualityOutcome("incomplete", np.flatnonzero(hit).tolist(), True, True, cfg))
            gone |= hit
        else:
            low = share < cfg["min_answered"]
            kept = ~gone & incomplete & ~low
            broke = ~gone & incomplete & low
            out.append(QualityOutcome("incomplete", np.flatnonzero(kept).tolist(), False, True, cfg))
            out.append(QualityOutcome("breakoff", np.flatnonzero(broke).tolist(), True, True, cfg))
            gone |= broke

    cfg = settings.get("speeding")
    if cfg:
        seconds = completion_seconds(paradata, n)
        if seconds is None:
            out.append(QualityOutcome("speeding", [], cfg["action"] == "drop", False, cfg))
        else:
            unfinished = incomplete if incomplete is not None else incomplete_cases(paradata, n)
            finished = np.ones(n, dtype=bool) if unfinished is None else ~unfinished
            fast, median = speeders(seconds, finished & ~gone, float(cfg["max_share_of_median"]))
            removes = cfg["action"] == "drop"
            out.append(QualityOutcome("speeding", np.flatnonzero(fast).tolist(), removes, median is not None,
                                      {**cfg, "median_seconds": median}))
            if removes:
                gone |= fast

    cfg = settings.get("straightlining")
    if cfg:
        items = batteries(codebook, int(cfg["min_items"]))
        if not items:
            out.append(QualityOutcome("straightlining", [], cfg["action"] == "drop", False, cfg))
        else:
            cols = sorted({i for its in items.values() for i in its})
            values = pd.DataFrame({c: [np.nan if not _present(v) else float(v) for v in parsed[c]] for c in cols})
            hit = ~gone & straightliners(values, items)
            removes = cfg["action"] == "drop"
            out.append(QualityOutcome("straightlining", np.flatnonzero(hit).tolist(), removes, True,
                                      {**cfg, "batteries": list(items)}))
            if removes:
                gone |= hit
    return out


SETTING_OF_RULE = {"empty": "min_answered", "incomplete": "min_answered", "breakoff": "min_answered",
                   "speeding": "max_share_of_median", "straightlining": "min_items"}
SETTING_COLUMNS = ("min_answered", "max_share_of_median", "min_items")  # numbers in the cleaning log


def log_fields(outcome: QualityOutcome) -> dict:
    """Action code and setting of a rule for the cleaning log: ``action`` is ``drop_case`` when
    the rule removes its cases, else ``flag``; the setting the rule was checked with is given as
    a number under its params name (``min_answered`` as a share, ``max_share_of_median`` as a
    share of the median time, ``min_items`` as a count). ``incomplete`` kept (``action: keep``)
    names its ``min_answered``; removed as a whole (``action: drop``) it needs none. The German
    wording is :func:`kit.survey.quality_view.rule_description`."""
    fields: dict = {"action": "drop_case" if outcome.removes else "flag"}
    key = SETTING_OF_RULE.get(outcome.rule)
    if key is not None and not (outcome.rule == "incomplete" and outcome.removes):
        value = outcome.setting[key]
        fields[key] = int(value) if key == "min_items" else float(value)
    return fields


__all__ = ["ACTIONS", "DEFAULTS", "PARADATA_COLUMNS", "QUALITY_RULES", "QualityOutcome", "answered_share",
           "apply_quality_rules", "batteries", "check_quality_settings", "completion_seconds",
           "incomplete_cases", "log_fields", "speeders", "straightliners"]
