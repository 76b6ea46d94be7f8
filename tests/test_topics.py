"""The topic tagger's notation and scoring, on small taxonomies built in the test."""

from __future__ import annotations

import pytest

from pipeline.topics import _anchors, compile_taxonomy, expand_keyword
from config.schema import DISPOSITIFS, NATURES, THEMES, Taxonomy, TaxonomyEntry


def taxonomy(**entries) -> Taxonomy:
    """A taxonomy where every slug exists; `entries` maps "facet.slug" to TaxonomyEntry fields."""
    data = {facet: {slug: {"label": slug} for slug in slugs}
            for facet, slugs in (("nature", NATURES), ("themes", THEMES), ("dispositifs", DISPOSITIFS))}
    for key, fields in entries.items():
        facet, slug = key.split(".")
        data[facet][slug].update(fields)
    return Taxonomy.model_validate(data)


def test_expand_keyword():
    assert sorted(expand_keyword("appel[s] à projet[s]")) == [
        ("appel à projet", False), ("appel à projets", False), ("appels à projet", False), ("appels à projets", False)]
    assert expand_keyword("recrut*") == [("recrut", True)]
    assert sorted(expand_keyword("aller-vers")) == [("aller vers", False), ("aller-vers", False)]


def test_acronyms_capitals_dots_and_title_case():
    matcher = compile_taxonomy(taxonomy(**{"dispositifs.plie": {"keywords": ["PLIE"]},
                                           "dispositifs.iae": {"keywords": ["SIAE"]}}))
    assert matcher.tag("", "Le PLIE recrute.").dispositifs == ["plie"]
    assert matcher.tag("", "Le P.L.I.E. recrute.").dispositifs == ["plie"]
    assert matcher.tag("", "Le Plie de Bordeaux recrute.").dispositifs == ["plie"]  # the press's title case
    assert matcher.tag("", "Il plie bagage. Plie-toi aux règles.").dispositifs == []
    assert matcher.tag("", "Les S.I.A.E. du département.").dispositifs == ["iae"]


def test_prefix_accents_and_whole_words():
    matcher = compile_taxonomy(taxonomy(**{"themes.entreprises": {"keywords": ["recrut*"], "min_score": 1}}))
    assert matcher.tag("", "Les employeurs recrutent.").themes == ["entreprises"]
    assert matcher.tag("", "Le RECRUTEMENT reprend.").themes == ["entreprises"]
    assert matcher.tag("", "Un surrecrutement ?").themes == []  # a word start, not inside a word


def test_exclusions_cancel_the_matches_they_cover():
    matcher = compile_taxonomy(taxonomy(**{"nature.etude": {"keywords": ["rapport*"], "exclude": ["par rapport"]}}))
    assert matcher.tag("", "Un rapport de la Cour.").nature == "etude"
    assert matcher.tag("", "En hausse par rapport à 2025.").nature == "initiative"


def test_theme_threshold_title_weight_and_strong_keywords():
    matcher = compile_taxonomy(taxonomy(**{"themes.publics": {"keywords": ["jeunes"],
                                                              "strong_keywords": ["aller-vers"]}}))
    assert matcher.tag("", "Des jeunes au forum.").themes == []                  # 1 < 2
    assert matcher.tag("Les jeunes d'abord", "Un forum.").themes == ["publics"]  # title counts 3
    assert matcher.tag("", "Des jeunes ; les jeunes encore.").themes == ["publics"]
    assert matcher.tag("", "Une démarche d'aller vers.").themes == ["publics"]    # strong counts 2
    tags = matcher.tag("Les jeunes d'abord", "Un forum.")
    assert tags.evidence == [{"facet": "themes", "value": "publics", "match": "jeunes", "start": 4}]


def test_nature_is_one_best_cue_else_initiative():
    matcher = compile_taxonomy(taxonomy(**{"nature.appel": {"keywords": ["appel[s] à projet[s]"]},
                                           "nature.evenement": {"keywords": ["forum"]}}))
    assert matcher.tag("Forum de l'emploi", "Un appel à projets est aussi ouvert.").nature == "evenement"
    assert matcher.tag("Appel à projets", "Présenté au forum.").nature == "appel"
    assert matcher.tag("", "Une entreprise ouvre.").nature == "initiative"


def test_regex_patterns_are_prefiltered_by_their_anchors():
    # A word the pattern bounds (a space or \b) is a key between spaces or hyphens (the matching text
    # keeps hyphens); a word bounded on one side only is a key on that side; else it may be inside a word.
    assert _anchors(r"\bforum\b") == (" forum ", " forum-", "-forum ", "-forum-")
    assert _anchors(r"le (1er|\d{1,2}) (janvier|mars)\b") == (
        " janvier ", " janvier-", "-janvier ", "-janvier-", " mars ", " mars-", "-mars ", "-mars-")
    assert _anchors(r"\bforum\w*") == (" forum", "-forum")
    assert _anchors(r"recrut\w+") == ("recrut",)
    assert _anchors(r"x|y") is None
    matcher = compile_taxonomy(taxonomy(**{"nature.evenement": {
        "patterns": [r"\ble (1er|\d{1,2}) (janvier|fevrier|mars)\b"]}}))
    assert matcher.tag("Rencontre le 4 mars", "").nature == "evenement"
    assert matcher.tag("Rencontres le 4 mars-avril", "").nature == "evenement"  # a hyphen after the anchor
    assert matcher.tag("Rencontre", "").nature == "initiative"
    matcher = compile_taxonomy(taxonomy(**{"nature.appel": {"patterns": [r"\bavant le (1er|\d{1,2}) mars\b"]}}))
    assert matcher.tag("Dossiers à déposer ci-avant le 3 mars", "").nature == "appel"  # after a hyphen
    assert matcher.tag("Dossiers à déposer auparavant le 3 mars", "").nature == "initiative"  # inside a word


@pytest.mark.parametrize("keyword", ["appel[s à projets", "rec*rut"])
def test_badly_written_keywords_are_refused(keyword):
    with pytest.raises(ValueError):
        TaxonomyEntry(label="x", keywords=[keyword])


def test_programme_names_written_with_hyphens():
    matcher = compile_taxonomy(taxonomy(**{"dispositifs.france-travail": {"keywords": ["Pôle emploi"],
                                                                           "exclude": ["selon Pôle emploi"]},
                                           "dispositifs.iae": {"keywords": ["chantier[s] école"]},
                                           "nature.evenement": {"keywords": ["portes ouvertes"]}}))
    assert matcher.tag("", "Pôle-Emploi ouvre une agence.").dispositifs == ["france-travail"]
    assert matcher.tag("", "Deux chantiers-école à Tulle.").dispositifs == ["iae"]
    assert matcher.tag("", "Selon Pôle-Emploi, le chômage baisse.").dispositifs == []
    # Only programme names: a nature's phrase is not hyphenated ("portes-ouvertes" is listed when wanted).
    assert matcher.tag("", "Des portes-ouvertes.").scores == {}


def test_the_projects_themes_read_the_field_not_a_programmes_name():
    from config.loading import load_taxonomy
    from tests.conftest import ROOT

    matcher = compile_taxonomy(load_taxonomy(ROOT / "config" / "taxonomy.yaml"))
    named = matcher.tag("Territoires zéro chômeur de longue durée : une huitième commune candidate",
                        "Le conseil municipal a voté la candidature au dispositif Territoires zéro chômeur de longue "
                        "durée ; le dossier part à Paris.")
    assert "publics" not in named.themes and "tzcld" in named.dispositifs
    public = matcher.tag("Des chômeurs de longue durée reprennent le chemin de l'emploi",
                         "Douze chômeurs de longue durée sont accompagnés par l'association.")
    assert "publics" in public.themes
    engaged = matcher.tag("À Périgueux, des entreprises s'engagent pour l'insertion",
                          "Dix employeurs signent une charte d'engagement des entreprises du bassin.")
    assert "rse" in engaged.themes


def test_the_projects_words_in_another_sense():
    """Issue 14, seen on real press: a programme's name, an association's legal form, a survey's author
    are no cue of what the words mean elsewhere."""
    from config.loading import load_taxonomy
    from tests.conftest import ROOT

    matcher = compile_taxonomy(load_taxonomy(ROOT / "config" / "taxonomy.yaml"))
    candidates = matcher.tag("Deux candidats au dispositif Territoires zéro chômeurs",
                             "Deux territoires zéro chômeurs se portent candidats ; la commune et ses "
                             "partenaires montent le projet d'entreprise à but d'emploi.")
    assert ("nature", "etude") not in candidates.scores  # « chômeurs » of the programme's name
    circular = matcher.tag("Une recyclerie ouvre ses portes",
                           "L'association loi 1901 mise sur l'économie circulaire et embauche six salariés.")
    assert ("nature", "politique") not in circular.scores
    survey = matcher.tag("Besoins en main-d'œuvre : 12 000 projets en Corrèze",
                         "Selon l'enquête BMO de France Travail, les employeurs prévoient 12 000 recrutements. "
                         "France Travail a publié les chiffres par bassin.")
    assert "france-travail" not in survey.dispositifs  # the survey's author, a source of figures
    at_work = matcher.tag("France Travail ouvre une agence à Ussel", "L'agence accueillera les demandeurs d'emploi.")
    assert "france-travail" in at_work.dispositifs
    assises = matcher.tag("Premières Assises de l'insertion dans la Vienne",
                          "150 personnes étaient réunies au CREPS pour ces assises.")
    assert assises.nature == "evenement"
    # « projet » of another nature's cue is no local project.
    call = matcher.tag("Appel à projet pour l'inclusion", "Les porteurs de projet ont jusqu'au 30 avril.")
    assert call.nature == "appel" and ("nature", "initiative") not in call.scores
    bill = matcher.tag("Le projet de loi pour le plein emploi au Sénat", "Les sénateurs examinent le texte.")
    assert bill.nature == "politique" and ("nature", "initiative") not in bill.scores


def test_an_insertion_workshop_is_iae():
    from config.loading import load_taxonomy
    from tests.conftest import ROOT

    matcher = compile_taxonomy(load_taxonomy(ROOT / "config" / "taxonomy.yaml"))
    workshop = matcher.tag("Un atelier d'insertion ouvre à Mugron", "Huit salariés y réparent des vélos.")
    assert workshop.dispositifs == ["iae"]  # « atelier d'insertion », the short name of an ACI


def test_the_press_names_of_iae_are_iae():
    from config.loading import load_taxonomy
    from tests.conftest import ROOT

    matcher = compile_taxonomy(load_taxonomy(ROOT / "config" / "taxonomy.yaml"))
    by_work = matcher.tag("La recyclerie de Melle fête ses dix ans",
                          "L'association fait de l'insertion par le travail depuis 2016.")
    assert by_work.dispositifs == ["iae"]
    contract = matcher.tag("Nouveaux locaux pour l'association", "Douze personnes y sont en CDD d'insertion.")
    assert contract.dispositifs == ["iae"]
    plain = matcher.tag("Insertion professionnelle des jeunes", "Un forum de l'emploi et du travail à Niort.")
    assert plain.dispositifs == []
