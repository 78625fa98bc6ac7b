"""The Celery app factory: at-least-once delivery tuned for money, on the same Redis as the ledger.

Settings that matter (Celery's docs, "Should I use retry or acks_late?" and the Redis broker's visibility
timeout caveats): ``acks_late`` + ``task_reject_on_worker_lost`` (a task whose worker dies
is delivered again, never lost), ``worker_prefetch_multiplier=1`` (a worker holds one message at a time),
``visibility_timeout`` above the longest task, no result backend (the ledger is the source of truth, and tasks
never ``.get()``), JSON only. Trades are never sent with an ETA or countdown. Each (chain, wallet) lane has its own
queue ``lane.<chain>.<wallet>``; production runs one worker with concurrency 1 per lane (docker-compose.yml), and a
per-lane lock in Redis keeps nonces safe even when one worker serves several lanes.

No app exists at import time. ``celery -A orchestrator.celery_app worker`` works through the module-level
``__getattr__``, which builds the app from ``CROSSHEDGE_CONFIG`` / ``CROSSHEDGE_REDIS_URL`` when first asked.

Usage::

    app = create_app(config)                 # config: a resolved Config
    app.send_task("crosshedge.snapshot", args=[run_id])
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

from crosshedge.config import Config, resolve_config
from orchestrator import tasks
from orchestrator.queues import DEFAULT_QUEUE, lane_queues
from orchestrator.redis_server import resolve_redis_url


class _QoS(kombu_redis.QoS):
    # kombu's restore-on-close after a lost connection dereferences the already-dropped connection and kills the
    # worker (seen on every Redis restart). Unacked messages stay in Redis and come back after the visibility
    # timeout instead, and `recover` re-enqueues stalled runs: nothing is lost either way.
    restore_at_shutdown = False

    def ack(self, delivery_tag: Any) -> None:
        # A task that finishes after its channel died with the connection cannot ack through it (kombu would
        # crash the worker); the message stays unacked and returns after the visibility timeout (idempotent).
        if self.channel.connection is None:
            return
        super().ack(delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if self.channel.connection is None:
            return
        super().reject(delivery_tag, requeue=requeue)  # type: ignore[no-untyped-call]


class _Channel(kombu_redis.Channel):
    QoS = _QoS


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport without restore-at-shutdown (see _QoS)."""

    Channel = _Channel


def broker_url_for(url: str) -> str:
    """The broker URL routed through :class:`RedisTransport` (``redis[+socket]://`` -> ``crosshedge[+socket]://``)."""
    TRANSPORT_ALIASES.setdefault("crosshedge", "orchestrator.celery_app:RedisTransport")  # a registration
    for scheme in ("redis+socket://", "redis://"):
        if url.startswith(scheme):
            return "crosshedge" + url.removeprefix("redis")
    return url


def create_app(config: Config, broker_url: str | None = None) -> Celery:
    """A Celery app for ``config`` with crosshedge's tasks registered; starts the embedded Redis if needed."""
    url = broker_url or resolve_redis_url(config.redis_dir)
    app = Celery("crosshedge", broker=broker_url_for(url), set_as_current=False)
    execution = config.raw.execution
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        result_backend=None,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=DEFAULT_QUEUE,
        task_queues=[Queue(q) for q in (DEFAULT_QUEUE, *lane_queues(config))],  # type: ignore[no-untyped-call]
        broker_transport_options={"visibility_timeout": execution.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # Redis restarts: keep reconnecting rather than exit
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_track_started=False,
        worker_send_task_events=True,  # Flower
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 60, "interval_start": 0.1, "interval_step": 0.5,
                                   "interval_max": 2.0},  # ride out a Redis restart instead of dropping a stage
        # `crosshedge beat` runs Celery beat with this schedule: a policy tick every check interval. A tick that
        # sat in the queue longer than one interval expires unrun (the next one is as good), so ticks never pile
        # up while no worker runs; each tick's run id is its slot, so two beats still start one run per slot.
        beat_schedule={"policy-tick": {"task": "crosshedge.tick", "schedule": config.raw.policy.check_interval_s,
                                       "options": {"queue": DEFAULT_QUEUE,
                                                   "expires": config.raw.policy.check_interval_s}}},
        beat_max_loop_interval=min(5.0, config.raw.policy.check_interval_s),
    )
    app.conf.crosshedge_config_path = str(config.source)
    app.conf.crosshedge_broker_url = url
    tasks.register(app)
    return app


def app_from_env() -> Celery:
    """The app the ``celery`` CLI gets: config from ``$CROSSHEDGE_CONFIG`` (default ./chains.yaml)."""
    return create_app(resolve_config())


def __getattr__(name: str) -> Any:
    # `celery -A orchestrator.celery_app` looks up `app`; build it lazily so importing this module has no effect.
    if name in ("app", "celery"):
        return app_from_env()
    raise AttributeError(name)
