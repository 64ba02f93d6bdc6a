"""Stage 1 counts the survey's mentions of its places; when the survey cannot be read the
result carries the reader's message (no sentence of its own: numbers before words) and the
view says in German that the mentions could not be counted, naming the cause."""

from __future__ import annotations

import matplotlib

from tests.batch_runs import make_inputs

matplotlib.use("Agg")


def test_unreadable_survey_gives_the_error_to_the_view_which_words_it(tmp_path, monkeypatch):
    import yaml

    from kit.params import load_params
    from kit.profile import view
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile

    params_file = make_inputs(tmp_path, communes=("muldenau",))[0]
    data = yaml.safe_load(params_file.read_text(encoding="utf-8"))
    responses = tmp_path / "data" / "muldenau" / data["survey"]["responses"]
    responses.write_bytes(b"")  # an empty file: the reader refuses it with file and reason
    inputs = load_profile_inputs(load_params(params_file))
    result = compute_profile(inputs)
    note = result.place_mentions_note
    assert note and responses.name in note and not note.startswith("Die Nennungen")

    shown = []
    monkeypatch.setattr(view, "show_note", lambda text, *a, **k: shown.append(str(text)))
    monkeypatch.setattr(view, "show_md", lambda *a, **k: None)
    monkeypatch.setattr(view, "show_table", lambda *a, **k: None)
    monkeypatch.setattr(view, "_show_fig", lambda *a, **k: None)
    view.show_districts(result, inputs)
    said = [s for s in shown if "konnten nicht gezählt werden" in s]
    assert said == [f"Die Nennungen in der Bürgerbefragung konnten nicht gezählt werden ({note.rstrip('.')})."]
