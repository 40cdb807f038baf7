"""The package as people install it: a wheel built from this checkout, installed (not
editable) in a new virtualenv, serves its pages, static files and migrations through its
own ``chatbot`` command, from a folder that holds no source."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.servers import free_port

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the wheel, the virtualenv it is installed in)."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the sources: setuptools keeps a build/ folder in the tree, whose
    # leftovers (a module since removed) would go into the wheel.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "instance", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"))
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work), str(source)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = work.glob("chatbot-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", str(wheel)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    return wheel, venv


def test_the_wheel_holds_the_templates_static_files_and_migrations(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("chatbot/templates/chat/chat.html", "chatbot/templates/shares/read.html", "chatbot/static/app.css",
                   "chatbot/static/htmx-4.0.1.min.js", "chatbot/migrations/env.py",
                   "chatbot/migrations/versions/0013_shares_and_imports.py", "chatbot/gunicorn_conf.py",
                   "chatbot/accounts/common-passwords.txt.gz"):
        assert needed in names, needed
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "chatbot = chatbot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_an_installed_wheel_serves_pages_static_files_and_its_schema(installed, tmp_path):
    _, venv = installed
    chatbot = venv / "bin" / "chatbot"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "DATABASE_", "REDIS_"))}
    env.update(CHATBOT_ENV="development", INSTANCE_PATH=str(tmp_path / "instance"))
    port = free_port()
    server = subprocess.Popen([str(chatbot), "serve", "--port", str(port)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                login = requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "the installed server did not start"
                time.sleep(0.3)
        assert login.status_code == 200 and "Log in" in login.text
        stylesheet = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', login.text)[1]
        css = requests.get(f"http://127.0.0.1:{port}{stylesheet}", timeout=5)
        assert css.status_code == 200 and "immutable" in css.headers["Cache-Control"] and ".composer" in css.text
        client = requests.Session()  # sign up and chat: the migrations made every table
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"http://127.0.0.1:{port}/signup").text)[1]
        assert client.post(f"http://127.0.0.1:{port}/signup", data={
            "email": "wheel@example.com", "password": "correct horse", "csrf_token": token}).status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"http://127.0.0.1:{port}/").text)[1]
        page = client.post(f"http://127.0.0.1:{port}/chats", data={"content": "Hello, wheel", "csrf_token": token})
        assert page.status_code == 200 and "Hello, wheel" in page.text
    finally:
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert "Using worker: gevent" in output
    check = subprocess.run([str(chatbot), "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "schema revision 0013 (the newest)" in check.stdout
    # Nothing came from the checkout: the package is the installed one.
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import chatbot; print(chatbot.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True).stdout
    assert str(venv) in where and str(ROOT) not in where
