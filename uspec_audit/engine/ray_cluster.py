"""Connect to a Ray cluster (or start a local one) with bounded waits and clear errors.

Every wait is bounded: an address nobody answers fails in seconds, a cluster
that cannot place the actors fails after ``resource_timeout_s``, never a hang.
Ray's usage statistics are switched off for clusters this run starts, and every
worker gets ``ORT_DISABLE_TELEMETRY=1``: an audit tool sends nothing anywhere.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from typing import Any
from urllib.parse import urlparse

from uspec_audit.config.models import Execution
from uspec_audit.errors import RunError

#: Environment every worker of the job gets (telemetry off, the driver's plugin switches).
WORKER_ENV_KEYS = ("ORT_DISABLE_TELEMETRY", "USPEC_AUDIT_DISABLE_PLUGINS")


def import_ray():
    """``ray``, or a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as error:
        raise RunError("--executor ray needs Ray: pip install 'uspec-audit[ray]'.") from error
    return ray


def worker_env() -> dict[str, str]:
    env = {"ORT_DISABLE_TELEMETRY": "1"}
    for key in WORKER_ENV_KEYS:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _check_reachable(address: str, timeout: float) -> None:
    """Fail fast on an address nobody listens on (Ray itself retries for minutes)."""
    if address in ("auto", "local") or address.startswith("ray://"):
        target = urlparse(address) if address.startswith("ray://") else None
        if target is None:
            return
        host, port = target.hostname, target.port or 10001
    else:
        host, _, port_text = address.rpartition(":")
        if not host or not port_text.isdigit():
            raise RunError(
                f"Ray address '{address}' is not host:port (e.g. 10.0.0.1:6379), ray://host:10001 or auto."
            )
        port = int(port_text)
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 10.0)):
            pass
    except OSError as error:
        raise RunError(
            f"cannot reach the Ray cluster at {address}: {error}. Is `ray start --head` running there, "
            f"and is the port open from this machine?"
        ) from error


def _bounded(call, timeout: float, what: str):
    """Run ``call`` on a daemon thread and give up after ``timeout`` seconds: ray.init retries for ever against a
    port that answers but is no Ray cluster. (Only for joining: a local cluster must start on the main thread.)"""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the caller
            outcome["error"] = error

    thread = threading.Thread(target=target, name="uspec-audit-ray-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise RunError(f"{what} did not finish within {timeout:.0f} s (execution.connect_timeout_s).")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@contextlib.contextmanager
def _quiet_ray_logs():
    """Ray's start-up chatter (token defaults, signal handlers) is not the user's business; errors still show."""
    logger = logging.getLogger("ray")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _keep_stdout_ours() -> None:
    """Ray prints the cluster's messages (a worker died, a task is retried) on the driver's stdout; stdout belongs
    to the command (``--json``), so they go to stderr. Ray has no switch for it: its printer is wrapped."""
    try:
        from ray._private import worker
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_uspec_audit_stderr", False):
        return

    def to_stderr(data, ignore_prefix):
        return original({**data, "is_err": True}, ignore_prefix)

    to_stderr._uspec_audit_stderr = True  # type: ignore[attr-defined]  # marks our wrapper
    worker.print_to_stdstream = to_stderr


def connect(settings: Execution) -> tuple[Any, bool]:
    """Join the cluster at ``settings.address``, or start a local one; return (ray, whether we started it)."""
    ray = import_ray()
    _keep_stdout_ours()
    with _quiet_ray_logs():
        return _connect(ray, settings)


def _connect(ray, settings: Execution) -> tuple[object, bool]:
    env = worker_env()
    runtime_env = {"env_vars": env}
    if (
        ray.is_initialized()
    ):  # e.g. a notebook that called ray.init itself: use that cluster, leave it running
        return ray, False
    address = settings.address
    if address:
        _check_reachable(address, settings.connect_timeout_s)

        def join():
            return ray.init(
                address=address,
                runtime_env=runtime_env,
                logging_level=logging.ERROR,
                log_to_driver=False,
                configure_logging=False,
            )

        try:
            _bounded(join, settings.connect_timeout_s, f"connecting to the Ray cluster at {address}")
        except RunError:
            raise
        except Exception as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            hint = (
                " The cluster uses token authentication: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
                "RAY_AUTH_TOKEN_PATH) as Ray documents."
                if "auth" in repr(error.__cause__ or error).lower()
                else ""
            )
            raise RunError(f"cannot join the Ray cluster at {address}: {message}.{hint}") from error
        return ray, False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options = {
        "include_dashboard": False,
        "logging_level": logging.ERROR,
        "log_to_driver": False,
        "configure_logging": False,
        "runtime_env": runtime_env,
    }
    if settings.object_store_mb is not None:
        options["object_store_memory"] = settings.object_store_mb * 2**20

    try:  # in this thread: Ray ties the processes it starts to the thread that starts them
        ray.init(address="local", **options)
    except Exception as error:
        raise RunError(f"cannot start a local Ray cluster: {type(error).__name__}: {error}") from error
    return ray, True
