"""A differencing attacker, written independently of kit.disclosure.

For every item of a published tidy survey table the attacker knows every
published count: within a block (one item x group: its answer categories, the
collapsed categories such as "3+4", key indicators on the same cells, and the
base ``n_unweighted``; for a multiple-choice option: ticked + not ticked =
base) and between the blocks (for every breakdown: Gesamt = sum of the groups
+ the respondents without a group value, for every category and the base; the
latter are unknown counts >= 0 with the relations of a block, and where there
are any, their counts below ``min_cell``, zeros included, are targets too). A share is
treated as a count (share x base = count), so a row is known when it shows
either ``n_cell`` or ``estimate``. Each suppressed count is then minimised and
maximised over all non-negative solutions of the linear relations
(scipy.optimize.linprog); if minimum and maximum agree, the cell is
recoverable. The true values come from the unsuppressed estimates.
:func:`attack_sums` does the same for tables of totals and their parts
(mentions of places in a district, free-text topics of all answers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg import null_space
from scipy.optimize import linprog

KEYS = ["item", "group_var", "group"]


@dataclass
class Recovered:
    item: str
    group_var: str
    group: str
    category: str
    value: float


def _known(row) -> bool:
    return pd.notna(row["n_cell"]) or pd.notna(row["estimate"])


def _range(A: np.ndarray, b: np.ndarray, fixed: dict[int, float], k: int, v: int) -> tuple[float, float]:
    bounds = [(fixed[j], fixed[j]) if j in fixed else (0, None) for j in range(k)]
    out = []
    for sign in (1.0, -1.0):
        c = np.zeros(k)
        c[v] = sign
        res = linprog(c, A_eq=A if len(A) else None, b_eq=b if len(A) else None, bounds=bounds, method="highs")
        if res.status == 3:  # unbounded
            out.append(np.inf * sign * -1)
        elif res.status == 0:
            out.append(sign * res.fun)
        else:
            raise AssertionError(f"inconsistent published table: {res.message}")
    return out[0], out[1]


def _moves(A: np.ndarray, values: list[float], free: list[int], v: int) -> bool:
    """Shortcut: the true solution can be shifted along a null-space direction that
    changes ``v`` and leaves every unknown zero at zero, so ``v`` is not determined."""
    zeros = [j for j in free if values[j] == 0 and j != v]
    rows = [A[:, free]] + [np.eye(len(free))[[free.index(j) for j in zeros]]] if zeros else [A[:, free]]
    N = null_space(np.vstack(rows))
    return N.size > 0 and np.abs(N[free.index(v)]).max() > 1e-9


class _System:
    """Unknown and known counts and the linear relations between them (all >= 0)."""

    def __init__(self):
        self.values, self.known, self.names, self.relations, self.targets = [], [], [], [], []

    def add(self, value: float, known: bool, name, target: bool = False) -> int:
        self.values.append(float(value))
        self.known.append(bool(known))
        self.names.append(name)
        if target and not known:
            self.targets.append(len(self.values) - 1)
        return len(self.values) - 1


def _add_block(S: _System, published: pd.DataFrame | None, truth: pd.DataFrame, min_cell: int,
               where: tuple, atoms_only: bool = False) -> dict | None:
    """The counts of one block and its relations; returns (kind, category) / ("base", "") -> variable
    of the counts that add up over the groups of a breakdown. ``published`` None: a block
    nobody publishes (the respondents without a group), ``truth`` gives its true counts."""
    kinds = truth["kind"].tolist()
    cats = truth["category"].astype(str).tolist()
    r = len(truth)
    cells = [float(v) if pd.notna(v) else 0.0 for v in truth["n_cell"]]
    n = float(truth["n_unweighted"].iloc[0])
    shown = ([_known(published.iloc[i]) for i in range(r)] if published is not None else [False] * r)
    base_shown = bool(published is not None and pd.notna(published["n_unweighted"].iloc[0]))
    target = published is not None
    base = S.add(n, base_shown, (*where, "Basis"), target)
    atoms = {("base", ""): base}
    if all(k == "mean" for k in kinds):
        return atoms
    var = {}
    for i in range(r):
        if kinds[i] == "mean":
            continue
        # the respondents without a group value: a small count of theirs may not follow either
        var[i] = S.add(cells[i], shown[i], (*where, cats[i]),
                       target or (published is None and n > 0 and cells[i] < min_cell))
    single = {c: var[i] for i, (c, k) in enumerate(zip(cats, kinds)) if "+" not in c and k in ("distribution", "multi")}
    for i, k in enumerate(kinds):
        if "+" not in cats[i] and k in ("distribution", "multi"):
            atoms[(k, cats[i])] = var[i]
    dist = [var[i] for i, k in enumerate(kinds) if k == "distribution" and "+" not in cats[i]]
    if dist:
        rel = {base: 1.0, **{i: -1.0 for i in dist}}
        rest = S.values[base] - sum(S.values[i] for i in dist)
        if rest or published is None:  # the block of the respondents without a group: rest >= 0 unknown
            rel[S.add(max(rest, 0.0), False, (*where, "Rest"))] = -1.0
        S.relations.append(rel)
    for i, k in enumerate(kinds):
        if k == "mean":
            continue
        if k == "multi" or ((k in ("collapsed", "key") or "+" in cats[i])
                            and not all(c in single for c in cats[i].split("+"))):
            comp = S.values[base] - S.values[var[i]]
            c = S.add(comp, False, (*where, f"nicht {cats[i]}"), target and comp < min_cell)
            S.relations.append({base: 1.0, var[i]: -1.0, c: -1.0})
        elif k in ("collapsed", "key") or "+" in cats[i]:
            rel = {var[i]: 1.0}
            for c in cats[i].split("+"):
                rel[single[c]] = rel.get(single[c], 0.0) - 1.0
            S.relations.append(rel)
    return atoms


def _solve(S: _System) -> list[Recovered]:
    """Min and max of every target over the non-negative solutions (linprog); equal = recovered."""
    k = len(S.values)
    if not S.relations or not S.targets:
        return []
    A = np.zeros((len(S.relations), k))
    for j, rel in enumerate(S.relations):
        for col, a in rel.items():
            A[j, col] += a
    b = np.zeros(len(S.relations))
    fixed = {j: S.values[j] for j in range(k) if S.known[j]}
    free = [j for j in range(k) if not S.known[j]]
    # shortcut: a null-space direction that keeps every unknown zero at 0 moves these
    zeros = [j for j in free if S.values[j] == 0]
    rows = [A[:, free]] + ([np.eye(len(free))[[free.index(j) for j in zeros]]] if zeros else [])
    N = null_space(np.vstack(rows))
    moving = set(np.array(free)[np.abs(N).max(axis=1) > 1e-9].tolist()) if N.size else set()
    found = []
    for v in S.targets:
        if not A[:, v].any() or v in moving:
            continue
        if S.values[v] != 0 and _moves(A, S.values, free, v):
            continue
        lo, hi = _range(A, b, fixed, k, v)
        if hi - lo < 0.5:
            item, gv, group, name = S.names[v]
            found.append(Recovered(str(item), str(gv), str(group), str(name), S.values[v]))
    return found


def attack_block(published: pd.DataFrame, truth: pd.DataFrame, min_cell: int) -> list[Recovered]:
    """Recoverable hidden counts of one block (rows aligned: same order in both frames)."""
    S = _System()
    first = truth.iloc[0]
    _add_block(S, published, truth, min_cell, (first["item"], first["group_var"], first["group"]))
    return _solve(S)


def attack_item(published: pd.DataFrame, truth: pd.DataFrame, min_cell: int, between: bool = True) -> list[Recovered]:
    """Recoverable hidden counts of one item: every block with its own relations and,
    with ``between``, for every breakdown: Gesamt = sum of the groups + the respondents
    without a group value (unknown counts >= 0 with the relations of a block), for each
    answer category (ticked option) and the base."""
    S = _System()
    gv = truth["group_var"].fillna("").astype(str)
    keys = [gv, truth["group"].astype(str), truth["n_unweighted"].astype(float).fillna(-1)]
    blocks = []
    for key, idx in truth.groupby(keys, sort=False).indices.items():
        t = truth.iloc[idx]
        first = t.iloc[0]
        blocks.append((key[0], t, _add_block(S, published.iloc[idx], t, min_cell,
                                             (first["item"], key[0], first["group"]))))
    overall = [(t, a) for g, t, a in blocks if g == ""]
    if between and len(overall) == 1:
        o_truth, o_atoms = overall[0]
        for g in dict.fromkeys(g for g, _, _ in blocks if g != ""):
            groups = [a for x, _, a in blocks if x == g]
            if any(set(a) != set(o_atoms) for a in groups):
                continue  # groups with other categories than Gesamt: no relation
            rest = {key: S.values[o_atoms[key]] - sum(S.values[a[key]] for a in groups) for key in o_atoms}
            if min(rest.values()) < 0:
                continue  # the groups overlap (hand-made tables): the relation does not hold
            atomic = o_truth[[(k, str(c)) in o_atoms for k, c in zip(o_truth["kind"], o_truth["category"].astype(str))]]
            m_truth = atomic.assign(n_cell=[rest[(k, str(c))] for k, c in zip(atomic["kind"], atomic["category"].astype(str))],
                                    n_unweighted=rest[("base", "")])
            if m_truth.empty:  # a mean: only the base
                m_truth = o_truth.iloc[:1].assign(n_unweighted=rest[("base", "")])
            m_atoms = _add_block(S, None, m_truth, min_cell, (o_truth["item"].iloc[0], g, "ohne Angabe"))
            for key in o_atoms:
                S.relations.append({o_atoms[key]: 1.0, m_atoms[key]: -1.0, **{a[key]: -1.0 for a in groups}})
    return _solve(S)


def attack(published: pd.DataFrame, truth: pd.DataFrame, min_cell: int, between: bool = True) -> list[Recovered]:
    """Every recoverable suppressed count of a published tidy table (``truth``: the
    same rows before disclosure control), item by item (see :func:`attack_item`)."""
    published = published.reset_index(drop=True)
    truth = truth.reset_index(drop=True)
    assert len(published) == len(truth)
    found = []
    for _, idx in truth.groupby(truth["item"].astype(str), sort=False).indices.items():
        found += attack_item(published.iloc[idx], truth.iloc[idx], min_cell, between)
    return found


def small_published_counts(published: pd.DataFrame, truth: pd.DataFrame, min_cell: int, min_base: int) -> list:
    """Published rows whose count (shown or implied by a shown share) is below ``min_cell``,
    shown bases below ``min_cell`` and shares or means on bases below ``min_base``."""
    published = published.reset_index(drop=True)
    truth = truth.reset_index(drop=True)
    bad = []
    for i in range(len(truth)):
        p, t = published.iloc[i], truth.iloc[i]
        where = (t["item"], t["group_var"], t["group"], t["category"])
        if t["kind"] != "mean" and _known(p) and float(t["n_cell"]) < min_cell:
            bad.append((*where, "Zelle", float(t["n_cell"])))
        if pd.notna(p["n_unweighted"]) and float(t["n_unweighted"]) < min_cell:
            bad.append((*where, "Basis", float(t["n_unweighted"])))
        if pd.notna(p["estimate"]) and float(t["n_unweighted"]) < min_base:
            bad.append((*where, "Anteil auf kleiner Basis", float(t["n_unweighted"])))
    return bad


def attack_sums(truth: list[float], shown: list[bool], relations: list[tuple[int, list[int]]],
                names: list) -> list[tuple]:
    """Hidden counts of a table whose relations are total = sum of parts + remainder (a
    remainder >= 0 unknown to the attacker; when the true remainder is 0 the attacker is
    granted the exact sum, the worst case). A relation the true counts do not satisfy
    (parts that overlap) is left out. Returns (name, value) of every recoverable count."""
    S = _System()
    for i, (v, s) in enumerate(zip(truth, shown)):
        S.add(v, s, names[i], target=True)
    for total, parts in relations:
        rest = truth[total] - sum(truth[p] for p in parts)
        if rest < 0:
            continue
        rel = {total: 1.0}
        for p in parts:
            rel[p] = rel.get(p, 0.0) - 1.0
        if rest > 0:
            rel[S.add(rest, False, "Rest")] = -1.0
        S.relations.append(rel)
    if not S.relations:
        return []
    k = len(S.values)
    A = np.zeros((len(S.relations), k))
    for j, rel in enumerate(S.relations):
        for col, a in rel.items():
            A[j, col] += a
    fixed = {j: S.values[j] for j in range(k) if S.known[j]}
    found = []
    for v in S.targets:
        if A[:, v].any():
            lo, hi = _range(A, np.zeros(len(A)), fixed, k, v)
            if hi - lo < 0.5:
                found.append((S.names[v], S.values[v]))
    return found
