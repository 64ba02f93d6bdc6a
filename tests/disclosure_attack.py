"""A differencing attacker, written independently of kit.disclosure.

For every block of a published tidy survey table (one item x group: its
answer categories, the collapsed categories such as "3+4", key indicators on
the same cells, and the base ``n_unweighted``; for a multiple-choice option:
ticked + not ticked = base) the attacker knows every published count. A share
is treated as a count (share x base = count), so a row is known when it shows
either ``n_cell`` or ``estimate``. Each suppressed count is then minimised and
maximised over all non-negative solutions of the linear relations
(scipy.optimize.linprog); if minimum and maximum agree, the cell is
recoverable. The true values come from the unsuppressed estimates.
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


def attack_block(published: pd.DataFrame, truth: pd.DataFrame, min_cell: int) -> list[Recovered]:
    """Recoverable hidden counts of one block (rows aligned: same order in both frames)."""
    kinds = truth["kind"].tolist()
    cats = truth["category"].astype(str).tolist()
    if all(k == "mean" for k in kinds):
        return []
    r = len(truth)
    values = [float(v) for v in truth["n_cell"]] + [float(truth["n_unweighted"].iloc[0])]
    base = r
    known = [_known(published.iloc[i]) for i in range(r)] + [pd.notna(published["n_unweighted"].iloc[0])]
    names = cats + ["Basis"]
    relations: list[dict[int, float]] = []
    single = {c: i for i, (c, k) in enumerate(zip(cats, kinds)) if "+" not in c and k in ("distribution", "multi")}
    dist = [i for i, k in enumerate(kinds) if k == "distribution" and "+" not in cats[i]]
    sensitive_virtual = []
    if dist:
        rel = {base: 1.0, **{i: -1.0 for i in dist}}
        rest = values[base] - sum(values[i] for i in dist)
        if rest:
            values.append(rest); known.append(False); names.append("Rest")
            rel[len(values) - 1] = -1.0
        relations.append(rel)
    for i, k in enumerate(kinds):
        if k == "multi" or ((k in ("collapsed", "key") or "+" in cats[i])
                            and not all(c in single for c in cats[i].split("+"))):
            comp = values[base] - values[i]
            values.append(comp); known.append(False); names.append(f"nicht {cats[i]}")
            relations.append({base: 1.0, i: -1.0, len(values) - 1: -1.0})
            if comp < min_cell:
                sensitive_virtual.append(len(values) - 1)
        elif k in ("collapsed", "key") or "+" in cats[i]:
            rel = {i: 1.0}
            for c in cats[i].split("+"):
                rel[single[c]] = rel.get(single[c], 0.0) - 1.0
            relations.append(rel)
    k = len(values)
    A = np.zeros((len(relations), k))
    for j, rel in enumerate(relations):
        for col, a in rel.items():
            A[j, col] += a
    b = np.zeros(len(relations))
    fixed = {j: values[j] for j in range(k) if known[j]}
    targets = [j for j in range(r) if not known[j]] + ([base] if not known[base] else []) + sensitive_virtual
    found = []
    first = truth.iloc[0]
    free = [j for j in range(k) if not known[j]]
    for v in targets:
        if not relations or not A[:, v].any():
            continue
        if _moves(A, values, free, v):
            continue
        lo, hi = _range(A, b, fixed, k, v)
        if hi - lo < 0.5:
            found.append(Recovered(str(first["item"]), str(first["group_var"]), str(first["group"]), names[v],
                                   values[v]))
    return found


def attack(published: pd.DataFrame, truth: pd.DataFrame, min_cell: int) -> list[Recovered]:
    """Every recoverable suppressed count of a published tidy table (``truth``: the
    same rows before disclosure control)."""
    published = published.reset_index(drop=True)
    truth = truth.reset_index(drop=True)
    assert len(published) == len(truth)
    keys = [truth[c].fillna("").astype(str) for c in KEYS] + [truth["n_unweighted"].astype(float).fillna(-1)]
    found = []
    for _, idx in truth.groupby(keys, sort=False).indices.items():
        found += attack_block(published.iloc[idx], truth.iloc[idx], min_cell)
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
