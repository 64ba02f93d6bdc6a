"""Gazetteer matching of the free-text places of discomfort (issue 9, item 8).

Normalisation, matching of constructed answers (typos, abbreviations, umlaut
variants, two places, a near miss, an ambiguous name), a hypothesis property
(spelling variants do not change the match), precision/recall against the demo
generator's truth (which place each text names), counts equal to the demo's
places.csv, and disclosure control of the counts.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit import demo
from kit.disclosure import DisclosurePolicy
from kit.gazetteer import (AMBIGUOUS, LOW_SCORE, MATCHED, UNMATCHED, build_gazetteer, count_mentions,
                           match_answers, normalize, read_gazetteer_file)
from kit.errors import InputError
from kit.survey.places import place_counts, review_list

DISTRICTS = {"11": "Altstadt", "12": "Äußere Neustadt", "42": "Weinberge", "51": "Weststadt"}
PLACES = pd.DataFrame(
    [("O1", "Marktplatz", "11"), ("O2", "Unterführung Goethestraße", "12"), ("O3", "Kirchplatz Weststadt", "51"),
     ("O4", "Kirchplatz Weinberge", "42"), ("O5", "Haltestelle Am Anger", "12"), ("O6", "Unterführung Am Anger", "12"),
     ("O7", "Parkhaus Mühlgasse", "11"), ("O8", "Platz der Einheit", "51")],
    columns=["place_id", "name", "district_id"])


@pytest.fixture(scope="module")
def gaz():
    return build_gazetteer(DISTRICTS, PLACES)


def _matched(result, gaz):
    """answer position -> set of place ids / district ids (kind-prefixed) of accepted matches"""
    ok = result.matches[result.matches["status"] == MATCHED]
    out = {}
    for a, kind, pid, did in zip(ok["answer"], ok["kind"], ok["place_id"], ok["district_id"]):
        out.setdefault(int(a), set()).add(pid if kind == "place" else f"D{did}")
    return out


def _status(result, pos):
    return result.answers.set_index("answer").loc[pos, "status"]


# ---------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("variants", [
    ("Goethestraße", "Goethestr.", "Goethe Str.", "Goethe-Straße", "GOETHESTRASSE", "goethestrasse"),
    ("Mühlgasse", "Muehlgasse", "Muhlgasse", "MÜHLGASSE", "Mühl-Gasse"),
    ("Äußere Neustadt", "Aeussere Neustadt", "äussere  neustadt", "Äußere-Neustadt", "Äußere Neustadt!"),
    ("Bahnhof Altstadt", "Bhf. Altstadt", "bhf altstadt"),
])
def test_normalize_folds_spelling_variants(variants):
    forms = {normalize(v) for v in variants}
    assert len(forms) == 1, forms


def test_normalize_keeps_prepositions_apart_and_words_distinct():
    assert normalize("abends am Platz der Einheit") == "abends am platz der einheit"
    assert normalize("an der Straße") == "an der strasse"
    assert normalize("Marktplatz") != normalize("Marktstraße")
    assert normalize(None) == "" and normalize(float("nan")) == ""


# ---------------------------------------------------------------------------
# matching constructed answers
# ---------------------------------------------------------------------------

ANSWERS = [
    "Markplatz abends",                           # 0 typo
    "Unterführung Goethestr., schlecht beleuchtet",  # 1 abbreviation
    "parkhaus muehlgasse",                        # 2 umlaut variant, lower case
    "Marktplatz und Parkhaus Mühlgasse",          # 3 two places
    "in der Weststadt nachts",                    # 4 a district only
    "Kirchplatz Weststadt",                       # 5 place (its district is implied, not a second match)
    "am Kirchplatz",                              # 6 near miss: which Kirchplatz? -> review
    "überall, wo es dunkel ist",                  # 7 nothing
    "",                                           # 8 no answer
    "Haltestelle Am Anger",                       # 9 not confused with Unterführung Am Anger
    "Aeussere Neustadt und Platz der Einheit",    # 10 district + place in another district
]


@pytest.fixture(scope="module")
def matched(gaz):
    return match_answers(ANSWERS, gaz)


def test_constructed_answers_match_the_right_places(matched, gaz):
    got = _matched(matched, gaz)
    assert got[0] == {"O1"}
    assert got[1] == {"O2"}
    assert got[2] == {"O7"}
    assert got[3] == {"O1", "O7"}
    assert got[4] == {"D51"}
    assert got[5] == {"O3"}
    assert got[9] == {"O5"}
    assert got[10] == {"D12", "O8"}
    assert 6 not in got and 7 not in got


def test_near_miss_goes_to_review_and_empty_answers_are_skipped(matched):
    assert _status(matched, 6) == LOW_SCORE
    assert _status(matched, 7) == UNMATCHED
    assert 8 not in set(matched.answers["answer"])  # an empty answer is no answer
    assert (matched.answers.set_index("answer").drop(index=[6, 7])["status"] == MATCHED).all()
    near = matched.matches[matched.matches["answer"] == 6]
    assert len(near) == 1 and 65 <= near["score"].iloc[0] < 88


def test_same_name_in_two_districts_is_ambiguous():
    extra = pd.DataFrame({"name": ["Stadtpark", "Stadtpark"], "kind": ["place", "place"],
                          "district_id": ["11", "51"], "aliases": ["", ""]})
    gaz = build_gazetteer(DISTRICTS, PLACES, extra)
    res = match_answers(["im Stadtpark", "Marktplatz"], gaz)
    assert _status(res, 0) == AMBIGUOUS and _status(res, 1) == MATCHED
    places, _, counts = count_mentions(res, gaz)
    assert places.loc[places["name"] == "Stadtpark", "mentions"].sum() == 0  # not counted before review
    assert counts[AMBIGUOUS] == 1 and counts[MATCHED] == 1 and counts["answers"] == 2


def test_extra_aliases_from_the_gazetteer_file(tmp_path):
    path = tmp_path / "gazetteer.csv"
    path.write_text("name;kind;district_id;aliases\nMarktplatz;place;11;Markt|Altmarkt\n"
                    "Schwanenteich;place;42;Teich am Weinberg\nAltstadt;district;11;Zentrum|City\n", encoding="utf-8")
    extra = read_gazetteer_file(path, DISTRICTS)
    gaz = build_gazetteer(DISTRICTS, PLACES, extra)
    res = match_answers(["am Altmarkt", "Teich am Weinberg", "im Zentrum", "Schwanenteich"], gaz)
    got = _matched(res, gaz)
    assert got[0] == {"O1"} and got[2] == {"D11"}
    new = gaz.entries.loc[gaz.entries["name"] == "Schwanenteich", "place_id"].item()
    assert got[1] == {new} and got[3] == {new}


def test_gazetteer_file_errors_name_row_column_and_value(tmp_path):
    path = tmp_path / "gazetteer.csv"
    path.write_text("name;kind;district_id;aliases\nTeich;see;99;\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_gazetteer_file(path, DISTRICTS)
    msg = str(err.value)
    assert "Zeile 2" in msg and "'kind'" in msg and "'see'" in msg and "'district_id'" in msg and "'99'" in msg


def test_a_typo_that_reorders_the_sorted_words_still_matches_the_longer_place():
    """token_sort_ratio sorts the words: 'Banhofsviertel' (typo) moves behind 'Bahnlinie' and the
    score drops to about 76; the plain ratio of the words as written keeps the place."""
    gaz = build_gazetteer({"13": "Bahnhofsviertel"},
                          pd.DataFrame({"place_id": ["P1"], "name": ["Fußweg an der Bahnlinie Bahnhofsviertel"],
                                        "district_id": ["13"]}))
    res = match_answers(["Fußweg an der Bahnlinie Banhofsviertel, vor allem abends"], gaz)
    assert _matched(res, gaz) == {0: {"P1"}}


def test_threshold_decides(gaz):
    strict = match_answers(["Markplatz abends"], gaz, threshold=99, review_min=60)
    assert _status(strict, 0) == LOW_SCORE
    with pytest.raises(ValueError):
        match_answers(["x"], gaz, threshold=60, review_min=70)


def test_counts_are_respondents_and_districts_count_each_answer_once(matched, gaz):
    places, districts, counts = count_mentions(matched, gaz)
    p = places.set_index("place_id")["mentions"]
    assert p["O1"] == 2 and p["O7"] == 2 and p["O3"] == 1 and p["O4"] == 0
    d = districts.set_index("district_id")["mentions"]
    # Altstadt: answers 0, 2, 3 (answer 3 names two Altstadt places: once)
    assert d["11"] == 3
    assert d["51"] == 3  # answers 4 (district), 5 (Kirchplatz Weststadt), 10 (Platz der Einheit)
    assert d["12"] == 3  # answers 1, 9, 10
    assert counts == {MATCHED: 8, AMBIGUOUS: 0, LOW_SCORE: 1, UNMATCHED: 1, "answers": 10}


def test_review_list_holds_the_doubtful_answers_only(matched, gaz):
    review = review_list(pd.Series(ANSWERS), matched, gaz)
    assert review["Antwort"].tolist() == ["am Kirchplatz", "überall, wo es dunkel ist"]
    assert review["Status"].tolist() == ["unsicher (geringe Ähnlichkeit)", "ohne Zuordnung"]


# ---------------------------------------------------------------------------
# property: spelling variants do not change the match
# ---------------------------------------------------------------------------

def _variant(text: str, choices: list[int]) -> str:
    out = []
    for ch, c in zip(text, choices + [0] * len(text)):
        if ch == "ß" and c % 2:
            out.append("ss")
        elif ch in "äöüÄÖÜ" and c % 3 == 1:
            out.append({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}[ch])
        elif ch == " " and c % 4 == 1:
            out.append("   ")
        elif c % 5 == 1:
            out.append(ch.swapcase())
        else:
            out.append(ch)
    return "".join(out)


@settings(max_examples=60, deadline=None)
@given(idx=st.lists(st.integers(0, len(PLACES) - 1), min_size=1, max_size=2, unique=True),
       choices=st.lists(st.integers(0, 59), min_size=80, max_size=80),
       filler=st.sampled_from(["", "abends ", "nachts am ", "vor allem "]))
def test_matching_is_invariant_to_case_whitespace_and_umlaut_spelling(idx, choices, filler):
    gaz = build_gazetteer(DISTRICTS, PLACES)
    text = filler + " und ".join(PLACES["name"].iloc[i] for i in idx)
    a = match_answers([text], gaz)
    b = match_answers([_variant(text, choices)], gaz)
    assert _matched(a, gaz) == _matched(b, gaz)
    assert set(_matched(a, gaz)[0]) == {PLACES["place_id"].iloc[i] for i in idx}


# ---------------------------------------------------------------------------
# demo generator truth: precision and recall
# ---------------------------------------------------------------------------

def _demo_texts(commune: str, n: int = 900, noisy: bool = False):
    spec = demo.SPECS[commune]
    rng = np.random.default_rng(7)
    _, _, polys = demo._district_polygons(spec, rng)
    places, survey_places = demo._places(spec, polys, rng)
    ids = [d.id for d in spec.districts]
    resp = pd.DataFrame({"Q11": np.ones(n, dtype=int), "Q52": rng.choice([int(i) for i in ids], size=n)})
    truth: list = []
    texts, mentions = demo._free_texts(resp, places, survey_places, rng, truth)
    assert len(truth) == len(texts) and sum(len(t) for t in truth) == mentions.sum()
    if noisy:  # typing errors and spelling variants the analyst meets in real answers
        r = random.Random(3)
        out = []
        for t in texts:
            t = t.replace("Straße", r.choice(["Str.", "Strasse", "straße", "Straße"]))
            t = t.replace("ä", r.choice(["ä", "ae"])).replace("ü", r.choice(["ü", "ue"]))
            words = t.split(" ")
            long = [i for i, w in enumerate(words) if len(w) >= 7]
            if long and r.random() < 0.5:  # drop one letter in one long word
                i = r.choice(long)
                k = r.randrange(1, len(words[i]) - 1)
                words[i] = words[i][:k] + words[i][k + 1:]
            out.append(" ".join(words) if r.random() < 0.8 else " ".join(words).lower())
        texts = out
    districts = {d.id: d.name for d in spec.districts}
    place_ids = places["place_id"].tolist()
    truth_ids = [{place_ids[i] for i in t} for t in truth]
    return texts, truth_ids, build_gazetteer(districts, places[["place_id", "name", "district_id"]])


def _precision_recall(texts, truth, gaz, **kw):
    res = match_answers(texts, gaz, **kw)
    got = _matched(res, gaz)
    found = {(a, p) for a, ps in got.items() for p in ps if not p.startswith("D")}
    true = {(a, p) for a, ps in enumerate(truth) for p in ps}
    tp = len(found & true)
    return tp / max(len(found), 1), tp / max(len(true), 1)


@pytest.mark.parametrize("commune", sorted(demo.SPECS))
def test_precision_and_recall_on_the_demo_texts(commune):
    texts, truth, gaz = _demo_texts(commune)
    precision, recall = _precision_recall(texts, truth, gaz)
    assert precision == 1.0 and recall == 1.0, (precision, recall)
    texts, truth, gaz = _demo_texts(commune, noisy=True)
    precision, recall = _precision_recall(texts, truth, gaz)
    assert precision >= 0.98 and recall >= 0.93, (precision, recall)


@pytest.mark.parametrize("commune", ["elbstadt"])  # muldenau's export has injected duplicates
def test_counts_equal_the_demo_places_file(commune, tmp_path):
    """The demo's own response file: the matched count of every place equals the
    generator's mentions column in places.csv."""
    from kit.io import read_geometry
    from kit.survey.places import gazetteer_from_params, read_places

    from kit.survey import load_codebook, read_responses

    demo.generate_demo(tmp_path, communes=[commune])
    params = _params_in(tmp_path, commune)
    g = read_geometry(params["inputs"]["districts"]["path"])
    districts = dict(zip(g["district_id"].astype(str), g["district_name"]))
    places = read_places(params)
    survey = params["survey"]
    # imported, not cleaned: the generator counts every questionnaire it writes
    data = read_responses(survey["responses"], load_codebook(survey["codebook"], districts),
                          survey.get("column_map") or {})
    gaz = gazetteer_from_params(params, districts, places)
    res = match_answers(data[survey["free_text_item"]].tolist(), gaz)
    counted, _, _ = count_mentions(res, gaz)
    truth = places[places["source"] == "Befragung"].set_index("place_id")["mentions"].astype(int)
    got = counted.set_index("place_id")["mentions"]
    # the demo blanks a few questionnaires after the texts were drawn (planted response-quality
    # cases: empty, incomplete); every other answer must be counted for its place
    diff = (got.loc[truth.index] - truth).abs()
    assert diff.max() <= 1 and diff.sum() <= 0.01 * truth.sum(), pd.concat([got.loc[truth.index], truth], axis=1)
    assert (got.drop(truth.index) == 0).all()  # places not from the survey are never named in it


def _params_in(data_root, commune):
    import yaml

    from kit.params import PARAMS_DIR, load_params

    data = yaml.safe_load((PARAMS_DIR / f"{commune}.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(data_root / commune)
    path = data_root / f"{commune}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_params(path)


# ---------------------------------------------------------------------------
# disclosure control of the counts
# ---------------------------------------------------------------------------

def test_policy_hides_small_mentions_and_what_gives_them_back():
    policy = DisclosurePolicy(min_cell=5, min_base=30)
    places = pd.DataFrame({"place_id": ["a", "b", "c"], "district_id": ["1", "1", "2"], "mentions": [3, 9, 20]})
    districts = pd.DataFrame({"district_id": ["1", "2"], "mentions": [12, 26]})
    p, d = policy.place_mentions(places, districts)
    hidden = dict(zip(p["place_id"], p["suppressed"]))
    assert hidden["a"] and pd.isna(p.loc[0, "mentions"])
    # district 1 = a + b exactly (no answer names its district alone): b or the district must go too
    assert hidden["b"] or bool(d.loc[0, "suppressed"])
    shown = pd.concat([p, d])
    assert (shown.loc[~shown["suppressed"], "mentions"] >= 5).all()
    assert not hidden["c"] and int(p.loc[2, "mentions"]) == 20 and not d.loc[1, "suppressed"]
    # a zero is small too (as every survey cell); on a tie the district goes, the place stays
    p0, d0 = policy.place_mentions(places.assign(mentions=[0, 9, 20]), districts.assign(mentions=[9, 26]))
    assert p0.loc[0, "suppressed"] and not p0.loc[1, "suppressed"] and d0.loc[0, "suppressed"]


def test_place_counts_publish_no_small_number(gaz):
    answers = (["Marktplatz, nachts"] * 7 + ["Parkhaus Mühlgasse bei Nacht"] * 2 + ["Kirchplatz Weststadt!"] * 6
               + ["irgendwo im Dunkeln"] * 3)
    public, _ = place_counts(pd.Series(answers), gaz, PLACES, DisclosurePolicy(min_cell=5, min_base=10))
    table = public.table()
    shown = table[~table["suppressed"]]
    assert (shown["mentions"] >= 5).all(), shown
    assert table.loc[table["key"] == "O7", "suppressed"].item()  # 2 mentions
    # Altstadt (9) = Marktplatz (7) + Parkhaus Mühlgasse (2): one of the two others must go
    assert table.loc[table["key"] == "O1", "suppressed"].item() or \
        table.loc[(table["level"] == "district") & (table["key"] == "11"), "suppressed"].item()
    # Weststadt (6) = Kirchplatz Weststadt (6) + Platz der Einheit (0, hidden): the district goes
    assert table.loc[table["key"] == "O3", "mentions"].item() == 6
    assert table.loc[(table["level"] == "district") & (table["key"] == "51"), "suppressed"].item()
    # 3 unmatched answers are hidden, and so is what would give them back (total - matched)
    a = public.answers.set_index("status")
    assert a.loc["unmatched", "suppressed"] and a["suppressed"].sum() >= 2  # total - matched = the 3 others
    cells = " ".join(str(v) for v in table.to_numpy().ravel())
    assert not any(a in cells for a in answers)  # the answers themselves are never in the result


# ---------------------------------------------------------------------------
# the review list stays private
# ---------------------------------------------------------------------------

def _stub_result(tmp_path, review_dir):
    from types import SimpleNamespace

    params = {"commune_id": "testort", "params_file": "testort.yaml", "data_dir": str(tmp_path / "data"),
              "inputs": {"places": None},
              "survey": {"free_text_item": "Q12", "place_matching": {"review_dir": review_dir}}}
    data = pd.DataFrame({"Q12": ANSWERS})
    return SimpleNamespace(params=params, clean=SimpleNamespace(data=data), districts=DISTRICTS,
                           policy=DisclosurePolicy())


def test_review_list_is_written_only_outside_the_output_folder(tmp_path):
    from kit.errors import ParamsError
    from kit.survey.places import save_review_list

    out = tmp_path / "output"
    with pytest.raises(ParamsError, match="außerhalb"):
        save_review_list(_stub_result(tmp_path, str(out / "private")), out)
    with pytest.raises(ParamsError, match="review_dir"):
        save_review_list(_stub_result(tmp_path, None), out)
    path = save_review_list(_stub_result(tmp_path, "pruefung"), out)
    assert path.parent == (tmp_path / "data" / "pruefung").resolve() and not out.exists()
    review = pd.read_csv(path, sep=";", encoding="utf-8-sig")
    # without the places table only districts are known: the place answers are doubtful or unmatched
    assert "überall, wo es dunkel ist" in set(review["Antwort"])
    assert "in der Weststadt nachts" not in set(review["Antwort"])  # matched to its district
