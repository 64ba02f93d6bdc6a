"""Stage 2, Bürgerbefragung: from the response file to public results.

``compute_survey`` runs import -> cleaning -> weighting (to the population
margins that stage 1 wrote) -> estimates -> disclosure control. Everything a
report or a result file shows comes from ``SurveyResult.public`` and the
other already-suppressed tables; the microdata (``clean``, ``weights``) stay
in memory for interactive work and are never written under output/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kit.errors import InputError, KitError, Problem, missing_file
from kit.io import file_sha256, read_geometry, read_table
from kit.profile.indicators import natural_key
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.results import ResultStore
from kit.schemas import check_district_ids, validate_table
from kit.survey import (
    apply_disclosure,
    clean_responses,
    collapse,
    cronbach_alpha,
    effective_n,
    estimate_survey,
    free_text_summary,
    load_codebook,
    rao_scott_test,
    read_responses,
    scale_index,
    weight_survey,
    weighted_mean_ci,
    wilson_interval,
)
from kit.survey.cleaning import CleanResult
from kit.survey.codebook import Codebook
from kit.survey.estimates import DERIVED_GROUP_LABELS

# Subgroups every question is broken down by (derived columns of the cleaning step).
BREAKDOWNS = ("sex", "age_group", "district")
AGE_LABELS = {"16-34": "16 bis 34 Jahre", "35-54": "35 bis 54 Jahre", "55-74": "55 bis 74 Jahre",
              "75+": "75 Jahre und älter"}
SEX_LABELS = DERIVED_GROUP_LABELS["sex"]


@dataclass
class SurveyResult:
    params: dict
    codebook: Codebook
    districts: dict[str, str]
    clean: CleanResult  # microdata: interactive use only
    weights: pd.Series  # microdata: interactive use only
    weighting: dict  # report of weight_survey (sample_vs_population suppressed separately)
    estimates: pd.DataFrame  # unsuppressed tidy estimates: never shown or written
    public: pd.DataFrame  # tidy estimates after disclosure control
    key_indicators: pd.DataFrame  # KEY_INDICATOR_COLUMNS, suppressed values are empty
    sample_vs_population: pd.DataFrame  # after disclosure control
    response: pd.DataFrame | None  # response rates by margin, after disclosure control
    free_text: pd.DataFrame | None
    tests: dict = field(default_factory=dict)
    scales: pd.DataFrame | None = None
    hashes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_respondents(self) -> int:
        return int(len(self.clean.data))

    @property
    def min_cell(self) -> int:
        return int(self.params["privacy"]["min_cell"])

    @property
    def min_base(self) -> int:
        return int(self.params["privacy"]["min_base_percent"])


def district_geometry(params: dict):
    """The commune's district polygons (for the survey maps), read as in stage 1."""
    return read_geometry(params["inputs"]["districts"]["path"])


def read_districts(store: ResultStore) -> dict[str, str]:
    """District id -> name as stage 1 wrote them."""
    df = store.read_table("districts", dtype=str)
    return dict(zip(df["district_id"], df["district_name"]))


def read_sample(path: str | Path, districts: dict[str, str]) -> pd.DataFrame:
    """Issued sample and returns by district x age group x sex (validated)."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Stichprobe der Bürgerbefragung")
    sample = validate_table(read_table(path), "survey_sample")
    check_district_ids(sample, set(districts))
    bad = sample[sample["returned"] > sample["issued"]]
    if len(bad):
        first = bad.index[0]
        raise InputError(Problem(file=str(path), row=int(first) + 2, column="returned",
                                 value=str(bad.loc[first, "returned"]),
                                 expected=f"höchstens so viele Rückläufe wie angeschrieben ({bad.loc[first, 'issued']})"))
    return sample


def response_rates(sample: pd.DataFrame, districts: dict[str, str], min_cell: int) -> pd.DataFrame:
    """Response rate overall and by district, age group and sex.

    Returned counts below ``min_cell`` are blanked together with their rate
    (a small count of returns could point to single persons).
    Columns: margin, category, label, issued, returned, rate.
    """
    rows = [("gesamt", "", "Gesamt", sample["issued"].sum(), sample["returned"].sum())]
    for margin, col, labels in (("district", "district_id", districts), ("age_group", "age_group", AGE_LABELS),
                                ("sex", "sex", SEX_LABELS)):
        g = sample.groupby(col, sort=False)[["issued", "returned"]].sum()
        order = list(labels) if margin != "district" else sorted(g.index, key=natural_key)
        for cat in order:
            if cat in g.index:
                rows.append((margin, str(cat), labels.get(cat, str(cat)), g.loc[cat, "issued"], g.loc[cat, "returned"]))
    df = pd.DataFrame(rows, columns=["margin", "category", "label", "issued", "returned"])
    df["issued"] = df["issued"].astype("Int64")
    df["returned"] = df["returned"].astype("Int64")
    df["rate"] = (df["returned"].astype(float) / df["issued"].astype(float).where(df["issued"] > 0)).astype(float)
    small = df["returned"] < min_cell
    df.loc[small, "rate"] = np.nan
    df["returned"] = df["returned"].mask(small)
    return df


def suppress_sample_vs_population(svp: pd.DataFrame, districts: dict[str, str], min_cell: int) -> pd.DataFrame:
    """Sample vs population by margin with German category labels; small sample counts blanked."""
    df = svp.copy()
    small = df["sample_n"] < min_cell
    df["sample_n"] = df["sample_n"].astype("Int64").mask(small)
    df.loc[small, "sample_share"] = np.nan
    df["label"] = [_margin_label(m, c, districts) for m, c in zip(df["margin"], df["category"])]
    return df


def _margin_label(margin: str, category: str, districts: dict[str, str]) -> str:
    if category == "fehlend":
        return "ohne Angabe"
    if margin == "district":
        return districts.get(str(category), str(category))
    if margin == "age_sex":
        age, _, sex = str(category).rpartition("_")  # key format of kit.survey.weighting._margin_key
        return f"{SEX_LABELS.get(sex, sex)}, {AGE_LABELS.get(age, age)}" if sex else str(category)
    if margin == "sex":
        return SEX_LABELS.get(str(category), str(category))
    if margin == "age_group":
        return AGE_LABELS.get(str(category), str(category))
    return str(category)


def _breakdown_column(name: str, codebook: Codebook) -> str:
    """The data column for a breakdown: the district item carries the district names as labels."""
    if name == "district":
        item = codebook.role_item("district")
        return item.id if item is not None else "district_id"
    return name


def estimate_all(data: pd.DataFrame, weights: pd.Series, codebook: Codebook, conf: float) -> pd.DataFrame:
    """Every closed question overall and by sex, age group and district (one tidy table)."""
    parts = [estimate_survey(data, weights, codebook, conf=conf)]
    for name in BREAKDOWNS:
        col = _breakdown_column(name, codebook)
        part = estimate_survey(data, weights, codebook, by=col, conf=conf)
        parts.append(part[part["group_var"] != ""])
    return pd.concat(parts, ignore_index=True)


def negative_codes(item) -> list[int] | None:
    """The unfavourable end of an ordered answer scale: the two highest codes
    of a scale with 4+ categories (one of 3), for items whose high codes are
    negative; None for unordered items."""
    if item.direction != "high_is_negative" or not item.values or item.type not in ("single", "scale"):
        return None
    codes = sorted(c for c in item.values if isinstance(c, (int, np.integer)))
    if len(codes) < 3:
        return None
    return codes[-2:] if len(codes) >= 4 else codes[-1:]


def negative_label(item, codes: list[int]) -> str:
    return " oder ".join(f"„{item.values[c]}“" for c in codes)


def collapse_negative(estimates: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Share at the unfavourable end of every ordered item, overall and per group
    (before disclosure control, like every estimate)."""
    parts = []
    for item_id, part in estimates[estimates["kind"] == "distribution"].groupby("item", sort=False):
        item = codebook.items.get(item_id)
        codes = negative_codes(item) if item is not None else None
        if codes:
            parts.append(collapse(part, codes, negative_label(item, codes)))
    return pd.concat(parts, ignore_index=True) if parts else estimates.iloc[0:0]


def _key_indicator_share(data: pd.DataFrame, weights: pd.Series, spec: dict, conf: float) -> dict:
    """Weighted share for one key-indicator definition, with Wilson interval on the effective n."""
    mask = pd.Series(True, index=data.index)
    for col, value in (spec.get("group") or {}).items():
        if col not in data.columns:
            raise KitError(f"Kennzahl '{spec['id']}': Gruppe '{col}' gibt es in den Befragungsdaten nicht.")
        mask &= data[col].astype(str) == str(value)
    if "index" in spec:
        idx = scale_index(data, list(spec["index"]))
        valid = idx.notna() & mask
        hit = (idx > float(spec["above"])) & valid
    else:
        item = spec["item"]
        if item not in data.columns:
            raise KitError(f"Kennzahl '{spec['id']}': Frage '{item}' fehlt im Codebuch oder in den Daten.")
        y = data[item]
        valid = y.notna() & mask
        hit = y.isin([float(c) for c in spec["codes"]]) & valid
    w = weights.reindex(data.index).to_numpy(dtype=float)
    v = valid.to_numpy()
    n = int(v.sum())
    n_cell = int(hit.to_numpy().sum())
    if n == 0:
        return {"value": np.nan, "lower": np.nan, "upper": np.nan, "n": 0, "n_cell": 0}
    p = float(w[hit.to_numpy()].sum() / w[v].sum())
    lo, hi = wilson_interval(p, effective_n(w[v]), conf)
    return {"value": p, "lower": float(lo), "upper": float(hi), "n": n, "n_cell": n_cell}


def survey_key_indicators(data: pd.DataFrame, weights: pd.Series, specs: list[dict], conf: float,
                          min_cell: int, min_base: int) -> pd.DataFrame:
    """Key indicators for stage 3 (KEY_INDICATOR_COLUMNS); suppressed ones have no value."""
    rows = []
    for spec in specs:
        res = _key_indicator_share(data, weights, spec, conf)
        suppressed = res["n"] < min_base or res["n_cell"] < min_cell or (res["n"] - res["n_cell"]) < min_cell
        if suppressed:
            res["value"] = res["lower"] = res["upper"] = np.nan
        rows.append({"indicator": f"survey.{spec['id']}", "label": spec["label"], "value": res["value"],
                     "lower": res["lower"], "upper": res["upper"], "unit": "Anteil", "source": "Bürgerbefragung"})
    return pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)


def _scales(data: pd.DataFrame, weights: pd.Series, codebook: Codebook, min_base: int,
            conf: float) -> pd.DataFrame:
    """Cronbach's alpha (unweighted, complete answers) and the weighted mean index
    (mean of the item codes, respondents with at least half of the items) with its
    interval, for every scale battery (questions with 3+ scale items)."""
    rows = []
    for q in codebook.questions():
        items = codebook.question_items(q)
        if items[0].type != "scale" or len(items) < 3:
            continue
        block = data[[it.id for it in items]].astype(float)
        complete = block.dropna()
        alpha = cronbach_alpha(complete) if len(complete) >= min_base else np.nan
        index = scale_index(data, items)
        valid = index.notna().to_numpy()
        mean = weighted_mean_ci(index.to_numpy()[valid], weights.reindex(data.index).to_numpy()[valid], conf)
        shown = int(valid.sum()) >= min_base
        rows.append({"question": q, "label": codebook.question_text(q), "items": len(items),
                     "n_complete": len(complete) if len(complete) >= min_base else np.nan, "alpha": alpha,
                     "index_mean": mean["estimate"] if shown else np.nan,
                     "index_lower": mean["lower"] if shown else np.nan,
                     "index_upper": mean["upper"] if shown else np.nan,
                     "index_n": int(valid.sum()) if shown else np.nan,
                     "scale_min": min(min(it.values) for it in items), "scale_max": max(max(it.values) for it in items),
                     "high_is_negative": items[0].direction == "high_is_negative"})
    return pd.DataFrame(rows, columns=["question", "label", "items", "n_complete", "alpha", "index_mean",
                                       "index_lower", "index_upper", "index_n", "scale_min", "scale_max",
                                       "high_is_negative"])


def compute_survey(params: dict, store: ResultStore) -> SurveyResult:
    """Import, clean, weight and estimate the commune's survey (see module docstring)."""
    survey = params["survey"]
    if not survey.get("responses"):
        raise KitError(f"Parameterdatei {params['params_file']}: 'survey.responses' (Antwortdatei der "
                       "Bürgerbefragung) fehlt.")
    responses = Path(survey["responses"])
    if not responses.exists():
        raise missing_file(responses, "Antworten der Bürgerbefragung")
    districts = read_districts(store)
    population = store.read_table("population_margins", dtype={"district_id": str})
    codebook = load_codebook(survey["codebook"], districts)
    raw = read_responses(responses, codebook, survey.get("column_map") or {})
    clean = clean_responses(raw, codebook, survey["cleaning"])
    if clean.data.empty:
        raise KitError(f"{responses}: nach der Bereinigung bleibt kein Fragebogen übrig.")
    wcfg = survey["weighting"]
    weights, report = weight_survey(
        clean.data, population, margins=list(wcfg["margins"]), max_iter=int(wcfg["max_iter"]),
        tol=float(wcfg["tolerance"]), trim_lower=wcfg.get("trim_lower"), trim_upper=wcfg.get("trim_upper"))
    if not report["converged"]:
        raise KitError(f"Gewichtung der Befragung in {params['name']} ist nach {report['iterations']} "
                       "Iterationen nicht konvergiert; bitte die Gewichtungsränder in den Parametern prüfen.")
    conf = float(survey["confidence"])
    min_cell, min_base = int(params["privacy"]["min_cell"]), int(params["privacy"]["min_base_percent"])
    data = clean.data
    estimates = estimate_all(data, weights, codebook, conf)
    estimates = pd.concat([estimates, collapse_negative(estimates, codebook)], ignore_index=True)
    public = apply_disclosure(estimates, min_cell=min_cell, min_base=min_base)
    key = survey_key_indicators(data, weights, survey["key_indicators"], conf, min_cell, min_base)

    hashes = {str(responses): file_sha256(responses), str(survey["codebook"]): file_sha256(survey["codebook"])}
    response = None
    notes = []
    if survey.get("sample"):
        sample = read_sample(survey["sample"], districts)
        hashes[str(survey["sample"])] = file_sha256(survey["sample"])
        response = response_rates(sample, districts, min_cell)
    else:
        notes.append("Die Zahl der angeschriebenen Personen je Gruppe wurde nicht geliefert; "
                     "Rücklaufquoten können daher nicht berechnet werden.")

    free = None
    text_item = survey.get("free_text_item")
    if text_item and text_item in data.columns:
        topics = dict(survey.get("free_text_topics") or {})
        topics.update({name: [name] for name in districts.values()})
        free = free_text_summary(data[text_item], topics, min_cell=min_cell, min_base=min_base)

    tests = {}
    sex_item = "sex"
    night = data["Q05"] if "Q05" in data.columns else None
    if night is not None:
        frame = pd.DataFrame({"unsicher": night.isin([3.0, 4.0]).where(night.notna()),
                              "sex": data[sex_item]}).dropna()
        frame["unsicher"] = frame["unsicher"].astype(bool)
        tests["night_unsafe_by_sex"] = rao_scott_test(frame, weights.reindex(frame.index), "unsicher", "sex")

    svp = suppress_sample_vs_population(report.pop("sample_vs_population"), districts, min_cell)
    return SurveyResult(params=params, codebook=codebook, districts=districts, clean=clean, weights=weights,
                        weighting=report, estimates=estimates, public=public, key_indicators=key,
                        sample_vs_population=svp, response=response, free_text=free, tests=tests,
                        scales=_scales(data, weights, codebook, min_base, conf), hashes=hashes, notes=notes)


def survey_meta(result: SurveyResult) -> dict:
    """Machine-readable summary (no microdata): sizes, weighting, tests, privacy settings."""
    w = result.weighting
    log = result.clean.log.set_index("rule")["cases"]
    return {
        "respondents": result.n_respondents,
        "records_in": int(log.get("records_in", result.n_respondents)),
        "cases_dropped": int(log.get("cases_dropped", 0)),
        "weighting": {k: w[k] for k in ("method", "margins", "converged", "iterations", "max_abs_margin_error",
                                         "population_total", "deff", "n_eff", "weight_min", "weight_max",
                                         "trimming", "empty_categories")},
        "tests": result.tests,
        "privacy": {"min_cell": result.min_cell, "min_base_percent": result.min_base},
        "confidence": float(result.params["survey"]["confidence"]),
        "notes": result.notes,
    }


def write_survey(result: SurveyResult, store: ResultStore) -> None:
    """Write the public (disclosure-controlled) results; never microdata or free text."""
    store.write_table("survey_estimates", result.public)
    store.write_table("survey_sample_vs_population", result.sample_vs_population)
    store.write_table("survey_cleaning_log", result.clean.log)
    if result.response is not None:
        store.write_table("survey_response_rates", result.response)
    if result.free_text is not None:
        store.write_table("survey_free_text_topics", result.free_text)
    if result.scales is not None:
        store.write_table("survey_scales", result.scales)
    store.write_table("key_indicators_survey", result.key_indicators)
    store.write_json("survey_meta", survey_meta(result))
    store.write_json("provenance_survey", {"input_hashes": result.hashes})


def explore(result: SurveyResult, question: str, by: str | None = None) -> pd.DataFrame:
    """Weighted results of one question split by any closed item or derived group
    (sex, age_group), computed on demand for interactive exploration and passed
    through the same disclosure control as everything else."""
    from kit.survey import estimate_question

    cb = result.codebook
    if question not in cb.questions() or cb.question_type(question) == "text":
        raise KitError(f"Frage '{question}' gibt es nicht oder sie ist eine Freitextfrage.")
    if by is not None and by not in ("sex", "age_group") and by not in cb.items:
        raise KitError(f"Gruppierung '{by}' ist weder Geschlecht, Altersgruppe noch eine Frage des Codebuchs.")
    conf = float(result.params["survey"]["confidence"])
    tidy = estimate_question(result.clean.data, result.weights, cb, question, by=by, conf=conf)
    tidy = pd.concat([tidy, collapse_negative(tidy, cb)], ignore_index=True)
    return apply_disclosure(tidy, min_cell=result.min_cell, min_base=result.min_base)
