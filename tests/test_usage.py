"""Usage and cost: tokens per day, month and model as the provider reported them (the
loopback server's usage report), priced from the operator's table; monthly token budgets,
checked before the model is asked; the admin's view of each account."""
import re
from datetime import datetime, timezone

import pytest

from chatbot import create_app
from chatbot.backends import backends
from chatbot.usage import check_budget
from chatbot.errors import TooMany
from tests.conftest import make_config, owner_id, send, wait_until
from tests.openai_stub import API_KEY, REPLY, StubOpenAI

REPLY_TOKENS = (11, len(REPLY))  # what the stub reports for each reply: in, out


@pytest.fixture(scope="module")
def stub():
    with StubOpenAI(models=("stub", "stub-json")) as server:
        yield server


def app_with(tmp_path, stub, **variables):
    path = tmp_path / "models.toml"
    path.write_text(f'default = "cloud/stub"\n[providers.cloud]\nlabel = "Cloud"\nbase_url = "{stub.base_url}"\n'
                    f'api_key_env = "STUB_KEY"\nprices = {{ "stub" = [2.0, 10.0] }}\n')
    return create_app(make_config(tmp_path, MODELS_CONFIG=str(path), STUB_KEY=API_KEY, **variables))


@pytest.fixture
def app(tmp_path, stub):
    return app_with(tmp_path, stub)


def start(client, model="cloud/stub") -> str:
    response = client.post("/chats", data={"content": "Hi", "model": model})
    assert response.status_code == 303, response.text
    return response.headers["Location"].split("/chats/")[1].split("#")[0]


def idle(store, chat_id, email="ada@example.com"):
    wait_until(lambda: store.messages(owner_id(store, email), chat_id)[-1].status != "streaming", what="the reply")


def test_the_usage_page_totals_tokens_by_day_month_and_model_with_their_cost(app, user, store, stub):
    chat_id = start(user)
    idle(store, chat_id)
    send(user, chat_id, "Again", model="cloud/stub")
    send(user, chat_id, "Plainly", model="cloud/stub-json")  # a model without a price
    page = user.get("/account/usage")
    assert page.status_code == 200
    html = " ".join(page.text.split())
    tokens_in, tokens_out = 3 * REPLY_TOKENS[0], 2 * REPLY_TOKENS[1] + 6  # stub-json reports 6 out
    cost = 2 * (REPLY_TOKENS[0] * 2.0 + REPLY_TOKENS[1] * 10.0) / 1_000_000
    assert f"<strong>{tokens_in + tokens_out:,}</strong> tokens in 3 replies, ${cost:.4f}" in html
    assert f"<tr><td>stub</td><td>2</td><td>{2 * REPLY_TOKENS[0]}</td><td>{2 * REPLY_TOKENS[1]}</td><td>${cost:.4f}</td></tr>" in html
    assert "<tr><td>stub-json</td><td>1</td><td>11</td><td>6</td><td>—</td></tr>" in html  # counted, not priced
    today = datetime.now(timezone.utc).date()
    assert f"<td>{today.isoformat()}</td><td>3</td>" in html and f"<td>{today:%B %Y}</td><td>3</td>" in html
    assert 'href="/account/usage">Usage</a>' in user.get("/").text  # in the sidebar
    chat_page = " ".join(user.get(f"/chats/{chat_id}").text.split())
    assert f"This chat so far: {tokens_in + tokens_out:,} tokens in 3 replies, ${cost:.4f}" in chat_page


def test_the_offline_responder_costs_nothing(tmp_path):
    app = create_app(make_config(tmp_path))
    client = app.test_client()
    client.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = start(client, model="offline-responder")
    idle(backends(app).store, chat_id)
    assert "$0.0000" in client.get("/account/usage").text


def test_a_monthly_budget_is_enforced_before_the_model_is_asked(tmp_path, stub):
    app = app_with(tmp_path, stub, MONTHLY_TOKEN_BUDGET="30")
    user, store = app.test_client(), backends(app).store
    user.post("/signup", data={"email": "ada@example.com", "password": "correct horse"})
    chat_id = start(user)
    idle(store, chat_id)
    send(user, chat_id, "One more")  # 18 tokens used of 30: allowed, and it takes the total past the budget
    asked = len(stub.requests)
    refused = user.post(f"/chats/{chat_id}/messages", data={"content": "And another"})
    assert refused.status_code == 429 and len(stub.requests) == asked  # the model was never asked
    assert "Your replies have used this month&#39;s 30 tokens. Your budget starts again on 1 " in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 31 * 24 * 3600
    assert user.post(f"/chats/{chat_id}/regenerate").status_code == 429
    assert user.post("/chats", data={"content": "elsewhere"}).status_code == 429
    page = " ".join(user.get("/account/usage").text.split())
    assert "of your budget of 30 tokens (100% used)" in page

    # The admin gives this account a budget of its own.
    admin_id = owner_id(store)
    assert "Monthly token budget" in user.get(f"/admin/users/{admin_id}").text
    bad = user.post(f"/admin/users/{admin_id}/budget", data={"budget": "-5"})
    assert bad.status_code == 422 and "A budget is a whole number of tokens above 0" in bad.text
    user.post(f"/admin/users/{admin_id}/budget", data={"budget": "1,000"})
    assert user.post(f"/chats/{chat_id}/messages", data={"content": "And another"}).status_code == 303
    user.post(f"/admin/users/{admin_id}/budget", data={"budget": ""})  # the server's again
    idle(store, chat_id)
    assert user.post(f"/chats/{chat_id}/messages", data={"content": "Still?"}).status_code == 429


def test_budget_is_a_404_when_budgets_are_off(app, user, store):
    assert user.post(f"/admin/users/{owner_id(store)}/budget", data={"budget": "10"}).status_code == 404


def test_the_budget_starts_again_with_the_month(app, user, store):
    directory = backends(app).directory
    chat_id = start(user)
    idle(store, chat_id)
    with pytest.raises(TooMany) as refused:
        check_budget(directory, 1, owner_id(store))
    assert "starts again on 1 " in refused.value.message
    check_budget(directory, 1, owner_id(store), datetime(2099, 1, 15, tzinfo=timezone.utc))  # a new month: nothing used


def test_the_admin_sees_an_accounts_month_and_its_cost(app, client, auth, store, stub):
    auth.signup("admin@example.com")
    auth.logout()
    auth.signup("bob@example.com")
    chat_id = start(client)
    idle(store, chat_id, "bob@example.com")
    bob = owner_id(store, "bob@example.com")
    auth.logout()
    auth.login("admin@example.com")
    page = " ".join(client.get(f"/admin/users/{bob}").text.split())
    cost = (REPLY_TOKENS[0] * 2.0 + REPLY_TOKENS[1] * 10.0) / 1_000_000
    assert f"{sum(REPLY_TOKENS):,} tokens in 1 reply, ${cost:.4f}" in page


@pytest.mark.parametrize("prices, problem", [
    ('{ "stub" = 2.0 }', "prices must map models to [price in, price out]"),
    ('{ "stub" = [2.0] }', "prices must map models to [price in, price out]"),
    ('{ "stub" = [-1, 2] }', "prices must map models to [price in, price out]"),
])
def test_a_bad_price_table_stops_start_up(tmp_path, prices, problem):
    path = tmp_path / "models.toml"
    path.write_text(f'[providers.cloud]\nbase_url = "http://127.0.0.1:9/v1"\nprices = {prices}\n')
    with pytest.raises(SystemExit) as stopped:
        create_app(make_config(tmp_path, MODELS_CONFIG=str(path)))
    assert "MODELS_CONFIG: providers.cloud.prices must map models" in str(stopped.value) and problem in str(stopped.value)
