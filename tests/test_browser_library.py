"""Finding and organising chats in a real Chromium against a real server. Search: with
JavaScript the hits come as one types, and the address follows; without it, a plain form;
a hit opens its chat at the message, scrolled into view. Pinning and archiving from a
chat's page, and the list following in another tab, live."""
import pytest

from tests.servers import embedded_server
from tests.test_browser import chromium, sign_up, start_chat  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("search"), OFFLINE_TOKEN_DELAY="0") as running:
        yield running


@pytest.mark.parametrize("javascript, width", [(True, 1280), (False, 390)], ids=["js-desktop", "no-js-phone"])
def test_a_search_finds_a_message_and_opens_its_chat_there(chromium, server, javascript, width):  # noqa: F811
    context = chromium.new_context(java_script_enabled=javascript, base_url=server.url,
                                   viewport={"width": width, "height": 844 if width < 500 else 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15000)
    try:
        sign_up(page, f"search-{width}@example.com")
        chat_url = start_chat(page, "Where do puffins nest in the spring?")
        store = server.store
        owner = store.user_by_email(f"search-{width}@example.com").id
        chat_id = chat_url.rsplit("/", 1)[1]
        for n in range(30):  # the puffins end up far back, past the chat's first page
            store.add_message(owner, chat_id, "user", f"Another question, number {n}", "complete")
            store.add_message(owner, chat_id, "assistant", f"Another answer, number {n}", "complete", "m")
        question = store.messages(owner, chat_id, newest=62)[0]

        page.goto("/")
        if width < 760:
            page.get_by_role("button", name="Chats").click()  # the drawer (a popover: no JavaScript needed)
        page.get_by_role("link", name="Search chats").click()
        box = page.get_by_label("Words to find")
        if javascript:
            box.press_sequentially("puffin")
            page.get_by_role("status").filter(has_text="match").wait_for()
            assert page.url.endswith("/search?q=puffin")  # the address follows, without a page load
        else:
            box.fill("puffin")
            page.get_by_role("button", name="Search").click()
            page.wait_for_url("**/search?q=puffin")
        hit = page.locator(f'.search-hits a[href*="at={question.id}"]')  # the question (the reply is found too)
        assert hit.locator(".snippet").inner_text() == "Where do puffins nest in the spring?"
        assert hit.locator(".snippet mark").inner_text() == "puffins"
        hit.click()
        page.wait_for_url(f"**/chats/{chat_id}?at={question.id}#m-{question.id}")
        message = page.locator(f"#m-{question.id}")
        message.wait_for()
        assert message.is_visible() and message.evaluate(
            "m => { const r = m.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; }")
        assert page.locator(".message").count() == 1  # the conversation up to it: here, the chat's first
        page.wait_for_timeout(500)  # a page of the past gains nothing newer below it
        assert page.locator(".message").count() == 1
        page.get_by_role("link", name="Newest messages").click()
        page.locator(".message-text").filter(has_text="Another answer, number 29").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert errors == []
    finally:
        context.close()


def test_pinning_and_archiving_from_the_chat_page_and_the_list_following_in_another_tab(chromium, server):  # noqa: F811
    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15000)
    try:
        sign_up(page, "organise@example.com")
        first = start_chat(page, "Notes on lighthouse lenses")
        start_chat(page, "A recipe for fish soup")
        other = context.new_page()  # a second tab, on the newest chat, live
        other.set_default_timeout(15000)
        other.on("pageerror", lambda e: errors.append(str(e)))
        other.goto(page.url)
        other.wait_for_function("document.body.dataset.live === 'open'")
        nav = other.get_by_role("navigation", name="Chats")
        assert nav.get_by_role("heading").all_inner_texts() == ["Today"]

        page.goto(first)
        page.get_by_label("More actions").click()
        page.get_by_role("button", name="Pin", exact=True).click()
        page.get_by_label("More actions").click()
        page.get_by_role("button", name="Unpin").wait_for()
        nav.get_by_role("heading", name="Pinned").wait_for()  # the other tab's list, live
        pinned = nav.get_by_role("list", name="Pinned").get_by_role("link")
        assert pinned.all_inner_texts() == [page.locator("#chat-title").inner_text()]

        page.get_by_role("button", name="Archive", exact=True).click()  # (the menu is open)
        page.get_by_text("is in your archive.").wait_for()
        nav.get_by_role("heading", name="Pinned").wait_for(state="detached")
        assert nav.get_by_role("link").count() == 1
        page.get_by_role("link", name="Archive", exact=True).click()
        page.get_by_role("button", name="Unarchive").click()  # from the archive page
        page.wait_for_url(first)
        nav.get_by_role("heading", name="Pinned").wait_for()  # back, and still pinned

        # A folder, made on its page; the other chat filed in it from its own page.
        page.get_by_role("link", name="Folders").click()
        page.get_by_label("Name").fill("Kitchen")
        page.get_by_role("button", name="Make folder").click()
        page.get_by_text("Folder “Kitchen” made").wait_for()
        page.goto(other.url)
        page.get_by_label("More actions").click()
        page.get_by_label("Move to a folder").select_option(label="Kitchen")
        page.get_by_role("button", name="Move").click()
        kitchen = nav.get_by_role("list", name="Kitchen")
        kitchen.get_by_role("link", name=other.locator("#chat-title").inner_text()).wait_for()  # the other tab, live
        assert nav.get_by_role("heading").all_inner_texts() == ["Pinned", "Kitchen"]
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("javascript, width", [(True, 1280), (False, 390)], ids=["js-desktop", "no-js-phone"])
def test_a_share_link_opens_in_a_fresh_browser_without_javascript(chromium, server, javascript, width):  # noqa: F811
    """The owner shares from the chat's menu and copies the link; a browser that has never
    been here, with JavaScript off, reads it; once revoked, it reads nothing."""
    owner_context = chromium.new_context(java_script_enabled=javascript, base_url=server.url,
                                         viewport={"width": width, "height": 844 if width < 500 else 900})
    reader_context = chromium.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = owner_context.new_page()
    page.set_default_timeout(15000)
    try:
        sign_up(page, f"share-{width}@example.com")
        start_chat(page, "How do lighthouses keep their light turning?")
        page.get_by_label("More actions").click()
        page.get_by_role("link", name="Share", exact=True).click()
        page.get_by_role("button", name="Create a link").click()
        link = page.get_by_label("Copy this link and send it to whoever should read it:").input_value()
        assert "/s/" in link

        reader = reader_context.new_page()
        response = reader.goto(link)
        assert response.status == 200 and response.headers["x-robots-tag"] == "noindex, nofollow"
        assert reader.get_by_role("heading", level=1).inner_text().startswith("How do lighthouses keep their light")
        assert reader.locator(".message").count() == 2 and reader.locator(".message.assistant .markdown p").count() >= 1
        assert reader.get_by_role("link", name="Log in to continue this chat").is_visible()
        assert reader.evaluate("document.documentElement.scrollWidth <= innerWidth")  # nothing scrolls sideways

        page.locator(".share-list").get_by_role("button", name="Revoke").click()
        page.wait_for_url("**/share")
        assert reader.goto(link).status == 404
    finally:
        owner_context.close()
        reader_context.close()
