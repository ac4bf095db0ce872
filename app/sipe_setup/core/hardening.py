"""Keep the password out of core dumps and out of other processes' view.

Called first thing by both front ends (``sipe-setup`` and ``sipe-setup-gui``):

- :func:`harden_process`: no core file (``RLIMIT_CORE`` 0/0, so not even a child can raise it
  again) and, on Linux, not dumpable (``prctl(PR_SET_DUMPABLE, 0)``): no core dump, no
  ``ptrace`` by other processes of the same user, ``/proc/<pid>/environ`` and ``mem`` readable
  by root only.
- :func:`take_environment_variable`: read a variable once and remove it from the environment
  — ``os.environ`` *and* the C environment that child processes inherit — overwriting the
  original bytes, so that neither a child (the keyring library runs ``gcc``/``ld`` to look for
  libraries) nor ``/proc/<pid>/environ`` shows it afterwards.

Nothing here raises: a platform without these calls simply keeps its defaults.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import Final

__all__ = ["PR_GET_DUMPABLE", "PR_SET_DUMPABLE", "harden_process", "take_environment_variable"]

PR_GET_DUMPABLE: Final = 3
PR_SET_DUMPABLE: Final = 4


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)  # the C library already loaded: no lookup
    except OSError:
        return None


def harden_process() -> list[str]:
    """Turn core dumps off for this process (and its children); what could not be done."""
    problems: list[str] = []
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError) as exc:  # Windows has no resource module
        problems.append(f"RLIMIT_CORE: {exc}")
    libc = _libc()
    if libc is not None:
        try:
            if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
                problems.append(f"PR_SET_DUMPABLE: {os.strerror(ctypes.get_errno())}")
        except AttributeError as exc:
            problems.append(f"PR_SET_DUMPABLE: {exc}")
    return problems


def _scrub_c_environment(name: str) -> None:
    """Overwrite the value of ``name`` in the C environment (before it is unset)."""
    libc = _libc()
    if libc is None:
        return
    try:
        getenv, strlen = libc.getenv, libc.strlen
    except AttributeError:
        return
    getenv.restype, getenv.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    strlen.restype, strlen.argtypes = ctypes.c_size_t, [ctypes.c_void_p]
    value = getenv(os.fsencode(name))
    if value:
        ctypes.memset(value, 0, strlen(value))


def take_environment_variable(name: str) -> str | None:
    """The variable's value (None when unset); afterwards it is gone from the environment."""
    value = os.environ.get(name)
    if value is None:
        return None
    if "=" not in name and "\0" not in name:
        _scrub_c_environment(name)
    os.environ.pop(name, None)  # also unsetenv(): children no longer inherit it
    return value
