"""A private network + mount namespace for tests that need the *system* resolver.

finch with an empty Server field discovers its server the way Pidgin does: SRV through
``res_query`` and host names through ``getaddrinfo``, both reading ``/etc/resolv.conf``. To
point them at a test DNS server without touching the machine, a helper program runs under
``unshare --net --mount`` (root only): inside, :func:`enter_private_network` makes the mounts
private, bind-mounts its own ``resolv.conf`` (nameserver 127.0.0.1), ``hosts`` and
``nsswitch.conf`` (``hosts: files dns``: no systemd-resolved or mDNS route out) over the
machine's, and brings the namespace's own loopback up (as ``ip link set lo up`` does).
Nothing inside can reach the real network (the namespace has no other interface), and
everything is gone when the helper exits.

Test side::

    require_netns()                       # fails under CI=true, skips elsewhere
    done = run_in_netns("tests.servers.sipe_choices", "scenario.json", timeout=60)
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import struct
import subprocess
import sys
from pathlib import Path

__all__ = ["enter_private_network", "netns_problem", "require_netns", "run_in_netns"]

ROOT = Path(__file__).resolve().parents[2]
_OUTER_NS = "SIPE_SETUP_TEST_OUTER_NAMESPACES"
_TOOLS = ("unshare", "mount")
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def _tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name, Path("/sbin") / name)
         if p.exists()), None)


def netns_problem() -> str | None:
    """Why a private namespace cannot be made here (None: it can)."""
    missing = [name for name in _TOOLS if _tool(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (Debian packages util-linux, mount)"
    if os.geteuid() != 0:
        return "the network-namespace tests run as root (unshare --net --mount)"
    unshare = _tool("unshare")
    assert unshare is not None
    try:
        done = subprocess.run([unshare, "--net", "--mount", "true"], capture_output=True,
                              text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --net --mount failed: {exc}"
    if done.returncode != 0:
        return f"unshare --net --mount is not allowed here: {done.stderr.strip()}"
    return None


def require_netns() -> None:
    """A failure under CI=true, a skip on a developer machine (see tests.conftest)."""
    import pytest

    from tests.conftest import UNDER_CI

    problem = netns_problem()
    if problem is None:
        return
    if UNDER_CI:
        pytest.fail(problem)
    pytest.skip(problem)


def run_in_netns(module: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -m module args…`` in a new network + mount namespace (this interpreter)."""
    unshare = _tool("unshare")
    if unshare is None:
        raise RuntimeError("unshare is not installed")
    env = dict(os.environ)
    env[_OUTER_NS] = " ".join(_namespaces())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([unshare, "--net", "--mount", "--", sys.executable, "-m", module,
                           *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env, check=False)


def _namespaces(pid: str = "self") -> tuple[str, str]:
    return (os.readlink(f"/proc/{pid}/ns/net"), os.readlink(f"/proc/{pid}/ns/mnt"))


def _in_own_namespaces() -> bool:
    """True only in namespaces other than the caller's (never bind-mount over the machine's
    files): both the network and the mount namespace differ from those run_in_netns ran in."""
    outer = os.environ.get(_OUTER_NS, "").split()
    try:
        own = _namespaces()
        parent = _namespaces(str(os.getppid()))
    except OSError:
        return False
    return len(outer) == 2 and all(o != i and p != i for o, p, i in zip(outer, parent, own,
                                                                         strict=True))


def enter_private_network(workdir: Path, *, nameserver: str = "127.0.0.1") -> None:
    """Inside ``unshare --net --mount``: own resolv.conf/hosts/nsswitch.conf, loopback up.

    Raises:
        RuntimeError: not in a private network and mount namespace, or a command failed.
    """
    if not _in_own_namespaces():
        raise RuntimeError("refusing to change mounts outside a private namespace")
    interfaces = {name for _, name in socket.if_nameindex()}
    if interfaces != {"lo"}:
        raise RuntimeError(f"the namespace has interfaces other than lo: {sorted(interfaces)}")
    workdir.mkdir(parents=True, exist_ok=True)
    files = {
        "/etc/resolv.conf": f"nameserver {nameserver}\noptions timeout:1 attempts:2\n",
        "/etc/hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "/etc/nsswitch.conf": "hosts: files dns\n",
    }
    _run("mount", "--make-rprivate", "/")
    for target, text in files.items():
        source = workdir / Path(target).name
        source.write_text(text, encoding="utf-8")
        if not Path(target).exists():  # never create files on the machine's file system
            raise RuntimeError(f"{target} does not exist; cannot bind-mount over it")
        _run("mount", "--bind", str(source), target)
    _loopback_up()


def _loopback_up() -> None:
    """``ip link set lo up``, without needing iproute2 (SIOCSIFFLAGS on the namespace's lo)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | _IFF_UP))


def _run(*command: str) -> None:
    path = _tool(command[0])
    if path is None:
        raise RuntimeError(f"{command[0]} is not installed")
    done = subprocess.run([path, *command[1:]], capture_output=True, text=True, timeout=20,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
