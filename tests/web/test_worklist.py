"""The worklist (dashboard), the case list's sorts, filters and search, and the plan-items
and referrals pages: what each role sees, and that every count opens the list it counts.

The cases are written straight into the tables (the merge is tested elsewhere), with the
dashboard's kept counts recounted from them, so that each test states its data exactly.
"""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from server.auth.models import User
from server.cases import item_counts, lists
from server.cases.models import Case, PlanItem, PlanItemDueCount
from tests.factories import Factory
from tests.web.conftest import Web

TODAY = datetime.now(UTC).date()


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def at(offset: int) -> datetime:
    return datetime.combine(day(offset), datetime.min.time(), UTC) + timedelta(hours=10)


# ref: (caseworker, risk, status, next contact due, opened, last contact, conflicts,
#       safety plan review, last review)
CASES: dict[str, tuple[Any, ...]] = {
    "N-0001": ("cw-a", "high", "open", day(-3), at(-300), at(-10), 1, day(-1), None),
    "N-0002": ("cw-b", "low", "open", day(2), at(-200), at(-1), 0, None, at(-5)),
    "N-0003": ("cw-a", "medium", "closed", None, at(-400), at(-100), 0, None, None),
    "S-0001": ("cw-s", "high", "open", day(-5), at(-250), at(-20), 2, day(-2), None),
    "X-0420-N": ("cw-a", "medium", "open", day(30), at(-50), None, 0, day(10), None),
    "U-0001": (None, None, "open", day(-1), at(-30), at(-30), 0, None, None),
}
# ref: [(item id, kind, title, status, due)]
ITEMS: dict[str, list[tuple[str, str, str, str, date | None]]] = {
    "N-0001": [
        ("n1-need", "need", "School place", "open", day(-4)),
        ("n1-svc", "service", "Health clinic", "referred", day(-2)),
        ("n1-act", "action", "Home visit", "done", day(-10)),
    ],
    "N-0002": [("n2-svc", "service", "Cash support", "accepted", day(5))],
    "N-0003": [("n3-need", "need", "Closed case need", "open", day(-20))],
    "S-0001": [("s1-svc", "service", "Legal aid", "referred", day(-3))],
    "X-0420-N": [("x-dec", "decision", "Conference decision", "open", None)],
}


def _seed(make: Factory) -> None:
    make.user("cw-a", "caseworker", team="north")
    make.user("cw-b", "caseworker", team="north")
    make.user("cw-s", "caseworker", team="south")

    def write(session: Any) -> None:
        ids = {u.username: u.id for u in session.query(User).all()}
        for n, (ref, row) in enumerate(CASES.items()):
            cw, risk, status, due, opened, last, conflicts, safety, review = row
            case = Case(
                case_ref=ref,
                entity_id=f"entity-{n}",
                status=status,
                caseworker_id=ids[cw] if cw else None,
                team={"cw-s": "south"}.get(cw or "", "north" if cw else None),
                risk_level=risk,
                next_contact_due=due,
                opened_at=opened,
                last_contact_at=last,
                open_conflicts=conflicts,
                safety_plan_review_due=safety,
                last_review_at=review,
                updated_at=opened + timedelta(days=1),
                properties={},
                provenance={},
            )
            session.add(case)
            session.flush()
            for item_id, kind, title, item_status, item_due in ITEMS.get(ref, []):
                session.add(
                    PlanItem(
                        case_id=case.id,
                        item_id=item_id,
                        kind=kind,
                        title=title,
                        status=item_status,
                        due_date=item_due,
                        is_done=item_status == "done",
                    )
                )
        session.flush()
        for (cw_id, due_date, kind), n_items in item_counts.recount(session).items():
            session.add(
                PlanItemDueCount(caseworker_id=cw_id, due_date=due_date, kind=kind, n=n_items)
            )

    make._run(write)


@pytest.fixture
def seeded(make: Factory) -> Factory:
    _seed(make)
    return make


def refs(page: str) -> list[str]:
    """The reference numbers a list page shows, in its order."""
    return re.findall(r'<td><a href="/cases/[^"]+">([^<]+)</a></td>', page)


def _links(page: str) -> dict[str, str]:
    return {
        m[0]: html.unescape(m[1])
        for m in re.findall(r'<a id="([\w-]+)" (?:class="\w+" )?href="([^"]+)"', page)
    }


# --- the case list ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("ref", ["N-0001", "N-0002", "N-0003", "S-0001", "U-0001", "X-0420-N"]),
        ("risk", ["S-0001", "N-0001", "X-0420-N", "N-0003", "N-0002", "U-0001"]),
        ("opened", ["N-0003", "N-0001", "S-0001", "N-0002", "X-0420-N", "U-0001"]),
        ("caseworker", None),
        ("conflicts", ["N-0002", "N-0003", "U-0001", "X-0420-N", "N-0001", "S-0001"]),
        ("due", None),
        ("team", None),
        ("status", None),
        ("last_contact", None),
        ("updated", ["N-0003", "N-0001", "S-0001", "N-0002", "X-0420-N", "U-0001"]),
    ],
)
def test_case_list_sorts_by_each_column_both_ways(
    seeded: Factory, web_as: Any, sort: str, expected: list[str] | None
) -> None:
    admin = web_as("adm", "admin")
    up = refs(admin.text(f"/cases?sort={sort}"))
    down = refs(admin.text(f"/cases?sort={sort}&dir=desc"))
    assert sorted(up) == sorted(CASES)
    assert down == list(reversed(up))  # every key then the reference number: a total order
    if expected is not None:
        assert up == expected
    if sort == "caseworker":  # by name, the reference number breaking ties
        named = [r for r in up if CASES[r][0]]
        assert named == sorted(named, key=lambda r: (CASES[r][0], r))


def test_case_list_headers_sort_and_keep_the_filters(seeded: Factory, web_as: Any) -> None:
    page = web_as("adm", "admin").text("/cases?risk=high&sort=risk")
    links = _links(page)
    assert links["sort-risk"] == "/cases?risk=high&sort=risk&dir=desc"
    assert links["sort-ref"] == "/cases?risk=high&sort=ref&dir=asc"
    # risk's first order lists high risk first: the header says so
    assert 'aria-sort="descending"' in page


def _risk_header(page: str) -> str:
    return html.unescape(
        re.sub(r"<[^>]+>", "", page.split('id="sort-risk"', 1)[1].split("</th>")[0])
    )


def test_the_risk_header_says_which_risk_comes_first(seeded: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    first = admin.text("/cases?sort=risk")
    assert [CASES[r][1] for r in refs(first)][:2] == ["high", "high"]
    assert "Risk ▼ (High risk first)" in _risk_header(first)
    assert 'aria-sort="descending"' in first
    # the header's link asks for the other way: low risk first, and says so
    assert _links(first)["sort-risk"] == "/cases?sort=risk&dir=desc"
    second = admin.text("/cases?sort=risk&dir=desc")
    listed = [CASES[r][1] for r in refs(second) if CASES[r][1]]
    assert listed[0] == "low"
    assert listed[-1] == "high"
    assert "Risk ▲ (Low risk first)" in _risk_header(second)
    assert 'aria-sort="ascending"' in second
    # the other columns keep their arrows: ascending is ▲
    assert "Reference ▲" in html.unescape(re.sub(r"<[^>]+>", "", admin.text("/cases?sort=ref")))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("team=north", {"N-0001", "N-0002", "N-0003", "X-0420-N"}),
        ("team=south", {"S-0001"}),
        ("caseworker=cw-b", {"N-0002"}),
        ("risk=high", {"N-0001", "S-0001"}),
        ("status=closed", {"N-0003"}),
        ("overdue=true", {"N-0001", "S-0001", "U-0001"}),
        (f"opened_from={day(-260)}&opened_to={day(-100)}", {"S-0001", "N-0002"}),
        (f"opened_to={day(-300)}", {"N-0001", "N-0003"}),
        (f"last_contact_from={day(-10)}", {"N-0001", "N-0002"}),
        (f"last_contact_to={day(-20)}", {"N-0003", "S-0001", "U-0001"}),
        (f"due_from={day(-3)}&due_to={day(7)}", {"N-0001", "N-0002", "U-0001"}),
        (f"due_to={day(-1)}&status=open", {"N-0001", "S-0001", "U-0001"}),
        ("conflicts=true", {"N-0001", "S-0001"}),
        ("safety_due=true", {"N-0001", "S-0001"}),
        ("no_review=true", {"N-0001", "S-0001"}),  # the others opened or reviewed lately
        ("ref=042", {"X-0420-N"}),
        ("ref=0001", {"N-0001", "S-0001", "U-0001"}),
        ("ref=-n", {"X-0420-N"}),  # any part, in any case
        ("ref=N-000", {"N-0001", "N-0002", "N-0003"}),
        ("ref=%25", set()),  # a LIKE wildcard is a character like any other
        ("ref=_", set()),
        ("team=north&risk=high&overdue=true", {"N-0001"}),
    ],
)
def test_case_list_filters(seeded: Factory, web_as: Any, query: str, expected: set[str]) -> None:
    admin = web_as("adm", "admin")
    assert set(refs(admin.text(f"/cases?{query}"))) == expected
    listed = admin.get(f"/api/v1/cases?{query}&per_page=100").get_json()
    assert {c["case_ref"] for c in listed["items"]} == expected
    assert listed["total"] == len(expected)


@pytest.mark.parametrize(
    "query",
    ["sort=name", "dir=up", "opened_from=yesterday", "due_to=2026-13-01", "conflicts=maybe"],
)
def test_case_list_refuses_what_it_does_not_know(seeded: Factory, web_as: Any, query: str) -> None:
    admin = web_as("adm", "admin")
    assert admin.get(f"/cases?{query}").status_code == 400
    assert admin.get(f"/api/v1/cases?{query}").status_code == 400


def _walk_api(client: Any, url: str) -> tuple[list[str], list[str]]:
    """The reference numbers of every page, following ``next`` from the first page, then
    ``previous`` back from the last one."""
    pages = [client.get(url).get_json()]
    assert pages[0]["previous_cursor"] is None
    while pages[-1]["next_cursor"]:
        pages.append(client.get(pages[-1]["next"]).get_json())
        assert len(pages) <= len(CASES) + 1
    forward = [c["case_ref"] for p in pages for c in p["items"]]
    back = list(reversed([c["case_ref"] for c in pages[-1]["items"]]))
    page = pages[-1]
    while page["previous_cursor"]:
        page = client.get(page["previous"]).get_json()
        back += reversed([c["case_ref"] for c in page["items"]])
    return forward, back


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("sort", lists.CASE_SORTS)
@pytest.mark.parametrize("query", ["", "&team=north", "&status=open"])
def test_case_list_pages_by_cursor_in_every_sort(
    seeded: Factory, web_as: Any, sort: str, direction: str, query: str
) -> None:
    """A page at a time, one or two cases a page, forward then back: every case once, in
    the whole list's order, whatever the sort, its direction (the sort keys that may be
    empty among them: team, caseworker, last contact) and the filters."""
    admin = web_as("adm", "admin")
    base = f"/api/v1/cases?sort={sort}&dir={direction}{query}"
    whole = [c["case_ref"] for c in admin.get(f"{base}&per_page=100").get_json()["items"]]
    assert whole
    for per_page in (1, 2):
        forward, back = _walk_api(admin, f"{base}&per_page={per_page}")
        assert forward == whole
        assert back == list(reversed(whole))


def test_case_list_page_links_walk_the_list(seeded: Factory, web_as: Any) -> None:
    """The page's Next and Previous links carry a cursor and the filters; the first page
    has no Previous."""
    admin = web_as("adm", "admin")
    whole = refs(admin.text("/cases?sort=team"))
    page = admin.text("/cases?sort=team&per_page=4")
    assert 'rel="prev"' not in page
    assert "6 in all" in page
    (after,) = re.findall(r'<a rel="next" href="([^"]+)"', page)
    assert "sort=team" in after
    assert "per_page=4" in after
    assert "cursor=" in after
    second = admin.text(html.unescape(after))
    assert refs(page) + refs(second) == whole
    assert 'rel="next"' not in second
    (before,) = re.findall(r'<a rel="prev" href="([^"]+)"', second)
    assert refs(admin.text(html.unescape(before))) == refs(page)


@pytest.mark.parametrize(
    "cursor",
    [
        "nonsense",
        "eyJvIjoiMSJ9",  # {"o":"1"}: JSON, but of no list
        "%00",
    ],
)
def test_a_bad_cursor_is_refused_clearly(seeded: Factory, web_as: Any, cursor: str) -> None:
    admin = web_as("adm", "admin")
    answer = admin.get(f"/api/v1/cases?cursor={cursor}")
    assert answer.status_code == 400
    assert answer.get_json()["code"] in ("request.bad_cursor", "request.invalid")
    assert admin.get(f"/cases?cursor={cursor}").status_code == 400
    assert admin.get(f"/plan-items?cursor={cursor}").status_code == 400
    assert admin.get(f"/audit?cursor={cursor}").status_code == 400
    assert admin.get(f"/queues?unlinked={cursor}").status_code == 400


def test_a_cursor_of_another_sort_is_refused(seeded: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    first = admin.get("/api/v1/cases?sort=team&per_page=1").get_json()
    answer = admin.get(f"/api/v1/cases?sort=opened&cursor={first['next_cursor']}")
    assert answer.status_code == 400
    assert answer.get_json()["code"] == "request.bad_cursor"
    assert "first page" in answer.get_json()["message"]
    # the same sort with other filters is a list of its own, started at that place
    listed = admin.get(f"/api/v1/cases?sort=team&risk=high&cursor={first['next_cursor']}")
    assert listed.status_code == 200


def test_the_older_numbered_pages_still_answer(seeded: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    whole = [c["case_ref"] for c in admin.get("/api/v1/cases?sort=ref").get_json()["items"]]
    second = admin.get("/api/v1/cases?sort=ref&per_page=2&page=2").get_json()
    assert [c["case_ref"] for c in second["items"]] == whole[2:4]
    after = admin.get(second["next"]).get_json()  # and hand on cursors
    assert [c["case_ref"] for c in after["items"]] == whole[4:6]
    before = admin.get(second["previous"]).get_json()
    assert [c["case_ref"] for c in before["items"]] == whole[0:2]


def test_api_case_list_sorts_like_the_page(seeded: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    listed = admin.get("/api/v1/cases?sort=risk&dir=desc").get_json()
    assert [c["case_ref"] for c in listed["items"]] == refs(admin.text("/cases?sort=risk&dir=desc"))


# --- plan items and referrals -----------------------------------------------------------


def item_titles(page: str) -> list[str]:
    body = page.split('id="item-list"')[1]
    return re.findall(r"</td>\s*(?:<td>[a-z]+</td>\s*)?<td>([A-Z][^<]+)</td>\s*<td>", body)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "",
            [
                "Closed case need",
                "Home visit",
                "School place",
                "Legal aid",
                "Health clinic",
                "Cash support",
                "Conference decision",
            ],
        ),
        ("kind=need", ["Closed case need", "School place"]),
        ("kind=service", ["Legal aid", "Health clinic", "Cash support"]),
        ("status=referred", ["Legal aid", "Health clinic"]),
        (
            "open=true",
            [
                "Closed case need",
                "School place",
                "Legal aid",
                "Health clinic",
                "Cash support",
                "Conference decision",
            ],
        ),
        ("overdue=true", ["School place", "Legal aid", "Health clinic"]),
        (
            "team=north",
            [
                "Closed case need",
                "Home visit",
                "School place",
                "Health clinic",
                "Cash support",
                "Conference decision",
            ],
        ),
        ("caseworker=cw-s", ["Legal aid"]),
        (
            f"due_from={day(-4)}&due_to={day(5)}",
            ["School place", "Legal aid", "Health clinic", "Cash support"],
        ),
        (f"due_from={day(0)}", ["Cash support"]),
    ],
)
def test_plan_items_page_filters(
    seeded: Factory, web_as: Any, query: str, expected: list[str]
) -> None:
    page = web_as("adm", "admin").text(f"/plan-items?{query}")
    assert item_titles(page) == expected


def test_referrals_page_lists_services_only(seeded: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    assert item_titles(admin.text("/referrals")) == ["Legal aid", "Health clinic", "Cash support"]
    assert item_titles(admin.text("/referrals?overdue=true&team=north")) == ["Health clinic"]
    assert item_titles(admin.text("/referrals?status=accepted")) == ["Cash support"]
    assert admin.get("/referrals?kind=need").status_code == 400
    assert admin.get("/plan-items?kind=other").status_code == 400
    assert admin.get("/plan-items?due_from=soon").status_code == 400


def test_plan_items_page(seeded: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    whole = item_titles(admin.text("/plan-items"))
    page = admin.text("/plan-items?per_page=2")
    assert "7 in all" in page
    seen = item_titles(page)
    while 'rel="next"' in page:
        (after,) = re.findall(r'<a rel="next" href="([^"]+)"', page)
        page = admin.text(html.unescape(after))
        seen += item_titles(page)
    assert seen == whole
    assert len(whole) == 7
    (before,) = re.findall(r'<a rel="prev" href="([^"]+)"', page)
    assert item_titles(admin.text(html.unescape(before))) == whole[4:6]
    # a link made before cursors: the numbered page
    assert item_titles(admin.text("/plan-items?per_page=2&page=2")) == whole[2:4]


# --- scope: a caseworker never sees another's cases -------------------------------------

OTHERS = ("N-0002", "S-0001", "U-0001")  # cw-a's: N-0001, N-0003, X-0420-N
OTHERS_ITEMS = ("Cash support", "Legal aid")


@pytest.mark.parametrize(
    "url",
    [
        "/cases",
        "/cases?team=south",
        "/cases?caseworker=cw-s",
        "/cases?ref=0001",
        "/cases?overdue=true",
        "/cases?conflicts=true",
        "/cases?safety_due=true",
        "/cases?no_review=true",
        "/cases?sort=risk&dir=desc",
        f"/cases?due_to={day(7)}&status=open",
        "/plan-items",
        "/plan-items?team=south",
        "/plan-items?caseworker=cw-s&overdue=true",
        "/referrals",
        "/referrals?overdue=true",
        "/dashboard",
    ],
)
def test_a_caseworker_sees_only_their_cases_in_every_list(
    seeded: Factory, app: Any, url: str
) -> None:
    cw = Web(app.test_client())
    assert cw.login("cw-a").status_code == 302
    page = cw.text(url)
    for ref in OTHERS:
        assert ref not in page, (url, ref)
    for title in OTHERS_ITEMS:
        assert title not in page, (url, title)
    api = cw.get("/api/v1/cases" + url.removeprefix("/cases")) if url.startswith("/cases") else None
    if api is not None:
        assert not {c["case_ref"] for c in api.get_json()["items"]} & set(OTHERS)


def test_a_caseworker_lands_on_their_own_worklist(seeded: Factory, app: Any) -> None:
    cw = Web(app.test_client())
    response = cw.login("cw-a")
    assert response.headers["Location"] == "/"
    assert cw.get("/").headers["Location"] == "/dashboard"
    page = cw.text("/dashboard")
    assert 'id="n-contacts-overdue">1<' in page  # N-0001 only
    assert 'id="n-conflicts">1<' in page
    assert 'id="n-safety-due">1<' in page
    assert 'id="n-items-overdue">2<' in page  # N-0001's need and referral
    assert "n-unlinked" not in page  # the queues are a supervisor's
    assert "chart-caseload" not in page
    assert refs(page.split('id="due-contacts"')[1].split("</table>")[0]) == ["N-0001"]


def test_a_supervisor_sees_the_teams_work(seeded: Factory, web_as: Any) -> None:
    page = web_as("sup-n", "supervisor", team="north").text("/dashboard")
    contacts = page.split('id="due-contacts"')[1].split("</table>")[0]
    assert refs(contacts) == ["N-0001", "N-0002", "U-0001"]  # high risk first, unrecorded last
    assert "S-0001" not in page
    assert 'id="n-contacts-overdue">2<' in page
    assert 'id="n-referrals-overdue">1<' in page


# --- the dashboard: each count opens the list it counts ---------------------------------

COUNTED = {
    # count id: (link id, what the list shows)
    "n-contacts-overdue": ("link-contacts-overdue", "cases"),
    "n-contacts-week": ("link-contacts-week", "cases"),
    "n-no-review": ("link-no-review", "cases"),
    "n-safety-due": ("link-safety-due", "cases"),
    "n-items-overdue": ("link-items-overdue", "items"),
    "n-referrals-overdue": ("link-referrals-overdue", "items"),
    "n-kind-need": ("link-kind-need", "items"),
    "n-kind-service": ("link-kind-service", "items"),
    "n-kind-action": ("link-kind-action", "items"),
    "n-kind-decision": ("link-kind-decision", "items"),
    "n-referral-steps-overdue": ("link-referral-steps-overdue", "items"),
}


@pytest.mark.parametrize("who", ["admin", "supervisor", "caseworker"])
def test_every_dashboard_count_links_to_the_list_it_counts(
    seeded: Factory, web_as: Any, app: Any, who: str
) -> None:
    if who == "caseworker":
        client = Web(app.test_client())
        client.login("cw-a")
    else:
        client = web_as("me", who, team="north" if who == "supervisor" else None)
    page = client.text("/dashboard")
    links = _links(page)
    for count_id, (link_id, kind) in COUNTED.items():
        n = int(re.search(rf'id="{count_id}">(\d+)<', page).group(1))  # type: ignore[union-attr]
        listed = client.text(links[link_id])
        shown = refs(listed) if kind == "cases" else item_titles(listed)
        assert len(shown) == n, (who, count_id, links[link_id], shown)
    # conflicts count the conflicts; the list shows the cases that have them
    n = int(re.search(r'id="n-conflicts">(\d+)<', page).group(1))  # type: ignore[union-attr]
    cases = refs(client.text(links["link-conflicts"]))
    assert sum(CASES[r][6] for r in cases) == n
    if who != "caseworker":
        assert links["link-unlinked"].startswith("/queues")


def test_dashboard_lists_page_to_the_whole_list(
    seeded: Factory, web_as: Any, monkeypatch: Any
) -> None:
    from server.web.views import dashboard

    monkeypatch.setattr(dashboard, "LIST_LIMIT", 2)
    admin = web_as("adm", "admin")
    page = admin.text("/dashboard")
    contacts = page.split('id="due-contacts"')[1].split("</table>")[0]
    assert refs(contacts) == ["S-0001", "N-0001"]
    links = _links(page)
    more = admin.text(links["more-contacts"])
    assert refs(more) == ["S-0001", "N-0001", "N-0002", "U-0001"]  # the same order, in full
    assert "cw-s" in contacts
    assert "cw-a" in contacts
    assert ">5<" in contacts  # days overdue
    items = admin.text(links["more-items"])
    assert item_titles(items) == ["School place", "Legal aid", "Health clinic"]


def test_dashboard_charts_tell_overdue_from_due_soon(seeded: Factory, web_as: Any) -> None:
    page = web_as("adm", "admin").text("/dashboard")
    chart = page.split('aria-labelledby="chart-contacts-t"')[0].rsplit("<figure", 1)[1]
    assert chart.index("<figcaption>") < chart.index("<svg") if "<svg" in chart else True
    contacts = page.split('id="chart-contacts-t"')[1].split("</svg>")[0]
    assert "chart-bar-alert" in contacts
    assert "chart-bar-soon" in contacts


def test_api_case_list_is_audited_with_its_filters(seeded: Factory, web_as: Any, app: Any) -> None:
    admin = web_as("adm", "admin")
    assert admin.get(f"/api/v1/cases?opened_from={day(-30)}&sort=risk").status_code == 200
    from server import db
    from server.audit.models import AuditEvent

    with app.app_context():
        event = db.session().query(AuditEvent).filter_by(action="case.list").one()
        details = event.details if isinstance(event.details, dict) else json.loads(event.details)
    assert details["opened_from"] == day(-30).isoformat()
    assert details["sort"] == "risk"
