"""gunicorn.conf.py as it is, plus a file per worker once the worker has loaded its app.

bench/run.py starts the load only when every worker has written one: a worker still booting
when the load begins would leave the long-lived sockets to the others for the whole run.

    BENCH_READY_DIR=/tmp/ready gunicorn -c bench/gunicorn_bench.py wsgi:app
"""
import os
from pathlib import Path

_CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
exec(compile(_CONF.read_text(), str(_CONF), "exec"))  # noqa: S102 - the project's own settings
_app_post_worker_init = post_worker_init  # noqa: F821 - defined by gunicorn.conf.py


def post_worker_init(worker):
    _app_post_worker_init(worker)
    Path(os.environ["BENCH_READY_DIR"], str(worker.pid)).touch()
