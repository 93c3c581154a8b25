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
