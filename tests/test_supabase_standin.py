"""The loopback Supabase stand-in's REST and Storage parts, driven by the real supabase-py
client over HTTP, on a real PostgreSQL with the project's migrations and RLS applied.

Two signed-in users, Ada and Bob: Ada reaches her own chats, messages and files and nothing
else; Bob sees none of Ada's; the anon role and bad tokens are refused; the service role
sees across owners. Errors arrive as supabase-py raises them, with PostgREST's codes.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime

import httpx
import jwt
import pytest
from postgrest.exceptions import APIError
from storage3.exceptions import StorageApiError
from supabase import create_client
from supabase.lib.client_options import SyncClientOptions


ADA, BOB = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture(scope="module", autouse=True)
def _ada_and_bob(standin):
    with standin.project.connect() as db:
        for user in (ADA, BOB):
            db.execute("insert into auth.users (id, email) values (%s, %s)", (user, f"{user}@example.com"))


@pytest.fixture(scope="module")
def http():
    """One HTTP client for every supabase-py client here. Handing supabase-py its own also
    keeps it from passing the ``timeout`` it deprecates (a DeprecationWarning otherwise)."""
    with httpx.Client(timeout=10) as http:
        yield http


def client(standin, http, bearer: str | None = None, key: str | None = None):
    """A supabase-py client as the app's adapter makes one: the project key, and a user's
    access token (or a project key) as the bearer."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    options = SyncClientOptions(headers=headers, auto_refresh_token=False, persist_session=False, httpx_client=http)
    return create_client(standin.url, key or standin.project.publishable_key, options=options)


def user_client(standin, http, user_id: str):
    token, _ = standin.project.access_token(user_id, f"{user_id}@example.com", str(uuid.uuid4()))
    return client(standin, http, token)


@pytest.fixture(scope="module")
def ada(standin, http):
    return user_client(standin, http, ADA)


@pytest.fixture(scope="module")
def bob(standin, http):
    return user_client(standin, http, BOB)


@pytest.fixture(scope="module")
def anon(standin, http):
    return client(standin, http)


@pytest.fixture(scope="module")
def service(standin, http):
    return client(standin, http, standin.project.secret_key, key=standin.project.secret_key)


@pytest.fixture
def ada_chat(ada):
    return ada.table("chats").insert({"title": "Ada's", "model": "m"}).execute().data[0]


def append(client, chat_id, *messages):
    return client.rpc("append_messages", {"target_chat": chat_id, "new_messages": list(messages)}).execute().data


def message(role="user", content="hi", status="complete"):
    return {"role": role, "content": content, "status": status}


def error_of(call) -> APIError:
    with pytest.raises(APIError) as caught:
        call().execute()
    return caught.value


# --- REST ---------------------------------------------------------------------------

def test_owner_inserts_selects_updates_and_deletes_a_chat(ada, ada_chat):
    assert ada_chat["owner_id"] == ADA and ada_chat["system_prompt"] == "" and not ada_chat["archived"]
    assert datetime.fromisoformat(ada_chat["created_at"]).utcoffset() is not None  # ISO 8601, with offset
    chats = ada.table("chats")
    assert chats.select("*").eq("id", ada_chat["id"]).execute().data == [ada_chat]
    assert chats.select("id,title").eq("id", ada_chat["id"]).execute().data == [
        {"id": ada_chat["id"], "title": "Ada's"}]
    updated = chats.update({"title": "Renamed", "archived": True}).eq("id", ada_chat["id"]).execute().data
    assert [(row["title"], row["archived"]) for row in updated] == [("Renamed", True)]
    assert [row["id"] for row in chats.delete().eq("id", ada_chat["id"]).execute().data] == [ada_chat["id"]]
    assert chats.select("*").eq("id", ada_chat["id"]).execute().data == []


def test_owner_inserts_many_messages_and_reads_them_in_order(ada, ada_chat):
    rows = [{"chat_id": ada_chat["id"], "role": "user", "content": "one", "status": "complete", "seq": 1},
            {"chat_id": ada_chat["id"], "role": "assistant", "content": "", "status": "error", "error": "boom",
             "seq": 2}]
    inserted = ada.table("messages").insert(rows).execute().data
    assert [(m["seq"], m["content"], m["error"]) for m in inserted] == [(1, "one", None), (2, "", "boom")]
    # As on PostgREST: in a list of rows, a key one row lacks is null there, not its default.
    lacking = [dict(rows[0], seq=3), {"chat_id": ada_chat["id"], "role": "user", "status": "complete", "seq": 4}]
    assert error_of(lambda: ada.table("messages").insert(lacking)).code == "23502"
    messages = ada.table("messages").select("*").eq("chat_id", ada_chat["id"])
    assert [m["seq"] for m in messages.order("seq", desc=True).execute().data] == [2, 1]


def test_append_messages_numbers_them_after_the_chats_leaf(ada, ada_chat):
    first = append(ada, ada_chat["id"], message(), message("assistant", "", "complete"))
    assert [(m["seq"], m["role"], m["owner_id"]) for m in first] == [(1, "user", ADA), (2, "assistant", ADA)]
    assert [m["parent_id"] for m in first] == [None, first[0]["id"]]
    again = append(ada, ada_chat["id"], message("user", "more", "complete"))
    assert [(m["seq"], m["parent_id"]) for m in again] == [(3, first[1]["id"])]
    chat = ada.table("chats").select("current_leaf").eq("id", ada_chat["id"]).execute().data
    assert chat == [{"current_leaf": again[0]["id"]}]
    version = ada.rpc("add_reply_version", {"target_chat": ada_chat["id"], "reply": first[1]["id"], "model": "m",
                                            "worker": "w"}).execute().data
    assert [(m["seq"], m["parent_id"], m["status"]) for m in version] == [(4, first[0]["id"], "streaming")]
    shown = ada.rpc("chat_path", {"target_chat": ada_chat["id"]}).execute().data
    assert [(row["message"]["id"], row["version"], row["versions"]) for row in shown] == [
        (first[0]["id"], 1, 1), (version[0]["id"], 2, 2)]


def test_a_second_streaming_reply_is_refused(ada, ada_chat):
    append(ada, ada_chat["id"], message("assistant", "", "streaming"))
    with pytest.raises(APIError) as caught:
        append(ada, ada_chat["id"], message("assistant", "", "streaming"))
    assert caught.value.code == "23505"


def test_filters_order_limit_and_offset(ada, ada_chat):
    rows = append(ada, ada_chat["id"], *(message(content=str(n)) for n in range(4)))
    rows += append(ada, ada_chat["id"], message("assistant", "", "streaming"))
    ids = [row["id"] for row in rows]

    def messages():  # a fresh query each time: supabase-py's builders add to themselves
        return ada.table("messages").select("seq").eq("chat_id", ada_chat["id"])

    def seqs(query):
        return [row["seq"] for row in query.execute().data]

    assert seqs(messages().order("seq", desc=True).order("id").limit(2)) == [5, 4]
    assert seqs(messages().order("seq").limit(2).offset(1)) == [2, 3]
    assert seqs(messages().in_("id", [ids[0], ids[2]]).order("seq")) == [1, 3]
    assert seqs(messages().neq("status", "complete").is_("error", None).gt("seq", 1)) == [5]
    assert seqs(messages().not_.in_("status", ["complete"])) == [5]
    assert ada.table("messages").select("*").in_("id", []).execute().data == []
    one = ada.table("chats").select("title").eq("id", ada_chat["id"]).single().execute()
    assert one.data == {"title": "Ada's"}


def test_another_user_reaches_nothing_of_the_owners(ada, bob, ada_chat):
    append(ada, ada_chat["id"], message())
    for table, column in (("chats", "id"), ("messages", "chat_id")):
        assert bob.table(table).select("*").eq(column, ada_chat["id"]).execute().data == []
        assert bob.table(table).update({"content" if table == "messages" else "title": "mine"}) \
            .eq(column, ada_chat["id"]).execute().data == []
        assert bob.table(table).delete().eq(column, ada_chat["id"]).execute().data == []
    assert ada.table("chats").select("title").eq("id", ada_chat["id"]).execute().data == [{"title": "Ada's"}]
    assert len(ada.table("messages").select("id").eq("chat_id", ada_chat["id"]).execute().data) == 1


def test_another_user_cannot_write_into_the_owners_chat(bob, ada_chat):
    row = {"chat_id": ada_chat["id"], "role": "user", "status": "complete", "seq": 9}
    assert error_of(lambda: bob.table("messages").insert(row)).code == "42501"
    with pytest.raises(APIError) as caught:
        append(bob, ada_chat["id"], message())
    assert caught.value.code == "P0002"  # the chat is not found: RLS hides it


def test_anon_is_refused(anon, ada_chat):
    assert error_of(lambda: anon.table("chats").select("*")).code == "42501"
    assert error_of(lambda: anon.table("chats").insert({"title": "t", "model": "m"})).code == "42501"
    with pytest.raises(APIError) as caught:
        append(anon, ada_chat["id"], message())
    assert caught.value.code == "42501"


@pytest.mark.parametrize("secret, expires_in, code", [
    ("someone else's secret, long enough for HS256", 3600, "PGRST301"),
    (None, -60, "PGRST303"),
])
def test_a_forged_or_expired_token_is_refused(standin, http, secret, expires_in, code):
    now = int(time.time())
    claims = {"sub": ADA, "role": "authenticated", "aud": "authenticated", "iat": now - 120, "exp": now + expires_in}
    token = jwt.encode(claims, secret or standin.project.jwt_secret, algorithm="HS256")
    assert error_of(lambda: client(standin, http, token).table("chats").select("*")).code == code


def test_unknown_names_are_refused(ada, ada_chat):
    assert error_of(lambda: ada.table("chats").select("id,nope")).code == "42703"
    assert error_of(lambda: ada.table("chats").select("*").eq("nope", 1)).code == "42703"
    assert error_of(lambda: ada.table("chats").select("*").order("nope")).code == "42703"
    assert error_of(lambda: ada.table("chats").insert({"title": "t", "model": "m", "nope": 1})).code == "PGRST204"
    assert error_of(lambda: ada.table("chats").update({"nope": 1}).eq("id", ada_chat["id"])).code == "PGRST204"
    assert error_of(lambda: ada.table("users").select("*")).code == "PGRST205"
    assert error_of(lambda: ada.schema("auth").table("users").select("*")).code == "PGRST106"
    assert error_of(lambda: ada.rpc("pg_sleep", {"seconds": 1})).code == "PGRST202"
    assert error_of(lambda: ada.rpc("append_messages", {"target_chat": ada_chat["id"]})).code == "PGRST202"


def test_bad_values_and_unfiltered_writes_are_refused(ada):
    assert error_of(lambda: ada.table("chats").select("*").eq("id", "not-a-uuid")).code == "22P02"
    assert error_of(lambda: ada.table("chats").insert({"title": "t"})).code == "23502"
    # Supabase runs PostgREST with pg-safeupdate.
    assert error_of(lambda: ada.table("chats").delete()).code == "21000"
    assert error_of(lambda: ada.table("chats").update({"title": "all"})).code == "21000"


def test_the_service_role_sees_across_owners(service, bob, ada_chat):
    bob_chat = bob.table("chats").insert({"title": "Bob's", "model": "m"}).execute().data[0]
    both = service.table("chats").select("owner_id").in_("id", [ada_chat["id"], bob_chat["id"]]).execute().data
    assert sorted(row["owner_id"] for row in both) == sorted([ADA, BOB])


# --- Storage ------------------------------------------------------------------------

def upload(client, path: str, data: bytes = b"%PDF secret", **options):
    return client.storage.from_("attachments").upload(path, data, {"content-type": "application/pdf", **options})


def test_owner_uploads_and_downloads_a_file(ada):
    path = f"{ADA}/{uuid.uuid4()}"
    assert upload(ada, path).full_path == f"attachments/{path}"
    assert ada.storage.from_("attachments").download(path) == b"%PDF secret"


def test_uploads_outside_ones_folder_or_twice_are_refused(ada, anon):
    with pytest.raises(StorageApiError) as caught:
        upload(ada, f"{BOB}/{uuid.uuid4()}")
    assert str(caught.value.status) == "403"
    with pytest.raises(StorageApiError):
        upload(anon, f"{ADA}/{uuid.uuid4()}")
    path = f"{ADA}/{uuid.uuid4()}"
    upload(ada, path)
    with pytest.raises(StorageApiError) as caught:
        upload(ada, path, b"again")
    assert (str(caught.value.status), caught.value.code) == ("409", "Duplicate")
    upload(ada, path, b"replaced", upsert="true")
    assert ada.storage.from_("attachments").download(path) == b"replaced"


def test_another_user_cannot_download_or_remove_the_owners_file(ada, bob):
    path = f"{ADA}/{uuid.uuid4()}"
    upload(ada, path)
    with pytest.raises(StorageApiError) as caught:
        bob.storage.from_("attachments").download(path)
    assert (str(caught.value.status), caught.value.code) == ("404", "not_found")
    assert bob.storage.from_("attachments").remove([path]) == []
    assert ada.storage.from_("attachments").download(path) == b"%PDF secret"


def test_owner_removes_a_file(ada):
    path = f"{ADA}/{uuid.uuid4()}"
    upload(ada, path)
    removed = ada.storage.from_("attachments").remove([path])
    assert [(row["bucket_id"], row["name"]) for row in removed] == [("attachments", path)]
    with pytest.raises(StorageApiError):
        ada.storage.from_("attachments").download(path)
