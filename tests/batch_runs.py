"""Shared by test_dask_batch.py and test_resume.py: one real batch over two demo communes
(HTML only, KIT_PDF=0), run once per test session in this process, and what a batch produced in
a form two runs can be compared by (timestamps, durations and random cell ids left out)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from kit.demo import generate_demo
from kit.params import PARAMS_DIR

COMMUNES = ("muldenau", "elsterhain")

# status.json fields that differ between two equal runs: durations, and (fingerprint, params
# file) what the resume test replaces or the runs name differently
VOLATILE_STAGE_FIELDS = {"seconds"}
VOLATILE_STATUS_FIELDS = {"fingerprint", "params_file"}


def make_inputs(root: Path, communes=COMMUNES) -> list[Path]:
    """Demo data of the communes under root/data and params copies pointing there."""
    generate_demo(root / "data", communes=list(communes))
    files = []
    for c in communes:
        data = yaml.safe_load((PARAMS_DIR / f"{c}.yaml").read_text(encoding="utf-8"))
        data["data_dir"] = str(root / "data" / c)
        path = root / "params" / f"{c}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        files.append(path)
    return files


def input_hashes(files: list[Path]) -> dict[str, str]:
    """sha256 of every params file and every file of its data folder."""
    out = {}
    for f in files:
        data_dir = Path(yaml.safe_load(f.read_text(encoding="utf-8"))["data_dir"])
        for p in [f, *sorted(q for q in data_dir.rglob("*") if q.is_file())]:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


_DATE = re.compile(r"\b\d{2}\.\d{2}\.\d{4}(?: \d{2}:\d{2})?\b")
_CELL_ID = re.compile(r'id="cell-id=[0-9a-f-]+"')  # papermill gives its injected cell a new id


def produced(out: Path) -> dict[str, object]:
    """Everything a batch wrote to ``out`` except logs: results (CSV, JSON) as text, status.json
    without durations, reports and the index without dates and random cell ids; the executed
    notebooks by name only (they hold timings)."""
    items: dict[str, object] = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if not p.is_file() or "/logs/" in f"/{rel}":
            continue
        if p.suffix == ".ipynb":
            items[rel] = "notebook"
        elif p.name == "status.json":
            data = json.loads(p.read_text(encoding="utf-8"))
            for key in VOLATILE_STATUS_FIELDS:
                data.pop(key, None)
            for st in data["stages"]:
                for key in VOLATILE_STAGE_FIELDS:
                    st.pop(key, None)
            items[rel] = data
        elif p.suffix == ".html":
            items[rel] = _CELL_ID.sub('id="cell-id"', _DATE.sub("DATUM", p.read_text(encoding="utf-8")))
        elif p.suffix == ".pdf":
            items[rel] = "pdf"
        else:
            items[rel] = p.read_text(encoding="utf-8")
    return items


@dataclass
class Reference:
    files: list[Path]
    output: Path
    statuses: list
    inputs_before: dict[str, str]
    inputs_after: dict[str, str]


_REFERENCE: Reference | None = None


def reference_run(tmp_path_factory) -> Reference:
    """The two demo communes run by the local runner (jobs=1, in this process), once per session."""
    global _REFERENCE
    if _REFERENCE is None:
        from kit.runner import run_batch

        root = tmp_path_factory.mktemp("reference-batch")
        files = make_inputs(root)
        before = input_hashes(files)
        saved = os.environ.get("KIT_PDF")
        os.environ["KIT_PDF"] = "0"
        try:
            statuses = run_batch(files, root / "output", jobs=1)
        finally:
            if saved is None:
                os.environ.pop("KIT_PDF", None)
            else:
                os.environ["KIT_PDF"] = saved
        _REFERENCE = Reference(files, root / "output", statuses, before, input_hashes(files))
    return _REFERENCE
