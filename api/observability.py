"""What an operator reads of a running service: structured logs with
timestamps, an access log, and Prometheus metrics (``/metrics``).

- **Logs**: one line per event, ``2026-12-05T09:12:03.412Z INFO dihr.api …``
  (UTC, ISO 8601), on standard error (``log_config``), for uvicorn's loggers too.
- **Access log** (logger ``dihr.access``): method, the *route template*
  (``/situations/{key}``, never the path itself: a situation's pseudonym, a
  commune or a key never reaches the log), status, duration, the client's
  address (after ``DIHR_TRUSTED_PROXIES``). No query string, no header.
- **Metrics** (``prometheus_client``, the Prometheus project's own library):
  requests by route, method and status; latency histograms by route; the read
  model's revision; journalled import runs by source and status. With several
  worker processes, each writes its figures in ``PROMETHEUS_MULTIPROC_DIR``
  (set by ``dihr serve``) and ``/metrics`` adds them up. ``/metrics`` answers
  clients of ``DIHR_METRICS_ALLOW`` only (loopback by default).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = [
    "REQUESTS",
    "LATENCY",
    "REVISION",
    "record_request",
    "log_config",
    "metrics_body",
    "metrics_allowed",
    "route_of",
]

access_log = logging.getLogger("dihr.access")

REQUESTS = Counter(
    "dihr_requests_total",
    "Requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "dihr_request_duration_seconds",
    "Time to answer a request, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REVISION = Gauge(
    "dihr_read_model_revision", "The store revision the read model answers from.", multiprocess_mode="max"
)
#: Routes not matched (404, a scanner's probes): one label, not one per path.
UNMATCHED = "(aucune)"


def route_of(scope: dict[str, Any]) -> str:
    """The route template of a request once routed (FastAPI puts the route in
    the scope), a mount's prefix for static files, else UNMATCHED."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template:
        return str(template)
    path = str(scope.get("path", ""))
    if path.rstrip("/") == "/graphql":  # strawberry's router: a plain route, not in the scope
        return "/graphql"
    for prefix in ("/static/", "/vendor/"):
        if path.startswith(prefix):
            return prefix + "…"
    return UNMATCHED


def record_request(scope: dict[str, Any], status: int, seconds: float) -> None:
    """Metrics and the access log line of one answered request."""
    route = route_of(scope)
    method = str(scope.get("method", ""))
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)
    client = scope.get("client")
    access_log.info(
        "%s %s %d %.1fms client=%s", method, route, status, seconds * 1000, client[0] if client else "-"
    )


class _ImportRuns(Collector):
    """Import runs by source and status, read from the store's journal at scrape time."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from graph import journal

        family = GaugeMetricFamily(
            "dihr_import_runs", "Journalled import runs, by source and status.", labels=["source", "status"]
        )
        counts: dict[tuple[str, str], int] = {}
        try:
            for run in journal.runs(self.store):
                counts[(run.source, run.status)] = counts.get((run.source, run.status), 0) + 1
        except Exception:  # noqa: BLE001 - a scrape during an outage reports what it can
            counts = {}
        for (source, status), n in sorted(counts.items()):
            family.add_metric([source, status], n)
        yield family


def metrics_body(store: Any) -> tuple[bytes, str]:
    """The exposition text: every worker's figures (multiprocess mode) or this
    process's, plus the import runs of the store."""
    runs = CollectorRegistry()
    runs.register(_ImportRuns(store))
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
        return generate_latest(workers) + generate_latest(runs), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY) + generate_latest(runs), CONTENT_TYPE_LATEST


def metrics_allowed(client_host: str, allow: str) -> bool:
    """Is a scraper at ``client_host`` among ``allow`` (comma-separated addresses or networks)?"""
    try:
        address = ipaddress.ip_address(client_host)
    except ValueError:
        return False
    for item in (a.strip() for a in allow.split(",")):
        if not item:
            continue
        try:
            if address in ipaddress.ip_network(item, strict=False):
                return True
        except ValueError:
            continue
    return False


class _UtcFormatter(logging.Formatter):
    """ISO 8601 timestamps in UTC, to the millisecond."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def log_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` for the server: timestamped lines on
    standard error for our loggers and uvicorn's (its own access log is off:
    it writes raw paths; ``dihr.access`` writes route templates)."""
    handler = {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"()": _UtcFormatter, "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
        },
        "handlers": {"stderr": handler},
        "loggers": {
            "dihr": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }
