"""Benchmark: where the time of a batch run goes.

Run: .venv/bin/python benchmarks/bench_batch.py [--communes muldenau elbstadt] [--repeat 3]

Measures per demo commune
- imports: a fresh interpreter importing what a stage notebook imports,
- compute: stage 1 (load + validate + compute) and stage 2 (import, clean, weight,
  estimate) in-process, without display,
- papermill: each stage notebook executed by kit.runner.execute_stage (kernel start,
  imports, compute, display),
and compares with the targets below. Speed targets live here, never in tests.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS = {  # seconds
    "make demo, install included, 3 communes": 300,
    "papermill, one stage of one commune": 15,
}

IMPORTS = ("import kit.stage, kit.profile.inputs, kit.profile.stage, kit.profile.view, kit.survey.stage, kit.survey.view, "
           "kit.recommend.rules, kit.report, geopandas, matplotlib.pyplot")


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--communes", nargs="*", default=["muldenau", "elsterhain", "elbstadt"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from kit.params import load_params
    from kit.demo import generate_demo
    from kit.profile.inputs import load_profile_inputs
    from kit.results import ResultStore
    from kit.runner import NOTEBOOK_DIR, STAGES, execute_stage
    from kit.profile.stage import compute_profile, write_profile
    from kit.survey.stage import compute_survey

    generate_demo(REPO / "data" / "demo", communes=args.communes)
    imports = timed(lambda: subprocess.run([sys.executable, "-c", IMPORTS], check=True), args.repeat)
    print(f"Imports of a stage notebook in a fresh interpreter: {imports:.2f} s")
    print(f"{'commune':<12} {'stage1 compute':>15} {'stage2 compute':>15} " +
          " ".join(f"{s[0]:>14}" for s in STAGES))
    with tempfile.TemporaryDirectory() as tmp:
        for commune in args.communes:
            params = load_params(REPO / "params" / f"{commune}.yaml")
            store = ResultStore(tmp, commune)

            def stage1():
                inputs = load_profile_inputs(params)
                write_profile(compute_profile(inputs), store, inputs)

            t1 = timed(stage1, args.repeat)
            t2 = timed(lambda: compute_survey(params, store), args.repeat)
            pm_times = []
            for stage, nb_name, _title in STAGES:
                parameters = {"commune_id": commune, "params_file": str(REPO / "params" / f"{commune}.yaml"),
                              "output_dir": tmp}
                pm_times.append(timed(lambda: execute_stage(NOTEBOOK_DIR / nb_name,
                                                            Path(tmp) / commune / "nb" / nb_name, parameters), 1))
            print(f"{commune:<12} {t1:>14.2f}s {t2:>14.2f}s " + " ".join(f"{t:>13.2f}s" for t in pm_times))
            slow = [t for t in pm_times if t > TARGETS["papermill, one stage of one commune"]]
            if slow:
                print(f"  over target ({TARGETS['papermill, one stage of one commune']} s per stage): {slow}")
    print("Targets:", ", ".join(f"{k} < {v} s" for k, v in TARGETS.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
