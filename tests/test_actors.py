"""Actor extraction (pipeline/actors.py): patterns, variants merged, traps, offsets."""

import pytest

from config.errors import ConfigError
from pipeline.actors import ACTORS, KINDS, ActorMention, actor_documents, extract_actors, load_config, slug
from pipeline.folding import match_text


def actors(text: str, title: str = "") -> list[ActorMention]:
    found = extract_actors(title, text)
    full = f"{title}\n\n{text}"
    for mention in found:
        assert full[mention.start:mention.start + len(mention.match)] == mention.match
        assert mention.kind in KINDS
        assert mention.key == slug(mention.name)
    return found


def names(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(m.name, m.kind, m.departements) for m in actors(text)]


@pytest.mark.parametrize("text, expected", [
    ("Le PLIE des Graves recrute.", ("PLIE des Graves", "plie", ("33",))),
    ("La mission locale du Libournais ouvre une antenne.", ("Mission locale du Libournais", "mission-locale", ("33",))),
    ("L'EBE de Felletin embauche dix salariés.", ("EBE de Felletin", "etcld", ("23",))),
    ("La communauté de communes du Val de Charente vote son budget.",
     ("Communauté de communes Val de Charente", "epci", ("16",))),
    ("Le GEIQ BTP 19 forme des maçons.", ("GEIQ BTP 19", "geiq", ("19",))),
    ("La mairie de Tulle finance le projet.", ("Mairie de Tulle", "communes", ("19",))),
    ("La Ville de Niort lance un appel.", ("Mairie de Niort", "communes", ("79",))),
    ("Le conseil départemental de la Creuse vote le RSA.",
     ("Conseil départemental de la Creuse", "departements", ("23",))),
    ("La Région Nouvelle-Aquitaine soutient la filière.", ("Région Nouvelle-Aquitaine", "regions", ())),
    ("France Travail publie ses chiffres.", ("France Travail", "france-travail", ())),
    ("L'agence France Travail de Guéret organise un forum.",
     ("Agence France Travail de Guéret", "france-travail", ("23",))),
    ("La préfecture de la Vienne réunit le comité.", ("Préfecture de la Vienne", "etat", ("86",))),
    ("L'association Elan accompagne les jeunes.", ("Association Elan", "association", ())),
    ("La Maison de l'emploi de Bayonne ferme.", ("Maison de l'emploi de Bayonne", "maisons-de-l-emploi", ("64",))),
    ("Bordeaux Métropole investit.", ("Bordeaux Métropole", "epci", ("33",))),
])
def test_patterns(text, expected):
    assert names(text)[0] == expected


def test_commune_codes():
    [mention] = actors("L'EBE de Felletin embauche.")
    assert mention.communes == ("23079",)


def test_variants_are_one_actor():
    text = ("Le PLIE des Graves recrute. Le Plie des Graves a dix ans. Le plan local pour l'insertion et "
            "l'emploi des Graves est financé par l'Europe.")
    found = actors(text)
    assert [m.match for m in found] == ["PLIE des Graves", "Plie des Graves",
                                        "plan local pour l'insertion et l'emploi des Graves"]
    assert {m.key for m in found} == {"plie-des-graves"}
    assert {m.name for m in found} == {"PLIE des Graves"}


def test_old_name_is_the_new_actor():
    assert names("Pôle emploi de Guéret organise un forum.") == [
        ("Agence France Travail de Guéret", "france-travail", ("23",))]


def test_bare_mention_refers_to_the_one_named_before():
    found = actors("Le PLIE des Graves signe avec la mission locale du Libournais. Le PLIE suivra 300 personnes.")
    assert [m.key for m in found] == ["plie-des-graves", "mission-locale-du-libournais", "plie-des-graves"]
    assert found[-1].match == "PLIE"


def test_bare_mention_with_two_candidates_is_nothing():
    found = actors("Le PLIE des Graves et le PLIE du Médoc se rapprochent. Le PLIE recrute.")
    assert [m.key for m in found] == ["plie-des-graves", "plie-du-medoc"]


def test_enumeration_gives_one_actor_each():
    found = actors("Les missions locales de Limoges, Guéret et Tulle se regroupent.")
    assert [(m.name, m.departements) for m in found] == [
        ("Mission locale de Limoges", ("87",)), ("Mission locale de Guéret", ("23",)),
        ("Mission locale de Tulle", ("19",))]
    assert [m.match for m in found] == ["missions locales de Limoges", "Guéret", "Tulle"]


def test_enumeration_in_parentheses_and_after_a_number():
    found = actors("Les quatre missions locales (Pau, Bayonne et Mourenx) recrutent.")
    assert [(m.name, m.match) for m in found] == [("Mission locale de Pau", "missions locales (Pau"),
                                                  ("Mission locale de Bayonne", "Bayonne"),
                                                  ("Mission locale de Mourenx", "Mourenx")]
    assert actors("Les 23 PLIE de Nouvelle-Aquitaine se retrouvent à Libourne.") == []


@pytest.mark.parametrize("text", [
    "Les PLIE de la région se réunissent.",                       # a generic plural
    "Le PLIE de Lille et la mission locale de Nantes témoignent.",  # another région
    "Jean-Pierre Plie, cuisinier, témoigne.",                      # a person
    "La mission de l'association est d'aider les jeunes.",         # « la mission » in another sense
    "Elle est partie en mission à Tulle.",
    "Poitiers, préfecture de la Vienne, accueille le salon.",      # the town, not the service
    "Le linge se plie en quatre.",
])
def test_traps_give_nothing(text):
    assert actors(text) == []


def test_actor_documents_gives_first_mentions():
    [document] = actor_documents([("7", "Le PLIE des Graves", "Le PLIE recrute à Cadillac.")])
    assert document == {"id": "7", "actors": [{"name": "PLIE des Graves", "kind": "plie", "match": "PLIE des Graves",
                                                "start": 3, "departements": ["33"]}]}


def test_kinds_are_data_inclusion_networks_or_ours():
    from data_inclusion.schema.v1.reseaux_porteurs import ReseauPorteur

    ours = {"epci", "etat", "entreprise", "association", "reseau", "autre"}
    assert set(KINDS) - ours <= {network.value for network in ReseauPorteur}
    assert ours <= set(KINDS)
    assert all(label and label[0].isupper() for label in KINDS.values())


def test_title_offsets_and_the_body_after_it():
    title, text = "Le GEIQ BTP 19 recrute", "Le GEIQ BTP 19 forme des maçons à Tulle."
    found = extract_actors(title, text)
    full = f"{title}\n\n{text}"
    assert [m.start for m in found] == [3, len(title) + 2 + 3]
    assert all(full[m.start:m.start + len(m.match)] == m.match for m in found)
    assert {m.key for m in found} == {"geiq-btp-19"}


def test_acronym_glued_to_its_name_and_a_shorter_name_merged():
    found = actors("Le GEIQ-BTP recrute. Le GEIQ-BTP Landes cherche vingt maçons à Mont-de-Marsan.")
    assert [(m.match, m.name, m.departements) for m in found] == [
        ("GEIQ-BTP", "GEIQ BTP Landes", ("40",)), ("GEIQ-BTP Landes", "GEIQ BTP Landes", ("40",))]


def test_a_name_is_placed_by_what_follows_it_or_by_the_text():
    assert names("L'association Elan, basée à Guéret, recrute.") == [("Association Elan", "association", ("23",))]
    assert names("L'association Elan (Corrèze) recrute.") == [("Association Elan", "association", ("19",))]
    assert names("L'association Elan recrute des bénévoles à Niort.") == [
        ("Association Elan", "association", ("79",))]
    assert names("L'association Elan recrute à Niort et à Tulle.") == [("Association Elan", "association", ())]
    assert names("L'association Elan recrute à Lille et à Roubaix.") == []  # a text about elsewhere


def test_places_given_by_the_tagger_are_used():
    text = "L'association Elan recrute."
    assert names(text) == [("Association Elan", "association", ())]
    [mention] = extract_actors("", text, places={"departements": ["87"], "outside": False})
    assert mention.departements == ("87",)
    assert extract_actors("", text, places={"departements": [], "outside": True}) == []


def test_the_taggers_folded_text_gives_the_same_actors():
    title = "Le PLIE des Graves et l'association Elan"
    text = ("Les missions locales de Limoges, Guéret et Tulle, l'Agglomération d'Agen, le GEIQ-BTP Landes et "
            "Mme Ville témoignent. L'association Elan, basée à Guéret, recrute. Le PLIE suivra 300 personnes.")
    found = extract_actors(title, text)
    assert len(found) == 9
    assert extract_actors(title, text, words=match_text(f"{title}\n\n{text}")) == found


def test_names_read_before_are_placed_by_each_texts_own_context():
    # Names are kept from text to text (pipeline/actors.py, _Matcher): what surrounds them is read again.
    assert names("L'association Elan, à Guéret, recrute.") == [("Association Elan", "association", ("23",))]
    assert names("L'association Elan recrute.") == [("Association Elan", "association", ())]
    assert extract_actors("", "L'association Elan recrute.", places={"departements": [], "outside": True}) == []
    assert names("L'association Elan (Corrèze) recrute.") == [("Association Elan", "association", ("19",))]
    found = actors("La mission locale de Tulle recrute.") + actors("Hier, la mission locale de Tulle a ouvert.")
    assert [(m.name, m.match, m.start) for m in found] == [
        ("Mission locale de Tulle", "mission locale de Tulle", 5),
        ("Mission locale de Tulle", "mission locale de Tulle", 11)]
    assert names("Le PLIE de Lille recrute.") == [] and names("Le PLIE de Lille recrute.") == []


def test_an_old_or_short_commune_name_gives_the_communes_name():
    assert names("La mission locale de Sarlat recrute.") == [
        ("Mission locale de Sarlat-la-Canéda", "mission-locale", ("24",))]


def test_intercommunalities_by_their_usual_names():
    assert [m.name for m in actors("L'Agglomération d'Agen, Grand Cognac et l'Agglo2B signent.")] == [
        "Agglomération d'Agen", "Grand Cognac", "Communauté d'agglomération du Bocage Bressuirais"]
    assert names("Le CIAS de Rochefort Océan recrute.") == [("CIAS de Rochefort Océan", "ccas-cias", ("17",))]


def test_a_departement_service_without_its_place_is_the_texts_departement():
    assert names("En Creuse, le Département et la DDETS signent un pacte.") == [
        ("Conseil départemental de la Creuse", "departements", ("23",)), ("DDETS de la Creuse", "etat", ("23",))]
    assert names("Le Département et la DDETS signent un pacte.") == []


def test_a_name_written_in_capitals_is_read_as_a_name():
    assert names("Le PLIE ESPACE TECHNOWEST et le PLIE DES GRAVES se rencontrent à Mérignac.")[:2] == [
        ("PLIE Espace Technowest", "plie", ("33",)), ("PLIE des Graves", "plie", ("33",))]


def test_former_regions():
    assert names("La Région Poitou-Charentes finançait le projet.") == [
        ("Région Nouvelle-Aquitaine", "regions", ())]
    assert names("La MSA du Limousin ouvre une permanence.") == [
        ("MSA Limousin", "mutualite-sociale-agricole", ())]
    assert names("La Région Occitanie finance le projet.") == []


@pytest.mark.parametrize("text", [
    "Les PLIE de Gironde se réunissent.",                 # a plural over a département
    "Les missions locales de Nouvelle-Aquitaine votent.",
    "Mme Ville, de Niort, a reçu la médaille.",           # a civility
    "La ville de Niort compte 60 000 habitants.",         # the town, not its council
    "L'association des parents d'élèves de Tulle vote.",  # no name
    "Les salariés de l'usine plient bagage.",
])
def test_more_traps(text):
    assert actors(text) == []


def test_a_bad_networks_file_is_refused_in_french(tmp_path):
    path = tmp_path / "actors.yaml"
    path.write_text(ACTORS.read_text(encoding="utf-8").replace("- kind: geiq\n", "- kind: geiqq\n"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="type inconnu « geiqq »"):
        load_config(path)
    assert load_config()["kinds"] == KINDS
