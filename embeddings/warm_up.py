from __future__ import annotations

import logging
import threading

from embeddings.conf import WARM_UP

logger = logging.getLogger(__name__)

_started = threading.Event()
_starting = threading.Lock()


def warm_up_once_in_background(**signal_arguments: object) -> None:
    """Warm the model up in the background, once per process (EMBEDDINGS_WARM_UP): the
    embeddings app connects this to Django's request_started and django-tasks' task_started,
    so a web server and a worker warm up and a `migrate` does not."""
    if _first_warm_up():
        threading.Thread(target=_warm_up_unless_exiting, name="model-warm-up", daemon=True).start()


def warm_up_once() -> None:
    """Warm the model up now, unless this process has (EMBEDDINGS_WARM_UP): for a worker
    command, before it takes its first task, so that no job's lease waits on the load."""
    if _first_warm_up():
        _warm_up_unless_exiting()


def _first_warm_up() -> bool:
    if _started.is_set() or not WARM_UP.value():
        return False
    with _starting:
        if _started.is_set():
            return False
        _started.set()
        return True


def _warm_up_unless_exiting() -> None:
    from embeddings.engine.registry import warm_up

    try:
        warm_up()
    except RuntimeError as error:
        # Python stops its thread pools, the model thread's among them, when the process exits
        # (Ctrl-C on `make run`): a warm-up still running then has nothing left to warm.
        if "shutdown" not in str(error):
            raise
        logger.info("Warm-up stopped: the process is exiting")
