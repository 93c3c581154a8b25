"""The household form in three versions, as markdown XLSForms."""

from __future__ import annotations

from tests.exports.conftest import xlsform

CHOICES = """| choices |
| | list_name | name | label::English (en) | label::Français (fr) |
| | toys | ball | Ball | Ballon |
| | toys | doll | Doll | Poupée |
| | toys | kite | Kite | Cerf-volant |
| | moods | ok | Fine | Bien |
| | moods | sad | Sad | Triste |
"""

HEADER = "| | type | name | label::English (en) | label::Français (fr) | bind::casework:sensitive |"

V1 = xlsform(
    f"""{HEADER}
| | text | child_ref | Reference | Référence | |
| | integer | age | Age | Âge | |
| | text | old_field | Old | Ancien | |
| | begin_group | visit | Visit | Visite | |
| | date | visit_date | Date | Date | |
| | end_group | | | | |
| | begin_repeat | kids | Kids | Enfants | |
| | text | kname | Kid | Enfant | |
| | begin_repeat | toys_r | Toys | Jouets | |
| | select_multiple toys | toy | Toy | Jouet | |
| | end_repeat | | | | |
| | end_repeat | | | | |
| | geopoint | loc | Location | Lieu | |""",
    "household",
    "1",
    CHOICES,
)

V2 = xlsform(
    f"""{HEADER}
| | text | child_ref | Reference | Référence | |
| | integer | age | Age | Âge | |
| | text | note_v2 | Note | Note | |
| | begin_group | visit | Visit | Visite | |
| | date | visit_date | Date | Date | |
| | end_group | | | | |
| | begin_repeat | kids | Kids | Enfants | |
| | text | kname | Kid | Enfant | |
| | begin_repeat | toys_r | Toys | Jouets | |
| | select_multiple toys | toy | Toy | Jouet | |
| | end_repeat | | | | |
| | end_repeat | | | | |
| | geopoint | loc | Location | Lieu | |
| | image | photo | Photo | Photo | |""",
    "household",
    "2",
    CHOICES,
)

V3 = xlsform(
    f"""{HEADER}
| | text | child_ref | Reference | Référence | |
| | text | secret | Child's name | Nom | yes |
| | integer | age | Age | Âge | |
| | select_one moods | mood | Mood | Humeur | |
| | begin_group | visit | Visit | Visite | |
| | date | visit_date | Date | Date | |
| | end_group | | | | |
| | begin_repeat | kids | Kids | Enfants | |
| | text | kname | Kid | Enfant | |
| | begin_repeat | toys_r | Toys | Jouets | |
| | select_multiple toys | toy | Toy | Jouet | |
| | end_repeat | | | | |
| | end_repeat | | | | |
| | geopoint | loc | Location | Lieu | |
| | image | photo | Photo | Photo | |""",
    "household",
    "3",
    CHOICES,
)


# A form with a sensitive question, a sensitive group and a sensitive repeat, each with a
# file among its answers (casework:sensitive; see exports.tables.sensitive_paths).
DISCLOSURE_SURVEY = """| | type | name | label | bind::casework:sensitive |
| | text | child_ref | Reference | |
| | image | photo | Photo | |
| | image | injury_photo | Injury photo | yes |
| | begin_group | disclosure | Disclosure | yes |
| | text | story | What happened | |
| | image | drawing | Drawing | |
| | geopoint | where | Where | |
| | end_group | | | |
| | begin_repeat | contacts | Contacts | yes |
| | text | contact_who | Who | |
| | image | contact_photo | Photo | |
| | end_repeat | | | |
| | begin_repeat | visits | Visits | |
| | date | visit_date | Date | |
| | end_repeat | | | |
| | geopoint | home | Home | |"""

DISCLOSURE_ANSWERS: dict[str, object] = {
    "child_ref": "CP-9",
    "photo": "house.jpg",
    "injury_photo": "bruise.jpg",
    "disclosure": {
        "story": "what the child said",
        "drawing": "drawing.jpg",
        "where": "-1.5 36.5 0 0",
    },
    "contacts": [{"contact_who": "Uncle Ali", "contact_photo": "uncle.jpg"}],
    "visits": [{"visit_date": "2024-05-01"}],
    "home": "-1.2 36.8 0 0",
}
DISCLOSURE_FILES = {
    "house.jpg": b"house",
    "bruise.jpg": b"bruise",
    "drawing.jpg": b"drawing",
    "uncle.jpg": b"uncle",
}
