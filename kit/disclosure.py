"""Disclosure control: the one place that knows the small-number rule.

Every table that leaves memory (result CSV/JSON, report tables, figures,
executed notebooks, widgets) passes through a :class:`DisclosurePolicy`,
built from ``params["privacy"]`` by :func:`policy_from_params`:

- no count of fewer than ``min_cell`` persons is published (survey cells,
  returns, sample counts, free-text mentions, small resident counts); for
  survey cells a zero counts as small, for register counts it does not;
- no share or mean on a base of fewer than ``min_base`` respondents, and on
  such a base no cell counts either (count / base is the share);
- a share is a count when its base is known (share x base = count), so a
  suppressed row publishes neither estimate, interval nor count;
- complementary suppression: published cells, bases, margins and collapsed
  categories of the same table (item x group, margin, district row ...) form
  linear relations; after the primary suppression further cells are hidden
  until no hidden cell is determined by them (:func:`protect`, exact over the
  non-negative reals, i.e. what a linear-programming attacker can recover);
- in the survey estimates the groups of one breakdown are linked to the whole
  sample as well: for every item, answer category and base, "Gesamt" = sum of
  the groups (districts, age groups, sexes) + the respondents without a value
  of the breakdown (unpublished, >= 0, exactly 0 when the bases show it), all
  breakdowns of an item in one problem (e.g. Gesamt 44 minus the published age
  groups 44 can no longer give a hidden 75+ cell of 0);
- the respondents without a group value (no sex, age group or district stated)
  are never shown as a group, and their small counts (a zero included, when
  there are any such respondents) may not follow from Gesamt minus the groups
  either: they are primary cells of the unpublished block. Before the joint
  check, for each such count a cheap "rectangle" is hidden (:func:`_seed_unpublished`:
  two cells of one group, usually small ones hidden already, so that the count
  can move against another category), then :func:`protect` verifies exactly and
  fixes what is left. In the demo communes this hides about 170-210 more rows
  each (mostly cells of the sex and age groups; muldenau 1018 -> 1227,
  elsterhain 1136 -> 1324, elbstadt 1714 -> 1886) at no noticeable cost in
  time (about 1-2 s per commune as before); where Gesamt is published, every
  such category needs a hidden cell in some group anyway;
- free text never leaves the kit: only counts of answers that mention a
  keyword (e.g. a district name), small counts suppressed.

Since the relations are linear and only the zero pattern of the true counts
matters for what is determined, the guarantee carries over to the weighted
counts (share x weighted base) when all weights are positive.

Not covered: relations between different tables or items of overlapping
groups (e.g. a district's base in one item against the district question's
own answer counts, the "fehlend" row of the sample counts against the
respondents without an age group in an item, a crime-fear share against the
estimates). Reports should keep groups large; ``min_base`` makes single small
groups unreadable as shares.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

_EPS = 1e-9


# ---------------------------------------------------------------------------
# the policy
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DominanceRule:
    """(n, k) dominance rule for magnitude tables (e.g. amounts): a cell is
    sensitive when its ``n`` largest contributors make up more than ``k`` of
    its total. Placeholder: the kit publishes no magnitude tables yet."""

    n: int = 1
    k: float = 0.85


@dataclass(frozen=True)
class DisclosurePolicy:
    min_cell: int = 5
    min_base: int = 30
    dominance: DominanceRule | None = None

    # -- elementary rules ------------------------------------------------
    def small_count(self, count, zero_is_small: bool = True) -> bool:
        """True if ``count`` may not be published (NaN counts as small)."""
        if count is None or pd.isna(count):
            return True
        c = float(count)
        if not zero_is_small and c == 0:
            return False
        return c < self.min_cell

    def base_ok(self, n) -> bool:
        """A share or mean may be given on a base of ``n`` respondents."""
        return n is not None and not pd.isna(n) and float(n) >= self.min_base

    def share_ok(self, n_cell, n) -> bool:
        """A share n_cell / n may be given on its own (cell, complement and base large enough)."""
        return (self.base_ok(n) and not self.small_count(n_cell)
                and not self.small_count(float(n) - float(n_cell)))

    def count_or_na(self, count, zero_is_small: bool = True):
        return pd.NA if self.small_count(count, zero_is_small) else count

    # -- cleaning log of the survey -----------------------------------------
    def cleaning_log(self, log: pd.DataFrame) -> tuple[pd.DataFrame, int | None]:
        """The survey's cleaning log with small counts of questionnaires hidden.

        A count of 1 to min_cell-1 affected questionnaires (a duplicate, an invalid
        code) is blanked together with its number of values; 0 is published (it
        names nobody). When the number of removed questionnaires is hidden, the
        number received is hidden too, since received minus analysed would give it
        back. Returns the log (columns as given plus ``suppressed``) and the number
        of questionnaires received that may be published (None when hidden).
        """
        out = log.copy().reset_index(drop=True)
        cases = pd.to_numeric(out["cases"], errors="coerce")
        hidden = np.array([self.small_count(c, zero_is_small=False) for c in cases])
        by_rule = dict(zip(out["rule"], cases))
        dropped_hidden = self.small_count(by_rule.get("cases_dropped", 0), zero_is_small=False)
        if dropped_hidden:
            hidden |= out["rule"].isin(["records_in", "cases_dropped"]).to_numpy()
        if "removed" in out.columns:  # removed numbers by rule add up to cases_dropped (kit.survey.cleaning)
            hidden = self._removed_complement(out, cases, hidden)
        out["cases"] = _int_na(np.where(hidden, np.nan, cases))
        for col in ("values", "removed"):
            if col in out.columns:
                out[col] = _int_na(np.where(hidden, np.nan, pd.to_numeric(out[col], errors="coerce")))
        out["suppressed"] = hidden
        received = by_rule.get("records_in")
        records_hidden = bool(hidden[(out["rule"] == "records_in").to_numpy()].any())
        return out, (None if dropped_hidden or records_hidden or received is None or pd.isna(received)
                     else int(received))

    def _removed_complement(self, log: pd.DataFrame, cases: pd.Series, hidden: np.ndarray) -> np.ndarray:
        """Complementary suppression over received = analysed + removed and removed = sum of
        the cases each rule removed (column ``removed``): no hidden number may be recomputed
        from the published ones (e.g. removed 8 minus 7 empty questionnaires = 1 duplicate)."""
        rule = log["rule"].astype(str).to_numpy()
        removed = pd.to_numeric(log["removed"], errors="coerce").fillna(0).to_numpy(dtype=float)
        removes = (log["removes"].fillna(False).astype(bool).to_numpy() if "removes" in log.columns
                   else removed > 0)
        pos = {r: i for i, r in enumerate(rule)}
        if not {"records_in", "cases_dropped", "cases_out"} <= set(pos):
            return hidden
        values = [float(v) if not pd.isna(v) else 0.0 for v in cases]
        primary = list(hidden)
        cost = list(values)
        for i in np.flatnonzero(removes):
            values[i] = removed[i]  # the row's variable in the relation is the number it removed
            primary[i] = bool(hidden[i]) or self.small_count(removed[i], zero_is_small=False)
        cost[pos["records_in"]], cost[pos["cases_dropped"]], cost[pos["cases_out"]] = 1e9, 1e6, np.inf
        relations = [{pos["records_in"]: 1.0, pos["cases_out"]: -1.0, pos["cases_dropped"]: -1.0},
                     {pos["cases_dropped"]: 1.0, **{int(i): -1.0 for i in np.flatnonzero(removes)}}]
        return np.asarray(protect(values, relations, primary, None, cost), dtype=bool)

    # -- survey estimates (tidy format of kit.survey.estimates) -------------
    def survey_estimates(self, tidy: pd.DataFrame) -> pd.DataFrame:
        """Disclosure control of tidy survey estimates; returns a new frame.

        A block is one item x group (with one base): its distribution cells,
        the collapsed categories ("3+4") and key-indicator rows (kind "key",
        category "1+2"), or one multiple-choice option (ticked / not ticked),
        or one mean. Hidden rows keep no estimate, interval or count; a hidden
        base blanks ``n_unweighted``, ``weighted_base`` and ``n_eff`` (and the
        ``n_cell`` of a mean, which is its base).

        The blocks of one item are protected together: the whole-sample block
        (``group_var`` empty, group "Gesamt") and the groups of every breakdown
        (``group_var`` sex, age_group, district question ...) are linked by
        Gesamt = sum of the groups + the respondents without a group value, for
        every category count and the base (:meth:`_survey_item`); the small counts
        of the respondents without a group value are protected like hidden cells.
        """
        df = tidy.copy().reset_index(drop=True)
        n = pd.to_numeric(df["n_unweighted"], errors="coerce").astype(float)
        cell = pd.to_numeric(df["n_cell"], errors="coerce").astype(float)
        hide_row = np.zeros(len(df), dtype=bool)
        hide_base = np.zeros(len(df), dtype=bool)
        group_var = df["group_var"].fillna("").astype(str)
        keys = [df["item"].astype(str), group_var, df["group"].astype(str), n.fillna(-1.0)]
        kinds_all = df["kind"].to_numpy()
        cats_all = df["category"].astype(str).to_numpy()
        cells_all = cell.to_numpy()
        by_item: dict[str, list[tuple[str, np.ndarray]]] = {}
        for key, idx in df.groupby(keys, sort=False).indices.items():
            by_item.setdefault(key[0], []).append((key[1], idx))
        for blocks in by_item.values():
            specs = [(gv, idx, kinds_all[idx], cats_all[idx], float(n.iloc[idx[0]]), cells_all[idx])
                     for gv, idx in blocks]
            for (gv, idx, *_), (rows, base) in zip(specs, self._survey_item(specs)):
                hide_row[idx] = rows
                hide_base[idx] = base
        df.loc[hide_row, ["estimate", "lower", "upper"]] = np.nan
        df["suppressed"] = hide_row | df["suppressed"].fillna(False).astype(bool).to_numpy()
        mean_base = hide_base & (kinds_all == "mean")  # a mean's n_cell is its base
        df["n_cell"] = _int_na(np.where(df["suppressed"].to_numpy() | mean_base, np.nan, cell))
        df["n_unweighted"] = _int_na(np.where(hide_base, np.nan, n))
        df.loc[hide_base, ["weighted_base", "n_eff"]] = np.nan
        return df

    def _survey_item(self, specs) -> list[tuple[np.ndarray, bool]]:
        """Hidden rows and base of every block of one item (``specs``: group_var, index,
        kinds, categories, base, cells per block), solved as one problem.

        Within a block: the relations of :meth:`_survey_block`. Between the blocks: for
        every breakdown whose groups have the categories of the whole-sample block,
        Gesamt(v) = sum over groups g of g(v) + m(v) for every category count v and the
        base, where m is a block of unpublished counts (respondents without a value of
        the breakdown) with the same within-block relations (m >= 0; m = 0 when the
        bases show that every respondent has a group). A breakdown whose counts exceed
        the whole sample somewhere (groups that overlap) gets no such relation.
        """
        prob = _Problem()
        models, spans = [], []
        for _, _, kinds, cats, base, cells in specs:
            start = (len(prob.values), len(prob.relations))
            models.append(self._survey_block(kinds, cats, base, cells, prob))
            spans.append((start, (len(prob.values), len(prob.relations))))
        # each block alone first (small problems); the joint problem below starts from there
        hidden = np.asarray(prob.primary, dtype=bool) | ~np.asarray(prob.publishable, dtype=bool)
        for (v0, r0), (v1, r1) in spans:
            if r1 > r0 and any(prob.primary[v0:v1]):
                rels = [{j - v0: a for j, a in rel.items()} for rel in prob.relations[r0:r1]]
                hidden[v0:v1] = protect(prob.values[v0:v1], rels, prob.primary[v0:v1], prob.publishable[v0:v1],
                                        prob.cost[v0:v1])
        n_block_relations = len(prob.relations)
        breakdowns = []  # (respondents without a group value, the groups) per linked breakdown
        overall = [i for i, (gv, *_) in enumerate(specs) if gv == ""]
        if len(overall) == 1:
            o = models[overall[0]]
            _, _, o_kinds, o_cats, _, _ = specs[overall[0]]
            for gv in dict.fromkeys(gv for gv, *_ in specs if gv != ""):
                groups = [models[i] for i, s in enumerate(specs) if s[0] == gv]
                # the categories (and the base) must be those of the whole sample in every group;
                # a standalone share (a key row without its categories) adds up only where
                # every group has it
                if any({k for k in g.atoms if k[0] != "standalone"} != {k for k in o.atoms if k[0] != "standalone"}
                       for g in groups):
                    continue
                common = [key for key in o.atoms if all(key in g.atoms for g in groups)]
                rest = {key: prob.values[o.atoms[key]] - sum(prob.values[g.atoms[key]] for g in groups)
                        for key in common}
                if min(rest.values()) < -_EPS:
                    continue
                keep = [i for i, v in enumerate(o.rows) if any(o.atoms[key] == v for key in common)]
                atom_of = {v: key for key, v in o.atoms.items()}
                m = self._survey_block(o_kinds[keep], o_cats[keep], rest[("base", "")],
                                       np.array([rest[atom_of[o.rows[i]]] for i in keep]), prob, unpublished=True)
                for key in common:
                    prob.relations.append({o.atoms[key]: 1.0, m.atoms[key]: -1.0,
                                           **{g.atoms[key]: -1.0 for g in groups}})
                breakdowns.append((m, groups))
        nb = len(hidden)
        pub = np.asarray(prob.publishable, dtype=bool)
        prim = np.asarray(prob.primary, dtype=bool)
        # what each block hid must stay undetermined in the joint problem too: start from there
        start = prim.copy()
        start[:nb] |= hidden & pub[:nb]
        for m, groups in breakdowns:
            _seed_unpublished(prob, start, m, groups)
        if len(prob.relations) > n_block_relations and start.any():
            hidden = protect(prob.values, prob.relations, start, pub, prob.cost)
        return [(hidden[b.rows] if len(b.rows) else b.fixed_rows,
                 bool(hidden[b.base]) if b.base is not None else b.fixed_base) for b in models]

    def _survey_block(self, kinds, cats, n: float, cells, prob: "_Problem | None" = None,
                      unpublished: bool = False):
        """The variables and relations of one block, added to ``prob``; without ``prob``
        the block alone is protected (hidden rows, hidden base). ``unpublished``: a
        block of counts that are never shown (no primary suppression, never hidden as
        a complement), e.g. the respondents without a group."""
        alone = prob is None
        prob = _Problem() if alone else prob
        r = len(kinds)
        base_small = self.small_count(n)
        if not self.base_ok(n):
            primary_rows = np.ones(r, dtype=bool)
        else:
            primary_rows = np.array([k != "mean" and self.small_count(c) for k, c in zip(kinds, cells)])
        if unpublished:  # no one is shown, but a small count of these few must not follow either
            primary_rows = np.array([k != "mean" and not pd.isna(n) and n > 0 and self.small_count(c)
                                     for k, c in zip(kinds, cells)], dtype=bool)
            base_small = False
        model = _BlockModel(rows=np.arange(0), base=None, atoms={}, fixed_rows=primary_rows, fixed_base=base_small)
        if all(k == "mean" for k in kinds):
            if not alone:  # the base still adds up over the groups
                nv = 0.0 if pd.isna(n) else float(n)
                model.base = prob.add(nv, base_small, not unpublished, np.inf if unpublished else 1e9 + nv)
                model.atoms[("base", "")] = model.base
                # a mean row is hidden when its base is too small (not a count: not in relations)
            return (primary_rows, base_small) if alone else model
        o = len(prob.values)
        for v, c, k, p in zip(cells, cats, kinds, primary_rows):
            v = 0.0 if pd.isna(v) else float(v)
            prob.add(v, bool(p), not unpublished, np.inf if unpublished else
                     v + (0.0 if "+" not in str(c) and k in ("distribution", "multi") else
                          (2e6 if k == "key" else 1e6)))
        nv = 0.0 if pd.isna(n) else float(n)
        base_var = prob.add(nv, base_small, not unpublished, np.inf if unpublished else 1e9 + nv)
        values = prob.values
        model.rows = np.arange(o, o + r)
        model.base = base_var
        model.atoms[("base", "")] = base_var

        code_var = {c: o + i for i, (k, c) in enumerate(zip(kinds, cats))
                    if k in ("distribution", "multi") and "+" not in c}
        dist = [o + i for i, k in enumerate(kinds) if k == "distribution" and "+" not in cats[i]]
        for i, k in enumerate(kinds):
            if k in ("distribution", "multi") and "+" not in cats[i]:
                model.atoms[(k, str(cats[i]))] = o + i
        model.dist = dist
        if dist:
            rel = {base_var: 1.0, **{i: -1.0 for i in dist}}
            rest = values[base_var] - sum(values[i] for i in dist)
            if abs(rest) > _EPS or unpublished:
                model.rest = prob.add(max(rest, 0.0), False, False, np.inf)
                rel[model.rest] = -1.0
            prob.relations.append(rel)
        for i, k in enumerate(kinds):
            if k == "mean":
                continue
            if k == "multi":
                comp = values[base_var] - values[o + i]
                model.comp[o + i] = prob.add(comp, self.small_count(comp) and not unpublished, False, np.inf)
                prob.relations.append({base_var: 1.0, o + i: -1.0, model.comp[o + i]: -1.0})
            elif k in ("collapsed", "key") or "+" in cats[i]:
                parts = [code_var.get(c) for c in cats[i].split("+")]
                if parts and all(p is not None and p != o + i for p in parts):
                    rel = {o + i: 1.0}
                    for p in parts:
                        rel[p] = rel.get(p, 0.0) - 1.0
                    prob.relations.append(rel)
                    model.sums[o + i] = set(parts)
                else:  # standalone share: cell and its complement within the base
                    model.atoms[("standalone", k, str(cats[i]))] = o + i
                    comp = values[base_var] - values[o + i]
                    model.comp[o + i] = prob.add(comp, self.small_count(comp) and not unpublished, False, np.inf)
                    prob.relations.append({base_var: 1.0, o + i: -1.0, model.comp[o + i]: -1.0})
        if not alone:
            return model
        hidden = protect(prob.values, prob.relations, prob.primary, prob.publishable, prob.cost)
        return hidden[:r], bool(hidden[base_var])

    # -- other survey tables --------------------------------------------------
    def response_rates(self, df: pd.DataFrame) -> pd.DataFrame:
        """Returns (``returned``) and rates by margin (``margin`` "gesamt" = total row);
        the categories of every margin add up to the total. ``issued`` (persons
        written to) is not about respondents and stays."""
        df = df.copy().reset_index(drop=True)
        hidden = self._margin_hidden(df, "returned", total_margin="gesamt")
        df["returned"] = _int_na(np.where(hidden, np.nan, pd.to_numeric(df["returned"], errors="coerce")))
        df.loc[hidden, "rate"] = np.nan
        return df

    def sample_vs_population(self, df: pd.DataFrame, respondents: int) -> pd.DataFrame:
        """Respondents by weighting margin (``sample_n``, shares); within a margin the
        categories (incl. "fehlend") add up to ``respondents``, which is published."""
        df = df.copy().reset_index(drop=True)
        total = pd.DataFrame({"margin": ["__total__"], "sample_n": [respondents]})
        both = pd.concat([total, df[["margin", "sample_n"]]], ignore_index=True)
        hidden = self._margin_hidden(both, "sample_n", total_margin="__total__")[1:]
        df["sample_n"] = _int_na(np.where(hidden, np.nan, pd.to_numeric(df["sample_n"], errors="coerce")))
        df.loc[hidden, ["sample_share", "weighted_share"]] = np.nan
        return df

    def _margin_hidden(self, df: pd.DataFrame, col: str, total_margin: str) -> np.ndarray:
        values = [float(v) if pd.notna(v) else 0.0 for v in pd.to_numeric(df[col], errors="coerce")]
        primary = [self.small_count(v) for v in pd.to_numeric(df[col], errors="coerce")]
        publishable = [True] * len(values)
        totals = np.flatnonzero((df["margin"] == total_margin).to_numpy())
        cost = [v + (1e9 if i in totals else 0.0) for i, v in enumerate(values)]
        relations = []
        if len(totals) == 1:
            t = int(totals[0])
            for margin, idx in df.groupby("margin", sort=False).indices.items():
                if margin == total_margin:
                    continue
                rel = {t: 1.0, **{int(i): -1.0 for i in idx}}
                _add_unknown_remainder(rel, values[t] - sum(values[i] for i in idx),
                                       values, primary, publishable, cost)
                relations.append(rel)
        return protect(values, relations, primary, publishable, cost)[: len(df)]

    def key_indicator(self, n, n_cell) -> bool:
        """A single share outside any table (cell, complement and base checked)."""
        return self.share_ok(n_cell, n)

    def scales(self, df: pd.DataFrame) -> pd.DataFrame:
        """Scale batteries: alpha and ``n_complete`` only on ``min_base`` complete
        answers, the mean index only on ``min_base`` respondents (``index_n``)."""
        df = df.copy()
        small = ~pd.to_numeric(df["n_complete"], errors="coerce").ge(self.min_base)
        df.loc[small, ["n_complete", "alpha"]] = np.nan
        small = ~pd.to_numeric(df["index_n"], errors="coerce").ge(self.min_base)
        df.loc[small, ["index_mean", "index_lower", "index_upper", "index_n"]] = np.nan
        return df

    def free_text(self, counts: Sequence[tuple[str, int]], n: int, exclusive: bool = False) -> pd.DataFrame:
        """Topic counts of free-text answers. ``counts``: (topic, mentions) with the
        rows "Antworten insgesamt" (= ``n``) and "ohne Zuordnung" last; ``exclusive``:
        no answer mentions two topics, so topics + "ohne Zuordnung" add up to ``n``."""
        values = [float(c) for _, c in counts]
        primary = [self.small_count(v) for v in values]
        relations = []
        if exclusive and len(values) >= 2:
            total = len(values) - 2
            relations.append({total: 1.0, **{i: -1.0 for i in range(len(values)) if i != total}})
        cost = [v + (1e9 if i == len(values) - 2 else 0.0) for i, v in enumerate(values)]
        hidden = protect(values, relations, primary, None, cost)
        out = []
        for (topic, count), h in zip(counts, hidden):
            share = np.nan if (h or not self.base_ok(n) or n == 0) else count / n
            out.append({"topic": topic, "mentions": pd.NA if h else int(count), "share": share,
                        "suppressed": bool(h)})
        df = pd.DataFrame(out, columns=["topic", "mentions", "share", "suppressed"])
        df["mentions"] = df["mentions"].astype("Int64")
        df["share"] = df["share"].astype(float)
        return df

    def place_mentions(self, places: pd.DataFrame, districts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Free-text mentions of places and districts (respondents naming them, kit.gazetteer).

        ``places``: place_id, district_id, mentions; ``districts``: district_id,
        mentions (an answer naming a district or any place in it, once). Small
        counts are hidden, a zero included (as for every survey cell). A district's
        count is at least the sum of its places' counts when no answer names two of
        its places: then district = places + an unpublished remainder >= 0 is a
        relation, and further counts are hidden (on a tie the district rather than
        the place) until no hidden one is determined (:func:`protect`). Returns both
        frames with ``mentions`` blanked where hidden and a ``suppressed`` column."""
        p = places.copy().reset_index(drop=True)
        d = districts.copy().reset_index(drop=True)
        values = [float(v) for v in pd.to_numeric(p["mentions"]).fillna(0)] + \
                 [float(v) for v in pd.to_numeric(d["mentions"]).fillna(0)]
        primary = [self.small_count(v) for v in values]
        publishable = [True] * len(values)
        k = len(p)
        cost = [v + (-0.5 if i >= k else 0.0) for i, v in enumerate(values)]  # ties: keep the place, hide the district
        relations = []
        for j, did in enumerate(d["district_id"].astype(str)):
            idx = [i for i, x in enumerate(p["district_id"].astype(str)) if x == did]
            rest = values[k + j] - sum(values[i] for i in idx)
            if idx and rest >= -_EPS:
                rel = {k + j: 1.0, **{i: -1.0 for i in idx}}
                _add_unknown_remainder(rel, rest, values, primary, publishable, cost)
                relations.append(rel)
        hidden = protect(values, relations, primary, publishable, cost)
        for frame, mask in ((p, hidden[:k]), (d, hidden[k:k + len(d)])):
            frame["suppressed"] = np.asarray(mask, dtype=bool)
            frame["mentions"] = _int_na(np.where(frame["suppressed"], np.nan,
                                                 pd.to_numeric(frame["mentions"]).astype(float)))
        return p, d

    # -- register counts (residents) -------------------------------------------
    def resident_counts(self, table: pd.DataFrame, parts: Sequence[str], total: str,
                        sum_row=None, hide_first: Sequence[str] = ()) -> pd.DataFrame:
        """Which resident counts may not be published: a frame of booleans with the
        columns ``parts`` and ``total``. Every row has ``total = sum(parts)``; with
        ``sum_row`` (an index label) that row is the sum of all other rows. Counts
        between 1 and ``min_cell - 1`` are hidden (a zero names nobody), plus the
        complementary cells that would give them away, taken from the columns
        ``hide_first`` before any other part (e.g. the men's count, which the
        reports do not show, so that the women's share can stay)."""
        cols = [*parts, total]
        vals = table[cols].apply(pd.to_numeric, errors="coerce").astype(float)
        rows = list(table.index)
        k = len(cols)
        var = {(r, c): i * k + j for i, r in enumerate(rows) for j, c in enumerate(cols)}
        values = [0.0 if pd.isna(vals.loc[r, c]) else float(vals.loc[r, c]) for r in rows for c in cols]
        primary = [self.small_count(v, zero_is_small=False) for v in values]
        publishable = [True] * len(values)
        cost = [v + (1e9 if c == total else 0.0 if c in hide_first or not hide_first else 1e6)
                for r in rows for c, v in zip(cols, vals.loc[r])]
        relations = []
        for r in rows:
            relations.append({var[(r, total)]: 1.0, **{var[(r, p)]: -1.0 for p in parts}})
        if sum_row is not None and len(rows) > 1:
            others = [r for r in rows if r != sum_row]
            for c in cols:
                rel = {var[(sum_row, c)]: 1.0, **{var[(r, c)]: -1.0 for r in others}}
                # residents without a district: an unknown remainder
                _add_unknown_remainder(rel, values[var[(sum_row, c)]] - sum(values[var[(r, c)]] for r in others),
                                       values, primary, publishable, cost)
                relations.append(rel)
        hidden = protect(values, relations, primary, publishable, cost)
        mask = np.array(hidden[: len(rows) * k]).reshape(len(rows), k)
        return pd.DataFrame(mask, index=table.index, columns=cols)

    def population_tables(self, totals: pd.DataFrame, by_district: pd.DataFrame,
                          parts: Sequence[str] = ("m", "w", "d")) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Resident counts by sex (commune per year, districts in one year) after
        :meth:`resident_counts`; the district rows and the commune row of their
        year are one table (districts add up to the commune). Shares that
        would give a hidden count back (women's share, shares of a hidden
        total) are blanked as well."""
        totals = totals.copy().reset_index(drop=True)
        by_district = by_district.copy().reset_index(drop=True)
        parts = [p for p in parts if p in totals.columns]
        year = by_district["year"].iloc[0] if len(by_district) and "year" in by_district.columns else None
        for i in totals.index:
            joint = len(by_district) and year is not None and totals.loc[i, "year"] == year
            frame = pd.concat([totals.loc[[i], [*parts, "total"]],
                               by_district[[*parts, "total"]] if joint else None])
            frame.index = ["__commune__"] + ([f"d{j}" for j in by_district.index] if joint else [])
            # the reports show totals and the women's share, not the men's count: hide that first
            mask = self.resident_counts(frame, parts, "total", sum_row="__commune__" if joint else None,
                                        hide_first=("m",))
            _blank_residents(totals, i, mask.loc["__commune__"])
            if joint:
                for j in by_district.index:
                    _blank_residents(by_district, j, mask.loc[f"d{j}"])
        return totals, by_district


    def population_indicators(self, rows: pd.DataFrame, totals: pd.DataFrame,
                              by_district: pd.DataFrame) -> pd.DataFrame:
        """Population indicator rows (``population``, ``population_share_*`` with
        ``count`` = residents in the group, ``base`` = residents of the unit) as they
        may be published beside the tables of :meth:`population_tables` (pass the
        *published* ``totals`` and ``by_district``): a count hidden there (women,
        total) is hidden here too, for the same year and unit, and so is every
        group count of 1 to ``min_cell - 1`` residents or with such a complement
        (base minus count). A hidden row keeps no value and no count."""
        out = rows.copy().reset_index(drop=True)
        if out.empty:
            return out
        pop = out["indicator"].astype(str).str.startswith("population")
        hidden_cols = {}  # (year, district_id) -> {"w": bool, "total": bool}
        for frame, district in ((totals, None), (by_district, "district_id")):
            for _, r in frame.iterrows():
                key = (int(r["year"]), "" if district is None else str(r[district]))
                hidden_cols[key] = {c: c in frame.columns and pd.isna(r[c]) for c in ("w", "total")}
        count = pd.to_numeric(out["count"], errors="coerce").astype(float)
        base = pd.to_numeric(out.get("base"), errors="coerce").astype(float) if "base" in out.columns \
            else pd.Series(np.nan, index=out.index)
        hide = np.zeros(len(out), dtype=bool)
        for i in np.flatnonzero(pop.to_numpy()):
            key = (int(out.at[i, "year"]), str(out.at[i, "district_id"] or ""))
            known = hidden_cols.get(key, {})
            indicator = str(out.at[i, "indicator"])
            if indicator == "population":
                hide[i] = known.get("total", False) or self.small_count(count[i], zero_is_small=False)
                continue
            hide[i] = (known.get("total", False) or (indicator == "population_share_female" and known.get("w", False))
                       or self.small_count(count[i], zero_is_small=False)
                       or self.small_count(base[i] - count[i], zero_is_small=False))
        cols = [c for c in ("value", "lower", "upper") if c in out.columns]
        out.loc[hide, cols] = np.nan
        out["count"] = np.where(hide, np.nan, count)
        return out


@dataclass
class _BlockModel:
    """Where one survey block's counts sit in a :class:`_Problem`."""

    rows: np.ndarray  # variable of each row (empty for a block of means)
    base: int | None  # variable of the base
    atoms: dict  # (kind, category) of each count that adds up over groups, ("base", "") -> variable
    fixed_rows: np.ndarray  # hidden rows of a block of means (not in the problem)
    fixed_base: bool
    dist: list = None  # variables of the single distribution categories
    rest: int | None = None  # unpublished remainder: base minus the distribution categories
    comp: dict = None  # ticked option / standalone share -> its unpublished complement within the base
    sums: dict = None  # collapsed category / key row -> the single categories it adds up

    def __post_init__(self):
        self.dist = [] if self.dist is None else self.dist
        self.comp = {} if self.comp is None else self.comp
        self.sums = {} if self.sums is None else self.sums


@dataclass
class _Problem:
    """Variables and relations for :func:`protect`, built block by block."""

    values: list = None
    primary: list = None
    publishable: list = None
    cost: list = None
    relations: list = None

    def __post_init__(self):
        self.values, self.primary, self.publishable, self.cost, self.relations = [], [], [], [], []

    def add(self, value: float, primary: bool, publishable: bool, cost: float) -> int:
        self.values.append(float(value))
        self.primary.append(bool(primary))
        self.publishable.append(bool(publishable))
        self.cost.append(float(cost))
        return len(self.values) - 1


def _seed_unpublished(prob: _Problem, hidden: np.ndarray, m: _BlockModel, groups: list) -> None:
    """Hide (in ``hidden``) group cells so that every small count of the respondents without a
    group value (``m``, primary in ``prob``) can move, before :func:`protect` checks it.

    For a count m(a) a "rectangle" with one group g and a partner p of a in the same block
    (another answer category, the remainder, or for an option or standalone share its
    complement): m(a) + t, m(p) - t, g(a) - t, g(p) + t keeps every published count (Gesamt,
    the bases, the other groups) and, with g(a) and g(p) hidden and the collapsed categories
    of g that hold only one of them, shows that m(a) is not determined when the signs allow a
    step (t = 1: m(p) > 0 and g(a) > 0; t = -1: m(a) > 0 and g(p) > 0). The cheapest such
    rectangle is hidden (often nothing more: small group cells are hidden already); the
    joint :func:`protect` afterwards verifies everything exactly and fixes what is left."""
    x, cost, pub = prob.values, prob.cost, prob.publishable
    if m.base is None or x[m.base] <= _EPS:
        return
    keys = [key for key, v in m.atoms.items() if key[0] != "base" and prob.primary[v]]
    dist_keys = [key for key in m.atoms if key[0] == "distribution"]
    for key in keys:
        ma = m.atoms[key]
        best, best_cost = None, np.inf
        for g in groups:
            ga = g.atoms[key]
            if key[0] == "distribution":
                options = [(m.atoms[k2], g.atoms[k2]) for k2 in dist_keys if k2 != key]
                if m.rest is not None and g.rest is not None:
                    options.append((m.rest, g.rest))
            elif ma in m.comp and ga in g.comp:
                options = [(m.comp[ma], g.comp[ga])]
            else:
                options = []
            for mp, gp in options:
                up = x[mp] > _EPS and x[ga] > _EPS
                down = x[ma] > _EPS and x[gp] > _EPS
                if not (up or down):
                    continue
                need = {ga, gp} | {s for s, parts in g.sums.items() if (ga in parts) != (gp in parts)}
                need = [v for v in need if not hidden[v]]
                if any(not pub[v] for v in need):
                    continue
                c = sum(cost[v] for v in need)
                if c < best_cost:
                    best, best_cost = need, c
                    if c == 0:
                        break
            if best_cost == 0:
                break
        if best:
            hidden[best] = True


def _blank_residents(df: pd.DataFrame, i, hidden: pd.Series) -> None:
    for col, h in hidden.items():
        if h:
            df[col] = df[col].astype("Int64")
            df.loc[i, col] = pd.NA
    if hidden.get("w", False) or hidden.get("total", False):
        for col in ("share_female_pct",):
            if col in df.columns:
                df.loc[i, col] = np.nan
    if hidden.get("total", False):
        for col in df.columns:
            if col.startswith("share_") or col.startswith("change"):
                df.loc[i, col] = np.nan


def _add_unknown_remainder(rel: dict, rest: float, values: list, primary: list, publishable: list,
                           cost: list) -> None:
    """A total that exceeds the sum of its published parts has an unpublished remainder (e.g.
    a margin category not shown): add it as a variable that is never published, so the
    relation stays exact."""
    if abs(rest) > _EPS:
        values.append(max(rest, 0.0))
        primary.append(False)
        publishable.append(False)
        cost.append(np.inf)
        rel[len(values) - 1] = -1.0


def policy_from_params(params) -> DisclosurePolicy:
    """The policy of a commune, from ``params["privacy"]`` (min_cell, min_base_percent); params
    that leave a key out (partial params, e.g. of a report part built alone) get the value of
    params/defaults.yaml (:func:`kit.params.setting`), never a number written here."""
    from kit.params import setting

    privacy = params.get("privacy") if isinstance(params, Mapping) else getattr(params, "privacy", None)

    def get(key):
        if isinstance(privacy, Mapping):
            value = privacy.get(key)
        else:
            value = getattr(privacy, key, None)
        return setting({}, "privacy", key) if value is None else value

    return DisclosurePolicy(min_cell=int(get("min_cell")), min_base=int(get("min_base_percent")))


def _int_na(values) -> pd.Series:
    return pd.array(np.asarray(values, dtype=float), dtype="Float64").round().astype("Int64")


# ---------------------------------------------------------------------------
# complementary suppression
# ---------------------------------------------------------------------------


def _matrix(relations: Sequence[Mapping[int, float]], k: int) -> np.ndarray:
    A = np.zeros((len(relations), k))
    for i, rel in enumerate(relations):
        for j, a in rel.items():
            A[i, j] += a
    return A


def determined(A: np.ndarray, values: np.ndarray, hidden: np.ndarray, v: int) -> bool:
    """Is hidden variable ``v`` fixed by the relations ``A @ x = 0``, the published
    (not hidden) values and ``x >= 0``? Uses the true values: ``v`` is free iff
    some direction ``d`` with ``A d = 0``, ``d = 0`` on published variables and
    ``d >= 0`` on hidden zeros changes ``v``."""
    H = np.flatnonzero(hidden)
    if A.size == 0 or not A[:, v].any():
        return False
    rows = np.flatnonzero((A[:, H] != 0).any(axis=1))
    M = A[np.ix_(rows, H)]
    pos = int(np.flatnonzero(H == v)[0])
    zero = values[H] <= _EPS

    # fast exact test: a direction that leaves every other hidden zero at 0 needs no bounds
    keep = np.flatnonzero(~zero | (np.arange(len(H)) == pos))
    if not _in_row_space(M[:, keep])[int(np.flatnonzero(keep == pos)[0])]:
        return False
    if not zero.any():
        return True  # fixed by the equalities alone
    from scipy.optimize import linprog

    for sign in (1.0, -1.0):
        if sign < 0 and zero[pos]:
            continue
        bounds = [(0, None) if z else (None, None) for z in zero]
        bounds[pos] = (sign, sign)
        res = linprog(np.zeros(len(H)), A_eq=M, b_eq=np.zeros(len(rows)), bounds=bounds, method="highs")
        if res.status == 0:
            return False
    return True


def undetermined(A: np.ndarray, values: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """All hidden variables that :func:`determined` calls free, at once (one linear
    program and one null space instead of one test per variable).

    Hidden zeros: the free ones are those some direction ``d`` (``A d = 0``, ``d = 0``
    on published variables, ``d >= 0`` on hidden zeros) raises; the directions form a
    cone, so one program that maximises ``sum(min(d_z, 1))`` over the hidden zeros
    raises all of them at once. Every direction keeps the other zeros at 0, so a
    non-zero variable is free iff the null space with those zeros held at 0 moves it.
    Falls back to :func:`determined` when the program's direction does not check out."""
    x = np.asarray(values, dtype=float)
    free = np.zeros(len(x), dtype=bool)
    H = np.flatnonzero(hidden)
    if not len(H):
        return free
    rows = np.flatnonzero((A[:, H] != 0).any(axis=1)) if A.size else np.zeros(0, dtype=int)
    if not len(rows):
        free[H] = True  # in no relation with a hidden count
        return free
    M = A[np.ix_(rows, H)]
    nH = len(H)
    zero = x[H] <= _EPS
    Z = np.flatnonzero(zero)
    raised = np.zeros(nH, dtype=bool)
    if len(Z):
        from scipy.optimize import linprog

        nZ = len(Z)
        A_ub = np.zeros((nZ, nH + nZ))
        A_ub[np.arange(nZ), Z] = -1.0
        A_ub[np.arange(nZ), nH + np.arange(nZ)] = 1.0  # t_z <= d_z
        res = linprog(np.concatenate([np.zeros(nH), -np.ones(nZ)]), A_ub=A_ub, b_ub=np.zeros(nZ),
                      A_eq=np.hstack([M, np.zeros((len(rows), nZ))]), b_eq=np.zeros(len(rows)),
                      bounds=[(0, None) if z else (None, None) for z in zero] + [(0, 1)] * nZ, method="highs")
        d = res.x[:nH] if res.status == 0 else None
        scale = max(1.0, float(np.abs(d).max())) if d is not None else 1.0
        if d is None or np.abs(M @ d).max() > 1e-7 * scale or (d[Z] < -1e-7 * scale).any():
            for v in H:  # the program did not give a clean direction: test one by one
                free[v] = not determined(A, x, hidden, int(v))
            return free
        raised[Z] = res.x[nH:] > 0.5
    # zeros no direction can raise are held at 0 by every direction: drop their columns
    keep = np.flatnonzero(~zero | raised)
    moves = np.zeros(nH, dtype=bool)
    moves[keep] = ~_in_row_space(M[:, keep])
    free[H] = raised | moves
    return free


def _in_row_space(M: np.ndarray) -> np.ndarray:
    """For every column j: is the unit vector e_j in the row space of ``M`` (then
    ``M d = 0`` forces ``d_j = 0``)? By its leverage over an orthonormal basis of the
    row space; a leverage just short of 1 counts as in it (errs on hiding more)."""
    if M.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    if M.shape[0] == 0 or not M.any():
        return np.zeros(M.shape[1], dtype=bool)
    _, sv, vt = np.linalg.svd(M, full_matrices=False)
    basis = vt[sv > sv.max() * max(M.shape) * np.finfo(float).eps]
    return (basis ** 2).sum(axis=0) > 1.0 - 1e-9


def protect(values: Sequence[float], relations: Sequence[Mapping[int, float]], primary: Sequence[bool],
            publishable: Sequence[bool] | None = None, cost: Sequence[float] | None = None) -> np.ndarray:
    """Hidden mask after complementary suppression.

    ``values``: true non-negative counts; ``relations``: linear relations
    ``sum(coef * x) = 0`` between them (a total minus its parts, a collapsed
    category minus its categories); ``primary``: counts that must stay hidden
    (too small); ``publishable``: False for quantities that are never shown
    but take part in relations (e.g. "not ticked"); they must not be
    recoverable when primary. Every hidden publishable count must stay
    undetermined too. Further counts are hidden, cheapest ``cost`` first,
    until that holds (a fixed point).
    """
    x = np.asarray(values, dtype=float)
    k = len(x)
    primary = np.asarray(primary, dtype=bool)
    publishable = np.ones(k, dtype=bool) if publishable is None else np.asarray(publishable, dtype=bool)
    cost = x.copy() if cost is None else np.asarray(cost, dtype=float)
    A = _matrix(relations, k)
    hidden = primary | ~publishable
    if not relations:
        return hidden
    nz = A != 0
    while True:
        guard = primary | (hidden & publishable)
        if not (guard & hidden).any():
            return hidden
        fixed = guard & hidden & ~undetermined(A, x, hidden)
        if not fixed.any():
            return hidden
        exposed = int(np.flatnonzero(fixed)[0])
        # published counts linked to the exposed one (through relations and hidden counts)
        comp = np.zeros(k, dtype=bool)
        comp[exposed] = True
        rows = np.zeros(len(A), dtype=bool)
        while True:
            new_rows = nz[:, comp].any(axis=1) & ~rows
            if not new_rows.any():
                break
            rows |= new_rows
            comp |= nz[new_rows].any(axis=0) & hidden
        linked = nz[rows].any(axis=0) & ~hidden & publishable
        cands = sorted(np.flatnonzero(linked).tolist(), key=lambda j: (cost[j], j))
        if not cands:  # cannot happen for consistent relations; stop rather than loop
            return hidden
        pick = cands[0]
        for j in cands:
            trial = hidden.copy()
            trial[j] = True
            if not determined(A, x, trial, exposed):
                pick = j
                break
        hidden[pick] = True


def apply_disclosure(tidy: pd.DataFrame, min_cell: int = 5, min_base: int = 30,
                     policy: DisclosurePolicy | None = None) -> pd.DataFrame:
    """Disclosure control of tidy survey estimates (:meth:`DisclosurePolicy.survey_estimates`)."""
    policy = policy or DisclosurePolicy(min_cell=min_cell, min_base=min_base)
    return policy.survey_estimates(tidy)


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
                      min_cell: int = 5, min_base: int = 30,
                      policy: DisclosurePolicy | None = None) -> pd.DataFrame:
    """Count free-text answers that mention each topic; never returns the answers.

    ``keywords``: topic -> list of keywords (or a plain list, one topic per
    keyword). A keyword matches at the start of a word, ignoring case, umlaut
    spelling (ä/ae, ß/ss) and accents; "Hundekot" also matches "Hundekots".
    Columns: topic, mentions (respondents), share (of respondents who wrote
    something), suppressed; disclosure control by
    :meth:`DisclosurePolicy.free_text`. The last two rows give all answers and
    the answers that mention no topic.
    """
    policy = policy or DisclosurePolicy(min_cell=min_cell, min_base=min_base)
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
    hits_per_answer = np.zeros(n, dtype=int)
    rows = []
    for topic, pattern in patterns.items():
        hits = np.array([bool(pattern.search(a)) for a in answers], dtype=bool)
        hits_per_answer += hits
        rows.append((topic, int(hits.sum())))
    rows.append(("Antworten insgesamt", n))
    rows.append(("ohne Zuordnung", int((hits_per_answer == 0).sum())))
    return policy.free_text(rows, n, exclusive=bool((hits_per_answer <= 1).all()))


__all__ = ["DisclosurePolicy", "DominanceRule", "apply_disclosure", "determined", "district_keywords",
           "free_text_summary", "policy_from_params", "protect", "undetermined"]
