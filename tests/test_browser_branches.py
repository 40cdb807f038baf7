"""Editing, regenerating and versions in a real Chromium against the real server: with
JavaScript (htmx, and the page's socket bringing the change to another tab) and without."""
import pytest

from tests.test_browser import chromium, page_for, server, sign_up, start_chat  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.server]


def texts(page):
    return [t.inner_text().strip() for t in page.locator("#messages .message .message-text").all()]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_edit_and_resend_then_move_between_versions(page_for, javascript):  # noqa: F811
    page = page_for(javascript=javascript)
    sign_up(page, f"branches-{javascript}@example.com")
    start_chat(page, "I have been learning to paint with watercolours")
    page.get_by_label("Message").fill("Which paper should I buy?")
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-complete").nth(1).wait_for()
    other = None
    if javascript:  # a second tab of the same chat follows every change live
        other = page.context.new_page()
        other.goto(page.url)
        other.wait_for_selector("body[data-live=open]", state="attached")
    first_reply = texts(page)[1]

    page.locator(".message.user").first.get_by_role("link", name="Edit").click()
    box = page.get_by_label("Your message")
    assert box.input_value() == "I have been learning to paint with watercolours"
    box.fill("I have been learning to paint with oils")
    page.locator(".edit-form").get_by_role("button", name="Send").click()
    page.wait_for_function("""() => document.querySelectorAll("#messages .message").length === 2
        && document.querySelector(".message.assistant.status-complete")""")
    assert texts(page)[0] == "I have been learning to paint with oils"
    nav = page.locator(".message.user").first.locator(".versions")
    assert nav.get_attribute("aria-label") == "Version 2 of 2" and nav.locator(".version").inner_text() == "2/2"
    if other:
        other.wait_for_function("""() => document.querySelectorAll("#messages .message").length === 2
            && document.querySelector("#messages .message.user .message-text").innerText.includes("oils")""")

    page.locator(".message.user").first.get_by_role("button", name="Previous version").click()
    page.wait_for_function("() => document.querySelectorAll('#messages .message').length === 4")
    assert texts(page)[0] == "I have been learning to paint with watercolours" and texts(page)[1] == first_reply
    assert page.locator(".message.user").first.locator(".version").inner_text() == "1/2"
    assert page.locator(".message.user").first.get_by_role("button", name="Previous version").is_disabled()
    if other:
        other.wait_for_function("() => document.querySelectorAll('#messages .message').length === 4")

    # Regenerate the last reply: a new version, the old one a click away.
    old = texts(page)[3]
    page.locator(".message.assistant").last.get_by_role("button", name="Regenerate").click()
    page.wait_for_function("""() => { const v = [...document.querySelectorAll('.message.assistant')].at(-1)
        .querySelector('.version'); return v && v.innerText === '2/2'; }""")
    page.locator(".message.assistant.status-streaming").wait_for(state="detached")
    page.locator(".message.assistant").last.get_by_role("button", name="Previous version").click()
    page.wait_for_function("""() => [...document.querySelectorAll('.message.assistant')].at(-1)
        .querySelector('.version').innerText === '1/2'""")
    assert texts(page)[3] == old
    assert page.errors == []
