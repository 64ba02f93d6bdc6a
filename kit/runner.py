"""Batch runner: every stage notebook for every commune, via papermill.

This is the one place that executes notebooks (`execute_stage`), so a later
version can keep one warm kernel per worker without touching the notebooks.
Communes run in parallel processes (papermill's cwd handling is process-wide);
a failing commune is recorded and never stops the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kit import __version__
from kit.params import DEFAULTS_FILE, REPO_ROOT, load_params
from kit.errors import KitError
from kit.results import atomic_write_text
from kit.stage import STAGES

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


DONE = ("ok", "entfällt")  # stage states that count as complete


def not_applicable(stage: str, params: dict) -> str:
    """Why a stage does not apply to a commune ("" when it does): a commune without a
    survey still gets its area profile and the recommendations that rest on it."""
    if stage == "survey" and not params["survey"].get("responses"):
        return "keine Bürgerbefragung in den Parametern angegeben (survey.responses)"
    return ""


@dataclass
class StageStatus:
    stage: str
    title: str
    status: str = "ausstehend"  # ok | entfällt | fehlgeschlagen | übersprungen | ausstehend
    seconds: float = 0.0
    message: str = ""
    report: str = ""  # report path relative to the output dir


@dataclass
class CommuneStatus:
    commune_id: str
    name: str = ""
    params_file: str = ""
    fingerprint: str = ""
    stages: list[StageStatus] = field(default_factory=list)
    message: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.stages) and all(s.status in DONE for s in self.stages)


@contextlib.contextmanager
def _stderr_to(log_file: Path):
    """Send this process's stderr (fd 2, inherited by the kernel) to a log file, so
    kernel start-up chatter lands in output/<id>/logs instead of the batch progress."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_file, "ab") as fh:
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def _batch_environment():
    """KIT_BATCH=1 for the kernel started inside (it inherits the environment): no interactive
    widgets in batch runs. Restored afterwards so the calling process is unaffected."""
    before = os.environ.get("KIT_BATCH")
    os.environ["KIT_BATCH"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("KIT_BATCH", None)
        else:
            os.environ["KIT_BATCH"] = before


def execute_stage(notebook: Path, executed: Path, parameters: dict, log_file: Path | None = None) -> None:
    """Run one stage notebook with papermill; raises PapermillExecutionError.

    The single place where notebooks are executed (a warm-kernel pool would go here)."""
    import papermill as pm

    executed.parent.mkdir(parents=True, exist_ok=True)
    with _stderr_to(log_file or executed.with_suffix(".log")), _batch_environment():
        pm.execute_notebook(
            str(notebook), str(executed), parameters=parameters, kernel_name="python3",
            cwd=str(notebook.parent), progress_bar=False, log_output=False,
        )


def render_html(executed: Path, target: Path, title: str | None = None) -> None:
    """Executed notebook -> HTML report without code (nbconvert exclude_input)."""
    import nbformat
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = nbformat.read(executed, as_version=4)
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = {"remove_cell"}
    # the parameters cell papermill injects holds paths only: not part of the report
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"injected-parameters", "parameters"}
    exporter = HTMLExporter(config=config, exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, language_code="de")
    title = title or target.stem
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    atomic_write_text(target, body)


def fingerprint(params_file: Path, params: dict) -> str:
    """Hash of everything a commune's reports depend on (skip when unchanged)."""
    digest = hashlib.sha256(__version__.encode())
    paths = [Path(params_file), DEFAULTS_FILE, *sorted(NOTEBOOK_DIR.glob("*.ipynb")),
             *sorted((REPO_ROOT / "kit").rglob("*.py")), *sorted((REPO_ROOT / "data_schemas").glob("*")),
             Path(params["recommendations"]["catalogue"])]
    data_dir = Path(params["data_dir"])
    if data_dir.exists():
        paths += sorted(p for p in data_dir.rglob("*") if p.is_file())
    for path in paths:
        if path.exists():
            digest.update(str(path.name).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _error_text(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        if exc.ename in ("InputError", "ParamsError", "KitError"):
            return str(exc.evalue)
        return f"{exc.ename}: {exc.evalue}"
    if isinstance(exc, KitError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def run_commune(params_file: str | Path, output_dir: str | Path, force: bool = False,
                log=print) -> CommuneStatus:
    params_file = Path(params_file)
    output_dir = Path(output_dir).resolve()
    status = CommuneStatus(commune_id=params_file.stem, params_file=str(params_file))
    status.stages = [StageStatus(stage=s, title=t) for s, _, t in STAGES]
    try:
        params = load_params(params_file)
        from kit.demo import ensure_demo_data

        ensure_demo_data(params)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded per commune
        status.message = _error_text(exc)
        for st in status.stages:
            st.status, st.message = "übersprungen", "Parameter fehlerhaft"
        log(f"  {status.commune_id}: Parameter fehlerhaft – {status.message.splitlines()[0]}")
        _write_status(output_dir, status)
        return status
    status.commune_id, status.name = params["commune_id"], params["name"]
    status.fingerprint = fingerprint(params_file, params)
    commune_dir = output_dir / status.commune_id
    previous = _read_status(commune_dir)
    if (not force and previous and previous.get("fingerprint") == status.fingerprint
            and all(s["status"] in DONE for s in previous["stages"])
            and all((output_dir / s["report"]).exists() for s in previous["stages"] if s["status"] == "ok")):
        log(f"  {status.name}: unverändert, übersprungen")
        return _status_from_dict(previous)

    parameters = {"commune_id": status.commune_id, "params_file": str(params_file.resolve()),
                  "output_dir": str(output_dir)}
    failed = False
    for (stage, nb_name, title), st in zip(STAGES, status.stages):
        if failed:
            st.status, st.message = "übersprungen", "vorherige Stufe fehlgeschlagen"
            continue
        reason = not_applicable(stage, params)
        if reason:
            st.status, st.message = "entfällt", reason
            log(f"  {status.name} · {title}: entfällt – {reason}")
            continue
        start = time.perf_counter()
        executed = commune_dir / "notebooks" / nb_name
        report = commune_dir / f"{nb_name.removesuffix('.ipynb')}.html"
        try:
            execute_stage(NOTEBOOK_DIR / nb_name, executed, parameters,
                          log_file=commune_dir / "logs" / "kernel.log")
            render_html(executed, report, title=f"{title} {status.name}")
            st.status, st.report = "ok", str(report.relative_to(output_dir))
        except Exception as exc:  # noqa: BLE001
            failed = True
            st.status, st.message = "fehlgeschlagen", _error_text(exc)
            if not isinstance(exc, KitError) and type(exc).__name__ != "PapermillExecutionError":
                traceback.print_exc(file=sys.stderr)
        st.seconds = round(time.perf_counter() - start, 1)
        first_line = st.message.splitlines()[0] if st.message else ""
        log(f"  {status.name} · {title}: {st.status} ({str(st.seconds).replace('.', ',')} s){' – ' + first_line if first_line else ''}")
    _write_status(output_dir, status)
    return status


def _status_path(commune_dir: Path) -> Path:
    return commune_dir / "status.json"


def _read_status(commune_dir: Path) -> dict | None:
    path = _status_path(commune_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _status_from_dict(data: dict) -> CommuneStatus:
    stages = [StageStatus(**s) for s in data.pop("stages")]
    return CommuneStatus(**data, stages=stages)


def _write_status(output_dir: Path, status: CommuneStatus) -> None:
    atomic_write_text(_status_path(output_dir / status.commune_id),
                      json.dumps(asdict(status), ensure_ascii=False, indent=2))


def _run_one(args):
    params_file, output_dir, force = args
    return run_commune(params_file, output_dir, force=force, log=lambda m: print(m, flush=True))


def run_batch(params_files: list[Path], output_dir: str | Path, jobs: int = 2,
              force: bool = False) -> list[CommuneStatus]:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    total = len(params_files)
    print(f"Sicherheitsanalyse: {total} Kommune(n), {len(STAGES)} Stufen, {jobs} parallel", flush=True)
    results: list[CommuneStatus] = []
    tasks = [(str(p), str(output_dir), force) for p in params_files]
    if jobs <= 1 or total <= 1:
        for i, task in enumerate(tasks, 1):
            results.append(_run_one(task))
            print(f"[{i}/{total}] {results[-1].name or results[-1].commune_id} abgeschlossen", flush=True)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_run_one, t): t for t in tasks}
            for i, fut in enumerate(as_completed(futures), 1):
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker must not stop the batch
                    res = CommuneStatus(commune_id=Path(futures[fut][0]).stem, message=_error_text(exc))
                results.append(res)
                print(f"[{i}/{total}] {res.name or res.commune_id} abgeschlossen", flush=True)
    results.sort(key=lambda s: s.commune_id)
    write_index(output_dir, results)
    return results


STATUS_STYLE = {"ok": "#1f7a3a", "entfällt": "#666", "fehlgeschlagen": "#b00020", "übersprungen": "#8a6d00", "ausstehend": "#666"}


def comparison_section(output_dir: Path, statuses: list[CommuneStatus]) -> str:
    """Key indicators of all complete communes side by side (also written as CSV)."""
    from kit.report import fmt_indicator, html_table
    from kit.indicators import compare_key_indicators

    complete = [(s.commune_id, s.name or s.commune_id) for s in statuses if s.ok]
    table = compare_key_indicators(output_dir, complete)
    atomic_write_text(output_dir / "kennzahlen_vergleich.csv", table.to_csv(index=False, lineterminator="\n"))
    if table.empty or len(complete) < 2:
        return ""

    table["text"] = [fmt_indicator(v, u) for v, u in zip(table["value"], table["unit"])]
    wide = table.pivot_table(index=["source", "indicator", "label"], columns="commune", values="text",
                             aggfunc="first", sort=False).reset_index()
    names = [name for _, name in complete]
    columns = {"label": ("Kennzahl", None)} | {n: (n, None) for n in names if n in wide.columns}
    return ("<h2>Kennzahlen im Vergleich</h2><p>Punktwerte; die Intervalle stehen in den Berichten und in "
            "kennzahlen_vergleich.csv. Befragungswerte sind gewichtet; „–“: nicht vorhanden oder wegen zu "
            "weniger Fälle nicht ausgewiesen.</p>" + html_table(wide, columns))


def write_index(output_dir: Path, statuses: list[CommuneStatus]) -> Path:
    rows = []
    for st in statuses:
        cells = []
        for stage in st.stages or [StageStatus(s, t, "übersprungen") for s, _, t in STAGES]:
            label = html.escape(stage.status)
            color = STATUS_STYLE.get(stage.status, "#666")
            link = f'<a href="{html.escape(stage.report)}">Bericht öffnen</a><br>' if stage.status == "ok" else ""
            msg = f'<div class="msg">{html.escape(stage.message)}</div>' if stage.message else ""
            cells.append(f'<td>{link}<span style="color:{color};font-weight:600">{label}</span>{msg}</td>')
        general = f'<div class="msg">{html.escape(st.message)}</div>' if st.message else ""
        rows.append(f"<tr><td><b>{html.escape(st.name or st.commune_id)}</b><br>"
                    f"<small>{html.escape(st.commune_id)}</small>{general}</td>{''.join(cells)}</tr>")
    heads = "".join(f"<th>{html.escape(t)}</th>" for _, _, t in STAGES)
    n_ok = sum(s.ok for s in statuses)
    stamp = time.strftime("%d.%m.%Y %H:%M")
    page = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Sicherheitsanalysen – Übersicht</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccd;padding:6px 10px;vertical-align:top;text-align:left}} th{{background:#e8eef4}}
.msg{{white-space:pre-wrap;font-size:0.85em;color:#555;max-width:40em}}</style></head>
<body><h1>Sicherheitsanalysen – Übersicht</h1>
<p>{n_ok} von {len(statuses)} Kommunen vollständig erstellt. Stand: {stamp}. Kit-Version {__version__}.</p>
<table><thead><tr><th>Kommune</th>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>
{comparison_section(output_dir, statuses)}
</body></html>
"""
    path = output_dir / "index.html"
    atomic_write_text(path, page)
    return path
