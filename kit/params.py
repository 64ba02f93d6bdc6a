"""Params: shared defaults merged with one YAML file per commune.

Unknown keys are errors, not warnings: a misspelt key would otherwise be
silently ignored and the analyst would never learn that a setting had no effect.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml

from kit.errors import ParamsError

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = REPO_ROOT / "params"
DEFAULTS_FILE = PARAMS_DIR / "defaults.yaml"

COMMUNE_KEYS = {"commune_id", "name", "ags", "kind", "landkreis", "data_dir", "inputs", "demo", "notes"}
REQUIRED_KEYS = ("commune_id", "name", "ags", "data_dir", "inputs")
INPUT_NAMES = ("districts", "residents", "places", "accommodation", "clubs", "owi",
               "education", "bos", "prevention", "pks", "pmk")
REQUIRED_INPUTS = ("districts", "residents", "pks")
INPUT_OPTIONS = {"path", "format", "key", "year", "sheet", "files"}


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ParamsError(f"Parameterdatei {path} nicht gefunden.")
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"Parameterdatei {path} ist kein gültiges YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"Parameterdatei {path}: erwartet eine Zuordnung (Schlüssel: Wert) auf oberster Ebene.")
    return data


def _merge(base: dict, override: dict, path: str, file: Path) -> dict:
    """Deep-merge override into base; keys must exist in base (the defaults)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        where = f"{path}.{key}" if path else key
        if key not in base:
            raise ParamsError(
                f"Parameterdatei {file}: unbekannter Schlüssel '{where}'. "
                f"Erlaubt: {', '.join(sorted(base))}"
            )
        if isinstance(base[key], dict) and base[key] and isinstance(value, dict):
            out[key] = _merge(base[key], value, where, file)
        else:
            out[key] = value
    return out


def load_params(params_file: str | Path, defaults_file: str | Path = DEFAULTS_FILE) -> dict:
    """Load a commune's params merged over the defaults, validated and with resolved paths.

    Adds `params_file` and `input_paths` (input name -> absolute Path or None).
    """
    params_file = Path(params_file).resolve()
    defaults = _read_yaml(Path(defaults_file))
    own = _read_yaml(params_file)
    commune_part = {k: v for k, v in own.items() if k in COMMUNE_KEYS}
    shared_part = {k: v for k, v in own.items() if k not in COMMUNE_KEYS}
    for key in REQUIRED_KEYS:
        if key not in commune_part:
            raise ParamsError(f"Parameterdatei {params_file}: Pflichtschlüssel '{key}' fehlt.")
    # survey keys a commune adds on top of the defaults (its own files)
    survey_own = shared_part.get("survey", {}) or {}
    survey_files = {k: survey_own.pop(k) for k in ("responses", "sample") if k in survey_own}
    params = _merge(defaults, shared_part, "", params_file)
    params.update(commune_part)
    params["survey"].update(survey_files)

    if not re.fullmatch(r"14\d{6}", str(params["ags"])):
        raise ParamsError(
            f"Parameterdatei {params_file}: 'ags' = {params['ags']!r}; erwartet: "
            "8-stelliger Amtlicher Gemeindeschlüssel eines sächsischen Ortes (beginnt mit 14), in Anführungszeichen."
        )
    if not re.fullmatch(r"[a-z0-9_-]+", str(params["commune_id"])):
        raise ParamsError(f"Parameterdatei {params_file}: 'commune_id' = {params['commune_id']!r}; "
                          "erwartet: Kleinbuchstaben, Ziffern, _ oder - (wird als Ordnername verwendet).")

    data_dir = Path(params["data_dir"])
    if not data_dir.is_absolute():
        data_dir = REPO_ROOT / data_dir
    params["data_dir"] = str(data_dir)
    inputs = params.get("inputs") or {}
    unknown = set(inputs) - set(INPUT_NAMES)
    if unknown:
        raise ParamsError(f"Parameterdatei {params_file}: unbekannte Eingabe(n) {', '.join(sorted(unknown))} "
                          f"unter 'inputs'. Erlaubt: {', '.join(INPUT_NAMES)}")
    for name in REQUIRED_INPUTS:
        if not inputs.get(name):
            raise ParamsError(f"Parameterdatei {params_file}: Pflichteingabe 'inputs.{name}' fehlt.")
    specs = {}
    for name in INPUT_NAMES:
        spec = inputs.get(name)
        if spec is None:
            specs[name] = None
            continue
        if isinstance(spec, str):
            spec = {"path": spec}
        bad = set(spec) - INPUT_OPTIONS
        if bad or ("path" in spec) == ("files" in spec):
            raise ParamsError(f"Parameterdatei {params_file}: 'inputs.{name}' braucht entweder 'path' oder "
                              f"'files' (erlaubt: {', '.join(sorted(INPUT_OPTIONS))}).")
        spec = dict(spec)
        if "files" in spec:
            # several files of one kind, e.g. one BKA table per year: [{path: ..., year: 2022}, ...]
            files = spec["files"]
            if not isinstance(files, list) or not files or not all(isinstance(f, (dict, str)) for f in files):
                raise ParamsError(f"Parameterdatei {params_file}: 'inputs.{name}.files' muss eine Liste von "
                                  "Dateien sein, z. B. [{path: pks_2022.csv, year: 2022}].")
            spec["files"] = [{"path": str(_resolve(data_dir, f if isinstance(f, str) else f["path"])),
                              **({} if isinstance(f, str) else {k: v for k, v in f.items() if k != "path"})}
                             for f in files]
            spec["path"] = spec["files"][0]["path"]
        else:
            spec["path"] = str(_resolve(data_dir, spec["path"]))
        specs[name] = spec
    params["inputs"] = specs
    for key in ("responses", "sample"):
        if params["survey"].get(key):
            params["survey"][key] = str(_resolve(data_dir, params["survey"][key]))
    for section, key in (("survey", "codebook"), ("recommendations", "catalogue")):
        params[section][key] = str(_resolve(REPO_ROOT, params[section][key]))
    params["params_file"] = str(params_file)
    return params


def _resolve(base: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def commune_params_files(params_dir: Path = PARAMS_DIR) -> list[Path]:
    """All commune params files (YAML files with a top-level commune_id)."""
    files = []
    for path in sorted(params_dir.glob("*.yaml")):
        if path.name == DEFAULTS_FILE.name:
            continue
        try:
            head = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            files.append(path)  # let load_params report the syntax error for this commune
            continue
        if isinstance(head, dict) and "commune_id" in head:
            files.append(path)
    return files
