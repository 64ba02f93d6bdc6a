"""What drives insecurity (issue 9, item 4): a survey-weighted logistic regression of
feeling unsafe at night on perceived incivilities, victimisation, sex, age group,
district and trust in the police.

Pure computation, numbers and codes only (German words live in
:func:`kit.survey.view.show_drivers`).

Model
-----
- Outcome: the codebook role ``night_safety`` (an ordered 4-point item, high codes
  unsafe); codes 3 and 4 ("eher/sehr unsicher") = 1, codes 1 and 2 = 0.
- ``incivility``: mean of the answered items of the problem battery (the scale question
  of the block "Probleme in der Wohngegend", 1 = kein Problem .. 4 = großes Problem),
  at least half of its items answered; odds ratio per scale point.
- ``victim``: victim of at least one offence of the victimisation question in the last
  12 months (1 if any item is "ja"; 0 if at least one item is answered and none is "ja").
- ``sex``: w vs m (reference m); "divers" is left out of the model (too few to estimate,
  and a category of one or two people must not get its own coefficient).
- ``age_group``: reference 35-54.
- ``district``: fixed effects. Every district with at least ``policy.min_base``
  respondents gets its own coefficient (reference: the largest district); smaller
  districts are pooled into one category "other" (code ``_other``). If fewer than two
  categories remain, or the pooled category would be below ``min_cell``, the district
  term is left out (note ``district_omitted``). Rationale: a coefficient on a handful of
  respondents is both unstable (separation) and a disclosure risk; pooling keeps the
  adjustment for district level while every coefficient rests on a publishable base.
  With district fixed effects the incivility coefficient compares people within the
  same district (perceived, not district-level, disorder).
- ``trust``: trust in the police 0-10 (a numeric item labelled "Vertrauen ... Polizei"),
  odds ratio per scale point; left out when the questionnaire has none.

Complete cases only. Weights: the survey (raking) weights of the model sample,
normalised to sum to its n. Standard errors: the sandwich (linearisation) estimator
with the HC1 factor n/(n-k), i.e. A^-1 B A^-1 * n/(n-k) with
A = sum w_i p_i (1-p_i) x_i x_i' and B = sum w_i^2 (y_i - p_i)^2 x_i x_i'.
This treats the weights as fixed and the respondents as independent. With a sample
design (``design``, :class:`kit.survey.design.BoundDesign`, passed by the stage) the
meat is instead the design covariance of the weighted scores (strata, fpc, clusters,
calibration residuals; :meth:`BoundDesign.logit_covariance`), as R's ``svyglm``.

Refusal (empty table, ``reason`` set): model n below ``min_base``
(``small_base``), fewer than ``min_cell`` unsafe or safe respondents
(``small_outcome``), a category of a categorical predictor (or the victim / non-victim
groups) below ``min_cell`` respondents (``small_category:<variable>``), no outcome role
(``no_outcome``), no incivility battery (``no_incivility``), or no convergence /
separation (``not_converged``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kit.disclosure import DisclosurePolicy
from kit.survey.codebook import Codebook, Item

UNSAFE_CODES = (3, 4)
TABLE_COLUMNS = ["term", "variable", "category", "label", "reference", "or", "lower", "upper", "p", "n"]
AGE_REFERENCE = "35-54"
OTHER_DISTRICTS = "_other"


@dataclass
class DriversResult:
    """Numbers-only result of :func:`drivers` (no microdata)."""

    table: pd.DataFrame  # TABLE_COLUMNS; reference rows have or = 1 and no interval/p
    n: int  # respondents in the model (0 when refused before fitting)
    pseudo_r2: float | None  # McFadden's (weighted log-likelihoods)
    reason: str | None = None  # refusal code; None when the model is shown
    outcome_item: str | None = None
    confidence: float = 0.95
    notes: list[str] = field(default_factory=list)  # codes: district_pooled, district_omitted, trust_absent, ...

    @property
    def ok(self) -> bool:
        return self.reason is None


# ---------------------------------------------------------------------------
# the estimator (numpy): weighted logistic regression, sandwich variance
# ---------------------------------------------------------------------------


def fit_logit(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, max_iter: int = 100,
              tol: float = 1e-10) -> dict:
    """Weighted logistic regression by Newton-Raphson; ``w`` is used as given.

    Returns beta, the HC1 sandwich covariance, weighted log-likelihoods of the model
    and of the intercept-only model, and whether it converged (no separation)."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    w = np.asarray(w, float)
    n, k = X.shape
    beta = np.zeros(k)
    converged = False
    for _ in range(max_iter):
        eta = X @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        grad = X.T @ (w * (y - p))
        hess = (X * (w * p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        beta = beta + step
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 30:
            break
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    p = 1.0 / (1.0 + np.exp(-(X @ beta)))
    bread = np.linalg.pinv((X * (w * p * (1 - p))[:, None]).T @ X)
    score = X * (w * (y - p))[:, None]
    meat = score.T @ score
    cov = bread @ meat @ bread * (n / (n - k))
    eps = 1e-300
    llf = float(np.sum(w * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))))
    p0 = float(np.sum(w * y) / np.sum(w))
    llnull = float(np.sum(w * (y * math.log(p0) + (1 - y) * math.log(1 - p0)))) if 0 < p0 < 1 else float("nan")
    converged = converged and np.all(np.isfinite(cov)) and np.max(np.abs(beta)) <= 30
    return {"beta": beta, "cov": cov, "llf": llf, "llnull": llnull, "converged": bool(converged)}


def _norm_quantile(confidence: float) -> float:
    from statistics import NormalDist
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _p_value(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


# ---------------------------------------------------------------------------
# predictors from the codebook
# ---------------------------------------------------------------------------


def incivility_question(codebook: Codebook) -> str | None:
    """The problem battery: a question of scale items in the block "Probleme in der Wohngegend"."""
    for q in codebook.questions():
        items = codebook.question_items(q)
        if len(items) >= 2 and all(i.type == "scale" for i in items) and \
                any(re.match(r"probleme? in der wohngegend", (i.block or "").lower()) for i in items):
            return q
    return None


def victim_question(codebook: Codebook) -> str | None:
    """The victimisation battery: yes/no items asking "Opfer ... in den letzten 12 Monaten"."""
    for q in codebook.questions():
        items = codebook.question_items(q)
        text = " ".join((i.question_text or i.text or "") for i in items[:1]).lower()
        if items and "opfer" in text and "12 monat" in text and all(i.type == "single" for i in items):
            return q
    return None


def trust_item(codebook: Codebook) -> str | None:
    """Trust in the police: a numeric item whose label or text names 'Vertrauen' and 'Polizei'."""
    for item in codebook.items.values():
        text = f"{item.label} {item.text}".lower()
        if item.type == "numeric" and "vertrauen" in text and "polizei" in text:
            return item.id
    return None


def _yes_code(item: Item) -> int:
    for code, label in (item.values or {}).items():
        if str(label).strip().lower() == "ja":
            return int(code)
    return 1


def _refused(reason: str, *, n: int = 0, outcome: str | None = None, confidence: float = 0.95,
             notes: list[str] | None = None) -> DriversResult:
    return DriversResult(table=pd.DataFrame(columns=TABLE_COLUMNS), n=int(n), pseudo_r2=None, reason=reason,
                         outcome_item=outcome, confidence=confidence, notes=list(notes or []))


def drivers(data: pd.DataFrame, weights: pd.Series, codebook: Codebook, policy: DisclosurePolicy, *,
            districts: dict[str, str] | None = None, confidence: float = 0.95,
            incivility: str | None = None, victim: str | None = None, trust: str | None = None,
            include_district: bool = True, design=None) -> DriversResult:
    """Weighted logistic regression of feeling unsafe at night (see module doc).

    ``data``: cleaned survey microdata (one row per respondent, derived columns
    ``age_group``, ``sex``, ``district_id``); ``weights``: survey weights on the same index.
    ``incivility`` / ``victim``: question ids, ``trust``: item id (default: found in the
    codebook; ``""`` leaves the predictor out). Returns numbers and codes only."""
    night = codebook.role_item("night_safety")
    if night is None or night.id not in data.columns:
        return _refused("no_outcome", confidence=confidence)
    notes: list[str] = []
    inc_q = incivility if incivility is not None else incivility_question(codebook)
    if not inc_q:
        return _refused("no_incivility", outcome=night.id, confidence=confidence)
    vic_q = victim if victim is not None else victim_question(codebook)
    tr = trust if trust is not None else trust_item(codebook)

    idx = data.index
    w_all = pd.to_numeric(weights.reindex(idx), errors="coerce")
    q05 = pd.to_numeric(data[night.id], errors="coerce")
    y = pd.Series(np.where(q05.isna(), np.nan, q05.isin(UNSAFE_CODES).astype(float)), index=idx)

    cols: dict[str, pd.Series] = {}
    inc_items = [i.id for i in codebook.question_items(inc_q) if i.id in data.columns]
    if not inc_items:
        return _refused("no_incivility", outcome=night.id, confidence=confidence)
    inc = data[inc_items].apply(pd.to_numeric, errors="coerce")
    answered = inc.notna().sum(axis=1)
    cols["incivility"] = inc.mean(axis=1).where(answered >= math.ceil(len(inc_items) / 2))

    if vic_q:
        vic_items = [i for i in codebook.question_items(vic_q) if i.id in data.columns]
        vals = pd.DataFrame({i.id: pd.to_numeric(data[i.id], errors="coerce") for i in vic_items}, index=idx)
        yes = pd.DataFrame({i.id: vals[i.id] == _yes_code(i) for i in vic_items}, index=idx).any(axis=1)
        any_answer = vals.notna().any(axis=1)
        cols["victim"] = pd.Series(np.where(yes, 1.0, np.where(any_answer, 0.0, np.nan)), index=idx)
    else:
        notes.append("victim_absent")

    sex = data["sex"] if "sex" in data.columns else pd.Series(np.nan, index=idx)
    age = data["age_group"] if "age_group" in data.columns else pd.Series(np.nan, index=idx)
    use_sex, use_age = sex.notna().any(), age.notna().any()
    if not use_sex:
        notes.append("sex_absent")
    if not use_age:
        notes.append("age_absent")

    if tr and tr in data.columns:
        cols["trust"] = pd.to_numeric(data[tr], errors="coerce")
    else:
        notes.append("trust_absent")

    frame = pd.DataFrame({"y": y, "w": w_all, **cols}, index=idx)
    if use_sex:
        frame["sex"] = sex.where(sex.isin(["m", "w"]))
    if use_age:
        frame["age_group"] = age
    dist = data["district_id"] if include_district and "district_id" in data.columns else None
    if dist is not None and dist.notna().any():
        frame["district"] = dist
    frame = frame.dropna()
    frame = frame[frame["w"] > 0]
    n = len(frame)
    if not policy.base_ok(n):
        return _refused("small_base", n=n, outcome=night.id, confidence=confidence, notes=notes)
    events = int(frame["y"].sum())
    if policy.small_count(events) or policy.small_count(n - events):
        return _refused("small_outcome", n=n, outcome=night.id, confidence=confidence, notes=notes)

    # district: own category from min_base respondents, smaller ones pooled
    if "district" in frame.columns:
        counts = frame["district"].astype(str).value_counts()
        big = [d for d in counts.index if policy.base_ok(counts[d])]
        small_total = int(counts[[d for d in counts.index if d not in big]].sum())
        pooled = small_total > 0
        if pooled and policy.small_count(small_total):
            # the pooled small districts would be a category below min_cell: no district term
            frame = frame.drop(columns="district")
            notes.append("district_omitted")
        elif len(big) + (1 if pooled else 0) < 2:
            frame = frame.drop(columns="district")
            notes.append("district_omitted")
        else:
            frame["district"] = frame["district"].astype(str).where(frame["district"].astype(str).isin(big),
                                                                    OTHER_DISTRICTS)
            if pooled:
                notes.append("district_pooled")
    else:
        notes.append("district_omitted")

    # small categories: refuse
    checks = {"victim": "victim", "sex": "sex", "age_group": "age_group", "district": "district"}
    for col, var in checks.items():
        if col in frame.columns:
            vc = frame[col].value_counts()
            levels = vc.index if col != "victim" else [0.0, 1.0]
            if any(policy.small_count(vc.get(lv, 0)) for lv in levels):
                return _refused(f"small_category:{var}", n=n, outcome=night.id, confidence=confidence, notes=notes)

    # design matrix
    names: list[tuple] = []  # (term, variable, category, label, n) of each column after the intercept
    X = [np.ones(n)]
    rows: list[dict] = []
    inc_label = codebook.question_text(inc_q)

    def add_cont(var, label):
        X.append(frame[var].to_numpy(float))
        names.append((var, var, "", label, int(n)))

    def add_cat(var, reference, levels, labels):
        ref_n = int((frame[var] == reference).sum())
        rows.append({"term": f"{var}:{reference}", "variable": var, "category": str(reference),
                     "label": labels.get(reference, str(reference)), "reference": True, "or": 1.0,
                     "lower": np.nan, "upper": np.nan, "p": np.nan, "n": ref_n, "_pos": len(names)})
        for lv in levels:
            if lv == reference:
                continue
            X.append((frame[var] == lv).to_numpy(float))
            names.append((f"{var}:{lv}", var, str(lv), labels.get(lv, str(lv)), int((frame[var] == lv).sum())))

    add_cont("incivility", inc_label)
    if "victim" in frame.columns:
        X.append(frame["victim"].to_numpy(float))
        names.append(("victim:1", "victim", "1", codebook.question_text(vic_q), int(frame["victim"].sum())))
    if "sex" in frame.columns:
        add_cat("sex", "m", ["m", "w"], {})
    if "age_group" in frame.columns:
        levels = sorted(frame["age_group"].unique(), key=str)
        ref = AGE_REFERENCE if AGE_REFERENCE in levels else frame["age_group"].value_counts().index[0]
        add_cat("age_group", ref, levels, {})
    if "trust" in frame.columns:
        add_cont("trust", codebook.item(tr).short_label)
    if "district" in frame.columns:
        vc = frame["district"].value_counts()
        levels = [d for d in vc.index if d != OTHER_DISTRICTS] + ([OTHER_DISTRICTS] if OTHER_DISTRICTS in vc else [])
        ref = levels[0]  # the largest own district
        add_cat("district", ref, levels, dict(districts or {}))

    Xm = np.column_stack(X)
    yv = frame["y"].to_numpy(float)
    wv = frame["w"].to_numpy(float)
    wv = wv * n / wv.sum()
    if np.linalg.matrix_rank(Xm) < Xm.shape[1]:
        return _refused("not_converged", n=n, outcome=night.id, confidence=confidence, notes=notes)
    fit = fit_logit(Xm, yv, wv)
    if not fit["converged"]:
        return _refused("not_converged", n=n, outcome=night.id, confidence=confidence, notes=notes)
    if design is not None:  # design-based sandwich: strata, fpc, clusters, calibration (kit.survey.design)
        fit["cov"] = design.logit_covariance(Xm, yv, fit["beta"], frame.index)
    z = _norm_quantile(confidence)
    se = np.sqrt(np.diag(fit["cov"]))
    out = []
    for j, (term, var, cat, label, n_term) in enumerate(names, start=1):
        b = fit["beta"][j]
        out.append({"term": term, "variable": var, "category": cat, "label": label, "reference": False,
                    "or": math.exp(b), "lower": math.exp(b - z * se[j]), "upper": math.exp(b + z * se[j]),
                    "p": _p_value(b / se[j]), "n": n_term, "_pos": j - 0.5})
    for r in rows:
        r["_pos"] = r["_pos"] + 0.1  # reference row just before its categories
    table = (pd.DataFrame(out + rows).sort_values("_pos", kind="stable").drop(columns="_pos")
             .reset_index(drop=True))[TABLE_COLUMNS]
    table["n"] = table["n"].astype(int)
    r2 = 1 - fit["llf"] / fit["llnull"] if fit["llnull"] and np.isfinite(fit["llnull"]) else None
    return DriversResult(table=table, n=n, pseudo_r2=r2, reason=None, outcome_item=night.id,
                         confidence=confidence, notes=notes)
