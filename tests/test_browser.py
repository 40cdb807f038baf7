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


def start_chat(page, text="Hello"):
    """A new chat, made by its first message from the home page: its address, once the
    reply is done (without JavaScript the page refreshes until it is)."""
    page.goto("/")
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/chats/*")
    page.locator(".message.assistant.status-complete").wait_for()
    return page.url.split("#")[0]


def test_with_javascript_the_reply_streams_into_the_page(page_for):
    page = page_for(javascript=True)
    sign_up(page, "js@example.com")
    assert page.get_by_label("Message").is_visible()  # a new chat, ready to type in
    page.get_by_label("Message").fill("I have been learning to paint with watercolours")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/chats/*")  # the first message made the chat
    chat_url = page.url.split("#")[0]
    streaming = page.locator(".message.assistant.status-streaming .message-text span")
    streaming.first.wait_for()  # text arrives while the reply is still being written
    page.locator(".message.assistant.status-complete").wait_for()
    assert "watercolours" in page.locator(".message.user").inner_text()
    # Named after the first words at once, then, live, with the title the model wrote.
    page.wait_for_function("""() => document.querySelector(".chat-list a[aria-current=page]").innerText
                                    === "Learning paint watercolours"
                                 && document.querySelector("h1").innerText === "Learning paint watercolours" """)

    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    page.get_by_label("Message").fill("Which paper should I buy?")
    page.get_by_role("button", name="Send").click()
    page.locator(".message.user").nth(1).wait_for()
    streaming.first.wait_for()
    early = page.locator(".message.assistant").last.inner_text()
    done = page.locator(".message.assistant.status-complete").nth(1)
    done.wait_for()
    assert len(done.inner_text()) > len(early) > 0
    assert page.evaluate("window.sameDocument") is True  # no page load happened
    assert page.get_by_label("Message").input_value() == ""  # the composer was reset

    page.reload()
    assert page.locator(".message.user .message-text").last.inner_text().strip().endswith("buy?")
    assert page.locator(".message.assistant.status-complete").count() == 2
    assert page.url.split("#")[0] == chat_url
    assert page.errors == []


def test_enter_sends_and_a_refused_message_shows_its_error(page_for):
    page = page_for(javascript=True)
    sign_up(page, "keys@example.com")
    page.get_by_label("Message").fill("   ")
    page.get_by_label("Message").press("Enter")
    page.locator("#content-error").wait_for()
    assert page.locator("#content-error").inner_text() == "Write a message first."
    assert page.locator(".chat-list a").count() == 0  # no chat was made
    page.get_by_label("Message").fill("hello")
    page.get_by_label("Message").press("Enter")
    page.locator(".message.assistant.status-complete").wait_for()
    page.get_by_label("Message").fill("   ")
    page.get_by_label("Message").press("Enter")
    page.locator("#content-error").wait_for()
    page.get_by_label("Message").fill("and again")
    page.get_by_label("Message").press("Enter")
    page.locator(".message.assistant.status-complete").nth(1).wait_for()
    assert page.locator("#content-error").count() == 0


def test_without_javascript_everything_works_through_forms(page_for):
    page = page_for(javascript=False)
    sign_up(page, "nojs@example.com")
    page.get_by_label("Message").fill("What makes sourdough bread rise?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/chats/*")
    chat_url = page.url.split("#")[0]
    assert "sourdough" in page.locator(".message.user").inner_text()
    assert page.locator(".message.assistant.status-streaming").count() == 1  # shown at once, being written...
    page.locator(".message.assistant.status-complete").wait_for()  # ...and the page refreshes until it is done
    assert page.locator(".message.assistant.status-complete").inner_text().strip()

    page.get_by_label("Message").fill("And how long should it prove?")
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-complete").nth(1).wait_for()
    page.goto(chat_url)  # reload shows the history
    assert page.locator(".message").count() == 4

    page.get_by_label("Edit title").click()
    page.get_by_label("Title", exact=True).fill("Bread questions")
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

    first.get_by_label("Edit title").click()
    first.get_by_label("Title", exact=True).fill("Hello from the first tab")
    first.get_by_role("button", name="Rename").click()
    first.get_by_label("Message").fill("A second message, from the first tab")
    first.get_by_role("button", name="Send").click()

    second.locator(".message.user", has_text="A second message, from the first tab").wait_for()
    second.locator(".message.assistant.status-streaming").wait_for()  # the reply streams here too
    second.locator(".message.assistant.status-complete").nth(1).wait_for()
    assert second.locator(".chat-list a").first.inner_text() == "Hello from the first tab"
    assert second.locator("h1").inner_text() == "Hello from the first tab"
    assert first.locator(".message").count() == second.locator(".message").count() == 4
    assert first.errors == [] and second.errors == []


def test_send_becomes_stop_while_a_reply_is_written(page_for):
    page = page_for()
    sign_up(page, "stopper@example.com")
    start_chat(page)
    composer = page.locator("#composer")
    page.get_by_label("Message").fill("Tell me about the history of lighthouses on rocky coasts and their keepers")
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-streaming .message-text span").first.wait_for()
    assert composer.get_by_role("button", name="Stop").is_visible()
    assert not composer.get_by_role("button", name="Send").is_visible()
    composer.get_by_role("button", name="Stop").click()
    stopped = page.locator(".message.assistant.status-stopped")
    stopped.wait_for()
    assert "Stopped before the end." in stopped.inner_text()
    composer.get_by_role("button", name="Send").wait_for()  # and back
    page.reload()
    assert page.locator(".message.assistant.status-stopped").count() == 1


def test_escape_stops_and_a_message_typed_meanwhile_waits_for_the_reply(page_for):
    page = page_for()
    sign_up(page, "queue@example.com")
    start_chat(page)
    box = page.get_by_label("Message")
    box.fill("Tell me about the history of lighthouses on rocky coasts and their keepers")
    box.press("Enter")
    page.locator(".message.assistant.status-streaming").wait_for()
    box.fill("One more thing")
    box.press("Enter")  # while the reply is written: kept, and sent when it is done
    assert page.locator(".composer-note").inner_text() == "Sends when the reply is done."
    assert box.input_value() == "One more thing" and page.locator("#content-error").count() == 0
    page.keyboard.press("Escape")  # stops the reply...
    page.locator(".message.assistant.status-stopped").wait_for()
    page.locator(".message.user", has_text="One more thing").wait_for()  # ...and the waiting message goes
    page.locator(".message.assistant.status-complete").nth(1).wait_for()
    assert [m.inner_text().strip() for m in page.locator(".message.user .message-text").all()][-1] == "One more thing"
    assert page.errors == []


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
    assert page.locator(".message").count() == 4


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
    if javascript:  # the chosen files show as chips, an image with its thumbnail; one can go again
        chips = page.locator(".chips .chip")
        assert chips.count() == 2 and chips.first.locator("img").count() == 1
        assert chips.nth(1).inner_text().startswith("notes.txt")
        page.get_by_role("button", name="Remove notes.txt").click()
        assert chips.count() == 1 and page.get_by_label("Attach files").evaluate("i => i.files.length") == 1
        page.get_by_label("Attach files").set_input_files([
            {"name": "map.png", "mimeType": "image/png", "buffer": png},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"fog at dawn"},
        ])
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-complete").nth(1).wait_for()
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


PHONE = {"width": 390, "height": 844}


@pytest.mark.parametrize("javascript", [True, False])
def test_on_a_phone_the_composer_is_in_view_the_list_is_a_drawer_and_nothing_scrolls_sideways(
        chromium, server, javascript):
    context = chromium.new_context(base_url=server.url, java_script_enabled=javascript, viewport=PHONE,
                                   is_mobile=True, has_touch=True)
    page = context.new_page()
    sign_up(page, f"phone-{javascript}@example.com")
    for _ in range(2):
        start_chat(page, "Tell me about the history of lighthouses on rocky coasts and their keepers")
    for path in ("/", page.url):
        page.goto(path)
        box = page.get_by_label("Message").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]  # in view, without scrolling
        assert box["width"] > PHONE["width"] * 0.8  # and the full width
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert not page.locator(".chat-list").is_visible()  # the list waits in its drawer...
        page.get_by_role("button", name="Chats").tap()
        assert page.locator(".chat-list a").first.is_visible()  # ...opened by one tap
        assert page.locator(".chat-list a").count() == 2
        page.get_by_role("button", name="Close the chat list").tap()
        assert not page.locator(".chat-list").is_visible()
    context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_on_a_desktop_the_list_is_a_sidebar_beside_a_chat_column(chromium, server, javascript):
    context = chromium.new_context(base_url=server.url, java_script_enabled=javascript,
                                   viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_up(page, f"desktop-{javascript}@example.com")
    chat_url = start_chat(page, "Where do puffins nest?")
    sidebar, menu = page.locator(".chat-list").bounding_box(), page.get_by_role("button", name="Chats")
    assert page.locator(".chat-list a").first.is_visible() and not menu.is_visible()  # always shown
    conversation = page.locator(".messages .message").first.bounding_box()
    assert sidebar["x"] < 20 and sidebar["width"] < 320 and conversation["x"] > sidebar["x"] + sidebar["width"]
    column = page.get_by_label("Message").bounding_box()
    assert column["width"] <= 48 * 16 + 2 and column["x"] > 300  # the chat's column, not the page's width
    # Your message is a bubble on the right; the reply is text, full column wide.
    mine = page.locator(".message.user .message-text").bounding_box()
    assert mine["x"] + mine["width"] > column["x"] + column["width"] - 40 and mine["width"] < column["width"] * 0.8
    page.locator(".chat-list a").first.click()
    page.wait_for_url(chat_url)
    context.close()


def test_code_blocks_have_a_copy_button_and_messages_a_row_of_named_actions(chromium, server):
    context = chromium.new_context(base_url=server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    sign_up(page, "copy@example.com")
    chat_url = start_chat(page)
    owner = server.store.user_by_email("copy@example.com").id
    chat_id = chat_url.rsplit("/", 1)[1]
    added = server.store.add_message(owner, chat_id, "assistant", "Run this:\n\n```python\nprint('hi')\n```\n",
                                     "complete", "offline-responder")
    server.store.update_message(owner, added.id, prompt_tokens=1200, completion_tokens=34)
    page.mouse.move(0, 0)
    page.reload()
    reply = page.locator(".message.assistant").last
    assert reply.locator("pre[data-language=python]").count() == 1
    # The time and the token counts are quiet: shown when the pointer is over the message.
    quiet = reply.locator(".message-actions time, .message-actions .message-usage")
    assert reply.locator(".message-usage").inner_text() == "1200 tokens in, 34 out"
    assert quiet.evaluate_all("all => all.map(e => getComputedStyle(e).opacity)") == ["0", "0"]
    reply.hover()
    quiet.evaluate_all("""all => new Promise(done => setInterval(() =>
        all.every(e => getComputedStyle(e).opacity === "1") && done(), 50))""")
    reply.get_by_role("button", name="Copy code").click()
    assert page.evaluate("navigator.clipboard.readText()") == "print('hi')\n"
    for name in ("Copy", "Regenerate"):
        assert reply.get_by_role("button", name=name, exact=True).is_visible()
    assert reply.locator("time[datetime]").count() == 1  # when, on hover and to a screen reader
    reply.get_by_role("button", name="Copy", exact=True).click()
    assert "print('hi')" in page.evaluate("navigator.clipboard.readText()")
    context.close()


def test_files_dropped_on_or_pasted_into_the_message_box_become_chips(page_for):
    page = page_for()
    sign_up(page, "drop@example.com")
    for event in ("drop", "paste"):
        page.evaluate("""([kind]) => {
            const files = new DataTransfer();
            files.items.add(new File(["fog at dawn"], kind + ".txt", { type: "text/plain" }));
            const box = document.getElementById("content");
            const event = kind === "drop"
                ? new DragEvent("drop", { dataTransfer: files, bubbles: true, cancelable: true })
                : new ClipboardEvent("paste", { clipboardData: files, bubbles: true, cancelable: true });
            box.dispatchEvent(event);
        }""", [event])
    chips = page.locator(".chips .chip")
    assert [chip.inner_text().split("\n")[0] for chip in chips.all()] == ["drop.txt", "paste.txt"]
    assert page.get_by_label("Attach files").evaluate("input => [...input.files].map(f => f.name)") == [
        "drop.txt", "paste.txt"]


@pytest.mark.parametrize("javascript", [True, False])
def test_the_keyboard_shortcuts_are_listed_in_a_help_dialog(page_for, javascript):
    page = page_for(javascript=javascript)
    sign_up(page, f"keys-{javascript}@example.com")
    dialog = page.get_by_role("heading", name="Keyboard shortcuts")
    assert not dialog.is_visible()
    if javascript:
        page.keyboard.press("Control+/")
    else:
        page.get_by_role("button", name="Shortcuts").click()
    assert dialog.is_visible() and "Stop the reply" in page.locator("#shortcuts").inner_text()
    page.locator("#shortcuts").get_by_role("button", name="Close").click()
    assert not dialog.is_visible()
    if javascript:  # and the shortcuts do what they say: the message box focused, a new chat
        page.get_by_role("link", name="Search chats").focus()
        page.keyboard.press("Shift+Escape")
        assert page.evaluate("document.activeElement.id") == "content"
        start_chat(page)
        page.keyboard.press("Control+Shift+O")
        page.wait_for_url(lambda url: url.rstrip("/").count("/") == 2)  # the home page: a new chat


def test_a_repeat_visit_loads_only_the_page(page_for):
    """Static files are addressed by their content and kept for a year: the second visit
    fetches the page and nothing else."""
    page = page_for()
    sign_up(page, "repeat@example.com")
    chat_url = start_chat(page)
    page.goto(chat_url)
    transferred = page.evaluate("""performance.getEntriesByType("resource")
        .filter(r => r.initiatorType !== "fetch" && r.initiatorType !== "xmlhttprequest")
        .map(r => [r.name, r.transferSize])""")
    # All from the cache, but the favicon: Chromium fetches that for its tab strip on its own terms.
    fetched = [(name, size) for name, size in transferred if size and "favicon" not in name]
    assert transferred and fetched == []


def test_a_finished_block_shows_rendered_before_the_reply_ends(page_for, server):
    """While a reply streams, its finished blocks arrive rendered (the bold of the offline
    reply's first paragraph once its list begins); only the block being written is raw."""
    page = page_for()
    sign_up(page, "streamblocks@example.com")
    page.get_by_label("Message").fill("Can you write the code for a greeting?")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/chats/*")
    page.locator(".message.assistant.status-streaming .message-text p:not(.tail) strong").wait_for()
    assert "**" not in page.locator(".message.assistant .message-text p:not(.tail)").first.inner_text()
    page.locator(".message.assistant.status-complete").wait_for()
    assert page.locator(".message.assistant .message-text ol li").count() == 3
