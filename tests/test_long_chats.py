"""Long chats stay light: a chat page shows its newest messages, and earlier ones come a
page at a time (a plain link without JavaScript, fetched on scroll with htmx)."""
from __future__ import annotations

import re

import pytest

from chatbot.backends import backends
from chatbot.chats import PAGE
from chatbot.store import COMPLETE
from tests.conftest import new_chat, owner_id
from tests.live_client import User
from tests.servers import embedded_server
from tests.test_browser import chromium  # noqa: F401 - the browser fixture


def seqs(html: str) -> list[int]:
    return [int(s) for s in re.findall(r'<article id="m-[^"]+" data-seq="(\d+)"', html)]


def a_long_chat(app, client, count=2 * PAGE + 20):
    chat_id = new_chat(client)
    store = backends(app).store
    owner = owner_id(store)
    for n in range(1, count + 1):
        store.add_message(owner, chat_id, "user" if n % 2 else "assistant", f"message {n}", COMPLETE)
    return chat_id


def test_a_long_chat_opens_with_its_newest_messages_and_a_link_to_earlier_ones(app, user):
    chat_id = a_long_chat(app, user)
    page = user.get(f"/chats/{chat_id}").text
    assert seqs(page) == list(range(PAGE + 21, 2 * PAGE + 21))
    assert f'href="/chats/{chat_id}?before={PAGE + 21}"' in page and 'hx-trigger="revealed"' in page


def test_without_javascript_the_link_walks_back_a_page_at_a_time(app, user):
    chat_id = a_long_chat(app, user)
    older = user.get(f"/chats/{chat_id}?before={PAGE + 21}").text
    assert seqs(older) == list(range(21, PAGE + 21))
    assert f'href="/chats/{chat_id}?before=21"' in older and ">Newest messages</a>" in older
    oldest = user.get(f"/chats/{chat_id}?before=21").text
    assert seqs(oldest) == list(range(1, 21)) and "Earlier messages" not in oldest


def test_with_htmx_the_earlier_page_comes_as_a_fragment_to_put_in_the_links_place(app, user):
    chat_id = a_long_chat(app, user)
    fragment = user.get(f"/chats/{chat_id}?before={PAGE + 21}", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and seqs(fragment) == list(range(21, PAGE + 21))
    assert fragment.lstrip().startswith('<a id="earlier"') and "?before=21" in fragment


def test_a_short_chat_has_no_link(app, user):
    chat_id = a_long_chat(app, user, count=PAGE)
    page = user.get(f"/chats/{chat_id}").text
    assert seqs(page) == list(range(1, PAGE + 1)) and "Earlier messages" not in page


def test_another_users_chat_is_not_found_at_any_page(app, user):
    chat_id = a_long_chat(app, user)
    intruder = app.test_client()
    intruder.post("/signup", data={"email": "eve@example.com", "password": "correct horse"})
    assert intruder.get(f"/chats/{chat_id}?before=30", headers={"HX-Request": "true"}).status_code == 404


@pytest.mark.browser
@pytest.mark.server
def test_in_a_browser_scrolling_up_brings_the_earlier_messages(chromium, tmp_path):  # noqa: F811
    """With JavaScript the link loads by itself as it scrolls into view, above what is shown."""
    with embedded_server(tmp_path) as server:
        ada = User(server, "scroll@example.com")
        chat_id = ada.new_chat()
        owner = server.store.user_by_email("scroll@example.com").id
        for n in range(1, 2 * PAGE + 21):
            server.store.add_message(owner, chat_id, "user" if n % 2 else "assistant", f"message {n}", COMPLETE)
        context = chromium.new_context(base_url=server.url)
        context.add_cookies([{"name": "session", "value": ada.http.cookies["session"], "url": server.url}])
        page = context.new_page()
        page.goto(f"/chats/{chat_id}")
        assert page.locator("article.message").count() == PAGE
        page.locator(".messages").evaluate("list => list.scrollTop = 0")
        page.wait_for_selector('article[data-seq="21"]', state="attached")
        page.locator(".messages").evaluate("list => list.scrollTop = 0")
        page.wait_for_selector('article[data-seq="1"]', state="attached")
        assert page.locator("article.message").count() == 2 * PAGE + 20
        order = page.locator("article.message").evaluate_all("articles => articles.map(a => +a.dataset.seq)")
        assert order == sorted(order)
        context.close()
