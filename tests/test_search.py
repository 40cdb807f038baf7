"""Search: a user's chats by title and by what was said in them: the page (a plain GET form;
with htmx, the results alone), the words found marked and nothing else taken for markup or
query syntax, each hit opening its chat at the message, on whichever version it is."""
import re

import pytest

from chatbot.backends import backends
from chatbot.search import terms_of
from tests.conftest import AuthActions, new_chat, owner_id, send
from tests.fakes import ScriptedModel

HTMX = {"HX-Request": "true"}


@pytest.fixture
def model(app):
    model = ScriptedModel(pieces=("The <b>lamp</b> was lit at dusk.",))
    backends(app).model = model
    return model


def shown(html: str) -> list[str]:
    """The texts of the messages a chat page shows, in order."""
    return [" ".join(re.sub(r"<[^>]+>", " ", text).split())
            for text in re.findall(r'<div class="message-text[^"]*">(.*?)</div>', html, re.S)]


def hits(html: str) -> list[str]:
    return re.findall(r'<a class="hit" href="([^"]+)"', html)


def test_the_search_page_finds_titles_and_messages_with_the_words_marked(app, user, store, model):
    chat_id = new_chat(user)
    send(user, chat_id, "Tell me about the lamp of the lighthouse")
    user.post(f"/chats/{chat_id}/rename", data={"title": "Lamp rooms"})
    question, reply = store.messages(owner_id(store), chat_id)

    page = user.get("/search").text
    assert '<form method="get" action="/search" role="search"' in page and 'name="q"' in page
    assert "<ol class=\"search-hits\">" not in page

    page = user.get("/search?q=lamp").text
    assert hits(page) == [f"/chats/{chat_id}",
                          f"/chats/{chat_id}?at={reply.id}#m-{reply.id}",
                          f"/chats/{chat_id}?at={question.id}#m-{question.id}"]
    assert "<mark>Lamp</mark> rooms" in page  # the title
    assert "The &lt;b&gt;<mark>lamp</mark>&lt;/b&gt; was lit at dusk." in page  # the reply's text, escaped
    assert "3 matches." in page and 'value="lamp"' in page

    fragment = user.get("/search?q=lighthouse+lamp", headers=HTMX)
    assert "<html" not in fragment.text and hits(fragment.text) == [f"/chats/{chat_id}?at={question.id}#m-{question.id}"]
    assert '<p id="search-status" class="search-status" role="status" hx-swap-oob="innerHTML">1 match.</p>' \
        in fragment.text  # the count, into the live region that stays
    assert "HX-History-Restore-Request" in fragment.headers["Vary"]
    # Going back to an address htmx pushed, it asks for the whole page again.
    restored = user.get("/search?q=lamp", headers={**HTMX, "HX-History-Restore-Request": "true"}).text
    assert restored.startswith("<!doctype html>") and len(hits(restored)) == 3


@pytest.mark.parametrize("query", ['<script>alert(1)</script>', '"lamp', "lamp AND OR NOT", "NEAR(lamp dusk)",
                                   "lamp*", "-lamp", "lamp:*", "'lamp' | 'dusk'", "lamp_dusk", "(((", "*", "\\"])
def test_no_query_is_markup_or_syntax(app, user, store, model, query):
    chat_id = new_chat(user)
    send(user, chat_id, "lamp")
    response = user.get("/search", query_string={"q": query})
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    if terms_of(query) == ["lamp"]:
        assert len([hit for hit in hits(response.text) if "?at=" in hit]) == 2  # the question and the reply


def test_a_query_is_words_of_letters_and_digits(app):
    assert terms_of("  Île-de-France, 2024!  ") == ["Île", "de", "France", "2024"]
    assert terms_of("snake_case") == ["snake", "case"]
    assert terms_of("a " * 20) == ["a"] * 8 and terms_of("x" * 65) == []


def test_a_hit_opens_its_chat_at_the_message_on_its_own_version(app, user, store, model):
    chat_id = new_chat(user)
    for n in range(26):  # more than a page (50 messages)
        store.add_message(owner_id(store), chat_id, "user", f"question {n}", "complete")
        store.add_message(owner_id(store), chat_id, "assistant", f"answer {n}", "complete", "m")
    old = store.messages(owner_id(store), chat_id)[20]  # "question 10", far back
    page = user.get(f"/chats/{chat_id}?at={old.id}").text
    texts = shown(page)
    assert (texts[0], texts[-1], len(texts)) == ("question 0", "question 10", 21), texts
    assert "Newest messages" in page

    # An edited message: the old version is found, and opens with the conversation it had.
    edit = user.post(f"/chats/{chat_id}/messages/{old.id}/edit", data={"content": "question ten"})
    assert edit.status_code == 303, edit.text
    page = user.get(f"/chats/{chat_id}?at={old.id}").text
    assert shown(page)[-1] == "question 10"
    assert 'aria-label="Version 1 of 2"' in page
    assert len(hits(user.get("/search?q=question+10").text)) == 1


def test_another_users_chats_are_never_found_nor_opened(app, client, store, model):
    auth = AuthActions(client)
    auth.signup("ada@example.com")
    chat_id = new_chat(client)
    send(client, chat_id, "my secret zeppelin")
    question = store.messages(owner_id(store), chat_id)[0]
    auth.logout()
    auth.signup("bob@example.com")
    assert hits(client.get("/search?q=zeppelin").text) == []
    assert "Nothing matches “zeppelin”." in client.get("/search?q=zeppelin").text
    assert client.get(f"/chats/{chat_id}?at={question.id}").status_code == 404
    bob_chat = new_chat(client)
    assert client.get(f"/chats/{bob_chat}?at={question.id}").status_code == 404  # Ada's message, in Bob's chat
    assert client.get(f"/chats/{bob_chat}?at=not-an-id").status_code == 404


def test_searching_needs_an_account(client):
    response = client.get("/search?q=x")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
