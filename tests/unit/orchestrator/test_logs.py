"""Structured logs: JSON and text lines carry run, chain and lane from log_context; Celery's loggers go through the
same handler (a real Celery app's logging setup); credentials in URLs and registered secrets never reach a line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any

import pytest
from celery import Celery

from orchestrator import LogFormat, configure_logging, current_context, log_context

KEY = "AbCdEfGhIjKlMnOpQrStUvWx0123"  # what an RPC provider puts in the URL path


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """Logging configured into a buffer; the root logger's handlers and level are put back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_context_fields_and_nested_contexts_restore(stream: io.StringIO) -> None:
    configure_logging(LogFormat.JSON, "INFO", stream=stream)
    log = logging.getLogger("crosshedge.test")
    log.info("outside")
    with log_context(run_id="beat-20250101T000000"):
        with log_context(lane="base.desk"):
            log.info("sent %s", "0xabc")
        log.warning("between")
    out = lines(stream)
    assert [(r["message"], r["run_id"], r["chain"], r["lane"]) for r in out] == [
        ("outside", None, None, None),
        ("sent 0xabc", "beat-20250101T000000", "base", "base.desk"),  # the lane names its chain
        ("between", "beat-20250101T000000", None, None),
    ]
    assert {"ts", "level", "logger", "pid", "process"} <= set(out[1])
    assert out[1]["level"] == "INFO" and out[2]["level"] == "WARNING" and out[1]["logger"] == "crosshedge.test"
    assert out[1]["ts"].endswith("Z")
    assert current_context() == {"run_id": None, "chain": None, "lane": None}


def test_an_explicit_extra_field_wins_over_the_context(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    with log_context(run_id="r1", chain="ethereum"):
        logging.getLogger("crosshedge.test").info("x", extra={"chain": "arbitrum"})
    (line,) = lines(stream)
    assert (line["run_id"], line["chain"]) == ("r1", "arbitrum")


def test_thread_pools_keep_the_context_when_submitted_with_copy_context(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    log = logging.getLogger("crosshedge.test")
    with log_context(run_id="r7"), ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(copy_context().run, log.info, "read chain").result()
        pool.submit(log.info, "bare").result()  # a pool thread starts from an empty context
    assert [(r["message"], r["run_id"]) for r in lines(stream)] == [("read chain", "r7"), ("bare", None)]


def test_an_rpc_url_with_a_key_is_redacted_in_the_message_and_the_traceback(stream: io.StringIO) -> None:
    configure_logging("json", "INFO", stream=stream)
    log = logging.getLogger("crosshedge.test")
    url = f"https://eth-mainnet.example.com/v2/{KEY}"
    try:
        raise ConnectionError(f"POST {url} failed")
    except ConnectionError:
        log.exception("chain ethereum: RPC %s is unreachable", url)
    log.info("redis at redis://:s3cretpass@redis:6379/0, rpc http://user:pw@node:8545/?apikey=zz9")
    text = stream.getvalue()
    assert KEY not in text and "s3cretpass" not in text and "zz9" not in text and "user:pw" not in text
    first, second = lines(stream)
    assert first["message"] == "chain ethereum: RPC https://eth-mainnet.example.com/v2/*** is unreachable"
    assert first["exc_type"] == "ConnectionError" and "v2/***" in first["exc"]
    assert "redis://***@redis:6379/0" in second["message"] and "http://***@node:8545/?***" in second["message"]


def test_registered_secrets_are_redacted_in_text_format(stream: io.StringIO) -> None:
    password = "correct horse battery"
    configure_logging("text", "INFO", stream=stream, secrets=[password, "ab"])  # too short to redact: kept
    with log_context(run_id="r2", chain="base", lane="base.desk"):
        logging.getLogger("crosshedge.test").info("unlocking with %s, tab ab", password)
    line = stream.getvalue().strip()
    assert password not in line and "unlocking with ***, tab ab" in line
    assert "crosshedge.test [run=r2 chain=base lane=base.desk] unlocking" in line


def test_celery_logging_setup_keeps_our_handler_and_routes_celery_loggers(stream: io.StringIO) -> None:
    handler = configure_logging("json", "INFO", stream=stream)
    app = Celery("crosshedge-test", set_as_current=False)
    # What a worker or beat does at start: with our receiver on `setup_logging`, Celery installs no handler.
    app.log.already_setup = False
    app.log.setup_logging_subsystem(loglevel="INFO")
    assert logging.getLogger().handlers[-1] is handler
    assert not logging.getLogger("celery").handlers and not logging.getLogger("celery.task").handlers
    with log_context(run_id="r3"):
        logging.getLogger("celery.worker.consumer").info("celery@host ready.")
        logging.getLogger("celery.task").warning("task line")
    assert [(r["logger"], r["message"], r["run_id"]) for r in lines(stream)] == [
        ("celery.worker.consumer", "celery@host ready.", "r3"), ("celery.task", "task line", "r3")]


def test_configuring_again_replaces_our_handler_only(stream: io.StringIO) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first = configure_logging("json", "INFO", stream=stream)
    second = configure_logging("text", "DEBUG", stream=stream)
    handlers = logging.getLogger().handlers
    assert second in handlers and first not in handlers and other in handlers
    assert logging.getLogger().level == logging.DEBUG
