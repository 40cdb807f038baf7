"""The OpenAI-compatible model, through the real openai client, against a loopback server."""
import logging
import time

import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.models import Finished, ModelError, Usage
from chatbot.models.openai_compatible import OpenAICompatible
from chatbot.store import COMPLETE, ERROR
from tests import openai_stub
from tests.conftest import make_config, new_chat, send
from tests.openai_stub import API_KEY, REPLY, StubOpenAI

CONVERSATION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI() as server:
        yield server


def model(stub, name="stub", api_key=API_KEY, timeout=2.0, retries=1, first_token=10.0):
    return OpenAICompatible(model=name, api_key=api_key, base_url=stub.base_url, timeout=timeout, max_retries=retries,
                            first_token_timeout=first_token)


def run(m):
    """Everything the model yielded, and the error it ended with (or None)."""
    pieces = []
    try:
        for piece in m.stream(CONVERSATION):
            pieces.append(piece)
    except ModelError as error:
        return pieces, str(error)
    return pieces, None


def test_streamed_reply(stub):
    pieces, error = run(model(stub))
    assert error is None
    assert "".join(p for p in pieces if isinstance(p, str)) == "".join(REPLY)
    assert pieces[-2:] == [Finished("stop"), Usage(prompt_tokens=11, completion_tokens=len(REPLY))]
    sent = stub.requests[-1]
    assert sent["model"] == "stub" and sent["messages"] == CONVERSATION and sent["stream"] is True


def test_text_comes_as_it_arrives(stub):
    """A model that pauses between tokens is streamed token by token; tokens that arrive
    together come out as one piece (one step for the reply's writer, not one per token)."""
    slow, _ = run(model(stub, "stub-slow"))
    assert [p for p in slow if isinstance(p, str)] == [t for t in REPLY if t]


def test_non_streamed_reply(stub):
    pieces, error = run(model(stub, "stub-json"))
    assert error is None and pieces == ["".join(REPLY), Finished("stop"), Usage(11, 6)]


@pytest.mark.parametrize("name, api_key, reason", [
    ("stub", "sk-wrong", "The model provider rejected the API key: the operator must check its key."),
    ("no-such-model", API_KEY, "The model provider does not know this model: the operator must check the models configured."),
    ("stub-429", API_KEY, "The model provider is rate-limiting requests. Retry in 1 second."),
    ("stub-429-later", API_KEY, "The model provider is rate-limiting requests. Retry in 20 seconds."),
    ("stub-context", API_KEY, "This conversation is longer than the model can read. Start a new chat, or send a "
                              "shorter message."),
    ("stub-500", API_KEY, "The model provider had an internal error (500). Retry in a minute."),
    ("stub-502-html", API_KEY, "The model provider had an internal error (502). Retry in a minute."),
])
def test_refusals_become_readable_errors(stub, name, api_key, reason):
    assert run(model(stub, name, api_key, retries=0)) == ([], reason)


def test_a_refusal_carries_the_providers_status_and_request_id_for_the_log(stub):
    with pytest.raises(ModelError) as refused:
        list(model(stub, "stub-context", retries=0).stream(CONVERSATION))
    failure = refused.value
    assert failure.status == 400 and failure.request_id.startswith("req_stub_")
    assert "maximum context length is 8192 tokens" in failure.detail
    with pytest.raises(ModelError) as html:
        list(model(stub, "stub-502-html", retries=0).stream(CONVERSATION))
    assert html.value.status == 502 and "<html>" not in html.value.detail


@pytest.mark.parametrize("name, retried", [("stub-429", True), ("stub-500", True), ("stub", False)])
def test_retry_policy(stub, name, retried):
    before = len(stub.requests)
    run(model(stub, name, api_key=API_KEY if retried else "sk-wrong", retries=2))
    assert len(stub.requests) - before == (3 if retried else 1)  # 401 is never retried


@pytest.mark.parametrize("name", ["stub-keepalive", "stub-empty-deltas"])
def test_only_text_keeps_a_reply_alive(stub, name):
    """Keep-alive comments and empty deltas every 0.2 s keep the connection busy, not the
    reply: it is cut off once no text came for the idle timeout, its text kept."""
    started = time.monotonic()
    pieces, error = run(model(stub, name, timeout=0.6))
    assert error == "The model stopped sending text, so the reply was cut off."
    assert "".join(p for p in pieces if isinstance(p, str)) == "".join(REPLY[:2])
    assert time.monotonic() - started < 3.0  # not the stub's 5 s of comments


def test_a_server_that_never_answers_is_given_up_at_the_first_token_deadline_retries_included(stub):
    started = time.monotonic()
    pieces, error = run(model(stub, "stub-silent", retries=3, first_token=0.8))
    took = time.monotonic() - started
    assert pieces == [] and error == "The model did not start answering within 0.8 seconds. Try again."
    assert took < 2.0  # once the deadline, not four times a timeout


def test_a_rate_limit_is_retried_after_the_wait_the_provider_asks_for(stub):
    before = len(stub.requests)
    started = time.monotonic()
    pieces, error = run(model(stub, "stub-429-once", retries=1))
    assert error is None and "".join(p for p in pieces if isinstance(p, str)) == "".join(REPLY)
    assert len(stub.requests) - before == 2 and time.monotonic() - started >= 0.9  # Retry-After: 1


def test_a_wait_longer_than_the_reply_may_wait_is_not_waited_for(stub):
    before = len(stub.requests)
    started = time.monotonic()
    pieces, error = run(model(stub, "stub-429-long", retries=3, first_token=5))
    assert error == "The model provider is rate-limiting requests. Retry in 30 seconds."
    assert len(stub.requests) - before == 1 and time.monotonic() - started < 1.0


def test_stall_keeps_the_partial_text(stub):
    started = time.monotonic()
    pieces, error = run(model(stub, "stub-stall", timeout=0.5))
    assert "".join(pieces) == "".join(REPLY[:2])
    assert error == "The model stopped sending text, so the reply was cut off."
    assert time.monotonic() - started < openai_stub.STALL_SECONDS  # gave up at our timeout


def joined(result):
    pieces, error = result
    return "".join(pieces), error


def test_dropped_connection_keeps_the_partial_text(stub):
    assert joined(run(model(stub, "stub-drop"))) == ("Hello from", "The connection to the model was lost.")


def test_error_inside_the_stream_keeps_the_partial_text(stub):
    assert joined(run(model(stub, "stub-in-band-error"))) == ("Hello from", "The model reported an error: overloaded")


def test_an_unreadable_event_keeps_the_text_before_it(stub):
    assert joined(run(model(stub, "stub-garbled"))) == ("Hello from",
                                                        "The model sent a response that could not be read.")


def test_unreachable_server():
    m = OpenAICompatible(model="stub", api_key=API_KEY, base_url="http://127.0.0.1:9/v1", timeout=1, max_retries=0)
    assert run(m) == ([], "The connection to the model was lost.")


@pytest.fixture
def chat_with(stub, tmp_path):
    """Sign up in an app wired to the stub with model ``name``; return (client, store, chat_id)."""
    def make(name, **extra):
        app = create_app(make_config(tmp_path, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=stub.base_url,
                                     OPENAI_MODEL=name, OPENAI_TIMEOUT="0.5", OPENAI_MAX_RETRIES="0", **extra))
        client = app.test_client()
        client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
        return client, backends(app).store, new_chat(client)
    return make


def test_app_stores_a_complete_reply_from_the_model(chat_with):
    client, store, chat_id = chat_with("stub")
    send(client, chat_id, "Hi")
    answer = store.messages(store.user_by_email("ada@example.com").id, chat_id)[1]
    assert (answer.content, answer.status, answer.model) == ("".join(REPLY), COMPLETE, "openai/stub")
    assert (answer.prompt_tokens, answer.completion_tokens) == (11, len(REPLY))
    page = client.get(f"/chats/{chat_id}").text
    assert "Hello from the stub model." in page and "offline responder" not in page


@pytest.mark.parametrize("name, reason", [
    ("no-such-model", "does not know this model"),
    ("stub-429", "rate-limiting"),
    ("stub-500", "internal error (500)"),
    ("stub-context", "longer than the model can read"),
    ("stub-stall", "stopped sending text"),
    ("stub-drop", "connection to the model was lost"),
])
def test_app_shows_provider_failures_on_the_page_never_a_500(chat_with, name, reason):
    client, store, chat_id = chat_with(name)
    response = send(client, chat_id, "Hi")
    assert response.status_code == 303
    page = client.get(f"/chats/{chat_id}")
    assert page.status_code == 200 and reason in page.text
    answer = store.messages(store.user_by_email("ada@example.com").id, chat_id)[1]
    assert answer.status == ERROR and reason in answer.error
    if name in ("stub-stall", "stub-drop"):
        assert answer.content == "".join(REPLY[:2])  # what was generated is kept


def test_every_provider_failure_is_logged_once_with_status_request_id_chat_and_reply(chat_with, caplog):
    client, store, chat_id = chat_with("stub-429-later")
    with caplog.at_level(logging.WARNING, logger="chatbot.conversation.runner"):
        send(client, chat_id, "Hi")
    answer = store.messages(store.user_by_email("ada@example.com").id, chat_id)[1]
    [line] = [r.getMessage() for r in caplog.records if "model failure" in r.getMessage()]
    assert f"chat {chat_id}, reply {answer.id}, model openai/stub-429-later: status 429, provider request req_stub_" in line
    assert "Rate limit reached" in line and API_KEY not in caplog.text
    assert answer.error == "The model provider is rate-limiting requests. Retry in 20 seconds."


def test_app_sends_the_conversation_with_its_system_prompt(chat_with):
    client, store, chat_id = chat_with("stub-echo")
    client.post(f"/chats/{chat_id}/settings", data={"system_prompt": "Be brief."})
    send(client, chat_id, "Hi")
    answer = store.messages(store.user_by_email("ada@example.com").id, chat_id)[1]
    assert answer.content == '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]'
