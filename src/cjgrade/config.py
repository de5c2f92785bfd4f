"""Settings: flags > environment > TOML config file > defaults, resolved in one place.

Other layers import :func:`load_settings` for the data directory and the database URL. The
database URL is *built* here only (see :func:`build_database_url`), with every part encoded by
:meth:`sqlalchemy.engine.URL.create`, so passwords such as ``p@ss:w/rd%`` work unchanged.

Environment variables
---------------------
``CJGRADE_HOME``            data directory (default ``~/.local/share/cjgrade``)
``CJGRADE_CONFIG``          TOML config file (default ``$CJGRADE_HOME/config.toml`` if present)
``DATABASE_URL``            full database URL (``CJGRADE_DATABASE_URL`` is an alias)
``CJGRADE_DB_HOST`` ``CJGRADE_DB_PORT`` ``CJGRADE_DB_NAME`` ``CJGRADE_DB_USER``
``CJGRADE_DB_PASSWORD``     PostgreSQL connection given as parts (password needs no escaping)
``KAFKA_BOOTSTRAP_SERVERS`` Kafka brokers for the distributed mode
``CJGRADE_API_URL`` ``CJGRADE_TOKEN``  the admin API client's target and bearer token
``CJGRADE_SCALES_FILE``     TOML file of user grade scales (``[[scale]]`` tables, see
                            ``cjgrade.scales``); the API and the store accept them besides the
                            built-ins
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from cjgrade.config_schema import ConfigTable, validate_table
from cjgrade.errors import ConfigError

if TYPE_CHECKING:
    from cjgrade.scales import GradeScale

__all__ = [
    "ApiTable",
    "DatabaseTable",
    "DbParts",
    "HomeConfig",
    "Settings",
    "build_database_url",
    "check_home",
    "default_home",
    "load_settings",
    "normalise_database_url",
    "render_url",
]

DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_DB_PORT = 5432
DEFAULT_DB_NAME = "cjgrade"
DEFAULT_DB_USER = "cjgrade"
SQLITE_FILE = "cjgrade.sqlite3"

_DB_PART_KEYS = ("host", "port", "name", "user", "password")

_Text = Annotated[str, Field(min_length=1)]


class DatabaseTable(ConfigTable):
    """``[database]``: a PostgreSQL connection given as parts (see :class:`DbParts`)."""

    host: str | None = None
    port: int | str | None = None
    name: str | None = None
    user: str | None = None
    password: str | None = None


class ApiTable(ConfigTable):
    """``[api]``: settings of ``cjgrade serve``."""

    max_body_bytes: int | None = Field(None, gt=0)
    """Largest request body accepted, in bytes (None: the API's default)."""


class HomeConfig(ConfigTable):
    """The home ``config.toml`` (``$CJGRADE_HOME/config.toml`` or ``CJGRADE_CONFIG``): every
    key and section it may hold. Anything else is an error naming the key."""

    home: _Text | None = None
    database_url: _Text | None = None
    database: DatabaseTable | None = None
    kafka_bootstrap_servers: _Text | None = None
    api_url: _Text | None = None
    token: _Text | None = None
    scales_file: _Text | None = None
    api: ApiTable = ApiTable()




@dataclass(frozen=True)
class DbParts:
    """A PostgreSQL connection given as separate parts (never as a pre-built string)."""

    host: str
    port: int = DEFAULT_DB_PORT
    name: str = DEFAULT_DB_NAME
    user: str = DEFAULT_DB_USER
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`load_settings`, not directly."""

    home: Path
    """Data directory: SQLite database, caches, run outputs."""
    database_url: str | None = field(default=None, repr=False)
    """A full URL given by flag, environment or file (normalised to an async driver). May hold
    a password: print ``render_url(settings.url())`` instead."""
    db_parts: DbParts | None = None
    """PostgreSQL parts from ``CJGRADE_DB_*`` or the ``[database]`` table."""
    kafka_bootstrap_servers: str | None = None
    api_url: str = DEFAULT_API_URL
    token: str | None = field(default=None, repr=False)
    config_file: Path | None = None
    scales_file: Path | None = None
    """TOML file of user grade scales (``CJGRADE_SCALES_FILE`` / ``scales_file``)."""
    api: ApiTable = field(default_factory=ApiTable)
    """The ``[api]`` table of the config file."""

    @property
    def sqlite_path(self) -> Path:
        """Where the default SQLite database lives."""
        return self.home / SQLITE_FILE

    def url(self) -> URL:
        """The database URL (see :func:`build_database_url`)."""
        return build_database_url(self)

    def load_user_scales(self) -> tuple[GradeScale, ...]:
        """The user grade scales of :attr:`scales_file` (empty without one), checked against
        the built-ins. Raises :class:`ConfigError` for a missing or invalid file or an id that
        clashes with a built-in scale."""
        if self.scales_file is None:
            return ()
        from cjgrade.scales import list_scales, load_scales_file

        try:
            scales = load_scales_file(self.scales_file)
            list_scales(scales)  # raises ConfigError for an id defined twice
        except ConfigError as exc:
            raise ConfigError(
                f"{exc} (the grade-scale file comes from CJGRADE_SCALES_FILE or scales_file in "
                "the config file)"
            ) from exc
        return scales

    def with_overrides(self, **flags: Any) -> Settings:
        """Apply command-line flags (highest priority); ``None`` values are ignored."""
        given = {k: v for k, v in flags.items() if v is not None}
        if "database_url" in given:
            given["database_url"] = normalise_database_url(given["database_url"]).render_as_string(
                hide_password=False
            )
            given["db_parts"] = None
        for key in ("home", "scales_file"):
            if key in given:
                given[key] = Path(given[key]).expanduser()
        return replace(self, **given)


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """``$CJGRADE_HOME``, else ``$XDG_DATA_HOME/cjgrade``, else ``~/.local/share/cjgrade``."""
    env = os.environ if env is None else env
    if env.get("CJGRADE_HOME"):
        return Path(env["CJGRADE_HOME"]).expanduser()
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]).expanduser() / "cjgrade"
    return Path.home() / ".local" / "share" / "cjgrade"


def load_settings(
    env: Mapping[str, str] | None = None,
    config_file: Path | str | None = None,
    **flags: Any,
) -> Settings:
    """Resolve settings: ``flags`` > ``env`` (default ``os.environ``) > TOML file > defaults.

    Raises
    ------
    ConfigError
        The config file is missing/unreadable/invalid, a value has the wrong type, or the
        database is given twice in the environment (``DATABASE_URL`` *and* ``CJGRADE_DB_*``).
    """
    env = os.environ if env is None else env
    path = _config_path(env, config_file)
    if path is None and (default_home(env) / "config.toml").is_file():
        path = default_home(env) / "config.toml"
    data = _read_toml(path) if path is not None else HomeConfig()
    home = default_home(env)
    if data.home is not None and not env.get("CJGRADE_HOME"):
        home = Path(data.home).expanduser()
    settings = Settings(home=home, config_file=path, api=data.api, **_file_values(data, path))
    settings = _apply_env(settings, env)
    return settings.with_overrides(**flags)


def build_database_url(settings: Settings) -> URL:
    """The one place a database URL is built.

    An explicit URL wins; then PostgreSQL parts; else a SQLite file under ``settings.home``
    (the directory is created and checked with :func:`check_home`: an unusable one is a
    :class:`ConfigError` naming it). Always an async driver (``asyncpg`` / ``aiosqlite``).
    """
    if settings.database_url:
        return normalise_database_url(settings.database_url)
    if settings.db_parts is not None:
        p = settings.db_parts
        return URL.create(
            "postgresql+asyncpg",
            username=p.user,
            password=p.password,
            host=p.host,
            port=p.port,
            database=p.name,
        )
    check_home(settings.home)
    return URL.create("sqlite+aiosqlite", database=str(settings.sqlite_path))


_HOME_FIX = (
    "set CJGRADE_HOME to a folder you can write (or unset it for ~/.local/share/cjgrade), or "
    "give the database with --database-url / DATABASE_URL"
)


def check_home(home: Path) -> Path:
    """Create the data directory if needed and check that files can be written in it.

    Raises :class:`ConfigError` naming the path and the fix when it is a file, lies under a
    file, or cannot be created or written (a read-only disk, missing permissions).
    """
    if home.exists() and not home.is_dir():
        raise ConfigError(
            f"the data directory {home} (CJGRADE_HOME) is a file, not a folder; {_HOME_FIX}"
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"the data directory {home} (CJGRADE_HOME) cannot be created ({exc.strerror or exc}); "
            f"{_HOME_FIX}"
        ) from exc
    probe = home / f".cjgrade-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"the data directory {home} (CJGRADE_HOME) is not writable ({exc.strerror or exc}); "
            f"{_HOME_FIX}"
        ) from exc
    return home


def normalise_database_url(url: str | URL) -> URL:
    """Parse a URL and switch it to the async driver this package uses.

    ``postgres://``, ``postgresql://`` and ``postgresql+<driver>://`` become
    ``postgresql+asyncpg://`` (``sslmode=`` becomes asyncpg's ``ssl=``); ``sqlite://`` becomes
    ``sqlite+aiosqlite://``. Other databases raise :class:`ConfigError`.
    """
    if isinstance(url, str):
        text = url.strip()
        if text.startswith("postgres://"):
            text = "postgresql://" + text[len("postgres://") :]
        try:
            parsed = make_url(text)
        except ArgumentError as exc:
            raise ConfigError(
                "database URL is not valid; expected postgresql://USER:PASSWORD@HOST:PORT/NAME "
                "or sqlite:///PATH (or set CJGRADE_DB_HOST/PORT/NAME/USER/PASSWORD instead)"
            ) from exc
    else:
        parsed = url
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        query = dict(parsed.query)
        if "sslmode" in query:
            query["ssl"] = query.pop("sslmode")
        return parsed.set(drivername="postgresql+asyncpg", query=query)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ConfigError(
        f"unsupported database {backend!r} in {render_url(parsed)}; use PostgreSQL or SQLite"
    )


def render_url(url: URL | str) -> str:
    """A URL safe to print or log: the password is replaced by ``***``."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparseable database URL>"
    return url.render_as_string(hide_password=True)


def _config_path(env: Mapping[str, str], config_file: Path | str | None) -> Path | None:
    given = config_file if config_file is not None else env.get("CJGRADE_CONFIG")
    if not given:
        return None
    path = Path(given).expanduser()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; fix CJGRADE_CONFIG or --config")
    return path


def _read_toml(path: Path) -> HomeConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read as TOML: {exc}") from exc
    return validate_table(HomeConfig, data, source=f"config file {path}")


def _file_values(data: HomeConfig, path: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("database_url", "kafka_bootstrap_servers", "api_url", "token"):
        if getattr(data, key) is not None:
            out[key] = getattr(data, key)
    if "database_url" in out:
        normalise_database_url(out["database_url"])  # fail early on a bad URL
    if data.scales_file is not None:
        out["scales_file"] = _relative_to(path, Path(data.scales_file))
    if data.database is not None:
        if "database_url" in out:
            raise ConfigError(f"{path}: give database_url or a [database] table, not both")
        parts = {k: str(v) for k, v in data.database.model_dump().items() if v is not None}
        out["db_parts"] = _db_parts(parts, str(path))
    return out


def _relative_to(config_file: Path | None, path: Path) -> Path:
    """A path from the config file, relative to the file's folder unless absolute."""
    path = path.expanduser()
    if config_file is not None and not path.is_absolute():
        return config_file.parent / path
    return path


def _db_parts(values: Mapping[str, str], where: str) -> DbParts:
    if not values.get("host"):
        raise ConfigError(f"{where}: the database host is missing (CJGRADE_DB_HOST / host)")
    port_text = values.get("port") or str(DEFAULT_DB_PORT)
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ConfigError(f"{where}: database port {port_text!r} is not a number") from exc
    if not 0 < port < 65536:
        raise ConfigError(f"{where}: database port {port} is out of range")
    return DbParts(
        host=values["host"],
        port=port,
        name=values.get("name") or DEFAULT_DB_NAME,
        user=values.get("user") or DEFAULT_DB_USER,
        password=values.get("password") or None,
    )


def _apply_env(settings: Settings, env: Mapping[str, str]) -> Settings:
    updates: dict[str, Any] = {}
    url = env.get("DATABASE_URL") or env.get("CJGRADE_DATABASE_URL")
    parts = {k: env[v] for k in _DB_PART_KEYS if env.get(v := f"CJGRADE_DB_{k.upper()}")}
    if url and parts:
        raise ConfigError(
            "both DATABASE_URL and CJGRADE_DB_* are set; unset one so the database is not ambiguous"
        )
    if url:
        updates["database_url"] = normalise_database_url(url).render_as_string(hide_password=False)
        updates["db_parts"] = None
    elif parts:
        updates["db_parts"] = _db_parts(parts, "environment")
        updates["database_url"] = None
    for key, var in (
        ("kafka_bootstrap_servers", "KAFKA_BOOTSTRAP_SERVERS"),
        ("api_url", "CJGRADE_API_URL"),
        ("token", "CJGRADE_TOKEN"),
    ):
        if env.get(var):
            updates[key] = env[var]
    if env.get("CJGRADE_SCALES_FILE"):
        updates["scales_file"] = Path(env["CJGRADE_SCALES_FILE"]).expanduser()
    return replace(settings, **updates)
