"""Differencing attack on every published survey table of the three demo communes
(and on a planted rare group): no suppressed count may be recoverable from the
published cells, bases, collapsed categories and key indicators of the same
item and group, from Gesamt minus the other groups of a breakdown (cells and
bases; neither a hidden group cell nor a small count of the respondents without
a group value), from the margins of response rates and sample counts, from a district's
mentions minus those of its places, or from all free-text answers minus the
published topics.

Published survey tables without relations between counts (nothing to subtract):
- survey_scales: per battery alpha, n_complete, index_n and a mean index; no
  battery is a sum of others (``n_complete``/``index_n`` are bases of different
  batteries, shown only from ``min_base`` on);
- survey_crime_fear, _commune, _units: correlations and shares of feeling unsafe
  per district with register crime counts and residents (not respondents), no
  respondent counts;
- survey_drivers: odds ratios of one model, no counts (small categories are
  pooled or dropped by kit.survey.drivers before the model);
- survey_disorder_groups, survey_dark_figure: shares and means with their
  intervals; the bases (prevalence_n, reporting_n) are of different items;
- waves (kit.survey.waves): comparisons of two published survey_estimates tables,
  each protected as above; the demo writes none.
Relations across these tables (e.g. a share in survey_crime_fear_units against
the district rows of survey_estimates) are not attacked (see kit.disclosure).

Stage 1 and 2 are computed in-process (~25 s for the three communes); the
attacker in ``disclosure_attack.py`` is independent of kit.disclosure and gets
the true values of the published cells from the unsuppressed estimates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.optimize import linprog

from disclosure_attack import attack, attack_sums, small_published_counts
from kit.disclosure import DisclosurePolicy
from kit.demo import DEMO_COMMUNES, generate_demo
from kit.io import read_table
from kit.params import REPO_ROOT, load_params
from kit.profile.inputs import load_profile_inputs
from kit.profile.stage import compute_profile, write_profile
from kit.results import ResultStore
from kit.disclosure import free_text_summary
from kit.survey.places import survey_places
from kit.survey.stage import collapse_negative, compute_survey, estimate_all, key_indicator_rows, write_survey


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("attack")
    generate_demo(root / "data")
    out = {}
    for commune in DEMO_COMMUNES:
        raw = yaml.safe_load((REPO_ROOT / "params" / f"{commune}.yaml").read_text(encoding="utf-8"))
        raw["data_dir"] = str(root / "data" / commune)
        path = root / f"{commune}.yaml"
        path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
        params = load_params(path)
        store = ResultStore(root / "output", commune)
        inputs = load_profile_inputs(params)
        write_profile(compute_profile(inputs), store, inputs)
        result = compute_survey(params, store)
        write_survey(result.public, store)
        out[commune] = (params, store, result)
    return out


def _published_with_keys(store: ResultStore, result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The written estimates plus the written key indicators (as rows of their block),
    aligned with the unsuppressed rows."""
    written = store.read_table("survey_estimates", dtype={"category": str, "group_var": str, "group": str})
    truth = result.estimates
    est = truth[truth["kind"] != "key"].reset_index(drop=True)
    assert len(written) == len(est)
    assert (written["item"].astype(str).to_numpy() == est["item"].astype(str).to_numpy()).all()
    keys = truth[truth["kind"] == "key"].reset_index(drop=True)
    table = store.read_table("key_indicators_survey").set_index("indicator")
    pub_keys = keys.copy()
    shown = [pd.notna(table.loc[f"survey.{k}", "value"]) for k in keys["category_label"]]
    pub_keys["estimate"] = np.where(shown, keys["estimate"], np.nan)
    pub_keys["n_cell"] = pd.array([pd.NA] * len(keys), dtype="Int64")
    # the base of a key row's block is published with the estimates of that block
    pub_keys["n_unweighted"] = pd.array([pd.NA] * len(keys), dtype="Int64")
    published = pd.concat([written, pub_keys], ignore_index=True)
    truth_all = pd.concat([est, keys], ignore_index=True)
    # same base for all rows of a block: use the published base of the estimates where there is one
    base = published.groupby([truth_all["item"], truth_all["group_var"].fillna(""), truth_all["group"],
                              truth_all["n_unweighted"]])["n_unweighted"].transform("max")
    published["n_unweighted"] = base
    for col in ("category", "group_var", "group"):
        published[col] = published[col].fillna("")
    return published, truth_all


@pytest.mark.parametrize("commune", DEMO_COMMUNES)
def test_no_suppressed_survey_cell_is_recoverable(demo, commune):
    params, store, result = demo[commune]
    published, truth = _published_with_keys(store, result)
    policy = result.policy
    assert published["suppressed"].fillna(False).astype(bool).any()
    found = attack(published, truth, policy.min_cell)
    assert found == [], f"{len(found)} recoverable, e.g. {found[:5]}"
    assert small_published_counts(published, truth, policy.min_cell, policy.min_base) == []


def _margin_recoverable(df: pd.DataFrame, col: str, truth: pd.Series, total_margin: str | None,
                        total: float) -> list:
    """Hidden counts of a margin table (each margin adds up to ``total``, which is published)."""
    found = []
    for margin, part in df.groupby("margin", sort=False):
        if margin == total_margin:
            continue
        idx = list(part.index)
        vals = truth.loc[idx].astype(float).to_numpy()
        known = part[col].notna().to_numpy()
        for v in np.flatnonzero(~known):
            bounds = [(x, x) if k else (0, None) for x, k in zip(vals, known)]
            rng = []
            for sign in (1, -1):
                c = np.zeros(len(idx))
                c[v] = sign
                res = linprog(c, A_eq=np.ones((1, len(idx))), b_eq=[total], bounds=bounds, method="highs")
                assert res.status == 0
                rng.append(sign * res.fun)
            if rng[1] - rng[0] < 0.5:
                found.append((margin, part.loc[idx[v], "category"], vals[v]))
    return found


@pytest.mark.parametrize("commune", DEMO_COMMUNES)
def test_margins_of_returns_and_sample_counts_do_not_give_hidden_counts_away(demo, commune):
    params, store, result = demo[commune]
    min_cell = result.policy.min_cell
    svp = store.read_table("survey_sample_vs_population", dtype={"category": str})
    n = store.read_json("survey_meta")["respondents"]
    rr = store.read_table("survey_response_rates", dtype={"category": str})
    sample = read_table(params["survey"]["sample"])
    sample["returned"] = sample["returned"].astype(float)
    true_rr = []
    for _, row in rr.iterrows():
        if row["margin"] == "gesamt":
            true_rr.append(sample["returned"].sum())
        else:
            col = {"district": "district_id"}.get(row["margin"], row["margin"])
            true_rr.append(sample.loc[sample[col].astype(str) == row["category"], "returned"].sum())
    true_rr = pd.Series(true_rr, index=rr.index)
    assert _margin_recoverable(rr, "returned", true_rr, "gesamt", float(true_rr.iloc[0])) == []
    shown = rr["returned"].dropna()
    assert (shown >= min_cell).all()
    assert (svp["sample_n"].dropna() >= min_cell).all()
    # sample counts: the hidden ones must not follow from the published ones and the respondents
    for margin, part in svp.groupby("margin"):
        hidden = part["sample_n"].isna()
        assert hidden.sum() != 1, f"{margin}: one hidden count = {n} minus the published ones"


def test_planted_rare_group_is_protected(demo):
    """Keep only 3 respondents in one district: its block is hidden and cannot be recovered."""
    params, store, result = demo["muldenau"]
    data, weights, cb = result.clean.data, result.weights, result.codebook
    district_col = result.public.breakdowns["district"]
    target = sorted(data[district_col].dropna().unique())[-1]
    rows = data.index[data[district_col] == target]
    data = data.drop(rows[3:])
    w = weights.reindex(data.index)
    tidy = estimate_all(data, w, cb, 0.95, result.public.breakdowns)
    tidy = pd.concat([tidy, collapse_negative(tidy, cb),
                      key_indicator_rows(data, w, [dict(s, group={"district_id": str(result.clean.data.loc[rows[0], "district_id"])})
                                                  for s in params["survey"]["key_indicators"] if "item" in s],
                                         0.95, cb, result.districts, result.public.breakdowns)], ignore_index=True)
    public = result.policy.survey_estimates(tidy)
    label = cb.items[district_col].values[target] if cb.items[district_col].values else str(target)
    rare = public[(public["group_var"] == district_col) & (public["group"] == str(label))]
    assert len(rare) and rare["suppressed"].all() and rare["n_cell"].isna().all()
    assert rare["n_unweighted"].isna().all()  # 3 < min_cell: not even the base
    assert attack(public, tidy, result.policy.min_cell) == []
    assert small_published_counts(public, tidy, result.policy.min_cell, result.policy.min_base) == []


@pytest.mark.parametrize("commune", DEMO_COMMUNES)
def test_place_mentions_and_free_text_topics_do_not_give_hidden_counts_away(demo, commune):
    """Relations: a district's mentions >= the mentions of its places (= when nobody names
    the district without a place); all answers = matched + ambiguous + low score +
    unmatched; all free-text answers = topics + "ohne Zuordnung" when no answer has two
    topics. The true counts come from the same counting without suppression."""
    params, store, result = demo[commune]
    everything = DisclosurePolicy(min_cell=0, min_base=0)
    checked = 0
    if store.exists("survey_places_mentions"):
        pub = store.read_table("survey_places_mentions", dtype={"key": str, "district_id": str})
        if len(pub):
            true = survey_places(result.clean.data, params, result.districts, everything)[0].table()
            true["key"], true["district_id"] = true["key"].astype(str), true["district_id"].astype(str)
            pub = pub.assign(district_id=pub["district_id"].fillna("").astype(str))
            assert pub[["level", "key"]].values.tolist() == true[["level", "key"]].values.tolist()
            values = true["mentions"].astype(float).tolist()
            shown = pub["mentions"].notna().tolist()
            names = list(zip(pub["level"], pub["key"]))
            rel = []
            for i in np.flatnonzero((pub["level"] == "district").to_numpy()):
                parts = np.flatnonzero(((pub["level"] == "place") & (pub["district_id"] == pub["key"].iloc[i])).to_numpy())
                if len(parts):
                    rel.append((int(i), parts.tolist()))
            ans = {k: int(i) for i, k in enumerate(pub["key"]) if pub["level"].iloc[i] == "answers"}
            if "total" in ans:
                rel.append((ans["total"], [i for k, i in ans.items() if k != "total"]))
            assert attack_sums(values, shown, rel, names) == []
            shown_counts = pub.loc[pub["mentions"].notna(), "mentions"].astype(float)
            assert (shown_counts >= result.policy.min_cell).all()
            checked += 1
    free = store.read_table("survey_free_text_topics") if result.public.free_text is not None else None
    if free is not None:
        survey = params["survey"]
        true = free_text_summary(result.clean.data[survey["free_text_item"]], dict(survey.get("free_text_topics") or {}),
                                 policy=everything)
        assert free["topic"].tolist() == true["topic"].tolist()
        values = true["mentions"].astype(float).tolist()
        shown = (free["mentions"].notna() | free["share"].notna()).tolist()
        total = free["topic"].tolist().index("Antworten insgesamt")
        rel = [(total, [i for i in range(len(values)) if i != total])]
        assert attack_sums(values, shown, rel, free["topic"].tolist()) == []
        checked += 1
    assert checked, "no table of mentions to attack"
