"""Stage 1 (issue 8, items 1 and 2): the early warning inside the stage, its wording, and
"Das Wichtigste in Kürze".

1. pks_indicators and owi_rates flag with kit.profile.early_warning: all keys of the PKS
   pooled as one group, the OWi categories as another, population as offset. Checked
   against a direct call of early_warning on the same numbers, and on planted series:
   an overdispersed series without change (which the former Poisson rule flags) is not
   flagged, a strong rise is.
2. kit.profile.findings: findings with numbers, comparisons and uncertainty computed
   independently here (Garwood interval via scipy, HZ by hand), ordered by importance.
3. The report as the notebook renders it (its markdown and every code cell, run
   in-process on the three demo communes): "Das Wichtigste in Kürze" right after the
   intro with 5-8 findings, a sentence in every section, "auffällig" with its caveat and
   never "signifikant", no parameter or file names before the appendix.
"""

from __future__ import annotations

import json
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from kit.params import REPO_ROOT
from kit.profile import indicators as P
from kit.profile.early_warning import CALIBRATION, RULE, early_warning
from kit.profile.pks import pks_indicators

NOTEBOOK = REPO_ROOT / "notebooks" / "1_profile.ipynb"
YEARS = list(range(2019, 2025))
POP = pd.DataFrame({"year": YEARS, "total": [100000.0] * len(YEARS)})
# year-to-year swings of about ±8 % around the level (no change in the latest year: +7 %)
SWING = [1.08, 0.92, 1.06, 0.94, 1.00, 1.07]
FLAG_OF = {"rise": "rise", "fall": "fall", "none": "within_chance", "": ""}


def garwood(x: float, conf: float = 0.95) -> tuple[float, float]:
    a = 1 - conf
    lo = 0.0 if x == 0 else stats.chi2.ppf(a / 2, 2 * x) / 2
    return lo, stats.chi2.ppf(1 - a / 2, 2 * x + 2) / 2


def old_poisson_flag(counts: list[float], k: int = 3) -> str:
    """The former rule (Poisson band around the mean of the k previous years), for contrast."""
    expected = float(np.mean(counts[-k - 1:-1]))
    lo, hi = stats.poisson.ppf([0.025, 0.975], expected)
    return "rise" if counts[-1] > hi else "fall" if counts[-1] < lo else "within_chance"


def pks_frame(series: dict[str, list[float]]) -> pd.DataFrame:
    rows = [(y, key, f"Schlüssel {key}", c, 0, int(c // 2), int(c // 3)) for key, counts in series.items()
            for y, c in zip(YEARS, counts)]
    return pd.DataFrame(rows, columns=["year", "key", "label", "cases", "attempts", "cleared", "suspects"])


def planted_series(n: int = 10, planted_rise: float | None = 1.6) -> dict[str, list[float]]:
    """n keys with ±8 % swings and no change; with ``planted_rise`` one more key whose latest
    year is that multiple of its level."""
    series = {f"{100000 + i:06d}": [round((2000 + 800 * i) * f) for f in SWING] for i in range(n)}
    if planted_rise:
        series["999999"] = [round(3000 * f) for f in SWING[:-1]] + [round(3000 * planted_rise)]
    return series


# ---------------------------------------------------------------------------
# 1. The stage uses the early warning
# ---------------------------------------------------------------------------


def test_pks_overdispersed_series_without_change_is_not_flagged_a_strong_rise_is():
    series = planted_series()
    ind = pks_indicators(pks_frame(series), POP)
    trend = ind[ind["indicator"] == "pks_trend"].set_index("subject")
    unchanged = [k for k in series if k != "999999"]
    # the former Poisson rule flags these series: a +7 % year is far outside a Poisson band
    assert all(old_poisson_flag(series[k]) == "rise" for k in unchanged)
    assert set(trend.loc[unchanged, "flag"]) == {"within_chance"}
    assert trend.loc["999999", "flag"] == "rise"
    row = trend.loc["999999"]
    assert row["value"] == series["999999"][-1] and row["value"] > row["upper"]
    assert row["lower"] < row["expected"] < row["upper"]
    assert row["period"] == "2019–2023" and row["year"] == 2024


def test_owi_overdispersed_category_without_change_is_not_flagged_a_strong_rise_is():
    series = planted_series(n=6)
    owi = pd.DataFrame([(y, f"Kategorie {k}", c) for k, counts in series.items() for y, c in zip(YEARS, counts)],
                       columns=["year", "category", "count"])
    ind = P.owi_rates(owi, POP)
    trend = ind[ind["indicator"] == "owi_trend"].set_index("subject")
    assert all(old_poisson_flag(series[k]) == "rise" for k in series if k != "999999")
    assert set(trend.loc[[f"Kategorie {k}" for k in series if k != "999999"], "flag"]) == {"within_chance"}
    assert trend.loc["Kategorie 999999", "flag"] == "rise"
    assert "owi_enforcement" in trend.loc["Kategorie 999999", "note"]


def _direct_call(series: dict[str, list[float]], pop_by_year: dict[int, float], group: str) -> pd.DataFrame:
    """early_warning called directly on the same numbers (the independent side)."""
    long = pd.DataFrame([(k, y, c, pop_by_year[y]) for k, counts in series.items() for y, c in zip(YEARS, counts)],
                        columns=["series", "year", "count", "population"]).assign(group=group)
    return early_warning(long).set_index("series")


counts_st = st.lists(st.integers(0, 3000), min_size=len(YEARS), max_size=len(YEARS))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(counts_st, min_size=1, max_size=7),
       st.lists(st.integers(5000, 300000), min_size=len(YEARS), max_size=len(YEARS)))
def test_pks_trend_rows_are_the_pooled_early_warning_of_all_keys(counts, pops):
    """All keys in one call, population of 31.12. of the year before as offset: the stage's
    flag, expected count and range equal a direct early_warning call on all keys together
    (per key alone the pooled dispersion would differ)."""
    series = {f"{100000 + i:06d}": c for i, c in enumerate(counts)}
    population = pd.DataFrame({"year": YEARS, "total": [float(p) for p in pops]})
    ind = pks_indicators(pks_frame(series), population)
    trend = ind[ind["indicator"] == "pks_trend"].set_index("subject")
    # lag 1; the first year falls back to the nearest year (its own)
    lagged = {y: float(pops[YEARS.index(y - 1)] if y - 1 in YEARS else pops[0]) for y in YEARS}
    direct = _direct_call(series, lagged, "pks")
    for key in series:
        assert trend.loc[key, "flag"] == FLAG_OF[direct.loc[key, "flag"]]
        for col in ("expected", "lower", "upper"):
            a, b = trend.loc[key, col], direct.loc[key, col]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9), col


def test_owi_and_pks_are_separate_groups():
    """The OWi trend does not change with the PKS data beside it (never pooled together)."""
    series = planted_series(n=6, planted_rise=None)
    owi = pd.DataFrame([(y, f"K{k}", c) for k, counts in series.items() for y, c in zip(YEARS, counts)],
                       columns=["year", "category", "count"])
    a = P.owi_rates(owi, POP)
    direct = _direct_call({f"K{k}": v for k, v in series.items()}
                          | {"": [sum(v[i] for v in series.values()) for i in range(len(YEARS))]},
                          {y: 100000.0 for y in YEARS}, "owi")
    trend = a[a["indicator"] == "owi_trend"].set_index("subject")
    for subject in trend.index:
        assert trend.loc[subject, "upper"] == pytest.approx(direct.loc[subject, "upper"], rel=1e-9)


# ---------------------------------------------------------------------------
# 2. Findings, computed on a small result built here
# ---------------------------------------------------------------------------


def small_result(reference: dict | None = None, extra: dict | None = None):
    """A ProfileResult of a town of 10,000 residents: ten keys with ±8 % swings, key
    999999 with a strong rise, key 892000 with few cases; optional reference HZ and
    further (or replaced) series."""
    from kit.profile.stage import ProfileResult

    series = planted_series(n=10)
    series["892000"] = [8, 6, 9, 7, 8, 6]
    series.update(extra or {})
    pop = pd.DataFrame({"year": YEARS, "total": [10000.0] * len(YEARS)})
    pks = pks_indicators(pks_frame(series), pop, reference=reference)
    totals = pop.assign(share_65plus_pct=25.0, share_under18_pct=15.0, share_female_pct=50.0)
    by_district = pd.DataFrame({"district_id": ["1", "2"], "total": [6000.0, 4000.0],
                                "share_65plus_pct": [20.0, 32.5]})
    return ProfileResult(commune_id="test", latest_year=2024, totals=totals, by_district=by_district,
                         pyramid=pd.DataFrame(), margins=pd.DataFrame(), pks=pks, pmk=None, owi=None, clubs=None,
                         accommodation=None, bos=None, education=None, problems=P.empty_indicators(), gaps=None,
                         reference=reference or {}, reference_label="Vergleichsland"), series


def test_findings_of_a_flagged_series_carry_its_value_and_range():
    from kit.profile.findings import profile_findings

    result, series = small_result()
    f = profile_findings(result)
    trend = f[f["finding"] == "trend"]
    assert list(trend["subject"]) == ["999999"]
    row = trend.iloc[0]
    assert row["value"] == series["999999"][-1] and row["flag"] == "rise"
    t = result.pks[(result.pks["indicator"] == "pks_trend") & (result.pks["subject"] == "999999")].iloc[0]
    assert (row["lower"], row["upper"], row["reference"]) == (t["lower"], t["upper"], t["expected"])
    assert row["reference_kind"] == "expected" and row["period"] == "2019–2023"
    # the level of the base years, population constant: mean of 2019-2023
    assert row["reference"] == pytest.approx(np.mean(series["999999"][:-1]))


def test_findings_few_cases_hold_the_hz_and_its_exact_interval():
    from kit.profile.findings import FEW_CASES, profile_findings

    result, series = small_result()
    few = profile_findings(result).set_index("finding").loc["few_cases"]
    cases = series["892000"][-1]
    assert cases < FEW_CASES and few["subject"] == "892000" and few["count"] == cases
    lo, hi = garwood(cases)
    assert few["value"] == pytest.approx(cases * 100000 / 10000)
    assert few["lower"] == pytest.approx(lo * 10, rel=1e-6) and few["upper"] == pytest.approx(hi * 10, rel=1e-6)
    assert few["items"] == "892000" and few["n_items"] == 1


def test_findings_order_concerns_then_reassuring_then_small_numbers_then_context():
    from kit.profile.findings import TIERS, profile_findings, summary_findings, tier

    # Concerns first, by size: 999999 rises strongly (+~60 %), 674000's HZ (about 3.200) lies
    # above a reference of 2.500, but only a little beyond its interval. Then the reassuring
    # deviations by size, whatever their kind: 899000 (HZ about 53.500) far below 150.000, key
    # 100000 falls (2.000 -> 900), 892000 (HZ 60) just below a reference of 150. Then the
    # small-number caveat, then context. (The former fixed order put every deviation from a
    # reference, even "niedriger", before every development.)
    lo, hi = garwood(6)
    assert 10 * hi < 150
    extra = {"899000": [round(5000 * f) for f in SWING], "100000": [round(2000 * f) for f in SWING[:-1]] + [900],
             "674000": [round(300 * f) for f in SWING]}
    result, _ = small_result(reference={"892000": 150.0, "899000": 150000.0, "674000": 2500.0}, extra=extra)
    f = profile_findings(result)
    assert list(zip(f["finding"], f["subject"])) == [
        ("trend", "999999"), ("hz_benchmark", "674000"),
        ("hz_benchmark", "899000"), ("trend", "100000"), ("hz_benchmark", "892000"),
        ("few_cases", "892000"), ("population", ""), ("districts", "share_65plus")]
    tiers = [tier(r) for _, r in f.iterrows()]
    assert tiers == ["concern"] * 2 + ["reassuring"] * 3 + ["few_cases"] + ["context"] * 2
    assert [TIERS.index(t) for t in tiers] == sorted(TIERS.index(t) for t in tiers)
    assert list(f["score"]) == sorted(f["score"], reverse=True)
    b = f[f["subject"] == "892000"].iloc[0]
    assert b["flag"] == "below_reference" and b["reference"] == 150.0 and b["reference_kind"] == "params"
    # the comparison interval contains the year-to-year swings: at least the Poisson interval
    assert b["upper"] >= hi * 10 * (1 - 1e-9) and b["reference"] > b["upper"]
    assert b["reference_label"] == "Vergleichsland"
    t = f[f["finding"] == "trend"].set_index("subject")
    assert (t.loc["999999", "flag"], t.loc["100000", "flag"]) == ("rise", "fall")
    a = f[f["subject"] == "674000"].iloc[0]
    assert a["flag"] == "above_reference" and a["reference"] < a["lower"]
    summary = summary_findings(result)
    assert list(summary["finding"]) == list(f["finding"])  # 8 findings, none capped


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["892000", "899000", "674000", "210000", "435*00", "222000", "100000"]),
                       st.floats(1.0, 60000.0), min_size=1, max_size=7))
def test_summary_keeps_the_best_scores_within_the_limits(reference):
    """Whatever the references: at most 8 findings, at most 3 comparisons, sorted by score, and
    no finding left out that scores higher than the last one kept unless its kind is full."""
    from kit.profile.findings import MAX_PER_KIND, profile_findings, summary_findings

    extra = {"899000": [round(5000 * f) for f in SWING], "674000": [30, 25, 35, 28, 31, 29],
             "435*00": [60, 70, 55, 65, 62, 58], "222000": [400, 380, 420, 390, 410, 405]}
    result, _ = small_result(reference=reference, extra=extra)
    allf, summary = profile_findings(result), summary_findings(result)
    assert 1 <= len(summary) <= 8
    assert list(summary["score"]) == sorted(summary["score"], reverse=True)
    counts = summary["finding"].value_counts()
    for kind, cap in MAX_PER_KIND.items():
        assert counts.get(kind, 0) <= cap
    kept = set(zip(summary["finding"], summary["subject"]))
    for _, r in allf.iterrows():
        if (r["finding"], r["subject"]) not in kept and r["score"] > summary["score"].min():
            assert counts.get(r["finding"], 0) == MAX_PER_KIND.get(r["finding"]), r["finding"]
    # every comparison finding deviates: its reference lies outside the interval of the HZ
    for _, r in allf[allf["finding"] == "hz_benchmark"].iterrows():
        lo, hi = garwood(r["count"])
        assert r["reference"] < lo * 10 or r["reference"] > hi * 10 or r["subject"] == "000000"


def test_findings_without_reference_or_flags_start_with_context():
    from kit.profile.findings import profile_findings

    result, _ = small_result()
    result.pks = result.pks[~((result.pks["indicator"] == "pks_trend") & (result.pks["flag"] == "rise"))]
    f = profile_findings(result)
    assert "hz_benchmark" not in set(f["finding"]) and "trend" not in set(f["finding"])
    assert f["finding"].iloc[0] == "few_cases"
    dist = f.set_index("finding").loc["districts"]
    assert (dist["value"], dist["other"], dist["district_id"], dist["other_label"]) == (32.5, 20.0, "2", "1")


# ---------------------------------------------------------------------------
# 3. The report as the notebook renders it, for the three demo communes
# ---------------------------------------------------------------------------


class Captured:
    def __init__(self):
        self.parts: list[str] = []
        self.markdown: list[str] = []
        self.fragments: list[str] = []  # every Markdown text shown, one by one

    def __call__(self, *objs, **_kwargs):
        from IPython.display import HTML, Markdown

        for obj in objs:
            if isinstance(obj, (HTML, Markdown)):
                self.parts.append(obj.data)
            if isinstance(obj, Markdown):
                self.markdown.append(obj.data)
                self.fragments.append(obj.data)

    def take(self) -> tuple[str, str]:
        """(everything shown as text, the Markdown sentences only) since the last call."""
        import html as _html

        text = _html.unescape(re.sub(r"<[^>]+>", " ", " ".join(self.parts)))
        md = " ".join(self.markdown)
        self.parts, self.markdown = [], []
        return text, md


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """{commune: [(heading, text), ...]}: the notebook's sections as the report shows them
    (markdown cells and the output of every code cell that is not removed from the report)."""
    import IPython.display
    import matplotlib
    import yaml

    matplotlib.use("Agg")
    from kit.demo import generate_demo
    from kit.params import PARAMS_DIR, load_params
    from kit.profile import view
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, key_indicators
    from kit.report import provenance_table, show_md, show_table
    from kit.results import ResultStore
    from kit.sources_view import show_data_note, show_sources

    root = tmp_path_factory.mktemp("demo")
    folders = generate_demo(root / "data")
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    cap, original = Captured(), IPython.display.display
    IPython.display.display = cap
    out = {}
    try:
        for commune, folder in folders.items():
            data = yaml.safe_load((PARAMS_DIR / f"{commune}.yaml").read_text(encoding="utf-8"))
            data["data_dir"] = str(folder.resolve())
            path = root / f"{commune}.yaml"
            path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
            params = load_params(path)
            inputs = load_profile_inputs(params)
            result = compute_profile(inputs)
            ns = {"view": view, "result": result, "inputs": inputs, "show_md": show_md, "show_table": show_table,
                  "provenance_table": provenance_table, "show_sources": show_sources,
                  "show_data_note": show_data_note,
                  "ctx": SimpleNamespace(params=params, name=params["name"],
                                         store=ResultStore(root / "out", commune, "profile"))}
            sections: list[tuple[str, str]] = [("", "")]
            sentences: dict[str, str] = {}
            for cell in cells[2:]:  # after the parameters and the setup cell
                if "remove_cell" in cell.get("metadata", {}).get("tags", []):
                    continue
                source = "".join(cell["source"])
                if cell["cell_type"] == "markdown":
                    heading = source.splitlines()[0] if source.startswith("## ") else ""
                    if heading:
                        sections.append((heading[3:].strip(), source[len(heading):]))
                    else:
                        sections[-1] = (sections[-1][0], sections[-1][1] + " " + source)
                else:
                    exec(compile(source, f"<{commune} notebook cell>", "exec"), ns)
                    text, md = cap.take()
                    sections[-1] = (sections[-1][0], sections[-1][1] + " " + text)
                    sentences[sections[-1][0]] = sentences.get(sections[-1][0], "") + " " + md
            labels = " ".join(key_indicators(result)["label"].astype(str))
            fragments, cap.fragments = cap.fragments, []
            out[commune] = {"sections": sections, "fragments": fragments, "sentences": sentences, "key_labels": labels, "result": result,
                            "inputs": inputs}
    finally:
        IPython.display.display = original
    return out


N = r"[\d.]+(?:,\d+)?"  # a German number
SECTION_SENTENCES = {  # section -> the generated sentence (Markdown) saying what its table or chart shows
    "Einwohner": rf"Am 31\.12\.\d{{4}} lebten \*\*{N} Menschen\*\*",
    "Stadtteile und Orte des Unwohlseins": rf"hat {N} Stadtteile; der größte ist .+ mit {N} Einwohnern",
    "Polizeiliche Kriminalstatistik (PKS)": rf"Die Tabelle zeigt für alle Straftaten .+ \d{{4}} wurden \*\*{N} Fälle\*\*",
    "Politisch motivierte Kriminalität (PMK)": rf"\d{{4}} wurden {N} Fälle? politisch motivierter Kriminalität erfasst",
    "Ordnungswidrigkeiten": rf"\*\*{N} Ordnungswidrigkeiten\*\* erfasst, {N} je 1\.000 Einwohner \(95-%-Zufallsintervall",
    "Vereine und Verbände": rf"gab es \*\*{N} Vereine\*\*, {N} je 1\.000 Einwohner",
    "Unterbringung": rf"Einrichtungen der Unterbringung mit zusammen \*\*{N} Plätzen\*\*",
    "Behörden und Organisationen mit Sicherheitsaufgaben (BOS)": rf"auf 10\.000 Einwohner \*\*{N} hauptamtliche",
    "Bildungsausgaben": rf"\*\*{N} EUR je Einwohner\*\*",
    "Präventionsaktivitäten": rf"Erfasst sind {N} Aktivitäten",
}


def test_summary_follows_the_intro_with_five_to_eight_numbered_findings(reports):
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    kinds = [(c["cell_type"], "".join(c["source"]).splitlines()[0] if c["source"] else "") for c in cells]
    assert kinds[2][0] == "markdown" and kinds[2][1].startswith("Das Gebietsprofil ist")
    assert kinds[3] == ("markdown", "## Das Wichtigste in Kürze")
    from kit.profile.findings import summary_findings

    for commune, rep in reports.items():
        heading, text = rep["sections"][1]
        assert heading == "Das Wichtigste in Kürze", commune
        n = len(summary_findings(rep["result"]))
        assert 5 <= n <= 8, (commune, n)
        numbers = re.findall(r"(?:^|\s)(\d)\. ", text)
        assert [int(i) for i in numbers] == list(range(1, n + 1)), (commune, text)


def test_summary_states_numbers_comparisons_and_uncertainty(reports):
    from kit.profile.findings import summary_findings
    from kit.profile.view import finding_text
    from kit.report import fmt_num

    for commune, rep in reports.items():
        result = rep["result"]
        found = summary_findings(result)
        text = rep["sections"][1][1]
        assert "Sachsen" in text, commune  # the Saxony comparison is among the findings
        first = list(found["finding"]).index("hz_benchmark")  # says once which year the comparison is of
        for i, row in found.iterrows():
            sentence = finding_text(row, result, rep["inputs"].district_names, say_last_year=i == first)
            assert sentence and sentence in text, (commune, sentence)
            if row["finding"] in ("hz_level", "few_cases"):
                assert "95-%-Zufallsintervall" in sentence
            if row["finding"] == "hz_benchmark":  # the range with the year-to-year swings
                assert "95-%-Bereich" in sentence
            if row["finding"] in ("hz_benchmark", "hz_level", "few_cases"):
                decimals = 1 if row["value"] < 100 else 0
                assert fmt_num(row["value"], decimals) in sentence
            if row["finding"] == "trend":
                assert "Hinweis zum Hinschauen, kein Beweis" in sentence
                assert f"{math.ceil(row['lower'] - 1e-9)} bis" in sentence.replace(".", "")


def test_every_section_has_a_generated_sentence(reports):
    for commune, rep in reports.items():
        sections = dict(rep["sections"])
        for heading, pattern in SECTION_SENTENCES.items():
            assert heading in sections, (commune, heading)
            if heading == "Politisch motivierte Kriminalität (PMK)" and commune == "muldenau":
                assert "keine Daten geliefert" in sections[heading]  # Muldenau has no PMK
                continue
            assert re.search(pattern, rep["sentences"].get(heading, "")), (commune, heading, pattern)


def test_trend_wording_is_auffaellig_with_caveat_never_signifikant(reports):
    for commune, rep in reports.items():
        everything = " ".join(t for _, t in rep["sections"]) + " " + rep["key_labels"]
        assert "signifikant" not in everything.lower(), commune
        trends = dict(rep["sections"])["Auffällige Entwicklungen"]
        # the rule and its false-alarm rate, from RULE and CALIBRATION
        assert f"aus bis zu {RULE['max_years']} Vorjahren (mindestens {RULE['min_years']})" in trends
        assert f"{CALIBRATION['false_alarm_rate'] * 100:.1f} %".replace(".", ",") + " auffällig" in trends
        assert "ein Hinweis zum Hinschauen, kein Beweis" in trends
        pks = dict(rep["sections"])["Polizeiliche Kriminalstatistik (PKS)"]
        assert "jede 20. Reihe" in pks


def test_key_indicator_labels_of_flags_say_auffaellig_with_caveat():
    result, _ = small_result()
    from kit.profile.stage import key_indicators

    result.pks.loc[(result.pks["indicator"] == "pks_trend") & (result.pks["subject"] == "100000"),
                   "subject"] = "000000"  # a shown key with a flag row
    rows = key_indicators(result)
    rise = rows[rows["indicator"].str.startswith("profile.pks_rise_")]
    assert len(rise)
    assert all(lab.startswith("Auffälliger Anstieg") and "Hinweis, kein Beweis" in lab for lab in rise["label"])


PARAMETER_WORDS = re.compile(r"profile\.|\.ya?ml\b|pks_reference|years_for_mean|\.csv\b|\.geojson\b|params|"
                             r"kit\.|\b[a-z]+_[a-z_]+\b|python -m", re.IGNORECASE)
APPENDIX = ("Herkunft der Angaben", "Datengrundlage und Prüfungen", "Technische Hinweise")


def test_no_parameter_or_file_names_in_the_report(reports):
    """No settings keys, file or module names anywhere; the appendix "Technische Hinweise" may
    name a command, the provenance table names the input files (that is its purpose)."""
    for commune, rep in reports.items():
        headings = [h for h, _ in rep["sections"]]
        assert headings[-3:] == list(APPENDIX), headings
        for heading, text in rep["sections"]:
            if heading in ("Herkunft der Angaben", "Datengrundlage und Prüfungen"):
                continue  # these two name the input files: that is their purpose
            found = [w for w in PARAMETER_WORDS.findall(text)
                     if not (heading == "Technische Hinweise" and w.lower() == "python -m")]
            assert not found, (commune, heading, found)
        notes = dict(rep["sections"])["Technische Hinweise"]
        if not rep["result"].reference:  # the technical hint moved here, in words
            assert "Eigene Vergleichswerte" in notes and "python -m kit pks-referenz" in notes


def test_report_text_is_clean(reports):
    for commune, rep in reports.items():
        text = " ".join(t for _, t in rep["sections"])
        for pattern in (r"\bNaN\b", r"\bnan\b", r"<NA>", r"\bNone\b", r"\bsubject_label\b", r"\bdistrict_id\b",
                        r"\d\.\d{3},\d+\.", r"\b\d+\.\d+ %"):
            assert not re.search(pattern, text), (commune, pattern, re.search(pattern, text))
        # no doubled blank inside a sentence, and a negative change carries the minus sign (−), not a hyphen
        for generated in rep["fragments"]:
            for pattern in (r"\S {2,}\S", r"(?:^|[\s(])-\d"):
                bad = re.search(pattern, generated)
                assert not bad, (commune, pattern, generated[max(0, bad.start() - 80):bad.end() + 40])


def test_demo_flags_are_plausible_against_their_series(reports):
    """No rise on a series whose latest year is below the level of its previous years and
    below the year before; no fall on one above both."""
    for commune, rep in reports.items():
        result = rep["result"]
        for table, base in ((result.pks, "pks_cases"), (result.owi, "owi_per_1000")):
            if table is None:
                continue
            for _, t in table[table["indicator"].str.endswith("_trend")].iterrows():
                s = table[(table["indicator"] == base) & (table["subject"] == t["subject"])
                          & (table["district_id"] == "")].sort_values("year")["count"].to_numpy()
                if t["flag"] == "rise":
                    assert s[-1] > t["expected"] and not (s[-1] < s[-2] and s[-1] < np.mean(s[-6:-1])), t
                if t["flag"] == "fall":
                    assert s[-1] < t["expected"] and not (s[-1] > s[-2] and s[-1] > np.mean(s[-6:-1])), t


def test_a_missing_trend_is_said_once_not_in_every_row():
    from kit.profile.view import NO_TREND_SHORT, shorten_missing_trends

    long = ("Keine Trendaussage: Dafür werden Werte aus mindestens 3 der 5 Vorjahre 2017–2021 benötigt "
            "(vorhanden: 2020).")
    control = long + " Kontrolldelikt: Die Zahl hängt vor allem davon ab, wie viel kontrolliert wird."
    assert shorten_missing_trends([long, control]) == [
        NO_TREND_SHORT, NO_TREND_SHORT + " Kontrolldelikt: Die Zahl hängt vor allem davon ab, wie viel kontrolliert wird."]
    mixed = [long, "Auffälliger Anstieg: 2024 120 Fälle."]  # one series can be judged: keep every reason
    assert shorten_missing_trends(mixed) == mixed
