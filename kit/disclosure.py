"""Disclosure control for everything that leaves the kit.

Rules (``params/defaults.yaml`` -> ``privacy``):

- no share or mean on a base of fewer than ``min_base`` respondents;
- no share for a cell with fewer than ``min_cell`` respondents, and no such
  count shown (``n_cell`` / ``n_unweighted`` blanked);
- secondary suppression, so a suppressed cell cannot be recovered by
  subtraction: in a distribution (shares add up to 1) with exactly one
  suppressed cell the next smallest cell is suppressed too; for a
  multiple-choice option the "not ticked" complement counts as a cell, so an
  option ticked by all but a few respondents is suppressed as well;
- free text never leaves the kit: only counts of answers that mention a
  keyword (e.g. a district name), small counts suppressed.

Not covered: differencing between overlapping groups (e.g. "Gesamt" minus all
published districts). Reports should show either the overall result or a
complete split, or keep groups large.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd


def apply_disclosure(tidy: pd.DataFrame, min_cell: int = 5, min_base: int = 30,
                     secondary: bool = True) -> pd.DataFrame:
    """Suppress estimates on small bases and small cells (tidy format of
    :mod:`kit.survey.estimates`); returns a new frame with ``suppressed`` set."""
    df = tidy.copy().reset_index(drop=True)
    n = pd.to_numeric(df["n_unweighted"], errors="coerce").astype(float)
    cell = pd.to_numeric(df["n_cell"], errors="coerce").astype(float)
    is_mean = (df["kind"] == "mean").to_numpy()
    small_base = ~(n >= min_base)  # NaN counts as small
    small_cell = ~(cell >= min_cell) & ~is_mean
    blank_cell = small_cell.copy()
    primary = small_base | small_cell
    if secondary:
        is_multi = (df["kind"] == "multi").to_numpy()
        complement_small = is_multi & ((n - cell) < min_cell)
        primary = primary | complement_small
        blank_cell = blank_cell | complement_small
        keys = ["item", "group_var", "group"]
        dist = df["kind"].isin(["distribution"]).to_numpy()
        for _, idx in df[dist].groupby(keys, sort=False).groups.items():
            idx = list(idx)
            block = primary.loc[idx]
            if small_base.loc[idx].any():
                continue  # the whole block is suppressed already
            if int(block.sum()) == 1 and len(idx) > 1:
                others = [i for i in idx if not primary.loc[i]]
                nxt = min(others, key=lambda i: (cell.loc[i], i))
                primary.loc[nxt] = True
                blank_cell.loc[nxt] = True
    df.loc[primary, ["estimate", "lower", "upper"]] = np.nan
    df["suppressed"] = primary.to_numpy() | df["suppressed"].fillna(False).astype(bool).to_numpy()
    df["n_cell"] = pd.array(np.where(blank_cell, np.nan, cell), dtype="Float64").round().astype("Int64")
    small_n = ~(n >= min_cell)
    df["n_unweighted"] = pd.array(np.where(small_n, np.nan, n), dtype="Float64").round().astype("Int64")
    df.loc[small_n, ["weighted_base", "n_eff"]] = np.nan
    return df


# ---------------------------------------------------------------------------
# free text
# ---------------------------------------------------------------------------

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", str(text)).casefold().translate(_UMLAUTS)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text).strip()


def district_keywords(districts: Mapping[str, str]) -> dict[str, list[str]]:
    """Keyword lists for :func:`free_text_summary` from district_id -> name."""
    return {str(name): [str(name)] for name in districts.values()}


def free_text_summary(texts: pd.Series, keywords: Mapping[str, Sequence[str]] | Sequence[str],
                      min_cell: int = 5, min_base: int = 30) -> pd.DataFrame:
    """Count free-text answers that mention each topic; never returns the answers.

    ``keywords``: topic -> list of keywords (or a plain list, one topic per
    keyword). A keyword matches at the start of a word, ignoring case, umlaut
    spelling (ä/ae, ß/ss) and accents; "Hundekot" also matches "Hundekots".
    Columns: topic, mentions (respondents), share (of respondents who wrote
    something), suppressed. Counts below ``min_cell`` are blanked and shares
    on fewer than ``min_base`` answers are not given. The last two rows give
    all answers and the answers that mention no topic.
    """
    if not isinstance(keywords, Mapping):
        keywords = {str(k): [str(k)] for k in keywords}
    answers = [
        _norm(t) for t in pd.Series(texts, dtype=object).tolist()
        if isinstance(t, str) and t.strip()
    ]
    n = len(answers)
    patterns = {
        topic: re.compile("|".join(r"(?<!\w)" + re.escape(_norm(k)) for k in words if str(k).strip()))
        for topic, words in keywords.items() if any(str(k).strip() for k in words)
    }
    matched_any = np.zeros(n, dtype=bool)
    rows = []
    for topic, pattern in patterns.items():
        hits = np.array([bool(pattern.search(a)) for a in answers], dtype=bool)
        matched_any |= hits
        rows.append((topic, int(hits.sum())))
    rows.append(("Antworten insgesamt", n))
    rows.append(("ohne Zuordnung", int((~matched_any).sum())))
    out = []
    for topic, count in rows:
        suppressed = count < min_cell
        share = np.nan if (suppressed or n < min_base or n == 0) else count / n
        out.append({"topic": topic, "mentions": None if suppressed else count, "share": share,
                    "suppressed": suppressed})
    df = pd.DataFrame(out, columns=["topic", "mentions", "share", "suppressed"])
    df["mentions"] = df["mentions"].astype("Int64")
    df["share"] = df["share"].astype(float)
    return df


__all__ = ["apply_disclosure", "district_keywords", "free_text_summary"]
