"""Command line of the kit: `python -m kit <command>`.

- ``demo``: generate the demo communes and run every stage for them;
- ``run``: run every stage for the named communes (default: all in params/);
- ``pks-referenz``: reference HZ from the BKA Kreis table as a params snippet;
- ``lss-codebuch``: a codebook draft from a LimeSurvey structure export (.lss);
- ``lagebericht``: the combined Lagebericht (HTML and PDF) of one commune's output folder again.

Every analyst-facing failure is a KitError: it is printed as its German
message, never as a traceback or a class name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kit.errors import InputError, KitError, Problem
from kit.params import PARAMS_DIR, REPO_ROOT, commune_params_files


def _batch(args) -> int:
    from kit.runner import run_batch

    if args.command == "demo":
        from kit.demo import DEMO_COMMUNES, generate_demo

        # Always regenerate: deterministic (identical bytes, so unchanged communes are still
        # skipped) and it keeps the data in step with the generator after an update.
        print(f"Erzeuge Demodaten für {', '.join(DEMO_COMMUNES)} in data/demo/ …", flush=True)
        generate_demo(REPO_ROOT / "data" / "demo")
        files = [PARAMS_DIR / f"{c}.yaml" for c in DEMO_COMMUNES]
    else:
        files = [Path(p) for p in args.params] or commune_params_files()
    if args.kein_pdf:
        import os

        os.environ["KIT_PDF"] = "0"  # read by kit.runner.make_lagebericht (also in worker processes)
    statuses = run_batch(files, args.output, jobs=args.jobs, force=args.force)
    failed = [s for s in statuses if not s.ok]
    print(f"Fertig: {len(statuses) - len(failed)} von {len(statuses)} Kommunen vollständig. "
          f"Übersicht: {Path(args.output) / 'index.html'}")
    return 1 if failed else 0


def _pks_reference(args) -> int:
    from kit.profile.bka import bka_reference, reference_yaml
    from kit.results import atomic_write_text

    source = Path(args.datei)
    if args.jahr is None and source.suffix.lower() in (".csv", ".txt") and source.exists():
        raise InputError(Problem(file=str(source), column="Berichtsjahr", expected=(
            "Option --jahr, z. B. --jahr 2022: die CSV-Fassung der BKA-Tabelle nennt das Berichtsjahr nicht")))
    table = bka_reference(args.datei, year=args.jahr, land=args.land, kreis=args.kreis)
    text = reference_yaml(table, args.schluessel)
    if args.ausgabe:
        atomic_write_text(Path(args.ausgabe), text)
        print(f"Referenzwerte geschrieben: {args.ausgabe}")
    else:
        print(text, end="")
    return 0


def _lss_codebook(args) -> int:
    from kit.survey.codebook import codebook_from_dict
    from kit.survey.lss import convert_lss, summary_text, write_codebook_yaml

    conv = convert_lss(args.lss, args.language)
    codebook_from_dict(conv.codebook, source=args.output)  # the draft must load as it is
    out = write_codebook_yaml(conv.codebook, args.output)
    print(summary_text(conv, out))
    return 0


def _lagebericht(args) -> int:
    from kit.lagebericht import build_lagebericht

    made = build_lagebericht(Path(args.ordner), pdf=not args.kein_pdf)
    print(f"Lagebericht geschrieben: {made.html}" + (f" und {made.pdf.name}" if made.pdf else ""))
    if made.message:
        print(made.message)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kit", description="Sicherheitsanalyse-Kit")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="Demodaten erzeugen und alle Demo-Kommunen auswerten")
    run = sub.add_parser("run", help="Alle (oder die genannten) Kommunen auswerten")
    run.add_argument("params", nargs="*", help="Parameterdateien (Standard: alle in params/)")
    for p in (demo, run):
        p.add_argument("--jobs", type=int, default=2, help="parallele Prozesse (Standard 2)")
        p.add_argument("--output", default=str(REPO_ROOT / "output"), help="Ausgabeordner")
        p.add_argument("--force", action="store_true", help="auch unveränderte Kommunen neu rechnen")
        p.add_argument("--kein-pdf", action="store_true", help="Lagebericht nur als HTML (ohne PDF)")
        p.set_defaults(handler=_batch)

    ref = sub.add_parser("pks-referenz", help="Referenz-HZ aus der BKA-Kreistabelle als YAML für die Parameterdatei",
                         description="Referenzwerte (HZ) für profile.pks_reference aus der BKA-Kreistabelle "
                                     "KR-F-01-T01: für ein Land (aus seinen Kreisen berechnet) oder einen Kreis.")
    ref.add_argument("datei", help="BKA-Kreistabelle KR-F-01-T01 (.csv oder .xlsx)")
    ref.add_argument("--jahr", type=int, default=None,
                     help="Berichtsjahr (bei der CSV-Fassung nötig; die Excel-Fassung nennt es selbst)")
    where = ref.add_mutually_exclusive_group()
    where.add_argument("--land", default="14", help="Landesnummer, z. B. 14 für Sachsen (Standard: 14)")
    where.add_argument("--kreis", default=None, help="5-stelliger Kreisschlüssel, z. B. 14612 für Dresden")
    ref.add_argument("--schluessel", nargs="+", default=None,
                     help="Straftatenschlüssel, z. B. 000000 892000 (Standard: die Summenschlüssel; 'alle': alle)")
    ref.add_argument("--ausgabe", default=None, help="YAML in diese Datei schreiben statt auf den Bildschirm")
    ref.set_defaults(handler=_pks_reference)

    lss = sub.add_parser("lss-codebuch", help="Codebuch-Entwurf aus einem LimeSurvey-Strukturexport (.lss)",
                         description="Codebuch-Entwurf (YAML) aus einem LimeSurvey-Strukturexport (.lss) erzeugen.")
    lss.add_argument("lss", help="LimeSurvey-Strukturexport (.lss)")
    lss.add_argument("-o", "--output", required=True, help="Ziel: Codebuch-YAML")
    lss.add_argument("--language", default="de", help="Sprache der Texte (Standard: de)")
    lss.set_defaults(handler=_lss_codebook)

    lage = sub.add_parser("lagebericht", help="Lagebericht (HTML und PDF) aus dem Ausgabeordner einer Kommune",
                          description="Den Lagebericht einer Kommune aus ihren fertigen Stufenberichten neu "
                                      "zusammenstellen, z. B. output/muldenau.")
    lage.add_argument("ordner", help="Ausgabeordner der Kommune (z. B. output/muldenau)")
    lage.add_argument("--kein-pdf", action="store_true", help="nur HTML, kein PDF")
    lage.set_defaults(handler=_lagebericht)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KitError as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        return 1
