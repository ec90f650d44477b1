"""Persistence: SQLite by default, PostgreSQL to scale out. SQLAlchemy never leaves this package."""

from __future__ import annotations

from grace.store._cycles import OPEN as OPEN
from grace.store._cycles import Cycle as Cycle
from grace.store._database import create_db_engine as create_db_engine
from grace.store._database import migrate as migrate
from grace.store._external_runs import EXTERNAL_TRIGGER as EXTERNAL_TRIGGER
from grace.store._external_runs import RECORDED_FINAL as RECORDED_FINAL
from grace.store._external_runs import RECORDED_STEP as RECORDED_STEP
from grace.store._external_runs import NotExternal as NotExternal
from grace.store._governance import Approval as Approval
from grace.store._governance import GroupState as GroupState
from grace.store._governance import Suppression as Suppression
from grace.store._governance import TargetBusy as TargetBusy
from grace.store._ingest import RecordedEvent as RecordedEvent
from grace.store._learning import OUTCOME_STATUSES as OUTCOME_STATUSES
from grace.store._learning import OutcomeGroup as OutcomeGroup
from grace.store._progress import RunnerProgress as RunnerProgress
from grace.store._progress import StoreCounters as StoreCounters
from grace.store._store import AuditListener as AuditListener
from grace.store._store import Store as Store
from grace.store._store import open_store as open_store

__all__ = (
    "EXTERNAL_TRIGGER",
    "OPEN",
    "OUTCOME_STATUSES",
    "RECORDED_FINAL",
    "RECORDED_STEP",
    "Approval",
    "AuditListener",
    "Cycle",
    "GroupState",
    "NotExternal",
    "OutcomeGroup",
    "RecordedEvent",
    "RunnerProgress",
    "Store",
    "StoreCounters",
    "Suppression",
    "TargetBusy",
    "create_db_engine",
    "migrate",
    "open_store",
)
