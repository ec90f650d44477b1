"""Persistence: SQLite by default, PostgreSQL to scale out. SQLAlchemy never leaves this package."""

from __future__ import annotations

from grace.store._database import create_db_engine as create_db_engine
from grace.store._database import migrate as migrate
from grace.store._governance import Approval as Approval
from grace.store._governance import GroupState as GroupState
from grace.store._governance import Suppression as Suppression
from grace.store._governance import TargetBusy as TargetBusy
from grace.store._store import AuditListener as AuditListener
from grace.store._store import Store as Store
from grace.store._store import open_store as open_store

__all__ = (
    "Approval",
    "AuditListener",
    "GroupState",
    "Store",
    "Suppression",
    "TargetBusy",
    "create_db_engine",
    "migrate",
    "open_store",
)
