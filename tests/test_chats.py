"""Chats: create, list newest first, open, rename, delete with confirmation; only your own."""
import re

import pytest

from tests.conftest import new_chat, owner_id

CLIENT_ID = "6f1c2a5e-8d4b-4c3a-9e2f-1a2b3c4d5e6f"


def sidebar_titles(html):
    nav = html[html.index('<nav id="chat-list"'):html.index("</nav>")]
    return re.findall(r'<a href="/chats/[^"]+"[^>]*>([^<]*)</a>', nav)


def test_new_chat_opens_an_empty_chat(user):
    chat_id = new_chat(user)
    html = user.get(f"/chats/{chat_id}").text
    assert "<h1 id=\"chat-title\">New chat</h1>" in html
    assert '<label for="content" class="visually-hidden">Message</label>' in html
    assert 'aria-label="Send"' in html


def test_the_home_page_is_a_new_chat_ready_to_type_in(user, store):
    new_chat(user)
    html = user.get("/").text
    assert "What can I help with?" in html and '<textarea id="content" name="content"' in html
    assert 'action="/chats"' in html and "hx-post" not in html.split('<form id="composer"')[1].split(">")[0]
    assert len(store.chats(owner_id(store))) == 1  # showing it stored nothing


def test_the_first_message_makes_the_chat_named_after_it(user, store):
    response = user.post("/chats", data={"content": "Plan a week in Lisbon", "client_id": CLIENT_ID})
    assert response.status_code == 303
    chat = store.chats(owner_id(store))[0]
    question, answer = store.messages(owner_id(store), chat.id)
    assert response.headers["Location"] == f"/chats/{chat.id}#m-{answer.id}"
    assert chat.title == "Plan a week in Lisbon" and question.content == "Plan a week in Lisbon"
    again = user.post("/chats", data={"content": "Plan a week in Lisbon", "client_id": CLIENT_ID})  # resubmitted
    assert again.status_code == 303, again.text
    assert again.headers["Location"] == response.headers["Location"] and len(store.chats(owner_id(store))) == 1


@pytest.mark.parametrize("content, status", [("   ", 422), ("x" * 100_001, 422)])
def test_no_chat_is_stored_without_a_message_that_can_be_sent(user, store, content, status):
    response = user.post("/chats", data={"content": content})
    assert response.status_code == status and 'class="field-error" id="content-error"' in response.text
    assert f">{content}</textarea>" in response.text or not content.strip()  # the draft is kept
    assert store.chats(owner_id(store)) == []


def test_sidebar_lists_chats_most_recent_first(user):
    first = new_chat(user)
    user.post(f"/chats/{first}/rename", data={"title": "First"})
    second = new_chat(user)
    user.post(f"/chats/{second}/rename", data={"title": "Second"})
    assert sidebar_titles(user.get(f"/chats/{first}").text) == ["Second", "First"]
    user.post(f"/chats/{first}/messages", data={"content": "bump"})  # activity moves it up
    assert sidebar_titles(user.get(f"/chats/{first}").text)[0] == "First"


def test_rename(user):
    chat_id = new_chat(user)
    response = user.post(f"/chats/{chat_id}/rename", data={"title": "  Trip   to Lisbon "})
    assert response.status_code == 302
    html = user.get(f"/chats/{chat_id}").text
    assert "<h1 id=\"chat-title\">Trip to Lisbon</h1>" in html and sidebar_titles(html) == ["Trip to Lisbon"]
    assert ">Rename</button>" in html


@pytest.mark.parametrize("title, message", [("   ", "Give the chat a title."),
                                            ("x" * 201, "Keep the title under 200 characters.")])
def test_rename_errors_show_beside_the_field(user, title, message):
    chat_id = new_chat(user)
    response = user.post(f"/chats/{chat_id}/rename", data={"title": title})
    assert response.status_code == 422
    assert f'<p class="field-error" id="title-error">{message}</p>' in response.text
    assert "<h1 id=\"chat-title\">New chat</h1>" in user.get(f"/chats/{chat_id}").text


def test_delete_asks_first_then_deletes_chat_and_messages(user, store):
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/rename", data={"title": "Doomed"})
    user.post(f"/chats/{chat_id}/messages", data={"content": "hello"})
    confirm = user.get(f"/chats/{chat_id}/delete")
    assert confirm.status_code == 200
    assert "Delete “Doomed”?" in confirm.text and ">Delete</button>" in confirm.text and ">Cancel</a>" in confirm.text
    assert user.get(f"/chats/{chat_id}").status_code == 200  # asking deleted nothing
    response = user.post(f"/chats/{chat_id}/delete")
    assert response.status_code == 302
    assert user.get(f"/chats/{chat_id}").status_code == 404
    owner = store.user_by_email("ada@example.com").id
    assert store.messages(owner, chat_id) == []
    with store.engine.connect() as db:
        assert db.exec_driver_sql("SELECT count(*) FROM messages").scalar_one() == 0


def test_system_prompt_is_saved(user, store):
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/settings", data={"system_prompt": "Answer like a pirate."})
    assert "Answer like a pirate." in user.get(f"/chats/{chat_id}").text


class TestAnotherUsersChat:
    """Every way into someone else's chat answers 404, exactly like a chat that never existed."""

    @pytest.fixture
    def intruder(self, app, client, auth):
        auth.signup("owner@example.com")
        chat_id = new_chat(client)
        client.post(f"/chats/{chat_id}/rename", data={"title": "Private plans"})
        client.post(f"/chats/{chat_id}/messages", data={"content": "my secret"})
        auth.logout()
        other = app.test_client()
        other.post("/signup", data={"email": "intruder@example.com", "password": "correct horse"})
        return other, chat_id

    @pytest.mark.parametrize("method, path, data", [
        ("get", "/chats/{id}", None),
        ("get", "/chats/{id}/delete", None),
        ("post", "/chats/{id}/delete", {}),
        ("post", "/chats/{id}/rename", {"title": "mine now"}),
        ("post", "/chats/{id}/settings", {"system_prompt": "leak"}),
        ("post", "/chats/{id}/messages", {"content": "hi"}),
    ])
    def test_is_not_found(self, intruder, store, method, path, data):
        other, chat_id = intruder
        response = getattr(other, method)(path.format(id=chat_id), data=data)
        assert response.status_code == 404
        assert "Private plans" not in response.text and "my secret" not in response.text
        owner = store.user_by_email("owner@example.com").id
        chat = store.chat(owner, chat_id)
        assert chat.title == "Private plans" and chat.system_prompt == ""
        assert [m.content for m in store.messages(owner, chat_id)][0] == "my secret"
        assert len(store.messages(owner, chat_id)) == 2

    def test_reply_stream_is_not_found(self, intruder, store):
        other, chat_id = intruder
        owner = store.user_by_email("owner@example.com").id
        reply = store.messages(owner, chat_id)[1]
        assert other.get(f"/chats/{chat_id}/messages/{reply.id}/events").status_code == 404

    def test_reply_stream_names_its_own_chat(self, user, store):
        first, second = new_chat(user), new_chat(user)
        user.post(f"/chats/{first}/messages", data={"content": "hi"})  # waits for the reply
        reply = store.messages(store.user_by_email("ada@example.com").id, first)[1]
        assert user.get(f"/chats/{second}/messages/{reply.id}/events").status_code == 404
        assert user.get(f"/chats/{first}/messages/{reply.id}/events").status_code == 200

    def test_is_not_listed(self, intruder):
        other, _ = intruder
        assert "Private plans" not in other.get("/").text

    def test_looks_like_a_missing_chat(self, intruder):
        other, chat_id = intruder
        missing = other.get("/chats/00000000-0000-4000-8000-000000000000")
        assert other.get(f"/chats/{chat_id}").text == missing.text


@pytest.mark.parametrize("chat_id", ["not-a-uuid", "1", "00000000-0000-4000-8000-000000000000"])
def test_unknown_chat_is_404(user, chat_id):
    assert user.get(f"/chats/{chat_id}").status_code == 404


def test_accessible_names_later_tests_rely_on(client, auth):
    """Fields Email, Password, Message; buttons Sign up, Log in, Log out, New chat, Send, Rename, Delete."""
    signup, login = client.get("/signup").text, client.get("/login").text
    for page in (signup, login):
        assert '<label for="email">Email</label>' in page and '<label for="password">Password</label>' in page
    assert ">Sign up</button>" in signup and ">Log in</button>" in login
    auth.signup()
    chat = client.get(f"/chats/{new_chat(client)}").text
    assert '<label for="content" class="visually-hidden">Message</label>' in chat
    for button in ("Log out", "Rename"):
        assert chat.count(f">{button}</button>") == 1, button
    for button in ("Send", "Delete", "Stop"):  # icons, named for everyone who cannot see them
        assert chat.count(f'aria-label="{button}"') == 1, button
    assert chat.count('<span>New chat</span></a>') == 1
