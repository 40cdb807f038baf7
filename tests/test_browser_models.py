"""The model picker in a real Chromium against a real server with two model providers
(loopback OpenAI-compatible servers): with JavaScript (htmx and the socket) and without."""
import pytest

from tests.openai_stub import API_KEY, StubOpenAI
from tests.servers import embedded_server
from tests.test_browser import chromium, sign_up  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.server]


@pytest.fixture(scope="module")
def providers():
    with StubOpenAI(models=("stub", "stub-echo")) as local, StubOpenAI(models=("stub-json", "stub-slow")) as cloud:
        yield local, cloud


@pytest.fixture(scope="module")
def server(tmp_path_factory, providers):
    local, cloud = providers
    base = tmp_path_factory.mktemp("models")
    (base / "models.toml").write_text(f"""
default = "local/stub"
[providers.local]
label = "Local server"
base_url = "{local.base_url}"
api_key_env = "STUB_KEY"
names = {{ "stub-echo" = "Echo" }}

[providers.cloud]
label = "Cloud"
base_url = "{cloud.base_url}"
api_key_env = "STUB_KEY"
""")
    with embedded_server(base, MODELS_CONFIG=str(base / "models.toml"), STUB_KEY=API_KEY) as running:
        yield running


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_a_model_is_picked_in_the_message_box_and_each_reply_names_its_model(chromium, server, providers,  # noqa: F811
                                                                            javascript, width):
    local, cloud = providers
    context = chromium.new_context(java_script_enabled=javascript, base_url=server.url,
                                   viewport={"width": width, "height": 844 if width < 500 else 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15000)
    try:
        sign_up(page, f"picker-{javascript}-{width}@example.com")
        picker = page.get_by_label("Model")
        assert picker.input_value() == "local/stub"
        assert picker.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)") == ["Local server", "Cloud"]
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # nothing scrolls sideways
        box = picker.bounding_box()
        assert box["height"] >= 32 and box["x"] + box["width"] <= width

        asked_cloud = len(cloud.requests)
        picker.select_option("cloud/stub-json")
        page.get_by_label("Message").fill("Which model are you?")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/chats/*")
        page.locator(".message.assistant.status-complete").wait_for()
        assert page.locator(".message.assistant .model").last.inner_text() == "stub-json"
        assert len(cloud.requests) == asked_cloud + 1 and cloud.requests[-1]["model"] == "stub-json"
        assert page.get_by_label("Model").input_value() == "cloud/stub-json"  # the chat keeps to it

        # Switch for the next message (with JavaScript: over the page's socket).
        page.get_by_label("Model").select_option("local/stub-echo")
        page.get_by_label("Message").fill("And now?")
        page.get_by_role("button", name="Send").click()
        page.locator(".message.assistant.status-complete").nth(1).wait_for()
        assert page.locator(".message.assistant .model").nth(1).inner_text() == "Echo"
        assert local.requests[-1]["model"] == "stub-echo"
        page.reload()
        assert page.get_by_label("Model").input_value() == "local/stub-echo"
        assert [m.inner_text() for m in page.locator(".message.assistant .model").all()] == ["stub-json", "Echo"]
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("javascript, width", [(True, 1280), (False, 390)], ids=["js-desktop", "no-js-phone"])
def test_a_chats_settings_become_a_preset_that_starts_another_chat(chromium, server, providers,  # noqa: F811
                                                                   javascript, width):
    _, cloud = providers
    context = chromium.new_context(java_script_enabled=javascript, base_url=server.url,
                                   viewport={"width": width, "height": 844 if width < 500 else 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(15000)
    try:
        sign_up(page, f"presets-{javascript}@example.com")
        page.get_by_label("Model").select_option("cloud/stub-json")
        page.get_by_label("Message").fill("Ahoy")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/chats/*")
        page.locator(".message.assistant.status-complete").wait_for()

        # The chat's settings, saved as a preset (the chat's own stay blank).
        page.get_by_label("Settings").click()
        page.get_by_label("System prompt").fill("Answer as a pirate.")
        page.get_by_label("Temperature (0 to 2)").fill("0.7")
        page.get_by_role("button", name="Save as preset").click()
        assert page.locator("#preset-name-error").inner_text() == "Give the preset a name."
        assert page.get_by_label("System prompt").input_value() == "Answer as a pirate."  # kept
        page.get_by_label("Save as a preset named").fill("Pirate")
        page.get_by_role("button", name="Save as preset").click()
        page.get_by_text("Saved as the preset “Pirate”").wait_for()

        # A new chat from it: its model picked, its prompt and temperature sent.
        page.goto("/")
        page.get_by_role("navigation", name="Start from a preset").get_by_role("link", name="Pirate").click()
        page.get_by_text("Starting from the preset Pirate").wait_for()
        assert page.get_by_label("Model").input_value() == "cloud/stub-json"
        asked = len(cloud.requests)
        page.get_by_label("Message").fill("Where is the treasure?")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/chats/*")
        page.locator(".message.assistant.status-complete").wait_for()
        request = next(r for r in cloud.requests[asked:] if r["messages"][-1]["content"] == "Where is the treasure?")
        assert request["messages"][0] == {"role": "system", "content": "Answer as a pirate."}
        assert request["temperature"] == 0.7 and request["model"] == "stub-json"

        # Renamed and deleted on the presets page.
        page.goto("/presets")
        page.get_by_role("link", name="Edit Pirate").click()
        page.get_by_label("Name").fill("Buccaneer")
        page.get_by_role("button", name="Save changes").click()
        page.get_by_text("Preset “Buccaneer” saved.").wait_for()
        assert page.get_by_role("heading", name="Buccaneer").is_visible()
        page.get_by_role("button", name="Delete Buccaneer").click()
        page.get_by_text("Preset “Buccaneer” deleted.").wait_for()
        assert page.get_by_text("You have no presets yet.").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
        assert errors == []
    finally:
        context.close()
