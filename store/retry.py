"""Retry store calls on transient database errors, with exponential backoff and jitter.

Transient: a dropped or terminated connection (PostgreSQL restarted, `pg_terminate_backend`, a
network blip), serialization failures and deadlocks, SQLite "database is locked"/busy. Each store
call is one transaction, so running it again is safe. Anything else, or a transient error that
outlasts `RETRY_FOR_S`, becomes a StoreError whose message names the URL and the cause.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

from hashtune.store.errors import StoreError
from hashtune.store.faults import fault_hint

log = logging.getLogger(__name__)

RETRY_FOR_S = 60.0
_SQLSTATES = ("40001", "40P01")  # serialization failure, deadlock detected
_SQLSTATE_CLASSES = ("08", "57")  # connection exceptions, operator intervention (admin shutdown)
_MARKERS = (
    "database is locked",
    "database is busy",
    "database table is locked",
    "server closed the connection",
    "terminating connection",
    "connection reset",
    "connection refused",
    "connection is closed",
    "consuming input failed",
    "ssl syscall error",
)

F = TypeVar("F", bound=Callable[..., Any])


def is_transient(exc: BaseException) -> bool:
    """Whether running the failed transaction again may succeed."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(code, str) and (code in _SQLSTATES or code[:2] in _SQLSTATE_CLASSES):
        return True
    text = str(orig).lower()
    return any(m in text for m in _MARKERS)


def reason(exc: BaseException) -> str:
    """The first line of the driver's message (no SQL, no traceback)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def _logger(name: str) -> Callable[[Any], None]:
    def log_retry(state: Any) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "store call %s failed (%s); retry %d",
            name, reason(exc) if exc else "?", state.attempt_number,
        )  # fmt: skip

    return log_retry


class _Failed:
    """What `log_retry` reads of a failed first attempt (tenacity's retry state, in short)."""

    def __init__(self, exc: BaseException, attempt_number: int) -> None:
        self.outcome = _Outcome(exc)
        self.attempt_number = attempt_number


class _Outcome:
    def __init__(self, exc: BaseException) -> None:
        self._exc = exc

    def exception(self) -> BaseException:
        return self._exc


def _first_wait(state: Any) -> None:
    """Back off before the first retry too (the first attempt ran outside the loop)."""
    if state.attempt_number == 1:
        time.sleep(random.uniform(0, 0.05))


def retrying(fn: F, resume: Callable[..., Any] | None = None) -> F:
    """`fn` (a method of a store concept, which has `self.db`) retried on transient errors; other SQLAlchemy errors → StoreError.

    `resume(self, *args, **kwargs)`, called before each retry, may return the result of an
    earlier attempt that committed before its connection dropped (so nothing is done twice).
    A store call that reads back what it wrote calls another wrapped method for it, so a
    connection lost after the commit retries the read, not the write.
    """
    log_retry = _logger(fn.__name__)

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            try:  # the first attempt without tenacity's machinery (the hot path)
                return fn(self, *args, **kwargs)
            except SQLAlchemyError as e:
                if not is_transient(e):
                    raise
                log_retry(_Failed(e, 1))
            for attempt in Retrying(
                retry=retry_if_exception(is_transient),
                wait=wait_random_exponential(multiplier=0.05, max=2.0),
                stop=stop_after_delay(RETRY_FOR_S),
                before=_first_wait,
                before_sleep=lambda st: log_retry(
                    _Failed(st.outcome.exception(), st.attempt_number + 1)
                ),
                reraise=True,
            ):
                with attempt:
                    if resume is not None:  # every attempt here is a retry
                        done = resume(self, *args, **kwargs)
                        if done is not None:
                            return done
                    return fn(self, *args, **kwargs)
        except SQLAlchemyError as e:
            what = "gave up on a transient error" if is_transient(e) else "error"
            why = reason(e)
            hint = fault_hint(why, self.db.engine.url)
            raise StoreError(f"storage {self.db.safe_url}: {what}: {why}{hint}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper  # type: ignore[return-value]


def retry_methods(cls: type, skip: tuple[str, ...] = (), **resumes: Callable[..., Any]) -> type:
    """Wrap every public method of `cls` (but `skip`) with `retrying`; `resumes` per name."""
    for name in dir(cls):
        attr = getattr(cls, name)
        if name.startswith("_") or name in skip or not callable(attr) or isinstance(attr, type):
            continue
        setattr(cls, name, retrying(attr, resumes.get(name)))
    return cls
