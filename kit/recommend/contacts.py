"""Wegweiser: whom a commune can contact about each recommended measure.

The contacts data file (params/contacts.yaml, path in params ``recommendations.contacts``)
maps the 13 Saxon Kreise (first five digits of the AGS) to the five Polizeidirektionen and
lists public contacts (ASSKomm at the Landespräventionsrat, the Präventionsordner "Kommune
beugt vor!", the RL KommPräv funding, topic contacts). :func:`measure_contacts` returns one
row per measure x contact (names and web addresses as in the file; no sentences).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from kit.errors import ParamsError
from kit.params import REPO_ROOT
from kit.yamlio import read_yaml

CONTACT_COLUMNS = ["measure_id", "contact_id", "name", "what", "web"]
POLICE_ID = "police_advice"


def load_contacts(path: str | Path) -> dict:
    """The contacts file, checked for the keys the Wegweiser needs (German ParamsError)."""
    path = Path(path)
    if not path.is_absolute():
        path = REPO_ROOT / path
    data = read_yaml(path, "Ansprechpartner-Datei").data
    missing = [k for k in ("police_directorates", "police_advice", "contacts") if not isinstance(data, dict)
               or k not in data]
    if missing:
        raise ParamsError(f"Ansprechpartner-Datei {path}: es fehlt {', '.join(missing)} "
                          "(erwartet: police_directorates, police_advice, contacts).")
    for i, c in enumerate(data["contacts"], 1):
        for key in ("id", "name", "what", "when"):
            if key not in c:
                raise ParamsError(f"Ansprechpartner-Datei {path}, Eintrag Nr. {i}: es fehlt {key} "
                                  "(erwartet: id, name, what, when, optional web).")
    return data


def directorate_for(contacts: dict, ags: str | None, landkreis: str | None) -> str | None:
    """Name of the Polizeidirektion for a commune: by the Kreis part of its AGS, else by the
    name of its Landkreis; None when neither matches (e.g. a fictitious demo commune)."""
    kreis = str(ags or "")[:5]
    lk = " ".join(str(landkreis or "").split()).casefold()
    for pd_ in contacts["police_directorates"].values():
        kreise = {str(k): str(v) for k, v in (pd_.get("kreise") or {}).items()}
        if kreis in kreise or (lk and lk in {v.casefold() for v in kreise.values()}):
            return str(pd_["name"])
    return None


def _applies(when, measure: dict) -> bool:
    if when == "all":
        return True
    if when == "funded":
        return bool((measure.get("funding") or {}).get("kommpraev"))
    if isinstance(when, dict):
        topics = set(when.get("topics") or [])
        own = {measure.get("topic"), *(measure.get("prevention_topics") or [])}
        return bool(topics & own)
    return False


def measure_contacts(catalogue: list[dict], contacts: dict, ags: str | None, landkreis: str | None) -> pd.DataFrame:
    """One row per measure x contact: first the police advice centre of the commune's
    Polizeidirektion (or the generic entry when it cannot be determined), then every contact
    of the file whose ``when`` applies (all, funded, or one of the measure's topics)."""
    directorate = directorate_for(contacts, ags, landkreis)
    police = contacts["police_advice"]
    police_name = (police["name"].format(directorate=directorate) if directorate
                   else police.get("unknown_name", police["name"].format(directorate="zuständigen Polizeidirektion")))
    rows = []
    for m in catalogue:
        rows.append({"measure_id": m["id"], "contact_id": POLICE_ID, "name": police_name,
                     "what": police.get("what", ""), "web": police.get("web", "")})
        for c in contacts["contacts"]:
            if _applies(c["when"], m):
                rows.append({"measure_id": m["id"], "contact_id": c["id"], "name": c["name"],
                             "what": c.get("what", ""), "web": c.get("web", "")})
    return pd.DataFrame(rows, columns=CONTACT_COLUMNS)
