"""Presets: a named system prompt, model and parameters that a user saves (from a chat's
settings or on the presets page), changes, deletes and starts chats from; what a chat
started from one sends to the model (the request the loopback server received says so);
and another user's presets, which do not exist for anyone else."""
import re

import pytest
from markupsafe import escape

from chatbot import create_app
from chatbot.backends import backends
from chatbot.models.parameters import Parameters
from tests.conftest import AuthActions, make_config, owner_id, wait_until
from tests.openai_stub import API_KEY, StubOpenAI


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI(models=("stub", "stub-echo")) as server:
        yield server


@pytest.fixture
def app(tmp_path, stub):
    path = tmp_path / "models.toml"
    path.write_text(f'default = "local/stub"\n[providers.local]\nbase_url = "{stub.base_url}"\n'
                    f'api_key_env = "STUB_KEY"\nreasoning = ["stub-echo"]\nnames = {{stub-echo = "Echo"}}\n')
    return create_app(make_config(tmp_path, MODELS_CONFIG=str(path), STUB_KEY=API_KEY))


def new_preset(client, **fields):
    data = {"name": "Translator", "model": "local/stub-echo", "system_prompt": "Translate into French.",
            "temperature": "0.4", "top_p": "", "max_tokens": "900", "reasoning_effort": "low", **fields}
    return client.post("/presets", data=data)


def chat_of(response) -> str:
    return response.headers["Location"].split("/chats/")[1].split("#")[0]


def replied(store, chat_id):
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status != "streaming", what="the reply")


def test_a_preset_is_made_listed_changed_and_deleted(app, user, store):
    response = new_preset(user)
    assert response.status_code == 303
    [preset] = store.presets(owner_id(store))
    assert (preset.name, preset.model, preset.system_prompt, preset.parameters) == (
        "Translator", "local/stub-echo", "Translate into French.",
        Parameters(temperature=0.4, max_tokens=900, reasoning_effort="low"))
    page = user.get(response.headers["Location"]).text
    assert "Preset “Translator” saved." in page
    assert f'id="preset-{preset.id}"' in page and "Echo · temperature 0.4 · replies up to 900 tokens" in page
    assert f'href="/?preset={preset.id}"' in page  # Start a chat

    form = user.get(f"/presets/{preset.id}").text  # its form, filled in
    assert 'value="Translator"' in form and "Translate into French.</textarea>" in form
    assert re.search(r'<option value="local/stub-echo" selected>Echo</option>', form)
    assert re.search(r'<option value="low" selected>', form)
    response = user.post(f"/presets/{preset.id}", data={"name": "  Traducteur  ", "model": "local/stub",
                                                        "system_prompt": "Into French.", "temperature": "1"})
    assert response.status_code == 303
    changed = store.preset(owner_id(store), preset.id)
    assert (changed.name, changed.model, changed.system_prompt, changed.parameters) == (
        "Traducteur", "local/stub", "Into French.", Parameters(temperature=1.0))

    response = user.post(f"/presets/{preset.id}/delete")
    assert response.status_code == 303 and "Preset “Traducteur” deleted." in user.get("/presets").text
    assert store.presets(owner_id(store)) == []
    assert user.get(f"/presets/{preset.id}").status_code == 404


@pytest.mark.parametrize("fields, field, error", [
    ({"name": "  "}, "name", "Give the preset a name."),
    ({"name": "x" * 101}, "name", "Keep the name under 100 characters."),
    ({"system_prompt": "x" * 8001}, "system_prompt", "Keep the system prompt under 8,000 characters."),
    ({"model": "local/not-there"}, "model", "That model is not available. Pick another one."),
    ({"temperature": "3"}, "temperature", "Temperature is a number from 0 to 2, or blank for the model's default."),
    ({"reasoning_effort": "extreme"}, "reasoning_effort",
     "Reasoning effort is one of minimal, low, medium, high, or blank."),
])
def test_a_wrong_field_is_refused_beside_it_and_the_form_kept(app, user, store, fields, field, error):
    response = new_preset(user, **fields)
    assert response.status_code == 422
    assert f'<p class="field-error" id="{field}-error">{escape(error)}</p>' in response.text
    assert f'aria-describedby="{field}-error"' in response.text
    if field != "system_prompt":
        assert "Translate into French.</textarea>" in response.text  # what was typed stays
    assert store.presets(owner_id(store)) == []


def test_a_name_is_taken_once_whatever_its_case(app, user, store):
    new_preset(user)
    response = new_preset(user, name="translator")
    assert response.status_code == 422
    assert "You have a preset called “translator” already: give this one another name." in response.text
    new_preset(user, name="Poet")
    poet = next(p for p in store.presets(owner_id(store)) if p.name == "Poet")
    response = user.post(f"/presets/{poet.id}", data={"name": "TRANSLATOR", "model": "local/stub"})
    assert response.status_code == 422 and 'id="name-error"' in response.text
    assert [p.name for p in store.presets(owner_id(store))] == ["Poet", "Translator"]


def test_a_chat_starts_from_a_preset_and_its_model_is_asked_with_it(app, user, store, stub):
    new_preset(user)
    [preset] = store.presets(owner_id(store))
    page = user.get("/").text  # the new chat page offers it
    assert f'<a href="/?preset={preset.id}"' in page and ">Translator</a>" in page
    page = user.get(f"/?preset={preset.id}").text  # chosen: its model picked, the composer carries it
    assert "Starting from the preset <strong>Translator</strong>" in page
    assert f'<input type="hidden" name="preset" value="{preset.id}">' in page
    assert re.search(r'<option value="local/stub-echo" selected>Echo</option>', page)
    assert 'aria-current="true">Translator</a>' in page

    response = user.post("/chats", data={"content": "Good morning", "model": "local/stub-echo", "preset": preset.id})
    chat_id = chat_of(response)
    replied(store, chat_id)
    chat = store.chat(owner_id(store), chat_id)
    assert (chat.model, chat.system_prompt, chat.parameters) == ("local/stub-echo", preset.system_prompt,
                                                                 preset.parameters)
    asked = stub.requests[-1]
    assert asked["model"] == "stub-echo" and asked["messages"][0] == {"role": "system",
                                                                      "content": "Translate into French."}
    assert (asked["temperature"], asked["max_tokens"], asked["reasoning_effort"]) == (0.4, 900, "low")

    # Another model picked in the composer answers instead, with the preset's prompt and parameters.
    chat_id = chat_of(user.post("/chats", data={"content": "Hello", "model": "local/stub", "preset": preset.id}))
    replied(store, chat_id)
    assert store.chat(owner_id(store), chat_id).model == "local/stub"
    assert stub.requests[-1]["model"] == "stub" and stub.requests[-1]["temperature"] == 0.4
    # Without a model in the form (a client that does not send one): the preset's.
    chat_id = chat_of(user.post("/chats", data={"content": "Hello", "preset": preset.id}))
    replied(store, chat_id)
    assert store.chat(owner_id(store), chat_id).model == "local/stub-echo"


def test_a_refused_first_message_keeps_the_preset_chosen(app, user, store):
    new_preset(user)
    [preset] = store.presets(owner_id(store))
    response = user.post("/chats", data={"content": "x" * 200_000, "model": "local/stub-echo", "preset": preset.id})
    assert response.status_code == 422
    assert f'<input type="hidden" name="preset" value="{preset.id}">' in response.text
    assert store.chats(owner_id(store)) == []


def test_a_chats_settings_are_saved_as_a_preset_with_its_model(app, user, store):
    chat_id = chat_of(user.post("/chats", data={"content": "Hi", "model": "local/stub-echo"}))
    replied(store, chat_id)
    settings = {"system_prompt": "Answer in haiku.", "temperature": "0.9", "top_p": "", "max_tokens": "",
                "reasoning_effort": "high"}
    response = user.post(f"/chats/{chat_id}/preset", data={**settings, "name": "Haiku"})
    assert response.status_code == 303 and response.headers["Location"] == f"/chats/{chat_id}"
    [preset] = store.presets(owner_id(store))
    assert (preset.name, preset.model, preset.system_prompt, preset.parameters) == (
        "Haiku", "local/stub-echo", "Answer in haiku.", Parameters(temperature=0.9, reasoning_effort="high"))
    assert "Saved as the preset “Haiku”" in user.get(f"/chats/{chat_id}").text
    chat = store.chat(owner_id(store), chat_id)
    assert (chat.system_prompt, chat.parameters) == ("", Parameters())  # the chat's own stay as they were

    response = user.post(f"/chats/{chat_id}/preset", data={**settings, "name": ""})
    assert response.status_code == 422
    assert '<p class="field-error" id="preset-name-error">Give the preset a name.</p>' in response.text
    assert "Answer in haiku.</textarea>" in response.text and "<details class=\"tool\" open>" in response.text
    response = user.post(f"/chats/{chat_id}/preset", data={**settings, "temperature": "9", "name": "Other"})
    assert response.status_code == 422 and 'id="temperature-error"' in response.text
    assert len(store.presets(owner_id(store))) == 1


def test_another_users_presets_do_not_exist_for_them(app, client, store):
    auth = AuthActions(client)
    auth.signup("ada@example.com")
    new_preset(client, system_prompt="Ada's secret prompt")
    [preset] = store.presets(owner_id(store))
    auth.logout()
    auth.signup("bob@example.com")
    assert "Translator" not in client.get("/presets").text and "Translator" not in client.get("/").text
    assert client.get(f"/presets/{preset.id}").status_code == 404
    assert client.post(f"/presets/{preset.id}", data={"name": "Mine", "model": "local/stub"}).status_code == 404
    assert client.post(f"/presets/{preset.id}/delete").status_code == 404
    assert client.get(f"/?preset={preset.id}").status_code == 404
    assert client.post("/chats", data={"content": "Hi", "preset": preset.id}).status_code == 404
    assert store.chats(owner_id(store, "bob@example.com")) == []
    assert store.preset(owner_id(store), preset.id) == preset  # untouched
    for unknown in ("nope", "00000000-0000-4000-8000-000000000000"):
        assert client.get(f"/presets/{unknown}").status_code == 404


def test_presets_work_on_the_embedded_defaults_with_the_offline_responder(tmp_path):
    client = create_app(make_config(tmp_path)).test_client()
    AuthActions(client).signup()
    page = client.get("/presets").text
    assert "<p>Offline responder</p>" in page and '<select id="model"' not in page  # nothing to pick
    assert client.post("/presets", data={"name": "Brief", "system_prompt": "Be brief."}).status_code == 303
    store = backends(client.application).store
    [preset] = store.presets(owner_id(store))
    assert preset.model == backends(client.application).models.pick().name
    chat_id = chat_of(client.post("/chats", data={"content": "Hi", "preset": preset.id}))
    replied(store, chat_id)
    assert store.chat(owner_id(store), chat_id).system_prompt == "Be brief."
