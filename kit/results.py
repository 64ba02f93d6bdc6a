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

from kit.errors import ResultError


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


MANIFEST = "manifest.json"  # results/manifest.json: stage id -> result files it wrote


def read_manifest(results_dir: Path) -> dict[str, list[str]]:
    try:
        data = json.loads((Path(results_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): [str(f) for f in v] for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def write_manifest(results_dir: Path, manifest: dict[str, list[str]]) -> None:
    atomic_write_text(Path(results_dir) / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True))


def remove_stage_results(results_dir: Path, stage: str) -> list[str]:
    """Delete the result files a stage wrote (per the manifest) and its manifest entry, so a
    failed or skipped stage leaves no result of an earlier run behind. Returns the names."""
    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir)
    names = manifest.pop(stage, [])
    for name in names:
        if "/" not in name and "\\" not in name:  # only files directly in results/
            (results_dir / name).unlink(missing_ok=True)
    if names:
        write_manifest(results_dir, manifest)
    return names


class ResultStore:
    """Read and write one commune's results. A store opened for a stage records every file
    it writes in results/manifest.json, so the runner can remove exactly that stage's results."""

    def __init__(self, output_dir: str | Path, commune_id: str, stage: str | None = None):
        self.commune_dir = Path(output_dir) / commune_id
        self.dir = self.commune_dir / "results"
        self.stage = stage

    def path(self, name: str, suffix: str) -> Path:
        return self.dir / f"{name}{suffix}"

    def _record(self, path: Path) -> None:
        if self.stage is None:
            return
        manifest = read_manifest(self.dir)
        files = manifest.setdefault(self.stage, [])
        if path.name not in files:
            files.append(path.name)
            write_manifest(self.dir, manifest)

    def write_table(self, name: str, df: pd.DataFrame) -> Path:
        path = self.path(name, ".csv")
        self._record(path)  # before the file: a crash in between leaves no unlisted result
        atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))
        return path

    def write_json(self, name: str, data: dict) -> Path:
        path = self.path(name, ".json")
        self._record(path)
        atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=_jsonable))
        return path

    def _missing(self, name: str, path: Path) -> ResultError:
        return ResultError(f"Ergebnis '{name}' fehlt ({path}). Bitte zuerst die vorherige Stufe ausführen.")

    def read_table(self, name: str, **kwargs) -> pd.DataFrame:
        path = self.path(name, ".csv")
        if not path.exists():
            raise self._missing(name, path)
        return pd.read_csv(path, keep_default_na=True, **kwargs)

    def read_json(self, name: str) -> dict:
        path = self.path(name, ".json")
        if not path.exists():
            raise self._missing(name, path)
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

