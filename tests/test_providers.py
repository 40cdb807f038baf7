"""Several model providers behind one app (two loopback OpenAI-compatible servers with
different models): each one's models discovered from its /v1/models, limited and renamed by
the operator, picked in the composer and remembered per chat, restricted by the admin."""
import logging
import re
import socket
import time

import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.models import catalog
from chatbot.store import ERROR
from tests.conftest import make_config, owner_id, send, wait_until
from tests.openai_stub import API_KEY, REPLY, StubOpenAI

LOCAL_KEY, CLOUD_KEY = API_KEY, API_KEY  # the stubs take one key; the variables holding it differ
CONFIG = """
default = "local/stub"

[providers.local]
label = "Local server"
base_url = "{local}"
api_key_env = "LOCAL_KEY"
names = {{ "stub-echo" = "Echo" }}

[providers.cloud]
label = "Cloud"
base_url = "{cloud}"
api_key_env = "CLOUD_KEY"
models = ["stub", "stub-json"]
"""


@pytest.fixture(scope="module")
def local():
    with StubOpenAI(models=("stub", "stub-echo", "text-embedding-3-small")) as server:
        yield server


@pytest.fixture(scope="module")
def cloud():
    with StubOpenAI(models=("stub", "stub-slow", "stub-json", "gpt-secret")) as server:
        yield server


def app_with(tmp_path, text: str, **variables):
    path = tmp_path / "models.toml"
    path.write_text(text)
    return create_app(make_config(tmp_path, MODELS_CONFIG=str(path), LOCAL_KEY=LOCAL_KEY, CLOUD_KEY=CLOUD_KEY,
                                  **variables))


@pytest.fixture
def app(tmp_path, local, cloud):
    return app_with(tmp_path, CONFIG.format(local=local.base_url, cloud=cloud.base_url))


def signed_up(app, email="ada@example.com"):
    client = app.test_client()
    client.post("/signup", data={"email": email, "password": "correct horse"})
    return client


def picker(html: str) -> dict:
    """The composer's picker: {group: [(id, label, selected)]}."""
    select = re.search(r'<select id="model" name="model".*?</select>', html, re.S).group(0)
    groups: dict = {}
    for group, options in re.findall(r'<optgroup label="([^"]*)">(.*?)</optgroup>', select, re.S) or [("", select)]:
        groups[group] = [(value, label.strip(), bool(selected)) for value, selected, label
                         in re.findall(r'<option value="([^"]*)"( selected)?>([^<]*)</option>', options)]
    return groups


def chosen(html: str) -> str:
    return next(value for options in picker(html).values() for value, _, selected in options if selected)


def start_chat(client, content="Hi", **data) -> str:
    response = client.post("/chats", data={"content": content, **data})
    assert response.status_code == 303, response.text
    return response.headers["Location"].split("/chats/")[1].split("#")[0]


def test_each_providers_models_are_offered_under_its_name(app):
    html = signed_up(app).get("/").text
    assert picker(html) == {
        "Local server": [("local/stub", "stub", True), ("local/stub-echo", "Echo", False)],  # no embeddings model
        "Cloud": [("cloud/stub", "stub", False), ("cloud/stub-json", "stub-json", False)],  # the operator's list only
    }
    assert '<label for="model" class="visually-hidden">Model</label>' in html


def test_a_chat_answers_with_the_model_picked_and_keeps_to_it(app, local, cloud):
    client, store = signed_up(app), backends(app).store
    asked_local = len(local.requests)
    chat_id = start_chat(client, "Hi", model="cloud/stub-json")
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status != "streaming", what="the reply")
    assert cloud.requests[-1]["model"] == "stub-json" and len(local.requests) == asked_local
    reply = store.messages(owner_id(store), chat_id)[-1]
    assert (reply.model, reply.content) == ("cloud/stub-json", "".join(REPLY))
    assert store.chat(owner_id(store), chat_id).model == "cloud/stub-json"
    page = client.get(f"/chats/{chat_id}").text
    assert chosen(page) == "cloud/stub-json" and '<span class="model">stub-json</span>' in page

    # A message can switch the model: the chat keeps to the new one.
    send(client, chat_id, "And you?", model="local/stub-echo")
    assert local.requests[-1]["model"] == "stub-echo"
    assert local.requests[-1]["messages"][-1] == {"role": "user", "content": "And you?"}
    assert store.chat(owner_id(store), chat_id).model == "local/stub-echo"
    page = client.get(f"/chats/{chat_id}").text
    assert chosen(page) == "local/stub-echo" and '<span class="model">Echo</span>' in page

    # A send that names no model (an API client, an old page) goes to the chat's own.
    asked = len(local.requests)
    send(client, chat_id, "Once more")
    assert len(local.requests) == asked + 1 and local.requests[-1]["model"] == "stub-echo"


def test_a_new_chat_starts_with_the_model_of_the_newest_chat(app, cloud):
    client = signed_up(app)
    assert chosen(client.get("/").text) == "local/stub"  # the configured default, at first
    start_chat(client, "Hi", model="cloud/stub")
    assert chosen(client.get("/").text) == "cloud/stub"


@pytest.mark.parametrize("model", ["cloud/gpt-secret", "cloud/stub-slow", "local/text-embedding-3-small",
                                   "elsewhere/stub", "stub"])
def test_a_model_not_on_offer_is_refused_beside_the_picker(app, model):
    client, store = signed_up(app), backends(app).store
    response = client.post("/chats", data={"content": "Hi", "model": model})
    assert response.status_code == 422
    assert re.search(r'<p class="field-error" id="model-error">That model is not available. Pick another one.</p>',
                     response.text)
    assert 'aria-describedby="model-error"' in response.text and "Hi</textarea>" in response.text  # the draft kept
    assert store.chats(owner_id(store)) == []


def test_a_provider_is_asked_for_its_models_once_then_again_when_its_list_is_old(tmp_path):
    with StubOpenAI(models=("stub", "stub-echo")) as server:
        app = app_with(tmp_path, f'[providers.one]\nbase_url = "{server.base_url}"\napi_key_env = "LOCAL_KEY"\n'
                                 f'refresh_seconds = 0.5\n')
        client = signed_up(app)
        for _ in range(3):
            client.get("/")
        assert server.listings == 1
        server.models = ("stub", "stub-echo", "stub-json")
        time.sleep(0.6)
        assert len(picker(client.get("/").text)[""]) == 2  # the old list: a refresh is never waited for
        wait_until(lambda: server.listings == 2, what="the refresh")
        wait_until(lambda: len(picker(client.get("/").text)[""]) == 3, what="the new model on offer")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_provider_that_is_down_does_not_break_the_page(tmp_path, local, caplog):
    down = f"http://127.0.0.1:{free_port()}/v1"
    app = app_with(tmp_path, f"""
[providers.local]
base_url = "{local.base_url}"
api_key_env = "LOCAL_KEY"

[providers.down]
base_url = "{down}"

[providers.listed]
base_url = "{down}"
models = ["big-model"]
""")
    client, store = signed_up(app), backends(app).store
    started = time.monotonic()
    page = client.get("/")
    assert page.status_code == 200 and time.monotonic() - started < catalog.FIRST_WAIT + 1
    groups = picker(page.text)
    assert [v for v, _, _ in groups["local"]] == ["local/stub", "local/stub-echo"]
    assert "down" not in groups and [v for v, _, _ in groups["listed"]] == ["listed/big-model"]  # the operator's list
    assert "provider down did not list its models" in caplog.text

    # Picking a model of a provider that is away: the reply says why, the page stays.
    chat_id = start_chat(client, "Hi", model="listed/big-model")
    wait_until(lambda: store.messages(owner_id(store), chat_id)[-1].status != "streaming", what="the reply")
    reply = store.messages(owner_id(store), chat_id)[-1]
    assert reply.status == ERROR and "connection to the model was lost" in reply.error
    assert client.get(f"/chats/{chat_id}").status_code == 200


def test_a_provider_that_goes_away_keeps_its_last_list(tmp_path):
    server = StubOpenAI(models=("stub", "stub-json")).__enter__()
    app = app_with(tmp_path, f'[providers.one]\nbase_url = "{server.base_url}"\napi_key_env = "LOCAL_KEY"\n'
                             f'refresh_seconds = 0.2\n')
    client = signed_up(app)
    assert len(picker(client.get("/").text)[""]) == 2
    server.__exit__(None, None, None)
    time.sleep(0.3)
    client.get("/")  # starts a refresh, which fails
    time.sleep(0.5)
    assert [v for v, _, _ in picker(client.get("/").text)[""]] == ["one/stub", "one/stub-json"]


def test_the_default_model_is_offered_even_when_its_provider_does_not_list_it(tmp_path):
    app = app_with(tmp_path, f'default = "one/llama3.2"\n[providers.one]\nbase_url = "http://127.0.0.1:{free_port()}/v1"\n')
    html = signed_up(app).get("/").text
    assert 'name="model" value="one/llama3.2"' in html  # the only model: no picker, but it is what answers
    assert backends(app).model.name == "one/llama3.2"


def test_the_admin_restricts_the_models_users_may_pick(app):
    admin = signed_up(app)  # the first account is the admin
    member = signed_up(app, "bob@example.com")
    store = backends(app).store
    chat_id = start_chat(member, "Hi", model="local/stub-echo")
    page = admin.get("/admin").text
    assert page.count('type="checkbox" name="model"') == 4 and page.count(" checked>") >= 4

    response = admin.post("/admin/models", data={"model": ["local/stub", "cloud/stub"]}, follow_redirects=True)
    assert "Users may pick 2 of the 4 models on offer." in response.text
    assert picker(member.get("/").text) == {"Local server": [("local/stub", "stub", True)],
                                             "Cloud": [("cloud/stub", "stub", False)]}
    refused = member.post(f"/chats/{chat_id}/messages", data={"content": "Again", "model": "local/stub-echo"})
    assert refused.status_code == 422 and "That model is not available" in refused.text
    # A chat whose model is no longer allowed goes on with the default.
    assert chosen(member.get(f"/chats/{chat_id}").text) == "local/stub"
    send(member, chat_id, "Go on")
    assert store.messages(owner_id(store, "bob@example.com"), chat_id)[-1].model == "local/stub"

    assert "Allow at least one model" in admin.post("/admin/models", data={}, follow_redirects=True).text
    assert len(sum(picker(member.get("/").text).values(), [])) == 2  # unchanged
    everything = ["local/stub", "local/stub-echo", "cloud/stub", "cloud/stub-json"]
    assert "Users may pick every model on offer." in admin.post("/admin/models", data={"model": everything},
                                                                 follow_redirects=True).text
    assert len(sum(picker(member.get("/").text).values(), [])) == 4
    assert member.post("/admin/models", data={"model": ["local/stub"]}).status_code == 404  # admins only


def test_keys_never_reach_a_page_or_the_log(tmp_path, local, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "sk-never-shown-0123456789"
    app = app_with(tmp_path, f'[providers.local]\nbase_url = "{local.base_url}"\napi_key_env = "SECRET_VAR"\n'
                             f'[providers.inline]\nbase_url = "{local.base_url}"\napi_key = "{secret}-inline"\nmodels = ["stub"]\n',
                   SECRET_VAR=secret)
    client = signed_up(app)
    chat_id = start_chat(client, "Hi", model="inline/stub")
    send(client, chat_id, "Hi again")  # a 401: this key is not the stub's
    pages = client.get("/").text + client.get(f"/chats/{chat_id}").text + client.get("/admin").text
    assert secret not in pages and secret not in caplog.text
    assert secret not in repr(backends(app).models.providers) and secret not in repr(app.extensions["chatbot.settings"])


def test_without_providers_the_offline_responder_is_the_only_model(tmp_path):
    html = signed_up(create_app(make_config(tmp_path))).get("/").text
    assert '<select id="model"' not in html and 'name="model" value="offline-responder"' in html


@pytest.mark.parametrize("text, problem", [
    (None, "cannot read"),
    ("providers = [", "is not valid TOML"),
    ("default = 'x/y'", "no providers"),
    ("[providers.one]\nbase_url = 'http://h/v1'\ntimeout = 3", "providers.one: unknown key 'timeout'"),
    ("[providers.one]\nbase_url = 'ftp://h/v1'", "providers.one.base_url must be an http(s) URL"),
    ("[providers.one]\napi_key_env = 'NOT_SET_ANYWHERE'", "providers.one.api_key_env names 'NOT_SET_ANYWHERE', which is not set"),
    ("[providers.one]\nmodels = ['a']", "providers.one needs a base_url, or an API key"),
    ("[providers.One]\nbase_url = 'http://h/v1'", "a provider's name is lowercase"),
    ("[providers.one]\nbase_url = 'http://h/v1'\nmodels = 'a'", "providers.one.models must be a list"),
    ("default = 'two/m'\n[providers.one]\nbase_url = 'http://h/v1'", "default must be a model id of a configured provider"),
    ("default = 'one/m'\n[providers.one]\nbase_url = 'http://h/v1'\nmodels = ['a']", "default 'one/m' is not among"),
])
def test_a_bad_models_file_stops_start_up_naming_the_variable(tmp_path, text, problem):
    path = tmp_path / "models.toml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(SystemExit) as stopped:
        create_app(make_config(tmp_path, MODELS_CONFIG=str(path)))
    assert str(stopped.value).startswith("chatbot: configuration error: MODELS_CONFIG: ") and problem in str(stopped.value)


def test_openai_variables_make_one_provider_limited_by_openai_models(tmp_path, local):
    app = create_app(make_config(tmp_path, OPENAI_API_KEY=API_KEY, OPENAI_BASE_URL=local.base_url,
                                 OPENAI_MODEL="stub", OPENAI_MODELS="stub, stub-echo"))
    assert [v for options in picker(signed_up(app).get("/").text).values() for v, _, _ in options] == \
        ["openai/stub", "openai/stub-echo"]
