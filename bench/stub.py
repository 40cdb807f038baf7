"""A lean OpenAI-compatible streaming stub for the benchmark (gevent, one process).

Every POST to /v1/chat/completions streams ``--tokens`` tokens ("t0 ", "t1 ", ...): the first
after ``--ttft`` seconds, then one every ``--delay`` seconds, on an absolute schedule so
that a late wake-up does not push the rest back. Then usage and [DONE].

    python bench/stub.py --port 9100 --tokens 50 --delay 0.02 --ttft 0.2
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import gevent  # noqa: E402
from gevent.server import StreamServer  # noqa: E402


def chunk(payload: dict | str) -> bytes:
    """One SSE event as one HTTP chunk."""
    data = f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode()
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--ttft", type=float, default=0.2)
    args = parser.parse_args()

    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench"}
    tokens = [chunk({**base, "choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}]})
              for i in range(args.tokens)]
    ending = (chunk({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
              + chunk({**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": args.tokens,
                                                          "total_tokens": 10 + args.tokens}})
              + chunk("[DONE]") + b"0\r\n\r\n")
    headers = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
               b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")

    def handle(sock, _address):
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                buffer = buffer[length:]
                started = time.monotonic()
                sock.sendall(headers)
                for i, token in enumerate(tokens):
                    wait = started + args.ttft + i * args.delay - time.monotonic()
                    if wait > 0:
                        gevent.sleep(wait)
                    sock.sendall(token)
                sock.sendall(ending)
        except OSError:
            pass
        finally:
            sock.close()

    server = StreamServer(("127.0.0.1", args.port), handle, backlog=4096)
    print(f"stub listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
