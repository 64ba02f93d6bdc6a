"""Gazetteer of a commune and fuzzy matching of free-text answers to it.

One method for both stages (issue 9, item 8): the places of discomfort named in
the survey's free-text question are matched to the commune's *gazetteer*
(district names, the named places of stage 1's places table, optional extra
entries and aliases from a params file) and counted per place and district.

- :func:`normalize` folds German spelling variants (case, ß/ss, ä/ae/a,
  "Str."/"Straße", "Goethe-Straße"/"Goethestraße", punctuation), so that
  spelling alone never decides a match.
- :func:`match_answers` compares every word n-gram of an answer with every
  alias using rapidfuzz's token-based ``token_sort_ratio`` (typos, word order;
  the better of it and the plain ``ratio``, since a typo can reorder sorted words).
  Non-overlapping matches at or above ``threshold`` are accepted (several per
  answer); an answer whose best candidate scores between ``review_min`` and
  ``threshold`` ("low_score"), or where two entries compete for the same words
  ("ambiguous"), goes to the analyst's review list.

Everything returned is numbers and codes (answer position, entry, place id,
district id, score, status), never the answer text: the caller keeps the text in
memory (kit.survey.places builds the review list from it).

Hand-written around rapidfuzz (no library offers gazetteer lookup of several
place names inside a short German sentence): the n-gram windows, the greedy
choice of non-overlapping matches and the ambiguity rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from kit.errors import InputError, Problem, missing_file

# answer status codes (one per answer) and match status codes (one per matched span)
MATCHED, AMBIGUOUS, LOW_SCORE, UNMATCHED = "matched", "ambiguous", "low_score", "unmatched"
ANSWER_STATUSES = (MATCHED, AMBIGUOUS, LOW_SCORE, UNMATCHED)
PLACE, DISTRICT = "place", "district"

DEFAULT_THRESHOLD = 88.0
DEFAULT_REVIEW_MIN = 65.0
DEFAULT_AMBIGUITY_MARGIN = 3.0

# German abbreviations in place names (applied after case folding, before punctuation is dropped)
_ABBREVIATIONS = (
    (re.compile(r"(?<=\w)str\b\.?"), "strasse"),    # Goethestr. -> goethestrasse
    (re.compile(r"\bstr\b\.?"), "strasse"),          # Goethe Str. -> goethe strasse
    (re.compile(r"\bpl\b\.?"), "platz"),
    (re.compile(r"\bhbf\b\.?"), "hauptbahnhof"),
    (re.compile(r"\bbhf\b\.?"), "bahnhof"),
    (re.compile(r"\bhst\b\.?"), "haltestelle"),
    (re.compile(r"\bst\b\.\s*"), "sankt "),
)
# street-type words written apart or with a hyphen ("Goethe-Straße") are joined to the name
_JOIN = re.compile(r"\b(\w+) (strasse|gasse|allee)\b")
# words after which a street word starts a name of its own ("an der Straße", "am Weg")
_NO_JOIN = frozenset("am an auf bei beim das dem den der die im in ins und vom von vor zum zur".split())
_FOLD = (("ae", "a"), ("oe", "o"), ("ue", "u"))


def normalize(text: object) -> str:
    """Lower-case ASCII form of a German place text for matching.

    Case, ß/ss, umlauts (ä, ae and a are one letter here), accents, "Str."/"Straße",
    separated street words ("Goethe Straße", "Goethe-Straße" = "Goethestraße") and
    punctuation do not matter; words are separated by one space.
    """
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    s = unicodedata.normalize("NFC", str(text)).casefold()  # casefold: ß -> ss
    s = "".join(ch for ch in unicodedata.normalize("NFKD", s) if not unicodedata.combining(ch))  # ä -> a
    for pattern, repl in _ABBREVIATIONS:
        s = pattern.sub(repl, s)
    s = re.sub(r"[^\w]+", " ", s).replace("_", " ")
    for a, b in _FOLD:
        s = s.replace(a, b)
    s = re.sub(r"\s+", " ", s).strip()
    return _JOIN.sub(lambda m: m.group(0) if m.group(1) in _NO_JOIN else m.group(1) + m.group(2), s)


@dataclass(frozen=True)
class Gazetteer:
    """Entries (one row per place or district: ``entry``, ``kind``, ``name``,
    ``place_id``, ``district_id``) and their normalised aliases (``entry``,
    ``alias``, ``tokens``)."""

    entries: pd.DataFrame
    aliases: pd.DataFrame

    def district_of(self, entry: int) -> str:
        return str(self.entries.at[entry, "district_id"])


ENTRY_COLUMNS = ["entry", "kind", "name", "place_id", "district_id"]
EXTRA_COLUMNS = ("name", "kind", "district_id", "aliases")


def read_gazetteer_file(path: str | Path, district_ids) -> pd.DataFrame:
    """Extra gazetteer entries: CSV with ``name;kind;district_id;aliases`` (kind
    ``place`` or ``district``; aliases separated by ``|``). Checked against the
    commune's district ids; German errors name file, row, column and value."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Ortsverzeichnis (Gazetteer) der Befragung")
    df = pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("name", "kind", "district_id") if c not in df.columns]
    if missing:
        raise InputError(Problem(file=str(path), column=", ".join(missing),
                                 expected="Spalten name;kind;district_id;aliases (aliases darf fehlen)"))
    if "aliases" not in df.columns:
        df["aliases"] = ""
    known = {str(d) for d in district_ids}
    problems = []
    for i, r in df.iterrows():
        row = int(i) + 2
        if not r["name"].strip():
            problems.append(Problem(file=str(path), row=row, column="name", value=r["name"],
                                    expected="Name des Ortes oder Stadtteils"))
        if r["kind"].strip() not in (PLACE, DISTRICT):
            problems.append(Problem(file=str(path), row=row, column="kind", value=r["kind"],
                                    expected="'place' (Ort) oder 'district' (Stadtteil)"))
        if r["district_id"].strip() not in known:
            problems.append(Problem(file=str(path), row=row, column="district_id", value=r["district_id"],
                                    expected="Stadtteil-Nr. aus der Stadtteildatei (" + ", ".join(sorted(known)) + ")"))
    if problems:
        raise InputError(problems)
    return df[list(EXTRA_COLUMNS)].apply(lambda c: c.str.strip())


def build_gazetteer(districts: Mapping[str, str], places: pd.DataFrame | None = None,
                    extra: pd.DataFrame | None = None) -> Gazetteer:
    """The commune's gazetteer: every district (id -> name), every named place of
    stage 1's places table (place_id, name, district_id) and the ``extra`` rows
    (:func:`read_gazetteer_file`): a row whose name and district are those of a known
    place or district adds its aliases there, any other row is a new entry (place id
    ``G<row>``; the same name in two districts makes two entries, an answer naming it
    is ambiguous)."""
    entries: list[dict] = []
    alias_rows: list[tuple[int, str]] = []

    def add(kind, name, place_id, district_id) -> int:
        entries.append({"entry": len(entries), "kind": kind, "name": str(name), "place_id": place_id,
                        "district_id": str(district_id)})
        alias_rows.append((len(entries) - 1, normalize(name)))
        return len(entries) - 1

    for did, name in districts.items():
        add(DISTRICT, name, "", did)
    if places is not None:
        for _, r in places.iterrows():
            add(PLACE, r["name"], str(r["place_id"]), r["district_id"])
    if extra is not None:
        for i, r in extra.reset_index(drop=True).iterrows():
            key = normalize(r["name"])
            same = [e for e in entries if e["kind"] == r["kind"] and normalize(e["name"]) == key
                    and e["district_id"] == str(r["district_id"])]
            entry = same[0]["entry"] if same else add(r["kind"], r["name"], f"G{i + 1:03d}" if r["kind"] == PLACE
                                                      else "", r["district_id"])
            for alias in str(r.get("aliases") or "").split("|"):
                if alias.strip():
                    alias_rows.append((entry, normalize(alias)))
    e = pd.DataFrame(entries, columns=ENTRY_COLUMNS)
    a = pd.DataFrame(alias_rows, columns=["entry", "alias"]).drop_duplicates()
    a = a[a["alias"] != ""].reset_index(drop=True)
    a["tokens"] = a["alias"].str.split().str.len()
    return Gazetteer(entries=e, aliases=a)


MATCH_COLUMNS = ["answer", "entry", "kind", "place_id", "district_id", "score", "status", "start", "stop"]


@dataclass(frozen=True)
class MatchResult:
    """``matches``: one row per matched or doubtful span (MATCH_COLUMNS; ``answer`` is the
    position of the answer in the input, ``start``/``stop`` word positions in the
    normalised answer); ``answers``: per answer position ``status`` and ``n_matched``
    (accepted matches). Numbers and codes only."""

    matches: pd.DataFrame
    answers: pd.DataFrame


def _spans(tokens: list[str], max_len: int) -> list[tuple[int, int, str]]:
    return [(i, j, " ".join(tokens[i:j])) for i in range(len(tokens))
            for j in range(i + 1, min(len(tokens), i + max_len) + 1)]


def match_answers(texts, gazetteer: Gazetteer, *, threshold: float = DEFAULT_THRESHOLD,
                  review_min: float = DEFAULT_REVIEW_MIN,
                  ambiguity_margin: float = DEFAULT_AMBIGUITY_MARGIN) -> MatchResult:
    """Match each answer (a sequence of texts; empty answers are skipped) to the gazetteer.

    For each alias of k words, word windows of k-1 to k+1 words of the answer are
    scored with ``rapidfuzz.fuzz.token_sort_ratio`` or ``fuzz.ratio``, the higher (0-100). Candidates at or above
    ``threshold`` are accepted best first (ties: more words first), skipping
    windows that overlap an accepted one. An accepted match is *ambiguous* when a
    different entry (not the district of the same place) scores within
    ``ambiguity_margin`` on an overlapping window of at least as many words. An
    answer without accepted match whose best candidate reaches ``review_min`` is
    *low_score*. Answer status: ambiguous > low_score > matched > unmatched.
    """
    if not 0 <= review_min <= threshold <= 100:
        raise ValueError("0 <= review_min <= threshold <= 100 verlangt")
    texts = list(texts)
    aliases = gazetteer.aliases
    alias_text = aliases["alias"].tolist()
    alias_entry = aliases["entry"].to_numpy()
    alias_len = aliases["tokens"].to_numpy()
    kinds = gazetteer.entries["kind"].to_numpy()
    place_ids = gazetteer.entries["place_id"].to_numpy()
    dists = gazetteer.entries["district_id"].astype(str).to_numpy()
    max_len = int(alias_len.max()) + 1 if len(alias_len) else 1
    rows, answers = [], []
    for pos, text in enumerate(texts):
        norm = normalize(text) if isinstance(text, str) else ""
        if not norm:
            continue
        tokens = norm.split()
        spans = _spans(tokens, max_len)
        if not spans or not alias_text:
            answers.append((pos, UNMATCHED, 0))
            continue
        windows = [s[2] for s in spans]
        # token_sort_ratio forgives word order, but a typo can move a word in the sorted order;
        # the plain ratio of the words as written covers that case
        scores = np.maximum(
            process.cdist(windows, alias_text, scorer=fuzz.token_sort_ratio, score_cutoff=review_min,
                          dtype=np.float32),
            process.cdist(windows, alias_text, scorer=fuzz.ratio, score_cutoff=review_min, dtype=np.float32))
        width = np.array([s[1] - s[0] for s in spans])
        fits = np.abs(width[:, None] - alias_len[None, :]) <= 1
        scores = np.where(fits & (scores >= review_min), scores, 0.0)
        # candidates: (score, words of the alias, span, entry, letters of the alias); the best
        # explains most of the answer: score x alias length (so "Treppenweg Äußere Neustadt" with a
        # typo beats the exact district name inside it)
        cand = [(float(scores[i, k]), int(alias_len[k]), spans[i][0], spans[i][1], int(alias_entry[k]),
                 len(alias_text[k])) for i, k in zip(*np.nonzero(scores))]
        cand.sort(key=lambda c: (-c[0] * c[5], -c[0], -(c[3] - c[2]), c[2], c[4]))
        taken: list[tuple[int, int]] = []
        accepted: list[tuple] = []
        status_set = set()
        for c in cand:
            score, words, a, b, entry, _ = c
            if score < threshold:
                continue
            if any(a < y and x < b for x, y in taken):
                continue
            taken.append((a, b))
            rival = any(
                r[4] != entry and r[0] >= max(threshold, score - ambiguity_margin) and r[1] >= words
                and r[2] < b and a < r[3]
                and not (kinds[r[4]] == DISTRICT and dists[r[4]] == dists[entry])
                and not (kinds[entry] == DISTRICT and dists[r[4]] == dists[entry])
                for r in cand)
            status = AMBIGUOUS if rival else MATCHED
            status_set.add(status)
            accepted.append((entry, score, status, a, b))
        if not accepted and cand:
            best = max(cand, key=lambda c: c[0])
            accepted.append((best[4], best[0], LOW_SCORE, best[2], best[3]))
            status_set.add(LOW_SCORE)
        for entry, score, status, a, b in accepted:
            rows.append((pos, entry, kinds[entry], place_ids[entry], dists[entry], score, status, a, b))
        n_ok = sum(1 for r in accepted if r[2] == MATCHED)
        answer_status = next((s for s in (AMBIGUOUS, LOW_SCORE, MATCHED) if s in status_set), UNMATCHED)
        answers.append((pos, answer_status, n_ok))
    matches = pd.DataFrame(rows, columns=MATCH_COLUMNS)
    matches["score"] = matches["score"].astype(float).round(1)
    return MatchResult(matches=matches,
                       answers=pd.DataFrame(answers, columns=["answer", "status", "n_matched"]))


def count_mentions(result: MatchResult, gazetteer: Gazetteer) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Respondents (answers) mentioning each place and each district, from accepted
    (status ``matched``) matches: a district counts an answer that names the district
    or any place in it, once. Returns (places: place_id, district_id, name, mentions;
    districts: district_id, name, mentions; status counts: answers by answer status
    plus ``answers``)."""
    ok = result.matches[result.matches["status"] == MATCHED]
    e = gazetteer.entries
    places = e[e["kind"] == PLACE][["place_id", "district_id", "name"]].reset_index(drop=True)
    per_place = ok[ok["kind"] == PLACE].drop_duplicates(["answer", "place_id"]).groupby("place_id").size()
    places["mentions"] = places["place_id"].map(per_place).fillna(0).astype(int)
    districts = e[e["kind"] == DISTRICT][["district_id", "name"]].reset_index(drop=True)
    per_district = ok.drop_duplicates(["answer", "district_id"]).groupby("district_id").size()
    districts["mentions"] = districts["district_id"].map(per_district).fillna(0).astype(int)
    status = result.answers["status"].value_counts()
    counts = {s: int(status.get(s, 0)) for s in ANSWER_STATUSES}
    counts["answers"] = int(len(result.answers))
    return places, districts, counts


__all__ = ["AMBIGUOUS", "ANSWER_STATUSES", "DISTRICT", "Gazetteer", "LOW_SCORE", "MATCHED", "MatchResult", "PLACE",
           "UNMATCHED", "build_gazetteer", "count_mentions", "match_answers", "normalize", "read_gazetteer_file"]
