"""Design-based variance of survey estimates (issue 9, item 3).

The sample a commune draws is described in params (``survey.design``): simple
random sample (``srs``), stratified sample (``stratified``, strata = district,
age group or sex) or cluster sample (``clustered``, a column of the cleaned data
names the primary sampling unit, PSU; optionally within strata). From that
description and the final (raking) weights :func:`bind_design` builds a
:class:`BoundDesign` for one data set, which gives estimates with standard
errors, intervals, design effects and tests. Numbers and codes only; German
sentences are in :mod:`kit.survey.design_view`.

Variance (Taylor linearisation, with-replacement PSU formula per stratum)
-------------------------------------------------------------------------
A ratio mean (share, mean) over a domain ``d``, ``R = sum w d y / sum w d``, is
linearised as ``u_i = d_i (y_i - R) / sum w d``; a total as ``u_i = d_i y_i``; a
difference of two domain means as ``u_1 - u_2``. With ``z_i = w_i e_i`` (``e`` the
calibration residual of ``u``, below), PSU totals ``z_hi`` and ``n_h`` PSUs in
stratum ``h``::

    V = sum_h (1 - f_h) n_h / (n_h - 1) sum_i (z_hi - mean_h z)^2

``f_h = n_h / N_h`` is the finite-population correction (``fpc: true``; ``N_h`` from
stage 1's population table or from ``survey.design.population``), 0 without it.
This is what R's ``survey`` package computes (``svydesign(ids, strata, fpc, weights)``
with ``svymean`` / ``svytotal`` / ``svyby``): a domain keeps every PSU of the
design (PSUs without domain members contribute 0). A stratum with a single PSU
contributes 0 (R's ``survey.lonely.psu = "certainty"`` behaviour).

Calibration residuals (GREG approximation, Deville & Särndal 1992): the weights
come from raking to the population margins, so the variance is that of the
residuals ``e = u - X b`` of a weighted least-squares regression (weights ``w``) of
``u`` on the raking margin indicators ``X`` (an intercept, for the fixed total, and
one indicator per category of each margin; respondents with a missing margin
value count in the intercept only, because raking lets their group keep its
weighted share). Raking and linear calibration have the same linearisation, so
this is the standard approximation (R ``survey::calibrate`` / ``rake`` do the same).
Trimming after raking is ignored in the residuals (the weights are treated as if
calibrated); with trimming that leaves margins off, the variance is slightly
too small for variables related to those cells.

Replicate weights (``replicates``): ``jackknife`` is the JKn delete-one-PSU
jackknife within strata, ``bootstrap`` the Rao-Wu (1988) rescaling bootstrap
(``m_h = n_h - 1`` PSUs drawn with replacement, seeded, fpc in the rescaling). Each
replicate is re-raked to the full sample's weighted margin totals (which are the
population targets when the margins hold) with :func:`kit.survey.weighting.rake`,
so the replicate variance reflects calibration; trimming is not repeated. A
replicate that cannot be re-raked (a margin category left empty) keeps its
unraked weights (counted in ``replicates_not_reraked``).

Degrees of freedom: number of PSUs minus number of strata, counted among the
PSUs that have members in the domain (as R's ``degf`` of a subset design), at
least 1.

Intervals for shares (``interval``):

- ``korn_graubard`` (default): Clopper-Pearson on the effective n of the design
  variance, ``n* = p(1-p)/V * (t_{n-1} / t_df)^2`` (Korn & Graubard 1998; R
  ``svyciprop(method = "beta")``). Chosen as default because most published
  shares are small domains (districts, age groups) or rare answers, where a
  symmetric or logit interval undercovers; Korn-Graubard stays inside [0, 1],
  is never degenerate at 0 or 1 and errs on the safe side.
- ``logit``: ``expit(logit(p) ± t_df SE/(p(1-p)))`` (R ``svyciprop(method = "logit")``).

For ``p`` = 0 or 1 (no design variance) both use Clopper-Pearson on the domain's
n. Means and totals: estimate ± t_df · SE. Differences: Wald t on df.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from kit.errors import ParamsError
from kit.survey.weighting import MARGIN_COLUMNS, WeightingError, rake

DESIGN_TYPES = ("srs", "stratified", "clustered")
STRATA_COLUMNS = {"district": "district_id", "age_group": "age_group", "sex": "sex"}
INTERVALS = ("korn_graubard", "logit")
REPLICATES = ("none", "jackknife", "bootstrap")
DEFAULT_DESIGN = {"type": "srs", "strata": None, "population": {}, "cluster": None, "fpc": True,
                  "calibration": True, "replicates": "none", "n_replicates": 500, "seed": 20250115,
                  "interval": "korn_graubard"}
MISSING_STRATUM = "fehlend"


# ---------------------------------------------------------------------------
# intervals (pure functions on arrays)
# ---------------------------------------------------------------------------


def _t(conf: float, df) -> np.ndarray:
    return stats.t.ppf(1 - (1 - conf) / 2, np.maximum(np.asarray(df, dtype=float), 1.0))


def clopper_pearson(x, n, conf: float = 0.95):
    """Exact binomial (Clopper-Pearson) interval for ``x`` hits of ``n`` (arrays, non-integer allowed)."""
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    a = 1 - conf
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(x > 0, stats.beta.ppf(a / 2, x, n - x + 1), 0.0)
        hi = np.where(x < n, stats.beta.ppf(1 - a / 2, x + 1, n - x), 1.0)
    bad = ~(n > 0)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def proportion_interval(p, var, n, df, conf: float = 0.95, method: str = "korn_graubard"):
    """Interval for shares ``p`` with design variance ``var``, domain size ``n`` and design df.

    See the module docstring; arrays in, (lower, upper) arrays out."""
    if method not in INTERVALS:
        raise ParamsError(f"Intervallmethode '{method}' unbekannt (erlaubt: {', '.join(INTERVALS)})")
    p, var, n, df = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (p, var, n, df))
    p, var, n, df = np.broadcast_arrays(p, var, n, df)
    lower = np.full(p.shape, np.nan)
    upper = np.full(p.shape, np.nan)
    ok = np.isfinite(p) & (n > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # a variance that is zero up to rounding (e.g. every stratum holds one answer) counts as
        # none: n_eff would be astronomically large and the beta quantiles lose all precision
        negligible = ~(var > 1e-12 * p * (1 - p))
    edge = ok & ((p <= 0) | (p >= 1) | negligible)
    # p = 0 or 1 (or no variance): Clopper-Pearson on the domain's n
    if edge.any():
        lo, hi = clopper_pearson(p[edge] * n[edge], n[edge], conf)
        lower[edge], upper[edge] = lo, hi
        lower[edge] = np.minimum(lower[edge], p[edge])
        upper[edge] = np.maximum(upper[edge], p[edge])
    inner = ok & ~edge
    if inner.any():
        pi, vi, ni, di = p[inner], var[inner], n[inner], df[inner]
        if method == "logit":
            se_logit = np.sqrt(vi) / (pi * (1 - pi))
            centre = np.log(pi / (1 - pi))
            q = _t(conf, di)
            lower[inner] = 1 / (1 + np.exp(-(centre - q * se_logit)))
            upper[inner] = 1 / (1 + np.exp(-(centre + q * se_logit)))
        else:
            n_eff = pi * (1 - pi) / vi * (_t(conf, ni - 1) / _t(conf, di)) ** 2
            a = 1 - conf
            lower[inner] = stats.beta.ppf(a / 2, n_eff * pi, n_eff * (1 - pi) + 1)
            upper[inner] = stats.beta.ppf(1 - a / 2, n_eff * pi + 1, n_eff * (1 - pi))
        # rounding in the quantiles must never put the estimate outside its own interval
        lower[inner] = np.minimum(lower[inner], pi)
        upper[inner] = np.maximum(upper[inner], pi)
    return lower, upper


# ---------------------------------------------------------------------------
# the variance estimator (arrays; no pandas)
# ---------------------------------------------------------------------------


def stratified_variance(z, stratum, psu, fpc_fraction) -> np.ndarray:
    """``sum_h (1-f_h) n_h/(n_h-1) sum_i (z_hi - mean_h)^2`` for each column of ``z``.

    ``z`` (n x m or n): weighted linearised values per respondent; ``stratum`` and
    ``psu``: integer codes 0..H-1 and 0..P-1 per respondent (PSU codes unique over
    strata); ``fpc_fraction``: f_h per stratum (length H). Vectorised over columns."""
    z = np.asarray(z, dtype=float)
    one = z.ndim == 1
    if one:
        z = z[:, None]
    dev, factor = _psu_deviations(z, stratum, psu, fpc_fraction)
    var = (factor[:, None] * dev**2).sum(axis=0)
    return var[0] if one else var


def _psu_deviations(z: np.ndarray, stratum, psu, fpc_fraction) -> tuple[np.ndarray, np.ndarray]:
    """PSU totals of the columns of ``z`` minus their stratum mean, and per PSU the factor
    (1-f_h) n_h/(n_h-1) of its stratum (0 for a stratum with one PSU)."""
    stratum = np.asarray(stratum)
    psu = np.asarray(psu)
    n_psu = int(psu.max()) + 1 if psu.size else 0
    totals = np.zeros((n_psu, z.shape[1]))
    np.add.at(totals, psu, z)
    psu_stratum = np.zeros(n_psu, dtype=np.int64)
    psu_stratum[psu] = stratum
    n_strata = len(fpc_fraction)
    n_h = np.bincount(psu_stratum, minlength=n_strata).astype(float)
    sums = np.zeros((n_strata, z.shape[1]))
    np.add.at(sums, psu_stratum, totals)
    dev = totals - (sums / np.maximum(n_h, 1)[:, None])[psu_stratum]
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n_h > 1, (1 - np.asarray(fpc_fraction, dtype=float)) * n_h / (n_h - 1), 0.0)
    return dev, factor[psu_stratum]


def stratified_covariance(z, stratum, psu, fpc_fraction) -> np.ndarray:
    """Covariance matrix (k x k) of the weighted totals of the columns of ``z`` (n x k),
    the matrix form of :func:`stratified_variance` (its diagonal)."""
    dev, factor = _psu_deviations(np.asarray(z, dtype=float), stratum, psu, fpc_fraction)
    return dev.T @ (dev * factor[:, None])


# ---------------------------------------------------------------------------
# the design bound to one data set
# ---------------------------------------------------------------------------


@dataclass
class BoundDesign:
    """A sample design bound to the respondents of one data set and their weights.

    Private (holds microdata references); only :meth:`describe` may be published."""

    index: pd.Index
    weights: np.ndarray
    stratum: np.ndarray  # int codes per respondent
    psu: np.ndarray  # int codes per respondent, unique over strata
    fpc_fraction: np.ndarray  # f_h per stratum
    calibration: np.ndarray | None = None  # X: n x k raking indicators (incl. intercept)
    replicate_weights: np.ndarray | None = None  # n x R
    replicate_factors: np.ndarray | None = None  # c_r: V = sum c_r (theta_r - theta)^2
    conf: float = 0.95
    interval: str = "korn_graubard"
    spec: dict = field(default_factory=dict)
    data: pd.DataFrame | None = None  # the microdata (for collapsed categories)
    notes: dict = field(default_factory=dict)
    _projector: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        self.weights = np.asarray(self.weights, dtype=float)
        if self.calibration is not None:
            X = self.calibration
            XtW = X.T * self.weights
            # (X'WX)^+ X'W: the margin indicators are collinear (every margin sums to the intercept)
            self._projector = np.linalg.pinv(XtW @ X) @ XtW

    # -- building blocks ---------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.weights.size)

    def residuals(self, u: np.ndarray) -> np.ndarray:
        """Calibration residuals of the linearised values (columns of ``u``)."""
        if self._projector is None:
            return u
        return u - self.calibration @ (self._projector @ u)

    def variance(self, u) -> np.ndarray:
        """Design variance of the weighted total ``sum w u`` (each column of ``u``)."""
        u = np.asarray(u, dtype=float)
        one = u.ndim == 1
        U = u[:, None] if one else u
        U = np.nan_to_num(U)
        var = stratified_variance(self.weights[:, None] * self.residuals(U), self.stratum, self.psu,
                                  self.fpc_fraction)
        return var[0] if one else var

    def degrees_of_freedom(self, domain: np.ndarray | None = None) -> int:
        sel = np.ones(self.n, dtype=bool) if domain is None else np.asarray(domain, dtype=bool)
        if not sel.any():
            return 1
        return max(1, len(np.unique(self.psu[sel])) - len(np.unique(self.stratum[sel])))

    # -- replicates -----------------------------------------------------------
    def _replicate_ratio_variance(self, Y: np.ndarray, domain: np.ndarray, theta: np.ndarray) -> np.ndarray:
        Wr = self.replicate_weights
        d = domain.astype(float)
        num = (Y * d[:, None]).T @ Wr  # m x R
        den = d @ Wr  # R
        with np.errstate(invalid="ignore", divide="ignore"):
            reps = num / den[None, :]
        return np.nansum(self.replicate_factors[None, :] * (reps - theta[:, None]) ** 2, axis=1)

    # -- estimates ------------------------------------------------------------
    def ratio(self, Y, domain) -> dict:
        """Weighted means of the columns of ``Y`` (n x m, or n) over ``domain`` (bool n).

        NaN in ``Y`` inside the domain is an error of the caller (pass the valid base as domain).
        Returns arrays: estimate, se, var, df, n, weighted_base."""
        Y = np.asarray(Y, dtype=float)
        one = Y.ndim == 1
        Y = Y[:, None] if one else Y
        d = np.asarray(domain, dtype=bool)
        w = self.weights
        Wd = float(w[d].sum())
        n = int(d.sum())
        m = Y.shape[1]
        if n == 0 or Wd <= 0:
            nan = np.full(m, np.nan)
            out = {"estimate": nan, "se": nan, "var": nan, "df": np.ones(m), "n": np.zeros(m), "weighted_base": np.zeros(m)}
            return {k: v[0] for k, v in out.items()} if one else out
        Yd = np.where(d[:, None], np.nan_to_num(Y), 0.0)
        est = (w[:, None] * Yd).sum(axis=0) / Wd
        U = np.where(d[:, None], (Yd - est[None, :]) / Wd, 0.0)
        if self.replicate_weights is not None:
            var = self._replicate_ratio_variance(np.nan_to_num(Y), d, est)
        else:
            var = self.variance(U)
        var = np.maximum(var, 0.0)
        df = np.full(m, float(self.degrees_of_freedom(d)))
        out = {"estimate": est, "se": np.sqrt(var), "var": var, "df": df, "n": np.full(m, float(n)),
               "weighted_base": np.full(m, Wd)}
        return {k: v[0] for k, v in out.items()} if one else out

    def proportion(self, hits, domain) -> dict:
        """Shares of ``hits`` (bool/0-1, n x m or n) among ``domain`` with the configured interval
        and the design's effective n ``p(1-p)/V`` (NaN where p is 0 or 1)."""
        res = self.ratio(np.asarray(hits, dtype=float), domain)
        lo, hi = proportion_interval(res["estimate"], res["var"], res["n"], res["df"], self.conf, self.interval)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.asarray(res["estimate"], dtype=float)
            n_eff = np.where(np.asarray(res["var"]) > 0, p * (1 - p) / np.asarray(res["var"]), np.nan)
        scalar = np.ndim(res["estimate"]) == 0
        res.update(lower=float(lo[0]) if scalar else lo, upper=float(hi[0]) if scalar else hi,
                   n_eff=float(n_eff) if scalar else n_eff)
        return res

    def mean(self, y, domain) -> dict:
        """Weighted mean of ``y`` over ``domain`` with a t interval on the design df, and the
        design's effective n (weighted variance of y / design variance)."""
        y = np.asarray(y, dtype=float)
        d = np.asarray(domain, dtype=bool) & np.isfinite(y)
        res = self.ratio(np.where(d, y, 0.0), d)
        q = float(_t(self.conf, res["df"]))
        est, se = float(res["estimate"]), float(res["se"])
        res.update(lower=est - q * se if res["n"] >= 2 else np.nan, upper=est + q * se if res["n"] >= 2 else np.nan)
        w = self.weights[d]
        if res["n"] >= 2 and res["var"] > 0:
            s2 = float(np.sum(w * (y[d] - est) ** 2) / w.sum())
            res["n_eff"] = s2 / float(res["var"])
        else:
            res["n_eff"] = np.nan
        return res

    def total(self, y, domain) -> dict:
        """Weighted total of ``y`` over ``domain`` (population estimate) with a t interval."""
        y = np.asarray(y, dtype=float)
        d = np.asarray(domain, dtype=bool) & np.isfinite(y)
        u = np.where(d, y, 0.0)
        est = float(np.sum(self.weights * u))
        if self.replicate_weights is not None:
            reps = u @ self.replicate_weights
            var = float(np.sum(self.replicate_factors * (reps - est) ** 2))
        else:
            var = float(self.variance(u))
        se = math.sqrt(max(var, 0.0))
        df = self.degrees_of_freedom(d)
        q = float(_t(self.conf, df))
        return {"estimate": est, "se": se, "var": var, "df": df, "n": int(d.sum()),
                "lower": est - q * se, "upper": est + q * se}

    def difference(self, y, domain1, domain2) -> dict:
        """Difference of the weighted means of ``y`` in two domains (e.g. women minus men),
        with its design SE (covariance included) and a Wald t test on the design df."""
        y = np.asarray(y, dtype=float)
        d1 = np.asarray(domain1, dtype=bool) & np.isfinite(y)
        d2 = np.asarray(domain2, dtype=bool) & np.isfinite(y)
        w = self.weights
        W1, W2 = float(w[d1].sum()), float(w[d2].sum())
        out = {"estimate": np.nan, "mean1": np.nan, "mean2": np.nan, "se": np.nan, "t": np.nan,
               "df": 1, "p_value": np.nan, "lower": np.nan, "upper": np.nan}
        if W1 <= 0 or W2 <= 0:
            return out
        yy = np.nan_to_num(y)
        m1 = float(np.sum(w * yy * d1) / W1)
        m2 = float(np.sum(w * yy * d2) / W2)
        if self.replicate_weights is not None:
            Wr = self.replicate_weights
            r1 = ((yy * d1) @ Wr) / (d1.astype(float) @ Wr)
            r2 = ((yy * d2) @ Wr) / (d2.astype(float) @ Wr)
            var = float(np.nansum(self.replicate_factors * ((r1 - r2) - (m1 - m2)) ** 2))
        else:
            u = d1 * (yy - m1) / W1 - d2 * (yy - m2) / W2
            var = float(self.variance(u))
        se = math.sqrt(max(var, 0.0))
        df = self.degrees_of_freedom(d1 | d2)
        q = float(_t(self.conf, df))
        diff = m1 - m2
        out.update(estimate=diff, mean1=m1, mean2=m2, se=se, df=df, lower=diff - q * se, upper=diff + q * se)
        if se > 0:
            t = diff / se
            out.update(t=t, p_value=float(2 * stats.t.sf(abs(t), df)))
        return out

    def logit_covariance(self, X: np.ndarray, y: np.ndarray, beta: np.ndarray, rows: pd.Index) -> np.ndarray:
        """Design-based sandwich covariance of a weighted logistic regression fitted on the
        respondents ``rows`` (a subset of the design's index, in the order of ``X``):
        ``A^-1 V(sum w s) A^-1`` with scores ``s_i = x_i (y_i - p_i)``, ``A = sum w p(1-p) x x'``
        and V the stratified/clustered covariance of the calibration residuals of the scores
        (Binder 1983; R ``svyglm``)."""
        pos = self.index.get_indexer(rows)
        if (pos < 0).any():
            raise ValueError("Modellzeilen gehören nicht zum Stichprobendesign")
        X = np.asarray(X, dtype=float)
        p = 1.0 / (1.0 + np.exp(-(X @ beta)))
        w = self.weights[pos]
        A = (X * (w * p * (1 - p))[:, None]).T @ X
        U = np.zeros((self.n, X.shape[1]))
        U[pos] = X * (np.asarray(y, dtype=float) - p)[:, None]
        if self.replicate_weights is not None:
            # one-step replicate estimates: beta_r - beta = A^-1 sum (w_r - w) s
            delta = np.linalg.solve(A, U.T @ (self.replicate_weights - self.weights[:, None]))
            M = (delta * self.replicate_factors[None, :]) @ delta.T
            return M
        Z = self.weights[:, None] * self.residuals(U)
        M = stratified_covariance(Z, self.stratum, self.psu, self.fpc_fraction)
        bread = np.linalg.pinv(A)
        return bread @ M @ bread

    def describe(self) -> dict:
        """Codes and aggregate numbers only (publishable): what design and method were used."""
        return {"type": self.spec.get("type", "srs"), "strata": self.spec.get("strata"),
                "cluster": bool(self.spec.get("cluster")), "fpc": bool(self.spec.get("fpc")),
                "calibration": self.calibration is not None, "interval": self.interval,
                "replicates": self.spec.get("replicates", "none") if self.replicate_weights is not None else "none",
                "n_replicates": 0 if self.replicate_weights is None else int(self.replicate_weights.shape[1]),
                "df": self.degrees_of_freedom()}


# ---------------------------------------------------------------------------
# building a design from params and data
# ---------------------------------------------------------------------------


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values.astype(str), sort=True)[0].astype(np.int64)


def _margin_key(data: pd.DataFrame, keys) -> pd.Series:
    """Category key of a raking margin per respondent ("55-74_w"), NaN where a part is missing."""
    part = data[list(keys)]
    complete = part.notna().all(axis=1).to_numpy()
    values = ["_".join(map(str, r)) if ok else None
              for r, ok in zip(part.itertuples(index=False, name=None), complete)]
    return pd.Series(values, index=data.index, dtype=object)


def calibration_matrix(data: pd.DataFrame, margins) -> np.ndarray:
    """Intercept plus one indicator per category of each raking margin (see module docstring)."""
    cols = [np.ones(len(data))]
    for margin in margins:
        keys = MARGIN_COLUMNS[margin]
        missing = [k for k in keys if k not in data.columns]
        if missing:
            raise ParamsError(f"Stichprobendesign: Gewichtungsrand '{margin}' braucht die Spalte(n) "
                              f"{', '.join(missing)}, die in den bereinigten Daten fehlen")
        key = _margin_key(data, keys)
        for cat in sorted(key.dropna().unique()):
            cols.append((key == cat).to_numpy(dtype=float))
    return np.column_stack(cols)


def stratum_population(spec: dict, population: pd.DataFrame | None) -> dict[str, float]:
    """N_h per stratum (all respondents in one stratum "gesamt" for srs/unstratified)."""
    strata = spec.get("strata")
    explicit = {str(k): float(v) for k, v in (spec.get("population") or {}).items()}
    if explicit:
        return explicit
    if population is None or "population" not in population.columns:
        return {}
    pop = pd.to_numeric(population["population"], errors="coerce")
    if not strata:
        return {"gesamt": float(pop.sum())}
    col = STRATA_COLUMNS[strata]
    return {str(k): float(v) for k, v in pop.groupby(population[col].astype(str)).sum().items()}


def bind_design(spec: dict | None, data: pd.DataFrame, weights, *, population: pd.DataFrame | None = None,
                margins=(), conf: float = 0.95, source: str = "survey.design") -> BoundDesign:
    """The design of ``spec`` (params ``survey.design``; None = defaults) bound to ``data``.

    ``weights``: final survey weights aligned with ``data``; ``population``: stage 1's
    population table (district_id, age_group, sex, population) for N_h; ``margins``:
    the raking margins (``survey.weighting.margins``) for the calibration residuals."""
    spec = {**DEFAULT_DESIGN, **(spec or {})}
    kind = spec["type"]
    if kind not in DESIGN_TYPES:
        raise ParamsError(f"{source}.type '{kind}' ist nicht zulässig (erlaubt: {', '.join(DESIGN_TYPES)})")
    w = pd.Series(weights, dtype=float).reindex(data.index).to_numpy() if isinstance(weights, pd.Series) \
        else np.asarray(weights, dtype=float)
    if w.shape != (len(data),) or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ParamsError("Stichprobendesign: Gewichte fehlen oder sind nicht positiv")
    n = len(data)
    strata_name = spec.get("strata")
    if kind == "stratified" and not strata_name:
        raise ParamsError(f"{source}: type 'stratified' braucht eine Schichtungsvariable "
                          f"(strata: {', '.join(STRATA_COLUMNS)})")
    if strata_name:
        if strata_name not in STRATA_COLUMNS:
            raise ParamsError(f"{source}.strata '{strata_name}' ist nicht zulässig "
                              f"(erlaubt: {', '.join(STRATA_COLUMNS)})")
        col = STRATA_COLUMNS[strata_name]
        if col not in data.columns:
            raise ParamsError(f"{source}.strata '{strata_name}': Spalte '{col}' fehlt in den bereinigten Daten")
        svalues = data[col].astype(object).where(data[col].notna(), MISSING_STRATUM).astype(str)
    else:
        svalues = pd.Series("gesamt", index=data.index)
    cluster = spec.get("cluster")
    if kind == "clustered" and not cluster:
        raise ParamsError(f"{source}: type 'clustered' braucht eine Spalte mit der Klumpen-Kennung (cluster)")
    if cluster:
        if cluster not in data.columns:
            raise ParamsError(f"{source}.cluster '{cluster}': diese Spalte gibt es in den bereinigten "
                              f"Befragungsdaten nicht (vorhanden z. B.: {', '.join(map(str, list(data.columns)[:8]))})")
        if data[cluster].isna().any():
            row = int(np.flatnonzero(data[cluster].isna().to_numpy())[0])
            raise ParamsError(f"{source}.cluster '{cluster}': Fragebogen Nr. {row + 1} hat keine Klumpen-Kennung")
        pvalues = svalues + "\x1f" + data[cluster].astype(str)
    else:
        pvalues = pd.Series(np.arange(n).astype(str), index=data.index)
    stratum = _codes(svalues)
    psu = _codes(pvalues)
    names = sorted(svalues.unique())
    fpc = np.zeros(len(names))
    if spec.get("fpc"):
        pop = stratum_population(spec, population)
        if not pop:
            raise ParamsError(f"{source}.fpc: für die Endlichkeitskorrektur fehlen die Einwohnerzahlen je Schicht "
                              f"({source}.population angeben oder fpc: false)")
        for h, name in enumerate(names):
            if name == MISSING_STRATUM:
                continue
            if name not in pop or not pop[name] > 0:
                raise ParamsError(f"{source}.population: für die Schicht '{name}' fehlt die Einwohnerzahl")
            # units of the stratum: PSUs sampled (clusters) or respondents
            n_h = len(np.unique(psu[stratum == h]))
            if kind == "clustered":
                # N_h then counts clusters of the stratum, given in params
                if not spec.get("population"):
                    raise ParamsError(f"{source}.population: bei einer Klumpenstichprobe mit fpc die Zahl der "
                                      f"Klumpen je Schicht angeben (oder fpc: false)")
            if n_h > pop[name]:
                raise ParamsError(f"{source}.population: Schicht '{name}' hat {n_h:g} Befragte bzw. Klumpen, "
                                  f"aber nur {pop[name]:g} in der Grundgesamtheit")
            fpc[h] = n_h / pop[name]
    X = calibration_matrix(data, margins) if spec.get("calibration") and margins else None
    design = BoundDesign(index=data.index, weights=w, stratum=stratum, psu=psu, fpc_fraction=fpc,
                         calibration=X, conf=conf, interval=spec["interval"], spec=spec, data=data)
    if spec.get("replicates", "none") != "none":
        add_replicates(design, margins if spec.get("calibration") else ())
    return design


# ---------------------------------------------------------------------------
# replicate weights
# ---------------------------------------------------------------------------


def _reraking_targets(data: pd.DataFrame, weights: np.ndarray, margins) -> tuple[pd.DataFrame, dict]:
    """Sample frame and targets for re-raking replicates: the full sample's weighted
    totals by margin category (scaled like kit.survey.weighting's missing-value rule)."""
    sample = pd.DataFrame(index=data.index)
    targets = {}
    total = float(weights.sum())
    for margin in margins:
        key = _margin_key(data, MARGIN_COLUMNS[margin])
        complete = key.notna()
        sample[margin] = key
        sums = pd.Series(weights, index=data.index)[complete.to_numpy()].groupby(key[complete]).sum()
        targets[margin] = sums / sums.sum() * total
    return sample, targets


def add_replicates(design: BoundDesign, margins=()) -> BoundDesign:
    """Replicate weights (JKn or Rao-Wu bootstrap, see module docstring), re-raked to the
    margins when ``margins`` are given; sets ``replicate_weights`` and ``replicate_factors``."""
    spec = design.spec
    kind = spec.get("replicates", "none")
    w = design.weights
    stratum, psu, f = design.stratum, design.psu, design.fpc_fraction
    n_psu = int(psu.max()) + 1
    psu_stratum = np.zeros(n_psu, dtype=np.int64)
    psu_stratum[psu] = stratum
    n_h = np.bincount(psu_stratum, minlength=len(f))
    factors: list[float] = []
    if kind == "jackknife":
        cols = []
        for j in range(n_psu):
            h = psu_stratum[j]
            if n_h[h] < 2:
                continue
            factor = np.ones(n_psu)
            factor[psu_stratum == h] = n_h[h] / (n_h[h] - 1)
            factor[j] = 0.0
            cols.append(factor)
            factors.append((1 - f[h]) * (n_h[h] - 1) / n_h[h])
        F = np.column_stack(cols) if cols else np.ones((n_psu, 0))
    elif kind == "bootstrap":
        R = int(spec.get("n_replicates", 500))
        rng = np.random.default_rng(int(spec.get("seed", 0)))
        F = np.ones((n_psu, R))
        for h in range(len(f)):
            members = np.flatnonzero(psu_stratum == h)
            nh = len(members)
            if nh < 2:
                continue
            m = nh - 1
            draws = rng.integers(0, nh, size=(R, m))
            counts = np.zeros((R, nh))
            np.add.at(counts, (np.repeat(np.arange(R), m), draws.ravel()), 1.0)
            lam = math.sqrt(m * (1 - f[h]) / (nh - 1))
            F[members, :] = (1 - lam + lam * (nh / m) * counts).T
        factors = [1.0 / R] * R
    else:
        raise ParamsError(f"survey.design.replicates '{kind}' ist nicht zulässig (erlaubt: {', '.join(REPLICATES)})")
    Wr = w[:, None] * F[psu, :]
    not_reraked = 0
    if margins and design.data is not None:
        sample, targets = _reraking_targets(design.data, w, margins)
        for r in range(Wr.shape[1]):
            pos = Wr[:, r] > 0
            try:
                res = rake(sample[pos], targets, base_weights=Wr[pos, r], max_iter=200, tol=1e-8)
                Wr[pos, r] = res.weights.to_numpy()
            except WeightingError:
                not_reraked += 1
    design.replicate_weights = Wr
    design.replicate_factors = np.asarray(factors, dtype=float)
    design.notes["replicates_not_reraked"] = not_reraked
    return design


__all__ = [
    "BoundDesign", "DEFAULT_DESIGN", "DESIGN_TYPES", "INTERVALS", "REPLICATES", "STRATA_COLUMNS",
    "add_replicates", "bind_design", "calibration_matrix", "clopper_pearson", "proportion_interval",
    "stratified_covariance", "stratified_variance", "stratum_population",
]
