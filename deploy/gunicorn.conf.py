# gunicorn's settings for `make run`, the Docker image and the tests' and benchmarks' servers
# (`gunicorn searchapp.wsgi --config deploy/gunicorn.conf.py --bind ...`); see
# docs/performance.md for the measurements behind them.
from __future__ import annotations

import os

# Each process loads its own copy of the model (2-3 GB), so one process with many threads, not
# many processes. Every forward pass runs on the process's one model thread; the request threads
# mostly wait: on the database, on clients, on URL fetches and on that model thread.
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
worker_class = "gthread"
# A thread is held for as long as its client takes to send the request: many threads keep a
# few slow clients from taking them all when nothing buffers in front (URL fetches may take at
# most EMBEDDINGS_FETCH_MAX_CONCURRENT of them). With the proxy of docker-compose.yml in front,
# bodies arrive whole and at once.
threads = int(os.environ.get("WEB_THREADS", "32"))
# The worker's heartbeat limit, not a request's: the first start may load a large model from a
# slow disk before the worker beats.
timeout = 300
