"""What a person sees, in a real headless Chromium against the real server."""
import shutil
from pathlib import Path

import pytest

from tests.conftest import require_service
from tests.servers import embedded_server

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium():
    executable = shutil.which("chromium")
    if not executable:
        require_service("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("browser"), OFFLINE_TOKEN_DELAY="0.04") as running:
        yield running


@pytest.fixture
def page_for(chromium, server):
    """A fresh browser profile (JavaScript on or off) that records console errors."""
    contexts = []

    def make(javascript=True):
        context = chromium.new_context(java_script_enabled=javascript, base_url=server.url)
        contexts.append(context)
        page = context.new_page()
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.set_default_timeout(15000)
        return page
    yield make
    for context in contexts:
        context.close()


def sign_up(page, email):
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/")


def start_chat(page):
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url("**/chats/*")
    return page.url


def test_with_javascript_the_reply_streams_into_the_page(page_for):
    page = page_for(javascript=True)
    sign_up(page, "js@example.com")
    chat_url = start_chat(page)
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    page.get_by_label("Message").fill("I have been learning to paint with watercolours")
    page.get_by_role("button", name="Send").click()

    user_message = page.locator(".message.user").last
    user_message.wait_for()
    assert "watercolours" in user_message.inner_text()
    streaming = page.locator(".message.assistant.status-streaming .message-text span")
    streaming.first.wait_for()  # text arrives while the reply is still being written
    early = page.locator(".message.assistant").last.inner_text()
    done = page.locator(".message.assistant.status-complete")
    done.wait_for()
    final = done.inner_text()
    assert len(final) > len(early) > 0
    assert page.evaluate("window.sameDocument") is True  # no page load happened
    assert page.get_by_label("Message").input_value() == ""  # the composer was reset
    assert page.locator(".chat-list a[aria-current=page]").inner_text().startswith("I have been learning")
    assert page.locator("h1").inner_text().startswith("I have been learning")

    page.reload()
    assert page.locator(".message.user").inner_text().strip().endswith("watercolours")
    assert page.locator(".message.assistant.status-complete").count() == 1
    assert page.url == chat_url
    assert page.errors == []


def test_enter_sends_and_a_refused_message_shows_its_error(page_for):
    page = page_for(javascript=True)
    sign_up(page, "keys@example.com")
    start_chat(page)
    page.get_by_label("Message").fill("   ")
    page.get_by_label("Message").press("Enter")
    page.locator("#content-error").wait_for()
    assert page.locator("#content-error").inner_text() == "Write a message first."
    page.get_by_label("Message").fill("hello")
    page.get_by_label("Message").press("Enter")
    page.locator(".message.assistant.status-complete").wait_for()
    assert page.locator("#content-error").count() == 0


def test_without_javascript_everything_works_through_forms(page_for):
    page = page_for(javascript=False)
    sign_up(page, "nojs@example.com")
    chat_url = start_chat(page)

    page.get_by_label("Message").fill("What makes sourdough bread rise?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_load_state()
    assert "sourdough" in page.locator(".message.user").inner_text()
    assert page.locator(".message.assistant.status-complete").inner_text().strip()

    page.goto(chat_url)  # reload shows the history
    assert page.locator(".message").count() == 2

    page.get_by_text("Edit title").click()
    page.get_by_label("Title").fill("Bread questions")
    page.get_by_role("button", name="Rename").click()
    assert page.locator("h1").inner_text() == "Bread questions"
    assert page.locator(".chat-list a").first.inner_text() == "Bread questions"

    page.get_by_role("button", name="Delete").click()
    assert page.locator("h1").inner_text() == "Delete “Bread questions”?"
    page.get_by_role("button", name="Delete").click()
    page.wait_for_url("**/")
    assert page.locator(".chat-list a").count() == 0
    assert page.goto(chat_url).status == 404

    page.get_by_role("link", name="Back to your chats").click()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")


def test_a_second_user_cannot_open_the_first_users_chat(page_for):
    first = page_for()
    sign_up(first, "first@example.com")
    chat_url = start_chat(first)
    second = page_for()
    sign_up(second, "second@example.com")
    response = second.goto(chat_url)
    assert response.status == 404
    assert second.locator("h1").inner_text() == "Not found"


def test_a_second_page_of_the_same_user_receives_the_message_live(page_for):
    first = page_for()
    sign_up(first, "two@example.com")
    chat_url = start_chat(first)
    second = first.context.new_page()
    second.errors = []
    second.on("console", lambda m: m.type == "error" and second.errors.append(m.text))
    second.goto(chat_url)
    second.wait_for_timeout(300)  # its socket connects

    first.get_by_label("Message").fill("Hello from the first tab")
    first.get_by_role("button", name="Send").click()

    second.locator(".message.user", has_text="Hello from the first tab").wait_for()
    second.locator(".message.assistant.status-streaming").wait_for()  # the reply streams here too
    second.locator(".message.assistant.status-complete").wait_for()
    assert second.locator(".chat-list a").first.inner_text() == "Hello from the first tab"
    assert second.locator("h1").inner_text() == "Hello from the first tab"
    assert first.locator(".message").count() == second.locator(".message").count() == 2
    assert first.errors == [] and second.errors == []


def test_stop_button_ends_the_reply_and_keeps_its_text(page_for):
    page = page_for()
    sign_up(page, "stopper@example.com")
    start_chat(page)
    page.get_by_label("Message").fill("Tell me about the history of lighthouses on rocky coasts and their keepers")
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-streaming .message-text span").first.wait_for()
    page.get_by_role("button", name="Stop").click()
    stopped = page.locator(".message.assistant.status-stopped")
    stopped.wait_for()
    assert "Stopped before the end." in stopped.inner_text()
    page.reload()
    assert page.locator(".message.assistant.status-stopped").count() == 1


def test_without_a_websocket_the_page_falls_back_to_post_and_sse(page_for):
    page = page_for()
    page.route_web_socket("**/live**", lambda ws: ws.close())  # a proxy that refuses WebSockets
    sign_up(page, "nosocket@example.com")
    start_chat(page)
    requests_made = []
    page.on("request", lambda r: requests_made.append((r.method, r.url)))
    page.get_by_label("Message").fill("Does this still work?")
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-streaming .message-text span").first.wait_for()
    page.locator(".message.assistant.status-complete").wait_for()
    assert any(m == "POST" and u.endswith("/messages") for m, u in requests_made)
    assert any("/events" in u for _, u in requests_made)  # the reply came over SSE
    assert page.locator(".message").count() == 2


@pytest.mark.parametrize("javascript", [True, False])
def test_a_file_attached_in_the_browser_reaches_the_chat(page_for, javascript):
    page = page_for(javascript=javascript)
    sign_up(page, f"files-{javascript}@example.com")
    start_chat(page)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
    if javascript:
        page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.get_by_label("Message").fill("What is on this map?")
    page.get_by_label("Attach files").set_input_files([
        {"name": "map.png", "mimeType": "image/png", "buffer": png},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"fog at dawn"},
    ])
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-complete").wait_for()
    user_message = page.locator(".message.user").last
    assert user_message.locator("img[alt='map.png']").count() == 1
    link = user_message.get_by_role("link", name="notes.txt")
    with page.expect_download() as download:
        link.click()
    assert Path(download.value.path()).read_bytes() == b"fog at dawn"
    if javascript:  # sent by htmx as an upload (not over the socket), no page load
        assert page.evaluate("window.sameDocument") is True
        assert page.get_by_label("Attach files").evaluate("input => input.files.length") == 0  # composer reset
    assert page.errors == []
