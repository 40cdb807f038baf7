"""gunicorn's settings for this project, for ``gunicorn -c gunicorn.conf.py wsgi:app`` from a
checkout. They live in the package (chatbot/gunicorn_conf.py), which ``chatbot serve`` uses
from an installed wheel too."""
from chatbot.gunicorn_conf import *  # noqa: F401,F403 - settings and server hooks alike
