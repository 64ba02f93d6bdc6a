"""Benchmark of a whole batch (issue 11, item 4) — a script, not a timed test.

Run:  .venv/bin/python benchmarks/batch.py [--jobs 2] [--synthetic 30] [--cold] [--dask-local N]

Times, over the demo communes (and with --synthetic N over N more communes made by copying the
demo params with new ids into a temporary folder; their data are the demo data):

(a) naive:  a loop of `papermill` + `jupyter nbconvert --to html --no-input` CLI calls, one after
            the other (stages 1-2 of every commune first, then stage 3, as the batch does);
(b) kit:    the kit's batch with HTML only (`python -m kit run --kein-pdf --force --jobs J`),
            warm kernels (one per worker, reset before every notebook); with --cold also the same
            batch with a new kernel per stage (KIT_WARM=0);
(d) dask:   with --dask-local N, the kit's batch as (b), but its tasks on a dask.distributed
            LocalCluster of N worker processes (`python -m kit run --dask-local N`);
(c) floor:  the same kit calls — the notebooks' code cells, i.e. compute, write, views with their
            figures — in plain Python worker processes without kernels, papermill or nbconvert,
            at the same parallelism.

Prints per-commune times, the ratios (b)/(a) and (b)/(c), the peak memory (largest resident set
of any one process, resource.getrusage), and where (b)'s time goes (kernel reset, notebook
execution, HTML export, Lagebericht HTML), measured inside the batch's workers.
Every variant runs in its own child process, so its getrusage numbers are its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = sys.executable
BIN = Path(PY).parent
DEMO = ("muldenau", "elsterhain", "elbstadt")


# -- inputs ----------------------------------------------------------------------------------
def batch_params(folder: Path, synthetic: int) -> list[Path]:
    """The demo params (data_dir made absolute) plus ``synthetic`` copies with new ids."""
    import yaml

    from kit.params import PARAMS_DIR

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(len(DEMO) + synthetic):
        base = DEMO[i % len(DEMO)]
        data = yaml.safe_load((PARAMS_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
        data["data_dir"] = str((REPO / data["data_dir"]).resolve())
        if i >= len(DEMO):
            data["commune_id"] = f"{base}_{i:03d}"
            data["name"] = f"{data['name']} {i:03d}"
        path = folder / f"{data['commune_id']}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        files.append(path)
    return files


def _phases(files: list[Path]):
    from kit.stage import STAGES

    return [(f, s) for s in STAGES[:2] for f in files], [(f, STAGES[2]) for f in files]


# -- (a) naive CLI loop ----------------------------------------------------------------------
def run_naive(files: list[Path], out: Path) -> dict:
    per = {f.stem: 0.0 for f in files}
    env = {**os.environ, "KIT_BATCH": "1"}
    env.pop("KIT_OUTPUT_DIR", None)
    for phase in _phases(files):
        for f, (_, nb, _) in phase:
            start = time.perf_counter()
            executed = out / f.stem / "notebooks" / nb
            executed.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([str(BIN / "papermill"), str(REPO / "notebooks" / nb), str(executed),
                            "-p", "commune_id", f.stem, "-p", "params_file", str(f), "-p", "output_dir", str(out),
                            "--cwd", str(REPO / "notebooks"), "--no-progress-bar"],
                           check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", "--no-prompt",
                            str(executed), "--output-dir", str(out / f.stem)],
                           check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            per[f.stem] += time.perf_counter() - start
    return {"per_commune": per}


# -- (b) the kit's batch -----------------------------------------------------------------------
def _instrument(record: Path) -> None:
    """Time the runner's parts inside its workers (forked after this, so they inherit it)."""
    from kit import runner, warmkernel

    def timed(name, fn):
        def wrapper(*a, **k):
            start = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                with open(record, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"part": name, "s": time.perf_counter() - start}) + "\n")
        return wrapper

    runner.execute_stage = timed("execute", runner.execute_stage)
    runner.render_html = timed("export", runner.render_html)
    runner.make_lagebericht = timed("lagebericht", runner.make_lagebericht)
    warmkernel.WarmKernel.reset = timed("reset", warmkernel.WarmKernel.reset)
    warmkernel.WarmKernel.start = timed("kernel start", warmkernel.WarmKernel.start)


def run_kit(files: list[Path], out: Path, jobs: int, warm: bool, dask_local: int = 0) -> dict:
    os.environ["KIT_PDF"] = "0"
    os.environ["KIT_WARM"] = "1" if warm else "0"
    record = out / "parts.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    _instrument(record)
    import contextlib
    import io

    from kit.runner import run_batch

    with contextlib.redirect_stdout(io.StringIO()):
        statuses = run_batch(files, out, jobs=jobs, force=True, dask_local=dask_local)
    bad = [(s.commune_id, [(st.stage, st.status, st.message) for st in s.stages if st.status != "ok"])
           for s in statuses if not s.ok]
    if bad:
        raise SystemExit(f"Kommunen nicht vollständig: {bad}")
    per = {s.commune_id: sum(st.seconds for st in s.stages) for s in statuses}
    parts: dict[str, float] = {}
    # (the parts are timed in this process and its forked pool workers, not in Dask's workers)
    for line in (record.read_text(encoding="utf-8").splitlines() if record.exists() else []):
        item = json.loads(line)
        parts[item["part"]] = parts.get(item["part"], 0.0) + item["s"]
    return {"per_commune": per, "parts": parts}


# -- (c) compute floor -------------------------------------------------------------------------
def _floor_commune(args) -> tuple[str, float]:
    """The code cells of the commune's stage notebooks, executed in plain Python (display is a
    no-op: the views still build their tables and draw and encode their figures)."""
    params_file, out, stages = args
    import IPython.core.display_functions as display_functions
    import IPython.display

    def display(*objs, **kw):
        for obj in objs:  # what a frontend would ask for: the object's HTML or Markdown
            for method in ("_repr_html_", "_repr_markdown_"):
                if hasattr(obj, method):
                    getattr(obj, method)()
                    break

    display_functions.display = IPython.display.display = display
    import nbformat
    from papermill.parameterize import parameterize_notebook

    start = time.perf_counter()
    for nb_name in stages:
        nb = nbformat.read(REPO / "notebooks" / nb_name, as_version=4)
        for cell in nb.cells:  # as papermill does before it parameterises
            cell.metadata.setdefault("tags", [])
        nb.metadata["papermill"] = {}
        nb = parameterize_notebook(nb, {"commune_id": Path(params_file).stem, "params_file": str(params_file),
                                        "output_dir": str(out)})
        namespace: dict = {"__name__": "__main__"}
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, f"{nb_name}", "exec"), namespace)  # noqa: S102 - the notebook's own code
        import matplotlib.pyplot as plt

        plt.close("all")
    return Path(params_file).stem, time.perf_counter() - start


def run_floor(files: list[Path], out: Path, jobs: int) -> dict:
    from concurrent.futures import ProcessPoolExecutor

    os.environ["KIT_BATCH"] = "1"
    os.environ.pop("KIT_OUTPUT_DIR", None)
    os.chdir(REPO / "notebooks")
    from kit.stage import STAGES

    first = [nb for _, nb, _ in STAGES[:2]]
    per = {f.stem: 0.0 for f in files}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for stages in (first, [STAGES[2][1]]):
            for cid, seconds in pool.map(_floor_commune, [(f, out, stages) for f in files]):
                per[cid] += seconds
    return {"per_commune": per}


# -- driver ----------------------------------------------------------------------------------
def child(args) -> None:
    """One variant in this (child) process; prints a JSON line with times and peak memory."""
    files = sorted(Path(args.params_dir).glob("*.yaml"), key=lambda p: (len(p.stem), p.stem))
    out = Path(args.out)
    start = time.perf_counter()
    if args.variant == "naive":
        result = run_naive(files, out)
    elif args.variant in ("kit", "kit-cold"):
        result = run_kit(files, out, args.jobs, warm=args.variant == "kit")
    elif args.variant == "kit-dask":
        result = run_kit(files, out, args.jobs, warm=True, dask_local=args.dask_local)
    else:
        result = run_floor(files, out, args.jobs)
    result["wall"] = time.perf_counter() - start
    kb = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    result["peak_mb"] = kb / 1024
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    result["cpu"] = sum(u.ru_utime + u.ru_stime for u in usage)
    print("RESULT " + json.dumps(result), flush=True)


def _de(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}".replace(",", "X").replace(".", ",").replace("X", ".")


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem = 0
    return f"{os.cpu_count()} CPU ({model}), {_de(mem / 1024 / 1024)} GB RAM, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--synthetic", type=int, default=0, help="so viele zusätzliche Kommunen (Kopien der Demo)")
    parser.add_argument("--cold", action="store_true", help="auch den Stapellauf mit kaltem Kern je Stufe messen")
    parser.add_argument("--dask-local", type=int, default=0, metavar="N",
                        help="auch den Stapellauf über einen lokalen Dask-Cluster mit N Arbeitsprozessen messen")
    parser.add_argument("--skip", nargs="*", default=[], help="Varianten auslassen: naive kit floor")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--params-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return 0

    from kit.demo import ensure_demo_data
    from kit.params import load_params

    tmp = Path(tempfile.mkdtemp(prefix="kit-bench-"))
    try:
        files = batch_params(tmp / "params", args.synthetic)
        for f in files[:len(DEMO)]:
            ensure_demo_data(load_params(f))
        variants = [v for v in ("naive", "kit", "kit-cold", "kit-dask", "floor")
                    if v not in args.skip and (v != "kit-cold" or args.cold) and (v != "kit-dask" or args.dask_local)]
        results = {}
        for v in variants:
            print(f"… {v}", flush=True)
            done = subprocess.run([PY, __file__, "--variant", v, "--params-dir", str(tmp / "params"),
                                   "--out", str(tmp / f"out-{v}"), "--jobs", str(args.jobs),
                                   "--dask-local", str(args.dask_local)],
                                  capture_output=True, text=True)
            line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
            if done.returncode or line is None:
                print(f"{v} fehlgeschlagen:", done.stdout[-3000:], done.stderr[-3000:])
                continue
            results[v] = json.loads(line[len("RESULT "):])
            print(f"{v}: {line}", flush=True)
        report(results, files, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def report(results: dict, files: list[Path], args) -> None:
    names = {"naive": "(a) papermill + nbconvert (CLI, nacheinander)",
             "kit": f"(b) Kit-Stapellauf, warme Kerne, {args.jobs} parallel",
             "kit-cold": f"(b') Kit-Stapellauf, kalter Kern je Stufe, {args.jobs} parallel",
             "kit-dask": f"(d) Kit-Stapellauf über lokalen Dask-Cluster, {args.dask_local} Prozesse",
             "floor": f"(c) Rechenuntergrenze ohne Notebooks, {args.jobs} parallel"}
    print(f"\nRechner: {machine()}")
    print(f"Kommunen: {len(files)} ({len(DEMO)} Demo + {len(files) - len(DEMO)} synthetisch)\n")
    print(f"{'Variante':58} {'Wand s':>8} {'je Komm. s':>10} {'CPU s':>8} {'Spitze MB':>10}")
    for v, r in results.items():
        print(f"{names[v]:58} {_de(r['wall']):>8} {_de(r['wall'] / len(files)):>10} {_de(r['cpu']):>8} "
              f"{_de(r['peak_mb'], 0):>10}")
    print("\nZeit je Kommune (Summe ihrer Stufen, s):")
    ids = [f.stem for f in files]
    shown = ids if len(ids) <= 12 else ids[:6] + ["…"] + ids[-3:]
    print(f"{'Kommune':22}" + "".join(f"{v:>10}" for v in results))
    for cid in shown:
        if cid == "…":
            print("…")
            continue
        print(f"{cid:22}" + "".join(f"{_de(results[v]['per_commune'].get(cid, 0.0)):>10}" for v in results))
    print()
    if "kit-dask" in results:
        d = results["kit-dask"]
        print(f"(d) Dask: {_de(d['wall'] / len(files))} s Wandzeit und {_de(d['cpu'] / len(files))} CPU-s je Kommune")
        for other, words in (("naive", "(a)/(d): Dask {:}× schneller als die naive Schleife"),
                             ("kit", "(d)/(b): Dask braucht {:}× die Zeit des Kit-Stapellaufs"),
                             ("floor", "(d)/(c): Dask braucht {:}× die Zeit der Rechenuntergrenze")):
            if other in results:
                ratio = results[other]["wall"] / d["wall"] if other == "naive" else d["wall"] / results[other]["wall"]
                print(words.format(_de(ratio, 2)))
    if "kit" in results:
        b = results["kit"]["wall"]
        if "naive" in results:
            print(f"(a)/(b): Kit {_de(results['naive']['wall'] / b)}× schneller als die naive Schleife")
        if "floor" in results:
            print(f"(b)/(c): Kit braucht {_de(b / results['floor']['wall'], 2)}× die Zeit der Rechenuntergrenze")
        if "kit-cold" in results:
            print(f"(b')/(b): warme Kerne {_de(results['kit-cold']['wall'] / b)}× schneller als kalte")
        parts = results["kit"].get("parts", {})
        if parts:
            execute = parts.get("execute", 0.0) - parts.get("reset", 0.0) - parts.get("kernel start", 0.0)
            print("\nWohin (b)s Zeit geht (Summe über die Arbeitsprozesse, s):")
            for label, value in (("Kernstart + Vorimporte", parts.get("kernel start", 0.0)),
                                 ("Kern-Reset", parts.get("reset", 0.0)),
                                 ("Notebook-Ausführung (Rechnen, Abbildungen, papermill)", execute),
                                 ("HTML-Export (nbconvert + Nachbearbeitung)", parts.get("export", 0.0)),
                                 ("Lagebericht (HTML)", parts.get("lagebericht", 0.0))):
                print(f"  {label:55} {_de(value):>8}")


if __name__ == "__main__":
    sys.exit(main())
