"""Settings resolution and the one place database URLs are built."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cjgrade.config import build_database_url, load_settings, normalise_database_url, render_url
from cjgrade.errors import ConfigError

HARD_PASSWORDS = ["omT9VJ#1cvqPjuMzP5exdGp9h#m3zmQn", "p@ss:w/rd%", "a b?c=d&e/f@g:h%25", "ÅÄÖ+*"]


def test_default_is_sqlite_under_home(tmp_path: Path) -> None:
    """Without database settings the URL is an aiosqlite file inside CJGRADE_HOME."""
    settings = load_settings(env={"CJGRADE_HOME": str(tmp_path / "home")})
    url = build_database_url(settings)
    assert url.drivername == "sqlite+aiosqlite"
    assert Path(url.database or "") == tmp_path / "home" / "cjgrade.sqlite3"
    assert (tmp_path / "home").is_dir()


@pytest.mark.parametrize("password", HARD_PASSWORDS)
def test_password_parts_round_trip(password: str, tmp_path: Path) -> None:
    """A password with URL metacharacters survives building, rendering and re-parsing."""
    env = {
        "CJGRADE_HOME": str(tmp_path),
        "CJGRADE_DB_HOST": "db.example",
        "CJGRADE_DB_PORT": "5433",
        "CJGRADE_DB_NAME": "grades",
        "CJGRADE_DB_USER": "cj",
        "CJGRADE_DB_PASSWORD": password,
    }
    url = load_settings(env=env).url()
    assert url.drivername == "postgresql+asyncpg"
    parsed = make_url(url.render_as_string(hide_password=False))
    assert (parsed.password, parsed.host, parsed.port, parsed.database, parsed.username) == (
        password,
        "db.example",
        5433,
        "grades",
        "cj",
    )


@pytest.mark.parametrize("password", HARD_PASSWORDS)
def test_password_never_rendered(password: str, tmp_path: Path) -> None:
    """render_url and the Settings repr hide the password."""
    env = {"CJGRADE_HOME": str(tmp_path), "CJGRADE_DB_HOST": "h", "CJGRADE_DB_PASSWORD": password}
    settings = load_settings(env=env)
    assert password not in render_url(settings.url())
    assert "***" in render_url(settings.url())
    encoded = settings.url().render_as_string(hide_password=False)
    assert password not in render_url(encoded)
    assert password not in repr(settings)
    by_url = load_settings(env={"CJGRADE_HOME": str(tmp_path), "DATABASE_URL": encoded})
    assert password not in repr(by_url) and encoded not in repr(by_url)


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg"),
        ("postgresql+psycopg2://u:p@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite"),
        ("sqlite+pysqlite:///x.db", "sqlite+aiosqlite"),
    ],
)
def test_database_url_normalised_to_async_driver(given: str, driver: str) -> None:
    """Sync or scheme-only URLs are switched to the async driver, other parts unchanged."""
    url = normalise_database_url(given)
    assert url.drivername == driver
    assert url.database == make_url(given.replace("postgres://", "postgresql://")).database


def test_unencoded_hash_password_in_database_url() -> None:
    """A DATABASE_URL whose password contains raw '#' still yields that password."""
    url = normalise_database_url("postgresql://u:omT9VJ#1cvqPjuMzP5exdGp9h#m3zmQn@h:5432/db")
    assert url.password == "omT9VJ#1cvqPjuMzP5exdGp9h#m3zmQn"
    assert (url.host, url.port, url.database) == ("h", 5432, "db")


def test_sslmode_becomes_asyncpg_ssl() -> None:
    """libpq's sslmode query parameter is translated for asyncpg."""
    url = normalise_database_url("postgresql://u@h/db?sslmode=require")
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.parametrize("bad", ["mysql://u@h/db", "not a url", ""])
def test_unsupported_or_invalid_url_is_config_error(bad: str) -> None:
    """Other databases and garbage give a ConfigError, not a driver traceback."""
    with pytest.raises(ConfigError):
        normalise_database_url(bad)


def test_precedence_flags_env_file(tmp_path: Path) -> None:
    """Flags beat the environment, which beats the TOML file, which beats defaults."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('database_url = "sqlite:///from_file.db"\napi_url = "http://file"\n')
    base_env = {"CJGRADE_HOME": str(tmp_path), "CJGRADE_CONFIG": str(cfg)}
    assert load_settings(env=base_env).url().database == "from_file.db"
    assert load_settings(env=base_env).api_url == "http://file"
    env = {**base_env, "DATABASE_URL": "sqlite:///from_env.db"}
    assert load_settings(env=env).url().database == "from_env.db"
    flagged = load_settings(env=env, database_url="sqlite:///from_flag.db")
    assert flagged.url().database == "from_flag.db"


def test_file_database_table_and_home(tmp_path: Path) -> None:
    """A [database] table gives PostgreSQL parts; `home` in the file moves the data dir;
    [api] is read into its own typed table."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'home = "{tmp_path / "data"}"\n[database]\nhost = "pg"\npassword = "p@ss:w/rd%"\n'
        '[api]\nmax_body_bytes = 4096\n'
    )
    settings = load_settings(env={"CJGRADE_CONFIG": str(cfg)})
    assert settings.home == tmp_path / "data"
    assert settings.url().password == "p@ss:w/rd%"
    assert settings.api.max_body_bytes == 4096


def test_implicit_config_in_home(tmp_path: Path) -> None:
    """$CJGRADE_HOME/config.toml is read when no config file is named."""
    (tmp_path / "config.toml").write_text('kafka_bootstrap_servers = "k:9092"\n')
    assert load_settings(env={"CJGRADE_HOME": str(tmp_path)}).kafka_bootstrap_servers == "k:9092"


@pytest.mark.parametrize(
    "content",
    ['databse_url = "x"\n', "database_url = 3\n", "[database]\nport = 5432\n", "= broken"],
)
def test_bad_config_file_is_config_error(content: str, tmp_path: Path) -> None:
    """Typos, wrong types, missing host and bad TOML are reported, never ignored."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError):
        load_settings(env={"CJGRADE_HOME": str(tmp_path), "CJGRADE_CONFIG": str(cfg)})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('databse_url = "x"\n', "unknown key 'databse_url'; allowed: home, database_url, "),
        ("[engine]\nbudget = 3\n",
         "unknown section [engine]; allowed sections: [database], [api]"),
        ("[runner]\nx = 1\n", "unknown section [runner]; allowed sections: [database], [api]"),
        ("[api]\nmax_body_byte = 10\n",
         "unknown key 'max_body_byte' in [api]; allowed: max_body_bytes"),
        ('[database]\nhost = "h"\nprot = 1\n',
         "unknown key 'prot' in [database]; allowed: host, port, name, user, password"),
        ("[api]\nmax_body_bytes = 0\n", "[api] max_body_bytes must be above 0"),
        ('[api]\nmax_body_bytes = "big"\n', "[api] max_body_bytes must be a whole number"),
        ('api_url = ""\n', "api_url must not be empty"),
    ],
)
def test_unknown_keys_and_sections_name_file_key_and_allowed(
    content: str, expected: str, tmp_path: Path
) -> None:
    """Each refusal of the home config names the file, the key or section and what is allowed."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(env={"CJGRADE_HOME": str(tmp_path), "CJGRADE_CONFIG": str(cfg)})
    assert str(cfg) in str(info.value) and expected in str(info.value)


def test_missing_config_file_is_config_error(tmp_path: Path) -> None:
    """A named config file that does not exist is an error."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"CJGRADE_CONFIG": str(tmp_path / "nope.toml")})


def test_database_given_twice_is_config_error(tmp_path: Path) -> None:
    """DATABASE_URL together with CJGRADE_DB_* is ambiguous and refused."""
    env = {"DATABASE_URL": "postgresql://u@h/db", "CJGRADE_DB_HOST": "other"}
    with pytest.raises(ConfigError, match="ambiguous"):
        load_settings(env=env)


@pytest.mark.parametrize("port", ["abc", "0", "70000"])
def test_bad_port_is_config_error(port: str) -> None:
    """A non-numeric or out-of-range port is refused with a message."""
    with pytest.raises(ConfigError, match="port"):
        load_settings(env={"CJGRADE_DB_HOST": "h", "CJGRADE_DB_PORT": port})
