"""Places of discomfort from the survey's free text (issue 9, item 8): compute part.

The free-text answers (``survey.free_text_item``) are matched to the commune's
gazetteer (:mod:`kit.gazetteer`: district names, stage 1's places table,
optional ``survey.gazetteer`` file) and counted per place and district under the
commune's :class:`~kit.disclosure.DisclosurePolicy` (``place_mentions``,
``free_text``). Both stages call :func:`place_counts` on the same cleaned
answers, so stage 1's "Nennungen" and stage 2's map show the same numbers.

What leaves memory is :class:`PlacesResult` (counts after disclosure control,
codes); the answers that need a look by the analyst (ambiguous, low score,
unmatched) are personal data: :func:`review_list` returns them in memory for
the interactive notebook session, :func:`save_review_list` writes them to the
private ``survey.place_matching.review_dir`` (never under output/).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit import gazetteer as gz
from kit.disclosure import DisclosurePolicy, policy_from_params
from kit.errors import KitError, ParamsError

RESULT_NAME = "survey_places_mentions"
STATUS_ORDER = (gz.MATCHED, gz.AMBIGUOUS, gz.LOW_SCORE)
PLACE_COLUMNS = ["level", "key", "name", "district_id", "mentions", "suppressed", "lon", "lat"]


@dataclass
class PlacesResult:
    """Public: mentions per place and district (``mentions`` empty where suppressed) and
    the number of answers by matching status (``answers``: status, mentions, suppressed;
    status codes matched, ambiguous, low_score, total, unmatched)."""

    places: pd.DataFrame  # place_id, name, district_id, lon, lat, mentions, suppressed
    districts: pd.DataFrame  # district_id, name, mentions, suppressed
    answers: pd.DataFrame  # status, mentions, suppressed
    threshold: float
    policy: DisclosurePolicy

    def table(self) -> pd.DataFrame:
        """One long table for the result file: ``level`` place / district / answers, ``key`` the
        place id, district id or answer status code."""
        p = self.places.rename(columns={"place_id": "key"}).assign(level="place")
        d = self.districts.assign(level="district", key=self.districts["district_id"], lon=np.nan, lat=np.nan)
        a = self.answers.rename(columns={"status": "key"}).assign(level="answers", name="", district_id="",
                                                                   lon=np.nan, lat=np.nan)
        out = pd.concat([p, d, a], ignore_index=True)[PLACE_COLUMNS]
        out["mentions"] = out["mentions"].astype("Int64")
        return out

    def top_places(self, k: int = 3) -> pd.DataFrame:
        """The ``k`` most-mentioned published places (ties kept in name order)."""
        p = self.places[~self.places["suppressed"]].copy()
        p["mentions"] = p["mentions"].astype(float)
        return p.sort_values(["mentions", "name"], ascending=[False, True]).head(k)


def matching_settings(params: dict) -> dict:
    cfg = dict(params["survey"].get("place_matching") or {})
    return {"threshold": float(cfg.get("threshold", gz.DEFAULT_THRESHOLD)),
            "review_min": float(cfg.get("review_min", gz.DEFAULT_REVIEW_MIN)),
            "ambiguity_margin": float(cfg.get("ambiguity_margin", gz.DEFAULT_AMBIGUITY_MARGIN))}


def read_places(params: dict) -> pd.DataFrame | None:
    """Stage 1's places table (validated), or None when the commune gave none."""
    spec = (params.get("inputs") or {}).get("places")
    if not spec:
        return None
    from kit.profile.inputs import read_input_table

    return read_input_table("places", spec)


def gazetteer_from_params(params: dict, districts: dict[str, str], places: pd.DataFrame | None) -> gz.Gazetteer:
    extra = None
    if params["survey"].get("gazetteer"):
        extra = gz.read_gazetteer_file(params["survey"]["gazetteer"], districts)
    return gz.build_gazetteer(districts, places, extra)


def place_counts(texts: pd.Series, gazetteer: gz.Gazetteer, places: pd.DataFrame | None,
                 policy: DisclosurePolicy, *, threshold: float = gz.DEFAULT_THRESHOLD,
                 review_min: float = gz.DEFAULT_REVIEW_MIN,
                 ambiguity_margin: float = gz.DEFAULT_AMBIGUITY_MARGIN) -> tuple[PlacesResult, gz.MatchResult]:
    """Match the answers, count respondents per place and district and apply the policy.
    Returns the public result and the private match result (positions in ``texts``)."""
    match = gz.match_answers(pd.Series(texts, dtype=object).tolist(), gazetteer, threshold=threshold,
                             review_min=review_min, ambiguity_margin=ambiguity_margin)
    p, d, counts = gz.count_mentions(match, gazetteer)
    p, d = policy.place_mentions(p, d)
    if places is not None and {"lon", "lat"} <= set(places.columns):
        coords = places.assign(place_id=places["place_id"].astype(str)).set_index("place_id")[["lon", "lat"]]
        p = p.join(coords, on="place_id")
    else:
        p["lon"], p["lat"] = np.nan, np.nan
    rows = [(s, counts[s]) for s in STATUS_ORDER] + [("total", counts["answers"]), (gz.UNMATCHED, counts[gz.UNMATCHED])]
    a = policy.free_text(rows, counts["answers"], exclusive=True).rename(columns={"topic": "status"})
    a = a[["status", "mentions", "suppressed"]]
    return PlacesResult(places=p, districts=d, answers=a, threshold=threshold, policy=policy), match


def survey_places(data: pd.DataFrame, params: dict, districts: dict[str, str],
                  policy: DisclosurePolicy | None = None) -> tuple[PlacesResult, gz.MatchResult] | None:
    """Stage 2: place counts from the cleaned responses (None without a free-text item)."""
    item = params["survey"].get("free_text_item")
    if not item or item not in data.columns:
        return None
    policy = policy or policy_from_params(params)
    places = read_places(params)
    gazetteer = gazetteer_from_params(params, districts, places)
    return place_counts(data[item], gazetteer, places, policy, **matching_settings(params))


def cleaned_answers(params: dict, districts: dict[str, str]) -> pd.DataFrame | None:
    """The cleaned survey responses as stage 2 reads them (import + cleaning, in memory), for
    stage 1; None when the params name no response file."""
    from kit.survey import clean_responses, load_codebook, read_responses

    survey = params["survey"]
    if not survey.get("responses") or not Path(survey["responses"]).exists():
        return None
    codebook = load_codebook(survey["codebook"], districts)
    raw = read_responses(survey["responses"], codebook, survey.get("column_map") or {}, numbers=survey.get("numbers"))
    return clean_responses(raw, codebook, survey["cleaning"]).data


def profile_place_mentions(params: dict, districts: dict[str, str]) -> tuple[PlacesResult | None, str | None]:
    """Stage 1: the survey mentions of its places by the same method as stage 2.

    Returns (result, None), or (None, the error's message) when the survey cannot be
    read (stage 1 then shows no survey counts rather than the places file's own column; its
    view says so)."""
    try:
        data = cleaned_answers(params, districts)
        out = survey_places(data, params, districts) if data is not None else None
    except KitError as err:
        lines = [line.strip().lstrip("-•").strip() for line in str(err).splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].endswith(":"):  # "Eingabedaten fehlerhaft (1 Fehler):" + the errors
            lines = lines[1:]
        return None, "; ".join(lines)
    if out is None:
        return None, None
    return out[0], None


# ---------------------------------------------------------------------------
# the review list: personal data, in memory or in a private folder only
# ---------------------------------------------------------------------------

STATUS_LABELS = {gz.MATCHED: "zugeordnet", gz.AMBIGUOUS: "mehrdeutig", gz.LOW_SCORE: "unsicher (geringe Ähnlichkeit)",
                 gz.UNMATCHED: "ohne Zuordnung"}


def review_list(texts: pd.Series, match: gz.MatchResult, gazetteer: gz.Gazetteer,
                include_matched: bool = False) -> pd.DataFrame:
    """Answers for the analyst to check (in memory; contains the raw answers):
    Antwort, Status, Vorschlag (gazetteer entry), Stadtteil-Nr., Ähnlichkeit."""
    texts = pd.Series(texts, dtype=object).reset_index(drop=True)
    answers = match.answers if include_matched else match.answers[match.answers["status"] != gz.MATCHED]
    rows = []
    for _, a in answers.iterrows():
        m = match.matches[match.matches["answer"] == a["answer"]]
        names = "; ".join(str(gazetteer.entries.at[int(e), "name"]) for e in m["entry"])
        rows.append({"Antwort": texts.iloc[int(a["answer"])], "Status": STATUS_LABELS[a["status"]],
                     "Vorschlag": names, "Stadtteil-Nr.": "; ".join(m["district_id"].astype(str)),
                     "Ähnlichkeit": "; ".join(f"{s:.0f}" for s in m["score"])})
    return pd.DataFrame(rows, columns=["Antwort", "Status", "Vorschlag", "Stadtteil-Nr.", "Ähnlichkeit"])


def survey_review_list(result, include_matched: bool = False) -> pd.DataFrame:
    """:func:`review_list` for a private :class:`kit.survey.stage.SurveyResult` (JupyterLab only)."""
    params = result.params
    item = params["survey"].get("free_text_item")
    if not item or item not in result.clean.data.columns:
        return pd.DataFrame(columns=["Antwort", "Status", "Vorschlag", "Stadtteil-Nr.", "Ähnlichkeit"])
    places = read_places(params)
    gazetteer = gazetteer_from_params(params, result.districts, places)
    texts = result.clean.data[item]
    _, match = place_counts(texts, gazetteer, places, result.policy, **matching_settings(params))
    return review_list(texts, match, gazetteer, include_matched)


def save_review_list(result, output_dir: str | Path) -> Path:
    """Write the review list to ``survey.place_matching.review_dir`` (relative to data_dir),
    which must lie outside ``output_dir``; returns the file."""
    params = result.params
    folder = (params["survey"].get("place_matching") or {}).get("review_dir")
    if not folder:
        raise ParamsError(f"Parameterdatei {params.get('params_file', '')}: 'survey.place_matching.review_dir' "
                          "(privater Ordner für die Prüfliste außerhalb von output/) ist nicht gesetzt.")
    path = Path(folder)
    if not path.is_absolute():
        path = Path(params["data_dir"]) / path
    path = path.resolve()
    out = Path(output_dir).resolve()
    if path == out or out in path.parents:
        raise ParamsError(f"Parameterdatei {params.get('params_file', '')}: 'survey.place_matching.review_dir' "
                          f"= {folder} liegt im Ergebnisordner {out}; erwartet: ein privater Ordner außerhalb davon "
                          "(die Prüfliste enthält wörtliche Antworten).")
    path.mkdir(parents=True, exist_ok=True)
    target = path / f"{params['commune_id']}_orte_pruefliste.csv"
    survey_review_list(result).to_csv(target, sep=";", index=False, encoding="utf-8-sig")
    return target


__all__ = ["PlacesResult", "RESULT_NAME", "cleaned_answers", "gazetteer_from_params", "matching_settings",
           "place_counts", "profile_place_mentions", "read_places", "review_list", "save_review_list",
           "survey_places", "survey_review_list"]
