"""Retries are for the services' hiccups: a table a stage refused for what it is fails at once."""

from __future__ import annotations

from prefect.states import Failed

from flows import tasks


def test_stopped_tables_are_not_retried_but_a_failing_service_is() -> None:
    for task in (tasks.replicate, tasks.load_warehouse):
        assert task.retries == 2
        retry = task.retry_condition_fn
        assert retry(task, None, Failed(data=tasks.TablesStopped("shop.a__b: rename one"))) is False
        assert retry(task, None, Failed(data=ConnectionRefusedError("127.0.0.1:8333"))) is True
    assert tasks.apply_silver.retry_condition_fn is None  # a silver table may stop for a passing reason
