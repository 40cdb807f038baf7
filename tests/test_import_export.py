"""Taking chats away (one chat or all, JSON or Markdown, a zip with the files) and bringing
them in (a Chatbot download, a ChatGPT data export built here in its real shape), with a
preview, limits, clear errors, all or nothing, and nothing imported twice."""
from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from chatbot import create_app
from chatbot.backends import backends
from tests.conftest import AuthActions, make_config, new_chat, owner_id, send

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


@pytest.fixture
def other(app):
    client = app.test_client()
    AuthActions(client).signup("bo@example.com")
    return client


def branchy_chat(user, store):
    """A chat with a regenerated reply and an edited question: seven messages in all."""
    chat_id = new_chat(user)
    send(user, chat_id, "What is a lighthouse?", files=[(io.BytesIO(PNG), "tower.png")])
    send(user, chat_id, "How tall is the tallest?")
    me = owner_id(store)
    first_reply = store.messages(me, chat_id)[1]
    user.post(f"/chats/{chat_id}/regenerate", data={"message_id": first_reply.id})
    wait_done(store, me, chat_id)
    question = store.messages(me, chat_id)[0]
    user.post(f"/chats/{chat_id}/messages/{question.id}/edit", data={"content": "What is a lightship?"})
    wait_done(store, me, chat_id)
    return chat_id


def wait_done(store, owner, chat_id):
    from tests.conftest import wait_until
    wait_until(lambda: all(m.status != "streaming" for m in store.all_messages(owner, chat_id)), what="the replies")


def import_file(client, data: bytes, name: str):
    """Upload and preview, then confirm: (preview response, confirm response)."""
    preview = client.post("/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    upload = re.search(r'name="upload" value="([^"]+)"', preview.text)
    if preview.status_code != 200 or upload is None or "/import/confirm" not in preview.text:
        return preview, None
    return preview, client.post("/import/confirm", data={"upload": upload[1]})


def tree(store, owner, chat_id):
    """A chat's messages as (role, content, version, versions), every branch, in order written."""
    return [(m.role, m.content, m.version, m.versions) for m in store.all_messages(owner, chat_id)]


# Export

def test_one_chat_as_json_is_lossless(user, store):
    chat_id = branchy_chat(user, store)
    response = user.get(f"/chats/{chat_id}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    title = store.chat(owner_id(store), chat_id).title
    assert response.headers["Content-Disposition"] == \
        f"attachment; filename*=UTF-8''{title.replace(' ', '-')}-{chat_id[:8]}.json"
    document = response.get_json()
    assert (document["format"], document["version"]) == ("chatbot-export", 2)
    [chat] = document["chats"]
    every = store.all_messages(owner_id(store), chat_id)
    assert [m["id"] for m in chat["messages"]] == [m.id for m in every] and len(every) == 7
    assert [m["parent_id"] for m in chat["messages"]] == [m.parent_id for m in every]
    assert chat["current_leaf"] == store.chat(owner_id(store), chat_id).current_leaf
    first = chat["messages"][0]
    assert (first["role"], first["content"], first["status"]) == ("user", "What is a lighthouse?", "complete")
    assert first["attachments"][0]["name"] == "tower.png" and first["attachments"][0]["size"] == len(PNG)
    reply = chat["messages"][1]
    assert reply["model"] == "offline-responder" and reply["completion_tokens"] > 0 and reply["created_at"]


def test_one_chat_as_markdown_reads_as_the_conversation_shown(user, store):
    chat_id = branchy_chat(user, store)
    response = user.get(f"/chats/{chat_id}/export.md")
    assert response.mimetype == "text/markdown" and response.headers["Content-Disposition"].endswith(".md")
    text = response.text
    assert text.startswith(f"# {store.chat(owner_id(store), chat_id).title}\n")
    assert "## You, " in text and "## Assistant (offline-responder), " in text
    assert "What is a lightship?" in text and "What is a lighthouse?" not in text  # the version shown


def test_only_the_owner_exports_a_chat(user, store, other):
    chat_id = new_chat(user)
    send(user, chat_id, "mine")
    assert other.get(f"/chats/{chat_id}/export.json").status_code == 404
    assert other.get(f"/chats/{chat_id}/export.md").status_code == 404
    assert user.get(f"/chats/{chat_id}/export.xml").status_code == 404


def test_everything_as_one_zip_with_the_files_and_each_chat_to_read(user, store):
    chat_id = branchy_chat(user, store)
    archive = zipfile.ZipFile(io.BytesIO(user.get("/account/export").data))
    document = json.loads(archive.read("chatbot-export.json"))
    [chat] = document["chats"]
    assert len(chat["messages"]) == 7 and document["version"] == 2
    [markdown] = [name for name in archive.namelist() if name.startswith("chats/")]
    assert markdown.endswith(f"-{chat_id[:8]}.md") and "What is a lightship?" in archive.read(markdown).decode()
    files = [a for m in chat["messages"] for a in m["attachments"]]
    assert len(files) == 2  # the edited question carried its file over
    assert all(archive.read(a["file"]) == PNG for a in files)


# Import: a Chatbot download, back into another account (or another server)

def test_a_download_imports_whole_into_another_account_once(app, user, store, other):
    chat_id = branchy_chat(user, store)
    user.post(f"/chats/{chat_id}/settings", data={"system_prompt": "Be brief.", "temperature": "0.5"})
    user.post(f"/chats/{chat_id}/archive")
    data = user.get("/account/export").data
    preview, done = import_file(other, data, "chatbot-2026.zip")
    assert "chatbot-2026.zip is a Chatbot download of 1 chat." in preview.text and "Import 1 chat" in preview.text
    assert done.status_code == 303
    assert "Imported 1 chat from Chatbot." in other.get("/").text
    bo = owner_id(store, "bo@example.com")
    [copy] = store.chats(bo, archived=True)
    assert (copy.title, copy.system_prompt, copy.parameters.temperature) == \
        (store.chat(owner_id(store), chat_id).title, "Be brief.", 0.5)
    assert tree(store, bo, copy.id) == tree(store, owner_id(store), chat_id)
    shown = store.messages(bo, copy.id)
    assert shown[0].content == "What is a lightship?" and (shown[0].version, shown[0].versions) == (2, 2)
    [image] = shown[0].attachments
    assert image.storage_key.startswith(f"{bo}/") and other.get(f"/attachments/{image.id}").data == PNG
    # Again: nothing new; and into its own account, nothing either (those chats are there).
    again, _ = import_file(other, data, "chatbot-2026.zip")
    assert "1 is here already" in again.text and "here already</span>" in again.text and "/import/confirm" not in again.text
    assert "1 is here already" in import_file(user, data, "chatbot-2026.zip")[0].text
    assert len(store.chats(bo, archived=True)) == 1 and len(store.chats(owner_id(store), archived=True)) == 1


def test_one_chats_json_imports_too_without_its_files(user, store, other):
    chat_id = branchy_chat(user, store)
    _, done = import_file(other, user.get(f"/chats/{chat_id}/export.json").data, "chat.json")
    assert done.status_code == 303
    bo = owner_id(store, "bo@example.com")
    [copy] = store.chats(bo)
    assert tree(store, bo, copy.id) == tree(store, owner_id(store), chat_id)
    assert all(not m.attachments for m in store.all_messages(bo, copy.id))  # the files were not in it


def test_a_first_version_download_imports_in_order(other, store):
    document = {"format": "chatbot-export", "version": 1, "chats": [{
        "id": "0b1d6a4e-6b8e-4a43-9e0f-0a6c6b0d9a11", "title": "Old", "model": "m", "system_prompt": "",
        "parameters": {}, "created_at": "2026-01-01T10:00:00+00:00", "updated_at": "2026-01-01T10:05:00+00:00",
        "messages": [{"id": "1", "role": "user", "content": "hi", "status": "complete", "error": None, "model": None,
                      "prompt_tokens": None, "completion_tokens": None, "created_at": "2026-01-01T10:00:00+00:00",
                      "attachments": []},
                     {"id": "2", "role": "assistant", "content": "hello", "status": "streaming", "error": None,
                      "model": "m", "prompt_tokens": 3, "completion_tokens": 4,
                      "created_at": "2026-01-01T10:00:01+00:00", "attachments": []}]}]}
    _, done = import_file(other, json.dumps(document).encode(), "old.json")
    assert done.status_code == 303
    bo = owner_id(store, "bo@example.com")
    [chat] = store.chats(bo)
    assert [(m.role, m.content, m.status) for m in store.messages(bo, chat.id)] == [
        ("user", "hi", "complete"), ("assistant", "hello", "interrupted")]  # never left streaming


# Import: a ChatGPT data export, built here in its real shape

def node(node_id, parent, children, role=None, text=None, t=0.0, **message):
    content = message.pop("content", {"content_type": "text", "parts": [text]} if text is not None else None)
    return node_id, {"id": node_id, "parent": parent, "children": children, "message": None if role is None else {
        "id": node_id, "author": {"role": role, "name": None, "metadata": {}}, "create_time": t or None,
        "update_time": None, "content": content, "status": message.pop("status", "finished_successfully"),
        "end_turn": True, "weight": 1.0, "recipient": message.pop("recipient", "all"),
        "metadata": message.pop("metadata", {}), **message}}


def chatgpt_conversations() -> list[dict]:
    """Two conversations as ChatGPT's conversations.json has them: a tree of nodes under a
    root, system and tool messages among them; the first with an edited question and a
    regenerated reply, a tool call, an image and a hidden message."""
    first = dict([
        node("root", None, ["sys"]),
        node("sys", "root", ["q1", "q1b"], "system", "", 1.0, metadata={"is_visually_hidden_from_conversation": True}),
        node("q1", "sys", ["a1", "a1b"], "user", "Plan a trip to Lisbon", 1700000000.0),
        node("a1", "q1", [], "assistant", "Day 1: Alfama.", 1700000001.0, metadata={"model_slug": "gpt-4o"}),
        node("a1b", "q1", ["q2"], "assistant", "Start in Belém.", 1700000002.0,
             metadata={"model_slug": "gpt-4o", "finish_details": {"type": "stop"}}),
        node("q2", "a1b", ["call"], "user", None, 1700000003.0, content={
            "content_type": "multimodal_text",
            "parts": [{"content_type": "image_asset_pointer", "asset_pointer": "file-service://x"}, "What is this tram?"]}),
        node("call", "q2", ["out"], "assistant", "search('tram 28')", 1700000004.0, recipient="browser",
             content={"content_type": "code", "language": "unknown", "text": "search('tram 28')"}),
        node("out", "call", ["a2"], "tool", "results", 1700000005.0),
        node("a2", "out", [], "assistant", "Tram 28, the yellow one.", 1700000006.0,
             metadata={"model_slug": "gpt-4o-mini", "finish_details": {"type": "max_tokens"}}),
        node("q1b", "sys", ["a3"], "user", "Plan a trip to Porto instead", 1700000100.0),
        node("a3", "q1b", [], "assistant", "Porto: Ribeira first.", 1700000101.0, metadata={"model_slug": "gpt-4o"}),
    ])
    second = dict([node("r", None, ["only"]), node("only", "r", [], "user", "Just a question", 1700001000.0)])
    return [
        {"title": "Lisbon trip", "create_time": 1700000000.0, "update_time": 1700000101.0, "mapping": first,
         "current_node": "a2", "conversation_id": "6541f0a2-0000-0000-0000-000000000001", "id": "6541f0a2-0000-0000-0000-000000000001",
         "moderation_results": [], "is_archived": False},
        {"title": "Quick one", "create_time": 1700001000.0, "update_time": 1700001000.0, "mapping": second,
         "current_node": "only", "conversation_id": "6541f0a2-0000-0000-0000-000000000002", "id": "6541f0a2-0000-0000-0000-000000000002"},
    ]


def chatgpt_zip(conversations) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # as ChatGPT's export: other files beside it
        archive.writestr("conversations.json", json.dumps(conversations))
        archive.writestr("chat.html", "<html></html>")
        archive.writestr("user.json", json.dumps({"email": "someone@example.com"}))
    return buffer.getvalue()


@pytest.mark.parametrize("packed", [True, False], ids=["zip", "conversations.json"])
def test_a_chatgpt_export_imports_with_its_branches(user, store, packed):
    conversations = chatgpt_conversations()
    data = chatgpt_zip(conversations) if packed else json.dumps(conversations).encode()
    preview, done = import_file(user, data, "export.zip" if packed else "conversations.json")
    assert "is a ChatGPT data export of 2 chats." in preview.text
    assert "Lisbon trip" in preview.text and "Quick one" in preview.text and "Import 2 chats" in preview.text
    assert done.status_code == 303 and "Imported 2 chats from ChatGPT." in user.get("/").text
    me = owner_id(store)
    chats = {chat.title: chat for chat in store.chats(me)}
    trip = chats["Lisbon trip"]
    assert trip.created_at.timestamp() == 1700000000.0 and trip.updated_at.timestamp() == 1700000101.0
    # Every version, system and tool messages left out, in the order written.
    assert tree(store, me, trip.id) == [
        ("user", "Plan a trip to Lisbon", 1, 2), ("assistant", "Day 1: Alfama.", 1, 2),
        ("assistant", "Start in Belém.", 2, 2), ("user", "*(An image, not imported.)*\nWhat is this tram?", 1, 1),
        ("assistant", "Tram 28, the yellow one.", 1, 1),
        ("user", "Plan a trip to Porto instead", 2, 2), ("assistant", "Porto: Ribeira first.", 1, 1)]
    # The conversation shown is the one ChatGPT showed (its current node), through the tool call.
    shown = store.messages(me, trip.id)
    assert [m.content for m in shown][-1] == "Tram 28, the yellow one." and len(shown) == 4
    assert (shown[-1].model, shown[-1].finish_reason, shown[1].model) == ("gpt-4o-mini", "length", "gpt-4o")
    assert trip.model == backends(user.application).models.pick().name  # it goes on with a model offered here
    assert [m.content for m in store.messages(me, chats["Quick one"].id)] == ["Just a question"]
    # Searchable and continued like any chat.
    assert store.search(me, ["ribeira"])[0].chat_id == trip.id
    send(user, trip.id, "And Sintra?")
    assert store.messages(me, trip.id)[-2].content == "And Sintra?"
    # The same file again adds nothing.
    again, _ = import_file(user, data, "export.zip")
    assert "2 are here already" in again.text and "/import/confirm" not in again.text
    assert len(store.chats(me)) == 2


# What cannot be imported is refused beside the field, and nothing is imported

def refused(client, data: bytes, name: str = "file.json"):
    response = client.post("/import", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
    error = re.search(r'<p class="field-error" id="file-error">([^<]+)</p>', response.text)
    return response.status_code, error[1] if error else None


def damaged_zip() -> bytes:
    whole = chatgpt_zip(chatgpt_conversations())
    return whole[:len(whole) // 2]


@pytest.mark.parametrize("data, message", [
    (b"", "Choose a file to import."),
    (b"not json at all", "neither a Chatbot download nor a ChatGPT data export"),
    (json.dumps({"some": "other app"}).encode(), "neither a Chatbot download nor a ChatGPT data export"),
    (json.dumps([{"title": "no mapping"}]).encode(), "neither a Chatbot download nor a ChatGPT data export"),
    ("\udcff".encode("utf-8", "surrogatepass"), "neither a Chatbot download nor a ChatGPT data export"),
    (json.dumps([]).encode(), "That file holds no chats."),
    (json.dumps({"format": "chatbot-export", "version": 2, "chats": []}).encode(), "That file holds no chats."),
    (json.dumps({"format": "chatbot-export", "chats": [{"title": "x"}]}).encode(),
     "Chat 1 of that Chatbot file cannot be read"),
    (json.dumps({"format": "chatbot-export", "chats": [{"id": "c", "title": "x", "created_at": "2026-01-01",
                                                        "messages": [{"id": "a", "parent_id": "zz", "role": "user",
                                                                      "content": "x", "created_at": "2026-01-01"}]}]}
                ).encode(), "a message comes before its parent"),
    (json.dumps(chatgpt_conversations() + [{"mapping": "not a tree", "id": "x"}]).encode(),
     "Conversation 3 of that ChatGPT file cannot be read"),
    (damaged_zip(), "That zip file is damaged"),
    (b"PK\x03\x04" + b"\x00" * 100, "That zip file is damaged"),
], ids=["empty", "not-json", "other-json", "list-of-other", "not-utf8", "empty-list", "no-chats", "missing-fields",
        "orphan-message", "bad-conversation", "cut-zip", "junk-zip"])
def test_a_file_that_cannot_be_read_imports_nothing(user, store, data, message):
    status, error = refused(user, data)
    assert status == 422 and error is not None and message in error.replace("&#39;", "'"), error
    assert store.chats(owner_id(store)) == []


def test_a_zip_of_something_else_is_named_as_such(user, store):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photos/cat.jpg", b"\xff\xd8\xff")
    status, error = refused(user, buffer.getvalue(), "photos.zip")
    assert status == 422 and "neither chatbot-export.json" in error and "conversations.json" in error


def test_a_zip_that_unpacks_to_far_too_much_is_refused(tmp_path):
    app = create_app(make_config(tmp_path, IMPORT_MAX_BYTES="20000"))
    client = app.test_client()
    AuthActions(client).signup()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", b" " * 1_000_000)  # compresses to a few kB
    status, error = refused(client, buffer.getvalue(), "bomb.zip")
    assert status == 422 and "unpacks to far more" in error


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    app = create_app(make_config(tmp_path, IMPORT_MAX_BYTES="1000"))
    client = app.test_client()
    AuthActions(client).signup()
    status, error = refused(client, b"[" + b" " * 200_000 + b"]")
    assert status == 413 and "over 1,000 bytes" in error
    status, error = refused(client, b"[" + b" " * 2_000 + b"]")  # over the limit, but within the form's margin
    assert status == 422 and "an import can be at most 1,000" in error


def test_an_upload_is_imported_once_and_only_by_its_owner(user, store, other):
    preview = user.post("/import", data={"file": (io.BytesIO(json.dumps(chatgpt_conversations()).encode()), "c.json")},
                        content_type="multipart/form-data")
    upload = re.search(r'name="upload" value="([^"]+)"', preview.text)[1]
    stolen = other.post("/import/confirm", data={"upload": upload})
    assert stolen.status_code == 422 and "That upload is gone" in stolen.text
    assert store.chats(owner_id(store, "bo@example.com")) == []
    assert user.post("/import/confirm", data={"upload": upload}).status_code == 303
    assert user.post("/import/confirm", data={"upload": upload}).status_code == 422  # used up
    assert len(store.chats(owner_id(store))) == 2
    cancelled = user.post("/import", data={"file": (io.BytesIO(json.dumps(chatgpt_conversations()).encode()), "c.json")},
                          content_type="multipart/form-data")
    upload = re.search(r'name="upload" value="([^"]+)"', cancelled.text)[1]
    assert user.post("/import/cancel", data={"upload": upload}).status_code == 303
    assert "That upload is gone" in user.post("/import/confirm", data={"upload": upload}).text


def test_the_account_page_leads_to_import(user):
    assert 'href="/import"' in user.get("/account").text
    page = user.get("/import").text
    assert 'type="file"' in page and "ChatGPT data export" in page and "100.0 MiB" in page
