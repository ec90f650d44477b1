"""bind_context / current_context: ids bound through contextvars, restored, never leaked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from grace.logs import CORRELATION_IDS, bind_context, current_context, get_logger

ReadLog = Callable[[], list[dict[str, Any]]]


class TestBindContext:
    def test_binds_and_restores(self) -> None:
        """Ids are visible inside the block and gone after it."""
        assert current_context() == {}
        with bind_context(run_id="r-1", playbook_id="pb") as bound:
            assert bound == {"run_id": "r-1", "playbook_id": "pb"}
            assert current_context() == {"run_id": "r-1", "playbook_id": "pb"}
        assert current_context() == {}

    def test_nested_blocks_restore_outer_values(self) -> None:
        """An inner block overrides and adds ids; leaving it brings the outer ones back."""
        with bind_context(run_id="outer", event_id="e-1"):
            with bind_context(run_id="inner", step="s1"):
                assert current_context() == {"run_id": "inner", "step": "s1", "event_id": "e-1"}
            assert current_context() == {"run_id": "outer", "event_id": "e-1"}

    def test_restores_when_the_block_raises(self) -> None:
        """An exception inside the block still restores the previous ids."""
        with bind_context(run_id="outer"):
            with pytest.raises(RuntimeError), bind_context(run_id="inner"):
                raise RuntimeError("step failed")
            assert current_context() == {"run_id": "outer"}

    def test_values_become_strings_and_none_is_skipped(self) -> None:
        """Values are stored as strings; a None id is not bound (the outer one stays)."""
        with bind_context(event_id="e-1"), bind_context(run_id=42, event_id=None):
            assert current_context() == {"run_id": "42", "event_id": "e-1"}

    def test_unknown_name_is_refused(self) -> None:
        """A typo raises ValueError naming it and listing the allowed ids."""
        with pytest.raises(ValueError, match="'runid'") as info, bind_context(runid="r-1"):
            pass
        for name in CORRELATION_IDS:
            assert name in str(info.value)
        assert current_context() == {}

    def test_current_context_ignores_other_contextvars(self) -> None:
        """Only the six correlation ids are reported, in their canonical order."""
        import structlog

        structlog.contextvars.bind_contextvars(tenant="acme")
        try:
            with bind_context(step="s", run_id="r"):
                assert list(current_context()) == ["run_id", "step"]
        finally:
            structlog.contextvars.unbind_contextvars("tenant")

    def test_threads_do_not_share_ids(self) -> None:
        """A thread started elsewhere does not see ids bound in this thread."""
        seen: list[dict[str, str]] = []
        with bind_context(run_id="main"):
            thread = threading.Thread(target=lambda: seen.append(current_context()))
            thread.start()
            thread.join()
        assert seen == [{}]


class TestRecords:
    def test_ids_appear_in_records_and_are_restored(self, read_log: ReadLog) -> None:
        """Records inside the block carry every bound id; records after it carry none."""
        log = get_logger("runner")
        ids = {name: f"{name}-value" for name in CORRELATION_IDS}
        with bind_context(**ids):
            log.info("inside", event_type="t.inside")
        log.info("outside", event_type="t.outside")

        inside, outside = read_log()
        assert {name: inside[name] for name in CORRELATION_IDS} == ids
        assert not set(CORRELATION_IDS) & set(outside)

    def test_explicit_keyword_wins_over_bound_id(self, read_log: ReadLog) -> None:
        """A keyword passed at the call overrides the bound value for that record only."""
        with bind_context(step="bound"):
            get_logger("runner").info("x", event_type="t.x", step="explicit")

        assert read_log()[0]["step"] == "explicit"


class TestAsync:
    @pytest.mark.anyio
    async def test_survives_await(self) -> None:
        """Ids bound before an await are still bound after it."""
        with bind_context(run_id="r-1"):
            await anyio.lowlevel.checkpoint()
            assert current_context() == {"run_id": "r-1"}
        assert current_context() == {}

    @pytest.mark.anyio
    async def test_concurrent_tasks_do_not_leak(self, read_log: ReadLog) -> None:
        """Two interleaved anyio tasks with different run_ids each log only their own."""
        log = get_logger("runner")
        observed: dict[str, set[str]] = {"r-1": set(), "r-2": set()}

        async def run(run_id: str) -> None:
            with bind_context(run_id=run_id, step="s"):
                for number in range(5):
                    await anyio.lowlevel.checkpoint()  # let the other task run in between
                    observed[run_id].add(current_context()["run_id"])
                    log.info("tick", event_type="t.tick", owner=run_id, n=number)

        with bind_context(run_id="parent"):
            async with anyio.create_task_group() as group:
                group.start_soon(run, "r-1")
                group.start_soon(run, "r-2")
            assert current_context() == {"run_id": "parent"}

        assert observed == {"r-1": {"r-1"}, "r-2": {"r-2"}}
        records = read_log()
        assert len(records) == 10
        assert all(record["run_id"] == record["owner"] for record in records)
        assert {record["owner"] for record in records[:4]} == {"r-1", "r-2"}  # interleaved

    @pytest.mark.anyio
    async def test_child_task_inherits_but_does_not_leak_back(self) -> None:
        """A task inherits the ids bound when it started; what it binds stays in it."""
        seen: list[dict[str, str]] = []

        async def child() -> None:
            seen.append(current_context())
            with bind_context(step="child-step"):
                await anyio.lowlevel.checkpoint()

        with bind_context(run_id="r-1"):
            async with anyio.create_task_group() as group:
                group.start_soon(child)
                await anyio.lowlevel.checkpoint()
                assert current_context() == {"run_id": "r-1"}

        assert seen == [{"run_id": "r-1"}]
