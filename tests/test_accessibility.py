"""Every page a person sees, checked by axe-core (tests/vendor): WCAG 2.0 and 2.1 A and AA,
and axe's best practice, in light and dark, on a desktop and a phone, with JavaScript and
without. A serious or critical violation fails. And a reply being written is announced
politely, once it is done, not word by word."""
from __future__ import annotations

import functools
import hashlib
import re
import struct
import zlib
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from chatbot.models.parameters import Parameters
from tests.live_client import User
from tests.servers import embedded_server
from tests.test_browser import chromium, sign_up, start_chat  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.server]

VENDOR = Path(__file__).resolve().parent / "vendor"
AXE = VENDOR / "axe-core-4.14.1.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
FAILING = {"serious", "critical"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

RICH_REPLY = """\
Here is **everything** a reply can hold, with [a link](https://example.com) and `inline code`.

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"  # a comment
```

| Planet | Moons |
|--------|------:|
| Earth  | 1     |
| Mars   | 2     |

> A quotation, with *emphasis*,
> on two lines.

Euler's identity is $e^{i\\pi} + 1 = 0$, and on a line of its own:

$$\\int_0^1 x^2 \\, dx = \\frac{1}{3}$$

1. A numbered list
2. of two items

- and a bulleted one
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with embedded_server(tmp_path_factory.mktemp("accessibility"), OFFLINE_TOKEN_DELAY="0.02") as running:
        yield running


@pytest.fixture(scope="module")
def site(chromium, server):  # noqa: F811
    """An admin with chats (one with every kind of message), other members in every standing,
    an invitation: the browser state of the admin's session, and the addresses to visit."""
    from chatbot.accounts.sqldirectory import SQLDirectory
    from chatbot.files import LocalFiles

    context = chromium.new_context(base_url=server.url)
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_up(page, "admin@example.com")  # the first account: the admin
    chat_url = start_chat(page, "Hello")
    page.get_by_label("Message").fill("What is on this map?")
    page.get_by_label("Attach files").set_input_files([
        {"name": "map.png", "mimeType": "image/png", "buffer": _png()},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"fog at dawn"},
    ])
    page.get_by_role("button", name="Send").click()
    page.locator(".message.assistant.status-complete").nth(1).wait_for()

    store = server.store
    admin_id = store.user_by_email("admin@example.com").id
    chat_id = chat_url.rsplit("/", 1)[1]
    asked = store.add_message(admin_id, chat_id, "user", "Show me what a reply can hold.", "complete")
    store.add_message(admin_id, chat_id, "assistant", RICH_REPLY, "complete", "offline-responder")
    store.add_message(admin_id, chat_id, "user", "Tell me a long story.", "complete")
    store.add_message(admin_id, chat_id, "assistant", "Once upon a time, far away,", "stopped", "offline-responder")
    store.add_message(admin_id, chat_id, "user", "Try again?", "complete")
    failed = store.add_message(admin_id, chat_id, "assistant", "", "error", "offline-responder")
    store.update_message(admin_id, failed.id, error="The model did not answer. Try again.")
    for title in ("Watercolour papers", "A trip to the coast", "Sourdough"):
        store.add_chat(admin_id, title, "offline-responder")
    archived = store.add_chat(admin_id, "Old plans", "offline-responder")
    store.add_message(admin_id, archived.id, "user", "Plans for the spring", "complete")
    store.organise_chat(admin_id, archived.id, archived=True)
    store.organise_chat(admin_id, store.chats(admin_id)[-1].id, pinned=True)
    folder = store.add_folder(admin_id, "Kitchen")
    store.organise_chat(admin_id, next(c.id for c in store.chats(admin_id) if c.title == "Sourdough"),
                        folder_id=folder.id)
    preset = store.add_preset(admin_id, "Haiku poet", "Answer in haiku.", "offline-responder",
                              Parameters(temperature=0.9, max_tokens=200))
    shared = store.add_share(admin_id, chat_id, "What is on this map?", store.messages(admin_id, chat_id), True)

    page.goto("/admin")
    page.get_by_role("button", name="New invitation link").click()
    page.locator(".session-list form").first.wait_for()

    User(server, "member@example.com").post("/chats", content="Hello from a member")
    User(server, "pending@example.com")
    User(server, "disabled@example.com")
    directory = SQLDirectory(store.engine, LocalFiles(server.log_path.parent / "files"))
    ids = {m.email: m.id for m in directory.members()}
    directory.set_status(ids["pending@example.com"], "pending")
    directory.set_status(ids["disabled@example.com"], "disabled")
    state = context.storage_state()
    context.close()
    return SimpleNamespace(state=state, chat_url=chat_url, member_id=ids["member@example.com"], preset_id=preset.id,
                           archived_id=archived.id, question_id=asked.id, share_token=shared.token,
                           rendered=_rendered_pages(server))


def _rendered_pages(server) -> dict[str, tuple[int, str]]:
    """Pages no visit reaches on this server (the database away, a rate limit reached, sign-up
    awaiting approval or email...): each rendered by the app, from the same templates and
    static files, for the case that shows it; served at an address of the server (RENDERED)."""
    from flask import render_template

    from chatbot import create_app
    from tests.conftest import make_config

    later = SimpleNamespace(message="Too many messages for now. Try again in 40 seconds.", retry_after=40)
    away = SimpleNamespace(message="The database is not answering. Try again in 30 seconds.", retry_after=30)
    app = create_app(make_config(server.log_path.parent / "rendered"))
    pages = {
        "awaiting-approval": (200, "auth/awaiting.html", {}),
        "check-your-email": (200, "auth/check_email.html", {"email": "new@example.com"}),
        "form-expired": (400, "errors/csrf.html", {"reason": "The form has expired. Reload the page and try again."}),
        "too-large": (413, "errors/too_large.html", {"limit": 10 * 2**20, "files": 5}),
        "too-many-requests": (429, "errors/too_many.html", {"error": later}),
        "database-away": (503, "errors/unavailable.html", {"error": away}),
        "message-not-sent": (503, "chat/unsent.html", {"chat": {"id": "00000000-0000-4000-8000-000000000000"},
                                                       "errors": {"content": f"Not sent: {away.message}"},
                                                       "draft": "Is the database back?"}),
    }
    with app.test_request_context("/", method="POST", data={"content": "Is the database back?"}):
        return {name: (status, render_template(template, **values)) for name, (status, template, values) in pages.items()}


RENDERED = "/rendered/"  # (no route of the app's)


def _png() -> bytes:
    """A small real image (a red square), so the attachment shows as a thumbnail."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\xdd\x33\x33" * 16 for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def as_loaded(page, device, javascript):
    """A page with nothing to open: checked as it loads."""
    yield "as loaded"


def with_errors(button):
    """A form as loaded, then sent empty: its errors beside the fields."""
    def states(page, device, javascript):
        yield "as loaded"
        page.get_by_role("button", name=button, exact=True).click()
        page.locator(".field-error").first.wait_for()
        yield "with errors"
    return states


def chat_states(page, device, javascript):
    """The chat page as loaded, then with each thing on it opened in turn."""
    if javascript:  # chat.js has added its Copy buttons and local times
        page.locator(".code-block .code-copy").first.wait_for()
    yield "as loaded"
    page.get_by_label("Attach files").set_input_files([
        {"name": "map.png", "mimeType": "image/png", "buffer": _png()},
        {"name": "a-rather-long-file-name-for-notes.txt", "mimeType": "text/plain", "buffer": b"fog"},
    ])
    if javascript:
        page.locator(".chips .chip").nth(1).wait_for()
    yield "files chosen"
    for tool in ("Edit title", "Settings"):
        page.get_by_label(tool, exact=True).click()
        yield f"{tool} open"
        page.get_by_label(tool, exact=True).click()
    if device == "phone":  # on a desktop the list is always shown
        page.get_by_role("button", name="Chats").click()
        page.locator(".chat-list a").first.wait_for()
        yield "chat list drawer open"
    page.get_by_role("button", name="Shortcuts").click()
    page.locator("#shortcuts").wait_for()
    yield "keyboard shortcuts open"


def import_states(page, device, javascript):
    """The import form, a file refused beside it, and a ChatGPT export previewed."""
    import json

    from tests.test_import_export import chatgpt_conversations

    yield "as loaded"
    for name, data, wait in (("notes.json", b'{"not": "a chat"}', ".field-error"),
                             ("conversations.json", json.dumps(chatgpt_conversations()).encode(), ".import-preview")):
        page.get_by_label("File to import").set_input_files([{"name": name, "mimeType": "application/json",
                                                               "buffer": data}])
        page.get_by_role("button", name="See what it holds").click()
        page.locator(wait).wait_for()
        yield "refused" if wait == ".field-error" else "previewed"


# Each page: who sees it, its address, and the states to check it in.
PAGES = {
    "log-in": ("anonymous", lambda s: "/login", with_errors("Log in")),
    "sign-up": ("anonymous", lambda s: "/signup", with_errors("Sign up")),
    "forgot-password": ("anonymous", lambda s: "/forgot", as_loaded),
    "new-chat": ("admin", lambda s: "/", as_loaded),
    "chat": ("admin", lambda s: s.chat_url, chat_states),
    "delete-chat": ("admin", lambda s: s.chat_url + "/delete", as_loaded),
    "new-chat-from-a-preset": ("admin", lambda s: f"/?preset={s.preset_id}", as_loaded),
    "presets": ("admin", lambda s: "/presets", as_loaded),
    "edit-preset": ("admin", lambda s: f"/presets/{s.preset_id}", as_loaded),
    "usage": ("admin", lambda s: "/account/usage", as_loaded),
    "search": ("admin", lambda s: "/search?q=map", as_loaded),
    "archive": ("admin", lambda s: "/archive", as_loaded),
    "folders": ("admin", lambda s: "/folders", as_loaded),
    "older-chats": ("admin", lambda s: "/chats/older", as_loaded),
    "archived-chat": ("admin", lambda s: f"/chats/{s.archived_id}", as_loaded),
    "account": ("admin", lambda s: "/account", as_loaded),
    "admin": ("admin", lambda s: "/admin", as_loaded),
    "admin-member": ("admin", lambda s: f"/admin/users/{s.member_id}", as_loaded),
    "admin-delete-member": ("admin", lambda s: f"/admin/users/{s.member_id}/delete", as_loaded),
    "not-found": ("admin", lambda s: "/chats/00000000-0000-4000-8000-000000000000", as_loaded),
    "edit-message": ("admin", lambda s: f"{s.chat_url}/messages/{s.question_id}/edit", as_loaded),
    "share-chat": ("admin", lambda s: f"{s.chat_url}/share", as_loaded),
    "share-links": ("admin", lambda s: "/shares", as_loaded),
    "shared-chat": ("anonymous", lambda s: f"/s/{s.share_token}", as_loaded),
    "import": ("admin", lambda s: "/import", import_states),
    "reset-link-invalid": ("anonymous", lambda s: "/reset/not-a-valid-token", as_loaded),
    "confirm-link-invalid": ("anonymous", lambda s: "/confirm/not-a-valid-token", as_loaded),
    **{name: ("anonymous", lambda s, name=name: RENDERED + name, as_loaded)
       for name in ("awaiting-approval", "check-your-email", "form-expired", "too-large", "too-many-requests",
                    "database-away", "message-not-sent")},
}
# Pages of plain forms load no script and have no <noscript>: without JavaScript they are the
# same page, so they run once, and the test checks that they still have none.
SCRIPTLESS = {"log-in", "sign-up", "forgot-password", "not-found", "shared-chat", "reset-link-invalid",
              "confirm-link-invalid",
              "awaiting-approval", "check-your-email", "form-expired", "too-large", "too-many-requests",
              "database-away", "message-not-sent"}
STATUS = {"not-found": 404, "reset-link-invalid": 400, "confirm-link-invalid": 400}
JAVASCRIPT = {True: "js", False: "nojs", None: "no-scripts"}
CASES = [pytest.param(name, scheme, device, javascript, id=f"{name}-{scheme}-{device}-{JAVASCRIPT[javascript]}")
         for name in PAGES for scheme in ("light", "dark") for device in ("desktop", "phone")
         for javascript in ((None,) if name in SCRIPTLESS else (True, False))]


NOSCRIPT_TAG = re.compile(r"</?noscript>")


def without_javascript(context) -> None:
    """Make ``context`` show pages as a browser without JavaScript does, yet still run axe.

    axe is JavaScript: in a context made with ``java_script_enabled=False`` even the promise
    that ``axe.run()`` returns never settles. So the pages' own scripts are not loaded, and the
    content of ``<noscript>`` (nojs.css, the notes) is unwrapped, as a browser without
    JavaScript would render it. test_pages_without_javascript_are_what_axe_checks holds this
    to a real JavaScript-less browser."""
    def handle(route):
        request = route.request
        if request.resource_type == "script":
            route.abort()
        elif request.resource_type == "document":
            response = route.fetch(max_redirects=0)
            route.fulfill(response=response, body=NOSCRIPT_TAG.sub("", response.text()))
        else:
            route.continue_()
    # Only what it changes: pages (the addresses outside /static/) and scripts.
    context.route(lambda url: "/static/" not in url or urlsplit(url).path.endswith(".js"), handle)


def new_context(chromium, server, site, who, scheme, device, javascript):  # noqa: F811
    phone = device == "phone"
    context = chromium.new_context(
        base_url=server.url, color_scheme=scheme, viewport=PHONE if phone else DESKTOP,
        is_mobile=phone, has_touch=phone, storage_state=site.state if who == "admin" else None)
    context.set_default_timeout(15000)
    if javascript is False:
        without_javascript(context)

    def rendered(route):
        status, html = site.rendered[urlsplit(route.request.url).path.removeprefix(RENDERED)]
        route.fulfill(status=status, body=html, content_type="text/html; charset=utf-8")
    context.route(f"**{RENDERED}*", rendered)
    return context


@functools.cache
def axe_source() -> str:
    return AXE.read_text()


def axe_violations(page) -> list[dict]:
    """axe's violations on the page as it is now. Injected through the DevTools protocol
    (``evaluate``), which the page's CSP does not govern: ``add_script_tag`` adds an inline
    script, which it refuses."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(axe_source())
    return page.evaluate("""tags => axe.run(document, {runOnly: {type: "tag", values: tags},
                                                        resultTypes: ["violations"]})
                                       .then(results => results.violations)""", AXE_TAGS)


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} {v['helpUrl']}")
        for node in v["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"  {' '.join(map(str, node['target']))}\n    {node['html'][:300]}\n    {summary[:400]}")
    return "\n".join(lines)


@pytest.mark.parametrize("name, scheme, device, javascript", CASES)
def test_every_page_has_no_serious_accessibility_violations(chromium, server, site, name, scheme, device,  # noqa: F811
                                                            javascript):
    """Checked in each of its states, all reported together, by rule, impact, element and its HTML."""
    who, address, states = PAGES[name]
    context = new_context(chromium, server, site, who, scheme, device, javascript)
    found = {}
    try:
        page = context.new_page()
        response = page.goto(address(site))
        expected = site.rendered[name][0] if address(site).startswith(RENDERED) else STATUS.get(name, 200)
        assert response.status == expected
        if javascript is None:
            assert page.locator("script, noscript").count() == 0, f"{name} has scripts now: check it without them"
        for state in states(page, device, javascript):
            found[state] = axe_violations(page)
    finally:
        context.close()
    serious = {state: [v for v in violations if v["impact"] in FAILING] for state, violations in found.items()}
    assert not any(serious.values()), "\n".join(
        f"{name}, {state} ({scheme}, {device}, {JAVASCRIPT[javascript]}):\n{describe(violations)}"
        for state, violations in serious.items() if violations)


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two computed colours, "rgb(r, g, b)"."""
    def luminance(colour):
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted([luminance(one), luminance(other)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_placeholders_are_as_readable_as_text(chromium, server, site, scheme):  # noqa: F811
    """axe does not check placeholder text; this does, against the field's background."""
    context = new_context(chromium, server, site, "admin", scheme, "desktop", javascript=True)
    try:
        page = context.new_page()
        page.goto(site.chat_url)
        fields = page.evaluate("""() => [...document.querySelectorAll("[placeholder]")].map(field => {
            let behind = field;
            const clear = (e) => /^(transparent|rgba\\(.*, 0\\))$/.test(getComputedStyle(e).backgroundColor);
            while (behind.parentElement && clear(behind)) behind = behind.parentElement;
            return [field.id, getComputedStyle(field, "::placeholder").color, getComputedStyle(behind).backgroundColor];
        })""")
    finally:
        context.close()
    assert {name for name, _, _ in fields} == {"content", "system_prompt"}
    for name, colour, background in fields:
        assert contrast(colour, background) >= 4.5, (name, colour, background)


def test_pages_without_javascript_are_what_axe_checks(chromium, server, site):  # noqa: F811
    """What a browser without JavaScript shows (its accessibility tree, nojs.css applied) is
    what the JavaScript-less cases above check."""
    real = chromium.new_context(base_url=server.url, java_script_enabled=False, storage_state=site.state)
    emulated = new_context(chromium, server, site, "admin", "light", "desktop", javascript=False)
    try:
        pages = real.new_page(), emulated.new_page()
        for page in pages:
            page.goto(site.chat_url)
        real_tree, emulated_tree = (page.locator("body").aria_snapshot() for page in pages)
        nojs_css = [page.locator(".messages").evaluate("e => getComputedStyle(e).flexDirection") for page in pages]
    finally:
        real.close()
        emulated.close()
    assert emulated_tree == real_tree
    assert nojs_css == ["column-reverse", "column-reverse"]


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    """A server whose offline replies take seconds to write, so that a page always sees one
    streaming, however busy the machine."""
    with embedded_server(tmp_path_factory.mktemp("slow"), OFFLINE_TOKEN_DELAY="0.25") as running:
        yield running


def test_a_streaming_reply_is_announced_politely_once_it_is_done(chromium, slow_server):  # noqa: F811
    context = chromium.new_context(base_url=slow_server.url)
    context.set_default_timeout(30000)
    try:
        page = context.new_page()
        sign_up(page, "reader@example.com")
        page.goto("/")
        page.get_by_label("Message").fill("Tell me about the history of lighthouses on rocky coasts")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**/chats/*")  # a chat of its own, its reply streaming
        # Seen in one step while tokens are arriving: the text is busy, nothing that receives
        # every token is a live region nor inside one (a screen reader would read the reply
        # word by word), and nothing is announced yet.
        seen = page.wait_for_function("""() => {
            const text = document.querySelector(".message.assistant.status-streaming .message-text");
            if (!text || !text.querySelector("span")) return null;
            const live = [];
            for (let e = text; e; e = e.parentElement) {
                if (e.hasAttribute("aria-live") || /^(status|log|alert|marquee|timer)$/.test(e.getAttribute("role")))
                    live.push(e.outerHTML.slice(0, 120));
            }
            for (const e of text.querySelectorAll("[aria-live], [role=status], [role=log], [role=alert]"))
                live.push(e.outerHTML.slice(0, 120));
            return {busy: text.getAttribute("aria-busy"), live,
                    said: document.getElementById("announcer").textContent};
        }""", polling=10).json_value()
        announcer = page.locator("#announcer")
        assert announcer.get_attribute("role") == "status"
        assert seen == {"busy": "true", "live": [], "said": ""}  # not announced while written...
        done = page.locator(".message.assistant.status-complete").last
        page.locator(".message.assistant.status-streaming").wait_for(state="detached")
        reply = done.locator(".message-text").inner_text().strip()
        page.wait_for_function("document.getElementById('announcer').textContent !== ''")
        assert announcer.inner_text() == "Reply: " + reply[:600]  # ...but whole, once it is done
        assert announcer.get_attribute("aria-live") in (None, "polite")
    finally:
        context.close()


def test_the_vendored_axe_core_is_the_published_file():
    readme = (VENDOR / "README.md").read_text()
    digest = re.search(r"sha256 `([0-9a-f]{64})`", readme).group(1)
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == digest
    assert axe_source().startswith("/*! axe v4.14.1")
    assert "Mozilla Public License" in (VENDOR / "axe-core-LICENSE.txt").read_text()
    assert all(tag in readme for tag in AXE_TAGS)
