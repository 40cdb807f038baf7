"""The WSGI application, as servers load it: ``chatbot.wsgi:app``."""
from chatbot import create_app

app = create_app()
