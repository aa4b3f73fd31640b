"""Generate the TAMURI example data: applications, reviewers and reviews.

TAMURI (Morocco, 2022) received about 2,400 applications from civil-society
organisations in five regions. This script writes a synthetic but realistic
export of that call next to itself, deterministically (seed 2022):

- ``applications.csv``: 2,400 applications with French headers, messy region and
  domain spellings (all of them canonical names or aliases of ``program.yaml``,
  modulo case, accents and punctuation), French, Arabic and English texts;
- ``reviewers.csv``: 40 reviewers with capacity, expertise and conflicts;
- ``reviews.csv``: scores 1-5 on the rubric's reviewer criteria, for the
  applications that pass the eligibility gates of ``rubrics/tamuri.yaml``.

Behind the export sits a hidden truth: one latent quality per application
(modestly correlated with the organisation's age and membership), read through
reviewers who each have a severity and a noise level. The texts are assembled
from phrase banks whose content follows the domain and the latent quality, so
a text classifier has something to learn.

The script uses numpy and pandas only (it does not import ``selection``), so the
data stay independent of the engine they exercise.

Usage::

    python examples/tamuri/generate.py           # (re)write the three CSV files
    python examples/tamuri/generate.py --check   # exit 1 if they differ from a regeneration
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SEED = 2022
CALL_YEAR = 2022
CALL_OPENS = np.datetime64("2022-03-01")
CALL_DAYS = 46  # 2022-03-01 ... 2022-04-15 inclusive

N_APPLICATIONS = 2400
N_NEAR_DUPLICATES = 12  # same organisation, same project, a few words changed
N_REPEAT_ORGANISATIONS = 6  # organisations that apply twice with different projects

# Rates of the export's imperfections (shares of applications).
SHARE_EMPTY_DOMAIN = 0.03
SHARE_EMPTY_SUMMARY = 0.01
SHARE_AMOUNT_OUT_OF_BOUNDS = 0.04
SHARE_TOO_YOUNG = 0.06
# Incomplete files are the main reason for ineligibility in real calls; at
# about 22 %, together with the other gates, some 60 % of applications are
# eligible (about 1,500); with 5 % incomplete files it would be about 75 %.
SHARE_INCOMPLETE = 0.22

APPLICATION_COLUMNS = [
    "N° dossier", "Organisation", "Région", "Domaine", "Montant demandé",
    "Titre du projet", "Résumé", "Année de création", "Statut juridique",
    "Nombre de membres", "Dirigée par une femme", "Dirigée par des jeunes",
    "Dossier complet", "Date de dépôt", "Langue",
]

# ---------------------------------------------------------------------------
# Programme facts: regions, domains, legal statuses
# ---------------------------------------------------------------------------

# canonical name -> expected number of applications (the five programme
# regions first, then regions outside the programme).
PROGRAMME_REGIONS = {
    "Casablanca-Settat": 750,
    "Tanger-Tétouan-Al Hoceïma": 500,
    "Souss-Massa": 450,
    "L'Oriental": 300,
    "Béni Mellal-Khénifra": 250,
}
OUTSIDE_REGIONS = {
    "Rabat-Salé-Kénitra": 45,
    "Marrakech-Safi": 40,
    "Fès-Meknès": 30,
    "Drâa-Tafilalet": 18,
    "Guelmim-Oued Noun": 7,
    "Laâyoune-Sakia El Hamra": 6,
    "Dakhla-Oued Ed-Dahab": 4,
}
REGIONS = {**PROGRAMME_REGIONS, **OUTSIDE_REGIONS}
SHARE_CANONICAL_REGION = 0.70

# How applicants actually typed the region. Every spelling is a canonical name
# or an alias of program.yaml up to case, accents, punctuation and spaces.
REGION_VARIANTS = {
    "Casablanca-Settat": [
        "Casablanca Settat", "casablanca-settat", "CASABLANCA-SETTAT", "Casa-Settat",
        "Grand Casablanca", "Casablanca", "casablanca settat ",
    ],
    "Tanger-Tétouan-Al Hoceïma": [
        "Tanger-Tetouan-Al Hoceima", "tanger-tetouan-al hoceima", "TANGER TÉTOUAN AL HOCEÏMA",
        "Tanger Tétouan Al Hoceima", "TTA", "Tanger-Tetouan", "Tanger - Tétouan - Al Hoceïma",
    ],
    "L'Oriental": [
        "Oriental", "l'oriental", "L’Oriental", "L'ORIENTAL", "Région de l'Oriental", "Oujda",
        "l oriental",
    ],
    "Souss-Massa": [
        "Souss Massa", "souss-massa", "SOUSS-MASSA", "Souss Massa Draa", "Agadir", "Souss-Massa ",
    ],
    "Béni Mellal-Khénifra": [
        "Beni Mellal-Khenifra", "béni mellal-khénifra", "BENI MELLAL KHENIFRA", "Beni Mellal",
        "BMK", "Tadla-Azilal", "Béni-Mellal-Khénifra",
    ],
    "Rabat-Salé-Kénitra": ["Rabat", "RSK", "rabat-salé-kénitra", "Rabat Sale Kenitra"],
    "Marrakech-Safi": ["Marrakech", "marrakech safi", "MARRAKECH-SAFI"],
    "Fès-Meknès": ["Fes", "Meknès", "Fès Meknès", "FES-MEKNES"],
    "Drâa-Tafilalet": ["Errachidia", "Draa-Tafilalet", "draa tafilalet"],
    "Guelmim-Oued Noun": ["Guelmim Oued Noun", "guelmim-oued noun"],
    "Laâyoune-Sakia El Hamra": ["Laayoune-Sakia El Hamra", "Laâyoune Sakia El Hamra"],
    "Dakhla-Oued Ed-Dahab": ["Dakhla-Oued Ed Dahab", "dakhla oued ed-dahab"],
}
# Arabic aliases, used mostly by applicants who wrote in Arabic.
REGION_ARABIC = {
    "Casablanca-Settat": "الدار البيضاء سطات",
    "Tanger-Tétouan-Al Hoceïma": "طنجة تطوان الحسيمة",
    "L'Oriental": "الشرق",
    "Souss-Massa": "سوس ماسة",
    "Béni Mellal-Khénifra": "بني ملال خنيفرة",
}

TOWNS = {
    "Casablanca-Settat": [
        "Casablanca", "Mohammedia", "El Jadida", "Settat", "Berrechid", "Benslimane",
        "Sidi Bennour", "Médiouna", "Bouskoura", "Azemmour", "Sidi Moumen", "Hay Mohammadi",
    ],
    "Tanger-Tétouan-Al Hoceïma": [
        "Tanger", "Tétouan", "Al Hoceïma", "Chefchaouen", "Larache", "Ksar El Kébir",
        "Asilah", "Fnideq", "M'diq", "Ouazzane", "Imzouren", "Targuist",
    ],
    "L'Oriental": [
        "Oujda", "Nador", "Berkane", "Taourirt", "Jerada", "Figuig", "Bouarfa", "Driouch",
        "Guercif", "Zaïo", "Ahfir", "Bni Drar",
    ],
    "Souss-Massa": [
        "Agadir", "Inezgane", "Aït Melloul", "Taroudant", "Tiznit", "Biougra", "Tata",
        "Tafraout", "Ouled Teima", "Aït Baha", "Massa", "Taliouine",
    ],
    "Béni Mellal-Khénifra": [
        "Béni Mellal", "Khénifra", "Khouribga", "Fquih Ben Salah", "Azilal", "Kasba Tadla",
        "Oued Zem", "Demnate", "Souk Sebt", "Boujad", "M'rirt", "Ouaouizeght",
    ],
    "Rabat-Salé-Kénitra": ["Rabat", "Salé", "Kénitra", "Témara", "Khémisset"],
    "Marrakech-Safi": ["Marrakech", "Safi", "Essaouira", "El Kelâa des Sraghna"],
    "Fès-Meknès": ["Fès", "Meknès", "Ifrane", "Taza", "Sefrou"],
    "Drâa-Tafilalet": ["Errachidia", "Ouarzazate", "Zagora", "Tinghir"],
    "Guelmim-Oued Noun": ["Guelmim", "Sidi Ifni"],
    "Laâyoune-Sakia El Hamra": ["Laâyoune", "Boujdour"],
    "Dakhla-Oued Ed-Dahab": ["Dakhla"],
}
TOWNS_ARABIC = {
    "Casablanca-Settat": ["الدار البيضاء", "المحمدية", "الجديدة", "سطات", "برشيد", "بنسليمان"],
    "Tanger-Tétouan-Al Hoceïma": ["طنجة", "تطوان", "الحسيمة", "شفشاون", "العرائش", "وزان"],
    "L'Oriental": ["وجدة", "الناظور", "بركان", "تاوريرت", "جرادة", "فجيج"],
    "Souss-Massa": ["أكادير", "إنزكان", "تارودانت", "تيزنيت", "طاطا", "أيت ملول"],
    "Béni Mellal-Khénifra": ["بني ملال", "خنيفرة", "خريبكة", "أزيلال", "الفقيه بن صالح", "قصبة تادلة"],
    "Rabat-Salé-Kénitra": ["الرباط", "سلا", "القنيطرة"],
    "Marrakech-Safi": ["مراكش", "آسفي", "الصويرة"],
    "Fès-Meknès": ["فاس", "مكناس", "إفران"],
    "Drâa-Tafilalet": ["الراشيدية", "ورزازات", "زاكورة"],
    "Guelmim-Oued Noun": ["كلميم"],
    "Laâyoune-Sakia El Hamra": ["العيون"],
    "Dakhla-Oued Ed-Dahab": ["الداخلة"],
}

# canonical domain -> (weight, capitalised form, variant spellings by language)
DOMAINS = {
    "santé": (18, "Santé", {"fr": ["sante", "Sante", "SANTÉ"], "en": ["health"], "ar": ["الصحة"]}),
    "éducation": (21, "Éducation", {
        "fr": ["education", "Education", "enseignement", "Enseignement"], "en": ["education"],
        "ar": ["التعليم"]}),
    "environnement": (16, "Environnement", {
        "fr": ["ENVIRONNEMENT", "environnement "], "en": ["environment"], "ar": ["البيئة"]}),
    "droits humains": (15, "Droits humains", {
        "fr": ["droits de l'homme", "Droits de l'Homme", "Droits Humains"],
        "en": ["human rights"], "ar": ["حقوق الإنسان"]}),
    "culture": (9, "Culture", {"fr": ["arts et culture", "Arts et culture"], "en": ["culture"],
                               "ar": ["الثقافة"]}),
    "inclusion économique": (12, "Inclusion économique", {
        "fr": ["économie sociale", "Economie sociale", "AGR", "inclusion economique"],
        "en": ["economic inclusion"], "ar": ["AGR"]}),
    "jeunesse et sport": (9, "Jeunesse et sport", {
        "fr": ["jeunesse", "Jeunesse", "sport"], "en": ["youth"], "ar": ["jeunesse"]}),
}
DOMAIN_SPELLING_SHARES = (0.45, 0.30, 0.25)  # canonical, capitalised, variant

LEGAL_STATUSES = {  # status -> share of applications
    "Association": 0.84,
    "Coopérative": 0.06,
    "Fondation": 0.03,
    "Réseau d'associations": 0.02,
    "Entreprise": 0.025,
    "Groupement informel": 0.025,
}
COOPERATIVE_DOMAINS = {"inclusion économique": 0.6, "environnement": 0.2, "culture": 0.2}
ELIGIBLE_STATUSES = ("Association", "Coopérative", "Fondation", "Réseau d'associations")

LANGUAGES = {"fr": 0.85, "ar": 0.10, "en": 0.05}

# Requested amounts (MAD): round figures, many at the ceiling.
AMOUNTS_IN_BOUNDS = {
    20000: 5, 25000: 4, 30000: 8, 35000: 4, 40000: 7, 45000: 3, 50000: 12, 55000: 2,
    60000: 6, 65000: 2, 70000: 5, 75000: 4, 80000: 7, 85000: 2, 90000: 4, 95000: 2,
    100000: 13,
}
AMOUNTS_OUT_OF_BOUNDS = {
    10000: 2, 15000: 3, 18000: 1, 110000: 1, 120000: 3, 150000: 4, 200000: 2, 250000: 2,
    500000: 1,
}
SHARE_ODD_THOUSANDS = 0.08  # amounts like 37,000 or 64,000

# ---------------------------------------------------------------------------
# Organisation names
# ---------------------------------------------------------------------------

NAMES_FR = [
    "Amal", "Nour", "Al Amal", "Al Khair", "Tifawin", "Ennour", "Assafa", "Al Wafae",
    "Annahda", "Attadamoun", "Al Fajr", "Tilelli", "Tamount", "Izourane", "Tafsut", "Anir",
    "Tighri", "Ajial", "Chourouk", "Al Ihsane", "Al Baraka", "Al Mostakbal", "Ibn Battouta",
    "Zaytouna", "Yasmine", "Tawada", "Afaq", "Assalam", "Al Massira", "Rihane", "Tamaynout",
    "Tiwizi", "Al Hilal", "Al Inara", "Taddart", "Tagmat", "Amoudou", "Warda", "Al Boustane",
    "Ighrem", "Agharas", "Al Ikhlass", "Al Majd", "Al Karama", "Al Mouwatana", "Al Hayat",
    "Bassma", "Ibtissama", "Al Amane", "Achbal", "Tilila", "Al Atlas", "Al Waha", "Annakhil",
    "Al Ghad", "Arrahma", "Al Maghrib Al Akhdar", "Assanabil", "Al Wiam", "Tazzla",
]
NAMES_AR = [
    "الأمل", "النور", "الخير", "التضامن", "الفجر", "الوفاء", "الإحسان", "النخيل", "الأطلس",
    "الواحة", "الشروق", "البركة", "الغد", "الأفق", "المستقبل", "الياسمين", "السلام", "تيفاوين",
    "الأمان", "الإشعاع", "التقدم", "الرجاء", "الصفاء", "النهضة", "أجيال", "تيليلي", "الكرامة",
    "المواطنة", "الحياة", "بسمة",
]
CAUSES_FR = {
    "santé": ["la santé et la solidarité", "la santé communautaire", "l'aide aux malades"],
    "éducation": ["l'éducation et la formation", "le soutien scolaire", "l'alphabétisation"],
    "environnement": ["la protection de l'environnement", "le développement durable",
                      "la sauvegarde de la nature"],
    "droits humains": ["les droits des femmes", "la citoyenneté et les droits humains",
                       "l'accès au droit"],
    "culture": ["la culture et les arts", "la sauvegarde du patrimoine", "le théâtre et la musique"],
    "inclusion économique": ["le développement local", "l'insertion économique",
                             "l'économie sociale et solidaire"],
    "jeunesse et sport": ["la jeunesse et le sport", "les initiatives des jeunes", "le sport pour tous"],
}
CAUSES_AR = {
    "santé": "للصحة والتضامن",
    "éducation": "للتربية والتكوين",
    "environnement": "لحماية البيئة",
    "droits humains": "لحقوق الإنسان والمواطنة",
    "culture": "للثقافة والفنون",
    "inclusion économique": "للتنمية المحلية",
    "jeunesse et sport": "للشباب والرياضة",
}
# Name templates by legal status ({nom}, {ville}, {cause}).
ORGANISATION_TEMPLATES_FR = {
    "Association": [
        "Association {nom} pour le développement",
        "Association {nom} pour le développement et la solidarité",
        "Association {nom} de {ville}",
        "Association {nom} pour {cause}",
        "Association {nom} pour {cause}",
        "Association {nom} pour le développement local de {ville}",
        "Association marocaine {nom} pour {cause}",
        "Association {nom} des jeunes de {ville}",
    ],
    "Coopérative": [
        "Coopérative {nom}", "Coopérative agricole {nom}", "Coopérative féminine {nom}",
        "Coopérative {nom} de {ville}", "Coopérative artisanale {nom}",
        "Coopérative {nom} des produits du terroir",
    ],
    "Fondation": ["Fondation {nom}", "Fondation {nom} pour {cause}", "Fondation {nom} de {ville}"],
    "Réseau d'associations": [
        "Réseau des associations de {ville}", "Réseau {nom} pour {cause}",
        "Réseau associatif de {ville} pour {cause}",
    ],
    "Entreprise": ["{nom} SARL", "{nom} Conseil SARL", "Société {nom} Services SARLAU", "{nom} Events SARL"],
    "Groupement informel": [
        "Collectif des jeunes de {ville}", "Groupe {nom}", "Initiative citoyenne {nom}",
        "Collectif {nom} de {ville}",
    ],
}
WOMEN_ASSOCIATION_TEMPLATES_FR = [
    "Association des femmes de {ville}", "Association {nom} des femmes de {ville}",
    "Association féminine {nom} pour {cause}",
]
ORGANISATION_TEMPLATES_AR = {
    "Association": [
        "جمعية {nom} للتنمية", "جمعية {nom} للتنمية ب{ville}", "جمعية {nom} {cause}",
        "جمعية {nom} {cause} ب{ville}", "جمعية شباب {ville} للتنمية",
    ],
    "Coopérative": ["تعاونية {nom}", "تعاونية {nom} النسوية", "تعاونية {nom} الفلاحية"],
    "Fondation": ["مؤسسة {nom}", "مؤسسة {nom} {cause}"],
    "Réseau d'associations": ["شبكة جمعيات {ville}", "شبكة {nom} {cause}"],
    "Entreprise": ["شركة {nom} ش.م.م"],
    "Groupement informel": ["مجموعة شباب {ville}", "مبادرة {nom}"],
}
WOMEN_ASSOCIATION_TEMPLATES_AR = ["جمعية نساء {ville}", "جمعية {nom} للمرأة القروية"]

# ---------------------------------------------------------------------------
# Project texts: titles and summaries by language, domain and quality
# ---------------------------------------------------------------------------
# Placeholders: {ville} town, {n} head count, {p} percentage, {an} year of a
# study, {k} small count, {km} distance, {m} amount, {mois} duration,
# {partenaire} a public partner of the domain.

PARTNERS_FR = {
    "santé": ["la délégation provinciale de la santé", "le centre de santé communal",
              "l'hôpital provincial"],
    "éducation": ["la direction provinciale de l'éducation nationale", "l'AREF",
                  "les écoles du secteur"],
    "environnement": ["l'Agence du bassin hydraulique", "la direction régionale des eaux et forêts",
                      "la commune"],
    "droits humains": ["la commission régionale des droits de l'Homme",
                       "le tribunal de première instance", "la cellule de prise en charge des femmes"],
    "culture": ["la direction régionale de la culture", "la maison de la culture"],
    "inclusion économique": ["l'INDH", "l'ANAPEC", "l'Office du développement de la coopération"],
    "jeunesse et sport": ["la direction régionale de la jeunesse et des sports", "la maison de jeunes",
                          "la ligue régionale de football"],
}

TEXTS = {
    "fr": {
        "santé": {
            "titles": [
                "Caravane médicale au profit des douars de {ville}",
                "Sensibilisation à la santé maternelle et infantile à {ville}",
                "Dépistage précoce du diabète et de l'hypertension à {ville}",
                "Unité mobile de soins de proximité pour le monde rural",
                "Centre d'écoute en santé mentale pour les jeunes de {ville}",
                "Accès aux soins des enfants en situation de handicap",
                "Prévention des maladies chroniques chez les femmes de {ville}",
                "Éducation nutritionnelle et lutte contre l'anémie chez les enfants",
            ],
            "need_high": [
                "Un diagnostic mené en {an} avec la délégation provinciale de la santé a recensé {n} femmes enceintes sans suivi prénatal dans les douars de {ville}.",
                "Selon l'enquête réalisée par l'association en {an}, {p} % des adultes de la commune n'ont jamais fait de dépistage du diabète.",
                "Le centre de santé le plus proche se trouve à {km} km et {n} familles n'ont aucun moyen de transport, d'après le recensement de la commune.",
            ],
            "need_low": [
                "La santé est très importante pour la population de {ville}.",
                "Les habitants souffrent de nombreuses maladies et manquent de soins.",
                "Il y a beaucoup de problèmes de santé dans notre région.",
            ],
            "activities": [
                "Le projet organisera des caravanes médicales et des séances de sensibilisation à l'hygiène et à la nutrition.",
                "Des relais communautaires seront formés pour accompagner les femmes enceintes jusqu'à l'accouchement.",
                "Des campagnes de dépistage gratuit seront organisées avec des médecins bénévoles.",
                "Une permanence d'écoute et d'orientation vers les structures de soins sera ouverte.",
            ],
        },
        "éducation": {
            "titles": [
                "Lutte contre le décrochage scolaire à {ville}",
                "Soutien scolaire pour les élèves du monde rural",
                "Alphabétisation fonctionnelle des femmes de {ville}",
                "Préscolaire de qualité pour les enfants des douars",
                "Bibliothèque de quartier et ateliers de lecture à {ville}",
                "École de la deuxième chance pour les jeunes de {ville}",
                "Transport scolaire des filles du monde rural",
            ],
            "need_high": [
                "Selon la direction provinciale de l'éducation nationale, {n} élèves ont quitté l'école l'an dernier dans la commune de {ville}.",
                "Une étude menée en {an} auprès de {n} familles montre que {p} % des filles arrêtent leur scolarité après le primaire.",
                "Le taux d'analphabétisme des femmes atteint {p} % dans les douars de {ville}, d'après le dernier recensement.",
            ],
            "need_low": [
                "L'éducation est la base de tout développement.",
                "Les enfants de la région ont besoin d'aide pour réussir à l'école.",
            ],
            "activities": [
                "Le projet proposera des cours de soutien en mathématiques et en langues aux élèves en difficulté.",
                "Une bibliothèque scolaire sera équipée et des ateliers de lecture organisés chaque semaine.",
                "Des classes d'alphabétisation seront ouvertes avec l'appui de l'Agence nationale de lutte contre l'analphabétisme.",
                "Des animatrices formées accueilleront les enfants de quatre à six ans dans une salle de préscolaire aménagée.",
            ],
        },
        "environnement": {
            "titles": [
                "Gestion durable des déchets ménagers à {ville}",
                "Reboisement et protection de la forêt",
                "Économie d'eau et irrigation goutte-à-goutte pour les petits agriculteurs",
                "Clubs environnement dans les écoles de {ville}",
                "Préservation de l'arganeraie et des ressources naturelles",
                "Réduction des déchets plastiques à {ville}",
                "Sauvegarde des oasis et des khettaras",
            ],
            "need_high": [
                "Une étude réalisée en {an} estime que {n} tonnes de déchets sont jetées chaque année dans des décharges sauvages autour de {ville}.",
                "Le niveau de la nappe phréatique a baissé de {km} mètres en dix ans, selon l'Agence du bassin hydraulique.",
                "Le diagnostic participatif mené avec {n} habitants a identifié les points noirs de pollution du quartier.",
            ],
            "need_low": [
                "L'environnement est en danger et il faut le protéger.",
                "Il y a beaucoup de saleté dans notre ville.",
            ],
            "activities": [
                "Le projet organisera des campagnes de nettoyage et de tri des déchets avec les écoles.",
                "Des arbres seront plantés et les agriculteurs formés aux techniques d'irrigation économes en eau.",
                "Des clubs environnement animeront des ateliers de sensibilisation au recyclage et au compostage.",
                "Des points de collecte sélective seront installés dans les quartiers en accord avec la commune.",
            ],
        },
        "droits humains": {
            "titles": [
                "Accompagnement des femmes victimes de violence à {ville}",
                "Accès aux droits et inscription à l'état civil",
                "Renforcement de la participation citoyenne des jeunes",
                "Assistance juridique de proximité pour les personnes vulnérables",
                "Droits des personnes migrantes à {ville}",
                "Plaidoyer pour les droits des personnes en situation de handicap",
                "Éducation aux droits de l'enfant dans les écoles de {ville}",
            ],
            "need_high": [
                "Le centre d'écoute de l'association a reçu {n} femmes victimes de violence en {an}, dont la plupart n'avaient pas accès à une aide juridique.",
                "Un recensement mené avec les autorités locales a identifié {n} enfants sans acte de naissance dans les douars de {ville}.",
                "Selon une enquête conduite en {an}, {p} % des jeunes de la commune n'ont jamais participé à une consultation publique.",
            ],
            "need_low": [
                "Les droits humains ne sont pas assez respectés dans notre région.",
                "Beaucoup de personnes ne connaissent pas leurs droits.",
            ],
            "activities": [
                "Le projet assurera l'écoute, l'orientation et l'assistance juridique des femmes victimes de violence.",
                "Des sessions de formation sur les droits et la citoyenneté seront organisées pour les jeunes.",
                "Une clinique juridique mobile accompagnera les familles dans leurs démarches d'état civil.",
                "Des actions de plaidoyer seront menées auprès des élus pour l'application des lois existantes.",
            ],
        },
        "culture": {
            "titles": [
                "Sauvegarde du patrimoine immatériel de {ville}",
                "Festival des arts populaires de {ville}",
                "Ateliers de théâtre pour les enfants",
                "Valorisation de l'artisanat et des savoir-faire locaux",
                "Maison de la culture amazighe à {ville}",
                "Musique et chant traditionnel pour les jeunes",
            ],
            "need_high": [
                "Un inventaire réalisé en {an} a recensé {k} formes de chant et de danse menacées de disparition à {ville}.",
                "La maison de la culture de {ville} n'a accueilli que {k} activités l'an dernier pour {n} jeunes inscrits.",
            ],
            "need_low": [
                "La culture est importante pour notre identité.",
                "Il faut faire vivre la culture dans notre ville.",
            ],
            "activities": [
                "Le projet animera des ateliers de musique et de théâtre pour les enfants et les jeunes.",
                "Le patrimoine oral sera documenté et un festival local sera organisé chaque année.",
                "Des artisans transmettront leurs savoir-faire à des apprentis lors d'ateliers hebdomadaires.",
            ],
        },
        "inclusion économique": {
            "titles": [
                "Activités génératrices de revenus pour les femmes de {ville}",
                "Appui aux coopératives d'argan et commercialisation des produits",
                "Formation professionnelle et insertion des jeunes de {ville}",
                "Unité de production de couscous et de produits du terroir",
                "Incubateur de microprojets pour les jeunes diplômés",
                "Valorisation des plantes aromatiques et médicinales à {ville}",
            ],
            "need_high": [
                "Le taux de chômage des femmes atteint {p} % dans la commune de {ville}, selon le dernier recensement.",
                "Une étude de marché réalisée en {an} a identifié {k} circuits de vente pour les produits du terroir de la région.",
                "{n} jeunes diplômés de {ville} sont inscrits à l'ANAPEC sans emploi depuis plus d'un an.",
            ],
            "need_low": [
                "Les gens ont besoin de travail et de revenus.",
                "La pauvreté est un grand problème dans notre douar.",
            ],
            "activities": [
                "Le projet financera des activités génératrices de revenus et accompagnera les femmes dans la commercialisation.",
                "Des formations en gestion de microprojets et en marketing seront proposées aux membres de la coopérative.",
                "Un local de production sera équipé et mis aux normes de l'ONSSA.",
                "Les jeunes bénéficieront d'un accompagnement individuel jusqu'à la création de leur activité.",
            ],
        },
        "jeunesse et sport": {
            "titles": [
                "Football féminin dans les quartiers de {ville}",
                "Redynamisation de la maison de jeunes de {ville}",
                "Le sport pour l'éducation et l'inclusion",
                "Université d'été pour les jeunes leaders",
                "Tournoi inter-quartiers et prévention de la délinquance",
                "Clubs d'engagement citoyen pour les jeunes de {ville}",
            ],
            "need_high": [
                "Un diagnostic participatif mené en {an} montre que {n} jeunes de {ville} n'ont accès à aucun équipement sportif ou culturel.",
                "Seules {p} % des filles du quartier pratiquent une activité sportive, d'après une enquête auprès de {n} familles.",
            ],
            "need_low": [
                "Les jeunes ont besoin de sport et de loisirs.",
                "La jeunesse de notre quartier s'ennuie.",
            ],
            "activities": [
                "Le projet organisera des tournois sportifs et des activités éducatives à la maison de jeunes.",
                "De jeunes animateurs seront formés à l'éducation par le sport.",
                "Des clubs de débat et de volontariat seront créés dans les quartiers.",
            ],
        },
    },
    "ar": {
        "santé": {
            "titles": ["قافلة طبية لفائدة دواوير {ville}", "التحسيس بصحة الأم والطفل في {ville}",
                       "الكشف المبكر عن السكري وارتفاع الضغط الدموي"],
            "need_high": ["أظهر تشخيص أنجز سنة {an} مع المندوبية الإقليمية للصحة أن {p} في المائة من النساء الحوامل في {ville} لا يستفدن من التتبع الصحي."],
            "need_low": ["الصحة مهمة جدا لسكان المنطقة."],
            "activities": ["سينظم المشروع قوافل طبية وحملات تحسيسية حول النظافة والتغذية.",
                           "سيتم تكوين مرشدات صحيات لمواكبة النساء في الدواوير."],
        },
        "éducation": {
            "titles": ["محاربة الهدر المدرسي في {ville}", "دروس الدعم المدرسي لتلاميذ العالم القروي",
                       "محو الأمية لفائدة نساء {ville}"],
            "need_high": ["حسب معطيات المديرية الإقليمية للتربية الوطنية، غادر المدرسة {n} من التلاميذ خلال السنة الماضية في جماعة {ville}."],
            "need_low": ["التعليم هو أساس كل تنمية."],
            "activities": ["سيقدم المشروع دروس الدعم والتقوية في الرياضيات واللغات.",
                           "سيتم تجهيز مكتبة مدرسية وتنظيم ورشات للقراءة."],
        },
        "environnement": {
            "titles": ["التدبير المستدام للنفايات في {ville}", "غرس الأشجار وحماية الغابة",
                       "ترشيد استعمال الماء في الفلاحة"],
            "need_high": ["حسب دراسة أنجزت سنة {an}، يتم رمي حوالي {n} طن من النفايات سنويا في المطارح العشوائية بجماعة {ville}."],
            "need_low": ["البيئة في خطر ويجب حمايتها."],
            "activities": ["سينظم المشروع حملات للنظافة وفرز النفايات مع تلاميذ المدارس.",
                           "سيتم غرس الأشجار وتكوين الفلاحين على تقنيات الري بالتنقيط."],
        },
        "droits humains": {
            "titles": ["مواكبة النساء ضحايا العنف في {ville}", "الولوج إلى الحقوق والتسجيل في الحالة المدنية",
                       "تعزيز المشاركة المواطنة للشباب"],
            "need_high": ["استقبل مركز الاستماع التابع للجمعية {n} امرأة ضحية العنف سنة {an} دون أن تتمكن أغلبهن من الولوج إلى المساعدة القانونية."],
            "need_low": ["حقوق الإنسان غير محترمة بما فيه الكفاية في منطقتنا."],
            "activities": ["سيقدم المشروع الاستماع والتوجيه والمساعدة القانونية للنساء.",
                           "سيتم تنظيم دورات تكوينية حول الحقوق والمواطنة لفائدة الشباب."],
        },
        "culture": {
            "titles": ["صون التراث اللامادي في {ville}", "مهرجان الفنون الشعبية", "ورشات المسرح لفائدة الأطفال"],
            "need_high": ["كشف بحث ميداني أنجز سنة {an} أن {k} أشكال من الفنون الشعبية مهددة بالاندثار في {ville}."],
            "need_low": ["الثقافة مهمة للحفاظ على هويتنا."],
            "activities": ["سينظم المشروع ورشات للموسيقى والمسرح لفائدة الأطفال والشباب.",
                           "سيتم توثيق التراث الشفهي وتنظيم مهرجان محلي."],
        },
        "inclusion économique": {
            "titles": ["أنشطة مدرة للدخل لفائدة نساء {ville}", "دعم تعاونيات الأركان وتسويق منتوجاتها",
                       "التكوين المهني وإدماج الشباب في سوق الشغل"],
            "need_high": ["تبلغ نسبة البطالة في صفوف النساء {p} في المائة في جماعة {ville} حسب الإحصاء العام للسكان."],
            "need_low": ["الناس في حاجة إلى العمل والدخل."],
            "activities": ["سيمول المشروع أنشطة مدرة للدخل ويواكب النساء في تسويق منتوجاتهن.",
                           "سيتم تنظيم دورات في التكوين المهني والتسيير المقاولاتي."],
        },
        "jeunesse et sport": {
            "titles": ["كرة القدم النسوية في أحياء {ville}", "تنشيط دار الشباب",
                       "الرياضة من أجل التربية والإدماج"],
            "need_high": ["حسب تشخيص تشاركي أنجز سنة {an}، لا يتوفر {n} من الشباب في {ville} على أي فضاء رياضي أو ثقافي."],
            "need_low": ["الشباب يحتاجون إلى الرياضة والترفيه."],
            "activities": ["سينظم المشروع دوريات رياضية وأنشطة تربوية داخل دار الشباب.",
                           "سيتم تكوين مؤطرين شباب في التربية عن طريق الرياضة."],
        },
    },
    "en": {
        "santé": {
            "titles": ["Mobile health caravans for the villages of {ville}",
                       "Maternal and child health awareness in {ville}",
                       "Early screening for diabetes and hypertension"],
            "need_high": ["A survey carried out in {an} with the provincial health delegation found that {p}% of pregnant women in {ville} receive no antenatal care."],
            "need_low": ["Health is very important for the people of our area."],
            "activities": ["The project will organise medical caravans and hygiene awareness sessions.",
                           "Community health workers will be trained to follow up women in remote villages."],
        },
        "éducation": {
            "titles": ["Fighting school dropout in {ville}", "After-school tutoring for rural pupils",
                       "Literacy classes for women in {ville}"],
            "need_high": ["According to the provincial education directorate, {n} pupils left school last year in the commune of {ville}."],
            "need_low": ["Education is the key to development."],
            "activities": ["The project will offer tutoring in mathematics and languages.",
                           "A school library will be equipped and reading workshops organised."],
        },
        "environnement": {
            "titles": ["Sustainable waste management in {ville}", "Reforestation and forest protection",
                       "Water saving in small-scale farming"],
            "need_high": ["A {an} study estimated that {n} tonnes of waste are dumped every year in unauthorised sites around {ville}."],
            "need_low": ["The environment is in danger and we must protect it."],
            "activities": ["The project will run clean-up and waste-sorting campaigns with local schools.",
                           "Trees will be planted and farmers trained in drip irrigation."],
        },
        "droits humains": {
            "titles": ["Support for women survivors of violence in {ville}",
                       "Access to rights and civil registration",
                       "Strengthening youth civic participation"],
            "need_high": ["Our listening centre received {n} women survivors of violence in {an}, most of whom had no access to legal aid."],
            "need_low": ["Human rights are not respected enough in our region."],
            "activities": ["The project will provide listening, orientation and legal aid to women.",
                           "Training sessions on rights and citizenship will be organised for young people."],
        },
        "culture": {
            "titles": ["Safeguarding the intangible heritage of {ville}", "Local festival of popular arts",
                       "Theatre workshops for children"],
            "need_high": ["A field survey in {an} identified {k} forms of popular music at risk of disappearing in {ville}."],
            "need_low": ["Culture is important for our identity."],
            "activities": ["The project will run music and theatre workshops for children and young people.",
                           "Oral heritage will be documented and a local festival organised."],
        },
        "inclusion économique": {
            "titles": ["Income-generating activities for women in {ville}",
                       "Helping argan cooperatives market their products",
                       "Vocational training and youth employment"],
            "need_high": ["Unemployment among women reaches {p}% in the commune of {ville}, according to the last census."],
            "need_low": ["People need jobs and income."],
            "activities": ["The project will fund income-generating activities and help women market their products.",
                           "Training in vocational skills and small business management will be offered."],
        },
        "jeunesse et sport": {
            "titles": ["Girls' football in the neighbourhoods of {ville}", "Bringing the youth centre back to life",
                       "Sport for education and inclusion"],
            "need_high": ["A participatory assessment in {an} found that {n} young people in {ville} have no access to any sports or cultural facility."],
            "need_low": ["Young people need sport and leisure."],
            "activities": ["The project will organise sports tournaments and educational activities at the youth centre.",
                           "Young coaches will be trained in sport-for-development methods."],
        },
    },
}

# Domain-neutral sentences that carry most of the quality signal: documented
# beneficiaries, partners, monitoring and co-funding (high) or vague hopes (low).
GENERIC_SENTENCES = {
    "fr": {
        "high": [
            "Le projet touchera directement {n} bénéficiaires, dont {p} % de femmes.",
            "Il sera mis en œuvre en partenariat avec la commune de {ville} et {partenaire}, avec lesquels une convention est signée.",
            "Un dispositif de suivi-évaluation avec {k} indicateurs et une enquête de référence est prévu.",
            "La commune apporte un cofinancement de {p} % et l'association mobilise {m} MAD de ressources propres.",
            "À la fin du projet, les activités seront reprises par les comités locaux formés pendant les {mois} mois.",
            "L'association a déjà mené trois projets similaires financés par l'INDH et la coopération internationale.",
        ],
        "mid": [
            "Le projet s'adresse en priorité aux femmes et aux jeunes de {ville}.",
            "Les activités se dérouleront sur {mois} mois.",
            "L'association compte sur ses bénévoles pour mener les activités.",
            "Des partenaires locaux seront sollicités au cours du projet.",
        ],
        "low": [
            "Nous espérons que ce projet aidera beaucoup de gens.",
            "Notre association est très motivée et veut changer les choses.",
            "Le projet permettra d'améliorer la situation en général.",
            "Nous avons besoin de ce financement pour démarrer nos activités.",
            "Les détails du budget seront précisés plus tard.",
            "Tout le monde sera bénéficiaire du projet.",
        ],
    },
    "ar": {
        "high": [
            "سيبلغ عدد المستفيدين المباشرين من المشروع {n}، منهم {p} في المائة من النساء.",
            "وقعت الجمعية اتفاقية شراكة مع جماعة {ville} والمصالح الخارجية المعنية.",
            "تم إعداد نظام للتتبع والتقييم يضم {k} مؤشرات ودراسة مرجعية.",
            "تساهم الجماعة بنسبة {p} في المائة من الميزانية إضافة إلى الموارد الذاتية للجمعية.",
        ],
        "mid": ["يستهدف المشروع أساسا النساء والشباب.", "ستمتد الأنشطة على مدى {mois} شهرا."],
        "low": ["نتمنى أن يساعد هذا المشروع الكثير من الناس.", "جمعيتنا متحمسة وتريد تغيير الأوضاع.",
                "نحتاج إلى هذا التمويل لبدء أنشطتنا."],
    },
    "en": {
        "high": [
            "The project will directly reach {n} beneficiaries, {p}% of them women.",
            "It will be implemented in partnership with the commune of {ville} under a signed agreement.",
            "A monitoring and evaluation plan with {k} indicators and a baseline survey is in place.",
            "The commune co-funds {p}% of the budget and the association contributes {m} MAD of its own resources.",
        ],
        "mid": ["The project mainly targets women and young people.", "Activities will run over {mois} months."],
        "low": ["We hope this project will help many people.",
                "Our association is very motivated and wants to change things.",
                "We need this funding to start our activities."],
    },
}

ELISION = re.compile(r"\bde ([AEIOUÂÉÈÎÔaeiouâéèîô])")
SHARE_CROSS_DOMAIN_ACTIVITY = 0.12
HEAD_COUNTS = [80, 120, 150, 200, 250, 300, 350, 400, 450, 500, 600, 750, 800, 1000, 1200, 1500, 2000]
OWN_RESOURCES = ["10 000", "15 000", "20 000", "25 000", "30 000"]

# Small edits that turn a resubmitted application into a near duplicate.
NEAR_DUPLICATE_EDITS = [
    ("Le projet ", "Ce projet "), ("bénéficiaires", "personnes"), ("organisera", "mettra en place"),
    ("formés", "accompagnés"), ("l'association", "notre association"), ("commune", "collectivité"),
    ("améliorer", "renforcer"), ("chaque année", "tous les ans"),
    ("en partenariat avec", "en collaboration avec"), ("dans les douars", "dans les villages"),
    ("Un dispositif de suivi-évaluation", "Un système de suivi et d'évaluation"),
    ("d'après", "selon"), ("Selon", "D'après"),
]
NEAR_DUPLICATE_TITLE_SUFFIXES = [" (version révisée)", " - nouvelle version", " (2e dépôt)", ""]

# ---------------------------------------------------------------------------
# Reviewers and reviews
# ---------------------------------------------------------------------------

N_REVIEWERS = 40
FIRST_NAMES = [
    "Fatima Zahra", "Mohamed", "Khadija", "Youssef", "Naima", "Abdelkader", "Salma", "Hicham",
    "Meryem", "Rachid", "Latifa", "Karim", "Souad", "Mustapha", "Hanane", "Omar", "Zineb",
    "Abdellah", "Nadia", "Said", "Loubna", "Brahim", "Samira", "Driss", "Amina", "Hassan",
    "Houda", "Mehdi", "Imane", "Aziz", "Siham", "Lahcen", "Asmae", "Jamal", "Btissam",
    "Noureddine", "Rajae", "Khalid", "Ghizlane", "Younes",
]
LAST_NAMES = [
    "El Amrani", "Benali", "Ouazzani", "El Idrissi", "Bennani", "Alaoui", "Tazi", "Berrada",
    "Chraibi", "El Fassi", "Benjelloun", "Amrani", "Ait Taleb", "Ouahbi", "Lahlou", "Kettani",
    "Belhaj", "Zniber", "Bouzid", "El Khatib", "Naciri", "Slaoui", "Ait Ouarab", "Boukhari",
    "Hamdaoui", "Ennaji", "Filali", "Sebti", "Cherkaoui", "Mansouri", "Ziani", "Akhannouch",
    "Boutaleb", "Rifi", "Oufkir", "Darif", "Jebli", "Mernissi", "El Ouafi", "Agoumi",
]
# Primary region and domain of each reviewer, roughly in proportion to volumes.
REVIEWER_REGION_SLOTS = (
    ["Casablanca-Settat"] * 12 + ["Tanger-Tétouan-Al Hoceïma"] * 8 + ["Souss-Massa"] * 8
    + ["L'Oriental"] * 6 + ["Béni Mellal-Khénifra"] * 6
)
REVIEWER_DOMAIN_SLOTS = (
    ["santé"] * 7 + ["éducation"] * 8 + ["environnement"] * 6 + ["droits humains"] * 7
    + ["culture"] * 4 + ["inclusion économique"] * 5 + ["jeunesse et sport"] * 3
)
CAPACITIES = {60: 0.10, 80: 0.20, 100: 0.30, 120: 0.20, 150: 0.15, 200: 0.05}
N_REVIEWERS_WITH_CONFLICTS = 14
REVIEWER_SEVERITY_SD = 0.4
REVIEWER_NOISE_SD = (0.3, 0.8)
HALO_SHARE = 0.3  # part of a reviewer's noise common to all criteria of one file

CRITERIA = ("pertinence", "faisabilite", "impact", "capacite", "durabilite")
SHARE_THREE_REVIEWERS = 0.30
SHARE_SINGLE_REVIEW = 0.01  # one of the two reviewers never submitted
SHARE_COMMENTED = 0.30
# Assignment priority: expertise match minus a penalty growing with the load.
REGION_MATCH, DOMAIN_MATCH, LOAD_PENALTY = 0.5, 0.6, 2.0

# Latent quality -> expected score: 1-5 scale centred so that eligible
# applications average about 3, the best few percent 4-5.
SCORE_CENTRE = 2.95
SCORE_SPREAD = 0.30
CRITERION_NOISE_SD = 0.35
TEXT_NOISE_SD = 0.6  # how loosely the text follows the latent quality
ROOTS_EFFECT = 0.3  # correlation of latent quality with age and membership

COMMENTS = {  # criterion -> band (low: 1-2, mid: 3, high: 4-5) -> comments
    "pertinence": {
        "low": ["Besoin peu démontré", "Lien faible avec les objectifs du programme", "Public cible mal défini"],
        "mid": ["Besoin identifié, à mieux documenter", "Pertinent mais public cible trop large"],
        "high": ["Besoin bien documenté", "Diagnostic solide et public cible précis",
                 "Répond à un besoin prioritaire du territoire"],
    },
    "faisabilite": {
        "low": ["Budget peu détaillé", "Calendrier irréaliste", "Plan d'action vague"],
        "mid": ["Plan réaliste, budget à préciser", "Quelques incohérences dans le calendrier"],
        "high": ["Budget cohérent et chiffré", "Calendrier réaliste", "Risques bien identifiés"],
    },
    "impact": {
        "low": ["Résultats attendus non définis", "Aucun indicateur proposé"],
        "mid": ["Indicateurs à préciser", "Résultats définis mais peu mesurables"],
        "high": ["Bénéficiaires chiffrés", "Plan de suivi-évaluation solide", "Impact mesurable"],
    },
    "capacite": {
        "low": ["Équipe réduite et peu expérimentée", "Gouvernance à renforcer"],
        "mid": ["Expérience de projets similaires", "Équipe en place"],
        "high": ["Équipe expérimentée", "Partenariats actifs", "Références vérifiables"],
    },
    "durabilite": {
        "low": ["Pas de perspective après la subvention", "Pérennité non abordée"],
        "mid": ["Pistes de cofinancement à confirmer", "Pérennité évoquée, moyens à préciser"],
        "high": ["Cofinancement de la commune acquis", "Modèle durable, ressources propres"],
    },
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

def pick(rng: np.random.Generator, items: list) -> object:
    """One element of ``items``, uniformly."""
    return items[int(rng.integers(len(items)))]


def pick_weighted(rng: np.random.Generator, table: dict, size: int) -> np.ndarray:
    """``size`` keys of ``table`` drawn with probabilities proportional to its values."""
    keys = list(table)
    weights = np.array([table[k] for k in keys], dtype=float)
    index = rng.choice(len(keys), size=size, p=weights / weights.sum())
    return np.array(keys, dtype=object)[index]


def quotas(table: dict, total: int) -> list[int]:
    """Split ``total`` in proportion to ``table``'s values (largest remainders)."""
    weights = np.array(list(table.values()), dtype=float)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    counts[np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts.tolist()


def sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))


def region_lookup() -> dict[str, str]:
    """Every spelling this generator writes -> canonical region name."""
    lookup = {name: name for name in REGIONS}
    for name, variants in REGION_VARIANTS.items():
        lookup.update({v.strip(): name for v in variants})
    lookup.update({v: name for name, v in REGION_ARABIC.items()})
    return lookup


def domain_lookup() -> dict[str, str]:
    """Every domain spelling this generator writes -> canonical domain name."""
    lookup = {}
    for name, (_, capitalised, variants) in DOMAINS.items():
        lookup[name] = lookup[capitalised] = name
        for spellings in variants.values():
            lookup.update({v.strip(): name for v in spellings})
    return lookup


def eligible_mask(applications: pd.DataFrame) -> pd.Series:
    """The rubric's eligibility gates (rubrics/tamuri.yaml), on the export's columns."""
    region = applications["Région"].str.strip().map(region_lookup())
    amount = applications["Montant demandé"]
    summary = applications["Résumé"].fillna("").str.strip()
    return (
        region.isin(list(PROGRAMME_REGIONS))
        & (amount >= 20000) & (amount <= 100000)
        & applications["Statut juridique"].isin(ELIGIBLE_STATUSES)
        & (CALL_YEAR - applications["Année de création"] >= 2)
        & (applications["Dossier complet"] == "oui")
        & (summary != "")
    )


# ---------------------------------------------------------------------------
# applications.csv
# ---------------------------------------------------------------------------

def elide(text: str) -> str:
    """French elision before a vowel: "de Oujda" -> "d'Oujda"."""
    return ELISION.sub(r"d'\1", text)


def organisation_name(rng: np.random.Generator, status: str, language: str, domain: str,
                      region: str, town: str, women_led: bool, taken: set[str]) -> str:
    """A realistic, not yet used organisation name, based in ``town`` when the name says where."""
    arabic = (language == "ar" and rng.random() < 0.8) or (language == "fr" and rng.random() < 0.03)
    for attempt in range(50):
        if arabic:
            templates = ORGANISATION_TEMPLATES_AR[status]
            if status == "Association" and women_led and rng.random() < 0.3:
                templates = WOMEN_ASSOCIATION_TEMPLATES_AR
            name = pick(rng, templates).format(
                nom=pick(rng, NAMES_AR), ville=pick(rng, TOWNS_ARABIC[region]), cause=CAUSES_AR[domain])
        else:
            templates = ORGANISATION_TEMPLATES_FR[status]
            if status == "Association" and women_led and rng.random() < 0.3:
                templates = WOMEN_ASSOCIATION_TEMPLATES_FR
            ville = town if attempt < 5 else pick(rng, TOWNS[region])
            name = elide(pick(rng, templates).format(
                nom=pick(rng, NAMES_FR), ville=ville, cause=pick(rng, CAUSES_FR[domain])))
        if name not in taken:
            taken.add(name)
            return name
    raise RuntimeError(f"could not find a new organisation name for {status} in {region}")


def project_text(rng: np.random.Generator, language: str, domain: str, region: str, town: str,
                 quality: float) -> tuple[str, str]:
    """Title and 2-4 sentence summary; documented and specific when quality is high."""
    bank = TEXTS[language][domain]
    if language == "ar":
        town = pick(rng, TOWNS_ARABIC[region])
    values = {
        "ville": town,
        "n": pick(rng, HEAD_COUNTS),
        "p": int(rng.integers(15, 66)),
        "an": int(rng.integers(2019, 2022)),
        "k": int(rng.integers(4, 10)),
        "km": int(rng.integers(8, 36)),
        "m": pick(rng, OWN_RESOURCES),
        "mois": pick(rng, [12, 18, 24]),
        "partenaire": pick(rng, PARTNERS_FR[domain]),
    }
    title = pick(rng, bank["titles"]).format(**values)
    if language == "fr" and rng.random() < 0.02:
        title = title.upper()

    need_bank = bank["need_high"] if rng.random() < sigmoid(2.0 * quality) else bank["need_low"]
    # Some projects cross domains (a health project run through schools, ...).
    activity_domain = domain
    if rng.random() < SHARE_CROSS_DOMAIN_ACTIVITY:
        activity_domain = pick(rng, [d for d in DOMAINS if d != domain])
    sentences = [pick(rng, need_bank), pick(rng, TEXTS[language][activity_domain]["activities"])]
    n_extra = int(np.clip(np.rint(0.8 + 0.8 * quality + rng.normal(0, 0.5)), 0, 2))
    generic = GENERIC_SENTENCES[language]
    p_high, p_low = sigmoid(1.8 * (quality - 0.2)), sigmoid(-1.8 * (quality + 0.2))
    for _ in range(n_extra):
        u = rng.random()
        tier = "high" if u < p_high else "low" if u < p_high + p_low else "mid"
        candidates = [s for s in generic[tier] if s not in sentences]
        if candidates:
            sentences.append(pick(rng, candidates))
    summary = " ".join(s.format(**values) for s in sentences)
    if language == "fr":
        title, summary = elide(title), elide(summary)
    return title, summary


def spell_region(rng: np.random.Generator, region: str, language: str) -> str:
    """The region as the applicant typed it: canonical, a variant or an alias."""
    if rng.random() < SHARE_CANONICAL_REGION:
        return region
    if region in REGION_ARABIC and (language == "ar" and rng.random() < 0.6 or rng.random() < 0.03):
        return REGION_ARABIC[region]
    return pick(rng, REGION_VARIANTS[region])


def spell_domain(rng: np.random.Generator, domain: str, language: str) -> str:
    """The domain as the applicant typed it: canonical, capitalised, or a variant."""
    _, capitalised, variants = DOMAINS[domain]
    u = rng.random()
    if u < DOMAIN_SPELLING_SHARES[0]:
        return domain
    if u < DOMAIN_SPELLING_SHARES[0] + DOMAIN_SPELLING_SHARES[1]:
        return capitalised
    return pick(rng, variants[language])


def near_duplicate_edit(rng: np.random.Generator, text: str) -> str:
    """Change a few words of a French text, as an applicant revising a file would."""
    edits = [(a, b) for a, b in NEAR_DUPLICATE_EDITS if a in text]
    for i in rng.permutation(len(edits))[: int(rng.integers(1, 4))]:
        before, after = edits[i]
        text = text.replace(before, after, 1)
    if not edits:
        text += " Le budget détaillé est joint au dossier."
    return elide(text)


def make_applications(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The export (French headers) and, row for row, the hidden quality behind it."""
    n = N_APPLICATIONS - N_NEAR_DUPLICATES

    # Who applies: region, language, domain, legal status, age, size.
    region = rng.permutation(np.repeat(list(REGIONS), quotas(REGIONS, n))).astype(object)
    language = pick_weighted(rng, LANGUAGES, n)
    domain = pick_weighted(rng, {d: w for d, (w, _, _) in DOMAINS.items()}, n)
    status = pick_weighted(rng, LEGAL_STATUSES, n)
    cooperative = status == "Coopérative"
    domain[cooperative] = pick_weighted(rng, COOPERATIVE_DOMAINS, cooperative.sum())
    # Most associations were founded after 2005 (INDH) and 2011; a few are too young.
    years = np.arange(1985, CALL_YEAR - 1)
    year_weights = np.exp((years - 1985) / 8.0)
    founded = rng.choice(years, size=n, p=year_weights / year_weights.sum())
    too_young = rng.random(n) < SHARE_TOO_YOUNG
    founded[too_young] = rng.choice([CALL_YEAR - 1, CALL_YEAR], size=too_young.sum(), p=[0.7, 0.3])
    members = np.clip(np.rint(np.exp(rng.normal(np.log(35), 0.8, n))), 7, 400).astype(int)

    # Hidden quality: older, larger organisations write somewhat better projects.
    roots = 0.5 * np.log(members) + 0.5 * np.log(CALL_YEAR - founded + 1)
    roots = (roots - roots.mean()) / roots.std()
    latent = ROOTS_EFFECT * roots + np.sqrt(1 - ROOTS_EFFECT**2) * rng.normal(size=n)
    criterion_quality = latent[:, None] + rng.normal(0, CRITERION_NOISE_SD, (n, len(CRITERIA)))
    criterion_quality[:, CRITERIA.index("capacite")] += 0.3 * roots
    text_quality = latent + rng.normal(0, TEXT_NOISE_SD, n)

    # Who leads it; whether the file is complete (weaker projects more often not).
    women_led = rng.random(n) < 0.33
    youth_led = rng.random(n) < np.where(domain == "jeunesse et sport", 0.6, 0.22) + 0.1 * (founded >= 2015)
    complete = rng.random(n) >= SHARE_INCOMPLETE * 2 * sigmoid(-latent)

    # Requested amount: round figures, a few outside the 20,000-100,000 bounds.
    amount = pick_weighted(rng, AMOUNTS_IN_BOUNDS, n).astype(int)
    odd = rng.random(n) < SHARE_ODD_THOUSANDS
    amount[odd] = rng.integers(21, 100, size=odd.sum()) * 1000
    out = rng.random(n) < SHARE_AMOUNT_OUT_OF_BOUNDS
    amount[out] = pick_weighted(rng, AMOUNTS_OUT_OF_BOUNDS, out.sum()).astype(int)

    # Names and texts.
    taken: set[str] = set()
    organisation, title, summary, region_text, domain_text = [], [], [], [], []
    for i in range(n):
        town = pick(rng, TOWNS[region[i]])  # where the organisation works
        organisation.append(organisation_name(
            rng, status[i], language[i], domain[i], region[i], town, women_led[i], taken))
        t, s = project_text(rng, language[i], domain[i], region[i], town, text_quality[i])
        title.append(t)
        summary.append(s)
        region_text.append(spell_region(rng, region[i], language[i]))
        domain_text.append(spell_domain(rng, domain[i], language[i]))
    summary = np.array(summary, dtype=object)
    summary[rng.random(n) < SHARE_EMPTY_SUMMARY] = ""
    domain_text = np.array(domain_text, dtype=object)
    domain_text[rng.random(n) < SHARE_EMPTY_DOMAIN] = ""

    # Submission date: steady flow, then a rush in the last days before the deadline.
    days = np.arange(CALL_DAYS)
    day_weights = 1.0 + 8.0 * np.exp(-(CALL_DAYS - 1 - days) / 4.0)
    day = rng.choice(days, size=n, p=day_weights / day_weights.sum())

    apps = pd.DataFrame({
        "Organisation": organisation,
        "Région": region_text,
        "Domaine": domain_text,
        "Montant demandé": amount,
        "Titre du projet": title,
        "Résumé": summary,
        "Année de création": founded,
        "Statut juridique": status,
        "Nombre de membres": members,
        "Dirigée par une femme": np.where(women_led, "oui", "non"),
        "Dirigée par des jeunes": np.where(youth_led, "oui", "non"),
        "Dossier complet": np.where(complete, "oui", "non"),
        "day": day,
        "Langue": language,
    })
    hidden = pd.DataFrame(criterion_quality, columns=list(CRITERIA))
    hidden.insert(0, "region", region)
    hidden.insert(1, "domain", domain)
    hidden.insert(2, "latent", latent)

    # A handful of organisations apply twice, with different projects, from the
    # same region: the later row takes the earlier organisation's identity.
    org_columns = ["Organisation", "Année de création", "Statut juridique", "Nombre de membres",
                   "Dirigée par une femme", "Dirigée par des jeunes"]
    chosen = rng.choice(n, size=2 * N_REPEAT_ORGANISATIONS, replace=False)
    for source, target in chosen.reshape(-1, 2):
        apps.loc[target, org_columns] = apps.loc[source, org_columns].to_numpy()
        apps.loc[target, "Région"] = spell_region(rng, hidden.at[source, "region"], apps.at[target, "Langue"])
        hidden.loc[target, "region"] = hidden.at[source, "region"]
    repeated = set(chosen.tolist())

    # Near duplicates: the same organisation resubmits the same project a few
    # days later with a few words changed (and a complete file).
    french = (apps["Langue"] == "fr").to_numpy() & (apps["Résumé"] != "").to_numpy()
    pool = [i for i in np.flatnonzero(french) if i not in repeated]
    sources = rng.choice(pool, size=N_NEAR_DUPLICATES, replace=False)
    duplicates = apps.loc[sources].copy()
    for i, source in zip(duplicates.index, sources):
        duplicates.at[i, "Titre du projet"] = (
            apps.at[source, "Titre du projet"] + pick(rng, NEAR_DUPLICATE_TITLE_SUFFIXES))
        duplicates.at[i, "Résumé"] = near_duplicate_edit(rng, apps.at[source, "Résumé"])
        duplicates.at[i, "Région"] = spell_region(rng, hidden.at[source, "region"], "fr")
        duplicates.at[i, "Dossier complet"] = "oui"
        duplicates.at[i, "day"] = min(CALL_DAYS - 1, apps.at[source, "day"] + int(rng.integers(1, 15)))
    apps = pd.concat([apps, duplicates], ignore_index=True)
    hidden = pd.concat([hidden, hidden.loc[sources]], ignore_index=True)

    # Ids follow the order of submission (random order within a day).
    order = np.lexsort((rng.random(len(apps)), apps["day"].to_numpy()))
    apps = apps.iloc[order].reset_index(drop=True)
    hidden = hidden.iloc[order].reset_index(drop=True)
    apps["N° dossier"] = [f"TAM-2022-{i:04d}" for i in range(1, len(apps) + 1)]
    apps["Date de dépôt"] = (CALL_OPENS + apps.pop("day").to_numpy().astype("timedelta64[D]")).astype(str)
    hidden.insert(0, "application_id", apps["N° dossier"])
    for column in ["Montant demandé", "Année de création", "Nombre de membres"]:
        apps[column] = apps[column].astype("int64")
    return apps[APPLICATION_COLUMNS], hidden


# ---------------------------------------------------------------------------
# reviewers.csv
# ---------------------------------------------------------------------------

def make_reviewers(rng: np.random.Generator, apps: pd.DataFrame, eligible: pd.Series
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Forty reviewers with expertise, capacity and conflicts, and their hidden bias."""
    first = rng.permutation(FIRST_NAMES)
    last = rng.permutation(LAST_NAMES)
    regions_in = list(PROGRAMME_REGIONS)
    region_slots = rng.permutation(REVIEWER_REGION_SLOTS)
    domain_slots = rng.permutation(REVIEWER_DOMAIN_SLOTS)
    canonical_region = apps["Région"].str.strip().map(region_lookup())

    rows = []
    conflicted = set(rng.choice(N_REVIEWERS, size=N_REVIEWERS_WITH_CONFLICTS, replace=False).tolist())
    for r in range(N_REVIEWERS):
        regions = [region_slots[r]]
        if rng.random() < 0.4:
            regions.append(pick(rng, [x for x in regions_in if x != regions[0]]))
        domains = [domain_slots[r]]
        while rng.random() < 0.5 and len(domains) < 3:
            extra = pick(rng, [d for d in DOMAINS if d not in domains])
            domains.append(extra)
        # Conflicts: organisations of the reviewer's own region (a board seat, a
        # former employer), mostly among applications that will be reviewed.
        conflicts = []
        if r in conflicted:
            local = apps.loc[eligible & (canonical_region == regions[0]), "Organisation"]
            conflicts = sorted(set(rng.choice(local.to_numpy(), size=int(rng.integers(1, 4)), replace=False)))
            if rng.random() < 0.15:
                others = apps.loc[~eligible & (canonical_region == regions[0]), "Organisation"]
                conflicts.append(str(pick(rng, others.tolist())))
        rows.append({
            "reviewer_id": f"R{r + 1:02d}",
            "name": f"{first[r]} {last[r]}",
            "capacity": int(pick_weighted(rng, CAPACITIES, 1)[0]),
            "regions": ";".join(sorted(regions, key=regions_in.index)),
            "domains": ";".join(sorted(domains, key=list(DOMAINS).index)),
            "conflicts": ";".join(conflicts),
        })
    reviewers = pd.DataFrame(rows)
    hidden = pd.DataFrame({
        "reviewer_id": reviewers["reviewer_id"],
        # Clipped at two standard deviations: one extreme reviewer with a large
        # capacity would otherwise tilt a whole region's ranking.
        "severity": np.clip(rng.normal(0, REVIEWER_SEVERITY_SD, N_REVIEWERS),
                            -2 * REVIEWER_SEVERITY_SD, 2 * REVIEWER_SEVERITY_SD),
        "noise": rng.uniform(*REVIEWER_NOISE_SD, N_REVIEWERS),
    })
    return reviewers, hidden


# ---------------------------------------------------------------------------
# reviews.csv
# ---------------------------------------------------------------------------

def assign_reviewers(rng: np.random.Generator, apps: pd.DataFrame, hidden: pd.DataFrame,
                     eligible: pd.Series, reviewers: pd.DataFrame) -> dict[int, list[int]]:
    """Application row -> reviewer rows: capacity and conflicts respected, expertise preferred.

    Greedy over the eligible applications in a shuffled (seeded) order, so that
    late submissions are not left with whoever still has capacity. Each
    application takes the reviewers with the best expertise match, discounted by
    how full they already are; ties go to the lower reviewer id.
    """
    n_rev = len(reviewers)
    capacity = reviewers["capacity"].to_numpy()
    load = np.zeros(n_rev)
    rev_regions = [set(s.split(";")) for s in reviewers["regions"]]
    rev_domains = [set(s.split(";")) for s in reviewers["domains"]]
    rev_conflicts = [set(s.split(";")) - {""} for s in reviewers["conflicts"]]

    app_region, app_domain = hidden["region"].to_numpy(), hidden["domain"].to_numpy()
    app_organisation = apps["Organisation"].to_numpy()
    rows = np.flatnonzero(eligible.to_numpy())
    n_reviews = np.where(rng.random(len(rows)) < SHARE_THREE_REVIEWERS, 3, 2)
    if capacity.sum() < n_reviews.sum() * 1.1:
        raise RuntimeError("reviewers' total capacity is too tight for the assignments")
    assignment = {}
    for i in rng.permutation(len(rows)):
        row = rows[i]
        region, domain, organisation = app_region[row], app_domain[row], app_organisation[row]
        match = np.array([REGION_MATCH * (region in rev_regions[r]) + DOMAIN_MATCH * (domain in rev_domains[r])
                          for r in range(n_rev)])
        priority = match - LOAD_PENALTY * load / capacity
        allowed = (load < capacity) & np.array([organisation not in c for c in rev_conflicts])
        priority[~allowed] = -np.inf
        chosen = np.argsort(-priority, kind="stable")[: n_reviews[i]]
        if not np.isfinite(priority[chosen]).all():
            raise RuntimeError(f"no reviewer left for {apps.at[row, 'N° dossier']}")
        load[chosen] += 1
        assignment[row] = sorted(chosen.tolist())
    return assignment


def make_reviews(rng: np.random.Generator, apps: pd.DataFrame, hidden: pd.DataFrame,
                 eligible: pd.Series, reviewers: pd.DataFrame, reviewer_hidden: pd.DataFrame
                 ) -> pd.DataFrame:
    """Long-form scores of the eligible applications, sorted by application, reviewer, criterion."""
    assignment = assign_reviewers(rng, apps, hidden, eligible, reviewers)

    # A few reviewers never submitted: those applications keep a single review.
    pairs_of_two = sorted(row for row, revs in assignment.items() if len(revs) == 2)
    n_single = int(round(SHARE_SINGLE_REVIEW * len(assignment)))
    for row in rng.choice(pairs_of_two, size=n_single, replace=False):
        assignment[int(row)] = [assignment[int(row)][int(rng.integers(2))]]

    pairs = [(row, r) for row in sorted(assignment) for r in assignment[row]]
    app_rows = np.array([p[0] for p in pairs])
    rev_rows = np.array([p[1] for p in pairs])
    quality = hidden.loc[app_rows, list(CRITERIA)].to_numpy()
    severity = reviewer_hidden["severity"].to_numpy()[rev_rows]
    noise_sd = reviewer_hidden["noise"].to_numpy()[rev_rows]
    expected = SCORE_CENTRE + SCORE_SPREAD * quality + severity[:, None]
    # A reviewer's noise is partly a halo shared by all criteria of one file.
    halo = rng.normal(size=(len(pairs), 1)) * HALO_SHARE
    specific = rng.normal(size=quality.shape) * np.sqrt(1 - HALO_SHARE**2)
    raw = expected + (halo + specific) * noise_sd[:, None]
    scores = np.clip(np.rint(raw), 1, 5).astype(int)

    n_pairs, n_crit = scores.shape
    commented = rng.random((n_pairs, n_crit)) < SHARE_COMMENTED
    comments = np.full((n_pairs, n_crit), "", dtype=object)
    for p, c in zip(*np.nonzero(commented)):
        band = "low" if scores[p, c] <= 2 else "mid" if scores[p, c] == 3 else "high"
        comments[p, c] = pick(rng, COMMENTS[CRITERIA[c]][band])

    return pd.DataFrame({
        "application_id": np.repeat(apps["N° dossier"].to_numpy()[app_rows], n_crit),
        "reviewer_id": np.repeat(reviewers["reviewer_id"].to_numpy()[rev_rows], n_crit),
        "criterion": np.tile(CRITERIA, n_pairs),
        "score": scores.ravel(),
        "comment": comments.ravel(),
    })


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------

def generate() -> dict[str, bytes]:
    """The three CSV files, as bytes, keyed by file name."""
    rng_apps, rng_reviewers, rng_reviews = (
        np.random.default_rng(s) for s in np.random.SeedSequence(SEED).spawn(3))
    apps, hidden = make_applications(rng_apps)
    eligible = eligible_mask(apps)
    reviewers, reviewer_hidden = make_reviewers(rng_reviewers, apps, eligible)
    reviews = make_reviews(rng_reviews, apps, hidden, eligible, reviewers, reviewer_hidden)
    return {
        "applications.csv": to_csv_bytes(apps),
        "reviewers.csv": to_csv_bytes(reviewers),
        "reviews.csv": to_csv_bytes(reviews),
    }


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 (no BOM), LF line ends, no index: identical bytes on every platform."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory; exit 1 if a committed file differs")
    args = parser.parse_args(argv)

    files = generate()
    if args.check:
        stale = [name for name, data in files.items()
                 if not (HERE / name).exists() or (HERE / name).read_bytes() != data]
        for name in stale:
            print(f"{HERE / name} differs from its regeneration; run {Path(__file__).name}",
                  file=sys.stderr)
        return 1 if stale else 0
    for name, data in files.items():
        (HERE / name).write_bytes(data)
        n_rows = data.count(b"\n") - 1
        print(f"wrote {HERE / name} ({n_rows} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
