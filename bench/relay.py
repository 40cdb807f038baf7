"""Two reference points for the app's figures, each one WebSocket per conversation: a
message from it starts a streaming request to the model, the reply goes back as frames,
then "[done]". No accounts, no database, no rendering, no live channel.

- ``/relay``: the way most chat servers stream: a typed stream through the ``openai``
  client (a pydantic object per chunk) and a frame per token.
- ``/floor``: the app's own model reader (chatbot.models.openai_compatible: the raw
  response, parsed in bursts, read once per pacing window) and a frame per burst: what
  the app's per-reply path costs before it stores, renders or fans anything out.

bench/run.py runs it (modes ``relay`` and ``floor``) on the same core and gunicorn +
gevent settings as the app, so the app's figures can be read against both on any machine.

    OPENAI_BASE_URL=http://127.0.0.1:9100/v1 gunicorn -k gevent --chdir bench --pythonpath . relay:app
"""
import os

import httpx2
import openai
from flask import Flask
from flask_sock import Sock

from chatbot.models import Usage
from chatbot.models.openai_compatible import OpenAICompatible

app = Flask(__name__)
sock = Sock(app)
client = openai.OpenAI(api_key="bench", base_url=os.environ["OPENAI_BASE_URL"], max_retries=0,
                       http_client=openai.DefaultHttpxClient(
                           limits=httpx2.Limits(max_connections=10_000, max_keepalive_connections=1_000)))
model = OpenAICompatible(model="bench", api_key="bench", base_url=os.environ["OPENAI_BASE_URL"], timeout=60,
                         max_retries=0)


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


@sock.route("/floor")
def floor(ws):
    while True:
        question = ws.receive()
        for piece in model.stream([{"role": "user", "content": question}]):
            if not isinstance(piece, Usage):
                ws.send(piece)
        ws.send("[done]")
