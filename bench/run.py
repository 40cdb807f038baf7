"""The streaming benchmark: the real gunicorn + gevent server against a loopback model stub.

    .venv/bin/python bench/run.py                      # 100, 500 and 1000 streams: every mode
    .venv/bin/python bench/run.py --streams 500 --modes ws

The server runs pinned to core 0 (one gevent worker); the stub and the load generator share
core 1. For each stream count it first measures the stub alone (the load generator reading
the stub directly), then the reference points of bench/relay.py (the plain relay: what a
machine like this one does the usual way; the floor: the app's model reader with nothing
else), then the same load through the app, and prints time to first token and per-token
lag, the overhead over the stub alone (p50, p99), aggregate tokens/s, errors, the worker's
peak memory and its CPU time per reply.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Benchmark users never log in (their sessions are minted below), so no password opens them.
PASSWORD_HASH = "!no-password"
USER_AGENT = "chatbot-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(core: int, *command: str) -> list[str]:
    return ["taskset", "-c", str(core), *command]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def seed(config: dict, users: int, chats_per_user: int = 1) -> list[dict]:
    """Signed-in sessions (cookie, CSRF token, user agent) and a fresh chat each, made
    directly in the store: signing up through the app would spend ~100 ms of argon2 per
    user first."""
    from flask import session
    from flask_login import login_user
    from flask_wtf.csrf import generate_csrf

    from chatbot import create_app
    from chatbot.backends import backends
    from chatbot.signin import SignedInUser

    app = create_app(config)
    store = backends(app).store
    serializer = app.session_interface.get_signing_serializer(app)
    sessions = []
    for n in range(users):
        email = f"bench{n}@example.com"
        user = store.user_by_email(email) or store.add_user(email, PASSWORD_HASH)
        chat = store.add_chat(user.id, "Benchmark", "bench")
        # Signed in as a browser is, for the client the load generator is: a session whose
        # identity (flask-login's hash of address and user agent) does not match is rewritten
        # on every request, which no real browser's is.
        with app.test_request_context(headers={"User-Agent": USER_AGENT}, environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            login_user(SignedInUser(user.id, email))
            csrf = generate_csrf()
            cookie = serializer.dumps(dict(session))
        sessions.append({"cookie": f"session={cookie}", "csrf": csrf, "chat": chat.id, "user_agent": USER_AGENT})
    return sessions


class Memory:
    """Samples the gunicorn worker's resident memory; keeps the peak."""

    def __init__(self, master_pid: int) -> None:
        self.master_pid, self.peak_kb, self.running = master_pid, 0, True
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while self.running:
            try:
                worker = subprocess.check_output(["pgrep", "-P", str(self.master_pid)]).split()[0].decode()
                for line in open(f"/proc/{worker}/status"):
                    if line.startswith("VmRSS:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (subprocess.CalledProcessError, OSError, IndexError):
                pass
            time.sleep(0.25)

    def reset(self) -> None:
        self.peak_kb = 0

    def cpu_seconds(self) -> float:
        """The worker's CPU time so far (user + system)."""
        try:
            worker = subprocess.check_output(["pgrep", "-P", str(self.master_pid)]).split()[0].decode()
            fields = open(f"/proc/{worker}/stat").read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (subprocess.CalledProcessError, OSError, IndexError):
            return 0.0


def load(mode: str, target: str, streams: int, args, sessions_file: str | None = None) -> dict:
    command = pinned(1, sys.executable, str(ROOT / "bench" / "load.py"), mode, "--target", target,
                     "--streams", str(streams), "--seconds", str(args.seconds), "--tokens", str(args.tokens),
                     "--delay", str(args.delay), "--ttft", str(args.ttft))
    if sessions_file:
        command += ["--sessions", sessions_file]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.seconds + 300)
    return json.loads(output.stdout.strip().splitlines()[-1])


def server_of(mode: str) -> str:
    return "relay" if mode in ("relay", "floor") else "app"


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def cpu_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="100,500,1000", help="comma-separated concurrent stream counts")
    parser.add_argument("--modes", default="relay,floor,ws,sse")
    parser.add_argument("--seconds", type=float, default=15, help="length of each run")
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--ttft", type=float, default=0.2, help="seconds to the first token")
    args = parser.parse_args()
    counts = [int(n) for n in args.streams.split(",")]
    modes = args.modes.split(",")

    workdir = Path(tempfile.mkdtemp(prefix="chatbot-bench-"))
    stub_port = free_port()
    config = {"CHATBOT_ENV": "development", "SECRET_KEY": "bench-secret", "INSTANCE_PATH": str(workdir),
              "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}", "OPENAI_API_KEY": "bench",
              "OPENAI_BASE_URL": f"http://127.0.0.1:{stub_port}/v1", "OPENAI_MODEL": "bench"}
    env = {**os.environ, **config, "WORKER_CONNECTIONS": "5000", "PYTHONUNBUFFERED": "1"}
    processes = []
    try:
        processes.append(subprocess.Popen(
            pinned(1, sys.executable, str(ROOT / "bench" / "stub.py"), "--port", str(stub_port),
                   "--tokens", str(args.tokens), "--delay", str(args.delay), "--ttft", str(args.ttft)),
            stdout=subprocess.DEVNULL))
        wait_for_port(stub_port)
        # The app serves "ws" and "sse"; bench/relay.py, the reference points "relay" and
        # "floor". Both the same way: gunicorn.conf.py, one gevent worker, on core 0 (each
        # idle while the other runs).
        servers, wanted = {}, {server_of(mode) for mode in modes}
        for name, module, directory in (("app", "wsgi:app", ROOT), ("relay", "relay:app", ROOT / "bench")):
            if name not in wanted:
                continue
            port = free_port()
            with open(workdir / f"{name}.log", "w") as log:
                server = subprocess.Popen(
                    pinned(0, sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                           "--workers", "1", "--bind", f"127.0.0.1:{port}", "--access-logfile", "/dev/null",
                           "--chdir", str(directory), "--pythonpath", str(ROOT), module),
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            processes.append(server)
            wait_for_port(port)
            servers[name] = (port, Memory(server.pid))

        print(f"stub: {args.tokens} tokens, {args.delay * 1000:.0f} ms apart, first after {args.ttft * 1000:.0f} ms;"
              f" runs of {args.seconds:.0f} s; server on core 0 (1 gevent worker), stub and load on core 1\n")
        header = (f"{'mode':<5} {'streams':>7} {'replies':>7} {'errors':>6} {'tok/s':>7} "
                  f"{'TTFT p50':>8} {'p99':>5} {'+p50':>5} {'+p99':>5} "
                  f"{'lag p50':>7} {'p99':>5} {'+p50':>5} {'+p99':>5} {'RSS MB':>6} {'CPU ms/reply':>12}")
        print(header + "\n" + "-" * len(header))
        for streams in counts:
            base = load("stub", f"127.0.0.1:{stub_port}", streams, args)
            rows = [("stub", base, None)]
            for mode in modes:
                port, memory = servers[server_of(mode)]
                sessions_file = None
                if server_of(mode) == "app":
                    sessions_file = workdir / f"sessions-{mode}-{streams}.json"
                    sessions_file.write_text(json.dumps(seed(config, streams)))
                memory.reset()
                cpu = memory.cpu_seconds()
                result = load(mode, f"127.0.0.1:{port}", streams, args, sessions_file and str(sessions_file))
                result["cpu_per_reply"] = (memory.cpu_seconds() - cpu) / max(result["replies"], 1)
                rows.append((mode, result, memory.peak_kb))
            for mode, r, peak in rows:
                over = (lambda key: None if mode == "stub" or r[key] is None or base[key] is None
                        else r[key] - base[key])
                print(f"{mode:<5} {streams:>7} {r['replies']:>7} {r['errors']:>6} {r['tokens_per_second']:>7.0f} "
                      f"{ms(r['ttft_p50']):>8} {ms(r['ttft_p99']):>5} {ms(over('ttft_p50')):>5} {ms(over('ttft_p99')):>5} "
                      f"{ms(r['lag_p50']):>7} {ms(r['lag_p99']):>5} {ms(over('lag_p50')):>5} {ms(over('lag_p99')):>5} "
                      f"{'-' if peak is None else f'{peak / 1024:.0f}':>6} "
                      f"{cpu_ms(r.get('cpu_per_reply')):>12}", flush=True)
                if r["first_errors"]:
                    print(f"      errors: {r['first_errors']}")
        for _, memory in servers.values():
            memory.running = False
        print("\nTTFT and lag in ms; '+' columns are the overhead over the stub alone at the same load;"
              " CPU ms/reply is the worker's CPU time over the run divided by the replies completed.")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
