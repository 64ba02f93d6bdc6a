"""Stage 2, Bürgerbefragung: from the response file to public results.

``compute_survey`` runs import -> cleaning -> weighting (to the population
margins that stage 1 wrote) -> estimates -> disclosure control. It returns a
private :class:`SurveyResult` (microdata, weights, unsuppressed estimates: in
memory only) whose ``public`` part (:class:`PublicSurveyResult`) holds only
tables that passed the commune's :class:`kit.disclosure.DisclosurePolicy`.
Writers and views receive the public part only; the interactive explorer
computes from the private part and hands out policy-applied tables only.
Items with a special meaning (night-time safety, sex, age, district) come from
the codebook's ``roles``, never from item ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kit.disclosure import DisclosurePolicy, policy_from_params
from kit.errors import DataError, InputError, KitError, Problem, missing_file
from kit.io import file_sha256, read_geometry, read_table
from kit.profile.indicators import natural_key
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.results import ResultStore
from kit.schemas import check_district_ids, read_columns, validate_table
from kit.survey import (
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
from kit.survey.benchmarks import compare_with_benchmarks
from kit.survey.cleaning import CleanResult
from kit.survey.codebook import Codebook
from kit.survey.drivers import DriversResult, drivers
from kit.survey.estimates import DERIVED_GROUP_LABELS
from kit.survey.findings import survey_findings
from kit.survey.response_benchmark import response_rate_benchmark
from kit.survey.waves import WavesResult, compare_previous_wave
from kit.survey.design import BoundDesign, bind_design
from kit.survey.places import RESULT_NAME as PLACES_RESULT, PlacesResult, survey_places
from kit.survey.estimates import _frame as _tidy_frame

# Subgroups every question is broken down by (derived columns of the cleaning step,
# each present when the codebook has the role of the same name).
BREAKDOWNS = ("sex", "age_group", "district")
BREAKDOWN_ROLES = {"sex": "sex", "age_group": "age", "district": "district"}
AGE_LABELS = {"16-34": "16 bis 34 Jahre", "35-54": "35 bis 54 Jahre", "55-74": "55 bis 74 Jahre",
              "75+": "75 Jahre und älter"}
SEX_LABELS = DERIVED_GROUP_LABELS["sex"]


class _PolicyThresholds:
    """min_cell / min_base of the result's disclosure policy (for the report texts)."""

    policy: DisclosurePolicy

    @property
    def min_cell(self) -> int:
        return self.policy.min_cell

    @property
    def min_base(self) -> int:
        return self.policy.min_base


@dataclass
class PublicSurveyResult(_PolicyThresholds):
    """What may leave memory: disclosure-controlled tables and aggregate meta.

    Writers (:func:`write_survey`) and every view in :mod:`kit.survey.view`
    receive only this object."""

    name: str
    codebook: Codebook  # questionnaire structure and labels (no answers)
    districts: dict[str, str]
    policy: DisclosurePolicy
    estimates: pd.DataFrame  # tidy estimates after disclosure control
    key_indicators: pd.DataFrame  # KEY_INDICATOR_COLUMNS, suppressed values are empty
    sample_vs_population: pd.DataFrame  # after disclosure control
    response: pd.DataFrame | None  # response rates by margin, after disclosure control
    free_text: pd.DataFrame | None  # topic counts after disclosure control
    scales: pd.DataFrame | None  # after disclosure control
    cleaning_log: pd.DataFrame  # rules and numbers of affected questionnaires (small counts hidden)
    weighting: dict  # aggregate report of the weighting (no weights)
    n_respondents: int
    records_in: int | None  # questionnaires received; None when it would reveal a small number removed
    confidence: float
    tests: dict = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # codes of NOTE_CODES
    night_item: str | None = None  # item with the role night_safety
    breakdowns: dict[str, str] = field(default_factory=dict)  # breakdown -> group_var in ``estimates``
    benchmarks: pd.DataFrame | None = None  # key indicators beside published references (kit.survey.benchmarks)
    drivers: DriversResult | None = None  # what goes with feeling unsafe at night (kit.survey.drivers)
    findings: pd.DataFrame | None = None  # 'Das Wichtigste in Kürze' as numbers (kit.survey.findings)
    places: "PlacesResult | None" = None  # free-text mentions per place and district (kit.survey.places)
    waves: WavesResult | None = None  # comparison with an earlier wave (kit.survey.waves)
    dark_figure: pd.DataFrame | None = None  # survey victimisation vs PKS (kit.survey.dark_figure)
    crime_fear: object | None = None  # kit.survey.crime_fear.CrimeFearResult (crime vs feeling of safety)
    quality_unchecked: tuple = ()  # response-quality rules the response file gives no data for (kit.survey.quality)
    response_benchmark: dict | None = None  # response rate vs ASSKomm 30-45 % (kit.survey.response_benchmark)
    design: dict = field(default_factory=dict)  # sample design and variance method, codes (kit.survey.design)


@dataclass
class SurveyResult(_PolicyThresholds):
    """Private result: microdata and unsuppressed estimates stay in memory (interactive
    use, tests); ``public`` is the only part handed to writers and views."""

    params: dict
    codebook: Codebook
    districts: dict[str, str]
    policy: DisclosurePolicy
    clean: CleanResult  # microdata
    weights: pd.Series  # microdata
    weighting: dict  # full report of weight_survey
    estimates: pd.DataFrame  # unsuppressed tidy estimates (incl. key-indicator rows, kind "key")
    public: PublicSurveyResult
    design: BoundDesign | None = None  # private: bound to the microdata (kit.survey.design)

    @property
    def key_indicators(self) -> pd.DataFrame:
        return self.public.key_indicators

    def explore(self, question: str, by: str | None = None) -> pd.DataFrame:
        """:func:`explore` on this result (policy-applied tables only)."""
        return explore(self, question, by)

    @property
    def n_respondents(self) -> int:
        return int(len(self.clean.data))


def district_geometry(params: dict):
    """The commune's district polygons (for the survey maps), read as in stage 1."""
    spec = params["inputs"]["districts"]
    return read_geometry(spec["path"], layer=spec.get("layer"))


def read_districts(store: ResultStore) -> dict[str, str]:
    """District id -> name as stage 1 wrote them."""
    df = store.read_table("districts", dtype=str)
    return dict(zip(df["district_id"], df["district_name"]))


def read_sample(path: str | Path, districts: dict[str, str]) -> pd.DataFrame:
    """Issued sample and returns by district x age group x sex (validated)."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Stichprobe der Bürgerbefragung")
    sample = validate_table(read_table(path, **read_columns("survey_sample")), "survey_sample")
    check_district_ids(sample, set(districts))
    bad = sample[sample["returned"] > sample["issued"]]
    if len(bad):
        first = bad.index[0]
        raise InputError(Problem(file=str(path), row=int(first) + 2, column="returned",
                                 value=str(bad.loc[first, "returned"]),
                                 expected=f"höchstens so viele Rückläufe wie angeschrieben ({bad.loc[first, 'issued']})"))
    return sample


def response_rates(sample: pd.DataFrame, districts: dict[str, str], policy: DisclosurePolicy) -> pd.DataFrame:
    """Response rate overall and by district, age group and sex.

    Returns too small to publish are blanked with their rate, and so are the
    complementary ones that would give them away (each margin adds up to the
    total; see :meth:`DisclosurePolicy.response_rates`).
    Columns: margin, category, label, issued, returned, rate.
    """
    rows = [("gesamt", "", "Gesamt", sample["issued"].sum(), sample["returned"].sum())]
    for margin, col, labels in (("district", "district_id", districts), ("age_group", "age_group", AGE_LABELS),
                                ("sex", "sex", SEX_LABELS)):
        g = sample.groupby(col, sort=False)[["issued", "returned"]].sum()
        order = list(labels) if margin != "district" else sorted(g.index, key=natural_key)
        order += [c for c in g.index if c not in order]
        for cat in order:
            if cat in g.index:
                rows.append((margin, str(cat), labels.get(cat, str(cat)), g.loc[cat, "issued"], g.loc[cat, "returned"]))
    df = pd.DataFrame(rows, columns=["margin", "category", "label", "issued", "returned"])
    df["issued"] = df["issued"].astype("Int64")
    df["returned"] = df["returned"].astype("Int64")
    df["rate"] = (df["returned"].astype(float) / df["issued"].astype(float).where(df["issued"] > 0)).astype(float)
    return policy.response_rates(df)


def suppress_sample_vs_population(svp: pd.DataFrame, districts: dict[str, str], policy: DisclosurePolicy,
                                  respondents: int) -> pd.DataFrame:
    """Sample vs population by margin with German category labels, after disclosure control."""
    df = policy.sample_vs_population(svp, respondents)
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


def breakdown_columns(codebook: Codebook, data: pd.DataFrame) -> dict[str, str]:
    """Breakdown name -> data column, for the breakdowns whose codebook role exists
    (sex, age, district) and whose column has values."""
    out = {}
    for name in BREAKDOWNS:
        if codebook.role_item(BREAKDOWN_ROLES[name]) is None:
            continue
        col = _breakdown_column(name, codebook)
        if col in data.columns and data[col].notna().any():
            out[name] = col
    return out


def estimate_all(data: pd.DataFrame, weights: pd.Series, codebook: Codebook, conf: float,
                 breakdowns: dict[str, str] | None = None, design: BoundDesign | None = None) -> pd.DataFrame:
    """Every closed question overall and by sex, age group and district (one tidy table)."""
    breakdowns = breakdown_columns(codebook, data) if breakdowns is None else breakdowns
    parts = [estimate_survey(data, weights, codebook, conf=conf, design=design)]
    for col in breakdowns.values():
        part = estimate_survey(data, weights, codebook, by=col, conf=conf, design=design)
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


def collapse_negative(estimates: pd.DataFrame, codebook: Codebook, design: BoundDesign | None = None) -> pd.DataFrame:
    """Share at the unfavourable end of every ordered item, overall and per group
    (before disclosure control, like every estimate)."""
    parts = []
    for item_id, part in estimates[estimates["kind"] == "distribution"].groupby("item", sort=False):
        item = codebook.items.get(item_id)
        codes = negative_codes(item) if item is not None else None
        if codes:
            parts.append(collapse(part, codes, negative_label(item, codes), design=design, codebook=codebook))
    return pd.concat(parts, ignore_index=True) if parts else estimates.iloc[0:0]


def _key_indicator_share(data: pd.DataFrame, weights: pd.Series, spec: dict, conf: float,
                         design: BoundDesign | None = None) -> dict:
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
    if design is not None:  # design-based interval (kit.survey.design)
        res = design.proportion(hit.to_numpy().astype(float), v)
        lo, hi = res["lower"], res["upper"]
    else:
        lo, hi = wilson_interval(p, effective_n(w[v]), conf)
    return {"value": p, "lower": float(lo), "upper": float(hi), "n": n, "n_cell": n_cell}


def _key_block(spec: dict, codebook: Codebook | None, districts: dict[str, str],
               breakdowns: dict[str, str]) -> tuple[str, str, str, str]:
    """(item, group_var, group, category) of a key indicator in the tidy estimates, so
    that disclosure control treats it as one more combination of the same item's
    cells; definitions that match no published table form a block of their own."""
    if "index" in spec:
        return f"index:{spec['id']}", "", "Gesamt", "1"
    category = "+".join(str(int(c)) if float(c).is_integer() else str(c) for c in spec["codes"])
    group = dict(spec.get("group") or {})
    if not group:
        return str(spec["item"]), "", "Gesamt", category
    if len(group) == 1:
        col, value = next(iter(group.items()))
        if col == "sex" and "sex" in breakdowns:
            return str(spec["item"]), "sex", SEX_LABELS.get(str(value), str(value)), category
        if col == "age_group" and "age_group" in breakdowns:
            return str(spec["item"]), "age_group", str(value), category
        district_col = breakdowns.get("district")
        if district_col and col in ("district_id", district_col):
            return str(spec["item"]), district_col, districts.get(str(value), str(value)), category
    where = ",".join(f"{k}={v}" for k, v in group.items())
    return str(spec["item"]), f"key:{where}", where, category


def key_indicator_rows(data: pd.DataFrame, weights: pd.Series, specs: list[dict], conf: float,
                       codebook: Codebook | None = None, districts: dict[str, str] | None = None,
                       breakdowns: dict[str, str] | None = None, design: BoundDesign | None = None) -> pd.DataFrame:
    """Unsuppressed key indicators as tidy rows (kind "key", ``category_label`` = id)."""
    rows = []
    for spec in specs:
        res = _key_indicator_share(data, weights, spec, conf, design)
        item, group_var, group, category = _key_block(spec, codebook, districts or {}, breakdowns or {})
        rows.append({"item": item, "question": "", "item_label": spec["label"], "category": category,
                     "category_label": str(spec["id"]), "group_var": group_var, "group": group,
                     "estimate": res["value"], "lower": res["lower"], "upper": res["upper"],
                     "n_unweighted": res["n"], "n_cell": res["n_cell"], "weighted_base": np.nan,
                     "n_eff": np.nan, "kind": "key", "suppressed": False})
    return _tidy_frame(rows)


def key_indicator_table(disclosed: pd.DataFrame, specs: list[dict]) -> pd.DataFrame:
    """KEY_INDICATOR_COLUMNS from disclosure-controlled key rows (suppressed: no value)."""
    by_id = {str(r["category_label"]): r for _, r in disclosed[disclosed["kind"] == "key"].iterrows()}
    rows = []
    for spec in specs:
        r = by_id.get(str(spec["id"]))
        hidden = r is None or bool(r["suppressed"])
        rows.append({"indicator": f"survey.{spec['id']}", "label": spec["label"],
                     "value": np.nan if hidden else r["estimate"], "lower": np.nan if hidden else r["lower"],
                     "upper": np.nan if hidden else r["upper"], "unit": "Anteil", "source": "Bürgerbefragung"})
    return pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)


def survey_key_indicators(data: pd.DataFrame, weights: pd.Series, specs: list[dict], conf: float,
                          policy: DisclosurePolicy) -> pd.DataFrame:
    """Key indicators on their own (each a share with its base; KEY_INDICATOR_COLUMNS).
    :func:`compute_survey` controls them together with the estimates of the same item."""
    rows = key_indicator_rows(data, weights, specs, conf)
    rows["group_var"] = [f"key:{i}" for i in range(len(rows))]  # one block each
    return key_indicator_table(policy.survey_estimates(rows), specs)


def _scales(data: pd.DataFrame, weights: pd.Series, codebook: Codebook, policy: DisclosurePolicy,
            conf: float, design: BoundDesign | None = None) -> pd.DataFrame:
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
        alpha = cronbach_alpha(complete) if len(complete) >= 2 else np.nan
        index = scale_index(data, items)
        valid = index.notna().to_numpy()
        mean = weighted_mean_ci(index.to_numpy()[valid], weights.reindex(data.index).to_numpy()[valid], conf)
        if design is not None:
            mean.update({k: v for k, v in design.mean(index.to_numpy(dtype=float), valid).items()
                         if k in ("lower", "upper")})
        rows.append({"question": q, "label": codebook.question_text(q), "items": len(items),
                     "n_complete": len(complete), "alpha": alpha, "index_mean": mean["estimate"],
                     "index_lower": mean["lower"], "index_upper": mean["upper"], "index_n": int(valid.sum()),
                     "scale_min": min(min(it.values) for it in items), "scale_max": max(max(it.values) for it in items),
                     "high_is_negative": items[0].direction == "high_is_negative"})
    df = pd.DataFrame(rows, columns=["question", "label", "items", "n_complete", "alpha", "index_mean",
                                     "index_lower", "index_upper", "index_n", "scale_min", "scale_max",
                                     "high_is_negative"])
    return policy.scales(df.astype({"n_complete": float, "index_n": float}))


# codes of PublicSurveyResult.notes and survey_meta.json "notes" (German: kit.survey.view.NOTE_TEXTS)
NIGHT_ROLE_MISSING = "night_role_missing"  # no codebook item has the role night_safety: no test by sex
SEX_ROLE_MISSING = "sex_role_missing"  # no item with the role sex, or not answered: no test by sex
NO_SAMPLE = "no_sample"  # no sample file (persons written to by group): no response rates
NOTE_CODES = (NO_SAMPLE, NIGHT_ROLE_MISSING, SEX_ROLE_MISSING)


def _night_safety_test(data: pd.DataFrame, weights: pd.Series, codebook: Codebook,
                       breakdowns: dict[str, str], design: BoundDesign | None = None) -> tuple[dict, list[str]]:
    """Rao-Scott test: is the unsafe end of the night-safety item (codebook role) related to sex?"""
    night = codebook.role_item("night_safety")
    if night is None or night.id not in data.columns:
        return {}, [NIGHT_ROLE_MISSING]
    if "sex" not in breakdowns:
        return {}, [SEX_ROLE_MISSING]
    codes = negative_codes(night)
    y = data[night.id]
    frame = pd.DataFrame({"unsicher": y.isin([float(c) for c in codes]).where(y.notna()),
                          "sex": data[breakdowns["sex"]]}).dropna()
    frame["unsicher"] = frame["unsicher"].astype(bool)
    test = rao_scott_test(frame, weights.reindex(frame.index), "unsicher", "sex", design=design)
    return {"night_unsafe_by_sex": {**test, "item": night.id, "codes": [int(c) for c in codes]}}, []


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
    if population.empty:  # stage 1 had residents without age groups (kit.profile.indicators.has_age_groups)
        raise DataError(f"Die Einwohnerdaten von {params['name']} enthalten keine Altersgruppen; die Gewichtung der "
                        "Befragung braucht Einwohner nach Stadtteil, Altersgruppe und Geschlecht (Einwohnertabelle "
                        "mit der Spalte age_group liefern).")
    codebook = load_codebook(survey["codebook"], districts)
    raw = read_responses(responses, codebook, survey.get("column_map") or {}, numbers=survey.get("numbers"))
    clean = clean_responses(raw, codebook, survey["cleaning"])
    if clean.data.empty:
        raise KitError(f"{responses}: nach der Bereinigung bleibt kein Fragebogen übrig.")
    wcfg = survey["weighting"]
    weights, report = weight_survey(
        clean.data, population, margins=list(wcfg["margins"]), max_iter=int(wcfg["max_iter"]),
        tol=float(wcfg["tolerance"]), trim_lower=wcfg.get("trim_lower"), trim_upper=wcfg.get("trim_upper"),
        margin_tolerance=float(wcfg.get("margin_tolerance", 0.01)), on_margin_miss=wcfg.get("on_margin_miss", "warn"))
    if not report["converged"]:
        raise KitError(f"Gewichtung der Befragung in {params['name']} ist nach {report['iterations']} "
                       "Iterationen nicht konvergiert; bitte die Gewichtungsränder in den Parametern prüfen.")
    conf = float(survey["confidence"])
    policy = policy_from_params(params)
    data = clean.data
    breakdowns = breakdown_columns(codebook, data)
    # sample design (survey.design): strata, fpc, clusters, calibration residuals (kit.survey.design)
    design = bind_design(survey.get("design"), data, weights, population=population,
                         margins=list(wcfg["margins"]), conf=conf)
    estimates = estimate_all(data, weights, codebook, conf, breakdowns, design)
    estimates = pd.concat([estimates, collapse_negative(estimates, codebook, design)], ignore_index=True)
    key_rows = key_indicator_rows(data, weights, survey["key_indicators"], conf, codebook, districts, breakdowns,
                                  design)
    estimates = pd.concat([estimates, key_rows], ignore_index=True)
    disclosed = policy.survey_estimates(estimates)  # key indicators with the cells of their item
    is_key = (disclosed["kind"] == "key").to_numpy()
    public_estimates = disclosed[~is_key].reset_index(drop=True)
    key = key_indicator_table(disclosed[is_key], survey["key_indicators"])

    hashes = {str(responses): file_sha256(responses), str(survey["codebook"]): file_sha256(survey["codebook"])}
    response = None
    notes = []
    if survey.get("sample"):
        sample = read_sample(survey["sample"], districts)
        hashes[str(survey["sample"])] = file_sha256(survey["sample"])
        response = response_rates(sample, districts, policy)
    else:
        notes.append(NO_SAMPLE)

    free = None
    text_item = survey.get("free_text_item")
    if text_item and text_item in data.columns:
        topics = dict(survey.get("free_text_topics") or {})
        # districts and named places are counted once, by the gazetteer (kit.survey.places), not as keywords
        free = free_text_summary(data[text_item], topics, policy=policy)
    places = survey_places(data, params, districts, policy)  # gazetteer matching (kit.gazetteer)
    places_spec = (params.get("inputs") or {}).get("places")
    if places is not None and places_spec:
        hashes[str(places_spec["path"])] = file_sha256(places_spec["path"])
    if places is not None and survey.get("gazetteer"):
        hashes[str(survey["gazetteer"])] = file_sha256(survey["gazetteer"])

    tests, test_notes = _night_safety_test(data, weights, codebook, breakdowns, design)
    notes += test_notes

    svp = suppress_sample_vs_population(report.pop("sample_vs_population"), districts, policy, len(data))
    cleaning_log, records_in = policy.cleaning_log(clean.log)
    public = PublicSurveyResult(
        name=str(params.get("name", "")), codebook=codebook, districts=districts, policy=policy,
        estimates=public_estimates, key_indicators=key, sample_vs_population=svp, response=response,
        free_text=free, scales=_scales(data, weights, codebook, policy, conf, design), cleaning_log=cleaning_log,
        weighting={k: report[k] for k in PUBLIC_WEIGHTING if k in report}, n_respondents=int(len(data)),
        records_in=records_in, confidence=conf, tests=tests, hashes=hashes,
        notes=notes, night_item=(codebook.role_item("night_safety").id
                                 if codebook.role_item("night_safety") is not None else None),
        breakdowns={name: col for name, col in breakdowns.items()})
    public.places = places[0] if places is not None else None
    public.design = design.describe()
    public.benchmarks = compare_with_benchmarks(key, conf=conf)
    model = drivers(data, weights, codebook, policy, districts=districts, confidence=conf, design=design)
    # per-category model counts are left out of what is published (a further base beside the tables)
    public.drivers = DriversResult(table=model.table.drop(columns=["n"], errors="ignore"), n=model.n,
                                   pseudo_r2=model.pseudo_r2, reason=model.reason, outcome_item=model.outcome_item,
                                   confidence=model.confidence, notes=list(model.notes))
    total_rate = float(response["rate"].iloc[0]) if response is not None and pd.notna(response["rate"].iloc[0]) else None
    public.quality_unchecked = tuple(clean.unchecked)
    if response is not None:  # from the published total row only
        public.response_benchmark = response_rate_benchmark(response["issued"].iloc[0], response["returned"].iloc[0],
                                                            conf=conf)
    public.waves = compare_previous_wave(params, store, public)  # None without survey.previous_wave
    if public.waves is not None:
        public.hashes.update(public.waves.hashes)
    public.findings = survey_findings(key, public.benchmarks, tests, int(len(data)), total_rate,
                                      waves=public.waves)
    from kit.survey.crime import crime_results  # dark figure, crime vs feeling of safety (issue 9, 5+6)

    public.dark_figure, public.crime_fear = crime_results(params, store, data, weights, codebook, public)
    return SurveyResult(params=params, codebook=codebook, districts=districts, policy=policy, clean=clean,
                        weights=weights, weighting=report, estimates=estimates, public=public, design=design)


# weighting report keys that may be published (no weights, no counts of respondents by group)
PUBLIC_WEIGHTING = ("method", "margins", "converged", "iterations", "max_abs_margin_error", "population_total",
                    "deff", "n_eff", "weight_min", "weight_max", "trimming", "empty_categories",
                    "margin_tolerance", "margin_miss_cells")


def survey_meta(public: PublicSurveyResult) -> dict:
    """Machine-readable summary (no microdata): sizes, weighting, tests, privacy settings."""
    return {
        "respondents": public.n_respondents,
        "records_in": public.records_in,
        "cases_dropped": None if public.records_in is None else public.records_in - public.n_respondents,
        "weighting": dict(public.weighting),
        "tests": public.tests,
        "privacy": {"min_cell": public.min_cell, "min_base_percent": public.min_base},
        "confidence": public.confidence,
        "design": public.design,
        "notes": public.notes,
    }


def write_survey(public: PublicSurveyResult, store: ResultStore) -> None:
    """Write the public (disclosure-controlled) results; never microdata or free text."""
    if not isinstance(public, PublicSurveyResult):
        raise TypeError("write_survey erhält nur den öffentlichen Teil (SurveyResult.public).")
    store.write_table("survey_estimates", public.estimates)
    store.write_table("survey_sample_vs_population", public.sample_vs_population)
    store.write_table("survey_cleaning_log", public.cleaning_log)
    if public.response_benchmark is not None:
        store.write_table("survey_response_benchmark", pd.DataFrame([public.response_benchmark]))
    if public.response is not None:
        store.write_table("survey_response_rates", public.response)
    if public.free_text is not None:
        store.write_table("survey_free_text_topics", public.free_text)
    if public.places is not None:
        store.write_table(PLACES_RESULT, public.places.table())
    if public.scales is not None:
        store.write_table("survey_scales", public.scales)
    store.write_table("key_indicators_survey", public.key_indicators)
    if public.benchmarks is not None:
        store.write_table("survey_benchmarks", public.benchmarks)
    if public.drivers is not None and public.drivers.ok:
        store.write_table("survey_drivers", public.drivers.table)
    from kit.survey.crime import write_crime

    write_crime(public, store)
    if public.waves is not None:
        store.write_table("survey_waves", public.waves.table)
    store.write_json("survey_meta", survey_meta(public))
    store.write_json("provenance_survey", {"input_hashes": public.hashes})


def explore(result: SurveyResult, question: str, by: str | None = None) -> pd.DataFrame:
    """Weighted results of one question split by any closed item or derived group
    (sex, age_group), computed on demand from the private result for interactive
    exploration and returned only after the commune's disclosure policy."""
    from kit.survey import estimate_question

    cb = result.codebook
    if question not in cb.questions() or cb.question_type(question) == "text":
        raise KitError(f"Frage '{question}' gibt es nicht oder sie ist eine Freitextfrage.")
    derived = [name for name in ("sex", "age_group") if name in result.public.breakdowns]
    if by is not None and by not in derived and by not in cb.items:
        raise KitError(f"Gruppierung '{by}' ist weder Geschlecht, Altersgruppe noch eine Frage des Codebuchs.")
    conf = float(result.params["survey"]["confidence"])
    tidy = estimate_question(result.clean.data, result.weights, cb, question, by=by, conf=conf, design=result.design)
    tidy = pd.concat([tidy, collapse_negative(tidy, cb, result.design)], ignore_index=True)
    return result.policy.survey_estimates(tidy)
