"""Numbers before words: compute modules return numbers, flags and codes; only the
view/report modules word them in German.

1. No compute module imports kit.report (checked on the source with ast, and
   on the imported modules in a fresh interpreter).
2. The result files of stages 1 and 3 of a demo commune hold numbers, codes and
   labels: note cells are known codes, rule results are numbers and codes, and no
   cell outside the label columns holds a German-formatted number or a sentence.
3. So do the result files of stage 2 (every CSV and JSON it writes), run on a demo
   commune without a sample file and with groups without respondents, so that the
   notes and the weighting's empty categories are written too: the cleaning log's
   rules and actions, the notes and the empty categories are codes, the cleaning
   settings numbers.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from kit.params import REPO_ROOT

KIT = REPO_ROOT / "kit"
COMPUTE_PACKAGES = ("profile", "recommend", "survey")
VIEW_MODULES = {"view.py", "explorer.py", "webmap.py", "workbench.py"}  # explorer, webmap: interactive views of stage 1; workbench: JupyterLab UI of stage 3
RENDERING = {"kit.report", "kit.figures"}


def is_view(name: str) -> bool:
    """A view module: view.py, explorer.py, webmap.py, or one named view_*.py or *_view.py."""
    return name in VIEW_MODULES or name.startswith("view_") or name.endswith("_view.py")


def compute_modules() -> list[Path]:
    """Every module of the stage packages except their views."""
    return sorted(p for pkg in COMPUTE_PACKAGES for p in (KIT / pkg).glob("*.py") if not is_view(p.name))


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Absolute names of everything ``path`` imports, also inside functions (relative imports
    resolved against ``package``, by default the module's package in the repository)."""
    if package is None:
        package = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # from kit import report
    return found


def rendering_imports(path: Path, package: str | None = None) -> set[str]:
    return {m for m in imported_modules(path, package) if any(m == r or m.startswith(r + ".") for r in RENDERING)}


def test_the_import_check_sees_rendering_imports(tmp_path):
    """The checker itself: every spelling of an import of kit.report is found."""
    pkg = tmp_path / "kit" / "profile"
    pkg.mkdir(parents=True)
    for i, line in enumerate(["from kit.report import fmt_num as fmt_de", "import kit.report",
                              "from kit import report", "from ..report import fmt_num",
                              "from kit import figures as plots", "def f():\n    from kit.report import DASH"]):
        module = pkg / f"m{i}.py"
        module.write_text(line + "\n", encoding="utf-8")
        assert rendering_imports(module, "kit.profile"), line
    clean = pkg / "clean.py"
    clean.write_text("from kit.profile.indicators import rate_per\nimport pandas as pd\n", encoding="utf-8")
    assert not rendering_imports(clean, "kit.profile")


def test_compute_modules_do_not_import_the_report_module():
    modules = compute_modules()
    names = {p.name for p in modules}
    assert {"indicators.py", "pks.py", "bka.py", "stage.py", "rules.py"} <= names
    offenders = {str(p.relative_to(REPO_ROOT)): sorted(rendering_imports(p)) for p in modules if rendering_imports(p)}
    assert not offenders, f"Rechenmodule importieren Darstellung: {offenders}"


def test_compute_modules_do_not_load_the_report_module_indirectly():
    names = [".".join(p.relative_to(REPO_ROOT).with_suffix("").parts) for p in compute_modules()]
    names = [n.removesuffix(".__init__") for n in names]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            f"print(sorted(m for m in sys.modules if m in {sorted(RENDERING)!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


# ---------------------------------------------------------------------------
# Result files of a demo commune (stages 1 and 3 in process, no papermill)
# ---------------------------------------------------------------------------

GERMAN_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?![\d.])|(?<![\d.,])\d+,\d+(?![\d.])")
SENTENCE = re.compile(r"[A-Za-zÄÖÜäöüß]{2,}[ :][^|]*[A-Za-zÄÖÜäöüß]{2,}.*[.:;]\s*$")
# Columns that hold labels (data from the inputs, the catalogue or the contract), not results.
LABEL_COLUMNS = {"label", "unit", "subject_label", "title", "description", "topic", "actors", "district_name",
                 "name", "provider", "target_group", "category", "type", "prevention_topics", "source", "period",
                 "area", "Thema",
                 # catalogue text of the measures (params/measures.yaml) and the Wegweiser (params/contacts.yaml)
                 "target_groups", "places", "lead", "partners", "evidence_level", "evidence_source",
                 "kommpraev_reason", "duration", "first_steps", "success_indicator", "switch_off_reason",
                 "versus_label", "what", "web"}


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory):
    from kit.demo import generate_demo
    from kit.recommend.stage import compute_recommendations, write_recommendations

    root = tmp_path_factory.mktemp("words")
    generate_demo(root / "data", communes=["muldenau"])

    def edit(data):
        data.pop("survey", None)  # stage 3 from the area profile alone (no papermill run of stage 2 here)
        data.setdefault("profile", {})["pks_reference"] = {"000000": 5000, "892000": 150}  # reference rows too

    params, store = _muldenau_stage1(root, edit)
    write_recommendations(compute_recommendations(params, store), store)
    return store.path("profile_indicators", ".csv").parent


def _muldenau_stage1(root, edit):
    """Params of the demo commune Muldenau generated under root/data, changed by ``edit(data)``,
    loaded; stage 1 computed and written. Returns (params, result store)."""
    import yaml

    from kit.params import PARAMS_DIR, load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.results import ResultStore

    data = yaml.safe_load((PARAMS_DIR / "muldenau.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(root / "data" / "muldenau")
    data["demo"] = False
    edit(data)
    params_file = root / "muldenau.yaml"
    params_file.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    params = load_params(params_file)
    store = ResultStore(root / "output", params["commune_id"])
    inputs = load_profile_inputs(params)
    write_profile(compute_profile(inputs), store, inputs)
    return params, store


def _is_number(text: str) -> bool:
    try:
        float(text)  # a machine number ("33.875" is 33.875, not thirty-three thousand)
    except ValueError:
        return False
    return True


def _text_cells(df: pd.DataFrame, column: str) -> list[str]:
    """The cells of a column that are text, not machine numbers."""
    return [str(v) for v in df[column].dropna() if str(v) != "" and not _is_number(str(v))]


def test_profile_notes_are_codes(demo_results):
    from kit.profile.indicators import NOTE_CODES

    ind = pd.read_csv(demo_results / "profile_indicators.csv", dtype=str, keep_default_na=False)
    codes = {c for note in ind["note"] for c in note.split(";") if c}
    assert codes, "keine Hinweis-Codes im Gebietsprofil (Kontrolldelikte, OWi-Kontrollen)"
    assert codes <= set(NOTE_CODES), codes - set(NOTE_CODES)
    assert {"control_offence", "owi_enforcement"} <= codes
    flags = set(ind["flag"]) - {""}
    assert flags <= {"rise", "fall", "within_chance", "above_reference", "below_reference", "like_reference"}
    assert {"above_reference", "below_reference", "like_reference"} & flags  # the reference rows were written


def test_recommendation_results_are_numbers_and_codes(demo_results):
    measures = pd.read_csv(demo_results / "recommendations.csv")
    rules = pd.read_csv(demo_results / "recommendation_rules.csv")
    assert not {"evidence", "checked", "existing"} & set(measures.columns)  # no sentences per measure
    for col in ("value", "lower", "upper", "threshold"):
        assert pd.api.types.is_float_dtype(rules[col]), col
    assert set(rules["op"]) <= {">", ">=", "<", "<="}
    assert set(rules["basis"]) <= {"estimate", "interval"}
    from kit.recommend import rules as rec

    assert set(rules["reason"].dropna()) <= {rec.REASON_MISSING, rec.REASON_SUPPRESSED, rec.REASON_VERSUS_MISSING,
                                             rec.REASON_NO_INTERVAL, rec.REASON_TOO_FEW_COMMUNES,
                                             rec.REASON_REFERENCE_MISSING}
    assert (~rules["evaluable"]).any() and rules["evaluable"].any()  # survey rules missing, profile rules checked
    # every measure with rules has them in the rules table; the others are general recommendations
    assert set(rules["measure_id"]) <= set(measures["measure_id"])
    no_rules = set(measures["measure_id"]) - set(rules["measure_id"])
    general = measures.set_index("measure_id").loc[sorted(no_rules)]
    assert no_rules and (general["general_always"] | general["general_min_population"].notna()).all()


def test_result_files_hold_no_formatted_numbers_or_sentences(demo_results):
    checked = 0
    for path in sorted(demo_results.glob("*.csv")):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in df.columns:
            if column in LABEL_COLUMNS or (path.name == "prevention_inventory.csv"):
                continue  # the commune's own inventory is input data, passed on for stage 3
            for cell in _text_cells(df, column):
                checked += 1
                assert not GERMAN_NUMBER.search(cell), f"{path.name}, Spalte {column}: {cell!r}"
                assert not SENTENCE.search(cell), f"{path.name}, Spalte {column}: {cell!r}"
    assert checked > 500


# ---------------------------------------------------------------------------
# Result files of stage 2 (survey, in process)
# ---------------------------------------------------------------------------

CODE = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture(scope="module")
def survey_results(tmp_path_factory):
    """Stage 1 and 2 of the demo commune Muldenau without its sample file (no response rates:
    a note) and without the respondents of district 5 and the men aged 75 or more (weighting
    categories without respondents). Returns (results folder, names of the files stage 2 wrote)."""

    from kit.demo import generate_demo
    from kit.survey.stage import compute_survey, write_survey

    root = tmp_path_factory.mktemp("words2")
    generate_demo(root / "data", communes=["muldenau"])
    data_dir = root / "data" / "muldenau"
    responses = data_dir / "survey_responses.csv"
    raw = pd.read_csv(responses, sep=";", encoding="cp1252", dtype=str, keep_default_na=False)
    age = pd.to_numeric(raw["Q50"], errors="coerce")
    keep = (raw["Q52"] != "5") & ~((raw["Q51"] == "1") & (age >= 75))
    assert (~keep).sum() > 30
    raw[keep].to_csv(responses, sep=";", encoding="cp1252", index=False)
    params, store = _muldenau_stage1(root, lambda data: data["survey"].pop("sample", None))
    results = store.path("profile_indicators", ".csv").parent
    before = {p.name for p in results.iterdir()}
    write_survey(compute_survey(params, store).public, store)
    written = sorted(p.name for p in results.iterdir() if p.name not in before and p.suffix in (".csv", ".json"))
    return results, written


def _json_cells(data, key: str = "") -> list[tuple[str, str]]:
    """(key, text) of every string in a JSON document; the key of a list item is its list's key."""
    if isinstance(data, dict):
        return [c for k, v in data.items() for c in _json_cells(v, str(k))]
    if isinstance(data, list):
        return [c for v in data for c in _json_cells(v, key)]
    return [(key, data)] if isinstance(data, str) and data and not _is_number(data) else []


def test_survey_result_files_hold_no_formatted_numbers_or_sentences(survey_results):
    import json

    results, written = survey_results
    assert {"survey_cleaning_log.csv", "survey_meta.json", "survey_estimates.csv"} <= set(written)
    checked = 0
    for name in written:
        path = results / name
        if path.suffix == ".csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False)
            cells = [(column, cell) for column in df.columns for cell in _text_cells(df, column)]
        else:
            cells = _json_cells(json.loads(path.read_text(encoding="utf-8")))
        for column, cell in cells:
            if column in LABEL_COLUMNS:
                continue
            checked += 1
            assert not GERMAN_NUMBER.search(cell), f"{name}, {column}: {cell!r}"
            assert not SENTENCE.search(cell), f"{name}, {column}: {cell!r}"
    assert checked > 500


def test_survey_cleaning_log_is_codes_and_numbers(survey_results):
    results, _ = survey_results
    log = pd.read_csv(results / "survey_cleaning_log.csv", dtype=str, keep_default_na=False)
    actions = set(log["action"]) - {""}
    assert all(CODE.match(a) for a in actions), sorted(actions)
    assert "description" not in log.columns  # no sentence per rule; the report words the codes
    assert all(CODE.match(r.split(":")[0]) for r in log["rule"]), list(log["rule"])
    from kit.survey.cleaning import ACTION_CODES

    assert actions <= set(ACTION_CODES), actions - set(ACTION_CODES)
    assert {"keep_first", "drop_case", "flag"} <= actions
    settings = log.set_index("rule")
    assert float(settings.at["empty", "min_answered"]) == 0.1
    assert float(settings.at["straightlining", "min_items"]) == 5
    for column in ("min_answered", "max_share_of_median", "min_items"):
        assert all(_is_number(v) for v in log[column] if v), column


def test_survey_meta_notes_and_empty_categories_are_codes(survey_results):
    import json

    results, _ = survey_results
    meta = json.loads((results / "survey_meta.json").read_text(encoding="utf-8"))
    w = meta["weighting"]
    assert meta["notes"] and all(CODE.match(n) for n in meta["notes"]), meta["notes"]
    assert all(CODE.match(e["action"]) for e in w["empty_categories"]), w["empty_categories"]
    assert CODE.match(w["method"]), w["method"]
    from kit.survey.stage import NOTE_CODES

    assert "no_sample" in meta["notes"] and set(meta["notes"]) <= set(NOTE_CODES)
    assert w["method"] == "raking"
    empty = {e["action"]: e for e in w["empty_categories"]}
    assert set(empty) == {"merged", "spread"}
    assert empty["merged"]["merged_into"] == "55+_m" and "75+_m" in empty["merged"]["categories"]
    assert empty["spread"]["margin"] == "district" and empty["spread"]["categories"] == ["5"]
    for e in w["empty_categories"]:
        assert all(CODE.match(k) for k in e) and all(isinstance(c, str) for c in e["categories"])

    def methods(node):  # every "method" anywhere in the file (weighting, tests, ...)
        if isinstance(node, dict):
            for k, v in node.items():
                yield from ([v] if k == "method" else methods(v))
        elif isinstance(node, list):
            for v in node:
                yield from methods(v)

    found = list(methods(meta))
    assert len(found) >= 2 and all(isinstance(m, str) and CODE.match(m) for m in found), found
    assert meta["tests"]["night_unsafe_by_sex"]["method"] == "rao_scott_first_order"
