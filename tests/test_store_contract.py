"""The store contract, run against every backend: what the services rely on, and that no
owner reaches another's chats or messages.

Backends: SQLite (a temporary file), PostgreSQL on loopback (a fresh database, migrated at
start-up as the app does), and the Supabase adapter talking over HTTP to the loopback
Supabase stand-in, whose data sits in PostgreSQL with the project's migrations and RLS
(each owner's calls go through a store bound to that owner's own access token, as in the
app). The PostgreSQL-backed ones are skipped without a server, except in CI.

With SUPABASE_TEST_URL, SUPABASE_TEST_PUBLISHABLE_KEY and SUPABASE_TEST_SECRET_KEY set, the
adapter runs the contract against that real project too (its migrations applied; the
test users it makes are deleted afterwards, their rows with them).
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import pytest

from chatbot.models.parameters import Parameters
from chatbot.store import (COMPLETE, ERROR, INTERRUPTED, MARK_END, MARK_START, STOPPED, STREAMING, Attachment,
                           ChatImport, DuplicateEmail, DuplicateName, Message, ReplyInProgress)
from tests.conftest import require_service
from tests.databases import postgres_database, sql_store, supabase_database
from tests.supabase.server import SupabaseStandin
from tests.supabase.stores import SupabaseStores

NO_POSTGRES = "PostgreSQL is not running on 127.0.0.1:5432"


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "supabase", "supabase-project"])
def store(request, tmp_path_factory):
    if request.param == "supabase":
        with supabase_database() as url:
            if url is None:
                require_service(NO_POSTGRES)
            with SupabaseStandin(url) as standin:
                stores = SupabaseStores(standin.url, standin.project.publishable_key, standin.project.secret_key)
                yield stores
                stores.delete_users()  # as after a real project's run: proves the clean-up works
    elif request.param == "supabase-project":
        project = [os.environ.get(f"SUPABASE_TEST_{name}") for name in ("URL", "PUBLISHABLE_KEY", "SECRET_KEY")]
        if not all(project):
            pytest.skip("no real Supabase project: set SUPABASE_TEST_URL and its keys to run the contract on one")
        stores = SupabaseStores(*project)
        yield stores
        stores.delete_users()
    else:
        yield from _sql_store(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def users(request, tmp_path_factory):
    """The local accounts' user table (on Supabase, Supabase Auth keeps users)."""
    yield from _sql_store(request.param, tmp_path_factory)


def _sql_store(backend, tmp_path_factory):
    if backend == "sqlite":
        store = sql_store(f"sqlite:///{tmp_path_factory.mktemp('contract') / 'store.sqlite3'}",
                          tmp_path_factory.mktemp("locks"))
        yield store
        store.engine.dispose()
        return
    with postgres_database() as url:
        if url is None:
            require_service(NO_POSTGRES)
        store = sql_store(url, tmp_path_factory.mktemp("locks"))
        yield store
        store.engine.dispose()


@pytest.fixture
def owner(store):
    return store.add_user(f"{uuid.uuid4().hex}@example.com", "hash").id


@pytest.fixture
def stranger(store):
    return store.add_user(f"{uuid.uuid4().hex}@example.com", "hash").id


@pytest.fixture
def worker():
    return f"test-host:{uuid.uuid4().hex}"


# Users (the local-account backend's)

def test_users_are_found_by_email_and_id(users):
    email = f"{uuid.uuid4().hex}@example.com"
    user = users.add_user(email, "argon2-hash")
    assert users.user_by_email(email) == user
    assert users.user_by_id(user.id) == user
    assert user.created_at.tzinfo is not None


def test_a_password_hash_can_be_replaced(users):
    user = users.add_user(f"{uuid.uuid4().hex}@example.com", "old-hash")
    other = users.add_user(f"{uuid.uuid4().hex}@example.com", "other-hash")
    users.set_password_hash(user.id, "new-hash")
    assert users.user_by_id(user.id).password_hash == "new-hash"
    assert users.user_by_id(other.id).password_hash == "other-hash"


def test_an_email_is_taken_once(users):
    email = f"{uuid.uuid4().hex}@example.com"
    users.add_user(email, "hash")
    with pytest.raises(DuplicateEmail):
        users.add_user(email, "other")


@pytest.mark.parametrize("user_id", ["", "1", "not-a-uuid", str(uuid.uuid4())])
def test_unknown_users_are_none(users, user_id):
    assert users.user_by_id(user_id) is None
    assert users.user_by_email(f"{user_id}@nowhere.example") is None


# Chats

def test_chats_are_listed_most_recently_updated_first(store, owner):
    first = store.add_chat(owner, "First", "m")
    second = store.add_chat(owner, "Second", "m")
    assert [c.id for c in store.chats(owner)] == [second.id, first.id]
    store.add_turn(owner, first.id, "hello", "m", "w")  # a new message moves a chat up
    assert [c.id for c in store.chats(owner)] == [first.id, second.id]
    assert [c.id for c in store.chats(owner, limit=1)] == [first.id]


def test_a_chat_round_trips(store, owner):
    chat = store.add_chat(owner, "Lighthouses ⛯ «ü»", "gpt-x")
    found = store.chat(owner, chat.id)
    assert (found.id, found.owner_id, found.title, found.model, found.system_prompt) == \
        (chat.id, owner, "Lighthouses ⛯ «ü»", "gpt-x", "")
    assert isinstance(found.created_at, datetime) and found.created_at.tzinfo is not None


def test_update_chat_changes_the_fields_given(store, owner):
    chat = store.add_chat(owner, "Old", "m")
    updated = store.update_chat(owner, chat.id, title="New", system_prompt="Be brief.")
    assert (updated.title, updated.system_prompt, updated.model) == ("New", "Be brief.", "m")
    assert updated.updated_at >= chat.updated_at


def test_a_chats_model_parameters_round_trip(store, owner):
    chat = store.add_chat(owner, "Tuned", "m")
    assert store.chat(owner, chat.id).parameters == Parameters()
    tuned = Parameters(temperature=0.25, top_p=1.0, max_tokens=4096, reasoning_effort="low")
    assert store.update_chat(owner, chat.id, parameters=tuned).parameters == tuned
    assert store.chat(owner, chat.id).parameters == tuned and store.chats(owner)[0].parameters == tuned
    assert store.update_chat(owner, chat.id, parameters=Parameters()).parameters == Parameters()


def test_pinning_and_archiving_leave_a_chat_in_its_place(store, owner, stranger):
    older = store.add_chat(owner, "Older", "m")
    newer = store.add_chat(owner, "Newer", "m")
    assert store.chat(owner, older.id).pinned is False and store.chat(owner, older.id).archived is False
    assert store.organise_chat(owner, older.id, pinned=True) is True
    found = store.chat(owner, older.id)
    assert found.pinned is True and found.updated_at == older.updated_at  # not moved to the top
    assert [(c.id, c.pinned) for c in store.chats(owner)] == [(newer.id, False), (older.id, True)]
    assert store.organise_chat(owner, newer.id, archived=True) is True
    assert [c.id for c in store.chats(owner)] == [older.id]
    assert [(c.id, c.archived) for c in store.chats(owner, archived=True)] == [(newer.id, True)]
    assert store.organise_chat(owner, newer.id, archived=False, pinned=True) is True
    assert [c.id for c in store.chats(owner)] == [newer.id, older.id] and store.chats(owner, archived=True) == []
    assert store.organise_chat(owner, older.id) is True  # nothing to change: still the owner's
    # Another owner's chat, or none: nothing changes.
    assert store.organise_chat(stranger, older.id, archived=True) is False
    assert store.organise_chat(owner, str(uuid.uuid4()), pinned=True) is False
    assert store.organise_chat(owner, "not-an-id", pinned=True) is False
    assert store.chat(owner, older.id).archived is False and store.chats(stranger, archived=True) == []


def test_chats_are_listed_filed_or_loose_and_a_page_at_a_time(store, owner):
    made = [store.add_chat(owner, f"Chat {n}", "m") for n in range(6)]  # newest last
    folder = store.add_folder(owner, "Filed")
    store.organise_chat(owner, made[1].id, pinned=True)
    store.organise_chat(owner, made[3].id, folder_id=folder.id)
    store.organise_chat(owner, made[4].id, archived=True)
    ids = lambda chats: [c.title for c in chats]  # noqa: E731
    assert ids(store.chats(owner, filed=True)) == ["Chat 3", "Chat 1"]
    assert ids(store.chats(owner, filed=False)) == ["Chat 5", "Chat 2", "Chat 0"]
    assert ids(store.chats(owner, filed=False, limit=2)) == ["Chat 5", "Chat 2"]
    assert ids(store.chats(owner, filed=False, limit=2, offset=2)) == ["Chat 0"]
    assert ids(store.chats(owner, limit=3, offset=1)) == ["Chat 3", "Chat 2", "Chat 1"]
    assert ids(store.chats(owner, offset=4)) == ["Chat 0"]
    assert ids(store.chats(owner, filed=True, limit=1, offset=1)) == ["Chat 1"]


def test_folders_are_made_listed_renamed_and_deleted_leaving_their_chats(store, owner, stranger):
    work = store.add_folder(owner, "Work")
    home = store.add_folder(owner, "home")
    assert store.folders(owner) == [home, work] and work.created_at.tzinfo is not None  # by name, any case
    with pytest.raises(DuplicateName):
        store.add_folder(owner, "WORK")
    store.add_folder(stranger, "Work")  # another owner's names are theirs
    chat = store.add_chat(owner, "Quarterly plan", "m")
    assert store.organise_chat(owner, chat.id, folder_id=work.id) is True
    found = store.chat(owner, chat.id)
    assert found.folder_id == work.id and found.updated_at == chat.updated_at  # not moved in the list
    assert store.chats(owner)[0].folder_id == work.id
    renamed = store.rename_folder(owner, work.id, "Office")
    assert (renamed.id, renamed.name) == (work.id, "Office")
    with pytest.raises(DuplicateName):
        store.rename_folder(owner, home.id, "office")
    assert store.organise_chat(owner, chat.id, folder_id=home.id) is True
    assert store.organise_chat(owner, chat.id, unfile=True) is True and store.chat(owner, chat.id).folder_id is None
    store.organise_chat(owner, chat.id, folder_id=home.id)
    assert store.delete_folder(owner, home.id) is True and store.delete_folder(owner, home.id) is False
    assert store.chat(owner, chat.id).folder_id is None and [f.name for f in store.folders(owner)] == ["Office"]


def test_a_chat_goes_only_into_its_owners_folders(store, owner, stranger):
    chat = store.add_chat(owner, "Mine", "m")
    theirs = store.add_folder(stranger, "Theirs")
    assert store.organise_chat(owner, chat.id, folder_id=theirs.id) is False
    assert store.organise_chat(owner, chat.id, folder_id=str(uuid.uuid4())) is False
    assert store.chat(owner, chat.id).folder_id is None
    mine = store.add_folder(owner, "Mine")
    assert store.organise_chat(stranger, chat.id, folder_id=mine.id) is False
    assert store.folders(stranger) == [theirs] and store.rename_folder(stranger, mine.id, "x") is None
    assert store.delete_folder(stranger, mine.id) is False and store.folders(owner) == [mine]


def test_retitle_writes_over_the_expected_title_only_and_leaves_the_chat_in_place(store, owner):
    chat = store.add_chat(owner, "First words", "m")
    before = store.chat(owner, chat.id)
    assert store.retitle(owner, chat.id, "A title the user set", "Model title") is False
    assert store.chat(owner, chat.id).title == "First words"
    assert store.retitle(owner, chat.id, "First words", "Model title ✓") is True
    after = store.chat(owner, chat.id)
    assert after.title == "Model title ✓" and after.updated_at == before.updated_at  # the list does not move
    assert store.retitle(owner, "not-an-id", "First words", "x") is False


def test_deleting_a_chat_deletes_its_messages(store, owner):
    chat = store.add_chat(owner, "Doomed", "m")
    turn = store.add_turn(owner, chat.id, "hi", "m", "w")
    question, answer = turn.question, turn.answer
    assert store.delete_chat(owner, chat.id) is True
    assert store.chat(owner, chat.id) is None
    assert store.messages(owner, chat.id) == []
    assert store.message(owner, question.id) is None and store.message(owner, answer.id) is None
    assert store.delete_chat(owner, chat.id) is False


@pytest.mark.parametrize("chat_id", ["", "x", "1 OR 1=1", str(uuid.uuid4())])
def test_unknown_chats_are_not_found(store, owner, chat_id):
    assert store.chat(owner, chat_id) is None
    with pytest.raises(LookupError):
        store.add_turn(owner, chat_id, "hi", "m", "w")
    assert store.messages(owner, chat_id) == []
    assert store.delete_chat(owner, chat_id) is False


# Messages

def test_a_turn_is_the_question_and_an_empty_streaming_reply(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    turn = store.add_turn(owner, chat.id, "What is a lighthouse?", "gpt-x", "host:1:2")
    question, answer = turn.question, turn.answer
    assert (question.role, question.content, question.status) == ("user", "What is a lighthouse?", COMPLETE)
    assert (answer.role, answer.content, answer.status, answer.model) == ("assistant", "", STREAMING, "gpt-x")
    assert answer.seq == question.seq + 1
    assert store.messages(owner, chat.id) == [question, answer]


def test_messages_come_a_page_at_a_time_from_the_newest_end(store, owner, stranger):
    chat = store.add_chat(owner, "Long", "m")
    for n in range(1, 8):
        store.add_message(owner, chat.id, "user", f"m{n}", COMPLETE)
    assert [m.content for m in store.messages(owner, chat.id, newest=3)] == ["m5", "m6", "m7"]
    assert [m.content for m in store.messages(owner, chat.id, newest=3, before=5)] == ["m2", "m3", "m4"]
    assert [m.content for m in store.messages(owner, chat.id, newest=3, before=2)] == ["m1"]
    assert [m.content for m in store.messages(owner, chat.id, before=3)] == ["m1", "m2"]
    assert store.messages(stranger, chat.id, newest=3, before=5) == []


def test_a_repeated_send_returns_the_turn_it_made_and_stores_nothing_twice(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    client_id = str(uuid.uuid4())
    first = store.add_turn(owner, chat.id, "only once", "m", "w", client_id=client_id)
    assert first.repeated is False
    again = store.add_turn(owner, chat.id, "only once", "m", "w", client_id=client_id)  # its reply still streams
    assert again.repeated is True
    assert (again.question, again.answer, again.chat.id) == (first.question, first.answer, chat.id)
    store.update_message(owner, first.answer.id, content="Done.", status=COMPLETE)
    later = store.add_turn(owner, chat.id, "only once", "m", "w", client_id=client_id)  # after it finished
    assert later.repeated is True and (later.answer.content, later.answer.status) == ("Done.", COMPLETE)
    assert [m.content for m in store.messages(owner, chat.id)] == ["only once", "Done."]
    other = store.add_turn(owner, chat.id, "a new one", "m", "w", client_id=str(uuid.uuid4()))
    assert other.repeated is False and len(store.messages(owner, chat.id)) == 4


def test_client_ids_are_each_owners_own(store, owner, stranger):
    client_id = str(uuid.uuid4())
    mine = store.add_turn(owner, store.add_chat(owner, "Mine", "m").id, "hi", "m", "w", client_id=client_id)
    theirs = store.add_turn(stranger, store.add_chat(stranger, "Theirs", "m").id, "hi", "m", "w",
                            client_id=client_id)
    assert not mine.repeated and not theirs.repeated and mine.question.id != theirs.question.id
    assert store.chat_sent_with(owner, client_id) == mine.chat.id
    assert store.chat_sent_with(stranger, client_id) == theirs.chat.id


def test_the_chat_a_client_id_was_sent_into_is_found_across_chats(store, owner, stranger):
    client_id = str(uuid.uuid4())
    assert store.chat_sent_with(owner, client_id) is None
    store.add_chat(owner, "Other", "m")
    chat = store.add_chat(owner, "Chat", "m")
    store.add_turn(owner, chat.id, "first message", "m", "w", client_id=client_id)
    assert store.chat_sent_with(owner, client_id) == chat.id
    assert store.chat_sent_with(stranger, client_id) is None  # another user learns nothing


def test_sends_without_a_client_id_are_never_taken_for_repeats(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    first = store.add_turn(owner, chat.id, "same words", "m", "w")
    store.update_message(owner, first.answer.id, status=COMPLETE)
    second = store.add_turn(owner, chat.id, "same words", "m", "w")
    assert not second.repeated and second.question.id != first.question.id


def test_a_turn_comes_with_its_chat_the_newest_messages_and_whether_the_list_moved(store, owner):
    first = store.add_chat(owner, "First", "m")
    store.add_chat(owner, "Second", "m")  # on top of the list
    earlier = store.add_turn(owner, first.id, "one", "m", "w")
    assert earlier.list_changed is True
    assert (earlier.chat.id, earlier.chat.title, earlier.chat.owner_id) == (first.id, "First", owner)
    assert earlier.history == [earlier.question, earlier.answer]
    store.update_message(owner, earlier.answer.id, content="reply one", status=COMPLETE)
    again = store.add_turn(owner, first.id, "two", "m", "w", history=3)
    assert again.list_changed is False  # on top already
    assert [m.content for m in again.history] == ["reply one", "two", ""]
    assert again.history[-2:] == [again.question, again.answer]


def test_one_streaming_reply_per_chat(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    answer = store.add_turn(owner, chat.id, "one", "m", "w").answer
    with pytest.raises(ReplyInProgress):
        store.add_turn(owner, chat.id, "two", "m", "w")
    assert len(store.messages(owner, chat.id)) == 2  # the refused turn left nothing behind
    store.update_message(owner, answer.id, status=COMPLETE)
    store.add_turn(owner, chat.id, "two", "m", "w")
    assert [m.seq for m in store.messages(owner, chat.id)] == [1, 2, 3, 4]


def test_streaming_replies_counts_the_owners_replies_being_written_in_all_chats(store, owner, stranger):
    first, second = store.add_chat(owner, "First", "m"), store.add_chat(owner, "Second", "m")
    assert store.streaming_replies(owner) == 0
    answer = store.add_turn(owner, first.id, "one", "m", "w").answer
    store.add_turn(owner, second.id, "two", "m", "w")
    theirs = store.add_chat(stranger, "Theirs", "m")
    store.add_turn(stranger, theirs.id, "three", "m", "w")
    assert (store.streaming_replies(owner), store.streaming_replies(stranger)) == (2, 1)
    store.update_message(owner, answer.id, content="done", status=COMPLETE)
    assert store.streaming_replies(owner) == 1


def test_messages_keep_their_order_and_content(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    text = "Ünïcode ✓ and `code`\n\n" + "long " * 20_000
    turn = store.add_turn(owner, chat.id, text, "m", "w")
    question, answer = turn.question, turn.answer
    store.update_message(owner, answer.id, content="Here ✓", status=COMPLETE, prompt_tokens=12,
                         completion_tokens=3, worker=None)
    stored = store.messages(owner, chat.id)
    assert [m.id for m in stored] == [question.id, answer.id]
    assert stored[0].content == text
    reply = store.message(owner, answer.id)
    assert (reply.content, reply.status, reply.prompt_tokens, reply.completion_tokens) == ("Here ✓", COMPLETE, 12, 3)


def test_the_newest_messages_come_oldest_first_with_their_attachments(store, owner, stranger):
    chat = store.add_chat(owner, "Chat", "m")
    turns = []
    for n in range(3):
        turn = store.add_turn(owner, chat.id, f"q{n}", "m", "w")
        question, answer = turn.question, turn.answer
        store.update_message(owner, answer.id, content=f"a{n}", status=COMPLETE, worker=None)
        turns.append((question, answer))
    early = store.add_attachment(owner, turns[0][0].id, "old.txt", "text/plain", 3, f"{owner}/{uuid.uuid4()}")
    late = store.add_attachment(owner, turns[2][0].id, "new.txt", "text/plain", 3, f"{owner}/{uuid.uuid4()}")
    everything = store.messages(owner, chat.id)
    newest = store.messages(owner, chat.id, newest=3)
    assert newest == everything[-3:]
    assert [m.content for m in newest] == ["a1", "q2", "a2"]
    assert newest[1].attachments == (late,) and everything[0].attachments == (early,)
    assert store.messages(owner, chat.id, newest=100) == everything
    assert store.messages(owner, chat.id, newest=0) == []
    assert store.messages(stranger, chat.id, newest=3) == []
    turn = store.add_turn(owner, chat.id, "q3", "m", "w", history=4)  # a turn's history has them too
    assert [(m.content, m.attachments) for m in turn.history] == [("q2", (late,)), ("a2", ()), ("q3", ()), ("", ())]


def test_a_failed_reply_keeps_its_reason(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    answer = store.add_turn(owner, chat.id, "hi", "m", "w").answer
    store.update_message(owner, answer.id, content="partial", status=ERROR, error="The model stopped responding.")
    reply = store.message(owner, answer.id)
    assert (reply.content, reply.status, reply.error) == ("partial", ERROR, "The model stopped responding.")


def test_regenerating_adds_a_version_beside_the_old_reply(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    turn = store.add_turn(owner, chat.id, "hi", "m", "w")
    question, answer = turn.question, turn.answer
    store.update_message(owner, answer.id, content="old", status=STOPPED, worker=None)
    new = store.add_version(owner, chat.id, answer.id, "m2", "w")
    assert (new.status, new.content, new.model, new.parent_id) == (STREAMING, "", "m2", question.id)
    assert (new.version, new.versions) == (2, 2)
    assert store.message(owner, answer.id).content == "old"  # kept, as the other version
    shown = store.messages(owner, chat.id)
    assert [m.id for m in shown] == [question.id, new.id] and [(m.version, m.versions) for m in shown] == [(1, 1), (2, 2)]
    assert store.chat(owner, chat.id).current_leaf == new.id
    with pytest.raises(ReplyInProgress):  # the new one is still streaming
        store.add_version(owner, chat.id, answer.id, "m", "w")
    with pytest.raises(ReplyInProgress):
        store.add_turn(owner, chat.id, "again", "m", "w")
    with pytest.raises(LookupError):  # a question has no reply versions
        store.add_version(owner, chat.id, question.id, "m", "w")


def _finish(store, owner, *messages):
    for message in messages:
        store.update_message(owner, message.id, content=f"reply to {message.id[:4]}", status=COMPLETE, worker=None)


def test_an_edited_message_is_a_new_version_and_the_old_branch_stays(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    first = store.add_turn(owner, chat.id, "one", "m", "w")
    _finish(store, owner, first.answer)
    second = store.add_turn(owner, chat.id, "two", "m", "w")
    _finish(store, owner, second.answer)
    third = store.add_turn(owner, chat.id, "three", "m", "w")
    _finish(store, owner, third.answer)

    edited = store.add_turn(owner, chat.id, "TWO", "m", "w", edit_of=second.question.id, history=10)
    assert edited.question.parent_id == first.answer.id and edited.answer.parent_id == edited.question.id
    assert (edited.question.version, edited.question.versions) == (2, 2)
    path = [first.question.id, first.answer.id, edited.question.id, edited.answer.id]
    assert [m.id for m in edited.history] == path  # what the model is given: the new branch only
    shown = store.messages(owner, chat.id)
    assert [m.id for m in shown] == path
    assert [(m.version, m.versions) for m in shown] == [(1, 1), (1, 1), (2, 2), (1, 1)]
    assert [m.id for m in store.messages(owner, chat.id, newest=2)] == path[2:]
    assert [m.id for m in store.messages(owner, chat.id, newest=1, before=shown[2].seq)] == path[1:2]
    _finish(store, owner, edited.answer)

    # Back to the first version: the old branch, down to its newest message.
    assert store.show_version(owner, chat.id, edited.question.id, -1) == second.question.id
    old = [first.question.id, first.answer.id, second.question.id, second.answer.id, third.question.id,
           third.answer.id]
    assert [m.id for m in store.messages(owner, chat.id)] == old
    assert store.chat(owner, chat.id).current_leaf == third.answer.id
    # A send goes on from the version shown.
    more = store.add_turn(owner, chat.id, "four", "m", "w")
    assert more.question.parent_id == third.answer.id
    _finish(store, owner, more.answer)
    # Forward again, and past either end: nothing.
    assert store.show_version(owner, chat.id, second.question.id, 1) == edited.question.id
    assert [m.id for m in store.messages(owner, chat.id)] == path
    assert store.show_version(owner, chat.id, edited.question.id, 1) is None
    assert store.show_version(owner, chat.id, second.question.id, -1) is None
    assert [m.id for m in store.messages(owner, chat.id)] == path


def test_the_first_message_can_be_edited_too(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    first = store.add_turn(owner, chat.id, "one", "m", "w")
    _finish(store, owner, first.answer)
    edited = store.add_turn(owner, chat.id, "ONE", "m", "w", edit_of=first.question.id)
    assert edited.question.parent_id is None and (edited.question.version, edited.question.versions) == (2, 2)
    _finish(store, owner, edited.answer)
    assert [m.content for m in store.messages(owner, chat.id)][0] == "ONE"
    assert store.show_version(owner, chat.id, edited.question.id, -1) == first.question.id
    assert [m.id for m in store.messages(owner, chat.id)] == [first.question.id, first.answer.id]
    assert store.message(owner, first.question.id).versions == 2


def test_only_a_users_message_of_the_chat_can_be_edited(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    other = store.add_chat(owner, "Other", "m")
    turn = store.add_turn(owner, chat.id, "one", "m", "w")
    _finish(store, owner, turn.answer)
    elsewhere = store.add_turn(owner, other.id, "elsewhere", "m", "w")
    for edit_of in (turn.answer.id, elsewhere.question.id, str(uuid.uuid4()), "not-an-id"):
        with pytest.raises(LookupError):
            store.add_turn(owner, chat.id, "x", "m", "w", edit_of=edit_of)
    assert store.show_version(owner, chat.id, elsewhere.question.id, 1) is None
    assert [m.id for m in store.messages(owner, chat.id)] == [turn.question.id, turn.answer.id]


def test_a_long_branchy_chat_is_read_whole_and_in_pages(store, owner):
    chat = store.add_chat(owner, "Long", "m")
    expected = []
    for n in range(30):
        turn = store.add_turn(owner, chat.id, f"q{n}", "m", "w")
        _finish(store, owner, turn.answer)
        if n % 10 == 5:  # a regenerated reply now and then: the newest version is shown
            version = store.add_version(owner, chat.id, turn.answer.id, "m", "w")
            _finish(store, owner, version)
            expected += [turn.question.id, version.id]
        else:
            expected += [turn.question.id, turn.answer.id]
    assert [m.id for m in store.messages(owner, chat.id)] == expected
    newest = store.messages(owner, chat.id, newest=25)
    assert [m.id for m in newest] == expected[-25:]
    before = store.messages(owner, chat.id, newest=25, before=newest[0].seq)
    assert [m.id for m in before] == expected[-50:-25]


def test_the_last_reply_can_be_resumed_to_be_carried_on(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    turn = store.add_turn(owner, chat.id, "hi", "m", "w")
    store.update_message(owner, turn.answer.id, content="cut", status=COMPLETE, worker=None, finish_reason="length")
    assert store.message(owner, turn.answer.id).finish_reason == "length"
    resumed = store.resume_reply(owner, chat.id, turn.answer.id, "w2")
    assert (resumed.id, resumed.content, resumed.status, resumed.worker, resumed.finish_reason) == \
        (turn.answer.id, "cut", STREAMING, "w2", None)
    assert store.message(owner, turn.answer.id).status == STREAMING
    with pytest.raises(ReplyInProgress):
        store.add_turn(owner, chat.id, "again", "m", "w")
    store.update_message(owner, turn.answer.id, content="cut and done", status=COMPLETE, worker=None)
    with pytest.raises(LookupError):  # not a reply
        store.resume_reply(owner, chat.id, turn.question.id, "w")
    later = store.add_turn(owner, chat.id, "more", "m", "w")
    store.update_message(owner, later.answer.id, status=COMPLETE, worker=None)
    with pytest.raises(LookupError):  # no longer the last
        store.resume_reply(owner, chat.id, turn.answer.id, "w")
    other = store.add_chat(owner, "Other", "m")
    with pytest.raises(LookupError):
        store.resume_reply(owner, other.id, later.answer.id, "w")


def test_a_chats_usage_counts_every_version_by_model(store, owner, stranger):
    chat = store.add_chat(owner, "Costly", "m")
    first = store.add_turn(owner, chat.id, "hi", "m1", "w")
    store.update_message(owner, first.answer.id, status=COMPLETE, worker=None, prompt_tokens=10, completion_tokens=5)
    again = store.add_version(owner, chat.id, first.answer.id, "m2", "w")
    store.update_message(owner, again.id, status=COMPLETE, worker=None, prompt_tokens=12, completion_tokens=7)
    more = store.add_turn(owner, chat.id, "more", "m1", "w")
    store.update_message(owner, more.answer.id, status=ERROR, worker=None)  # failed before any usage report
    assert [(u.model, u.replies, u.prompt_tokens, u.completion_tokens) for u in store.chat_usage(owner, chat.id)] == [
        ("m1", 2, 10, 5), ("m2", 1, 12, 7)]
    assert store.chat_usage(stranger, chat.id) == [] and store.chat_usage(owner, "not-an-id") == []


def test_add_message_appends(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    message = store.add_message(owner, chat.id, "assistant", "Hello", COMPLETE, "m")
    assert store.messages(owner, chat.id) == [message]


def test_replies_of_a_process_whose_lease_ran_out_are_interrupted_with_their_text(store, owner, worker):
    chats = [store.add_chat(owner, name, "m") for name in ("Expired", "Alive", "Ended", "Never leased")]
    store.renew_lease(worker + "-expired", 0)  # runs out at once
    store.renew_lease(worker + "-alive", 60)
    store.renew_lease(worker + "-ended", 60)
    expired, alive, ended, unleased = (store.add_turn(owner, chat.id, "hi", "m", worker + suffix).answer for chat, suffix
                                       in zip(chats, ("-expired", "-alive", "-ended", "-unleased")))
    store.update_message(owner, expired.id, content="half a sent")
    store.end_lease(worker + "-ended")
    store.renew_lease(worker + "-alive", 60)  # renewing extends, and never makes a second lease
    assert store.sweep_replies("The server stopped.") >= 3  # other tests' leftovers may go too
    reply = store.message(owner, expired.id)
    assert (reply.status, reply.content, reply.error, reply.worker) == (INTERRUPTED, "half a sent",
                                                                        "The server stopped.", None)
    assert store.message(owner, ended.id).status == store.message(owner, unleased.id).status == INTERRUPTED
    assert store.message(owner, alive.id).status == STREAMING and store.message(owner, alive.id).worker == worker + "-alive"
    assert store.sweep_replies("The server stopped.") == 0


# Search

def _exchange(store, owner, chat_id, question, reply, status=COMPLETE):
    turn = store.add_turn(owner, chat_id, question, "m", "w")
    store.update_message(owner, turn.answer.id, content=reply, status=status)
    return turn


def test_search_finds_titles_and_messages_newest_first_with_the_words_marked(store, owner):
    coast = store.add_chat(owner, "Lighthouses of Brittany", "m")
    tallest = _exchange(store, owner, coast.id, "Which lighthouse is the tallest?", "Île Vierge, at 82.5 metres.")
    garden = store.add_chat(owner, "Gardening", "m")
    keeper = _exchange(store, owner, garden.id, "Can a LIGHTHOUSE keeper grow tomatoes?", "Yes, with shelter.")
    hits = store.search(owner, ["lighthouse"])
    assert [(h.chat_id, h.message_id) for h in hits] == [
        (coast.id, None), (garden.id, keeper.question.id), (coast.id, tallest.question.id)]
    title, newest, older = hits
    assert (title.title, title.snippet) == ("Lighthouses of Brittany", f"{MARK_START}Lighthouses{MARK_END} of Brittany")
    assert f"{MARK_START}LIGHTHOUSE{MARK_END}" in newest.snippet and "keeper" in newest.snippet
    assert (newest.title, newest.role, newest.seq) == ("Gardening", "user", keeper.question.seq)
    assert newest.created_at.tzinfo is not None and newest.created_at >= older.created_at
    # Every word must be there; the last may begin a word; letters in any case.
    assert [h.message_id for h in store.search(owner, ["tallest", "lighthouse"])] == [tallest.question.id]
    assert [h.message_id for h in store.search(owner, ["Tomat"])] == [keeper.question.id]
    assert [h.message_id for h in store.search(owner, ["vierge", "metres"])] == [tallest.answer.id]
    assert store.search(owner, ["lighthouse", "submarine"]) == [] and store.search(owner, []) == []
    # A last word of three letters or more begins words; a shorter one is a word of its own.
    assert len(store.search(owner, ["Lig"])) == 3 and store.search(owner, ["Li"]) == []
    assert [h.message_id for h in store.search(owner, ["at"])] == [tallest.answer.id]


def test_search_treats_every_term_as_a_plain_word(store, owner):
    chat = store.add_chat(owner, "Music", "m")
    turn = _exchange(store, owner, chat.id, "Rock and roll or near misses", "NOT a problem")
    for terms in (["and", "roll"], ["or", "near"], ["NOT", "problem"], ["near", "mis"]):
        assert [h.message_id for h in store.search(owner, terms)] != [], terms
    assert store.search(owner, ["and", "jazz"]) == []
    assert turn.question.id in {h.message_id for h in store.search(owner, ["rock"])}


def test_a_reply_is_found_once_it_is_written_and_changes_are_found_at_once(store, owner):
    chat = store.add_chat(owner, "Untitled", "m")
    turn = store.add_turn(owner, chat.id, "Tell me something", "m", "w")
    store.update_message(owner, turn.answer.id, content="Albatrosses glide for hours")  # still streaming
    assert store.search(owner, ["albatrosses"]) == []
    store.update_message(owner, turn.answer.id, content="Albatrosses glide for hours and days", status=COMPLETE)
    assert [h.message_id for h in store.search(owner, ["albatrosses", "days"])] == [turn.answer.id]
    store.update_message(owner, turn.answer.id, prompt_tokens=5)  # other changes keep it found once
    assert len(store.search(owner, ["albatrosses"])) == 1
    store.update_chat(owner, chat.id, title="Seabirds")
    assert [h.chat_id for h in store.search(owner, ["seabirds"])] == [chat.id]
    assert store.search(owner, ["untitled"]) == []
    assert store.delete_chat(owner, chat.id)
    assert store.search(owner, ["albatrosses"]) == [] and store.search(owner, ["seabirds"]) == []


def test_search_returns_at_most_the_limit_of_the_newest(store, owner):
    chat = store.add_chat(owner, "Counting", "m")
    questions = [_exchange(store, owner, chat.id, f"counting sheep number {n}", "").question for n in range(5)]
    hits = store.search(owner, ["sheep"], limit=3)
    assert [h.message_id for h in hits] == [q.id for q in reversed(questions)][:3]


def test_another_owners_chats_are_never_found(store, owner, stranger):
    chat = store.add_chat(owner, "Private zeppelin plans", "m")
    _exchange(store, owner, chat.id, "zeppelin hangar", "zeppelin")
    assert store.search(stranger, ["zeppelin"]) == []
    assert len(store.search(owner, ["zeppelin"])) == 3


# Presets

def test_a_chat_can_start_with_a_system_prompt_and_parameters(store, owner):
    tuned = Parameters(temperature=0.3, max_tokens=800)
    chat = store.add_chat(owner, "From a preset", "m", system_prompt="Answer in French.", parameters=tuned)
    assert (chat.system_prompt, chat.parameters) == ("Answer in French.", tuned)
    found = store.chat(owner, chat.id)
    assert (found.system_prompt, found.parameters, found.model) == ("Answer in French.", tuned, "m")


def test_presets_round_trip_and_are_listed_by_name(store, owner):
    tuned = Parameters(temperature=0.2, top_p=0.9, max_tokens=2000, reasoning_effort="high")
    editor = store.add_preset(owner, "editor ✎", "You edit prose.", "openai/gpt-x", tuned)
    coder = store.add_preset(owner, "Coder", "You write Python.", "local/llama", Parameters())
    assert store.preset(owner, editor.id) == editor
    assert (editor.name, editor.system_prompt, editor.model, editor.parameters) == \
        ("editor ✎", "You edit prose.", "openai/gpt-x", tuned)
    assert editor.created_at.tzinfo is not None
    assert store.presets(owner) == [coder, editor]  # by name, whatever the case


def test_a_preset_is_changed_and_deleted(store, owner):
    preset = store.add_preset(owner, "Draft", "", "m", Parameters())
    changed = store.update_preset(owner, preset.id, name="Final", system_prompt="Be brief.", model="n",
                                  parameters=Parameters(temperature=1.5))
    assert (changed.name, changed.system_prompt, changed.model, changed.parameters) == \
        ("Final", "Be brief.", "n", Parameters(temperature=1.5))
    assert changed.updated_at >= preset.updated_at and store.preset(owner, preset.id) == changed
    assert store.delete_preset(owner, preset.id) is True
    assert store.preset(owner, preset.id) is None and store.delete_preset(owner, preset.id) is False


def test_a_preset_name_is_taken_once_per_owner_whatever_its_case(store, owner, stranger):
    first = store.add_preset(owner, "Translator", "", "m", Parameters())
    with pytest.raises(DuplicateName):
        store.add_preset(owner, "translator", "", "m", Parameters())
    second = store.add_preset(owner, "Poet", "", "m", Parameters())
    with pytest.raises(DuplicateName):
        store.update_preset(owner, second.id, name="TRANSLATOR")
    assert store.update_preset(owner, first.id, name="translator").name == "translator"  # its own name, recased
    store.add_preset(stranger, "Translator", "", "m", Parameters())  # another owner's names are theirs
    assert [p.name for p in store.presets(owner)] == ["Poet", "translator"]


@pytest.mark.parametrize("preset_id", ["", "not-a-uuid", str(uuid.uuid4())])
def test_unknown_presets_are_not_found(store, owner, preset_id):
    assert store.preset(owner, preset_id) is None
    assert store.update_preset(owner, preset_id, name="x") is None
    assert store.delete_preset(owner, preset_id) is False


def test_another_owners_presets_are_not_there(store, owner, stranger):
    preset = store.add_preset(owner, "Mine", "secret prompt", "m", Parameters())
    assert store.presets(stranger) == [] and store.preset(stranger, preset.id) is None
    assert store.update_preset(stranger, preset.id, system_prompt="defaced") is None
    assert store.delete_preset(stranger, preset.id) is False
    assert store.preset(owner, preset.id) == preset


# Every message of a chat, share links, imports

def test_all_messages_are_every_version_in_the_order_written(store, owner, stranger):
    chat = store.add_chat(owner, "Branches", "m")
    first = store.add_turn(owner, chat.id, "one", "m", "w")
    _finish(store, owner, first.answer)
    again = store.add_version(owner, chat.id, first.answer.id, "m2", "w")
    _finish(store, owner, again)
    edited = store.add_turn(owner, chat.id, "ONE", "m", "w", edit_of=first.question.id)
    _finish(store, owner, edited.answer)
    every = store.all_messages(owner, chat.id)
    assert [m.id for m in every] == [first.question.id, first.answer.id, again.id, edited.question.id, edited.answer.id]
    assert [m.parent_id for m in every] == [None, first.question.id, first.question.id, None, edited.question.id]
    assert [(m.version, m.versions) for m in every] == [(1, 2), (1, 2), (2, 2), (2, 2), (1, 1)]
    assert every[2].content == f"reply to {again.id[:4]}" and every[2].model == "m2"
    assert store.all_messages(stranger, chat.id) == [] and store.all_messages(owner, "nope") == []


def test_a_share_is_a_snapshot_found_by_its_token_until_revoked(store, owner, stranger):
    chat = store.add_chat(owner, "Shared plans", "m")
    turn = _exchange(store, owner, chat.id, "What is a zeppelin?", "An airship.")
    snapshot = store.messages(owner, chat.id)
    share = store.add_share(owner, chat.id, "Shared plans", snapshot, False)
    assert len(share.token) >= 32 and (share.title, share.message_count, share.with_files) == ("Shared plans", 2, False)
    _exchange(store, owner, chat.id, "later", "not shared")  # said after the link was made

    found = store.shared(share.token)
    assert (found.id, found.chat_id, found.title, found.message_count) == (share.id, chat.id, "Shared plans", 2)
    assert [(m.id, m.role, m.content, m.status) for m in found.messages] == [
        (turn.question.id, "user", "What is a zeppelin?", COMPLETE), (turn.answer.id, "assistant", "An airship.", COMPLETE)]
    assert found.messages[0].created_at == snapshot[0].created_at
    assert store.shared(share.token[:-1]) is None and store.shared("") is None

    listed = store.shares(owner)
    assert [(s.id, s.token, s.message_count, s.messages) for s in listed] == [(share.id, share.token, 2, ())]
    assert store.shares(stranger) == []
    assert store.delete_share(stranger, share.id) is False and store.shared(share.token) is not None
    assert store.delete_share(owner, share.id) is True
    assert store.shared(share.token) is None and store.shares(owner) == []
    assert store.delete_share(owner, share.id) is False and store.delete_share(owner, "not-a-uuid") is False


def test_only_the_owner_shares_a_chat_and_deleting_it_ends_its_links(store, owner, stranger):
    chat = store.add_chat(owner, "Mine", "m")
    _exchange(store, owner, chat.id, "q", "a")
    with pytest.raises(LookupError):
        store.add_share(stranger, chat.id, "Stolen", [], False)
    with pytest.raises(LookupError):
        store.add_share(owner, "not-a-uuid", "Nothing", [], False)
    share = store.add_share(owner, chat.id, "Mine", store.messages(owner, chat.id), False)
    newer = store.add_share(owner, chat.id, "Mine, again", store.messages(owner, chat.id)[:1], False)
    assert [s.id for s in store.shares(owner)] == [newer.id, share.id]  # newest first
    store.delete_chat(owner, chat.id)
    assert store.shared(share.token) is None and store.shared(newer.token) is None and store.shares(owner) == []


def _imported(key, title="Imported", leaf=None, content="Hello?"):
    stamp = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)

    def message(id, parent, role, text, status=COMPLETE, tokens=(None, None), **more):
        return Message(id, "", role, text, status, None, "gpt-4o" if role == "assistant" else None, *tokens,
                       stamp, parent_id=parent, **more)
    return ChatImport(key, title, "openai/gpt-4o", stamp, stamp, (
        message("a", None, "user", content),
        message("b", "a", "assistant", "Hi! How can I help?", tokens=(5, 7)),
        message("c", "a", "assistant", "Hello there.", finish_reason="length"),  # a second version
        message("d", "c", "user", "Tell me a joke."),
        message("e", "d", "assistant", "No.", status=STOPPED),
    ), current_leaf=leaf, system_prompt="Be nice.", parameters=Parameters(temperature=0.5))


def test_imported_chats_keep_their_tree_and_are_imported_once(store, owner, stranger):
    key = f"test:{uuid.uuid4()}"
    [(chat_id, new)] = store.import_chats(owner, [_imported(key, leaf="b")])
    assert new is True
    chat = store.chat(owner, chat_id)
    assert (chat.title, chat.model, chat.system_prompt, chat.parameters) == \
        ("Imported", "openai/gpt-4o", "Be nice.", Parameters(temperature=0.5))
    assert chat.created_at == datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
    shown = store.messages(owner, chat_id)  # the path to the leaf given: the first version of the reply
    assert [(m.role, m.content, m.version, m.versions) for m in shown] == [
        ("user", "Hello?", 1, 1), ("assistant", "Hi! How can I help?", 1, 2)]
    assert (shown[1].prompt_tokens, shown[1].completion_tokens, shown[1].model) == (5, 7, "gpt-4o")
    every = store.all_messages(owner, chat_id)
    assert [m.content for m in every] == ["Hello?", "Hi! How can I help?", "Hello there.", "Tell me a joke.", "No."]
    assert every[2].finish_reason == "length" and every[4].status == STOPPED
    assert {m.id for m in every}.isdisjoint("abcde")  # ids of its own
    assert every[3].parent_id == every[2].id and every[1].parent_id == every[2].parent_id == every[0].id
    assert store.show_version(owner, chat_id, shown[1].id, 1) == every[2].id  # the other branch, down to its end
    assert [m.id for m in store.messages(owner, chat_id)] == [every[0].id, every[2].id, every[3].id, every[4].id]
    assert store.search(owner, ["joke"])[0].chat_id == chat_id  # found by search like any other

    assert store.imported(owner, [key, "test:never", key]) == {key: chat_id}
    assert store.imported(stranger, [key]) == {} and store.imported(owner, []) == {}
    # The same again, beside a new one: only the new one is stored.
    other = f"test:{uuid.uuid4()}"
    assert store.import_chats(owner, [_imported(key), _imported(other, title="Other")]) == \
        [(chat_id, False), (store.import_chats(owner, [_imported(other)])[0][0], True)]
    assert len([c for c in store.chats(owner) if c.title in ("Imported", "Other")]) == 2
    # Another owner may import the same source: their own chat.
    [(theirs, new)] = store.import_chats(stranger, [_imported(key)])
    assert new is True and theirs != chat_id and store.chat(owner, theirs) is None


def test_an_import_with_one_bad_chat_stores_none(store, owner):
    good, bad = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    with pytest.raises(Exception):
        store.import_chats(owner, [_imported(good, title="Good"), _imported(bad, title="Bad", content=None)])
    assert [c for c in store.chats(owner) if c.title in ("Good", "Bad")] == []
    [(_, new)] = store.import_chats(owner, [_imported(good, title="Good")])
    assert new is True


def test_imported_messages_keep_their_attachments(store, owner):
    chat = store.add_chat(owner, "Files", "m")  # the file's key is the owner's, as the import puts files
    key = f"{owner}/{uuid.uuid4()}"
    stamp = datetime(2025, 1, 2, tzinfo=timezone.utc)
    picture = Attachment("x", "q", "cat.png", "image/png", 1234, key)
    [(chat_id, _)] = store.import_chats(owner, [ChatImport(f"test:{uuid.uuid4()}", "Files", "m", stamp, stamp, (
        Message("q", "", "user", "Look", COMPLETE, None, None, None, None, stamp, attachments=(picture,)),))])
    [message] = store.messages(owner, chat_id)
    [attachment] = message.attachments
    assert (attachment.name, attachment.content_type, attachment.size, attachment.storage_key) == \
        ("cat.png", "image/png", 1234, key)
    assert store.attachment(owner, attachment.id) == attachment and chat.id != chat_id


# Isolation: another owner's chat is simply not there

def test_another_owner_sees_nothing(store, owner, stranger):
    chat = store.add_chat(owner, "Private", "m")
    turn = store.add_turn(owner, chat.id, "secret", "m", "w")
    question, answer = turn.question, turn.answer
    assert store.chat(stranger, chat.id) is None
    assert store.chats(stranger) == []
    assert store.messages(stranger, chat.id) == []
    assert store.message(stranger, question.id) is None and store.message(stranger, answer.id) is None


def test_another_owner_changes_nothing(store, owner, stranger):
    chat = store.add_chat(owner, "Private", "m")
    turn = store.add_turn(owner, chat.id, "secret", "m", "w")
    question, answer = turn.question, turn.answer
    assert store.update_chat(stranger, chat.id, title="Mine now") is None
    assert store.retitle(stranger, chat.id, "Private", "Mine now") is False
    store.update_message(stranger, question.id, content="defaced")
    store.update_message(stranger, answer.id, status=COMPLETE, content="defaced")
    assert store.delete_chat(stranger, chat.id) is False
    with pytest.raises(LookupError):
        store.add_message(stranger, chat.id, "user", "injected", COMPLETE)
    with pytest.raises(LookupError):
        store.add_turn(stranger, chat.id, "injected", "m", "w")
    with pytest.raises(LookupError):
        store.add_version(stranger, chat.id, answer.id, "m", "w")
    with pytest.raises(LookupError):
        store.add_turn(stranger, chat.id, "injected", "m", "w", edit_of=question.id)
    assert store.show_version(stranger, chat.id, question.id, 1) is None
    assert store.chat(owner, chat.id).title == "Private"
    assert store.messages(owner, chat.id) == [question, answer]


# Attachments

def test_attachments_come_with_their_message(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    question = store.add_turn(owner, chat.id, "see attached", "m", "w").question
    first = store.add_attachment(owner, question.id, "notes.txt", "text/plain", 12, f"{owner}/{uuid.uuid4()}")
    second = store.add_attachment(owner, question.id, "map.png", "image/png", 99, f"{owner}/{uuid.uuid4()}")
    assert store.message(owner, question.id).attachments == (first, second)
    assert store.messages(owner, chat.id)[0].attachments == (first, second)
    assert store.messages(owner, chat.id)[1].attachments == ()
    assert store.attachment(owner, second.id) == second and second.is_image and not first.is_image
    assert store.chat_attachments(owner, chat.id) == [first, second]


def test_attachments_go_with_their_chat(store, owner):
    chat = store.add_chat(owner, "Chat", "m")
    question = store.add_turn(owner, chat.id, "hi", "m", "w").question
    attachment = store.add_attachment(owner, question.id, "a.txt", "text/plain", 1, f"{owner}/{uuid.uuid4()}")
    store.delete_chat(owner, chat.id)
    assert store.attachment(owner, attachment.id) is None


def test_another_owner_cannot_see_or_add_attachments(store, owner, stranger):
    chat = store.add_chat(owner, "Chat", "m")
    question = store.add_turn(owner, chat.id, "hi", "m", "w").question
    attachment = store.add_attachment(owner, question.id, "a.txt", "text/plain", 1, f"{owner}/{uuid.uuid4()}")
    assert store.attachment(stranger, attachment.id) is None
    assert store.chat_attachments(stranger, chat.id) == []
    with pytest.raises(LookupError):
        store.add_attachment(stranger, question.id, "b.txt", "text/plain", 1, f"{stranger}/{uuid.uuid4()}")
    assert store.message(owner, question.id).attachments == (attachment,)
