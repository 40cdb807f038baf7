"""Organising chats: pinned ones at the top of the list, archived ones out of it (in the
archive, still whole and found by search), the rest grouped by when they were last
updated; none of it moves a chat in the list, and another user's chats cannot be touched."""
import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from chatbot.sqlstore import chats as chats_table
from tests.conftest import AuthActions, new_chat, owner_id


def groups(html: str) -> list[tuple[str, list[str]]]:
    """The sidebar's groups: each heading and the titles under it."""
    nav = html[html.index('<nav id="chat-list"'):html.index("</nav>")]
    return [(name, re.findall(r'<a href="/chats/[^"]+"[^>]*>([^<]*)</a>', items))
            for name, items in re.findall(r'<h2 class="chat-group"[^>]*>([^<]*)</h2>\s*<ul[^>]*>(.*?)</ul>', nav, re.S)]


def named(client, title: str) -> str:
    chat_id = new_chat(client)
    client.post(f"/chats/{chat_id}/rename", data={"title": title})
    return chat_id


def age(store, chat_id: str, days: float) -> None:
    with store.engine.begin() as db:
        db.execute(chats_table.update().where(chats_table.c.id == chat_id)
                   .values(updated_at=datetime.now(timezone.utc) - timedelta(days=days)))


def test_the_list_is_grouped_by_day_with_the_pinned_chats_first(app, user, store):
    for title, days in (("Ancient", 90), ("Last month", 20), ("Last week", 5), ("Yesterdays", 1), ("Todays", 0)):
        chat_id = named(user, title)
        age(store, chat_id, days)
    assert groups(user.get("/").text) == [("Today", ["Todays"]), ("Yesterday", ["Yesterdays"]),
                                          ("Previous 7 days", ["Last week"]), ("Previous 30 days", ["Last month"]),
                                          ("Older", ["Ancient"])]
    ancient = next(c for c in store.chats(owner_id(store)) if c.title == "Ancient")
    response = user.post(f"/chats/{ancient.id}/pin", data={"pinned": "1"})
    assert response.status_code == 303 and response.headers["Location"] == f"/chats/{ancient.id}"
    page = user.get(f"/chats/{ancient.id}").text
    assert groups(page)[0] == ("Pinned", ["Ancient"]) and ("Older", ["Ancient"]) not in groups(page)
    assert 'aria-label="Unpin"' in page
    assert store.chat(owner_id(store), ancient.id).updated_at == ancient.updated_at  # not moved
    user.post(f"/chats/{ancient.id}/pin", data={"pinned": "0"})
    assert groups(user.get("/").text)[-1] == ("Older", ["Ancient"])


def test_an_archived_chat_leaves_the_list_and_comes_back(app, user, store):
    keep, put_away = named(user, "Keep"), named(user, "Put away")
    response = user.post(f"/chats/{put_away}/archive", data={"archived": "1"})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    page = user.get("/").text
    assert "“Put away” is in your archive." in page
    assert [title for _, titles in groups(page) for title in titles] == ["Keep"]

    archive = user.get("/archive").text
    assert f'<a href="/chats/{put_away}">Put away</a>' in archive and "Keep" not in archive.split("<main")[1]
    page = user.get(f"/chats/{put_away}").text  # still whole, and says how to go on with it
    assert "This chat is in your archive." in page and 'name="content"' not in page
    assert 'aria-label="Unarchive"' in page

    response = user.post(f"/chats/{put_away}/archive", data={"archived": "0"})
    assert response.status_code == 303 and response.headers["Location"] == f"/chats/{put_away}"
    assert sorted(t for _, titles in groups(user.get("/").text) for t in titles) == ["Keep", "Put away"]
    assert "Your archive is empty." in user.get("/archive").text
    assert keep


def test_archived_chats_are_still_found_by_search(app, user, store):
    chat_id = named(user, "Zeppelin hangars")
    user.post(f"/chats/{chat_id}/archive")
    assert f'href="/chats/{chat_id}"' in user.get("/search?q=zeppelin").text


def test_another_users_chats_cannot_be_pinned_or_archived(app, client, store):
    auth = AuthActions(client)
    auth.signup("ada@example.com")
    chat_id = named(client, "Ada's")
    auth.logout()
    auth.signup("bob@example.com")
    assert client.post(f"/chats/{chat_id}/pin").status_code == 404
    assert client.post(f"/chats/{chat_id}/archive").status_code == 404
    assert client.post("/chats/not-an-id/archive").status_code == 404
    chat = store.chat(owner_id(store), chat_id)
    assert (chat.pinned, chat.archived) == (False, False)
    assert "Ada" not in client.get("/archive").text
