"""Recommendations workbench (kit.recommend.workbench, issue 10 item 9): the analyst's choices
written back to a commune's params file (round trip, validation, backup, diff), refused when
they cannot be right, and used by the next run of stage 3; the widget built headless and its
"Speichern" handler writing the file."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.indicators import KEY_INDICATOR_COLUMNS
from kit.params import REPO_ROOT, load_params
from kit.recommend import catalogue as cat
from kit.recommend import workbench as wb
from kit.recommend.rules import load_catalogue, recommend

PARAMS = REPO_ROOT / "params"
BACKUP = re.compile(r"^muldenau\.yaml\.bak-\d{8}-\d{6}(-\d+)?$")


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    return load_catalogue(PARAMS / "measures.yaml")


@pytest.fixture
def params_file(tmp_path) -> Path:
    path = tmp_path / "muldenau.yaml"
    shutil.copyfile(PARAMS / "muldenau.yaml", path)
    return path


def _threshold_measures(catalogue, n):
    """Catalogue measures whose first rule is a plain threshold on a non-demographic finding."""
    out = [m for m in catalogue if m.get("triggers") and (m["triggers"][0].get("kind") or "threshold") == "threshold"
           and m["triggers"][0]["indicator"] not in cat.DEMOGRAPHIC_INDICATORS]
    assert len(out) >= n
    return out[:n]


def _firing_indicators(measures) -> pd.DataFrame:
    """Key indicators that meet the first rule of each measure (value = bounds = threshold ± 1)."""
    rows = []
    for m in measures:
        t = m["triggers"][0]
        v = float(t["threshold"]) + (1 if t["op"] in (">", ">=") else -1)
        rows.append({"indicator": t["indicator"], "label": "Testbefund", "value": v, "lower": v, "upper": v,
                     "unit": "Anteil", "source": "Test"})
    return pd.DataFrame(rows, columns=KEY_INDICATOR_COLUMNS)


def _new_measure(mid="sicherheitsspaziergang", **over) -> dict:
    m = {"id": mid, "title": "Sicherheitsspaziergänge mit dem Ortschaftsrat",
         "description": "Einmal im Quartal gehen Ortschaftsrat, Ordnungsamt und Polizei die genannten Orte ab: "
                        "„Wo fühlen Sie sich unsicher?“ # kein Kommentar",
         "topic": "Sicherheitsgefühl", "target_groups": ["alle", "Senioren"], "lead": "Ordnungsamt",
         "partners": ["Polizeirevier", "Ortschaftsrat"],
         "evidence": {"level": "Good Practice (nicht evaluiert)", "source": "praktiziert in Muldenau seit 2024"},
         "funding": {"kommpraev": False, "reason": "laufende Verwaltungsaufgabe"}, "cost_class": "gering",
         "duration": "12 Monate", "first_steps": ["Termine festlegen", "Orte aus der Befragung auswählen"],
         "time_frame": "kurzfristig", "success_indicator": {"text": "Weniger Befragte fühlen sich nachts unsicher"},
         "general": {"always": True}}
    m.update(over)
    return m


def _backups(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if ".bak-" in p.name)


# ---------------------------------------------------------------------------
# round trip
# ---------------------------------------------------------------------------

def test_round_trip_switch_off_add_reword(params_file, catalogue):
    off, rew = _threshold_measures(catalogue, 2)
    old = params_file.read_bytes()
    choices = wb.Choices(switch_off={off["id"]: "Konzept seit 2023 beschlossen: läuft"},
                         reword={rew["id"]: {"title": "Neuer Titel für Muldenau"}},
                         add=[_new_measure()])
    saved = wb.save_choices(params_file, choices)

    new = params_file.read_text(encoding="utf-8")
    # the old file is kept byte for byte as the backup, named <file>.bak-<timestamp> next to it
    assert saved.backup.parent == params_file.parent and BACKUP.match(saved.backup.name)
    assert saved.backup.read_bytes() == old
    assert _backups(params_file.parent) == [saved.backup]
    # every line of the old file (comments included) is unchanged: the block is appended
    assert new.startswith(old.decode("utf-8"))
    # the file validates through the typed model and carries the overrides
    params = load_params(params_file)
    rec = params["recommendations"]
    assert rec["switch_off"] == [{"id": off["id"], "reason": "Konzept seit 2023 beschlossen: läuft"}]
    assert rec["reword"] == {rew["id"]: {"title": "Neuer Titel für Muldenau"}}
    assert [m["id"] for m in rec["add"]] == ["sicherheitsspaziergang"]
    assert rec["add"][0]["description"] == _new_measure()["description"]  # quotes, '#' and ':' survive
    assert rec["add"][0]["partners"] == ["Polizeirevier", "Ortschaftsrat"]
    # the diff names the file and shows every change as an added line, nothing removed
    added = [line for line in saved.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in saved.diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    assert "muldenau.yaml (bisher)" in saved.diff and "muldenau.yaml (neu)" in saved.diff
    assert removed == []
    for text in (off["id"], "Konzept seit 2023 beschlossen: läuft", rew["id"], "Neuer Titel für Muldenau",
                 "sicherheitsspaziergang"):
        assert any(text in line for line in added), text


def test_the_next_run_uses_the_choices(params_file, catalogue):
    off, rew, other = _threshold_measures(catalogue, 3)
    indicators = _firing_indicators([off, rew, other])

    def run():
        params = load_params(params_file)
        measures, switched, origin, reworded = cat.apply_overrides(
            load_catalogue(params["recommendations"]["catalogue"]), params["recommendations"], "Test")
        return recommend(measures, indicators, switched_off=switched, origin=origin,
                         reworded=reworded).measures.set_index("measure_id")

    before = run()
    assert before.loc[off["id"], "recommended"] and not before.loc[off["id"], "switched_off"]
    wb.save_choices(params_file, wb.Choices(switch_off={off["id"]: "läuft bereits"},
                                            reword={rew["id"]: {"title": "Eigener Titel"}},
                                            add=[_new_measure()]))
    after = run()
    assert after.loc[off["id"], "switched_off"] and not after.loc[off["id"], "recommended"]
    assert after.loc[off["id"], "switch_off_reason"] == "läuft bereits"
    assert after.loc[rew["id"], "title"] == "Eigener Titel" and after.loc[rew["id"], "reworded"]
    assert after.loc["sicherheitsspaziergang", "recommended"]
    assert after.loc["sicherheitsspaziergang", "origin"] == "commune"
    assert after.loc[other["id"], "recommended"]  # untouched

    # switched on again: recommended again, and the now empty block is left out
    wb.save_choices(params_file, wb.Choices(switch_on=[off["id"]]))
    again = run()
    assert again.loc[off["id"], "recommended"] and not again.loc[off["id"], "switched_off"]
    assert "switch_off" not in yaml.safe_load(params_file.read_text(encoding="utf-8"))["recommendations"]


EXISTING_BLOCK = """\
# Empfehlungen: von den Analysten am 12.03. abgestimmt
recommendations:
  contacts: params/contacts.yaml   # Wegweiser wie in den Voreinstellungen
  switch_off:
    # Stadtrat hat das Konzept 2023 beschlossen
    - {id: ID_ONE, reason: "Konzept „Saubere Stadt“ seit 2023 beschlossen"}
  reword:
    ID_TWO: {title: "Titel wie im Stadtrat"}   # Wortlaut des Stadtrats

# ---- Befragung ----
"""


def _with_block(params_file: Path, ids) -> str:
    """The demo params with a commented recommendations block in the middle (before survey:)."""
    text = params_file.read_text(encoding="utf-8")
    block = EXISTING_BLOCK.replace("ID_ONE", ids[0]).replace("ID_TWO", ids[1])
    text = text.replace("\nsurvey:\n", "\n" + block + "survey:\n", 1)
    # a line ruamel.yaml would re-flow if it re-emitted the whole file (multi-line flow sequence)
    text = text.replace("\ninputs:\n", "\nallowed_roots: [data/demo,   # weitere Ordner\n                data]\n\ninputs:\n", 1)
    params_file.write_text(text, encoding="utf-8")
    return text


def test_comments_and_unrelated_keys_are_kept_byte_for_byte(params_file, catalogue):
    a, b, c = _threshold_measures(catalogue, 3)
    old = _with_block(params_file, [a["id"], b["id"]])
    load_params(params_file)  # the hand-written block is valid to begin with
    choices = wb.Choices(switch_off={c["id"]: "läuft über den Landkreis"},
                         reword={b["id"]: {"description": "Neu."}, a["id"]: {"title": "Anders"}})
    new = wb.apply_choices(old, choices, {m["id"] for m in catalogue})

    # outside the recommendations block: identical lines, before and after it
    head_old, rest_old = old.split("recommendations:\n", 1)
    head_new, rest_new = new.split("recommendations:\n", 1)
    assert head_new == head_old  # includes the comment line above the block
    assert "\n\n# ---- Befragung ----\nsurvey:\n" in new  # the next section's heading stays with it
    tail_old = rest_old[rest_old.index("\nsurvey:\n"):]
    tail_new = rest_new[rest_new.index("\nsurvey:\n"):]
    assert tail_new == tail_old
    # inside: comments, the unrelated key and the earlier entries stay as written
    for line in EXISTING_BLOCK.replace("ID_ONE", a["id"]).splitlines()[2:6]:
        assert line in new.splitlines(), line
    assert any(line.startswith(f"    {b['id']}: {{title: \"Titel wie im Stadtrat\", description: \"Neu.\"}}")
               and line.endswith("# Wortlaut des Stadtrats") for line in new.splitlines())
    # the data: exactly the old data plus the choices (read by the kit's own YAML reader)
    data_old, data_new = yaml.safe_load(old), yaml.safe_load(new)
    rec_old, rec_new = data_old.pop("recommendations"), data_new.pop("recommendations")
    assert data_new == data_old
    assert rec_new["contacts"] == rec_old["contacts"]
    assert rec_new["switch_off"] == rec_old["switch_off"] + [{"id": c["id"], "reason": "läuft über den Landkreis"}]
    assert rec_new["reword"] == {b["id"]: {"title": "Titel wie im Stadtrat", "description": "Neu."},
                                 a["id"]: {"title": "Anders"}}
    # and the edited file validates
    params_file.write_text(new, encoding="utf-8")
    assert load_params(params_file)["recommendations"]["reword"][b["id"]]["description"] == "Neu."


def test_no_choices_change_nothing(params_file):
    old = params_file.read_bytes()
    saved = wb.save_choices(params_file, wb.Choices())
    assert not saved.changed and saved.backup is None and saved.diff == ""
    assert params_file.read_bytes() == old and _backups(params_file.parent) == []


# ---------------------------------------------------------------------------
# refused choices: German error, nothing written
# ---------------------------------------------------------------------------

def _bad_cases(catalogue):
    first = catalogue[0]["id"]
    no_lead = _new_measure()
    del no_lead["lead"]
    return {
        "no_reason": (wb.Choices(switch_off={first: "   "}), ["Begründung fehlt", first]),
        "unknown_id": (wb.Choices(switch_off={"saubere_stadtt": "weil"}), ["saubere_stadtt", "weder im Katalog",
                                                                         "gemeint vielleicht: saubere_stadt"]),
        "unknown_reword": (wb.Choices(reword={"gibtsnicht": {"title": "x"}}), ["gibtsnicht", "weder im Katalog"]),
        "added_missing_field": (wb.Choices(add=[no_lead]), ["Neue Maßnahme Nr. 1 (sicherheitsspaziergang)",
                                                            "Pflichtangabe 'lead' fehlt"]),
        "added_existing_id": (wb.Choices(add=[_new_measure(mid=first)]), [first, "gibt es schon"]),
        "added_bad_value": (wb.Choices(add=[_new_measure(cost_class="billig")]), ["cost_class", "billig",
                                                                                  "gering, mittel, hoch"]),
        "switch_on_not_off": (wb.Choices(switch_on=[first]), [first, "nicht abgeschaltet"]),
        # passes the form checks, refused by the full validation (indicator ids of stages 1 and 2)
        "unknown_indicator": (wb.Choices(add=[_new_measure(general={}, triggers=[
            {"indicator": "survey.unsafe_nite", "op": ">=", "threshold": 0.3}])]),
            ["Nicht gespeichert", "muldenau.yaml", "survey.unsafe_nite", "keine bekannte Kennzahl"]),
    }


@pytest.mark.parametrize("case", ["no_reason", "unknown_id", "unknown_reword", "added_missing_field",
                                  "added_existing_id", "added_bad_value", "switch_on_not_off", "unknown_indicator"])
def test_bad_choices_are_refused_in_german_and_nothing_is_written(params_file, catalogue, case):
    choices, words = _bad_cases(catalogue)[case]
    old = params_file.read_bytes()
    with pytest.raises(wb.ChoiceError) as info:
        wb.save_choices(params_file, choices)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert "/tmp" not in message.replace(str(params_file.parent), "")  # names the file, not the temp copy
    assert params_file.read_bytes() == old
    assert _backups(params_file.parent) == []
    with pytest.raises(wb.ChoiceError):
        wb.preview_choices(params_file, choices)


def test_file_changed_since_preview_is_not_overwritten(params_file, catalogue):
    choices = wb.Choices(switch_off={catalogue[0]["id"]: "läuft"})
    preview = wb.preview_choices(params_file, choices)
    params_file.write_text(preview.old_text + "# von Hand ergänzt\n", encoding="utf-8")
    edited = params_file.read_bytes()
    with pytest.raises(wb.ChoiceError, match="seit der Vorschau verändert"):
        wb.save_choices(params_file, choices, expected_old=preview.old_text)
    assert params_file.read_bytes() == edited and _backups(params_file.parent) == []


# ---------------------------------------------------------------------------
# random sets of choices
# ---------------------------------------------------------------------------

TEXT = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "P", "S", "Zs")), min_size=1, max_size=40
               ).filter(lambda s: s.strip())
DEMO_TEXT = (PARAMS / "muldenau.yaml").read_text(encoding="utf-8")


TRICKY = st.sampled_from(["ja", "no", "on", "2023", "1_000", "null", "~", "a: b", "- x", "#x", "'x'", '"x"'])


def _block_text(ids) -> str:
    text = DEMO_TEXT.replace("\nsurvey:\n", "\n" + EXISTING_BLOCK.replace("ID_ONE", ids[0]).replace("ID_TWO", ids[1])
                             + "survey:\n", 1)
    return text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_choices_read_back_exactly(catalogue, data):
    ids = [m["id"] for m in catalogue]
    off = data.draw(st.dictionaries(st.sampled_from(ids), TEXT | TRICKY, max_size=5))
    rew = data.draw(st.dictionaries(st.sampled_from(ids), st.fixed_dictionaries({"title": TEXT | TRICKY}), max_size=4))
    add = data.draw(st.lists(st.builds(
        lambda mid, topic, lead, partner, title: _new_measure(mid=mid, topic=topic, lead=lead, partners=[partner],
                                                              title=title),
        st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True) | TRICKY.filter(lambda s: re.fullmatch(r"[\w-]+", s)),
        TEXT | TRICKY, TEXT | TRICKY, TEXT | TRICKY, TEXT | TRICKY),
        max_size=2, unique_by=lambda m: m["id"]).filter(lambda ms: not {m["id"] for m in ms} & set(ids)))
    existing = data.draw(st.booleans())
    text = _block_text(ids) if existing else DEMO_TEXT
    crlf = data.draw(st.booleans())
    if crlf:
        text = text.replace("\n", "\r\n")
    new = wb.apply_choices(text, wb.Choices(switch_off=off, reword=rew, add=add), set(ids))

    if existing:  # lines outside the block unchanged
        assert new.split("recommendations:")[0] == text.split("recommendations:")[0]
        assert new[new.index("survey:"):] == text[text.index("survey:"):]
    else:
        assert new.startswith(text)
    if crlf:
        assert "\n" not in new.replace("\r\n", "")  # the file's line ends are kept
    data_old, data_new = yaml.safe_load(text), yaml.safe_load(new)
    rec_old, rec = data_old.pop("recommendations", {}), data_new.pop("recommendations", {})
    assert data_new == data_old
    want_off = {x["id"]: x["reason"] for x in rec_old.get("switch_off", [])}
    want_off.update({k: " ".join(v.split()) for k, v in off.items()})
    assert {x["id"]: x["reason"] for x in rec.get("switch_off", [])} == want_off
    want_rew = rec_old.get("reword", {})
    for k, v in rew.items():
        want_rew[k] = {**want_rew.get(k, {}), "title": v["title"].strip()}
    assert rec.get("reword", {}) == want_rew
    assert [(m["id"], m["topic"], m["lead"], m["partners"], m["title"]) for m in rec.get("add", [])] == [
        (m["id"], m["topic"].strip(), m["lead"].strip(), [m["partners"][0].strip()], m["title"].strip()) for m in add]
    # the stage-3 overrides read it back as chosen
    _, switched, origin, reworded = cat.apply_overrides(catalogue, rec, "Test")
    assert switched == want_off
    assert reworded == set(want_rew)
    assert {k for k, v in origin.items() if v == "commune"} == {m["id"] for m in add}


# ---------------------------------------------------------------------------
# the widget (headless)
# ---------------------------------------------------------------------------

@pytest.fixture
def bench(params_file, catalogue):
    measures = _threshold_measures(catalogue, 2)
    result = recommend(catalogue, _firing_indicators(measures))
    return wb.Workbench(result, params_file, catalogue, commune_name="Muldenau"), measures


def test_widget_lists_measures_with_evidence(bench, catalogue):
    b, (fired, _) = bench
    assert {v for _, v in b.select.options} == {m["id"] for m in catalogue}
    labels = dict((v, k) for k, v in b.select.options)
    assert labels[fired["id"]].startswith("empfohlen (Befund): ")
    assert b.select.options[0][0].startswith("empfohlen")  # recommended first
    b.select.value = fired["id"]
    shown = re.sub(r"<[^>]+>", " ", b.evidence.value)
    assert fired["title"] in shown and "erfüllt" in shown and "Geprüfte Regeln" in shown
    not_fired = next(v for k, v in b.select.options if k.startswith("nicht"))
    b.select.value = not_fired
    assert "Nicht prüfbar" in b.evidence.value or "nicht erfüllt" in b.evidence.value
    for bad in ("nan", "None", "NaN", "<NA>"):
        assert not re.search(rf"\b{bad}\b", re.sub(r"<[^>]+>", " ", b.evidence.value))


def test_widget_save_writes_the_params_file(bench, params_file, catalogue):
    b, (fired, second) = bench
    old = params_file.read_bytes()
    b.select.value = fired["id"]
    b.reason.value = ""
    b.switch_off_button.click()
    assert b.pending.is_empty() and "Begründung" in b.message.value  # refused without a reason
    b.reason.value = "läuft schon über den Landkreis"
    b.switch_off_button.click()
    b.select.value = second["id"]
    b.new_title.value = "Titel aus der Werkbank"
    b.reword_button.click()
    b.copy_button.click()  # a catalogue measure as the template of a new one (its rules kept)
    b.form["title"].value = "Kopie mit eigenem Titel"
    b.add_button.click()
    assert len(b.pending.add) == 1 and b.pending.add[0]["triggers"] == second["triggers"]
    assert b.save_button.disabled  # no saving before a preview
    b.save_button.click()
    assert params_file.read_bytes() == old

    b.preview_button.click()
    assert not b.save_button.disabled
    assert "läuft schon über den Landkreis" in b.diff.value and params_file.read_bytes() == old
    b.save_button.click()

    params = load_params(params_file)["recommendations"]
    assert params["switch_off"] == [{"id": fired["id"], "reason": "läuft schon über den Landkreis"}]
    assert params["reword"] == {second["id"]: {"title": "Titel aus der Werkbank"}}
    assert [m["title"] for m in params["add"]] == ["Kopie mit eigenem Titel"]
    assert params["add"][0]["id"] == "kopie_mit_eigenem_titel"
    backups = _backups(params_file.parent)
    assert len(backups) == 1 and backups[0].read_bytes() == old
    assert "Gespeichert" in b.message.value and backups[0].name in b.diff.value
    assert b.pending.is_empty() and b.save_button.disabled


def test_widget_reports_a_bad_added_measure_and_keeps_nothing(bench, params_file):
    b, _ = bench
    b.form["title"].value = "Nur ein Titel"
    b.add_button.click()
    assert b.pending.is_empty()
    assert "Federführung (lead)" in b.message.value and "Beschreibung (description)" in b.message.value


def test_workbench_is_not_shown_in_batch_runs(monkeypatch, bench):
    b, _ = bench
    monkeypatch.setenv("KIT_BATCH", "1")
    assert wb.show_workbench(b.result, load_params(b.params_file)) is None


def test_notebook_cell_is_interactive_only():
    nb = nbformat.read(REPO_ROOT / "notebooks" / "3_recommend.ipynb", as_version=4)
    cells = [c for c in nb.cells if "show_workbench" in c.source]
    assert len(cells) == 1
    assert "remove_cell" in cells[0].metadata.get("tags", [])
    assert not cells[0].get("outputs")


def test_widget_switches_on_and_removes_what_the_commune_added(params_file, catalogue):
    fired, _ = _threshold_measures(catalogue, 2)
    original = params_file.read_bytes()
    wb.save_choices(params_file, wb.Choices(switch_off={fired["id"]: "läuft bereits"}, add=[_new_measure()]))
    params = load_params(params_file)
    measures, switched, origin, reworded = cat.apply_overrides(catalogue, params["recommendations"], "Test")
    result = recommend(measures, _firing_indicators([fired]), switched_off=switched, origin=origin, reworded=reworded)
    b = wb.workbench_for(result, params)
    labels = dict((v, k) for k, v in b.select.options)
    assert labels["sicherheitsspaziergang"].endswith("(hinzugefügt)")
    assert labels[fired["id"]].startswith("abgeschaltet: ")
    b.select.value = fired["id"]
    assert "läuft bereits" in b.evidence.value and b.remove_button.disabled and not b.switch_on_button.disabled
    b.remove_button.click()  # a catalogue measure cannot be removed, only switched off
    assert b.pending.is_empty() and "abschalten" in b.message.value
    b.switch_on_button.click()
    b.select.value = "sicherheitsspaziergang"
    assert not b.remove_button.disabled
    b.remove_button.click()
    b.preview_button.click()
    b.save_button.click()
    assert "Gespeichert" in b.message.value
    assert "recommendations" not in yaml.safe_load(params_file.read_text(encoding="utf-8"))  # block emptied: gone
    assert params_file.read_bytes() == original  # undoing every choice gives back the file as it was
    assert load_params(params_file)["recommendations"].get("switch_off", []) == []


def test_two_saves_in_the_same_second_keep_both_backups(params_file, catalogue):
    import datetime as dt

    now = dt.datetime(2026, 3, 12, 9, 30, 0)
    first, second = catalogue[0]["id"], catalogue[1]["id"]
    original = params_file.read_bytes()
    a = wb.save_choices(params_file, wb.Choices(switch_off={first: "eins"}), now=now)
    between = params_file.read_bytes()
    b = wb.save_choices(params_file, wb.Choices(switch_off={second: "zwei"}), now=now)
    assert a.backup.name == "muldenau.yaml.bak-20260312-093000"
    assert b.backup.name == "muldenau.yaml.bak-20260312-093000-2"
    assert a.backup.read_bytes() == original and b.backup.read_bytes() == between
    assert [x["id"] for x in load_params(params_file)["recommendations"]["switch_off"]] == [first, second]
