"""Worker processes that die with their driver, even when it is killed with SIGKILL.

A pool worker whose driver vanished would otherwise run on with parent PID 1, its evaluation no
longer bound by any timeout. `die_with_parent` is the worker initializer: on Linux it asks the
kernel for SIGKILL when the parent dies (PR_SET_PDEATHSIG), and everywhere a daemon thread watches
`os.getppid()` and exits the worker the moment its parent changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1
WATCH_INTERVAL_S = 0.5


def _set_parent_death_signal(signum: int) -> bool:
    """Linux only: deliver `signum` to this process when its parent exits; False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _watch_parent(parent_pid: int, interval_s: float) -> None:
    stop = threading.Event()
    while not stop.wait(interval_s):
        if os.getppid() != parent_pid:
            _kill_self()


def die_with_parent(
    parent_pid: int, interval_s: float = WATCH_INTERVAL_S, kernel_signal: bool = True
) -> None:
    """Make this (worker) process die as soon as `parent_pid`, its parent, is gone.

    Call it first thing in the child (a pool initializer). If the parent died before the call,
    the child exits at once (the parent-death signal would never come). The kernel signal fires
    when the parent *thread* that started the child exits: pass `kernel_signal=False` for a
    child started from a short-lived thread (the watchdog alone then applies).
    """
    if kernel_signal:
        _set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        _kill_self()
    threading.Thread(
        target=_watch_parent,
        args=(parent_pid, interval_s),
        name="hashtune-parent-watch",
        daemon=True,
    ).start()


__all__ = ["die_with_parent"]
