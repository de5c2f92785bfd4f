"""Store tests run on SQLite and PostgreSQL (see ``fixtures.py``)."""

from tests.store.fixtures import _db_templates, db_url, empty_db_url, pg_url, store  # noqa: F401
