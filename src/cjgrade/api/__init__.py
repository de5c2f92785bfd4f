"""The HTTP API: admin routes, content store, health and metrics (FastAPI).

Build it with :func:`create_app`; serve it with ``cjgrade serve``. See docs/api.md.
"""

from cjgrade.api.app import OPEN_PATHS, LifespanHook, create_app

__all__ = ["OPEN_PATHS", "LifespanHook", "create_app"]
