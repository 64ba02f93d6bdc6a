"""Stage-2 report section "Orte des Unwohlseins": map and sentences from the
place mentions of :mod:`kit.survey.places` (counts after disclosure control).

View only: German sentences, the map and the table; no statistics computed here
beyond choosing what to name (the published counts, sorted).
"""

from __future__ import annotations

import pandas as pd

from kit import figures as plots
from kit.report import DASH, fmt_int, fmt_num, interactive_session, show_md, show_note, show_table
from kit.survey.places import PlacesResult, survey_review_list

HIDDEN = "nicht ausgewiesen"


def _list_de(items) -> str:
    items = [str(i) for i in items]
    return "".join(items) if len(items) <= 1 else ", ".join(items[:-1]) + " und " + items[-1]


def method_text(threshold: float, stage: str = "survey") -> str:
    """The one method in one German paragraph (the same words in both reports)."""
    where = ("Dieselbe Zählung zeigt das Gebietsprofil in der Tabelle der Orte des Unwohlseins."
             if stage == "survey" else
             "Die Zahlen stimmen mit der Karte der Orte des Unwohlseins in der Auswertung der Bürgerbefragung überein.")
    return ("Die offenen Antworten auf die Frage nach Orten, an denen sich Befragte unwohl fühlen, werden mit einem "
            "Ortsverzeichnis der Kommune abgeglichen: den Namen der Stadtteile und der Orte des Unwohlseins aus dem "
            "Gebietsprofil. Groß- und Kleinschreibung, ß/ss, Umlaute, Abkürzungen wie „Str.“ und kleine Tippfehler "
            f"spielen keine Rolle; eine Antwort gilt als zugeordnet, wenn sie einem Namen zu mindestens "
            f"{fmt_num(threshold, 0)} von 100 Punkten ähnelt. Gezählt wird, wie viele Befragte einen Ort nennen; eine "
            "Antwort kann mehrere Orte nennen, und ein Stadtteil zählt jede Antwort, die ihn oder einen Ort in ihm "
            f"nennt, einmal. Zu kleine Zahlen werden nicht ausgewiesen (Datenschutz). {where}")


def _count(result: PlacesResult, status: str):
    row = result.answers[result.answers["status"] == status]
    if row.empty or bool(row["suppressed"].iloc[0]):
        return None
    return int(row["mentions"].iloc[0])


STATUS_PHRASES = {"matched": "einem Ort oder Stadtteil zugeordnet", "ambiguous": "mehrdeutig (mehrere Orte kommen in Frage)",
                  "low_score": "nur unsicher zuzuordnen", "unmatched": "keinem Ort zuzuordnen"}


def status_text(result: PlacesResult) -> str:
    """How many answers were matched, doubtful and not matched (published counts only;
    statuses hidden by the policy are named together, with their sum when the published
    numbers give it anyway)."""
    total = _count(result, "total")
    shown = {s: _count(result, s) for s in STATUS_PHRASES}
    hidden = [s for s, n in shown.items() if n is None]
    parts = [f"{fmt_int(n)} {STATUS_PHRASES[s]}" for s, n in shown.items() if n]
    if hidden:
        words = [STATUS_PHRASES[s].split(" (")[0] for s in hidden]
        names = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " oder " + words[-1]
        # the published numbers give the sum of the hidden ones; never a single hidden one
        rest = None if total is None or len(hidden) < 2 else \
            total - sum(n for n in shown.values() if n is not None)
        if rest is None:
            parts.append(f"eine nicht ausgewiesene Zahl {names}")
        elif rest > 0:
            parts.append(f"{fmt_int(rest)} {names} (nicht einzeln ausgewiesen)")
    if total is None:
        return ("Wie viele Befragte einen Ort beschrieben haben, wird nicht ausgewiesen (zu kleine Zahl)."
                if not parts else "Von den Antworten, die einen Ort beschreiben, sind " + _list_de(parts) + ".")
    if not parts:
        return f"{fmt_int(total)} Befragte haben einen Ort beschrieben."
    return (f"Von {fmt_int(total)} Antworten, die einen Ort beschreiben, sind " + _list_de(parts) + ". Mehrdeutige, "
            "unsichere und nicht zugeordnete Antworten zählen auf der Karte nicht; das Analyseteam kann sie in "
            "JupyterLab prüfen und fehlende Orte oder Schreibweisen im Ortsverzeichnis ergänzen.")


def top_text(result: PlacesResult, k: int = 3) -> str:
    top = result.top_places(k)
    top = top[top["mentions"] > 0]
    if top.empty:
        return "Kein Ort wurde so oft genannt, dass er ausgewiesen werden kann."
    items = [f"{r['name']} ({fmt_int(r['mentions'])} Befragte)" for _, r in top.iterrows()]
    d = result.districts[~result.districts["suppressed"]].copy()
    d["mentions"] = d["mentions"].astype(float)
    text = f"Am häufigsten genannt {'wird' if len(items) == 1 else 'werden'} {_list_de(items)}."
    if len(d) and d["mentions"].max() > 0:
        best = d[d["mentions"] == d["mentions"].max()]
        text += (f" Der Stadtteil mit den meisten Nennungen ist {_list_de(best['name'])} "
                 f"({fmt_int(best['mentions'].iloc[0])} Befragte).")
    return text


def places_map(result: PlacesResult, districts_gdf, name: str):
    """Districts shaded by mentions (hidden ones hatched, 'nicht ausgewiesen'), places as
    circles sized by their mentions; hidden or unlocated places are not drawn."""
    import geopandas as gpd

    d = result.districts
    values = pd.Series({str(i): float(m) for i, m, s in zip(d["district_id"], d["mentions"], d["suppressed"])
                        if not s}, dtype=float)
    vmax = max(float(values.max()) if len(values) else 1.0, 1.0)
    fig = plots.choropleth(districts_gdf, values, title="Nennungen von Orten des Unwohlseins nach Stadtteil",
                           legend="Befragte, die den Stadtteil oder einen Ort darin nennen", decimals=0,
                           cmap="Purples", vmin=0, vmax=vmax, missing_label=HIDDEN,
                           attribution=f"Kartengrundlage: Stadtteilgrenzen {name}")
    p = result.places[~result.places["suppressed"]].dropna(subset=["lon", "lat"])
    p = p[p["mentions"].astype(float) > 0]
    ax = fig.axes[0]
    if len(p):
        pts = gpd.GeoDataFrame(p, geometry=gpd.points_from_xy(p["lon"], p["lat"]), crs="EPSG:4326")
        if districts_gdf.crs is not None:
            pts = pts.to_crs(districts_gdf.crs)
        m = p["mentions"].astype(float).to_numpy()
        size = 260 * m / m.max()  # marker area (points²) proportional to the mentions
        ax.scatter(pts.geometry.x, pts.geometry.y, s=size, facecolor="#d62728", edgecolor="white", alpha=0.75,
                   linewidth=0.7, zorder=2.5)  # below the district labels
        ax.scatter([], [], s=260, facecolor="#d62728", edgecolor="white", alpha=0.75,
                   label=f"Ort mit {fmt_int(m.max())} Nennungen (Kreisfläche proportional zur Zahl)")
        ax.legend(loc="upper left", fontsize=7, frameon=True, framealpha=0.85, borderpad=0.5)
    alt = (f"Karte der Stadtteile von {name}, eingefärbt nach der Zahl der Befragten, die den Stadtteil oder einen Ort "
           f"darin als Ort des Unwohlseins nennen; {len(p)} Orte als Kreise, deren Größe der Zahl der Nennungen folgt")
    hidden = int(d["suppressed"].sum())
    if hidden:
        alt += f"; {hidden} Stadtteil(e) {HIDDEN}"
    return plots.describe(fig, title="Nennungen von Orten des Unwohlseins nach Stadtteil", alt=alt)


def show_places(public, districts_gdf) -> None:
    """The section: method, matching status, map, most-mentioned places, table."""
    result: PlacesResult | None = getattr(public, "places", None)
    if result is None:
        show_note("Die Befragung enthält keine offene Frage nach Orten des Unwohlseins; die Karte entfällt.")
        return
    show_md(method_text(result.threshold))
    show_md(status_text(result))
    show_md("Die Karte zeigt für jeden Stadtteil, wie viele Befragte ihn oder einen Ort in ihm nennen; die roten "
            "Kreise sind die einzelnen Orte, je größer, desto mehr Nennungen. " + top_text(result))
    fig = places_map(result, districts_gdf, public.name)
    plots.show_figure(fig, source=f"Bürgerbefragung {public.name}, offene Antworten (ungewichtete Zahl der "
                                  f"Befragten); Orte: Gebietsprofil {public.name}; Kartengrundlage: Stadtteilgrenzen "
                                  f"{public.name}")
    p = result.places.copy()
    p["Stadtteil"] = p["district_id"].astype(str).map(public.districts).fillna("")
    p["sort"] = p["mentions"].astype(float).fillna(-1)
    p = p.sort_values(["sort", "name"], ascending=[False, True])
    show_md("Die Tabelle nennt jeden Ort des Ortsverzeichnisses mit der Zahl der Befragten, die ihn nennen "
            f"(„{DASH}“: {HIDDEN}, weil keine oder zu wenige Befragte ihn nennen oder weil sich sonst eine kleine "
            "Zahl errechnen ließe).")
    show_table(p, {"name": ("Ort", None), "Stadtteil": ("Stadtteil", None),
                   "mentions": ("Nennungen", lambda v: DASH if pd.isna(v) else fmt_int(v))},
               caption="Orte des Unwohlseins in den offenen Antworten")


def show_review(result) -> None:
    """JupyterLab only (never in batch runs): the answers that need the analyst's check,
    in memory; they are personal data and are not part of the report."""
    if not interactive_session():
        return
    from IPython.display import display

    review = survey_review_list(result)
    show_md(f"**Prüfliste (nur in JupyterLab sichtbar, nicht im Bericht):** {fmt_int(len(review))} Antworten sind "
            "mehrdeutig, unsicher oder keinem Ort zugeordnet. Fehlende Orte oder Schreibweisen können in der Datei "
            "`survey.gazetteer` ergänzt werden; `kit.survey.places.save_review_list(result, ctx.output_dir)` speichert "
            "die Liste im privaten Ordner `survey.place_matching.review_dir`.")
    display(review)


__all__ = ["method_text", "places_map", "show_places", "show_review", "status_text", "top_text"]
