"""Place matching and disambiguation, case by case (the development set measures the whole)."""

from __future__ import annotations

import pytest

from pipeline.places import load_gazetteer, match_text, name_variants, tag_places


def places(text):
    tags = tag_places(text)
    return tags.departements, tags.communes


@pytest.mark.parametrize("text, departements, communes", [
    ("Forum à Mont-de-Marsan.", ["40"], ["40192"]),
    ("Forum à Mont de Marsan.", ["40"], ["40192"]),                   # spaces for hyphens
    ("Forum à MONT-DE-MARSAN.", ["40"], ["40192"]),                   # capitals
    ("Forum à Gueret.", ["23"], ["23096"]),                           # no accent
    ("Permanence à St-Junien et à Ste-Foy-la-Grande.", ["33", "87"], ["33402", "87154"]),
    ("Le PLIE d’Angoulême recrute.", ["16"], ["16015"]),             # typographic elision
    ("Conseil départemental de la Haute-Vienne.", ["87"], []),        # "Vienne" is glued
    ("Les entreprises de Charente-Maritime.", ["17"], []),            # "Charente" is glued
    ("Une entreprise de Saint-Martin-d'Hères.", [], []),              # a name inside a longer one
])
def test_spellings_and_boundaries(text, departements, communes):
    assert places(text) == (departements, communes)


def test_old_name_of_a_merged_commune_gives_todays_commune():
    gazetteer = load_gazetteer()
    alias, code = next((a, code) for code, c in gazetteer.communes.items() for a in c["aliases"] if len(a) > 8)
    assert code in tag_places(f"Un chantier d'insertion à {alias}.").communes


@pytest.mark.parametrize("text, departements, communes", [
    ("Les bonnes pratiques du PLIE.", [], []),                        # a common word
    ("Un emploi à Bonnes (86) pour Anaïs, 24 ans.", ["86"], ["86031"]),
    ("Anaïs a été embauchée en CDI.", [], []),                        # a first name
    ("La crise creuse les écarts ; les landes brûlent ; un lot de vêtements.", [], []),
    ("Dans la Creuse et les Landes, le chômage baisse.", ["23", "40"], []),
    ("Le PLIE, avenue de Limoges à Poitiers.", ["86"], ["86194"]),    # a street is not a place
    ("M. Pons, maire de Saintes, et Mme Balzac.", ["17"], ["17415"]),  # people are not places
])
def test_words_streets_and_people(text, departements, communes):
    assert places(text) == (departements, communes)


@pytest.mark.parametrize("text, outside, departements", [
    ("À Vienne, en Isère, un forum de l'emploi.", True, []),
    ("Dans la Vienne, un forum de l'emploi.", False, ["86"]),
    ("Le Lot et Cahors misent sur l'insertion.", True, []),
    ("À Bruges, en Belgique, un échange de jeunes.", True, []),
    ("Valence accueille le salon de l'emploi de la Drôme.", True, []),
    ("La mission locale de Nevers et celle de Meaux.", True, []),
    ("Un décret du ministère du Travail s'applique en France.", False, []),
])
def test_inside_or_outside(text, outside, departements):
    tags = tag_places(text)
    assert (tags.outside, tags.departements) == (outside, departements)
    assert not tags.communes if outside else True


def test_homonyms_resolved_by_code_postcode_and_context():
    assert tag_places("Mérignac (16) : un chantier d'insertion.").communes == ["16216"]
    assert tag_places("33700 Mérignac : un salon des métiers.").communes == ["33281"]
    # A commune inside an EPCI's name is named (the press corpus's convention): Bordeaux Métropole names Bordeaux.
    assert tag_places("Bordeaux Métropole et Mérignac signent un pacte.").communes == ["33063", "33281"]


def test_commune_implies_departement_and_epci_and_evidence_points_into_the_text():
    text = "Titre\n\nLe forum de Guéret (23) réunit la mission locale et Grand Poitiers."
    tags = tag_places(text)
    gazetteer = load_gazetteer()
    assert tags.communes == ["23096", "86194"] and tags.departements == ["23", "86"]  # Grand Poitiers names Poitiers
    assert gazetteer.communes["23096"]["epci"] in tags.epci and len(tags.epci) == 2
    assert tags.region_na and not tags.outside
    for evidence in tags.evidence:
        assert text[evidence["start"]:evidence["start"] + len(evidence["match"])] == evidence["match"]


def test_region_alone():
    tags = tag_places("La Nouvelle-Aquitaine vote son schéma régional.")
    assert tags.region_na and tags.departements == [] and tags.evidence[0]["facet"] == "region"


def test_name_variants_and_match_text_agree_on_offsets():
    assert " saint-jean-d angely " in name_variants("Saint-Jean-d'Angély")
    assert " st jean d angely " in name_variants("Saint-Jean-d'Angély")
    text = "À Saint-Jean-d’Angély, le forum."
    assert len(match_text(text)) == len(text) + 2


def test_a_first_name_makes_the_next_word_a_surname():
    tags = tag_places("« Nous recrutons », explique Alain Rousset ; Marie Lagrange, maire de Lagrange (40).")
    assert tags.communes == ["40140"] and not tags.outside
    assert [e["match"] for e in tags.evidence] == ["Lagrange"]
