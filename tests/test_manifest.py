"""The app installs to a home screen: a web app manifest with icons of the sizes it declares,
linked from every page, in the colours of the light theme."""
from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import new_chat, require_service
from tests.servers import embedded_server
from tests.test_browser import CHROMIUM_ARGS

STATIC = Path(__file__).resolve().parent.parent / "chatbot" / "static"


def manifest() -> dict:
    return json.loads((STATIC / "manifest.webmanifest").read_text())


def png_header(path: Path) -> tuple[int, int, int]:
    """(width, height, colour type) from the PNG's IHDR chunk."""
    data = path.read_bytes()[:26]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, colour


def backgrounds() -> tuple[str, str]:
    """``--bg`` of app.css: the light theme's, then the dark one's."""
    light, dark = re.findall(r"--bg: (#[0-9a-f]{6})", (STATIC / "app.css").read_text())
    return light, dark


def test_the_manifest_has_what_an_install_needs():
    m = manifest()
    assert m["name"] == "Chatbot" and m["short_name"]
    assert (m["start_url"], m["scope"], m["display"]) == ("/", "/", "standalone")
    assert m["background_color"] == m["theme_color"] == backgrounds()[0]


def test_each_icon_exists_with_the_size_it_declares():
    icons = manifest()["icons"]
    declared = {(icon["sizes"], icon.get("purpose", "any")) for icon in icons}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= declared
    for icon in icons:
        assert icon["type"] == "image/png"
        width, height, colour = png_header(STATIC / icon["src"])  # resolved beside the manifest
        assert f"{width}x{height}" == icon["sizes"], icon["src"]
        if icon["purpose"] == "maskable":
            assert colour == 2, "a maskable icon fills its whole square: no transparency"


def test_every_page_links_the_manifest_icon_and_theme_colours(client, auth):
    light, dark = backgrounds()
    login = client.get("/login").text
    auth.signup()
    chat = client.get(f"/chats/{new_chat(client)}").text
    for html in (login, chat):
        assert re.search(r'<link rel="manifest" href="/static/manifest\.webmanifest\?v=[0-9a-f]{12}">', html)
        assert f'<meta name="theme-color" content="{light}" media="(prefers-color-scheme: light)">' in html
        assert f'<meta name="theme-color" content="{dark}" media="(prefers-color-scheme: dark)">' in html
        [touch] = re.findall(r'<link rel="apple-touch-icon" href="/static/([^"?]+)\?v=', html)
        assert png_header(STATIC / touch) == (180, 180, 2)  # iOS shows transparency as black


def test_the_manifest_and_its_icons_are_served_with_their_types(client):
    html = client.get("/login").text
    [url] = re.findall(r'<link rel="manifest" href="([^"]+)">', html)
    with client.get(url) as response:
        assert response.status_code == 200 and response.mimetype == "application/manifest+json"
        assert response.json["name"] == "Chatbot"
    for icon in manifest()["icons"]:
        with client.get(f"/static/{icon['src']}") as response:
            assert response.status_code == 200 and response.mimetype == "image/png"


@pytest.mark.browser
@pytest.mark.server
def test_chromium_finds_the_app_installable(tmp_path):
    """Chromium's own verdict: the manifest parses without errors and nothing stands in the
    way of installing (127.0.0.1 counts as a secure origin)."""
    executable = shutil.which("chromium")
    if not executable:
        require_service("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with embedded_server(tmp_path / "server") as server, sync_playwright() as playwright:
        # A profile on disk: an incognito one (Playwright's default) can never install.
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            page = context.new_page()
            page.goto(server.url + "/login")
            devtools = context.new_cdp_session(page)
            found = devtools.send("Page.getAppManifest")
            assert "/static/manifest.webmanifest?v=" in found["url"] and found["errors"] == []
            assert devtools.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
        finally:
            context.close()
