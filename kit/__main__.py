"""Command line: `python -m kit demo` and `python -m kit run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import PARAMS_DIR, REPO_ROOT, commune_params_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit", description="Sicherheitsanalyse-Kit")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="Demodaten erzeugen und alle Demo-Kommunen auswerten")
    run = sub.add_parser("run", help="Alle (oder die genannten) Kommunen auswerten")
    run.add_argument("params", nargs="*", help="Parameterdateien (Standard: alle in params/)")
    for p in (demo, run):
        p.add_argument("--jobs", type=int, default=2, help="parallele Prozesse (Standard 2)")
        p.add_argument("--output", default=str(REPO_ROOT / "output"), help="Ausgabeordner")
        p.add_argument("--force", action="store_true", help="auch unveränderte Kommunen neu rechnen")
    args = parser.parse_args(argv)

    from .runner import run_batch

    if args.command == "demo":
        from .demo import DEMO_COMMUNES, generate_demo

        # Always regenerate: deterministic (identical bytes, so unchanged communes are still
        # skipped) and it keeps the data in step with the generator after an update.
        print(f"Erzeuge Demodaten für {', '.join(DEMO_COMMUNES)} in data/demo/ …", flush=True)
        generate_demo(REPO_ROOT / "data" / "demo")
        files = [PARAMS_DIR / f"{c}.yaml" for c in DEMO_COMMUNES]
    else:
        files = [Path(p) for p in args.params] or commune_params_files()
    statuses = run_batch(files, args.output, jobs=args.jobs, force=args.force)
    failed = [s for s in statuses if not s.ok]
    print(f"Fertig: {len(statuses) - len(failed)} von {len(statuses)} Kommunen vollständig. "
          f"Übersicht: {Path(args.output) / 'index.html'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
