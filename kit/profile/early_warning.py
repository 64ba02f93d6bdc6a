"""Early warning for yearly count series: is the latest year unusual?

Compute only: numbers, flags and machine codes; no German text, no report
imports. The report phrases the rule from :data:`RULE` and the measured
behaviour from :data:`CALIBRATION`.

API
---
:func:`early_warning` takes a long table of yearly counts of one commune
(columns ``series``, ``year``, ``count``; optional ``population`` for a rate
offset and ``group`` for the kind of series, e.g. "pks" / "owi") and returns
one row per series with the columns :data:`RESULT_COLUMNS`.

The rule
--------
For each series the *base years* are the years with a count among the
``max_years`` (5) calendar years before the latest year; at least
``min_years`` (3) are needed. With populations ``E_t`` (1 without a
population column) the level is the pooled rate of the base years,
``r = sum(y_t) / sum(E_t)``, and the expected count of the latest year is
``mu0 = r * E0``. The count is "rise" ("fall") when it lies above (below) the
range ``mu0 ± q * sd`` where

    sd² = s² * [ (mu0 + a*mu0²)                         new year's own variation
               + E0² * sum_t(mu_t + a*mu_t²) / sum(E_t)² ]  uncertainty of the level

``a`` is a negative-binomial (NB2) dispersion common to the commune's series of
one group (year-to-year swings of about ±sqrt(a) beyond Poisson), ``s²`` a
per-series residual scale and ``q`` the ``1 - alpha/2`` quantile of a t
distribution whose degrees of freedom are stated per series. Without
overdispersion (a = 0, s² = 1) and equal populations this is the quasi-Poisson
prediction variance ``phi*mu + phi*mu/k`` of the brief.

Why this method
---------------
Police and administrative counts vary from year to year far more than a
Poisson count: for large counts the relative swing does not shrink with the
size of the count (±3-10 % for totals of 10.000+ where Poisson allows ±1 %),
which is the negative-binomial variance ``mu + a*mu²``. With 3-5 base years a
series alone says little about its own variability (2-4 degrees of freedom;
a t quantile with 2 df is 4.3), so the dispersion is pooled across the
commune's series of the same kind in two steps, both standard:

1. ``a`` solves the Pearson moment equation ``sum_i sum_t (y_it-mu_it)² /
   (mu_it + a*mu_it²) = sum_i (k_i - 1)`` over all evaluable series of the
   group (the moment estimator of a common NB dispersion);
2. the per-series scale ``s_i² = X_i² / (k_i - 1)`` under that variance is
   shrunk by empirical Bayes towards the group's typical value
   (Smyth 2004, limma's moderated t; edgeR's quasi-likelihood test, Lund et
   al. 2012, does the same for counts): ``s~² = (d0*s0² + d_i*s_i²) /
   (d0 + d_i)``, where ``s0²`` and the prior degrees of freedom ``d0`` are
   estimated from the spread of the ``s_i²``. Series that swing more than the
   others keep a larger scale (d0 is small when the series differ), series
   that agree borrow strength (d0 large). The test statistic then has a t
   distribution with ``d0 + d_i`` degrees of freedom.

The prior degrees of freedom are capped at ``max_prior_df`` (10): with 5-30
series d0 is itself uncertain, and series of different size may differ in
their swing, which a single prior does not describe (uncapped, such communes
were flagged 5.8 % instead of 5 %). The cap costs a little power and makes
the rule slightly conservative when all series behave alike.

A group with fewer than ``min_series_pooled`` evaluable series uses each
series' own quasi-Poisson dispersion (a = 0, s² = X²/(k-1), t with k-1 df):
valid but with little power. Because 2-4 df can show no variability at all
for counts (2, 2, 2), such a series is flagged only when the latest count
also lies outside the Poisson range (scale 1, normal quantile).

Two refinements keep the two tails honest for counts: the variance is
evaluated under "no change" at the rate of all years including the latest
(score test; otherwise a low base makes a rise too easy to flag), and the
range is skewed like a count distribution (Cornish-Fisher term from the third
cumulant). ``z`` is the standardised deviation on the scale of the t quantile
(skew-corrected), so ``flag`` is "rise" exactly when ``z > q`` and when the
count lies above ``upper``.

Assumptions: the level is constant over the base years after the population
offset (a trend inside the base years inflates the dispersion, which makes the
rule more cautious, not less); years are independent given the level; the
dispersion structure ``s²(mu + a*mu²)`` holds within a group; the counts are
large enough for a normal approximation of the new year's count given the
level (at a mean of 5-10 the discreteness makes the rule slightly conservative).
Series whose base years are all zero are not evaluated (no level to compare).
A series starts in its first year with a count: a missing count (NaN) or a
missing row is "not recorded" (e.g. an offence category not yet in force) and
never a base year, while a recorded 0 is a genuine zero and is one.

Stated false-alarm rate
-----------------------
With the default rule (alpha = 0.05, two-sided) a series without any change
is flagged with probability at most about 5 %: about 2.5 % "rise" and 2.5 %
"fall". A commune with 29 series therefore has on average up to 1.5 flags by
chance alone: a flag is a prompt to look, not a proof. Measured by simulation
(``benchmarks/early_warning_calibration.py``, seed 1; numbers in
:data:`CALIBRATION`): on 6.000 negative-binomial series without change in
mixed communes (means 5-20.000, swings 2-10 %, 3-5 base years, with and
without population trend) 5.0 % were flagged (2.5 % rise); the former
Poisson rule flagged 32 % (88 % at mean 20.000 with ±8 % swings). With all
series of a commune alike the rate is 3.5-4.6 % (conservative). A rise of
+30 % in a series of mean 500 with ±8 % swings is found with a power of 0.74
(0.96 for the old rule, which pays for it with its false alarms); +30 % at
mean 100 with ±8 % swings: 0.41; at mean 10: 0.09.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

__all__ = [
    "CALIBRATION",
    "DEFAULT_RULE",
    "FLAGS",
    "REASONS",
    "RESULT_COLUMNS",
    "RULE",
    "SOURCES",
    "EarlyWarningRule",
    "early_warning",
    "pooled_dispersion",
]


@dataclass(frozen=True)
class EarlyWarningRule:
    """Parameters of the rule (all machine values; the report phrases them)."""

    alpha: float = 0.05          # stated false-alarm probability per series (both directions together)
    sided: str = "two"           # "two": rise and fall, each alpha/2; "upper": only rise, at alpha
    min_years: int = 3           # base years needed before the latest year
    max_years: int = 5           # calendar years before the latest year that may be used
    min_series_pooled: int = 5   # evaluable series in a group needed to pool the dispersion
    max_prior_df: float = 10.0   # at most this many degrees of freedom borrowed from the group

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be in (0, 1)")
        if self.sided not in ("two", "upper"):
            raise ValueError('sided must be "two" or "upper"')
        if not 2 <= self.min_years <= self.max_years:
            raise ValueError("need 2 <= min_years <= max_years")
        if self.min_series_pooled < 3:
            raise ValueError("min_series_pooled must be at least 3")
        if not self.max_prior_df > 0:
            raise ValueError("max_prior_df must be positive")

    @property
    def alpha_rise(self) -> float:
        """False-alarm probability of a "rise" flag."""
        return self.alpha / 2 if self.sided == "two" else self.alpha

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(alpha_rise=self.alpha_rise,
                 alpha_fall=self.alpha / 2 if self.sided == "two" else 0.0,
                 method="negative_binomial_pooled_dispersion_moderated_t")
        return d


DEFAULT_RULE = EarlyWarningRule()
#: The default rule as plain data, for a report to phrase.
RULE: dict = DEFAULT_RULE.as_dict()

#: Measured by benchmarks/early_warning_calibration.py (seeded); the report may
#: quote them. Rates are fractions of series.
CALIBRATION: dict = {
    "false_alarm_rate": 0.050,          # all flags, mixed communes, series without change (nominal 0.05)
    "false_alarm_rate_rise": 0.025,     # "rise" only (nominal 0.025)
    "false_alarm_rate_range": (0.035, 0.050),  # over mean 10-20.000 x swing 0-8 % and the mixed case
    "false_alarm_rate_old_poisson_rule": 0.32,
    "power": {"effect": 0.30, "mean": 500, "swing": 0.08, "value": 0.74},
    "simulated_series": 6000,
}

FLAGS: tuple[str, ...] = ("rise", "fall", "none", "")
REASONS: tuple[str, ...] = (
    "",                    # evaluated
    "too_few_years",       # fewer than min_years base years within max_years before the latest year
    "population_missing",  # population column given but missing / not positive for a needed year
    "no_base_counts",      # all base-year counts are zero: no level to compare with
    "latest_missing",      # a requested year has no count for this series
)
SOURCES: tuple[str, ...] = (
    "shrunk",  # own scale shrunk towards the group's (moderated t)
    "pooled",  # only with max_prior_df = inf: series agree, the group's scale is used
    "own",     # too few series to pool: own quasi-Poisson dispersion, t with k-1 df
    "",        # not evaluated
)

RESULT_COLUMNS: list[str] = [
    "series", "group", "latest_year", "first_base_year", "last_base_year", "n_base_years",
    "observed", "expected", "lower", "upper", "z", "p_value", "flag", "reason",
    "dispersion", "swing", "nb_alpha", "scale", "df", "prior_df", "dispersion_source",
]
# dispersion: variance/mean ratio of the latest year's count (quasi-Poisson phi) used;
# swing: relative SD of a single year around the level, sqrt(phi/mu0);
# nb_alpha: the group's NB2 dispersion a; scale: s~²; df: degrees of freedom of the t quantile
# (inf = normal); prior_df: d0 of the group (inf when the series agree).

_MAX_DF = 1e6  # a t with more df than this is treated as normal


# ---------------------------------------------------------------------------
# Public function
# ---------------------------------------------------------------------------


def early_warning(counts: pd.DataFrame, rule: EarlyWarningRule = DEFAULT_RULE, *, year: int | None = None,
                  series_col: str = "series", year_col: str = "year", count_col: str = "count",
                  population_col: str | None = "population", group_col: str | None = "group") -> pd.DataFrame:
    """Flag the latest year of each series against the range expected without change.

    ``counts``: long table, one row per series and year. ``population_col``
    and ``group_col`` are used when present (set them to None to ignore
    them). Without a group column all series are pooled together; pass series
    of one kind (PKS keys, OWi categories) or give the group. Rows with a
    missing count are ignored. ``year``: evaluate this year instead of each
    series' latest year (later years are ignored).

    Returns one row per series (order of first appearance) with
    :data:`RESULT_COLUMNS`; ``flag`` is "rise", "fall", "none", or "" with a
    ``reason`` when the series cannot be evaluated.
    """
    df = _prepare(counts, series_col, year_col, count_col, population_col, group_col)
    has_pop = "population" in df.columns
    fits = []
    years_all = df["year"].to_numpy()
    counts_all = df["count"].to_numpy()
    pops_all = df["population"].to_numpy() if has_pop else None
    for (series, group), idx in df.groupby(["series", "group"], sort=False).indices.items():
        fits.append(_base_fit(series, group, years_all[idx], counts_all[idx],
                              pops_all[idx] if has_pop else None, rule, year))
    by_group: dict[str, list[dict]] = {}
    for f in fits:
        by_group.setdefault(f["group"], []).append(f)
    results = {}
    for group, members in by_group.items():
        ok = [f for f in members if not f["reason"]]
        for f, row in zip(ok, _evaluate_group(ok, rule)):
            results[id(f)] = row
        for f in members:
            if f["reason"]:
                results[id(f)] = _not_evaluated(f)
    rows = [results[id(f)] for f in fits]
    out = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    for col in ("latest_year", "first_base_year", "last_base_year"):
        out[col] = out[col].astype("Int64")
    out["n_base_years"] = out["n_base_years"].astype("int64")
    for col in ("series", "group", "flag", "reason", "dispersion_source"):
        out[col] = out[col].astype("str")
    return out


def pooled_dispersion(counts: pd.DataFrame, rule: EarlyWarningRule = DEFAULT_RULE, **columns) -> tuple[float, str]:
    """The NB2 dispersion ``a`` the early warning pools over the series of
    ``counts`` (one group; same columns and keywords as :func:`early_warning`):
    a count with mean mu varies from year to year with variance mu + a*mu².

    Returns (a, code): code "pooled" when at least ``rule.min_series_pooled``
    series could be evaluated (a estimated from their base years, 0.0 when
    they vary no more than Poisson), else (nan, "too_few_series"): the
    dispersion cannot be estimated."""
    res = early_warning(counts, rule, **columns)
    pooled = res[res["dispersion_source"].isin(["shrunk", "pooled"])]
    if pooled.empty:
        return math.nan, "too_few_series"
    return float(pooled["nb_alpha"].iloc[0]), "pooled"


# ---------------------------------------------------------------------------
# Preparation and per-series base fit
# ---------------------------------------------------------------------------


def _prepare(counts, series_col, year_col, count_col, population_col, group_col) -> pd.DataFrame:
    missing = [c for c in (series_col, year_col, count_col) if c not in counts.columns]
    if missing:
        raise ValueError(f"missing columns: {missing}")
    df = pd.DataFrame({
        "series": counts[series_col].astype("str"),
        "year": pd.to_numeric(counts[year_col]).astype("int64"),
        "count": pd.to_numeric(counts[count_col]).astype("float64"),
    })
    df["group"] = counts[group_col].astype("str").to_numpy() if group_col and group_col in counts.columns else ""
    if population_col and population_col in counts.columns:
        df["population"] = pd.to_numeric(counts[population_col]).astype("float64").to_numpy()
    df = df[df["count"].notna()]
    if (df["count"] < 0).any():
        raise ValueError("counts must not be negative")
    if df.duplicated(["series", "year"]).any():
        raise ValueError("more than one row per series and year")
    if df.groupby("series")["group"].nunique().gt(1).any():
        raise ValueError("a series belongs to more than one group")
    return df


def _base_fit(series, group, years: np.ndarray, counts: np.ndarray, pops: np.ndarray | None,
              rule: EarlyWarningRule, year) -> dict:
    f = {"series": series, "group": group, "reason": "", "latest_year": None, "base_years": [], "observed": math.nan}
    order = np.argsort(years, kind="stable")
    years, counts = years[order], counts[order]
    pops = pops[order] if pops is not None else None
    if year is not None:
        latest = int(year)
        if latest not in years:
            f.update(reason="latest_missing", latest_year=latest)
            return f
    else:
        latest = int(years[-1])
    cur = int(np.flatnonzero(years == latest)[0])
    in_base = (years >= latest - rule.max_years) & (years < latest)
    y = counts[in_base]
    f.update(latest_year=latest, observed=float(counts[cur]), base_years=[int(v) for v in years[in_base]])
    if len(y) < rule.min_years:
        f["reason"] = "too_few_years"
        return f
    if pops is not None:
        e, e0 = pops[in_base].astype("float64"), float(pops[cur])
        if not (np.all(np.isfinite(e)) and np.all(e > 0) and math.isfinite(e0) and e0 > 0):
            f["reason"] = "population_missing"
            return f
        scale = e.mean()  # exposures relative to the base mean: scale-free
        e, e0 = e / scale, e0 / scale
    else:
        e, e0 = np.ones_like(y), 1.0
    if y.sum() <= 0:
        f["reason"] = "no_base_counts"
        return f
    r = y.sum() / e.sum()
    f.update(y=y, e=e, e0=e0, mu=r * e, mu0=r * e0, Y=float(y.sum()), S=float(e.sum()),
             S2=float(np.sum(e * e)), k=len(y))
    return f


def _not_evaluated(f: dict) -> dict:
    by = f["base_years"]
    return {"series": f["series"], "group": f["group"], "latest_year": f["latest_year"],
                "first_base_year": by[0] if by else None, "last_base_year": by[-1] if by else None,
                "n_base_years": len(by), "observed": f["observed"], "expected": math.nan, "lower": math.nan,
                "upper": math.nan, "z": math.nan, "p_value": math.nan, "flag": "", "reason": f["reason"],
                "dispersion": math.nan, "swing": math.nan, "nb_alpha": math.nan, "scale": math.nan, "df": math.nan,
                "prior_df": math.nan, "dispersion_source": ""}


# ---------------------------------------------------------------------------
# Dispersion: common NB2 alpha, empirical-Bayes shrinkage of the residual scale
# ---------------------------------------------------------------------------


def _pearson(f: dict, a: float) -> float:
    mu = f["mu"]
    return float(np.sum((f["y"] - mu) ** 2 / (mu + a * mu ** 2)))


def common_nb_alpha(fits: list[dict]) -> float:
    """Moment estimator of a common NB2 dispersion: Pearson chi² = residual df."""
    dof = sum(len(f["y"]) - 1 for f in fits)

    def excess(a):
        return sum(_pearson(f, a) for f in fits) - dof

    if excess(0.0) <= 0:
        return 0.0
    hi = 1e-4
    while excess(hi) > 0:
        hi *= 4
        if hi > 1e6:
            return hi
    return float(optimize.brentq(excess, 0.0, hi, xtol=1e-12, rtol=1e-10))


def _trigamma_inverse(x: float) -> float:
    """Solve trigamma(y) = x for y > 0 (Newton, as in limma)."""
    if x > 1e7:
        return 1.0 / math.sqrt(x)
    if x < 1e-6:
        return 1.0 / x
    y = 0.5 + 1.0 / x
    for _ in range(50):
        tri = float(special.polygamma(1, y))
        dif = tri * (1 - tri / x) / float(special.polygamma(2, y))
        y += dif
        if -dif / y < 1e-8:
            break
    return y


def fit_f_prior(s2: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """Scaled inverse-chi² prior (s0², d0) for variances s2 with df d
    (method of moments on log s², Smyth 2004). d0 = inf when the s2 vary no
    more than sampling alone explains."""
    s2 = np.maximum(np.asarray(s2, dtype="float64"), 0.0)
    d = np.asarray(d, dtype="float64")
    m = float(np.median(s2))
    if m <= 0:
        m = 1.0
    s2 = np.maximum(s2, 1e-5 * m)
    z = np.log(s2)
    e = z - special.digamma(d / 2) + np.log(d / 2)
    n = len(e)
    emean = float(e.mean())
    evar = float(np.sum((e - emean) ** 2) / (n - 1) - np.mean(special.polygamma(1, d / 2)))
    if evar > 0:
        d0 = 2 * _trigamma_inverse(evar)
        s02 = math.exp(emean + special.digamma(d0 / 2) - math.log(d0 / 2))
    else:
        d0 = math.inf
        s02 = math.exp(emean)
    return s02, d0


def _evaluate_group(fits: list[dict], rule: EarlyWarningRule) -> list[dict]:
    if not fits:
        return []
    d = np.array([len(f["y"]) - 1 for f in fits], dtype="float64")
    pooled = len(fits) >= rule.min_series_pooled
    a = common_nb_alpha(fits) if pooled else 0.0
    s2 = np.array([_pearson(f, a) for f in fits]) / d
    if pooled:
        s02, d0 = fit_f_prior(s2, d)
        d0 = min(d0, rule.max_prior_df)
        if math.isinf(d0):
            s2_post = np.full_like(s2, s02)
            df = np.full_like(d, math.inf)
            source = "pooled"
        else:
            s2_post = (d0 * s02 + d * s2) / (d0 + d)
            df = d0 + d
            source = "shrunk"
    else:
        d0 = math.nan
        s2_post, df, source = s2, d, "own"
    rows = []
    for f, s2i, dfi, di in zip(fits, s2_post, df, d):
        rows.append(_decide(f, a, float(s2i), float(dfi), d0, source, rule))
    return rows


def _standardised(x: float, f: dict, a: float, s2: float) -> tuple[float, float, float]:
    """(w, g, sd) for a latest count x: w = (x - mu0_hat) / sd, with the
    variance evaluated under "no change" at the rate of all years including x
    (score test: a low base does not make a rise easier to flag), and g the
    Cornish-Fisher skewness term (skewness / 6) of x minus the level estimate."""
    big_y, big_e, e0, e2, k = f["Y"], f["S"], f["e0"], f["S2"], f["k"]
    r = (big_y + x) / (big_e + e0)
    m0 = r * e0
    var_new = m0 + a * m0 * m0
    var_level = e0 * e0 * (r * big_e + a * r * r * e2) / (big_e * big_e)
    v = s2 * (var_new + var_level)
    if v <= 0:
        return (math.inf if x > f["mu0"] else -math.inf if x < f["mu0"] else 0.0), 0.0, 0.0
    sd = math.sqrt(v)
    # third cumulant of the count, V²/mu (1+2a mu)/(1+a mu): exact for Poisson,
    # NB2 and a scaled Poisson; the level estimate removes about 1/k² of it
    k3 = (s2 * var_new) ** 2 / m0 * (1 + 2 * a * m0) / (1 + a * m0) * (1 - 1 / (k * k))
    return (x - f["mu0"]) / sd, k3 / (v * sd) / 6, sd


def _z(x: float, f: dict, a: float, s2: float) -> float:
    w, g, _ = _standardised(x, f, a, s2)
    return w if math.isinf(w) else _cf_inverse(w, g)


def _bound(f: dict, a: float, s2: float, target: float) -> float:
    """The count x at which the standardised deviation equals target
    (monotone in x); 0 when even x = 0 lies above a negative target."""
    mu0 = f["mu0"]
    if target < 0:
        if _z(0.0, f, a, s2) >= target:
            return 0.0
        lo, hi = 0.0, mu0
    else:
        lo, step = mu0, max(mu0, 1.0)
        hi = mu0 + step
        while _z(hi, f, a, s2) < target:
            lo, step = hi, step * 2
            hi = mu0 + step
            if step > 1e12:
                return math.inf
    return float(optimize.brentq(lambda x: _z(x, f, a, s2) - target, lo, hi, xtol=1e-9, rtol=1e-12))


def _decide(f: dict, a: float, s2: float, df: float, d0: float, source: str, rule: EarlyWarningRule) -> dict:
    mu0, x = f["mu0"], f["observed"]
    s2 = max(s2, 1e-12)
    normal = math.isinf(df) or df > _MAX_DF
    q = float(special.ndtri(1 - rule.alpha_rise) if normal else special.stdtrit(df, 1 - rule.alpha_rise))
    z = _z(x, f, a, s2)
    upper = _bound(f, a, s2, q)
    lower = _bound(f, a, s2, -q) if rule.sided == "two" else math.nan
    if source == "own":
        # A series alone (2-4 df) can show no variability at all (2, 2, 2 -> s² = 0, so
        # 3 would be a "rise"): flag only what Poisson variation alone (scale 1, normal
        # quantile) would flag as well; the range is the wider of the two.
        qn = float(special.ndtri(1 - rule.alpha_rise))
        zp = _z(x, f, a, 1.0) * q / qn
        z = min(z, zp) if x >= mu0 else max(z, zp)
        upper = max(upper, _bound(f, a, 1.0, qn))
        if rule.sided == "two":
            lower = min(lower, _bound(f, a, 1.0, -qn))
    if z > q:
        flag = "rise"
    elif rule.sided == "two" and z < -q:
        flag = "fall"
    else:
        flag = "none"
    zt = abs(z) if rule.sided == "two" else z
    tail = float(special.ndtr(-zt) if normal else special.stdtr(df, -zt))
    p = min(1.0, 2 * tail) if rule.sided == "two" else tail
    by = f["base_years"]
    phi = s2 * (1 + a * mu0)
    return {"series": f["series"], "group": f["group"], "latest_year": f["latest_year"], "first_base_year": by[0],
                "last_base_year": by[-1], "n_base_years": len(by), "observed": x, "expected": float(mu0), "lower": lower,
                "upper": upper, "z": float(z), "p_value": p, "flag": flag, "reason": "", "dispersion": float(phi),
                "swing": math.sqrt(phi / mu0), "nb_alpha": float(a), "scale": float(s2),
                "df": float(df), "prior_df": float(d0), "dispersion_source": source}


def _cf_inverse(w: float, g: float) -> float:
    """The q with q + g(q² - 1) = w (Cornish-Fisher with skewness 6g); for
    w below the turning point of the parabola its minimum, -1/(2g)."""
    if abs(g) < 1e-9:
        return float(w)
    disc = 1 + 4 * g * (g + w)
    if disc <= 0:
        return -1 / (2 * g)
    return float((-1 + math.sqrt(disc)) / (2 * g))
