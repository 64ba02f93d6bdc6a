"""Command line of the kit: `python -m kit <command>`.

- ``demo``: generate the demo communes and run every stage for them;
- ``run``: run every stage for the named communes (default: all in params/);
- ``pks-referenz``: reference HZ from the BKA Kreis table as a params snippet;
- ``lss-codebuch``: a codebook draft from a LimeSurvey structure export (.lss);
- ``lagebericht``: the combined Lagebericht (HTML and PDF) of one commune's output folder again;
- ``check``: the publication check of an output folder (kit/checker.py); exit code 1 on any finding;
- ``sachsen``: build all Saxon communes from the real data in ../shared/realdata and run them (kit/sachsen.py).

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
    if args.dask_local is not None and args.dask_local < 1:
        raise KitError(f"Option --dask-local: {args.dask_local} ist keine gültige Anzahl; erwartet wird eine "
                       "Anzahl Arbeitsprozesse von mindestens 1, z. B. --dask-local 2.")
    statuses = run_batch(files, args.output, jobs=args.jobs, force=args.force, scheduler=args.scheduler,
                         dask_local=args.dask_local or 0)
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


def _sachsen(args) -> int:
    from kit.sachsen import run_command

    return run_command(args)


def _check(args) -> int:
    from kit.checker import check_output, finding_text

    report = check_output(Path(args.ordner), communes=args.kommune or None)
    for commune, rows in report.findings.groupby("commune", sort=True):
        print(f"{commune}: {len(rows)} Befund{'e' if len(rows) != 1 else ''}")
        for row in rows.to_dict("records"):
            print(f"  {finding_text(row)}")
    for note in report.notes:
        print(f"Hinweis: {note}")
    seconds = f"{report.seconds:.1f}".replace(".", ",")
    n = len(report.findings)
    print(f"Veröffentlichungsprüfung: {report.files} Dateien in {seconds} s geprüft – "
          + (f"{n} Befund{'e' if n != 1 else ''}." if n else "keine Befunde."))
    return 1 if n else 0


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
        dask = p.add_mutually_exclusive_group()
        dask.add_argument("--scheduler", default=None, metavar="ADRESSE",
                          help="die Kommunen über einen laufenden Dask-Scheduler rechnen, z. B. tcp://10.0.0.5:8786 "
                               "(alle Rechner brauchen dieselben Pfade; --jobs gilt dann nicht)")
        dask.add_argument("--dask-local", type=int, default=None, metavar="N",
                          help="einen lokalen Dask-Cluster mit N Arbeitsprozessen starten und darüber rechnen")
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

    chk = sub.add_parser("check", help="Ausgabeordner vor der Veröffentlichung prüfen (kleine Zellen, Freitexte, "
                                       "Einzeldaten, Fallnummern, Abgabezeitpunkte)",
                         description="Durchsucht alle Dateien eines Ausgabeordners (HTML, PDF, Notebooks, CSV, "
                                     "JSON, Protokolle) je Kommune nach Angaben, die nicht veröffentlicht werden "
                                     "dürfen. Rückgabewert 1, wenn etwas gefunden wurde.")
    chk.add_argument("ordner", help="Ausgabeordner (z. B. output)")
    chk.add_argument("--kommune", nargs="+", default=None, metavar="ID",
                     help="nur diese Kommunen (Ordnernamen, z. B. muldenau)")
    chk.set_defaults(handler=_check)

    sx = sub.add_parser(
        "sachsen", help="Alle 418 sächsischen Gemeinden aus echten öffentlichen Daten aufbauen und auswerten",
        description="Baut je Gemeinde Sachsens (VG250) Parameter und Eingaben aus ../shared/realdata auf (echte "
                    "Schlüssel, Namen, Grenzen, Einwohner 2021, PKS der Kreise; synthetisch nur, wo keine echten "
                    "Daten vorliegen, und so markiert) und wertet sie als Batch aus (kit/sachsen.py).")
    sx.add_argument("--jobs", type=int, default=2, help="parallele Prozesse (Standard 2)")
    sx.add_argument("--output", default=str(REPO_ROOT / "output" / "sachsen"),
                    help="Ausgabeordner (Standard: output/sachsen)")
    sx.add_argument("--daten", default=str(REPO_ROOT / "data" / "sachsen"),
                    help="Ordner für die erzeugten Eingaben und Parameter (Standard: data/sachsen)")
    sx.add_argument("--realdata", default=str(REPO_ROOT.parent / "shared" / "realdata"),
                    help="Ordner der echten Daten (Standard: ../shared/realdata neben dem Kit-Ordner)")
    sx.add_argument("--auswahl", nargs="+", default=None, metavar="AGS",
                    help="nur diese Gemeinden (8-stellige AGS), z. B. --auswahl 14612000 14522275")
    sx.add_argument("--kein-pdf", action="store_true", help="Lagebericht nur als HTML (ohne PDF)")
    sx.add_argument("--force", action="store_true", help="auch unveränderte Gemeinden neu rechnen")
    sx.add_argument("--mit-befragung", action="store_true",
                    help="je Gemeinde eine SYNTHETISCHE Bürgerbefragung erzeugen (Standard: keine, Stufe 2 entfällt)")
    sx.add_argument("--nur-aufbauen", action="store_true", help="nur Eingaben und Parameter erzeugen, nicht rechnen")
    sx.add_argument("--dask-local", type=int, default=None, metavar="N",
                    help="einen lokalen Dask-Cluster mit N Arbeitsprozessen starten und darüber rechnen")
    sx.set_defaults(handler=_sachsen)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KitError as exc:
        print(f"Fehler: {exc}", file=sys.stderr)
        return 1
