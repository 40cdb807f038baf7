"""The built-in offline responder: conversational, streamed, and labelled as such."""
import re

import pytest

from chatbot import create_app
from chatbot.models import Usage
from chatbot.models.offline import OfflineResponder, compose_reply, keywords, reflect
from tests.conftest import make_config, new_chat


def reply_to(text):
    pieces = list(OfflineResponder(delay=0).stream([{"role": "user", "content": text}]))
    return pieces


def test_streams_token_by_token_and_reports_usage():
    pieces = reply_to("I have been thinking about moving to the mountains")
    words = [p for p in pieces if isinstance(p, str)]
    assert len(words) > 5 and all(len(w.split()) <= 1 for w in words)
    assert isinstance(pieces[-1], Usage) and pieces[-1].completion_tokens > 0


@pytest.mark.parametrize("said", [
    "I have been thinking about moving to the mountains",
    "What is the best way to learn astronomy?",
    "Can you help me fix this function that crashes?",
    "hello",
    "Thanks, that was useful",
])
def test_answers_from_the_users_words_without_echoing(said):
    reply = compose_reply(said)
    assert said not in reply and reply.strip() != said.strip()
    assert len(reply.split()) >= 8
    content_words = keywords(said)
    if content_words and not said.lower().startswith(("hello", "thanks")):
        assert any(word in reply.lower() for word in content_words)


def test_different_messages_get_different_replies():
    assert len({compose_reply(s) for s in ["I love sailing", "Why is the sky blue?", "hi", "write some code"]}) == 4


def test_reflects_the_point_of_view():
    assert reflect("I lost my keys at the station.") == "you lost your keys at the station"


def test_replies_are_labelled_and_the_page_says_how_to_connect_a_model(client, auth):
    auth.signup()
    chat_id = new_chat(client)
    client.post(f"/chats/{chat_id}/messages", data={"content": "hello"})
    html = client.get(f"/chats/{chat_id}").text
    assert "built-in offline responder" in html and "OPENAI_API_KEY" in html and "OPENAI_BASE_URL" in html
    assert re.search(r'<span class="model">offline responder</span>', html)


def test_no_offline_banner_with_a_real_model(tmp_path):
    app = create_app(make_config(tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1"))
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = new_chat(client)
    assert "offline responder" not in client.get(f"/chats/{chat_id}").text
