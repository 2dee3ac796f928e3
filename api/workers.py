"""``dihr serve`` with several worker processes.

Each worker opens its own listening socket on the same port with
``SO_REUSEPORT``, so that the kernel shares connections out between the
workers. (With one socket shared by every worker, as uvicorn's own supervisor
does, the worker that wakes first accepts every connection of a burst, and
keep-alive clients then all talk to one process.) The sockets are opened as
TCP explicitly, so that asyncio sets ``TCP_NODELAY`` on the connections (else
Nagle's algorithm delays every response by about 40 ms).

The supervisor restarts a worker that dies and stops them all on SIGINT or
SIGTERM.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from types import FrameType

__all__ = ["serve_workers", "listening_socket", "WorkerFailed"]

log = logging.getLogger("dihr.api")
_MIN_LIFE_S = 15.0


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


def _worker(host: str, port: int) -> None:  # runs in a worker process
    import uvicorn

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the supervisor decides; SIGTERM stops the server
    config = uvicorn.Config("api.app:create_app", factory=True, host=host, port=port, log_level="warning")
    uvicorn.Server(config).run(sockets=[listening_socket(host, port)])


def serve_workers(host: str, port: int, count: int) -> None:
    """Run ``count`` workers until SIGINT/SIGTERM (OSError: the port is taken)."""
    # Fail here rather than in every worker; a plain (unshared) socket also refuses
    # a port that another server, even another `dihr serve`, already listens on.
    listening_socket(host, port, shared=False).close()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    workers: list[tuple[multiprocessing.process.BaseProcess, float]] = []

    def start() -> tuple[multiprocessing.process.BaseProcess, float]:
        process = context.Process(target=_worker, args=(host, port), daemon=True)
        process.start()
        return process, time.monotonic()

    try:
        workers = [start() for _ in range(count)]
        while not stopping:
            time.sleep(0.2)
            for i, (process, started) in enumerate(workers):
                if process.is_alive() or stopping:
                    continue
                if time.monotonic() - started < _MIN_LIFE_S:  # it cannot start: restarting would loop
                    raise WorkerFailed(f"un processus web s'est arrêté au démarrage (code {process.exitcode}).")
                log.warning("worker %s ended (code %s): restarted", process.pid, process.exitcode)
                workers[i] = start()
    finally:
        workers_only = [process for process, _ in workers]
        for process in workers_only:
            if process.is_alive():
                process.terminate()
        for process in workers_only:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
