"""The WSGI application for ``gunicorn wsgi:app`` and ``flask --app wsgi`` from a checkout."""
from chatbot.wsgi import app  # noqa: F401
