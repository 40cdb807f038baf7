"""Messages: stored before the model runs, replies stored with status, model and tokens."""
import threading
import time

import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.conversation.pacing import BASE, WIDEST, Pace
from chatbot.conversation.runner import ReplyRunner
from chatbot.conversation.turns import build_conversation
from chatbot.live import topics
from chatbot.live.channel import CLOSED, Event, follow
from chatbot.live.events import ReplyDone, ReplyText
from chatbot.live.memory import InProcessChannel
from chatbot.store import COMPLETE, ERROR, STREAMING, Message
from chatbot.streaming_markdown import settled_end
from tests.conftest import make_config, new_chat, owner_id, send, wait_for_reply, wait_until
from tests.fakes import ScriptedModel

HTMX = {"HX-Request": "true"}


def test_a_plain_post_answers_at_once_and_the_page_then_shows_the_reply(user, store):
    chat_id = new_chat(user)
    response = send(user, chat_id, "Tell me about tide pools")
    assert response.status_code == 303
    question, answer = store.messages(owner_id(store), chat_id)
    assert response.headers["Location"] == f"/chats/{chat_id}#m-{answer.id}"
    assert (question.role, question.content, question.status) == ("user", "Tell me about tide pools", COMPLETE)
    assert answer.role == "assistant" and answer.status == COMPLETE and answer.content
    assert answer.model == "offline-responder" and answer.completion_tokens > 0 and answer.prompt_tokens > 0
    html = user.get(f"/chats/{chat_id}").text  # reloading shows the whole conversation
    assert html.index("Tell me about tide pools") < html.index(f'id="m-{answer.id}"')
    # Who said what: a heading for screen readers, the bubble or the plain text for the eye.
    assert html.count('<h2 class="visually-hidden">You said</h2>') == 1
    assert html.count('<h2 class="visually-hidden">The assistant said</h2>') == 1 and 'class="author"' not in html
    assert "tide" in html[html.index(f'id="m-{answer.id}"'):]


def test_the_user_message_is_stored_before_the_model_is_called(app, user, store):
    seen = []
    model = ScriptedModel(on_start=lambda: seen.extend(store.messages(owner_id(store), chat_id)))
    backends(app).model = model
    chat_id = new_chat(user)
    send(user, chat_id, "first things first")
    assert [(m.role, m.content, m.status) for m in seen] == [
        ("user", "first things first", COMPLETE), ("assistant", "", STREAMING)]


def test_first_message_names_the_chat(app, user, store):
    # The reply held back: once it is written, the model names the chat in its stead.
    held = threading.Event()
    backends(app).model = ScriptedModel(gate=held)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "Plan a three day hiking trip in the Dolomites in late September please"})
    assert store.chat(owner_id(store), chat_id).title == "Plan a three day hiking trip in the Dolomites in late…"
    held.set()


@pytest.mark.parametrize("content, message", [
    ("", "Write a message first."),
    ("   \n\t ", "Write a message first."),
    ("x" * 101, "Messages can be at most 100 characters; this one has 101."),
])
def test_empty_or_oversized_messages_are_refused_and_nothing_is_stored(tmp_path, content, message):
    app = create_app(make_config(tmp_path, MESSAGE_MAX_CHARS=100))
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = new_chat(client)
    for headers in ({}, HTMX):
        response = client.post(f"/chats/{chat_id}/messages", data={"content": content}, headers=headers)
        assert response.status_code == 422
        assert f'<p class="field-error" id="content-error">{message}</p>' in response.text
    store = backends(app).store
    assert store.messages(store.user_by_email("ada@example.com").id, chat_id) == []


def test_default_cap_is_32000_characters(user, store):
    chat_id = new_chat(user)
    assert user.post(f"/chats/{chat_id}/messages", data={"content": "x" * 32001}).status_code == 422
    assert user.post(f"/chats/{chat_id}/messages", data={"content": "x" * 32000}).status_code == 303


def test_refused_draft_is_kept(tmp_path):
    app = create_app(make_config(tmp_path, MESSAGE_MAX_CHARS=10))
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = new_chat(client)
    html = client.post(f"/chats/{chat_id}/messages", data={"content": "far too long a draft"}).text
    assert ">far too long a draft</textarea>" in html


def test_htmx_send_answers_with_both_messages_and_a_live_reply(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    chat_id = new_chat(user)
    response = user.post(f"/chats/{chat_id}/messages", data={"content": "hello"}, headers=HTMX)
    assert response.status_code == 200
    question, answer = store.messages(owner_id(store), chat_id)
    html = response.text
    assert html.index(f'id="m-{question.id}"') < html.index(f'id="m-{answer.id}"')
    assert f'hx-sse:connect="/chats/{chat_id}/messages/{answer.id}/events?offset=0&amp;settled=0"' in html
    assert '<form id="composer"' in html and 'hx-swap-oob="true"' in html  # a fresh, empty composer
    assert '<nav id="chat-list" class="chat-nav" aria-label="Chats" hx-swap-oob="true">' in html  # the renamed chat in the list
    assert '<h1 id="chat-title" hx-swap-oob="true">hello</h1>' in html  # and its new title
    assert "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    gate.set()


def test_htmx_send_brings_the_chat_list_only_when_it_changes(app, user, store):
    """The list goes along when the chat is named or moves to the top; a send into the chat
    already on top leaves the list (and the query and markup for it) out."""
    def wait_until_idle(store, chat_id):  # the offline reply is written in the background
        owner = owner_id(store)
        assert wait_for_reply(store, backends(app).channel, owner, store.messages(owner, chat_id)[-1].id, 5)

    first, second = new_chat(user), new_chat(user)
    sidebar = '<nav id="chat-list" class="chat-nav" aria-label="Chats" hx-swap-oob="true">'
    assert sidebar in user.post(f"/chats/{first}/messages", data={"content": "named"}, headers=HTMX).text
    wait_until_idle(store, first)
    again = user.post(f"/chats/{first}/messages", data={"content": "on top already"}, headers=HTMX).text
    assert sidebar not in again and 'id="chat-title"' not in again and '<form id="composer"' in again
    wait_until_idle(store, first)
    user.post(f"/chats/{second}/rename", data={"title": "Second"})  # now on top
    moved = user.post(f"/chats/{first}/messages", data={"content": "back up"}, headers=HTMX).text
    assert sidebar in moved and moved.index(">named<") < moved.index(">Second<")


def test_htmx_refusal_retargets_the_composer(user):
    chat_id = new_chat(user)
    response = user.post(f"/chats/{chat_id}/messages", data={"content": " "}, headers=HTMX)
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#composer" and response.headers["HX-Reswap"] == "outerHTML"
    assert response.text.lstrip().startswith('<form id="composer"')


def test_a_second_send_while_replying_is_refused(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/messages", data={"content": "one"}, headers=HTMX)
    response = user.post(f"/chats/{chat_id}/messages", data={"content": "two"}, headers=HTMX)
    assert response.status_code == 409
    assert "A reply is still being written" in response.text
    gate.set()
    assert [m.content for m in store.messages(owner_id(store), chat_id)][0] == "one"
    assert len(store.messages(owner_id(store), chat_id)) == 2


def test_without_javascript_a_send_during_a_reply_is_kept_and_refused_politely(app, user, store):
    gate = threading.Event()
    backends(app).model = ScriptedModel(gate=gate)
    chat_id = new_chat(user)
    post = lambda content: user.post(f"/chats/{chat_id}/messages", data={"content": content},  # noqa: E731
                                     content_type="multipart/form-data")
    assert post("one").status_code == 303
    # While the reply is written the page refreshes itself, so it shows no box to type in
    # (nojs.css hides it: a refresh would lose the text) but says when there will be one.
    page = user.get(f"/chats/{chat_id}").text
    assert '<meta http-equiv="refresh"' in page and 'class="composer replying"' in page
    assert '<p class="composer-wait">You can write again when the reply is done.</p>' in page
    # Sent anyway (from another tab, say): refused with the text kept in the box, as a
    # notice rather than an error, and that page does not refresh the text away.
    refused = post("two, typed meanwhile")
    assert refused.status_code == 409
    assert ">two, typed meanwhile</textarea>" in refused.text
    assert '<p class="composer-notice" role="status">A reply is still being written.' in refused.text
    assert "field-error" not in refused.text and 'aria-invalid' not in refused.text
    assert '<meta http-equiv="refresh"' not in refused.text and "composer replying" not in refused.text
    gate.set()
    wait_until(lambda: all(m.status != STREAMING for m in store.messages(owner_id(store), chat_id)), what="the reply")
    assert "composer replying" not in user.get(f"/chats/{chat_id}").text
    assert [m.content for m in store.messages(owner_id(store), chat_id)][0] == "one"


def test_model_failure_is_stored_and_shown_with_the_partial_text(app, user, store):
    backends(app).model = ScriptedModel(pieces=("Half an ans",), error="The connection to the model was lost.")
    chat_id = new_chat(user)
    response = send(user, chat_id, "hello")
    assert response.status_code == 303
    answer = store.messages(owner_id(store), chat_id)[1]
    assert (answer.status, answer.content, answer.error) == (ERROR, "Half an ans", "The connection to the model was lost.")
    html = user.get(f"/chats/{chat_id}").text
    assert '<p class="message-error" role="alert">The connection to the model was lost.</p>' in html
    assert "Half an ans" in html


def test_a_crashing_model_still_ends_the_reply(app, user, store):
    class Broken(ScriptedModel):
        def stream(self, conversation, on_open=None, parameters=None):
            yield "so far"
            raise RuntimeError("bug")
    backends(app).model = Broken()
    chat_id = new_chat(user)
    send(user, chat_id, "hello")
    answer = store.messages(owner_id(store), chat_id)[1]
    assert answer.status == ERROR and answer.content == "so far"
    assert answer.error == "Something went wrong while generating this reply."


def test_system_prompt_and_history_go_to_the_model(app, user):
    model = ScriptedModel()
    backends(app).model = model
    chat_id = new_chat(user)
    user.post(f"/chats/{chat_id}/settings", data={"system_prompt": "Be brief."})
    send(user, chat_id, "one")
    send(user, chat_id, "two")
    assert model.conversations[-1] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Hi there"},
        {"role": "user", "content": "two"},
    ]


def _message(role, content):
    return Message("id", "chat", role, content, COMPLETE, None, None, None, None, None)


def test_history_is_trimmed_to_the_context_budget():
    history = [_message("user", "a" * 400), _message("assistant", "b" * 400), _message("user", "c" * 40)]
    # ~101 + ~101 + ~11 tokens; the system prompt ~3
    assert [m["content"][0] for m in build_conversation("sys", history, 120)] == ["s", "b", "c"]
    assert [m["content"][0] for m in build_conversation("sys", history, 1000)] == ["s", "a", "b", "c"]
    assert [m["content"][0] for m in build_conversation("", history, 5)] == ["c"]  # the newest always goes


def test_context_budget_comes_from_configuration(tmp_path):
    app = create_app(make_config(tmp_path, CONTEXT_TOKENS=300))
    model = ScriptedModel()
    backends(app).model = model
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = new_chat(client)
    send(client, chat_id, "x" * 2000)  # ~500 tokens
    send(client, chat_id, "y" * 100)
    assert [m["content"][0] for m in model.conversations[-1]] == ["H", "y"]


def test_generation_coalesces_and_publishes_offsets(store, user):
    chat_id = new_chat(user)
    owner = owner_id(store)
    message = store.add_message(owner, chat_id, "assistant", "", STREAMING, "scripted")
    runner = ReplyRunner(InProcessChannel(), store)
    runner.generate(store, ScriptedModel(pieces=["a", "b", "c"]), owner, message, [])
    events = published(runner.channel, topics.reply(message.id))
    texts = [e for e in events if isinstance(e, ReplyText)]
    assert "".join(e.text for e in texts) == "abc" and texts[0].offset == 0
    assert len(texts) < 3  # tokens arriving together travel together
    assert isinstance(events[-1], ReplyDone) and all(e.message_id == message.id for e in texts)
    stored = store.message(owner, message.id)
    assert (stored.content, stored.status, stored.prompt_tokens, stored.completion_tokens) == ("abc", COMPLETE, 7, 2)
    assert events[-1].message == stored  # the finished message rides on "done"


def test_text_events_say_where_the_finished_markdown_blocks_end(store, user, monkeypatch):
    """Found once, by the writer: every view renders each finished block once from it."""
    monkeypatch.setattr(Pace, "observe", lambda pace, late: None)
    pace = Pace()
    pace.window = 0.0  # every piece its own event
    chat_id = new_chat(user)
    owner = owner_id(store)
    message = store.add_message(owner, chat_id, "assistant", "", STREAMING, "scripted")
    reply = ["# Title\n", "\nA para", "graph.\n\n", "- one\n- two\n", "\nAfter", " the list."]
    runner = ReplyRunner(InProcessChannel(), store, pace=pace)
    runner.generate(store, ScriptedModel(pieces=reply), owner, message, [])
    texts = [e for e in published(runner.channel, topics.reply(message.id)) if isinstance(e, ReplyText)]
    assert len(texts) == len(reply)
    assert [e.settled for e in texts] == [settled_end("".join(reply)[:e.end]) for e in texts]
    title, paragraph = len("# Title\n\n"), len("# Title\n\nA paragraph.\n\n")
    assert [e.settled for e in texts] == [0, 0, title, paragraph, paragraph, paragraph]  # the list still open


def published(channel, topic):
    """What a finished topic of the in-process channel carried (it replays at once)."""
    items = []
    channel.subscribe(topic, items.append)
    assert items[-1] is CLOSED
    return [item.data for item in items if isinstance(item, Event)]


def test_the_window_widens_while_the_worker_is_behind_and_narrows_as_it_catches_up():
    pace = Pace()
    for _ in range(20):
        pace.observe(0.001)  # on time, give or take a millisecond
    assert pace.window == pytest.approx(BASE, abs=0.005)
    pace.observe(0.05)
    assert BASE < pace.window < WIDEST / 2  # one late tick is not yet a trend
    for _ in range(20):
        pace.observe(0.2)
    assert pace.window == WIDEST  # never wider, however far behind
    for _ in range(30):
        pace.observe(-0.001)  # early (a coarse clock): as good as on time
    assert pace.window == pytest.approx(BASE, abs=0.001)


@pytest.mark.parametrize("window", [BASE, WIDEST])
def test_a_wider_window_sends_the_same_text_in_fewer_events(store, user, monkeypatch, window):
    """While the worker is behind, a token every 10 ms for 0.4 s goes out as ~2 events,
    not ~8; the text is the same."""
    monkeypatch.setattr(Pace, "observe", lambda pace, late: None)  # the ticker keeps its hands off
    runner = ReplyRunner(InProcessChannel(), store)
    monkeypatch.setattr(runner.pace, "window", window)
    chat_id = new_chat(user)
    owner = owner_id(store)
    message = store.add_message(owner, chat_id, "assistant", "", STREAMING, "scripted")

    class Steady(ScriptedModel):
        def stream(self, conversation, on_open=None, parameters=None):
            for n in range(40):
                time.sleep(0.01)
                yield f"t{n} "
    runner.generate(store, Steady(), owner, message, [])
    deltas = [e for e in published(runner.channel, topics.reply(message.id)) if isinstance(e, ReplyText)]
    assert "".join(d.text for d in deltas) == "".join(f"t{n} " for n in range(40))
    if window == BASE:
        assert 5 <= len(deltas) <= 12
    else:
        assert 2 <= len(deltas) <= 4


def test_an_idle_reply_stream_sends_keepalive_comments(app, store, user, monkeypatch):
    """A comment on a quiet stream lets the server notice a browser that left."""
    from chatbot.live import sse

    monkeypatch.setattr(sse, "KEEPALIVE", 0.01)
    chat_id = new_chat(user)
    owner = owner_id(store)
    message = store.add_message(owner, chat_id, "assistant", "", STREAMING, "scripted")
    with app.test_request_context():
        events = sse.reply_stream(store, InProcessChannel(), owner, message, (0, 0))
        assert next(events) == "retry: 1000\n\n"
        assert next(events) == ": ping\n\n"
        store.update_message(owner, message.id, status=COMPLETE, content="done elsewhere")
        rest = list(events)  # finished where this process could not see it: the final message
    assert len(rest) == 1 and "done elsewhere" in rest[0] and 'hx-swap-oob="true"' in rest[0]


def test_text_is_published_without_waiting_for_the_next_token(store, user):
    """A model that pauses mid-reply must not hold back what it already said."""
    chat_id = new_chat(user)
    owner = owner_id(store)
    message = store.add_message(owner, chat_id, "assistant", "", STREAMING, "scripted")
    runner, gate = ReplyRunner(InProcessChannel(), store), threading.Event()

    class Pausing(ScriptedModel):
        def stream(self, conversation, on_open=None, parameters=None):
            yield "Said before the pause."
            gate.wait(5)
            yield " And after."
    worker = threading.Thread(target=runner.generate, args=(store, Pausing(), owner, message, []))
    worker.start()
    first = next(e for e in follow(runner.channel, topics.reply(message.id), timeout=1) if e is not None)
    assert not gate.is_set() and first.data.text == "Said before the pause."
    gate.set()
    worker.join(5)
    assert store.message(owner, message.id).content == "Said before the pause. And after."


@pytest.mark.parametrize("budget, largest_page, expected_reads", [
    (25, 999, [5]),  # the budget runs out inside the first page
    (10_000, 999, [5, 17]),  # all of it fits: a bigger page, which holds the whole chat
    (10_000, 10, [5, None]),  # pages that would grow too big: the whole chat
])
def test_a_long_chat_sends_the_same_history_without_reading_it_whole(store, user, monkeypatch, budget,
                                                                    largest_page, expected_reads):
    """The history comes from the chat's newest end, a page at a time (replies.HISTORY_PAGE):
    whether the budget runs out inside a page or not, the model sees what it would see with
    the whole chat read."""
    from chatbot.conversation import turns
    from chatbot.conversation.turns import Limits, regenerate, send_message
    monkeypatch.setattr(turns, "HISTORY_PAGE", 4)
    monkeypatch.setattr(turns, "HISTORY_PAGE_MAX", largest_page)
    chat_id = new_chat(user)
    owner = owner_id(store)
    for n in range(6):
        store.add_message(owner, chat_id, "user" if n % 2 == 0 else "assistant", f"{n} " + "w" * 40, COMPLETE)
    model, files = ScriptedModel(), backends(user.application).files
    runner = ReplyRunner(InProcessChannel(), store, spawn=lambda f, *a: f(*a))  # the reply written at once
    reads = []  # the ``newest`` of each read (None: the whole chat); the first comes with the turn
    monkeypatch.setattr(store, "messages", lambda *a, **k: reads.append(k.get("newest")) or type(store).messages(
        store, *a, **k))
    monkeypatch.setattr(store, "add_turn", lambda *a, **k: reads.append(k.get("history")) or type(store).add_turn(
        store, *a, **k))
    limits = Limits(message_max_chars=1000, context_tokens=budget)
    answer = send_message(store, model, runner, owner, chat_id, "6 now", limits, files=files).answer
    everything = [m for m in type(store).messages(store, owner, chat_id) if m.id != answer.id]
    assert model.conversations[-1] == build_conversation("", everything, budget)
    if budget == 25:
        assert len(model.conversations[-1]) < len(everything)  # the budget ran out inside the page
    assert reads == expected_reads
    regenerate(store, model, runner, owner, chat_id, limits, files=files)
    assert model.conversations[-1] == build_conversation("", everything, budget)
