"""Calibration of the early warning: false-alarm rate and power, new rule vs old Poisson rule.

Run: .venv/bin/python benchmarks/early_warning_calibration.py [--communes 120] [--mixed 240] [--seed 1]

Simulation with known truth. A commune has 25 yearly count series; counts are
negative binomial (gamma-Poisson) with mean m * population_t / population_0
and a year-to-year swing c beyond Poisson (NB2 alpha = c²); 4-6 years, half
the communes with a population trend of up to ±2 %/year.

- Table 1 (by cell): all 25 series of a commune share mean m and swing c;
  false-alarm rate = flags among series without change; power = "rise" among
  series whose latest year is multiplied by 1 + effect (the dispersion is
  estimated from the base years only, so planting the rise in the latest year
  of every series measures the same per-series power).
- Table 2 (mixed): the scenario of tests/test_early_warning.py: means
  log-uniform 5-20.000 and swings 2-10 % within each commune; power of a +30 %
  rise at mean 500 with ±8 % swings planted in one series.

The old rule is the former ``kit.profile.indicators.trend_flags`` (Poisson band
around the population-adjusted mean of the 3 previous years), frozen here as
:func:`trend_flags` since the stage uses the new rule.
The numbers quoted in kit.profile.early_warning.CALIBRATION come from this script.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kit.profile.early_warning import RULE, early_warning
from scipy import stats

N_SERIES = 25
FLAGGED = ("rise", "fall")


def simulate(rng, means, swings, effect=0.0, target=None, years=(4, 6)) -> pd.DataFrame:
    """One commune; ``means``/``swings``: (low, high) ranges (log-uniform / uniform)."""
    n_years = int(rng.integers(years[0], years[1] + 1))
    yrs = np.arange(2024 - n_years + 1, 2025)
    growth = rng.uniform(-0.02, 0.02) if rng.integers(0, 2) else 0.0
    pop = 30000.0 * (1 + growth) ** np.arange(n_years)
    frames = []
    for i in range(N_SERIES):
        m = math.exp(rng.uniform(math.log(means[0]), math.log(means[1])))
        c = rng.uniform(*swings)
        planted = effect if target is None else (effect if i == 0 else 0.0)
        if target is not None and i == 0:
            m, c = target
        mu = m * pop / pop[0]
        mu[-1] *= 1 + planted
        lam = mu * rng.gamma(1 / c ** 2, c ** 2, size=n_years) if c > 0 else mu
        frames.append(pd.DataFrame({"series": f"s{i}", "year": yrs, "count": rng.poisson(lam),
                                    "population": pop}))
    return pd.concat(frames, ignore_index=True)


def trend_flags(series_by_year: pd.Series, k: int = 3, conf: float = 0.95, population=None) -> dict:
    """The former rule (kit.profile.indicators.trend_flags up to commit c5e787a), flags only:
    the latest count against the central ``conf`` interval of a Poisson distribution with
    mean m = mean rate of the k previous calendar years times the latest population ("" when
    one of them or a population is missing)."""
    s = pd.Series(series_by_year).dropna().sort_index().astype("float64")
    if s.empty:
        return {"flag": ""}
    latest = int(s.index[-1])
    prev = s[s.index.isin(range(latest - k, latest))]
    if k < 1 or len(prev) < k:
        return {"flag": ""}
    if population is not None:
        pop = pd.Series(population).astype("float64")
        if any(y not in pop.index or not pop[y] > 0 for y in [*prev.index, latest]):
            return {"flag": ""}
        expected = float((prev / pop[prev.index]).mean() * pop[latest])
    else:
        expected = float(prev.mean())
    lower, upper = (float(v) for v in stats.poisson.ppf([(1 - conf) / 2, (1 + conf) / 2], expected)) \
        if expected > 0 else (0.0, 0.0)
    x = float(s.iloc[-1])
    return {"flag": "rise" if x > upper else "fall" if x < lower else "within_chance"}


def old_flags(df: pd.DataFrame) -> pd.Series:
    out = {}
    for s, g in df.groupby("series", sort=False):
        g = g.set_index("year")
        out[s] = trend_flags(g["count"], k=3, population=g["population"])["flag"]
    return pd.Series(out)


def run(rng, n_communes, means, swings, effect=0.0, target=None, only_target=False):
    new, old = [], []
    for _ in range(n_communes):
        df = simulate(rng, means, swings, effect, target)
        res = early_warning(df).set_index("series")["flag"]
        oldf = old_flags(df)
        if only_target:
            res, oldf = res[["s0"]], oldf[["s0"]]
        new.append(res)
        old.append(oldf)
    return pd.concat(new), pd.concat(old)


def rates(flags: pd.Series) -> tuple[float, float]:
    return float(flags.isin(FLAGGED).mean()), float((flags == "rise").mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--communes", type=int, default=120, help="communes per cell (x 25 series)")
    ap.add_argument("--mixed", type=int, default=240, help="communes in the mixed scenario")
    ap.add_argument("--power-reps", type=int, default=600, help="communes for the mixed power")
    ap.add_argument("--effect", type=float, default=0.30)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    print(f"Rule: alpha = {RULE['alpha']} ({RULE['sided']}-sided, rise {RULE['alpha_rise']}), "
          f"{RULE['min_years']}-{RULE['max_years']} base years; effect for power: +{args.effect:.0%}\n")
    rows = []
    for m in (10, 100, 1000, 20000):
        for c in (0.0, 0.03, 0.08):
            n_new, n_old = run(rng, args.communes, (m, m), (c, c))
            p_new, p_old = run(rng, max(args.communes // 3, 10), (m, m), (c, c), effect=args.effect)
            fa_new, fr_new = rates(n_new)
            fa_old, fr_old = rates(n_old)
            rows.append({"mean": m, "swing": f"{c:.0%}", "series": len(n_new),
                         "FA new": fa_new, "FA rise new": fr_new, "FA old": fa_old, "FA rise old": fr_old,
                         "power new": float((p_new == "rise").mean()),
                         "power old": float((p_old == "rise").mean())})
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print("Table 1: by mean and swing (FA = false-alarm rate, all flags / rise only)")
        print(table.to_string(index=False))
    n_new, n_old = run(rng, args.mixed, (5, 20000), (0.02, 0.10))
    p_new, p_old = run(rng, args.power_reps, (5, 20000), (0.02, 0.10), effect=args.effect,
                       target=(500, 0.08), only_target=True)
    se = math.sqrt(RULE["alpha"] * (1 - RULE["alpha"]) / len(n_new))
    print(f"\nTable 2: mixed communes (means 5-20.000, swings 2-10 %), {len(n_new)} series without change")
    print(f"  false-alarm rate  new {rates(n_new)[0]:.3f} (rise {rates(n_new)[1]:.3f}; nominal {RULE['alpha']} "
          f"± {2.576 * se:.3f} at 99 %)   old {rates(n_old)[0]:.3f} (rise {rates(n_old)[1]:.3f})")
    print(f"  power, +{args.effect:.0%} at mean 500 with ±8 % swings ({len(p_new)} series): "
          f"new {(p_new == 'rise').mean():.3f}   old {(p_old == 'rise').mean():.3f}")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
