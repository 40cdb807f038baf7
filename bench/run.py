"""The streaming benchmark: the real gunicorn + gevent server against a loopback model stub.

    .venv/bin/python bench/run.py                      # 100, 500 and 1000 streams: every mode
    .venv/bin/python bench/run.py --streams 500 --modes ws
    .venv/bin/python bench/run.py --streams 200 --modes ws,sse --channels memory,redis,postgres --workers 1,2
    .venv/bin/python bench/run.py --sockets 1000        # memory per open, idle chat socket

With one worker the server runs pinned to core 0 and the stub and the load generator share
core 1; with as many workers as cores, the server takes every core and the rest run
anywhere beside it. For each stream count it first measures the stub alone (the load
generator reading the stub directly), then the reference points of bench/relay.py (the
plain relay: what a machine like this one does the usual way; the floor: the app's model
reader with nothing else), then the same load through the app on each live channel
(--channels) with each number of workers (--workers), and prints time to first token and
per-token lag, the overhead over the stub alone (p50, p99), aggregate tokens/s, errors, the
workers' peak memory and their CPU time per reply, and the CPU per reply of the channel's
own server (Redis, or PostgreSQL's backends for the run's database) beside it. A summary
compares the shared channels' CPU per reply with the in-process one's, and two workers'
with one's.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Benchmark users never log in (their sessions are minted below), so no password opens them.
PASSWORD_HASH = "!no-password"
USER_AGENT = "chatbot-bench"
CORES = sorted(os.sched_getaffinity(0))
REFERENCE_MODES = ("relay", "floor")  # bench/relay.py: one worker, no channel
APP_MODES = ("ws", "sse")
CHANNELS = ("memory", "redis", "postgres")
GOALS = {"redis": 0.15, "postgres": 0.30}  # the issue's: CPU per reply over the in-process channel's
WORKERS_GOAL = 1.15  # and two workers' CPU per reply over one's
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# Processes: where they run and what they use

def cores_text(cores: Iterable[int]) -> str:
    cores = sorted(cores)
    if len(cores) == 1:
        return f"core {cores[0]}"
    if cores == list(range(cores[0], cores[-1] + 1)):
        return f"cores {cores[0]}-{cores[-1]}"
    return "cores " + ",".join(map(str, cores))


@dataclass(frozen=True)
class Layout:
    """Where the server and the rig (stub, load generator, Redis) run. The server's workers
    get cores of their own while cores are left for the rig; otherwise the server gets every
    core and the rig runs beside it, taking some of the server's CPU."""

    server: tuple[int, ...]
    rig: tuple[int, ...]
    shared: bool

    @classmethod
    def for_workers(cls, workers: int) -> Layout:
        if workers < len(CORES):
            return cls(tuple(CORES[:workers]), tuple(CORES[workers:]), False)
        return cls(tuple(CORES), tuple(CORES), True)

    def describe(self) -> str:
        rig = "any core, shared with the server" if self.shared else cores_text(self.rig)
        return f"server on {cores_text(self.server)}; stub, load generator and Redis on {rig}"


def pinned(cores: Iterable[int], *command: str) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, cores)), *command]


def pin(pid: int, cores: Iterable[int]) -> None:
    """Move a running process, every thread of it, to these cores."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(thread), set(cores))


def children(pid: int) -> list[int]:
    """The processes a gunicorn master has forked: its workers."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN
        found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return [int(p) for p in found.split()]


def cpu_seconds(pid: int) -> float | None:
    """A process's CPU time so far (user + system), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Meter:
    """CPU time and peak memory of a set of processes that may change while it watches
    (a server's workers, the PostgreSQL backends of a database). ``start`` opens a window;
    a process there at the start counts from then, one that appears later from its birth,
    one that leaves with its last sample."""

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 0.25) -> None:
        self._pids, self._interval, self._lock = pids, interval, threading.Lock()
        self._stopped = threading.Event()
        self.start()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def start(self) -> None:
        with self._lock:
            self._base: dict[int, float] = {}
            self._last: dict[int, float] = {}
            self._peak_kb: dict[int, int] = {}
            self._sample(first=True)

    def _sample(self, first: bool = False) -> None:
        for pid in self._pids():
            cpu, kb = cpu_seconds(pid), rss_kb(pid)
            if cpu is None:
                continue
            self._base.setdefault(pid, cpu if first else 0.0)
            self._last[pid] = cpu
            self._peak_kb[pid] = max(self._peak_kb.get(pid, 0), kb or 0)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            with self._lock:
                self._sample()

    def cpu(self) -> dict[int, float]:
        """Each process's CPU seconds in the window so far."""
        with self._lock:
            self._sample()
            return {pid: self._last[pid] - self._base[pid] for pid in self._last}

    def peak_kb(self) -> int:
        """The sum of each process's peak resident memory in the window."""
        with self._lock:
            return sum(self._peak_kb.values())

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


# The servers

class Server:
    """gunicorn with this many gevent workers on the layout's server cores, the app's
    settings (gunicorn.conf.py) and a meter on its workers; ready once every worker has
    loaded the app."""

    def __init__(self, module: str, directory: Path, workers: int, layout: Layout, env: dict,
                 workdir: Path) -> None:
        self.port = free_port()
        ready = Path(tempfile.mkdtemp(prefix="ready-", dir=workdir))
        self.log_path = workdir / f"server-{self.port}.log"
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                pinned(layout.server, sys.executable, "-m", "gunicorn", "-c", str(ROOT / "bench" / "gunicorn_bench.py"),
                       "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}", "--access-logfile", "/dev/null",
                       "--chdir", str(directory), "--pythonpath", str(ROOT), module),
                cwd=ROOT, env={**env, "BENCH_READY_DIR": str(ready)}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: self._alive() and len(os.listdir(ready)) >= workers, f"{workers} workers", 60)
            wait_until(lambda: listening(self.port), f"the server on port {self.port}")
        except Exception:
            self.stop()
            raise
        self.meter = Meter(lambda: children(self.process.pid))

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{self.log_path.read_text()[-3000:]}")
        return True

    def worker(self) -> int:
        return children(self.process.pid)[0]

    def stop(self) -> None:
        if getattr(self, "meter", None):
            self.meter.stop()
        self.process.send_signal(signal.SIGQUIT)  # quick shutdown: no run is left to finish
        self.process.wait(timeout=60)


class Postgres:
    """A fresh database on the machine's PostgreSQL for the run (the postgres channel's and
    the store's), dropped at the end, and the backends serving it, whose CPU is measured."""

    def __init__(self, admin_url: str) -> None:
        import psycopg
        from psycopg import sql

        self._sql = sql
        try:
            self._admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as error:
            raise SystemExit(f"PostgreSQL does not answer at {admin_url} ({error}); leave postgres out of --channels")
        self.name = f"chatbot_bench_{uuid.uuid4().hex[:12]}"
        self._admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        self.url = admin_url.rsplit("/", 1)[0] + "/" + self.name
        self._lock = threading.Lock()

    def backends(self) -> list[int]:
        with self._lock:
            rows = self._admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.name,))
            return [pid for (pid,) in rows.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._admin.execute(self._sql.SQL("DROP DATABASE {} WITH (FORCE)").format(self._sql.Identifier(self.name)))
            self._admin.close()


def redis_server():
    from tests.redis_server import RedisServer

    if not RedisServer.available():
        raise SystemExit("redis-server is not installed; leave redis out of --channels")
    return RedisServer()


# Each stream is a user of its own, sending its next message as soon as a reply ends: about
# one a second, past the default of 20 a minute. The limits stay on, at amounts that let that
# through, so that what they cost is measured with the rest (an unlimited moving window would
# keep every hit of the minute and cost what no real setting does).
BENCH_LIMITS = {"SEND_LIMIT_PER_USER": "120 per minute"}


# The load

def seed(config: dict, users: int, chats_per_user: int = 1) -> list[dict]:
    """Signed-in sessions (cookie, CSRF token, user agent) and a fresh chat each, made
    directly in the store: signing up through the app would spend ~100 ms of argon2 per
    user first."""
    from flask import session
    from flask_login import login_user
    from flask_wtf.csrf import generate_csrf

    from chatbot import create_app
    from chatbot.accounts.sessions import begin, hash_token
    from chatbot.backends import backends, settings
    from chatbot.signin import SignedInUser

    app = create_app({**config, "LIVE_CHANNEL": "memory"})  # the store only: no channel of the server's
    store, records, policy = backends(app).store, backends(app).sessions, settings(app).session_policy
    sessions = []
    for n in range(users):
        email = f"bench{n}@example.com"
        user = store.user_by_email(email) or store.add_user(email, PASSWORD_HASH)
        chat = store.add_chat(user.id, "Benchmark", "bench")
        # Signed in as a browser is, for the client the load generator is: a session whose
        # identity (flask-login's hash of address and user agent) does not match is rewritten
        # on every request, which no real browser's is.
        with app.test_request_context(headers={"User-Agent": USER_AGENT}, environ_base={"REMOTE_ADDR": "127.0.0.1"}):
            begin(session, records, user.id, remember=False, policy=policy, user_agent=USER_AGENT,
                  address="127.0.0.1")
            login_user(SignedInUser(user.id, email))
            csrf = generate_csrf()
            records.save(hash_token(session.token), dict(session), idle=policy.idle)
            cookie = session.token
        sessions.append({"cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}", "csrf": csrf, "chat": chat.id, "user_agent": USER_AGENT})
    store.engine.dispose()  # no idle connections of ours among the database's backends
    return sessions


def load_command(mode: str, port: int, streams: int, args, layout: Layout, sessions_file: Path | None,
                 seconds: float | None = None) -> list[str]:
    command = pinned(layout.rig, sys.executable, str(ROOT / "bench" / "load.py"), mode, "--target",
                     f"127.0.0.1:{port}", "--streams", str(streams), "--seconds", str(seconds or args.seconds),
                     "--tokens", str(args.tokens), "--delay", str(args.delay), "--ttft", str(args.ttft))
    return command + (["--sessions", str(sessions_file)] if sessions_file else [])


def load(mode: str, port: int, streams: int, args, layout: Layout, sessions_file: Path | None = None,
         seconds: float | None = None) -> dict:
    output = subprocess.run(load_command(mode, port, streams, args, layout, sessions_file, seconds),
                            capture_output=True, text=True, check=True, timeout=args.seconds + 300)
    return json.loads(output.stdout.strip().splitlines()[-1])


# The runs

@dataclass(frozen=True)
class Section:
    """One server the modes run against: the reference relay, or the app on a live channel
    with some workers."""

    modes: tuple[str, ...]
    channel: str | None  # None: bench/relay.py
    workers: int = 1


@dataclass
class Row:
    mode: str
    channel: str
    workers: str
    streams: int
    result: dict
    rss_kb: int | None = None
    cpu: dict[int, float] = field(default_factory=dict)  # CPU seconds per worker
    service_cpu: float | None = None  # Redis's or the database's backends'

    def per_reply(self, seconds: float | None) -> float | None:
        return None if seconds is None else seconds / max(self.result["replies"], 1)

    @property
    def cpu_per_reply(self) -> float | None:
        return self.per_reply(sum(self.cpu.values())) if self.cpu else None

    @property
    def service_per_reply(self) -> float | None:
        return self.per_reply(self.service_cpu)

    @property
    def total_per_reply(self) -> float | None:
        """The server's CPU per reply and the channel's server's (Redis, PostgreSQL) with it."""
        cpu = self.cpu_per_reply
        return None if cpu is None else cpu + (self.service_per_reply or 0)


class Bench:
    """The run's shared parts: the stub, the services, the seeded configuration, the
    baselines measured so far."""

    def __init__(self, args, workdir: Path, stack: ExitStack) -> None:
        self.args, self.workdir = args, workdir
        stub_port = free_port()
        self.config = {"CHATBOT_ENV": "development", "SECRET_KEY": "bench-secret", "INSTANCE_PATH": str(workdir),
                       "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}", "OPENAI_API_KEY": "bench",
                       "OPENAI_BASE_URL": f"http://127.0.0.1:{stub_port}/v1", "OPENAI_MODEL": "bench",
                       # The benchmark measures the server at saturation, not its limits: each of
                       # its users sends far faster than any person is let.
                       **BENCH_LIMITS}
        self.env = {**os.environ, **self.config, "WORKER_CONNECTIONS": "5000", "PYTHONUNBUFFERED": "1"}
        self.stub = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "stub.py"), "--port", str(stub_port), "--tokens", str(args.tokens),
             "--delay", str(args.delay), "--ttft", str(args.ttft)], stdout=subprocess.DEVNULL)
        stack.callback(stop, self.stub)
        self.stub_port = stub_port
        wait_until(lambda: listening(stub_port), "the stub")
        self.redis = self.postgres = None
        if "redis" in args.channels:
            self.redis = stack.enter_context(redis_server())
        if "postgres" in args.channels or args.store == "postgres":
            self.postgres = Postgres(args.postgres)
            stack.callback(self.postgres.close)
            if args.store == "postgres":  # every run's store: a channel's cost is then the channel's alone
                self.config["DATABASE_URL"] = self.postgres.url
                self.env["DATABASE_URL"] = self.postgres.url
        self.baselines: dict[tuple, dict] = {}

    def channel_settings(self, channel: str) -> dict[str, str]:
        """The app's settings for a channel (its store is --store's, whatever the channel)."""
        if channel == "redis":
            return {"LIVE_CHANNEL": "redis", "REDIS_URL": self.redis.url}
        if channel == "postgres":
            return {"LIVE_CHANNEL": "postgres", "LIVE_POSTGRES_URL": self.postgres.url}
        return {"LIVE_CHANNEL": "memory"}

    def service(self, channel: str | None) -> Meter | None:
        if channel == "redis":
            return Meter(lambda: [self.redis.process.pid])
        if channel == "postgres":
            return Meter(self.postgres.backends)
        return None

    def place_rig(self, layout: Layout) -> None:
        pin(self.stub.pid, layout.rig)
        if self.redis:
            pin(self.redis.process.pid, layout.rig)

    def baseline(self, streams: int, layout: Layout) -> tuple[dict, bool]:
        """The stub alone at this load and layout, and whether it was measured just now."""
        key = (streams, layout)
        fresh = key not in self.baselines
        if fresh:
            self.baselines[key] = load("stub", self.stub_port, streams, self.args, layout)
        return self.baselines[key], fresh

    def sessions(self, section: Section, config: dict, streams: int) -> Path | None:
        """A file of fresh signed-in sessions for the app's modes (none for the relay's)."""
        if section.channel is None:
            return None
        sessions_file = self.workdir / f"sessions-{uuid.uuid4().hex[:8]}.json"
        sessions_file.write_text(json.dumps(seed(config, streams)))
        return sessions_file

    def warm_up(self, section: Section, server: Server, config: dict, layout: Layout) -> None:
        """Each mode briefly, unmeasured, with a few streams per worker: a fresh server's first
        requests pay for imports, compiled templates and warmed caches, once per worker."""
        if self.args.warmup <= 0:
            return
        streams = 4 * section.workers
        for mode in section.modes:
            load(mode, server.port, streams, self.args, layout, self.sessions(section, config, streams),
                 self.args.warmup)

    def run(self, section: Section, streams: int) -> Iterator[Row]:
        """The section's rows at this load, the stub's first when it was measured for it."""
        layout = Layout.for_workers(section.workers)
        self.place_rig(layout)
        base, fresh = self.baseline(streams, layout)
        if fresh:
            yield Row("stub", "-", "-", streams, base)
        if section.channel is None:
            server = Server("relay:app", ROOT / "bench", 1, layout, self.env, self.workdir)
            config = self.config
        else:
            settings = self.channel_settings(section.channel)
            server = Server("wsgi:app", ROOT, section.workers, layout, {**self.env, **settings}, self.workdir)
            config = self.config
        service = self.service(section.channel)
        try:
            self.warm_up(section, server, config, layout)
            for mode in section.modes:
                sessions_file = self.sessions(section, config, streams)
                server.meter.start()
                if service:
                    service.start()
                result = load(mode, server.port, streams, self.args, layout, sessions_file)
                yield Row(mode, section.channel or "-", str(section.workers), streams, result,
                          server.meter.peak_kb(), server.meter.cpu(), service and sum(service.cpu().values()))
        finally:
            if service:
                service.stop()
            server.stop()


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


# The output

def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def cpu_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f}"


HEADER = (f"{'mode':<5} {'channel':<8} {'w':>1} {'streams':>7} {'replies':>7} {'errors':>6} {'tok/s':>7} "
          f"{'TTFT p50':>8} {'p99':>5} {'+p50':>5} {'+p99':>5} {'lag p50':>7} {'p99':>5} {'+p50':>5} {'+p99':>5} "
          f"{'RSS MB':>6} {'CPU ms/reply':>12} {'svc ms/reply':>12}")


def print_row(row: Row, base: dict) -> None:
    r = row.result

    def over(key: str) -> float | None:
        return None if row.mode == "stub" or r[key] is None or base[key] is None else r[key] - base[key]

    rss = "-" if row.rss_kb is None else f"{row.rss_kb / 1024:.0f}"
    print(f"{row.mode:<5} {row.channel:<8} {row.workers:>1} {row.streams:>7} {r['replies']:>7} {r['errors']:>6} "
          f"{r['tokens_per_second']:>7.0f} {ms(r['ttft_p50']):>8} {ms(r['ttft_p99']):>5} {ms(over('ttft_p50')):>5} "
          f"{ms(over('ttft_p99')):>5} {ms(r['lag_p50']):>7} {ms(r['lag_p99']):>5} {ms(over('lag_p50')):>5} "
          f"{ms(over('lag_p99')):>5} {rss:>6} {cpu_ms(row.cpu_per_reply):>12} {cpu_ms(row.service_per_reply):>12}",
          flush=True)
    if r["first_errors"]:
        print(f"      errors: {r['first_errors']}")


def relative(value: float | None, reference: float | None) -> str:
    return "-" if value is None or not reference else f"{(value / reference - 1) * 100:+.1f} %"


def ratio(value: float | None, reference: float | None) -> str:
    return "-" if value is None or not reference else f"{value / reference:.2f}x"


def split(row: Row | None) -> str:
    """Each worker's share of the server's CPU: an uneven one means the workers did not
    share the connections evenly."""
    total = sum(row.cpu.values()) if row else 0
    return "/".join(f"{100 * s / total:.0f}" for s in sorted(row.cpu.values(), reverse=True)) if total else "-"


def print_summary(rows: list[Row], workers: list[int]) -> None:
    """CPU per reply of each channel against the in-process channel at one worker, and of
    more workers against one on the same channel: the issue's goals."""
    app = {(r.mode, r.channel, int(r.workers), r.streams): r for r in rows if r.mode in APP_MODES}
    if not app:
        return
    more = [w for w in workers if w != 1]
    goals = ", ".join(f"{channel} <= +{goal * 100:.0f} %" for channel, goal in GOALS.items())
    print(f"\nShared channels: the server's CPU per reply (all its workers; Redis and PostgreSQL not counted)"
          f" against the memory channel's at 1 worker, and N workers' against 1 worker's on the same channel.\n"
          f"Goals: {goals}; 2 workers <= {WORKERS_GOAL:.2f}x. 'with svc': with the CPU of redis-server or of the"
          f" database's backends added to the channel's. 'split': each worker's share of the server's CPU.")
    header = f"{'mode':<5} {'streams':>7} {'channel':<8} {'1w ms':>7} {'vs memory':>10} {'with svc':>9}"
    for w in more:
        header += f" {f'{w}w ms':>7} {f'{w}w/1w':>7} {'with svc':>9} {'split':>8}"
    print(header + "\n" + "-" * len(header))
    for mode, streams in dict.fromkeys((m, s) for m, _, _, s in app):
        memory = app.get((mode, "memory", 1, streams))
        for channel in CHANNELS:
            one, others = app.get((mode, channel, 1, streams)), [app.get((mode, channel, w, streams)) for w in more]
            if one or any(others):
                print(f"{mode:<5} {streams:>7} {channel:<8} {against_memory(one, memory)}"
                      + "".join(against_one(row, one) for row in others))


def against_memory(one: Row | None, memory: Row | None) -> str:
    cpu, reference = one and one.cpu_per_reply, memory and memory.cpu_per_reply
    if one is memory:
        return f"{cpu_ms(cpu):>7} {'-':>10} {'-':>9}"
    return (f"{cpu_ms(cpu):>7} {relative(cpu, reference):>10} "
            f"{relative(one.total_per_reply, reference) if one and one.service_cpu is not None else '-':>9}")


def against_one(row: Row | None, one: Row | None) -> str:
    cpu = row and row.cpu_per_reply
    with_service = row and row.service_cpu is not None and one and ratio(row.total_per_reply, one.total_per_reply)
    return (f" {cpu_ms(cpu):>7} {ratio(cpu, one and one.cpu_per_reply):>7} {with_service or '-':>9}"
            f" {split(row):>8}")


def run_streams(args, workdir: Path) -> None:
    with ExitStack() as stack:
        bench = Bench(args, workdir, stack)
        sections = []
        reference = tuple(m for m in args.modes if m in REFERENCE_MODES)
        if reference:
            sections.append(Section(reference, None))
        app_modes = tuple(m for m in args.modes if m in APP_MODES)
        skipped = []
        for channel in args.channels if app_modes else ():
            for workers in args.workers:
                if channel == "memory" and workers > 1:
                    skipped.append(workers)  # gunicorn.conf.py refuses it: views in one process only
                    continue
                sections.append(Section(app_modes, channel, workers))

        print(f"stub: {args.tokens} tokens, {args.delay * 1000:.0f} ms apart, first after {args.ttft * 1000:.0f} ms;"
              f" runs of {args.seconds:.0f} s")
        for workers in sorted({s.workers for s in sections}):
            print(f"{workers} gevent worker{'s' if workers > 1 else ''}: {Layout.for_workers(workers).describe()}")
        if skipped:
            print(f"memory channel: 1 worker only (it cannot be shared between processes); "
                  f"no run with {', '.join(map(str, skipped))} workers")
        store = "SQLite" if args.store == "sqlite" else f"the fresh PostgreSQL database {bench.postgres.name}"
        if bench.postgres:
            store += (f"; the postgres channel's tables are in {bench.postgres.name}, and its backends run on any"
                      f" core (their CPU is 'svc')")
        print(f"store: {store}\n")
        print(HEADER + "\n" + "-" * len(HEADER))
        rows = []
        for streams in args.streams:
            for section in sections:
                with closing(bench.run(section, streams)) as section_rows:  # its server stops on any exit
                    for row in section_rows:
                        rows.append(row)
                        print_row(row, bench.baseline(streams, Layout.for_workers(section.workers))[0])
            print()
        print("TTFT and lag in ms; '+' columns are the overhead over the stub alone at the same load and layout;"
              " w: gunicorn workers; RSS MB: the sum of the workers' peaks; CPU ms/reply: the CPU time of all the"
              " server's workers over the run divided by the replies completed; svc ms/reply: the same for"
              " redis-server or the PostgreSQL backends of the run's database (their own background"
              " processes not counted).")
        print_summary(rows, args.workers)


# Memory per open chat socket

@contextmanager
def idle_sockets(args, port: int, count: int, layout: Layout, sessions_file: Path) -> Iterator[dict]:
    """``count`` chat sockets held open and idle by the load generator while the block runs."""
    process = subprocess.Popen(load_command("idle", port, count, args, layout, sessions_file),
                               stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([process.stdout], [], [], 300)
        line = process.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError("the load generator did not open its sockets")
        yield json.loads(line)
    finally:
        stop(process)


def settled_rss(pid: int, quiet: float = 2.0, tolerance_kb: int = 256, timeout: float = 120) -> int:
    """A process's resident memory once it has stopped growing: no more than ``tolerance_kb``
    over ``quiet`` seconds."""
    samples: deque[tuple[float, int]] = deque()
    start = time.monotonic()
    while True:
        now, kb = time.monotonic(), rss_kb(pid)
        if kb is None:
            raise RuntimeError(f"process {pid} is gone")
        samples.append((now, kb))
        while len(samples) > 1 and samples[1][0] <= now - quiet:
            samples.popleft()
        if samples[0][0] <= now - quiet and max(k for _, k in samples) - samples[0][1] <= tolerance_kb:
            return kb
        if now - start > timeout:
            raise RuntimeError(f"the memory of process {pid} kept growing for {timeout:.0f} s")
        time.sleep(0.1)


def run_sockets(args, workdir: Path) -> None:
    """Memory per open chat socket: one worker on the memory channel, its settled memory
    with a few sockets opened and closed (so first-use costs are paid), then with N idle ones."""
    with ExitStack() as stack:
        args.channels = ["memory"]
        bench = Bench(args, workdir, stack)
        layout = Layout.for_workers(1)
        bench.place_rig(layout)
        print(f"idle chat sockets: {args.sockets}, each a signed-in session on its own chat; memory channel, SQLite,"
              f" 1 gevent worker; {layout.describe()}")
        server = Server("wsgi:app", ROOT, 1, layout, {**bench.env, "LIVE_CHANNEL": "memory"}, workdir)
        stack.callback(server.stop)
        sessions_file = workdir / "sessions-idle.json"
        sessions_file.write_text(json.dumps(seed(bench.config, args.sockets)))
        worker = server.worker()
        with idle_sockets(args, server.port, min(args.sockets, 10), layout, sessions_file):
            settled_rss(worker)
        before = settled_rss(worker)
        with idle_sockets(args, server.port, args.sockets, layout, sessions_file) as opened:
            after = settled_rss(worker)
        print(f"opened {opened['opened']} ({opened['errors']} failed); worker RSS {before / 1024:.1f} MB before,"
              f" {after / 1024:.1f} MB after: {(after - before) / max(opened['opened'], 1):.1f} kB per socket")
        if opened["first_errors"]:
            print(f"      errors: {opened['first_errors']}")


def comma_list(kind: type, choices: Iterable | None = None) -> Callable[[str], list]:
    def parse(text: str) -> list:
        values = [kind(v) for v in text.split(",") if v]
        if choices is not None and (bad := [v for v in values if v not in choices]):
            raise argparse.ArgumentTypeError(f"not one of {', '.join(map(str, choices))}: {bad}")
        return values
    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=comma_list(int), default=[100, 500, 1000],
                        help="comma-separated concurrent stream counts")
    parser.add_argument("--modes", type=comma_list(str, REFERENCE_MODES + APP_MODES),
                        default=list(REFERENCE_MODES + APP_MODES))
    parser.add_argument("--channels", type=comma_list(str, CHANNELS), default=["memory"],
                        help="live channels the app runs on (ws, sse): memory, redis, postgres")
    parser.add_argument("--workers", type=comma_list(int), default=[1],
                        help="gunicorn worker counts the app runs with (more than 1 on shared channels only)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="the app's database for every run: SQLite, or a fresh PostgreSQL database")
    parser.add_argument("--sockets", type=int, default=0,
                        help="instead of streaming: memory per open, idle chat socket, with this many")
    parser.add_argument("--seconds", type=float, default=15, help="length of each run")
    parser.add_argument("--warmup", type=float, default=2,
                        help="seconds of unmeasured load on each fresh server first, per mode (0: none)")
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument("--ttft", type=float, default=0.2, help="seconds to the first token")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", POSTGRES_ADMIN),
                        help="a PostgreSQL server to make the run's database in (env BENCH_POSTGRES_URL)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="chatbot-bench-"))
    (run_sockets if args.sockets else run_streams)(args, workdir)


if __name__ == "__main__":
    main()
