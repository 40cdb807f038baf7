"""A chat's model parameters (temperature, top-p, longest reply, reasoning effort): saved in
its settings, checked with clear errors, and sent to the model as set (the request the
loopback server received says so)."""
import re

import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.models.openai_compatible import OpenAICompatible
from chatbot.models.parameters import Parameters
from tests.conftest import make_config, owner_id, send, wait_until
from tests.openai_stub import API_KEY, StubOpenAI


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI(models=("stub", "stub-echo")) as server:
        yield server


@pytest.fixture
def app(tmp_path, stub):
    path = tmp_path / "models.toml"
    path.write_text(f'default = "local/stub"\n[providers.local]\nbase_url = "{stub.base_url}"\n'
                    f'api_key_env = "STUB_KEY"\nreasoning = ["stub-echo"]\n')
    return create_app(make_config(tmp_path, MODELS_CONFIG=str(path), STUB_KEY=API_KEY))


def start(client, model="local/stub") -> str:
    response = client.post("/chats", data={"content": "Hi", "model": model})
    return response.headers["Location"].split("/chats/")[1].split("#")[0]


def test_parameters_are_saved_shown_and_sent_to_the_model(app, user, store, stub):
    chat_id = start(user)
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status != "streaming", what="the reply")
    assert not {"temperature", "top_p", "max_tokens", "max_completion_tokens"} & set(stub.requests[-1])  # defaults
    response = user.post(f"/chats/{chat_id}/settings", data={
        "system_prompt": "Be brief.", "temperature": "0.3", "top_p": "0.9", "max_tokens": "1,200"})
    assert response.status_code == 302
    chat = store.chat(owner_id(store), chat_id)
    assert chat.parameters == Parameters(temperature=0.3, top_p=0.9, max_tokens=1200)
    page = user.get(f"/chats/{chat_id}").text
    assert re.search(r'<input id="temperature" name="temperature" type="number" value="0.3"', page)
    assert re.search(r'<input id="max_tokens" name="max_tokens" type="number" value="1200"', page)
    assert '<select id="reasoning_effort"' not in page  # this model does not reason

    send(user, chat_id, "And now?")
    asked = stub.requests[-1]
    assert (asked["temperature"], asked["top_p"], asked["max_tokens"]) == (0.3, 0.9, 1200)
    assert "reasoning_effort" not in asked and asked["messages"][0] == {"role": "system", "content": "Be brief."}
    # Regenerating asks with them too; blank fields go back to the model's defaults.
    user.post(f"/chats/{chat_id}/regenerate")
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status != "streaming", what="the reply")
    assert stub.requests[-1]["temperature"] == 0.3
    user.post(f"/chats/{chat_id}/settings", data={"system_prompt": "", "temperature": "", "top_p": "", "max_tokens": ""})
    assert store.chat(owner_id(store), chat_id).parameters == Parameters()


def test_a_reasoning_model_gets_its_effort_and_others_never_do(app, user, store, stub):
    chat_id = start(user, "local/stub-echo")
    page = user.get(f"/chats/{chat_id}").text
    assert '<select id="reasoning_effort" name="reasoning_effort">' in page
    user.post(f"/chats/{chat_id}/settings", data={"reasoning_effort": "high"})
    send(user, chat_id, "Think hard", model="local/stub-echo")
    assert stub.requests[-1]["reasoning_effort"] == "high"
    send(user, chat_id, "Now plainly", model="local/stub")  # the chat switches to a model that does not reason
    assert "reasoning_effort" not in stub.requests[-1]


@pytest.mark.parametrize("field, value, error", [
    ("temperature", "2.5", "Temperature is a number from 0 to 2, or blank for the model's default."),
    ("temperature", "warm", "Temperature is a number from 0 to 2, or blank for the model's default."),
    ("top_p", "0", "Top-p is a number above 0 and up to 1, or blank for the model's default."),
    ("max_tokens", "0", "Longest reply is a whole number of tokens from 1 to 1,000,000, or blank for the "
                        "model's default."),
    ("max_tokens", "12.5", "Longest reply is a whole number of tokens from 1 to 1,000,000, or blank for the "
                           "model's default."),
    ("reasoning_effort", "extreme", "Reasoning effort is one of minimal, low, medium, high, or blank."),
])
def test_a_wrong_parameter_is_refused_beside_its_field_and_nothing_is_saved(app, user, store, field, value, error):
    chat_id = start(user, "local/stub-echo")
    response = user.post(f"/chats/{chat_id}/settings", data={"system_prompt": "Kept?", "temperature": "1",
                                                             field: value})
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{error}</p>' in response.text.replace("&#39;", "'")
    assert f'aria-describedby="{field}-error"' in response.text
    assert '<details class="tool" open>' in response.text and ">Kept?</textarea>" in response.text  # the form kept
    chat = store.chat(owner_id(store), chat_id)
    assert chat.parameters == Parameters() and chat.system_prompt == ""


@pytest.mark.parametrize("base_url, length_field", [(None, "max_completion_tokens"),
                                                     ("https://api.openai.com/v1", "max_completion_tokens"),
                                                     ("http://127.0.0.1:11434/v1", "max_tokens")])
def test_openai_itself_takes_the_reply_length_as_max_completion_tokens(base_url, length_field):
    model = OpenAICompatible(model="o3-mini", api_key="sk-x", base_url=base_url, timeout=1, max_retries=0)
    options = model.options(Parameters(temperature=1.0, max_tokens=50, reasoning_effort="low"))
    assert options == {"temperature": 1.0, length_field: 50, "reasoning_effort": "low"}
    plain = model.for_model("gpt-4o-mini", "openai/gpt-4o-mini")
    assert plain.options(Parameters(reasoning_effort="low")) == {}


def test_parameters_stored_badly_are_left_out_and_the_chat_still_opens():
    assert Parameters.from_json('{"temperature": 9, "top_p": 0.5}') == Parameters()
    assert Parameters.from_json("not json") == Parameters()
    assert Parameters.from_json({"top_p": 0.5}) == Parameters(top_p=0.5)
