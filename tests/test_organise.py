"""Organising chats: pinned ones at the top of the list, archived ones out of it (in the
archive, still whole and found by search), the rest grouped by when they were last
updated; none of it moves a chat in the list, and another user's chats cannot be touched."""
import re
from datetime import datetime, timedelta, timezone

from chatbot.sqlstore import chats as chats_table
from tests.conftest import AuthActions, new_chat, owner_id


def groups(html: str) -> list[tuple[str, list[str]]]:
    """The sidebar's groups: each heading and the titles under it."""
    nav = html[html.index('<nav id="chat-list"'):html.index("</nav>")]
    return [(re.sub(r"<[^>]+>", "", name), re.findall(r'<a href="/chats/[^"]+"[^>]*>([^<]*)</a>', items))
            for name, items in re.findall(r'<h2 class="chat-group"[^>]*>(.*?)</h2>\s*<ul[^>]*>(.*?)</ul>', nav, re.S)]


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
    assert "<span>Unpin</span>" in page
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
    assert "<span>Unarchive</span>" in page

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


def test_folders_are_made_renamed_and_deleted_and_group_their_chats(app, user, store):
    plan, soup, other = named(user, "Quarterly plan"), named(user, "Fish soup"), named(user, "Holiday")
    response = user.post("/folders", data={"name": "  Work  "})
    assert response.status_code == 303 and "Folder “Work” made" in user.get("/folders").text
    [work] = store.folders(owner_id(store))
    assert work.name == "Work"
    page = user.get(f"/chats/{plan}").text  # the chat page offers it
    assert f'<option value="{work.id}">Work</option>' in page
    assert user.post(f"/chats/{plan}/folder", data={"folder": work.id}).status_code == 303
    user.post(f"/chats/{soup}/pin")
    assert groups(user.get("/").text) == [("Pinned", ["Fish soup"]), ("Work", ["Quarterly plan"]),
                                          ("Today", ["Holiday"])]
    assert f'<option value="{work.id}" selected>Work</option>' in user.get(f"/chats/{plan}").text

    response = user.post("/folders", data={"name": "work"})
    assert response.status_code == 422 and "You have a folder called “work” already." in response.text
    assert user.post("/folders", data={"name": " "}).status_code == 422
    response = user.post(f"/folders/{work.id}/rename", data={"name": "Office"})
    assert response.status_code == 303 and groups(user.get("/").text)[1] == ("Office", ["Quarterly plan"])
    assert user.post(f"/chats/{plan}/folder", data={"folder": ""}).status_code == 303  # out of it
    assert groups(user.get("/").text)[-1] == ("Today", ["Holiday", "Quarterly plan"])
    user.post(f"/chats/{plan}/folder", data={"folder": work.id})
    assert user.post(f"/folders/{work.id}/delete").status_code == 303
    assert store.folders(owner_id(store)) == [] and store.chat(owner_id(store), plan).folder_id is None
    assert "Quarterly plan" in [t for _, titles in groups(user.get("/").text) for t in titles]
    assert other


def test_another_users_folders_cannot_be_used_or_changed(app, client, store):
    auth = AuthActions(client)
    auth.signup("ada@example.com")
    client.post("/folders", data={"name": "Ada's folder"})
    [folder] = store.folders(owner_id(store))
    auth.logout()
    auth.signup("bob@example.com")
    bob_chat = named(client, "Bob's")
    assert "Ada&#39;s folder" not in client.get("/folders").text
    assert client.post(f"/chats/{bob_chat}/folder", data={"folder": folder.id}).status_code == 404
    assert client.post(f"/folders/{folder.id}/rename", data={"name": "Mine"}).status_code == 404
    assert client.post(f"/folders/{folder.id}/delete").status_code == 404
    assert store.folders(owner_id(store)) == [folder]
    assert store.chat(owner_id(store, "bob@example.com"), bob_chat).folder_id is None


def test_the_list_shows_its_newest_chats_and_the_older_ones_a_page_at_a_time(app, user, store, monkeypatch):
    from chatbot import chats

    monkeypatch.setattr(chats, "SIDEBAR", 3)
    made = [named(user, f"Chat {n}") for n in range(8)]  # the newest last
    for n, chat_id in enumerate(made):
        age(store, chat_id, 8 - n)  # a day apart, in the order they were made
    user.post(f"/chats/{made[0]}/pin")  # the oldest, pinned: shown whatever its age
    page = user.get("/").text
    shown = [t for _, titles in groups(page) for t in titles]
    assert shown == ["Chat 0", "Chat 7", "Chat 6", "Chat 5"]
    assert '<a class="older-chats" href="/chats/older">Older chats</a>' in page
    older = user.get("/chats/older").text.split("<main")[1]
    assert re.findall(r'<li><a href="/chats/[^"]+">([^<]+)</a></li>', older) == ["Chat 4", "Chat 3", "Chat 2"]
    assert 'href="/chats/older?page=2">Older</a>' in older and ">Newer</a>" not in older
    older = user.get("/chats/older?page=2").text.split("<main")[1]
    assert re.findall(r'<li><a href="/chats/[^"]+">([^<]+)</a></li>', older) == ["Chat 1"]
    assert 'href="/chats/older?page=1">Newer</a>' in older and ">Older</a>" not in older
