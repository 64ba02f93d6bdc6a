"""Machine-readable results per commune: output/<commune>/results/.

Tables are CSV (UTF-8, '.' decimal) so analysts can open them in a spreadsheet and
later stages and cross-commune comparisons read them without parsing notebooks.
Every write is atomic (temporary file + rename): a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from kit.errors import KitError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class ResultStore:
    """Read and write one commune's results."""

    def __init__(self, output_dir: str | Path, commune_id: str):
        self.commune_dir = Path(output_dir) / commune_id
        self.dir = self.commune_dir / "results"

    def path(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}{suffix}"

    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        path = self.path(name, ".csv")
        atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))
        return path

    def write_json(self, name: str, data: dict) -> Path:
        path = self.path(name, ".json")
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_jsonable))
        return path

    def read_table(self, name: str, **kwargs) -> pd.DataFrame:
        path = self.path(name, ".csv")
        if not path.exists():
            raise KitError(f"Ergebnis '{name}' fehlt ({path}). Bitte zuerst die vorherige Stufe ausführen.")
        return pd.read_csv(path, keep_default_na=True, **kwargs)

    def read_json(self, name: str) -> dict:
        path = self.path(name, ".json")
        if not path.exists():
            raise KitError(f"Ergebnis '{name}' fehlt ({path}). Bitte zuerst die vorherige Stufe ausführen.")
        return json.loads(path.read_text(encoding="utf-8"))

    def exists(self, name: str, suffix: str = ".csv") -> bool:
        return self.path(name, suffix).exists()


def _jsonable(obj):
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    if pd.isna(obj):
        return None
    return str(obj)


STAGE_RESULT_NAMES = ("profile", "survey")  # stages that write key indicators and provenance


def input_hashes(store: ResultStore) -> dict[str, str]:
    """SHA-256 of every input file used by stages 1 and 2 (for provenance)."""
    hashes: dict[str, str] = {}
    for name in STAGE_RESULT_NAMES:
        if store.exists(f"provenance_{name}", ".json"):
            hashes.update(store.read_json(f"provenance_{name}").get("input_hashes", {}))
    return hashes

