"""``dihr serve`` with several worker processes.

Each worker opens its own listening socket on the same port with
``SO_REUSEPORT``, so that the kernel shares connections out between the
workers. (With one socket shared by every worker, as uvicorn's own supervisor
does, the worker that wakes first accepts every connection of a burst, and
keep-alive clients then all talk to one process.) The sockets are opened as
TCP explicitly, so that asyncio sets ``TCP_NODELAY`` on the connections (else
Nagle's algorithm delays every response by about 40 ms).

The supervisor stops them all on SIGINT or SIGTERM. One of the first workers
exiting with an error before it ever served (it cannot start: a bad setting, a
damaged store) stops the server with its error. Later, a worker that dies is restarted, again
and again, with a back-off that doubles while its replacements die young (up
to 30 s) and resets once one lives: the healthy workers keep serving.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from types import FrameType
from typing import Any

__all__ = ["serve_workers", "listening_socket", "WorkerFailed"]

log = logging.getLogger("dihr.api")
_MIN_LIFE_S = 15.0
_MAX_BACKOFF_S = 30.0


class WorkerFailed(RuntimeError):
    """A worker ended while starting (its own message says why)."""


def listening_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def uvicorn_options(settings: Any) -> dict[str, Any]:
    """What every server process tells uvicorn: forwarded headers believed only
    from ``DIHR_TRUSTED_PROXIES`` (none by default: uvicorn would otherwise trust
    127.0.0.1, so a client on the machine could claim any address), and idle
    connections closed after 5 s, and a request whose headers do not arrive
    whole within ``DIHR_HEADER_TIMEOUT_S`` (slowloris)."""
    from api.observability import log_config
    from api.protocol import with_header_timeout

    trusted = [p.strip() for p in str(settings.trusted_proxies or "").split(",") if p.strip()]
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or [],
        "timeout_keep_alive": 5,
        "log_config": log_config(),  # timestamped lines; the access log is dihr.access (route templates)
        "access_log": False,
        "http": with_header_timeout(settings.header_timeout_s),
    }


#: What a worker serves: the application factory of ``dihr serve``.
APP = "api.app:create_app"


def _worker(host: str, port: int, ready: Any, app: str = APP) -> None:  # runs in a worker process
    import threading

    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; SIGTERM stops the server
    from graph.settings import load_settings

    config = uvicorn.Config(app, factory=app == APP, host=host, port=port, **uvicorn_options(load_settings()))
    server = uvicorn.Server(config)

    def flag_when_serving() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    threading.Thread(target=flag_when_serving, daemon=True).start()
    server.run(sockets=[listening_socket(host, port)])


def serve_workers(host: str, port: int, count: int, app: str = APP) -> None:
    """Run ``count`` workers until SIGINT/SIGTERM (OSError: the port is taken).
    ``app``: another ASGI application to serve the same way ("module:attribute";
    the benchmark's HTTP peer, so that both are served alike)."""
    # Fail here rather than in every worker; a plain (unshared) socket also refuses
    # a port that another server, even another `dihr serve`, already listens on.
    listening_socket(host, port, shared=False).close()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers: list[tuple[multiprocessing.process.BaseProcess, float, Any]] = []

    def start() -> tuple[multiprocessing.process.BaseProcess, float, Any]:
        ready = context.Event()
        process = context.Process(target=_worker, args=(host, port, ready, app), daemon=True)
        process.start()
        return process, time.monotonic(), ready

    try:
        workers = [start() for _ in range(count)]
        first = [True] * count  # the slot still runs its first worker
        young_deaths = [0] * count  # per slot: replacements that died young in a row
        restart_at: list[float | None] = [None] * count
        while not stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for i, (process, started, ready) in enumerate(workers):
                if stopping:
                    break
                if process.is_alive():
                    if young_deaths[i] and now - started >= _MIN_LIFE_S:
                        young_deaths[i] = 0  # this one lives: the next death restarts at once
                    continue
                if restart_at[i] is None:
                    # One of the first workers ended by itself (an error code, not a signal: a
                    # kill is not its fault) before it ever served: the server cannot start.
                    if first[i] and not ready.is_set() and (process.exitcode or 0) > 0:
                        raise WorkerFailed(
                            f"un processus web s'est arrêté au démarrage (code {process.exitcode})."
                        )
                    young_deaths[i] = young_deaths[i] + 1 if now - started < _MIN_LIFE_S else 0
                    delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (young_deaths[i] - 1)) if young_deaths[i] else 0.0
                    restart_at[i] = now + delay
                    log.warning(
                        "worker %s ended (code %s): restarted in %.1f s", process.pid, process.exitcode, delay
                    )
                if now >= (restart_at[i] or 0.0):
                    restart_at[i], first[i] = None, False
                    workers[i] = start()
    finally:
        workers_only = [process for process, _started, _ready in workers]
        for process in workers_only:
            if process.is_alive():
                process.terminate()
        for process in workers_only:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
