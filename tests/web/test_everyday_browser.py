"""Everyday care, in a real Chromium on a tablet-sized window (768 px): a supervisor closes
a case with a reason after confirming; a user changes their own password; a page not
found says what and links back; an admin lifts a lock-out. Along the way: no error in the
browser's console (an icon that is not there would be one), no page wider than the
window, text at WCAG AA contrast, and a keyboard focus that can be seen on every stop.
Screenshots go to test-artifacts/screenshots/everyday-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.factories import PASSWORD, Factory
from tests.web import seed
from tests.web.test_browser import _shot, _sign_in, _sign_out, live, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

TABLET = {"width": 768, "height": 1024}
NEW_PASSWORD = "a brand new passphrase"

# Colours as the browser computed them, composited over what is behind (a parent's
# background), and the WCAG contrast ratio of two of them.
COLOUR_JS = """
const parse = (c) => {
  const m = c && c.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(parseFloat);
  return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
};
const over = (top, bottom) => ({
  r: top.r * top.a + bottom.r * (1 - top.a),
  g: top.g * top.a + bottom.g * (1 - top.a),
  b: top.b * top.a + bottom.b * (1 - top.a), a: 1});
const behind = (el) => {
  const chain = [];
  for (let e = el; e; e = e.parentElement) chain.unshift(e);
  let bg = {r: 255, g: 255, b: 255, a: 1};
  for (const e of chain) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0) bg = over(c, bg);
  }
  return bg;
};
const lum = ({r, g, b}) => {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const ratio = (a, b) => {
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};
"""

LOW_CONTRAST_JS = (
    "() => {"
    + COLOUR_JS
    + """
  const low = [];
  const seen = new Set();
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!walk.currentNode.textContent.trim() || seen.has(el) || el.closest("svg")) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (st.visibility === "hidden" || box.width === 0 || box.height === 0) continue;
    if (box.right < 0 || box.bottom < 0) continue;  // the skip link, until it has focus
    const bg = behind(el);
    const fg = over(parse(st.color), bg);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (parseInt(st.fontWeight, 10) >= 700 && size >= 18.66);
    const r = ratio(fg, bg);
    if (r < (large ? 3 : 4.5)) low.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 40)}" ${r.toFixed(2)}`);
  }
  return low;
}"""
)

FOCUS_JS = (
    "() => {"
    + COLOUR_JS
    + """
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  el.scrollIntoView({block: "center"});
  const st = getComputedStyle(el);
  const ring = parse(st.outlineColor);
  // what the ring is drawn over: whatever is just outside the element, on each side
  const box = el.getBoundingClientRect();
  const gap = parseFloat(st.outlineOffset) + parseFloat(st.outlineWidth) / 2;
  const points = [
    [box.left - gap, box.top + box.height / 2], [box.right + gap, box.top + box.height / 2],
    [box.left + box.width / 2, box.top - gap], [box.left + box.width / 2, box.bottom + gap]];
  let worst = Infinity;
  for (const [x, y] of points) {
    if (x < 0 || y < 0 || x >= innerWidth || y >= innerHeight) continue;
    const under = document.elementsFromPoint(x, y).find((e) => e !== el && !el.contains(e));
    const bg = behind(under || document.body);
    if (ring) worst = Math.min(worst, ratio(over(ring, bg), bg));
  }
  return {
    what: `${el.tagName} ${(el.textContent || el.name || "").trim().slice(0, 30)}`,
    style: st.outlineStyle,
    width: parseFloat(st.outlineWidth),
    contrast: ring ? worst : 0,
  };
}"""
)


def _check_page(tab: Any, name: str) -> None:
    """At 768 px: nothing wider than the window, every text at AA contrast; then the
    screenshot, which is looked at by a person too."""
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET["width"], (name, width)
    assert tab.evaluate(LOW_CONTRAST_JS) == [], name
    _shot(tab, f"everyday-{name}")


def _check_focus(tab: Any, stops: int = 60) -> int:
    """Tab through the page: each stop shows a ring of 2 px or more, at 3:1 or more
    against what is around it. Returns how many stops were checked."""
    tab.locator("body").focus()
    checked = 0
    for _ in range(stops):
        tab.keyboard.press("Tab")
        focus = tab.evaluate(FOCUS_JS)
        if focus is None:
            break
        assert focus["style"] != "none", focus
        assert focus["width"] >= 2, focus
        assert focus["contrast"] >= 3, focus
        checked += 1
    return checked


def test_everyday_care_on_a_tablet(live: tuple[str, Flask], page: Any) -> None:  # noqa: F811
    base, app = live
    make = Factory(app)
    seed.publish_case_forms(make)
    make.user("adm", "admin")
    make.user("sup", "supervisor", team="north")
    make.user("amina", "caseworker", team="north")
    phone = make.device_client("p-amina", "amina")
    seed.submit(phone, seed.registration("CP-201", seed.new_entity()))

    # Everything the console says, and every answer of 400 or more, but the two asked
    # for: the page not found, and amina's refused sign-ins.
    problems: list[str] = []

    def expected(url: str) -> bool:
        return url in (f"{base}/cases/CP-NOPE-1", f"{base}/login")

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning") and not expected(message.location["url"]):
            problems.append(f"console {message.type}: {message.text} {message.location}")

    def on_response(response: Any) -> None:
        if response.status >= 400 and not expected(response.url):
            problems.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", on_response)
    page.set_viewport_size(TABLET)

    # The supervisor closes the case: the case page asks on a page of its own.
    _sign_in(page, base, "sup")
    page.goto(f"{base}/cases/CP-201")
    assert page.locator("main .overdue").count() == 2
    _check_page(page, "01-case-open")
    page.get_by_role("link", name="Close the case…").click()
    page.wait_for_url("**/cases/CP-201/close")
    assert page.get_by_role("heading", name="Close case CP-201?").is_visible()
    _check_page(page, "02-close-confirm")
    assert _check_focus(page) >= 10
    page.get_by_label("Reason for closing").focus()
    page.keyboard.press("Tab")  # to the button, by keyboard: its ring shows
    _shot(page, "everyday-02b-focus")
    # without a reason the browser does not send the form
    page.get_by_role("button", name="Close the case").click()
    assert page.url.endswith("/cases/CP-201/close")
    assert page.locator("#f-reason").evaluate("e => e.validity.valueMissing")
    page.get_by_label("Reason for closing").fill("Goals met; the family is stable.")
    page.get_by_role("button", name="Close the case").click()
    page.wait_for_url("**/cases/CP-201")
    assert "The case is closed." in page.locator(".flashes").inner_text()
    assert page.locator("#case-status").inner_text() == "closed"
    assert page.locator("main .overdue").count() == 0
    decision = page.locator("ol.history li.decision")
    assert "Closed the case" in decision.inner_text()
    assert "Reason: Goals met; the family is stable." in decision.inner_text()
    _check_page(page, "03-case-closed")

    # A page not found: what was asked for, and the way back.
    response = page.goto(f"{base}/cases/CP-NOPE-1")
    assert response is not None
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    assert page.locator("#missing-path").inner_text() == "/cases/CP-NOPE-1"
    _check_page(page, "04-not-found")
    page.get_by_role("link", name="Go to the case list").click()
    page.wait_for_url("**/cases")

    # The supervisor changes their own password.
    page.goto(f"{base}/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/account#password")
    assert "Your password is changed." in page.locator(".flashes").inner_text()
    _check_page(page, "05-account")
    _sign_out(page)
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill("sup")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")
    _check_page(page, "06-dashboard")
    _sign_out(page)

    # amina mistypes her password five times; the admin lifts the lock-out.
    for _ in range(5):
        page.get_by_label("User name").fill("amina")
        page.get_by_label("Password").fill("not her password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
    _sign_in(page, base, "adm")
    page.goto(f"{base}/users#lockouts")
    _check_page(page, "07-users-lockouts")
    page.get_by_role("button", name="Lift the lock-out of amina").click()
    page.wait_for_url("**/users#lockouts")
    assert "The lock-out of amina is lifted." in page.locator(".flashes").inner_text()
    page.goto(f"{base}/teams")
    _check_page(page, "08-teams")
    _sign_out(page)
    _sign_in(page, base, "amina")
    page.wait_for_url("**/dashboard")  # a caseworker lands on their own worklist

    assert problems == []
