"""The reference point: a plain relay, the way most chat servers stream.

One WebSocket per conversation; each message from it starts a typed streaming request
through the ``openai`` client (a pydantic object per chunk) and writes every token as its
own frame, then "[done]". No accounts, no database, no rendering, no coalescing: only
the per-token path. bench/run.py runs it (mode ``relay``) on the same core and gunicorn +
gevent settings as the app, so the app's figures can be read against it on any machine.

    OPENAI_BASE_URL=http://127.0.0.1:9100/v1 gunicorn -k gevent --chdir bench relay:app
"""
import os

import httpx2
import openai
from flask import Flask
from flask_sock import Sock

app = Flask(__name__)
sock = Sock(app)
client = openai.OpenAI(api_key="bench", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0,
                       http_client=openai.DefaultHttpxClient(
                           limits=httpx2.Limits(max_connections=10_000, max_keepalive_connections=1_000)))


@sock.route("/relay")
def relay(ws):
    while True:
        question = ws.receive()
        stream = client.chat.completions.create(model="bench", stream=True,
                                                messages=[{"role": "user", "content": question}])
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                ws.send(chunk.choices[0].delta.content)
        ws.send("[done]")
