"""Configuration: one object, read from ``DIHR_*`` environment variables,
validated once and passed to whatever needs it (never read at import time)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph.errors import ConfigurationError

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """Every setting of dihr-graph. The README's configuration table lists them."""

    model_config = SettingsConfigDict(env_prefix="DIHR_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Directory of the embedded store (SQLite file) and cached outlines.",
    )
    erhr_file: Path | None = Field(
        default=None,
        description="Editable CSV of the ERHR territories; default: the file shipped in graph/data.",
    )
    geo_population_file: Path | None = Field(
        default=None,
        description=(
            "communes.json of the npm package @etalab/decoupage-administratif "
            "(current INSEE populations and postcodes); default: found in ./node_modules."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the web server listens on.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of the web server.")
    map_assets: str | None = Field(
        default=None,
        description=(
            "Base URL of Leaflet's assets for maps (leaflet/, leaflet.markercluster/); "
            "default: served by the app from node_modules, or CDN when absent."
        ),
    )
    map_tiles: str = Field(
        default="OpenStreetMap",
        description="Base tiles of maps: a folium tile name or URL template; empty for none (offline).",
    )
    rate_limit_per_minute: int = Field(
        default=240, ge=1, description="Requests per minute allowed per API key."
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description=(
            "Web worker processes of `dihr serve` (see DIHR_GRAPH_IN_MEMORY); "
            "default: the number of cores, at most 4."
        ),
    )
    graph_in_memory: bool | None = Field(
        default=None,
        description=(
            "Whether each process holds the embedded graph in memory; default: yes for one process "
            "(the CLI, `dihr serve --workers 1`), no in each worker of a multi-worker server, which then "
            "reads SQLite and the read models' column snapshot (~200 MB per worker instead of ~500 MB "
            "at national scale)."
        ),
    )

    def holds_graph(self, server_workers: int = 1) -> bool:
        """Whether a process of a server of ``server_workers`` workers holds the
        embedded graph in memory (``graph.stores.memory``) or reads SQLite
        (``graph.stores.sqlite``): DIHR_GRAPH_IN_MEMORY, else only when alone."""
        return self.graph_in_memory if self.graph_in_memory is not None else server_workers == 1

    trusted_proxies: str = Field(
        default="",
        description="Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated "
        "addresses or networks, e.g. 127.0.0.1 or 10.0.0.0/8); empty (the default): none, the client's own "
        "address is the origin (sign-in throttle, audit).",
    )
    metrics_allow: str = Field(
        default="127.0.0.1,::1",
        description="Who may read /metrics (Prometheus): comma-separated addresses or networks, as the "
        "server sees the client (after DIHR_TRUSTED_PROXIES); loopback by default, e.g. 10.0.0.0/8 for "
        "a scraper on the private network.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Longest a client may take to send a request's headers before the connection is closed (s).",
    )
    max_body_bytes: int = Field(default=65_536, ge=1024, description="Largest request body accepted (bytes).")
    query_timeout_s: float = Field(
        default=20.0, gt=0, description="Longest a query may run before it is abandoned (s)."
    )
    neo4j_uri: str | None = Field(
        default=None, description="bolt:// or neo4j:// URI; when set, Neo4j is the store."
    )
    neo4j_user: str = Field(default="neo4j", description="Neo4j user name.")
    neo4j_password: str = Field(default="", description="Neo4j password.")
    neo4j_database: str = Field(default="neo4j", description="Neo4j database name.")
    neo4j_namespace: str = Field(
        default="",
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Namespace of this instance's nodes in the database (empty: the one register).",
    )
    neo4j_batch_size: int = Field(default=5000, ge=1, le=100_000, description="Rows per UNWIND batch.")
    neo4j_timeout_s: float = Field(
        default=4.0,
        gt=0,
        description="How long a call waits for an unreachable Neo4j server before the user is told the "
        "service is unavailable (seconds; half to connect, half for the driver's retries).",
    )


def load_settings() -> Settings:
    """The settings of the environment; a malformed one is a ConfigurationError
    naming the variable (``DIHR_PORT``) and why, in French."""
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"DIHR_{'_'.join(str(part) for part in e['loc']).upper()} : {e['msg']}" for e in err.errors()
        )
        raise ConfigurationError(f"Configuration invalide — {problems}.") from None
