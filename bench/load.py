"""The load generator: N concurrent conversations, each sending a message as soon as the
previous reply is complete, for a fixed time. Prints one JSON line of measurements.

Modes: ``stub`` talks to the stub directly (the baseline), ``relay`` and ``floor`` to the
reference points in bench/relay.py, ``ws`` drives chat pages over the WebSocket, ``sse``
sends with htmx-style POSTs and reads each reply's event stream. ``idle`` opens a chat
page's WebSocket per session and holds them all open, sending nothing, until it is killed
(one JSON line once they are open): what an open chat tab costs the server.
Every reply is the stub's "t0 t1 ... tN-1"; a token's *lag* is how long after the stub's
schedule (send time + ttft + i * delay) it reached the client.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

TOKEN = re.compile(r"(?<![\w-])t(\d+)\b")
ATTRIBUTE = re.compile(r'value="[^"]*"')  # CSRF tokens in forms: never mistaken for text
SSE_URL = re.compile(r'hx-sse:connect="([^"]+)"')


class Results:
    def __init__(self) -> None:
        self.ttft: list[float] = []
        self.lag: list[float] = []
        self.tokens = 0
        self.replies = 0
        self.errors: list[str] = []


class Reply:
    """Collects token arrivals for one reply."""

    def __init__(self, args, results: Results) -> None:
        self.args, self.results = args, results
        self.sent = time.monotonic()
        self.seen: dict[int, float] = {}

    def feed(self, text: str) -> None:
        now = time.monotonic()
        for match in TOKEN.finditer(ATTRIBUTE.sub("", text)):
            index = int(match.group(1))
            if index < self.args.tokens:
                self.seen.setdefault(index, now)

    @property
    def complete(self) -> bool:
        return len(self.seen) == self.args.tokens

    def record(self) -> None:
        a, r = self.args, self.results
        if not self.complete:
            r.errors.append(f"reply had {len(self.seen)} of {a.tokens} tokens")
            return
        r.replies += 1
        r.tokens += len(self.seen)
        r.ttft.append(self.seen[0] - self.sent)
        r.lag.extend(self.seen[i] - (self.sent + a.ttft + i * a.delay) for i in range(1, a.tokens))


def stub_conversation(args, results: Results, _session: dict, deadline: float) -> None:
    host, port = args.target.split(":")
    body = json.dumps({"model": "bench", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    connection = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
    while time.monotonic() < deadline:
        reply = Reply(args, results)
        connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        while not reply.complete:
            line = response.readline()
            if not line:
                break
            reply.feed(line.decode())
        response.read()
        reply.record()


def chat_socket(args, session: dict):
    """The chat page's WebSocket, opened as the page's script opens it: the session's cookie
    and user agent, and the page's own origin."""
    url = f"ws://{args.target}/chats/{session['chat']}/live?since=1"
    return connect(url, additional_headers={"Cookie": session["cookie"]}, origin=f"http://{args.target}",
                   user_agent_header=session["user_agent"], open_timeout=args.timeout, max_size=None)


def ws_conversation(args, results: Results, session: dict, deadline: float) -> None:
    with chat_socket(args, session) as socket:
        while time.monotonic() < deadline:
            reply = Reply(args, results)
            socket.send(json.dumps({"type": "send", "content": "Benchmark question", "csrf_token": session["csrf"]}))
            while True:
                frame = socket.recv(timeout=args.timeout)
                if "beforeend:#t-" in frame or 'class="message assistant' in frame:
                    reply.feed(frame)
                if 'class="message assistant status-' in frame and "status-streaming" not in frame:
                    break  # the finished reply
            reply.record()


def relay_conversation(args, results: Results, _session: dict, deadline: float) -> None:
    with connect(f"ws://{args.target}/{args.mode}", open_timeout=args.timeout, max_size=None) as socket:
        while time.monotonic() < deadline:
            reply = Reply(args, results)
            socket.send("Benchmark question")
            while (frame := socket.recv(timeout=args.timeout)) != "[done]":
                reply.feed(frame)
            reply.record()


def sse_conversation(args, results: Results, session: dict, deadline: float) -> None:
    host, port = args.target.split(":")
    form = f"content=Benchmark+question&csrf_token={session['csrf']}"
    headers = {"Cookie": session["cookie"], "User-Agent": session["user_agent"], "HX-Request": "true",
               "Content-Type": "application/x-www-form-urlencoded"}
    while time.monotonic() < deadline:
        reply = Reply(args, results)
        # A new connection per send: a kept-alive one would sit idle past the server's
        # keep-alive timeout while the reply streams, and be closed under us.
        connection = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
        connection.request("POST", f"/chats/{session['chat']}/messages", form, headers)
        response = connection.getresponse()
        page = response.read().decode()
        connection.close()
        if response.status != 200:
            results.errors.append(f"send answered {response.status}")
            gevent.sleep(0.5)
            continue
        stream_url = SSE_URL.search(page).group(1).replace("&amp;", "&")
        events = http.client.HTTPConnection(host, int(port), timeout=args.timeout)
        events.request("GET", stream_url, headers={"Cookie": session["cookie"], "User-Agent": session["user_agent"],
                                                   "Accept": "text/event-stream"})
        stream = events.getresponse()
        finished = False  # the finished message has begun: read to the end of its event
        while True:
            line = stream.readline()
            if not line or (finished and line == b"\n"):
                break
            text = line.decode()
            reply.feed(text)
            finished = finished or "status-complete" in text or "status-error" in text
        events.close()
        reply.record()


def hold_idle(args, sessions: list[dict]) -> None:
    """Mode idle: a chat socket per session, all opened at once, then left open and silent
    until this process is killed; one JSON line says how many opened."""
    opened, errors = [], []

    def open_one(session: dict) -> None:
        try:
            opened.append(chat_socket(args, session))
        except Exception as error:  # noqa: BLE001 - every failure is counted
            errors.append(f"{type(error).__name__}: {error}")

    gevent.joinall([gevent.spawn(open_one, session) for session in sessions[:args.streams]])
    print(json.dumps({"mode": "idle", "opened": len(opened), "errors": len(errors),
                      "first_errors": sorted(set(errors))[:5]}), flush=True)
    while True:
        gevent.sleep(3600)  # the sockets' own tasks answer the server's pings meanwhile


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("stub", "relay", "floor", "ws", "sse", "idle"))
    parser.add_argument("--target", required=True, help="host:port")
    parser.add_argument("--sessions", help="JSON file of signed-in sessions (ws, sse)")
    parser.add_argument("--streams", type=int, default=100, help="conversations (idle: sockets)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    sessions = json.load(open(args.sessions)) if args.sessions else [{}] * args.streams
    if args.mode == "idle":
        hold_idle(args, sessions)
        return
    conversation = {"stub": stub_conversation, "relay": relay_conversation, "floor": relay_conversation,
                    "ws": ws_conversation, "sse": sse_conversation}[args.mode]
    results = Results()
    reply_time = args.ttft + args.tokens * args.delay
    start = time.monotonic()
    deadline = start + args.seconds

    def run(session: dict) -> None:
        gevent.sleep(random.uniform(0, reply_time))  # spread the starts: a steady load, not a stampede
        try:
            conversation(args, results, session, deadline)
        except Exception as error:  # noqa: BLE001 - every failure is counted, none stops the run
            results.errors.append(f"{type(error).__name__}: {error}")

    gevent.joinall([gevent.spawn(run, sessions[i]) for i in range(args.streams)])
    elapsed = time.monotonic() - start
    print(json.dumps({
        "mode": args.mode, "streams": args.streams, "replies": results.replies, "errors": len(results.errors),
        "first_errors": sorted(set(results.errors))[:5],
        "tokens_per_second": results.tokens / elapsed,
        "ttft_p50": percentile(results.ttft, 50), "ttft_p99": percentile(results.ttft, 99),
        "lag_p50": percentile(results.lag, 50), "lag_p99": percentile(results.lag, 99),
    }))


if __name__ == "__main__":
    main()
