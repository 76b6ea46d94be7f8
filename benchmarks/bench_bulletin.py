"""Bulletin size benchmark: every subscriber copy of a full week must stay under the size at which
Gmail clips a message (`newsletter.letters.MAX_HTML_BYTES`).

A realistic 60-item week is generated in code (French titles and summaries, the five natures,
themes, dispositifs, places, curator's notes and highlights, « aussi publié par », agenda,
« pratiques inspirantes » under the initiatives, actors cited), and
every copy is rendered for a set of profiles: no preference, each département of the région, a
few theme choices. Printed: the largest copy's HTML against the limit and against the same week
rendered with the markup before issue 11 (`baseline_bulletin.html.j2`, kept here only, rendered
in the same run with the inliner settings of the time), and the render time per copy. The demo
site's week (23 items) is measured the same way.
"""

from __future__ import annotations

import random
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from config.dates import french_date, parse_week
from config.loading import load_config
from config.schema import DISPOSITIFS, NATURES, THEMES
from pipeline.agenda import AgendaEntry
from newsletter.bulletin import (Actor, Bulletin, BulletinItem, Elsewhere, Section, _templates, capped, cited_actors,
                                 personalise, summarize)
from newsletter.letters import MAX_HTML_BYTES, html_bytes, largest_copy, render_copy
from pipeline.places import load_gazetteer
from pipeline.urls import is_web_url

ROOT = Path(__file__).resolve().parents[1]
WEEK = "2026-W48"

_SOURCES = ["Sud Ouest", "La Nouvelle République", "Le Populaire du Centre", "Charente Libre",
            "La République des Pyrénées", "DREETS Nouvelle-Aquitaine", "Région Nouvelle-Aquitaine",
            "France Travail Nouvelle-Aquitaine", "Réseau des PLIE de Nouvelle-Aquitaine", "L'Écho", "La Montagne",
            "Sud Ouest Gironde", "France 3 Nouvelle-Aquitaine", "Le Journal du Médoc"]
_TOWNS = {"16": ["Angoulême", "Cognac", "Ruffec"], "17": ["La Rochelle", "Saintes", "Rochefort", "Royan"],
          "19": ["Brive-la-Gaillarde", "Tulle", "Ussel"], "23": ["Guéret", "Aubusson", "La Souterraine"],
          "24": ["Périgueux", "Bergerac", "Sarlat-la-Canéda"], "33": ["Bordeaux", "Lormont", "Libourne", "Mérignac"],
          "40": ["Mont-de-Marsan", "Dax", "Biscarrosse"], "47": ["Agen", "Villeneuve-sur-Lot", "Marmande"],
          "64": ["Pau", "Bayonne", "Oloron-Sainte-Marie"], "79": ["Niort", "Bressuire", "Parthenay"],
          "86": ["Poitiers", "Châtellerault", "Loudun"], "87": ["Limoges", "Saint-Junien", "Bellac"]}
_TITLES = {
    "politique": ["{town} : le conseil départemental vote un nouveau programme d'insertion pour {year}",
                  "Réforme de l'assurance chômage : ce qui change pour les demandeurs d'emploi de {dep}",
                  "Le préfet signe le pacte territorial pour l'insertion et l'emploi de {dep}",
                  "Commission permanente : {n} millions d'euros pour la formation et l'emploi en {dep}",
                  "France Travail : le décret sur l'accompagnement des allocataires du RSA publié"],
    "initiative": ["{town} : la mission locale ouvre un nouvel espace pour les jeunes sans emploi",
                   "À {town}, une entreprise d'insertion relance une recyclerie solidaire",
                   "{town} lance un job dating dans les quartiers prioritaires",
                   "Le PLIE de {town} met en place un accompagnement renforcé vers l'emploi durable",
                   "{town} : un tiers-lieu de l'emploi inauguré en centre-ville"],
    "appel": ["Appel à projets « Inclusion dans l'emploi » : candidatures jusqu'au {day} {month}",
              "FSE+ : la Région ouvre un appel à projets pour l'insertion des jeunes en {dep}",
              "Trophées de l'entreprise inclusive {year} : dépôt des dossiers avant le {day} {month}",
              "AMI « Territoires d'industrie et emploi » : les porteurs de projets ont jusqu'au {day} {month}"],
    "evenement": ["{town} : forum de l'emploi et de l'alternance le {day} {month}",
                  "Salon du recrutement saisonnier à {town} le {day} {month}",
                  "Rencontre des acteurs de l'insertion à {town} le {day} {month}",
                  "Semaine de l'emploi des personnes handicapées : job dating à {town} le {day} {month}"],
    "etude": ["Insee : le taux de chômage recule en {dep} au troisième trimestre",
              "Étude : les jeunes ni en emploi ni en formation plus nombreux dans les zones rurales de {dep}",
              "Baromètre de l'insertion par l'activité économique : le bilan {year} en Nouvelle-Aquitaine",
              "Diagnostic territorial : les métiers en tension dans le bassin de {town}"],
}
_SENTENCES = [
    "Le dispositif s'adresse en priorité aux demandeurs d'emploi de longue durée et aux jeunes sans qualification.",
    "Les élus ont salué un travail mené avec France Travail, la mission locale et les structures d'insertion du territoire.",
    "Une cinquantaine de personnes doivent être accompagnées dès la première année, avec un suivi individuel renforcé.",
    "Les entreprises du secteur peinent toujours à recruter, en particulier dans le bâtiment, la logistique et le soin.",
    "Le financement associe l'État, la Région et le Fonds social européen pour un montant de plusieurs centaines de milliers d'euros.",
    "Les candidatures se font en ligne sur le site de la Région, où le cahier des charges peut être consulté.",
    "Les premiers résultats montrent une hausse des sorties vers l'emploi durable par rapport à l'an dernier.",
    "Les partenaires se retrouveront au printemps pour un premier bilan de l'action et de ses effets sur le territoire.",
]
_NOTES = ["À relayer auprès des structures d'insertion du réseau.", "Date limite proche : à signaler aux porteurs de projets.",
          "Un exemple à suivre pour les autres PLIE de la région.", "Chiffres utiles pour le diagnostic territorial de 2027."]
_MONTHS = ["décembre", "janvier", "février"]


def sample_week(items: int = 60, seed: int = 11, highlights: int = 4, notes: int = 6,
                long_texts: bool = False, week: str = WEEK) -> Bulletin:
    """A plausible issue of `items` items (highlights included), arranged like `bulletin_data` does:
    sections by nature, highlights first, agenda of the calls and events, chart per département.
    `long_texts`: titles, notes and summaries at their longest, for a week far beyond the usual.
    Each initiative has its three « pratiques inspirantes », each item one to three actors (drawn
    apart, so that the items are the same with or without them)."""
    rng, extra = random.Random(seed), random.Random(seed + 1)
    config = _config()
    taxonomy, labels = config.taxonomy, load_gazetteer().region_departements
    monday = parse_week(week)
    weights = {"politique": 12, "initiative": 20, "appel": 8, "evenement": 9, "etude": 7}
    all_items, agenda = [], []
    for n in range(items):
        nature = rng.choices(NATURES, [weights[x] for x in NATURES])[0]
        roll = rng.random()
        departements = ([] if roll < 0.2 else sorted(rng.sample(sorted(labels), 1 if roll < 0.75 else rng.randint(2, 5))))
        dep = departements[0] if departements else rng.choice(sorted(labels))
        day, month = rng.randint(1, 28), rng.choice(_MONTHS)
        title = rng.choice(_TITLES[nature]).format(town=rng.choice(_TOWNS[dep]), dep=labels[dep], year=2027,
                                                   n=rng.randint(2, 40), day=day, month=month)
        text = " ".join(rng.sample(_SENTENCES, 4))
        note = rng.choice(_NOTES) if n < notes else None
        if long_texts:
            title = f"{title} — " + " ".join(rng.sample(_SENTENCES, 2))
            note = " ".join(rng.sample(_SENTENCES, 3))
            text = " ".join(rng.sample(_SENTENCES, 8))
        themes = rng.sample(THEMES, rng.choice([1, 1, 2]))
        dispositifs = rng.sample(DISPOSITIFS, rng.choice([0, 1, 1, 2]))
        slug = "-".join(title.lower().replace("'", " ").split()[:9])
        item = BulletinItem(
            id=n + 1, title=title,
            url=f"https://www.example-{rng.randint(1, 14)}.fr/economie/emploi/{monday.isoformat()}/{slug}-{rng.randint(10**5, 10**6)}.html",
            source=rng.choice(_SOURCES), published=monday + timedelta(days=rng.randint(0, 6)),
            summary=summarize(text), nature=nature,
            themes=[taxonomy.label("themes", t) for t in themes],
            dispositifs=[taxonomy.label("dispositifs", d) for d in dispositifs],
            places=[labels[d] for d in departements],
            highlight=n < highlights, note=note,
            also_published_by=rng.sample(_SOURCES, rng.choice([1, 2])) if rng.random() < 0.2 else [],
            departement_codes=departements, theme_slugs=themes,
            elsewhere=_elsewhere(extra, labels, dep, config.settings.public_url) if nature == "initiative" else [],
            actors=extra.sample(_actors(config.settings.public_url), extra.randint(1, 3)))
        all_items.append(item)
        if nature in ("appel", "evenement"):
            when = date(monday.year + (month != "décembre"), {"décembre": 12, "janvier": 1, "février": 2}[month], day)
            agenda.append(AgendaEntry(when, "Date limite" if nature == "appel" else "Événement", item.id, title, item.url))
    sections = {slug: Section(slug, taxonomy.nature[slug].label) for slug in NATURES}
    for item in all_items:
        if not item.highlight:
            sections[item.nature].items.append(item)
    counts = {code: sum(code in i.departement_codes for i in all_items) for code in sorted(labels)}
    return Bulletin(
        week=week, title=config.settings.bulletin.title,
        period=f"Semaine du {french_date(monday)} au {french_date(monday + timedelta(days=6))}",
        highlights=[i for i in all_items if i.highlight],
        sections=[s for s in sections.values() if s.items],
        archive_url=f"{config.settings.public_url.rstrip('/')}/-/bulletins/bulletin-{week}.html",
        agenda=sorted(agenda, key=lambda e: (e.day, e.item_id)),
        departements=[(labels[code], n) for code, n in counts.items() if n],
        **cited_actors(all_items))


def _elsewhere(rng: random.Random, labels: dict[str, str], dep: str, public_url: str) -> list[Elsewhere]:
    others = [code for code in sorted(labels) if code != dep]
    found = []
    for code in rng.sample(others, 3):
        town = rng.choice(_TOWNS[code])
        title = rng.choice(_TITLES["initiative"]).format(town=town)
        found.append(Elsewhere(title, f"{public_url.rstrip('/')}/-/article/{rng.randint(10**4, 10**6)}",
                               f"{town}, {labels[code]} ({code})", rng.choice(["PLIE", "Missions locales", "IAE"])))
    return found


@lru_cache(maxsize=4)
def _actors(public_url: str) -> list[Actor]:
    """A région's worth of actors: a mission locale and a PLIE per town, and the regional ones."""
    labels = load_gazetteer().region_departements
    named = [(f"Mission locale de {town}", "Mission locale", f"{town} ({code})") for code, towns in _TOWNS.items()
             for town in towns]
    named += [(f"PLIE de {town}", "PLIE", f"{town} ({code})") for code, towns in _TOWNS.items() for town in towns[:1]]
    named += [(f"Conseil départemental de {labels[code]}", "Département", labels[code]) for code in sorted(labels)]
    named += [("Région Nouvelle-Aquitaine", "Région", "Nouvelle-Aquitaine"),
              ("France Travail", "France Travail", None),
              ("DREETS Nouvelle-Aquitaine", "Service de l'État", "Nouvelle-Aquitaine")]
    return [Actor(f"actor-{n}", name, kind, where, f"{public_url.rstrip('/')}/-/acteur/actor-{n}")
            for n, (name, kind, where) in enumerate(named)]


def profiles() -> list[tuple[list[str], list[str]]]:
    """No preference, each département of the région alone, a few theme choices, two mixed."""
    departements = sorted(load_gazetteer().region_departements)
    return ([([], [])] + [([d], []) for d in departements]
            + [([], ["publics"]), ([], ["entreprises", "rse"]), ([], ["gouvernance", "diagnostic-strategie"]),
               (["33", "24"], ["publics"]), (["87", "23", "19"], [])])


@lru_cache(maxsize=1)
def _config():
    return load_config(ROOT / "config")


@lru_cache(maxsize=1)
def _baseline_template():
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent)), autoescape=select_autoescape(["html", "html.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["french_date"] = french_date
    env.filters["web_url"] = lambda url: url if is_web_url(url) else None
    return env.get_template("baseline_bulletin.html.j2")


_BASELINE_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def baseline_copy(bulletin: Bulletin, settings, departements: list[str], themes: list[str],
                  unsubscribe_url: str) -> tuple[str, str]:
    """(HTML, text) of the copy as the markup before issue 11 rendered it (personalised, capped, no
    further fitting); the text part is today's (it hardly changed)."""
    copy = replace(capped(personalise(bulletin, departements, themes, load_gazetteer().region_departements),
                          settings.bulletin.section_cap), unsubscribe_url=unsubscribe_url)
    return (_BASELINE_INLINER.inline(_baseline_template().render(b=copy)),
            _templates().get_template("bulletin.txt.j2").render(b=copy))


def measure(bulletin: Bulletin, settings, people: list[tuple[list[str], list[str]]]) -> dict:
    """Largest copy now and with the old markup (bytes, profile), and seconds per copy for each."""
    unsubscribe = f"{settings.public_url.rstrip('/')}/-/unsubscribe/1234.{'x' * 24}"
    gazetteer = load_gazetteer()
    render_copy(bulletin, settings, [], [], gazetteer, unsubscribe)  # templates compiled before timing
    baseline_copy(bulletin, settings, [], [], unsubscribe)
    started = time.perf_counter()
    for departements, themes in people:
        render_copy(bulletin, settings, departements, themes, gazetteer, unsubscribe)
    new_seconds = (time.perf_counter() - started) / len(people)
    started = time.perf_counter()
    old = [(html_bytes(baseline_copy(bulletin, settings, d, t, unsubscribe)[0]), (d, t)) for d, t in people]
    old_seconds = (time.perf_counter() - started) / len(people)
    return {"new": largest_copy(bulletin, settings, people, gazetteer), "old": max(old, key=lambda o: o[0]),
            "new_seconds": new_seconds, "old_seconds": old_seconds}


def _demo_week():
    """The demo site's articles as one week, tagged (the 23-item week of `make demo`)."""
    from benchmarks.bench_send import archive
    from newsletter.bulletin import bulletin_data
    from pipeline.tagging import tag_items

    config = _config()
    with tempfile.TemporaryDirectory() as tmp:
        db = archive(Path(tmp))
        tag_items(db, config.taxonomy)
        return bulletin_data(db, WEEK, config.settings, config.taxonomy)


def _name(profile: tuple[list[str], list[str]]) -> str:
    labels = load_gazetteer().region_departements
    return " · ".join(filter(None, [", ".join(labels[d] for d in profile[0]), ", ".join(profile[1])])) or "no preference"


def _report(label: str, bulletin: Bulletin, settings, people) -> None:
    figures = measure(bulletin, settings, people)
    (new, new_profile), (old, old_profile) = figures["new"], figures["old"]
    print(f"{label}: {bulletin.count} items, {len(people)} profiles, section_cap {settings.bulletin.section_cap}")
    print(f"  largest copy: {new / 1000:.1f} KB ({_name(new_profile)}) = {new / MAX_HTML_BYTES:.0%} of the "
          f"{MAX_HTML_BYTES / 1000:.0f} KB limit")
    print(f"  baseline, old markup: {old / 1000:.1f} KB ({_name(old_profile)}) = {old / MAX_HTML_BYTES:.0%} of the limit; "
          f"now {new / old:.2f}× the baseline's size")
    print(f"  render per copy (HTML with CSS inlined + text): {figures['new_seconds'] * 1000:.1f} ms, "
          f"baseline {figures['old_seconds'] * 1000:.1f} ms = {figures['new_seconds'] / figures['old_seconds']:.2f}× the baseline's time")


def run() -> None:
    settings = _config().settings
    people = profiles()
    _report("generated week", sample_week(60), settings, people)
    _report("demo week", _demo_week(), settings, people)


if __name__ == "__main__":
    run()
