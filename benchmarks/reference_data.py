"""Regenerate the reference data shipped with the kit (kit/profile/reference_data/).

Run: .venv/bin/python benchmarks/reference_data.py [--quelle ../shared/realdata] [--ziel kit/profile/reference_data]

Reads the public source files (BKA PKS Kreis tables KR-F-01-T01 2020 and 2022,
Deutschlandatlas 12/2024, Destatis Gemeindeverzeichnis 31.12.2021) and writes
pks_sachsen.csv and bevoelkerung_sachsen.csv (kit.profile.reference.build_reference_tables).
The kit itself never reads the source files; tests/test_reference.py checks the
shipped numbers against them when they are present.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kit.profile.reference import REFERENCE_DIR, build_reference_tables, write_reference_tables

BKA_FILES = ["pks/2020_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx", "pks/2022_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx"]
ATLAS_FILE = "context/Deutschlandatlas-Daten_Stand2024-12.xlsx"
GV_FILE = "population/31122021_Auszug_GV.xlsx"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Referenzdaten des Kits (Sachsen, Kreise) neu erzeugen")
    parser.add_argument("--quelle", default=str(ROOT.parent / "shared" / "realdata"),
                        help="Ordner mit den Quelldateien (Unterordner pks/, context/, population/)")
    parser.add_argument("--ziel", default=str(REFERENCE_DIR), help="Zielordner der CSV-Dateien")
    args = parser.parse_args(argv)
    src = Path(args.quelle)
    missing = [p for p in [*BKA_FILES, ATLAS_FILE, GV_FILE] if not (src / p).is_file()]
    if missing:
        print(f"Fehler: Quelldateien fehlen in {src}: {', '.join(missing)}", file=sys.stderr)
        return 1
    tables = build_reference_tables([src / p for p in BKA_FILES], src / ATLAS_FILE, src / GV_FILE)
    for path in write_reference_tables(tables, args.ziel):
        print(f"geschrieben: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
