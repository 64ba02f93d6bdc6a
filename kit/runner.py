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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from kit import __version__
from kit.params import DEFAULTS_FILE, REPO_ROOT, load_params
from kit.errors import INTERNAL_KIND, error_record
from kit.results import atomic_write_text, remove_stage_results
from kit.stage import OUTPUT_DIR_ENV, STAGE_IDS, STAGES, error_file

NOTEBOOK_DIR = REPO_ROOT / "notebooks"


DONE = ("ok", "entfällt")  # stage states that count as complete


def not_applicable(stage: str, params: dict) -> str:
    """Why a stage does not apply to a commune ("" when it does): a commune without a
    survey still gets its area profile and the recommendations that rest on it."""
    if stage == "survey" and not params["survey"].get("responses"):
        return "für diese Kommune liegt keine Bürgerbefragung vor"
    return ""


@dataclass
class StageStatus:
    stage: str
    title: str
    status: str = "ausstehend"  # ok | entfällt | fehlgeschlagen | übersprungen | ausstehend
    seconds: float = 0.0
    message: str = ""
    report: str = ""  # report path relative to the output dir
    error_kind: str = ""  # input | params | data | result | kit | internal (KitError.kind) when failed


@dataclass
class CommuneStatus:
    commune_id: str
    name: str = ""
    params_file: str = ""
    fingerprint: str = ""
    stages: list[StageStatus] = field(default_factory=list)
    message: str = ""
    error_kind: str = ""  # set when the params could not be read
    lagebericht: str = ""  # the combined document (HTML, PDF) relative to the output dir, when made
    lagebericht_pdf: str = ""
    lagebericht_message: str = ""  # German: why the Lagebericht or its PDF is missing
    comparison_basis: str = ""  # comparison_basis() of the output folder when stage 3 last ran
    computed: list[str] = field(default_factory=list)  # stages this run executed (not saved)

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
def temporary_environment(values: dict[str, str | None]):
    """Set (or, for None, remove) these environment variables inside the block and restore the
    previous values afterwards (also used by kit.dask_batch for the settings sent with a task)."""
    before = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _batch_environment():
    """KIT_BATCH=1 for the kernel started inside (it inherits the environment): no interactive
    widgets in batch runs. KIT_OUTPUT_DIR is removed: the runner passes the output folder as a
    parameter and it must win. Restored afterwards so the calling process is unaffected."""
    with temporary_environment({"KIT_BATCH": "1", OUTPUT_DIR_ENV: None}):
        yield


def execute_stage(notebook: Path, executed: Path, parameters: dict, log_file: Path | None = None) -> None:
    """Run one stage notebook with papermill; raises PapermillExecutionError (or
    kit.warmkernel.KernelAborted when the kernel died or a cell ran past the time limit).

    The single place where notebooks are executed: through this process's warm kernel
    (kit.warmkernel, reset before every notebook), or with KIT_WARM=0 in a new kernel."""
    import papermill as pm

    from kit import warmkernel

    executed.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_file or executed.with_suffix(".log")
    with _stderr_to(log_file), _batch_environment():
        if warmkernel.enabled():
            warmkernel.kernel(NOTEBOOK_DIR).execute(notebook, executed, parameters, log_file=log_file)
            return
        timeout = warmkernel.cell_timeout()
        try:
            pm.execute_notebook(
                str(notebook), str(executed), parameters=parameters, kernel_name="python3",
                cwd=str(notebook.parent), progress_bar=False, log_output=False, execution_timeout=timeout,
            )
        except Exception as exc:
            aborted = warmkernel.translate(exc, timeout)
            if aborted is None:
                raise
            raise aborted from exc


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
    # nbconvert's template loads require.js and MathJax from a public CDN; the reports use
    # neither (no formulas, no widgets in batch runs), and an administration's document must
    # not call third parties: kit.htmlpost drops every external resource, and applies the
    # accessibility rules (no "¶" anchors, heading levels, table scopes and captions, lang).
    from kit.htmlpost import accessible

    atomic_write_text(target, accessible(body, title=title))


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


@dataclass
class Failure:
    """Why a stage (or the params) failed: the German message for status.json and index.html,
    its kind, and the technical details (traceback) that go to the commune's log only."""

    message: str
    kind: str
    details: str = ""


def failure(exc: BaseException, error_json: Path | None = None) -> Failure:
    """The Failure for an exception raised by the runner's own calls or by papermill.

    A notebook's KitError is known from the error file the kernel wrote (kit.stage registers
    the handler), not from papermill's exception class names: no file means an unexpected
    exception in the notebook, i.e. a bug, shown as a fixed German text."""
    from papermill.exceptions import PapermillExecutionError, strip_color

    if isinstance(exc, PapermillExecutionError):
        details = strip_color("\n".join(exc.traceback or []))
        record = _read_json(error_json) if error_json is not None else None
        if record and isinstance(record.get("message"), str) and record["message"].strip():
            return Failure(record["message"], str(record.get("kind") or "kit"), details)
        internal = error_record(exc)  # the fixed text for a bug
        return Failure(internal["message"], INTERNAL_KIND, details)
    record = error_record(exc)
    details = "" if record["kind"] != INTERNAL_KIND else "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Failure(record["message"], record["kind"], details)


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def log_failure(commune_dir: Path, what: str, fail: Failure) -> None:
    """Full message (and traceback of a bug) in output/<commune>/logs/kernel.log."""
    log_file = commune_dir / "logs" / "kernel.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    text = f"\n=== {stamp} {what}: fehlgeschlagen ({fail.kind})\n{fail.message}\n"
    if fail.details:
        text += fail.details.rstrip("\n") + "\n"
    with open(log_file, "a", encoding="utf-8") as fh:
        fh.write(text)


def invalidate_stages(commune_dir: Path, stages: list[str], keep_notebook: str | None = None) -> set[str]:
    """Remove what earlier runs left of these stages of one commune: the report, the executed
    notebook (except the one of ``keep_notebook``, the stage that just failed: it shows where),
    the stage's results (per results/manifest.json) and its error file. So no report or result
    of a stage that failed or was skipped this time is left in place to be mistaken for
    current. Returns the stages whose report or results were removed."""
    removed: set[str] = set()
    if not commune_dir.is_dir():
        return removed
    from kit.lagebericht import remove_lagebericht

    remove_lagebericht(commune_dir)  # it combines all stages: outdated as soon as one is replaced
    for stage, nb_name, _ in STAGES:
        if stage not in stages:
            continue
        report = commune_dir / f"{nb_name.removesuffix('.ipynb')}.html"
        if report.exists():
            report.unlink()
            removed.add(stage)
        if remove_stage_results(commune_dir / "results", stage):
            removed.add(stage)
        if stage != keep_notebook:
            (commune_dir / "notebooks" / nb_name).unlink(missing_ok=True)
            error_file(commune_dir.parent, commune_dir.name, stage).unlink(missing_ok=True)
    return removed


# Stage 3 compares a commune with the other communes of the batch (rank and median triggers, the
# comparison chart, the SWOT's batch median), so the batch runs in two phases: stages 1 and 2 of
# every commune, then stage 3 and the Lagebericht of every commune. The result no longer depends on
# which worker finished first.
CROSS_COMMUNE_STAGES = ("recommend",)


def run_commune(params_file: str | Path, output_dir: str | Path, force: bool = False,
                log=print, stages: tuple[str, ...] | None = None,
                carry: CommuneStatus | None = None, basis: str | None = None) -> CommuneStatus:
    """Run the stages of one commune. ``stages``: only these (the others stay "ausstehend", or as
    ``carry`` — the status of an earlier phase of the same batch — has them). Without ``stages``
    every stage runs, as for a single commune.

    Resumes stage by stage (unless ``force``): with an unchanged fingerprint, the stages the last
    run finished (see standing_stages) are taken over, not run again. Stage 3 is run again when
    its own result is missing, when stage 1 or 2 of this commune ran now, or when what it compares
    with changed (``basis``, see comparison_basis; computed here when not given)."""
    if carry is not None:
        return _continue_commune(Path(params_file), Path(output_dir).resolve(), carry, stages or STAGE_IDS, log,
                                 basis)
    params_file = Path(params_file)
    output_dir = Path(output_dir).resolve()
    status = CommuneStatus(commune_id=params_file.stem, params_file=str(params_file))
    status.stages = [StageStatus(stage=s, title=t) for s, _, t in STAGES]
    try:
        params = load_params(params_file)
        from kit.demo import ensure_demo_data

        ensure_demo_data(params)
    except Exception as exc:  # noqa: BLE001 - any failure is recorded per commune
        fail = failure(exc)
        status.message, status.error_kind = fail.message, fail.kind
        what = "Parameter fehlerhaft" if fail.kind == "params" else "Vorbereitung fehlgeschlagen"
        commune_dir = output_dir / status.commune_id
        _write_status(output_dir, status)  # first: no stage of an earlier run counts as done
        removed = invalidate_stages(commune_dir, list(STAGE_IDS))
        for st in status.stages:
            st.status, st.message = "übersprungen", what + (REMOVED_NOTE if st.stage in removed else "")
        log_failure(commune_dir, what, fail)
        log(f"  {status.commune_id}: {what} – {_console_text(status.message)}")
        _write_status(output_dir, status)
        return status
    status.commune_id, status.name = params["commune_id"], params["name"]
    status.fingerprint = fingerprint(params_file, params)
    commune_dir = output_dir / status.commune_id
    wanted = tuple(stages or STAGE_IDS)
    previous = _read_status(commune_dir)
    standing = {} if force else standing_stages(previous, status.fingerprint, output_dir)
    first = [s for s in wanted if s not in CROSS_COMMUNE_STAGES]
    cross = tuple(s for s in wanted if s in CROSS_COMMUNE_STAGES)
    todo = [s for s in first if s not in standing]
    for i, st in enumerate(status.stages):
        if st.stage in standing and (st.stage in first or not todo):  # stage 3 only after standing 1-2
            status.stages[i] = _stage_from_dict(standing[st.stage])
    if not todo:
        if any(st.stage in CROSS_COMMUNE_STAGES and st.stage in standing for st in status.stages):
            for key in ("lagebericht", "lagebericht_pdf", "lagebericht_message", "comparison_basis"):
                setattr(status, key, str(previous.get(key) or ""))
        if not cross:
            titles = [st.title for st in status.stages if st.stage in first]
            log(f"  {status.name}: {' und '.join(titles)} unverändert, übernommen")
            return status  # status.json stays as the last run wrote it
    else:
        # status.json first says "ausstehend" for every stage to run (and for stage 3), so while
        # (or if) this run stops half-way, no report or result of the previous run is taken for
        # current; the stages taken over keep their state
        _write_status(output_dir, status)
        # stage 3 (when asked for) runs again anyway: this commune's stage 1 or 2 ran now
        status = _run_stages(params_file, output_dir, params, status, todo + list(cross), log)
        if cross:
            status.comparison_basis = comparison_basis(output_dir)  # stage 3 does not change it
            _write_status(output_dir, status)
        return status
    if not cross:
        return status
    return _comparison_stages(params_file, output_dir, params, status, cross, log,
                              comparison_basis(output_dir) if basis is None else basis, rerun=False)


def standing_stages(previous: dict | None, fingerprint: str, output_dir: Path) -> dict[str, dict]:
    """The stages (id -> saved state) of a commune's last run that stand and are not run again:
    the fingerprint is unchanged (params, data, code, notebooks), and the stage is "entfällt" or
    "ok" with its report present. In stage order: a stage after one that has to run again runs
    again too (it reads that stage's results). Whether stage 3 stands depends on the other
    communes as well (comparisons_stand)."""
    if not previous or not fingerprint or previous.get("fingerprint") != fingerprint:
        return {}
    saved = {s.get("stage"): s for s in previous.get("stages") or [] if isinstance(s, dict)}
    out: dict[str, dict] = {}
    for stage in STAGE_IDS:
        s = saved.get(stage)
        if not s or s.get("status") not in DONE:
            break
        if s["status"] == "ok" and not (s.get("report") and (output_dir / s["report"]).is_file()):
            break
        out[stage] = s
    return out


def comparison_basis(output_dir: Path) -> str:
    """Hash of what stage 3 reads of the communes in the output folder for its comparisons
    (kit.recommend.compare, catalogue.batch_indicators): each commune folder's key indicators of
    stages 1 and 2 and its name. A commune's stage 3 made on another basis is outdated."""
    from kit.results import STAGE_RESULT_NAMES, ResultStore

    root = Path(output_dir)
    digest = hashlib.sha256()
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        files = [ResultStore(root, folder.name).path(f"key_indicators_{n}", ".csv") for n in STAGE_RESULT_NAMES]
        files = [f for f in files if f.is_file()]
        if not files:
            continue
        name = (_read_status(folder) or {}).get("name") or ""
        digest.update(json.dumps([folder.name, str(name)]).encode())
        for f in files:
            digest.update(f.name.encode())
            digest.update(hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


def comparisons_stand(status: CommuneStatus, output_dir: Path, basis: str) -> bool:
    """Stage 3 of this commune is done (its report present) and was made on this basis."""
    stages = [st for st in status.stages if st.stage in CROSS_COMMUNE_STAGES]
    return (bool(stages) and status.comparison_basis == basis
            and all(st.status in DONE and (st.status != "ok" or (st.report and (output_dir / st.report).is_file()))
                    for st in stages))


def lagebericht_stands(status: CommuneStatus, output_dir: Path) -> bool:
    """The Lagebericht of the last run is there (or its failure is recorded: not retried until
    a stage runs again)."""
    if not status.lagebericht:
        return bool(status.lagebericht_message)
    return all((output_dir / p).is_file() for p in (status.lagebericht, status.lagebericht_pdf) if p)


def outdate_comparisons(status: CommuneStatus, output_dir: Path) -> None:
    """Stage 3 and the Lagebericht of this commune have to run again: status.json says so first,
    and their outputs are removed (so an interrupted batch leaves none that looks current)."""
    for i, st in enumerate(status.stages):
        if st.stage in CROSS_COMMUNE_STAGES:
            status.stages[i] = StageStatus(stage=st.stage, title=st.title)
    status.lagebericht = status.lagebericht_pdf = status.lagebericht_message = ""
    _write_status(output_dir, status)
    invalidate_stages(output_dir / status.commune_id, list(CROSS_COMMUNE_STAGES))


def _comparison_stages(params_file: Path, output_dir: Path, params: dict, status: CommuneStatus, stages,
                       log, basis: str, rerun: bool) -> CommuneStatus:
    """Stage 3 (and the Lagebericht) of a commune whose stages 1-2 are done or failed."""
    if not rerun and comparisons_stand(status, output_dir, basis):
        if lagebericht_stands(status, output_dir):
            log(f"  {status.name}: unverändert, übersprungen")
            return status
        status.lagebericht = status.lagebericht_pdf = status.lagebericht_message = ""
        _write_status(output_dir, status)  # the Lagebericht reads the stages' states
        make_lagebericht(status, params, output_dir, output_dir / status.commune_id, log)
        _write_status(output_dir, status)
        return status
    status.comparison_basis = basis
    outdate_comparisons(status, output_dir)
    return _run_stages(params_file, output_dir, params, status, stages, log)


def _continue_commune(params_file: Path, output_dir: Path, status: CommuneStatus, stages, log,
                      basis: str | None = None) -> CommuneStatus:
    """A later phase of a batch for a commune whose earlier stages ran in an earlier phase."""
    if not status.fingerprint:  # params unreadable in the first phase: already recorded
        return status
    try:
        params = load_params(params_file)
    except Exception as exc:  # noqa: BLE001 - params changed between the phases
        fail = failure(exc)
        for st in status.stages:
            if st.stage in stages:
                st.status, st.message = "übersprungen", "Parameter fehlerhaft: " + _first_line(fail.message)
        _write_status(output_dir, status)
        return status
    return _comparison_stages(params_file, output_dir, params, status, stages, log,
                              comparison_basis(output_dir) if basis is None else basis, rerun=False)


def _run_stages(params_file: Path, output_dir: Path, params: dict, status: CommuneStatus, stages, log) -> CommuneStatus:
    commune_dir = output_dir / status.commune_id
    parameters = {"commune_id": status.commune_id, "params_file": str(params_file.resolve()),
                  "output_dir": str(output_dir)}
    failed, removed = False, set()
    for i, ((stage, nb_name, title), st) in enumerate(zip(STAGES, status.stages)):
        if stage not in stages:
            failed = failed or st.status in ("fehlgeschlagen", "übersprungen")
            continue
        if failed:
            st.status = "übersprungen"
            st.message = "vorherige Stufe fehlgeschlagen" + (REMOVED_NOTE if stage in removed else "")
            continue
        reason = not_applicable(stage, params)
        status.computed.append(stage)
        invalidate_stages(commune_dir, [stage])  # this run replaces (or drops) the stage's outputs
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
            fail = failure(exc, error_file(output_dir, status.commune_id, stage))
            st.status, st.message, st.error_kind = "fehlgeschlagen", fail.message, fail.kind
            log_failure(commune_dir, f"{status.name} · {title}", fail)
            # this stage's partial results and the later stages' outputs of an earlier run go
            later = [s for s, _, _ in STAGES[i + 1:]]
            removed = invalidate_stages(commune_dir, [stage, *later], keep_notebook=stage)
        st.seconds = round(time.perf_counter() - start, 1)
        whole = _console_text(st.message)  # the whole German message: file, row, column, value
        log(f"  {status.name} · {title}: {st.status} ({str(st.seconds).replace('.', ',')} s){' – ' + whole if whole else ''}")
        _write_status(output_dir, status)  # a finished stage counts at once: a stopped run resumes after it
    if status.ok:  # every stage done (none still "ausstehend" for a later phase)
        _write_status(output_dir, status)  # the Lagebericht reads the stages' states
        make_lagebericht(status, params, output_dir, commune_dir, log)
    _write_status(output_dir, status)
    return status


def make_lagebericht(status: CommuneStatus, params: dict, output_dir: Path, commune_dir: Path, log=print) -> None:
    """The combined document (kit.lagebericht) after all stages of a commune are done. A failure
    here never fails the commune: its stages stay "ok", the status and index say what is missing."""
    from kit.lagebericht import build_lagebericht

    start = time.perf_counter()
    try:
        made = build_lagebericht(commune_dir, params, pdf=os.environ.get("KIT_PDF", "1") != "0")
    except Exception as exc:  # noqa: BLE001 - recorded, never raised
        fail = failure(exc)
        log_failure(commune_dir, f"{status.name} · Lagebericht", fail)
        status.lagebericht_message = "Lagebericht konnte nicht erstellt werden: " + _first_line(fail.message)
        log(f"  {status.name} · Lagebericht: {status.lagebericht_message}")
        return
    status.lagebericht = str(made.html.relative_to(output_dir))
    status.lagebericht_pdf = str(made.pdf.relative_to(output_dir)) if made.pdf else ""
    status.lagebericht_message = made.message
    seconds = f"{time.perf_counter() - start:.1f}".replace(".", ",")
    what = "HTML und PDF erstellt" if made.pdf else "HTML erstellt – " + made.message
    log(f"  {status.name} · Lagebericht: {what} ({seconds} s)")


REMOVED_NOTE = "; Bericht und Ergebnisse eines früheren Laufs entfernt"


def _first_line(message: str) -> str:
    return message.splitlines()[0] if message else ""


def _console_text(message: str) -> str:
    """A message for the console: all of it (a failure's later lines name the file, row, column
    and value), later lines indented under the commune's line."""
    return "\n      ".join(line for line in (message or "").splitlines() if line.strip())


def _status_path(commune_dir: Path) -> Path:
    return commune_dir / "status.json"


def _read_status(commune_dir: Path) -> dict | None:
    path = _status_path(commune_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _status_from_dict(data: dict) -> CommuneStatus:
    stages = [_stage_from_dict(s) for s in data.pop("stages")]
    return CommuneStatus(**data, stages=stages)


def _stage_from_dict(data: dict) -> StageStatus:
    known = {f.name for f in fields(StageStatus)}
    return StageStatus(**{k: v for k, v in data.items() if k in known})


def _write_status(output_dir: Path, status: CommuneStatus) -> None:
    data = asdict(status)
    data.pop("computed")  # what this run did, not a state
    atomic_write_text(_status_path(output_dir / status.commune_id),
                      json.dumps(data, ensure_ascii=False, indent=2))


def _run_one(args):
    """One task of a batch phase: (params file, output dir, force, stages, carry, basis)."""
    params_file, output_dir, force, stages, carry, basis = args
    return run_commune(params_file, output_dir, force=force, log=lambda m: print(m, flush=True),
                       stages=stages, carry=carry, basis=basis)


def _pool_outcomes(tasks: list[tuple], jobs: int):
    """(task, result or the exception of a crashed worker) as the process pool finishes them."""
    from kit.warmkernel import worker_init  # each worker stops its warm kernel when it ends

    with ProcessPoolExecutor(max_workers=jobs, initializer=worker_init) as pool:
        futures = {pool.submit(_run_one, t): t for t in tasks}
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except Exception as exc:  # noqa: BLE001 - a crashed worker must not stop the batch
                res = exc
            yield futures[fut], res


def _phase(tasks: list[tuple], output_dir: Path, jobs: int, done_words: str, dask=None) -> list[CommuneStatus]:
    """Run one phase over all communes: on a Dask cluster (``dask``, a kit.dask_batch.DaskBatch),
    in parallel processes when jobs > 1, else here. A crashed task or worker is recorded for its
    commune and never stops the batch."""
    total = len(tasks)
    results: list[CommuneStatus] = []
    if dask is None and (jobs <= 1 or total <= 1):
        for i, task in enumerate(tasks, 1):
            results.append(_run_one(task))
            print(f"[{i}/{total}] {results[-1].name or results[-1].commune_id}: {_outcome_words(results[-1], done_words)}",
                  flush=True)
        return results
    outcomes = dask.run(tasks) if dask is not None else _pool_outcomes(tasks, jobs)
    for i, (task, res) in enumerate(outcomes, 1):
        if isinstance(res, BaseException):
            res = _crashed(Path(task[0]).stem, output_dir, res)
        results.append(res)
        print(f"[{i}/{total}] {res.name or res.commune_id}: {_outcome_words(res, done_words)}", flush=True)
    return results


def _outcome_words(res: CommuneStatus, done_words: str) -> str:
    """The progress line's word: a commune that failed is never called finished."""
    if any(st.status in ("fehlgeschlagen", "übersprungen") for st in res.stages) or not res.fingerprint:
        return "fehlgeschlagen (Grund siehe oben und in der Übersicht)"
    return done_words


@contextlib.contextmanager
def _dispatcher(scheduler: str | None, dask_local: int):
    """The Dask connection for a batch (None: the process pool)."""
    if not scheduler and not dask_local:
        yield None
        return
    from kit.dask_batch import DaskBatch  # dask is imported only when asked for

    with DaskBatch(address=scheduler, local_workers=dask_local) as dask:
        yield dask


def run_batch(params_files: list[Path], output_dir: str | Path, jobs: int = 2,
              force: bool = False, scheduler: str | None = None, dask_local: int = 0) -> list[CommuneStatus]:
    """Every commune of the batch, in two phases (see CROSS_COMMUNE_STAGES); resumes what an
    interrupted or earlier run finished (run_commune). ``scheduler`` (a Dask scheduler address)
    or ``dask_local`` (workers of a LocalCluster started here): the tasks run on dask.distributed
    instead of ``jobs`` local processes (kit.dask_batch)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    total = len(params_files)
    first = tuple(s for s in STAGE_IDS if s not in CROSS_COMMUNE_STAGES)
    with _dispatcher(scheduler, dask_local) as dask:
        where = f"über {dask.describe()}" if dask is not None else f"{jobs} parallel"
        print(f"Sicherheitsanalyse: {total} Kommune(n), {len(STAGES)} Stufen, {where}", flush=True)
        if total <= 1:
            tasks = [(str(p), str(output_dir), force, None, None, None) for p in params_files]
            results = _phase(tasks, output_dir, jobs, "abgeschlossen", dask)
        else:
            print("Teil 1: Gebietsprofil und Bürgerbefragung jeder Kommune", flush=True)
            tasks = [(str(p), str(output_dir), force, first, None, None) for p in params_files]
            phase1 = _phase(tasks, output_dir, jobs, "Gebietsprofil und Bürgerbefragung abgeschlossen", dask)
            second = _second_phase_tasks(phase1, output_dir, force)
            if second:
                print("Teil 2: Handlungsempfehlungen und Lagebericht jeder Kommune (mit dem Vergleich aller "
                      "Kommunen)", flush=True)
            done = {r.commune_id: r for r in _phase(second, output_dir, jobs, "abgeschlossen", dask)} if second else {}
            results = [done.get(r.commune_id, r) for r in phase1]
    from kit.warmkernel import shutdown

    shutdown()  # this process's warm kernel (a batch with jobs=1 ran here)
    results.sort(key=lambda s: s.commune_id)
    publication_check(output_dir, results)
    write_index(output_dir, results)
    return results


def publication_check(output_dir: Path, results: list[CommuneStatus]) -> None:
    """The output checker (kit.checker) over every commune of the batch: a finding marks the
    commune failed (its status says why in German; status.json and the index show it)."""
    from kit.checker import mark_failed

    for st in results:
        report = mark_failed(st, output_dir)
        for note in report.notes if st.fingerprint else ():  # params unreadable: already said
            print(f"  Hinweis: {note}", flush=True)
        if not report.ok:
            _write_status(output_dir, st)
            print(f"  {st.name or st.commune_id}: {st.message}", flush=True)


def _second_phase_tasks(phase1: list[CommuneStatus], output_dir: Path, force: bool) -> list[tuple]:
    """The phase-2 tasks. A commune's stage 3 stands (is not run again) unless stage 1 or 2 of
    some commune ran in this batch (its results feed every commune's comparisons), the commune's
    own stage 3 is missing, or the output folder's comparison basis changed since it ran (e.g. an
    earlier run stopped after some communes' stages 1-2 were recomputed). The stage 3 of every
    commune that runs again is marked outdated first (status.json, outputs removed), before any
    stage 3 starts. A commune whose stage 3 stands gets a task only for a missing Lagebericht."""
    recomputed = any(r.computed for r in phase1)
    basis = comparison_basis(output_dir)
    second = []
    for r in phase1:
        if not r.fingerprint:  # params unreadable or the worker crashed: already recorded
            continue
        stands = not recomputed and comparisons_stand(r, output_dir, basis)
        if stands and lagebericht_stands(r, output_dir):
            continue
        if not stands:
            r.comparison_basis = basis
            outdate_comparisons(r, output_dir)
        second.append((r.params_file, str(output_dir), force, CROSS_COMMUNE_STAGES, r, basis))
    return second


def _crashed(commune_id: str, output_dir: Path, exc: BaseException) -> CommuneStatus:
    """Status of a commune whose worker process died: the German text, details in its log."""
    fail = failure(exc)
    log_failure(output_dir / commune_id, "Arbeitsprozess", fail)
    invalidate_stages(output_dir / commune_id, list(STAGE_IDS))
    res = CommuneStatus(commune_id=commune_id, message=fail.message, error_kind=fail.kind)
    res.stages = [StageStatus(stage=s, title=t, status="übersprungen", message="Arbeitsprozess abgebrochen")
                  for s, _, t in STAGES]
    _write_status(output_dir, res)
    return res


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
            "weniger Fälle nicht ausgewiesen.</p>"
            + html_table(wide, columns, caption="Kennzahlen der vollständig erstellten Kommunen nebeneinander"))


STATUS_TEXT = {"ok": "erstellt"}  # the state in words (the colour only repeats it)


def _lagebericht_cell(st: CommuneStatus) -> str:
    name = html.escape(st.name or st.commune_id)
    parts = []
    if st.lagebericht:
        parts.append(f'<a href="{html.escape(st.lagebericht)}">Lagebericht {name} öffnen (HTML)</a>')
    if st.lagebericht_pdf:
        parts.append(f'<a href="{html.escape(st.lagebericht_pdf)}">Lagebericht {name} als PDF</a>')
    if not parts:
        parts.append(f'Status: <span style="color:{STATUS_STYLE["ausstehend"]};font-weight:600">nicht erstellt</span>')
    msg = f'<div class="msg">{html.escape(st.lagebericht_message)}</div>' if st.lagebericht_message else ""
    return f"<td>{'<br>'.join(parts)}{msg}</td>"


def write_index(output_dir: Path, statuses: list[CommuneStatus]) -> Path:
    from kit.htmlpost import accessible

    rows = []
    for st in statuses:
        cells = []
        name = html.escape(st.name or st.commune_id)
        for stage in st.stages or [StageStatus(s, t, "übersprungen") for s, _, t in STAGES]:
            shown = stage.status
            if shown == "übersprungen" and stage.message.startswith("Parameter fehlerhaft"):
                shown = "fehlgeschlagen"  # the params file was refused: the commune failed (as the console says)
            label = html.escape(STATUS_TEXT.get(shown, shown))
            color = STATUS_STYLE.get(shown, "#666")
            link = (f'<a href="{html.escape(stage.report)}">{html.escape(stage.title)} {name} öffnen</a><br>'
                    if stage.status == "ok" else "")
            msg = f'<div class="msg">{html.escape(stage.message)}</div>' if stage.message else ""
            cells.append(f'<td>{link}Status: <span style="color:{color};font-weight:600">{label}</span>{msg}</td>')
        refused = st.error_kind == "params" and not st.fingerprint
        head = "fehlgeschlagen – Parameter fehlerhaft: " if refused else ""
        general = f'<div class="msg">{html.escape(head + st.message)}</div>' if st.message else ""
        rows.append(f"<tr><td><b>{name}</b><br>"
                    f"<small>{html.escape(st.commune_id)}</small>{general}</td>{''.join(cells)}{_lagebericht_cell(st)}</tr>")
    heads = "".join(f"<th>{html.escape(t)}</th>" for _, _, t in STAGES) + "<th>Lagebericht</th>"
    n_ok = sum(s.ok for s in statuses)
    stamp = time.strftime("%d.%m.%Y %H:%M")
    page = f"""<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Sicherheitsanalysen – Übersicht</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccd;padding:6px 10px;vertical-align:top;text-align:left}} th{{background:#e8eef4}}
.msg{{white-space:pre-wrap;font-size:0.85em;color:#555;max-width:40em}}</style></head>
<body><h1>Sicherheitsanalysen – Übersicht</h1>
<p>{n_ok} von {len(statuses)} Kommunen vollständig erstellt. Stand: {stamp}. Kit-Version {__version__}.</p>
<table><caption>Kommunen mit dem Stand ihrer drei Berichtsteile und ihres Lageberichts</caption>
<thead><tr><th>Kommune</th>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>
{comparison_section(output_dir, statuses)}
</body></html>
"""
    path = output_dir / "index.html"
    atomic_write_text(path, accessible(page))
    return path
