"""Repeat surveys (issue 9, item 7): the current wave against an earlier one.

The earlier wave comes from ``survey.previous_wave`` in the params, EITHER

- its response file (optionally with its own codebook and column map): the kit
  imports, cleans, weights and estimates it with exactly the current method by
  running :func:`kit.survey.stage.compute_survey` on it. The weighting targets are
  the current population margins of stage 1 unless ``population_margins`` names
  those of the earlier year (the report says which); OR
- its published results: the ``survey_estimates.csv`` (and optionally the
  ``key_indicators_survey.csv``) that an earlier kit run wrote. They pass the
  current disclosure policy again before anything is compared.

Compared are every key indicator and every answer share (distribution category,
collapsed unfavourable end, multiple-choice option) of the whole sample that is
published in both waves; items whose answer categories differ, and items asked
in one wave only, are listed instead (never silently dropped). Weighting
variables (codebook roles sex, age, district) are left out: both waves are
weighted to population margins, so they show no change of opinion.

The difference test treats the waves as independent samples. Each wave's
standard error is taken from the public estimation output, not recomputed here:
the column ``se`` where the estimates carry one, otherwise half the width of the
published interval divided by the normal quantile of its level (so whatever
variance the estimation uses, SRS or design-based, carries over; for the
asymmetric Wilson interval this is its mean half-width). Then
``d = p_now - p_then``, ``se_d = sqrt(se_now^2 + se_then^2)``, ``z = d / se_d``,
two-sided normal p-value, interval ``d +/- z_(1-a/2) se_d``.

Multiplicity: a questionnaire gives about two hundred comparisons, so some would
look "significant" by chance. Changes are marked after the Benjamini-Hochberg
procedure (false discovery rate at 1 - confidence; adjusted p-values from scipy's
``stats.false_discovery_control(method="bh")``): among the changes marked, the expected share
of chance findings stays below 5 %, and if nothing changed at all the chance of
any mark stays below 5 % too. Holm (family-wise error) was not chosen because with
this many comparisons it would miss real changes of a few points; the report
flags changes for the analyst to look at, it does not confirm single hypotheses.
The interval of each change is the unadjusted one (the report says so).

Everything here returns numbers and codes; :mod:`kit.survey.view_waves` phrases
the German text.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from kit.disclosure import DisclosurePolicy
from kit.errors import InputError, KitError, Problem, missing_file
from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.io import file_sha256, read_table
from kit.survey.estimates import TIDY_COLUMNS, _frame

WAVE_COLUMNS = ["comparison", "indicator", "item", "category", "label", "category_label", "kind",
                "previous", "previous_lower", "previous_upper", "current", "current_lower", "current_upper",
                "change", "change_lower", "change_upper", "se_change", "z", "p_value", "p_adjusted",
                "significant", "direction"]
MISMATCH_COLUMNS = ["item", "label", "reason"]  # reason: only_current | only_previous | categories
SHARE_KINDS = ("distribution", "multi", "collapsed")
METHOD = "Benjamini-Hochberg"
# columns a published survey_estimates.csv must have to be compared
RESULT_COLUMNS = ("item", "item_label", "category", "category_label", "group_var", "group", "kind",
                  "estimate", "lower", "upper", "n_unweighted", "n_cell")
KEY_COLUMNS = ("indicator", "value", "lower", "upper")
MARGIN_COLUMNS = ("district_id", "age_group", "sex", "population")


@dataclass
class WaveTables:
    """One wave's public tables: tidy estimates after disclosure control and key indicators."""

    estimates: pd.DataFrame  # TIDY_COLUMNS, disclosure-controlled
    key: pd.DataFrame | None  # KEY_INDICATOR_COLUMNS (suppressed: no value)
    confidence: float
    hashes: dict[str, str] = field(default_factory=dict)
    private: object | None = None  # SurveyResult of an earlier wave computed from responses (memory only)


@dataclass
class WavesResult:
    """The comparison (numbers and codes only)."""

    label: str  # name of the earlier wave, e.g. "2021"
    source: str  # "responses" | "results"
    table: pd.DataFrame  # WAVE_COLUMNS
    mismatches: pd.DataFrame  # MISMATCH_COLUMNS
    confidence: float
    alpha: float
    method: str = METHOD
    current_margins: bool = True  # earlier wave weighted to the current population margins
    n_previous: int | None = None  # questionnaires analysed in the earlier wave (response input)
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def significant(self) -> pd.DataFrame:
        return self.table[self.table["significant"]]


# ---------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------

def z_quantile(conf: float) -> float:
    return float(stats.norm.ppf(1 - (1 - conf) / 2))


def se_from_interval(lower, upper, conf: float):
    """Standard error implied by a published interval: half its width over the normal quantile."""
    return (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)) / (2 * z_quantile(conf))


def difference_test(current, se_current, previous, se_previous, conf: float = 0.95) -> pd.DataFrame:
    """Change between two independent estimates with their standard errors.

    Returns change, change_lower, change_upper (interval at ``conf``), se_change, z and
    the two-sided p_value (normal distribution)."""
    cur = np.asarray(current, dtype=float)
    prev = np.asarray(previous, dtype=float)
    se = np.sqrt(np.asarray(se_current, dtype=float) ** 2 + np.asarray(se_previous, dtype=float) ** 2)
    d = cur - prev
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, d / se, np.nan)
    q = z_quantile(conf)
    return pd.DataFrame({"change": d, "change_lower": d - q * se, "change_upper": d + q * se, "se_change": se,
                         "z": z, "p_value": 2 * stats.norm.sf(np.abs(z))})


def adjust_pvalues(p_values, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Benjamini-Hochberg adjusted p-values and the marks (adjusted p < alpha); NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    marked = np.zeros(p.shape, dtype=bool)
    ok = np.isfinite(p)
    if ok.any():
        padj = stats.false_discovery_control(p[ok], method="bh")
        adjusted[ok] = padj
        marked[ok] = padj < alpha
    return marked, adjusted


# ---------------------------------------------------------------------------
# what is comparable
# ---------------------------------------------------------------------------

def _text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str)


def _overall_shares(est: pd.DataFrame) -> pd.DataFrame:
    e = est[(_text(est["group_var"]) == "") & est["kind"].isin(SHARE_KINDS)].copy()
    e["category"] = _text(e["category"])
    return e


def _signatures(est: pd.DataFrame) -> dict[str, tuple]:
    """item -> its answer categories (code, label) as published (suppressed rows included)."""
    e = _overall_shares(est)
    e = e[e["kind"].isin(("distribution", "multi"))]
    return {item: tuple(sorted(zip(part["category"], _text(part["category_label"]))))
            for item, part in e.groupby("item", sort=False)}


def _labels(est: pd.DataFrame) -> dict[str, str]:
    e = est[_text(est["group_var"]) == ""]
    return dict(zip(e["item"].astype(str), _text(e["item_label"])))


def _code_text(c) -> str:
    return str(int(c)) if float(c).is_integer() else str(c)


def _key_item_rows(key_specs: list[dict]) -> set[tuple[str, str]]:
    """(item, category) of the estimates that a key indicator already stands for (whole sample)."""
    out = set()
    for spec in key_specs or []:
        if spec.get("item") and spec.get("codes") and not spec.get("group"):
            out.add((str(spec["item"]), "+".join(_code_text(c) for c in spec["codes"])))
    return out


def _se(frame: pd.DataFrame, value: str, lower: str, upper: str, conf: float) -> np.ndarray:
    se = se_from_interval(frame[lower], frame[upper], conf)
    if "se" in frame.columns:  # the estimation publishes its standard error: use it
        given = pd.to_numeric(frame["se"], errors="coerce").to_numpy(dtype=float)
        se = np.where(np.isfinite(given), given, se)
    return se


def compare_waves(previous: WaveTables, current: WaveTables, *, label: str, key_specs: list[dict] | None = None,
                  exclude_items: set[str] | frozenset = frozenset(), alpha: float | None = None,
                  source: str = "results") -> WavesResult:
    """Every key indicator and every whole-sample answer share published in both waves,
    with change, interval, test and the Benjamini-Hochberg mark (see module docstring)."""
    conf = current.confidence
    alpha = 1 - conf if alpha is None else alpha
    rows = []
    # key indicators
    if previous.key is not None and current.key is not None:
        prev_key = previous.key.set_index("indicator")
        for r in current.key.itertuples(index=False):
            if r.indicator not in prev_key.index:
                continue
            p = prev_key.loc[r.indicator]
            if pd.isna(r.value) or pd.isna(p["value"]):
                continue
            rows.append({"comparison": "key", "indicator": r.indicator, "item": "", "category": "",
                         "label": r.label, "category_label": "", "kind": "key",
                         "previous": float(p["value"]), "previous_lower": float(p["lower"]),
                         "previous_upper": float(p["upper"]), "current": float(r.value),
                         "current_lower": float(r.lower), "current_upper": float(r.upper),
                         "_se_prev": _se(pd.DataFrame([p]), "value", "lower", "upper", previous.confidence)[0],
                         "_se_cur": _se(pd.DataFrame([r._asdict()]), "value", "lower", "upper", conf)[0]})
    # answer shares of the whole sample
    cur_sig, prev_sig = _signatures(current.estimates), _signatures(previous.estimates)
    cur_lab, prev_lab = _labels(current.estimates), _labels(previous.estimates)
    mismatches = []
    for item in cur_sig:
        if item in exclude_items:
            continue
        if item not in prev_sig:
            mismatches.append({"item": item, "label": cur_lab.get(item, item), "reason": "only_current"})
        elif prev_sig[item] != cur_sig[item]:
            mismatches.append({"item": item, "label": cur_lab.get(item, item), "reason": "categories"})
    for item in prev_sig:
        if item not in cur_sig and item not in exclude_items:
            mismatches.append({"item": item, "label": prev_lab.get(item, item), "reason": "only_previous"})
    comparable = {i for i in cur_sig if i in prev_sig and prev_sig[i] == cur_sig[i] and i not in exclude_items}
    skip = _key_item_rows(key_specs or [])
    cur = _overall_shares(current.estimates)
    prev = _overall_shares(previous.estimates)
    published = lambda e: e[~e["suppressed"].astype(bool) & e["estimate"].notna()]  # noqa: E731
    cur, prev = published(cur), published(prev)
    cur = cur[cur["item"].isin(comparable)]
    cur = cur[[(i, c) not in skip for i, c in zip(cur["item"], cur["category"])]]
    merged = cur.merge(prev[["item", "category", "kind", "estimate", "lower", "upper"]
                            + (["se"] if "se" in prev.columns else [])],
                       on=["item", "category", "kind"], suffixes=("", "_prev"))
    if len(merged):
        se_cur = _se(merged, "estimate", "lower", "upper", conf)
        prev_frame = merged[["estimate_prev", "lower_prev", "upper_prev"]
                            + (["se_prev"] if "se_prev" in merged.columns else [])]
        prev_frame = prev_frame.rename(columns={"se_prev": "se"})
        se_prev = _se(prev_frame, "estimate_prev", "lower_prev", "upper_prev", previous.confidence)
        for i, r in enumerate(merged.itertuples(index=False)):
            rows.append({"comparison": "item", "indicator": "", "item": r.item, "category": r.category,
                         "label": str(r.item_label), "category_label": str(r.category_label), "kind": r.kind,
                         "previous": r.estimate_prev, "previous_lower": r.lower_prev, "previous_upper": r.upper_prev,
                         "current": r.estimate, "current_lower": r.lower, "current_upper": r.upper,
                         "_se_prev": se_prev[i], "_se_cur": se_cur[i]})
    table = pd.DataFrame(rows, columns=[*WAVE_COLUMNS, "_se_prev", "_se_cur"])
    if len(table):
        test = difference_test(table["current"], table["_se_cur"], table["previous"], table["_se_prev"], conf)
        for col in test.columns:
            table[col] = test[col].to_numpy()
        marked, adjusted = adjust_pvalues(table["p_value"], alpha)
        table["p_adjusted"] = adjusted
        table["significant"] = marked
        table["direction"] = np.where(~marked, "none", np.where(table["change"] > 0, "rise", "fall"))
    table = table.drop(columns=["_se_prev", "_se_cur"])
    table["significant"] = table["significant"].fillna(False).astype(bool)
    for col in WAVE_COLUMNS[7:20]:
        table[col] = table[col].astype(float)
    return WavesResult(label=label, source=source, table=table.reset_index(drop=True),
                       mismatches=pd.DataFrame(mismatches, columns=MISMATCH_COLUMNS), confidence=conf,
                       alpha=alpha, hashes=dict(previous.hashes))


# ---------------------------------------------------------------------------
# reading the earlier wave
# ---------------------------------------------------------------------------

def _number_columns(df: pd.DataFrame, columns, path: Path, integer: tuple = ()) -> pd.DataFrame:
    """Text cells to numbers (decimal point or, in ';'-files, comma); bad cells are named."""
    decimal = df.attrs.get("decimal", ".")
    first = int(df.attrs.get("first_data_row", 2))
    problems = []
    out = df.copy()
    for col in columns:
        raw = df[col]
        text = raw.astype(object).where(raw.notna(), None)
        values = []
        for i, v in enumerate(text):
            if v is None or str(v).strip() == "":
                values.append(np.nan)
                continue
            s = str(v).strip()
            if decimal == ",":
                s = s.replace(".", "").replace(",", ".") if "," in s else s
            try:
                x = float(s)
            except ValueError:
                problems.append(Problem(file=str(path), row=first + i, column=col, value=v,
                                        expected="Zahl (z. B. 0.25) oder leer"))
                values.append(np.nan)
                continue
            if col in integer and not float(x).is_integer():
                problems.append(Problem(file=str(path), row=first + i, column=col, value=v,
                                        expected="ganze Zahl (Anzahl Befragter) oder leer"))
            values.append(x)
        out[col] = values
    if problems:
        raise InputError(problems)
    return out


def _need_columns(df: pd.DataFrame, columns, path: Path, what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError([Problem(file=str(path), row=1, column=c, value="fehlt",
                                  expected=f"Spalte der {what} (Spalten: {', '.join(columns)})") for c in missing])


def _check_shares(df: pd.DataFrame, path: Path, cols=("estimate", "lower", "upper"), kinds: pd.Series | None = None):
    """Shares must lie in 0..1 with lower <= value <= upper."""
    first = int(df.attrs.get("first_data_row", 2))
    v, lo, hi = (df[c].to_numpy(dtype=float) for c in cols)
    share = np.ones(len(df), dtype=bool) if kinds is None else kinds.isin([*SHARE_KINDS, "key"]).to_numpy()
    with np.errstate(invalid="ignore"):
        bad_range = share & np.isfinite(v) & ((v < 0) | (v > 1))
        tol = 1e-6 * np.maximum(1.0, np.abs(v))  # rounding of a degenerate interval
        bad_order = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi) & ((lo > v + tol) | (hi < v - tol))
    problems = []
    for i in np.flatnonzero(bad_range)[:10]:
        problems.append(Problem(file=str(path), row=first + int(i), column=cols[0], value=str(v[i]),
                                expected="Anteil zwischen 0 und 1"))
    for i in np.flatnonzero(bad_order & ~bad_range)[:10]:
        problems.append(Problem(file=str(path), row=first + int(i), column=f"{cols[1]}/{cols[2]}",
                                value=f"{lo[i]} / {hi[i]}", expected=f"untere Grenze ≤ {cols[0]} ≤ obere Grenze"))
    if problems:
        raise InputError(problems)


def read_previous_estimates(path: str | Path, policy: DisclosurePolicy) -> pd.DataFrame:
    """A published survey_estimates.csv of an earlier kit run, checked and put through the
    current disclosure policy again (a stricter policy now hides more)."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Ergebnisdatei der früheren Befragung (survey_estimates.csv)")
    df = read_table(path)
    _need_columns(df, RESULT_COLUMNS, path, "Ergebnisdatei survey_estimates.csv einer früheren Auswertung")
    numeric = ["estimate", "lower", "upper", "n_unweighted", "n_cell", "weighted_base", "n_eff", "se"]
    df = _number_columns(df, [c for c in numeric if c in df.columns], path, integer=("n_unweighted", "n_cell"))
    kinds = _text(df["kind"])
    bad = ~kinds.isin([*SHARE_KINDS, "mean"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(Problem(file=str(path), row=int(df.attrs.get("first_data_row", 2)) + i, column="kind",
                                 value=kinds.iloc[i], expected="distribution, multi, collapsed oder mean"))
    _check_shares(df, path, kinds=kinds)
    if "suppressed" in df.columns:
        hidden = _text(df["suppressed"]).str.lower().isin(["true", "1", "ja", "wahr"])
    else:
        hidden = pd.Series(False, index=df.index)
    rows = df.reindex(columns=TIDY_COLUMNS).to_dict("records")
    for r, h in zip(rows, hidden):
        r["suppressed"] = bool(h)
        for col in ("item", "question", "item_label", "category", "category_label", "group_var", "group", "kind"):
            r[col] = "" if r[col] is None or (isinstance(r[col], float) and np.isnan(r[col])) or r[col] is pd.NA \
                else str(r[col])
    tidy = _frame(rows)
    if "se" in df.columns:
        tidy["se"] = df["se"].to_numpy(dtype=float)
    tidy.loc[tidy["suppressed"], ["estimate", "lower", "upper"]] = np.nan
    # The earlier run published this table after its own disclosure control. If every published
    # row also passes today's elementary rules, its suppression pattern stands (running the
    # complementary suppression again on blanked cells would hide published totals for nothing).
    # If today's policy is stricter, the whole table goes through it again; blanked cells then
    # count as small, so this errs on the side of hiding more.
    shown = ~tidy["suppressed"].to_numpy()
    n = pd.to_numeric(tidy["n_unweighted"], errors="coerce").to_numpy(dtype=float)
    cell = pd.to_numeric(tidy["n_cell"], errors="coerce").to_numpy(dtype=float)
    is_mean = (tidy["kind"] == "mean").to_numpy()
    fails = [(not policy.base_ok(b)) or (not m and policy.small_count(c)) for b, c, m in zip(n, cell, is_mean)]
    out = policy.survey_estimates(tidy) if np.any(shown & np.asarray(fails, dtype=bool)) else tidy
    if "se" in out.columns:
        out.loc[out["suppressed"], "se"] = np.nan
    return out


def read_previous_key_indicators(path: str | Path) -> pd.DataFrame:
    """A published key_indicators_survey.csv (indicator, value, lower, upper; label optional)."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Kennzahlen der früheren Befragung (key_indicators_survey.csv)")
    df = read_table(path)
    _need_columns(df, KEY_COLUMNS, path, "Kennzahlendatei key_indicators_survey.csv einer früheren Auswertung")
    df = _number_columns(df, ["value", "lower", "upper"], path)
    _check_shares(df, path, cols=("value", "lower", "upper"))
    df["indicator"] = _text(df["indicator"])
    dup = df["indicator"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(Problem(file=str(path), row=int(df.attrs.get("first_data_row", 2)) + i, column="indicator",
                                 value=df["indicator"].iloc[i], expected="jede Kennzahl nur einmal"))
    if "label" not in df.columns:
        df["label"] = df["indicator"]
    return df.reindex(columns=KEY_INDICATOR_COLUMNS)


def read_population_margins(path: str | Path) -> pd.DataFrame:
    """Weighting targets of the earlier year, in the columns of stage 1's population_margins.csv."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Bevölkerungsränder der früheren Befragung")
    df = read_table(path)
    _need_columns(df, MARGIN_COLUMNS, path, "Bevölkerung nach Stadtteil, Altersgruppe und Geschlecht")
    df = _number_columns(df, ["population"], path)
    first = int(df.attrs.get("first_data_row", 2))
    bad = ~(df["population"] >= 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(Problem(file=str(path), row=first + i, column="population", value=str(df["population"].iloc[i]),
                                 expected="Einwohnerzahl ≥ 0"))
    df["district_id"] = _text(df["district_id"])
    return df[list(MARGIN_COLUMNS)]


class _MarginsStore:
    """The commune's result store, except that the population margins are those of the earlier year."""

    def __init__(self, store, margins: pd.DataFrame):
        self._store, self._margins = store, margins

    def read_table(self, name: str, **kwargs) -> pd.DataFrame:
        if name == "population_margins":
            return self._margins.copy()
        return self._store.read_table(name, **kwargs)

    def __getattr__(self, name):
        return getattr(self._store, name)


def _wave_from_responses(params: dict, store, wave: dict, current_codebook) -> tuple[WaveTables, bool]:
    """Clean, weight and estimate the earlier wave's responses exactly like the current ones."""
    from kit.survey.codebook import load_codebook
    from kit.survey.stage import compute_survey, read_districts

    responses = Path(wave["responses"])
    if not responses.exists():
        raise missing_file(responses, f"Antworten der früheren Befragung {wave['label']}")
    codebook_path = wave.get("codebook") or params["survey"]["codebook"]
    if not Path(codebook_path).exists():
        raise missing_file(codebook_path, f"Codebuch der früheren Befragung {wave['label']}")
    old_codebook = load_codebook(codebook_path, read_districts(store))
    specs = []
    for spec in params["survey"].get("key_indicators") or []:
        needed = list(spec.get("index") or [spec.get("item")])
        if all(i in old_codebook.items for i in needed):
            specs.append(spec)
    inner = copy.deepcopy(params)
    survey = inner["survey"]
    survey.pop("previous_wave", None)
    survey.update(responses=str(responses), codebook=str(codebook_path), sample=None, key_indicators=specs,
                  column_map=dict(wave.get("column_map") or {}), numbers=wave.get("numbers"))
    margins_given = bool(wave.get("population_margins"))
    use_store = _MarginsStore(store, read_population_margins(wave["population_margins"])) if margins_given else store
    try:
        result = compute_survey(inner, use_store)
    except KitError as exc:  # the same German message, saying which wave it is about
        err = KitError(f"Frühere Befragung {wave['label']} ({responses}): {exc}")
        err.kind = exc.kind
        raise err from None
    hashes = {str(responses): file_sha256(responses)}
    if wave.get("codebook"):
        hashes[str(codebook_path)] = file_sha256(codebook_path)
    if margins_given:
        hashes[str(wave["population_margins"])] = file_sha256(wave["population_margins"])
    pub = result.public
    return WaveTables(estimates=pub.estimates, key=pub.key_indicators, confidence=pub.confidence, hashes=hashes,
                      private=result), not margins_given


def _wave_from_results(wave: dict, policy: DisclosurePolicy, conf: float) -> WaveTables:
    path = Path(wave["results"])
    est = read_previous_estimates(path, policy)
    hashes = {str(path): file_sha256(path)}
    key = None
    if wave.get("key_indicators"):
        key = read_previous_key_indicators(wave["key_indicators"])
        hashes[str(wave["key_indicators"])] = file_sha256(wave["key_indicators"])
    return WaveTables(estimates=est, key=key, confidence=float(wave.get("confidence") or conf), hashes=hashes)


def load_previous_wave(params: dict, store, current_codebook, policy: DisclosurePolicy) -> tuple[WaveTables, bool] | None:
    """The earlier wave named in ``survey.previous_wave`` (None if none is named).
    Returns its tables and whether it was weighted to the current population margins."""
    wave = params["survey"].get("previous_wave")
    if not wave:
        return None
    if wave.get("responses"):
        return _wave_from_responses(params, store, wave, current_codebook)
    return _wave_from_results(wave, policy, float(params["survey"]["confidence"])), False


def weighting_items(codebook) -> set[str]:
    """Items of the weighting variables (roles sex, age, district)."""
    out = set()
    for role in ("sex", "age", "district"):
        item = codebook.role_item(role)
        if item is not None:
            out.add(item.id)
    return out


def compare_previous_wave(params: dict, store, public) -> WavesResult | None:
    """The comparison for :func:`kit.survey.stage.compute_survey` (None without an earlier wave)."""
    loaded = load_previous_wave(params, store, public.codebook, public.policy)
    if loaded is None:
        return None
    previous, current_margins = loaded
    wave = params["survey"]["previous_wave"]
    current = WaveTables(estimates=public.estimates, key=public.key_indicators, confidence=public.confidence)
    if previous.key is None:  # only survey_estimates.csv given: no key indicators to compare
        current.key = None
    result = compare_waves(previous, current, label=str(wave["label"]),
                           key_specs=params["survey"].get("key_indicators") or [],
                           exclude_items=weighting_items(public.codebook),
                           source="responses" if wave.get("responses") else "results")
    result.current_margins = current_margins
    if previous.private is not None:
        result.n_previous = int(previous.private.public.n_respondents)
    return result


__all__ = ["MISMATCH_COLUMNS", "WAVE_COLUMNS", "WaveTables", "WavesResult", "adjust_pvalues", "compare_previous_wave",
           "compare_waves", "difference_test", "load_previous_wave", "read_previous_estimates",
           "read_previous_key_indicators", "se_from_interval"]
