"""German report text for real public files (issue #12): how the Stadtteile of the residents
table and the polygons fit together, what the profile cannot show without age groups, the kit's
HZ beside the BKA's, the Kreis context of the Deutschlandatlas. The numbers come from
:mod:`kit.profile.realdata` (via the ProfileResult); this module only words and tabulates them.
"""

from __future__ import annotations

import math

import pandas as pd

from kit.profile.realdata import MATCHED, NO_POLYGON, NO_RESIDENTS, match_coverage
from kit.report import fmt_districts, fmt_int, fmt_num, fmt_signed, show_md, show_table

ATLAS_SOURCE = ("Deutschlandatlas, BMWSB/BBSR, Stand 12/2024 (Kreise, Gebietsstand 31.12.2022), "
                "Lizenz: Datenlizenz Deutschland – Namensnennung (dl-de/by-2-0)")
BKA_SOURCE = ("Quelle: Polizeiliche Kriminalstatistik (PKS), Bundeskriminalamt, Kreistabelle KR-F-01-T01, "
              "Berichtsjahr {years}, Version 1.0; Lizenz dl-de/by-2-0")


def _list_de(items: list[str]) -> str:
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " und " + items[-1]


def _named(rows: pd.DataFrame, with_residents: bool) -> list[str]:
    out = []
    for _, r in rows.iterrows():
        text = f"{r['district_id']} {r['district_name']}".strip()
        if with_residents and not pd.isna(r["residents"]):
            text += f" ({fmt_int(r['residents'])} Einwohner)"
        out.append(text)
    return out


def district_names(result, polygon_names: dict) -> dict:
    """Names of all Stadtteile: the polygons' names, for Stadtteile without polygon the residents file's."""
    names = dict(polygon_names)
    m = result.district_match
    if m is not None:
        for _, r in m.iterrows():
            names.setdefault(str(r["district_id"]), str(r["district_name"]))
    return names


def coverage_text(result, name: str) -> str:
    """What the population total includes when Stadtteile and polygons do not match ("" when they do)."""
    m = result.district_match
    if m is None or m.empty or (m["status"] == MATCHED).all():
        return ""
    c = match_coverage(m)
    no_poly, no_res = m[m["status"] == NO_POLYGON], m[m["status"] == NO_RESIDENTS]
    n_stat = c["n_matched"] + c["n_no_polygon"]
    text = (f"Die Gesamtzahl von {fmt_int(c['total'])} Einwohnern am 31.12.{c['year']} umfasst "
            f"{'den' if n_stat == 1 else 'alle'} {fmt_districts(n_stat)} der Einwohnerstatistik.")
    if len(no_poly):
        one = len(no_poly) == 1
        text += (f" {'Ein Stadtteil hat' if one else f'{fmt_int(len(no_poly))} davon haben'} in der "
                 f"Stadtteil-Geometrie kein Polygon: {_list_de(_named(no_poly, True))}"
                 + ("" if one else f", zusammen {fmt_int(c['unmatched'])} Einwohner")
                 + f"; {'er fehlt' if one else 'sie fehlen'} auf den Karten, {'zählt' if one else 'zählen'} aber in "
                 "allen Gesamtzahlen und in der Tabelle nach Stadtteilen.")
    if len(no_res):
        one = len(no_res) == 1
        text += (f" Umgekehrt {'hat ein Polygon' if one else f'haben {fmt_int(len(no_res))} Polygone'} keine "
                 f"Einwohnerangaben: {_list_de(_named(no_res, False))}; auf den Karten "
                 f"{'bleibt es' if one else 'bleiben sie'} ohne Wert.")
    one = c["n_matched"] == 1
    text += (f" Die Karten zeigen {'den' if one else 'die'} {fmt_districts(c['n_matched'])}, {'der' if one else 'die'} "
             f"in beiden Dateien vorkommen ({fmt_int(c['matched'])} Einwohner).")
    return text


def show_district_match(result) -> None:
    """The Stadtteile that do not match, by number and name, as a table with a sentence."""
    m = result.district_match
    if m is None or m.empty or (m["status"] == MATCHED).all():
        return
    rows = m[m["status"] != MATCHED].copy()
    rows["what"] = rows["status"].map({NO_POLYGON: "in der Einwohnerstatistik, ohne Polygon",
                                       NO_RESIDENTS: "Polygon ohne Einwohnerangaben"})
    show_md(f"Die Einwohnerstatistik und die Stadtteil-Geometrie passen nicht ganz zusammen: "
            f"{fmt_districts(len(rows))} {'steht' if len(rows) == 1 else 'stehen'} nur in einer der beiden Dateien. "
            f"Die Tabelle nennt {'ihn' if len(rows) == 1 else 'sie'} mit Nummer und Namen; ausgewertet wird, was "
            "zusammenpasst.")
    show_table(rows, {"district_id": ("Nr.", None), "district_name": ("Stadtteil", None),
                      "what": ("Befund", None), "residents": ("Einwohner", fmt_int)},
               caption=f"Stadtteile ohne Gegenstück in der anderen Datei (Einwohner am 31.12.{int(m['year'].iloc[0])})")


def no_age_text(result, name: str) -> str:
    """What the profile cannot show without age groups, with the Kreis's age shares where known."""
    text = (f"Die Einwohnerdaten von {name} enthalten keine Altersgruppen (nur Stadtteil, Geschlecht und "
            "Staatsangehörigkeit). Deshalb entfallen hier die Bevölkerungspyramide, die Anteile der unter "
            "18-Jährigen und der Einwohner ab 65 Jahren (für die Kommune und nach Stadtteilen) und die "
            "Bevölkerung nach Altersgruppen, auf die eine Bürgerbefragung gewichtet würde; Empfehlungen, die "
            "auf diese Anteile schauen, bleiben offen.")
    ctx = result.context
    if ctx is not None and len(ctx):
        vals = ctx.set_index("indicator")["value"]
        if "bev_u18" in vals and "bev_ue65" in vals:
            text += (f" Zur Einordnung: Für den Kreis {ctx['region_name'].iloc[0]} nennt der Deutschlandatlas "
                     f"{fmt_num(vals['bev_u18'], 1)} % unter 18 und {fmt_num(vals['bev_ue65'], 1)} % ab 65 Jahren "
                     "(Stand 31.12.2022; siehe die Kreisdaten unten).")
    return text


def show_kreis_context(result) -> None:
    ctx = result.context
    if ctx is None or ctx.empty:
        return
    region = ctx["region_name"].iloc[0]
    show_md(f"**Kreisdaten aus dem Deutschlandatlas.** Die Tabelle zeigt Kennzahlen des Kreises {region} "
            "aus dem Deutschlandatlas: Kriminalität, Altersstruktur, Arbeitslosigkeit und Mindestsicherung. "
            "Sie beschreiben den ganzen Kreis und beruhen auf der amtlichen Bevölkerungsfortschreibung, nicht "
            "auf den Einwohnerdaten der Kommune. Die Straftaten je 100.000 Einwohner stammen aus einer eigenen "
            "Aufbereitung des Deutschlandatlas und können von der Häufigkeitszahl im Abschnitt zur PKS abweichen.")

    def value(r) -> str:
        decimals = 0 if r["unit"].startswith("je") else 1
        return fmt_num(r["value"], decimals) + (" %" if r["unit"] == "%" else "")

    t = ctx.assign(text=[value(r) for _, r in ctx.iterrows()],
                   unit_text=[("" if u == "%" else u) for u in ctx["unit"]])
    show_table(t, {"label": ("Kennzahl", None), "text": ("Wert", None), "unit_text": ("Einheit", None)},
               caption=f"Kreisdaten {region} (Deutschlandatlas, Gebietsstand 31.12.2022)")
    show_md(f"*Quelle: {ATLAS_SOURCE}.*")


def hz_comparison_rows(result, keys: list[str]) -> pd.DataFrame:
    """The comparison rows of ``keys`` (in that order), every year."""
    h = result.hz_comparison
    if h is None or h.empty:
        return pd.DataFrame()
    h = h[h["key"].isin(keys)].copy()
    h["order"] = h["key"].map({k: i for i, k in enumerate(keys)})
    return h.sort_values(["order", "year"]).drop(columns="order")


def show_hz_comparison(result, keys: list[str], name: str) -> None:
    """The kit's HZ beside the BKA's, with the population bases and why they differ."""
    t = hz_comparison_rows(result, keys)
    if t.empty:
        return
    years = sorted(int(y) for y in t["year"].unique())
    total = t[t["key"] == "000000"]
    base = t.drop_duplicates("year").set_index("year")
    kit_base = base["population_kit"]
    kit_years = sorted({int(y) for y in base["population_kit_year"].dropna()})
    bka_parts = []
    for y, r in base.iterrows():
        how = ("Spalte „EW“ der Tabelle" if r["population_bka_source"] == "EW"
               else "aus Fällen und HZ der Zeile „Straftaten insgesamt“ zurückgerechnet")
        bka_parts.append(f"für {y} die {fmt_int(r['population_bka'])} Einwohner am 31.12.{int(r['population_bka_year'])} "
                         f"({how})")
    residual = (t["hz_kit_on_bka_population"] - t["hz_bka"]).abs() / t["hz_bka"].where(t["hz_bka"] > 0)
    worst = float(residual.max()) * 100 if residual.notna().any() else math.nan
    lead = ""
    if len(total):
        parts = [f"{int(r['year'])}: {fmt_num(r['hz_kit'], 1)} beim Kit, {fmt_num(r['hz_bka'], 1)} beim BKA "
                 f"({fmt_signed(r['difference_pct'] / 100, 1, percent=True)})" for _, r in total.iterrows()]
        lead = f" Für Straftaten insgesamt: {'; '.join(parts)}."
    kit_words = _list_de(sorted({fmt_int(v) for v in kit_base}))
    show_md(
        f"**Häufigkeitszahl des Kits und des BKA.** Die Tabelle stellt für {_list_de([str(y) for y in years])} die HZ, "
        f"die das Kit aus den Fällen und seiner Einwohnerzahl berechnet, neben die HZ, die das BKA für "
        f"{name} veröffentlicht.{lead} Beide teilen dieselben Fälle durch verschiedene Einwohnerzahlen: das Kit durch "
        f"{kit_words} Einwohner am 31.12.{_list_de([str(y) for y in kit_years])} aus der Einwohnertabelle der Kommune "
        "(eine Einwohnerzahl vom Ende des jeweiligen Vorjahres liegt dort nicht vor, deshalb nimmt das Kit das "
        "nächstgelegene Jahr), das BKA durch die amtliche Bevölkerung am Ende des Vorjahres: "
        f"{_list_de(bka_parts)}. Mit der Einwohnerzahl des BKA ergibt die Rechnung des Kits die veröffentlichte HZ "
        f"bis auf deren Rundung (höchstens {fmt_num(worst, 1)} % Abweichung); der Unterschied folgt also allein aus "
        "Bezugszahl und Stichtag der Bevölkerung, nicht aus den Fällen.")
    cols = {"year": ("Jahr", lambda v: str(int(v))), "label": ("Straftat", None), "cases": ("Fälle", fmt_int),
            "hz_kit": ("HZ Kit", 1), "population_kit": ("Einwohner Kit", fmt_int),
            "hz_bka": ("HZ BKA", 1), "population_bka": ("Einwohner BKA", fmt_int),
            "difference_pct": ("Abweichung Kit zu BKA (%)", lambda v: fmt_signed(v, 1))}
    show_table(t, cols, caption=f"Häufigkeitszahl (Fälle je 100.000 Einwohner) von {name}: Kit und BKA")
    show_md(f"*{BKA_SOURCE.format(years='/'.join(str(y) for y in years))}. Einwohner Kit: Einwohnerdaten der Kommune; "
            "Einwohner BKA: Bevölkerung am 31.12. des Vorjahres.*")
