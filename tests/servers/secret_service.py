"""A real Secret Service (Debian gnome-keyring) on a private D-Bus session bus.

Usage::

    with GnomeKeyringService.start() as service:
        service.env            # {"DBUS_SESSION_BUS_ADDRESS": ..., "XDG_RUNTIME_DIR": ...}
        service.lock()         # lock the default ("login") collection; nothing can unlock it
        service.collection_locked()

What it starts, in a short-named temporary directory (unix socket paths are limited to 108
bytes, pytest's tmp_path is often longer):

- ``dbus-daemon --nofork`` with its own configuration: one unix socket in that directory, no
  TCP, no service activation (nothing on this bus can start a program behind our back);
- ``gnome-keyring-daemon --foreground --components=secrets --unlock`` with ``HOME``,
  ``XDG_DATA_HOME``, ``XDG_CONFIG_HOME`` and ``XDG_RUNTIME_DIR`` inside the directory and a
  password on stdin: it creates an unlocked ``login`` keyring, which becomes the ``default``
  alias.

There is no prompter on the bus, so an unlock request is answered "dismissed" at once; that is
how a locked collection stays locked in the tests. Works as root in a container with no desktop
session. ``stop()`` kills both daemons (process groups) and removes the directory.

:class:`HangingSecretService` is the broken desktop: the same kind of private bus, where a tiny
process (``python -m tests.servers.secret_service hang ADDRESS``) owns
``org.freedesktop.secrets``, reads every call and never replies — a keyring that never answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["KEYRING_UNLOCK_PASSWORD", "GnomeKeyringService", "HangingSecretService"]

# The test keyring's own password (not a user's): gnome-keyring encrypts login.keyring with it.
KEYRING_UNLOCK_PASSWORD = "test-keyring-password"
SECRETS_BUS_NAME = "org.freedesktop.secrets"

_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def _start_private_bus(directory: Path, dbus_daemon: str,
                       processes: list[subprocess.Popen[bytes]]) -> str:
    """Start ``dbus-daemon`` on a socket in ``directory``/run; its address."""
    for sub in ("home", "data", "config", "run"):
        (directory / sub).mkdir(mode=0o700)
    socket_path = directory / "run" / "bus"
    config = directory / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket=socket_path), encoding="utf-8")
    bus = subprocess.Popen(
        [dbus_daemon, f"--config-file={config}", "--nofork", "--print-address=1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    processes.append(bus)
    assert bus.stdout is not None
    address = bus.stdout.readline().decode().strip()
    if not address:
        raise RuntimeError(f"dbus-daemon did not start (exit status {bus.poll()})")
    return address


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
    processes.clear()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"{name} not found (Debian packages dbus, gnome-keyring)")
    return path


@dataclass
class GnomeKeyringService:
    """A running private bus + gnome-keyring-daemon; ``stop()`` (or ``with``) ends both."""

    directory: Path
    bus_address: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def runtime_dir(self) -> Path:
        return self.directory / "run"

    @property
    def env(self) -> dict[str, str]:
        """What a process (finch, secret-tool, this one) needs to reach this Secret Service."""
        return {"DBUS_SESSION_BUS_ADDRESS": self.bus_address,
                "XDG_RUNTIME_DIR": str(self.runtime_dir)}

    @classmethod
    def start(cls, *, timeout: float = 10.0) -> GnomeKeyringService:
        """Start the bus and the keyring daemon; return once the default collection is usable."""
        dbus_daemon = _tool("dbus-daemon")
        keyring_daemon = _tool("gnome-keyring-daemon")
        service = cls(directory=Path(tempfile.mkdtemp(prefix="sipe-ss-")))
        try:
            service._start(dbus_daemon, keyring_daemon, timeout)
        except BaseException:
            service.stop()
            raise
        return service

    def _start(self, dbus_daemon: str, keyring_daemon: str, timeout: float) -> None:
        self.bus_address = _start_private_bus(self.directory, dbus_daemon, self.processes)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "GNOME_"))}
        env.update(self.env)
        env.update({"HOME": str(self.directory / "home"),
                    "XDG_DATA_HOME": str(self.directory / "data"),
                    "XDG_CONFIG_HOME": str(self.directory / "config")})
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        daemon = subprocess.Popen(
            [keyring_daemon, "--foreground", "--components=secrets", "--unlock"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env, start_new_session=True)
        self.processes.append(daemon)
        assert daemon.stdin is not None
        daemon.stdin.write(KEYRING_UNLOCK_PASSWORD.encode())
        daemon.stdin.close()
        self._wait_until_ready(daemon, timeout)

    def _connect(self) -> Any:
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(bus=self.bus_address)

    def _default_collection(self, connection: Any) -> Any:
        import secretstorage

        return secretstorage.get_collection_by_alias(connection, "default")

    def _wait_until_ready(self, daemon: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if daemon.poll() is not None:
                raise RuntimeError(f"gnome-keyring-daemon exited ({daemon.returncode})")
            try:
                with contextlib.closing(self._connect()) as connection:
                    if not self._default_collection(connection).is_locked():
                        return
            # Not yet: no such name on the bus (jeepney's DBusErrorResponse), no alias yet, …
            except Exception as exc:
                last_error = exc
            time.sleep(0.05)
        raise RuntimeError(f"gnome-keyring did not offer an unlocked default keyring: {last_error}")

    def lock(self) -> None:
        """Lock the default collection (gnome-keyring locks without asking)."""
        with contextlib.closing(self._connect()) as connection:
            self._default_collection(connection).lock()

    def collection_locked(self) -> bool:
        with contextlib.closing(self._connect()) as connection:
            return bool(self._default_collection(connection).is_locked())

    def items(self, attributes: dict[str, str]) -> list[tuple[str, dict[str, str], bytes]]:
        """(label, attributes, secret) of every item in the default collection matching."""
        with contextlib.closing(self._connect()) as connection:
            collection = self._default_collection(connection)
            return [(item.get_label(), dict(item.get_attributes()), item.get_secret())
                    for item in collection.search_items(attributes)]

    def secret_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Debian's ``secret-tool`` (libsecret) against this Secret Service."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
        env.update(self.env)
        return subprocess.run([_tool("secret-tool"), *args], env=env, capture_output=True,
                              text=True, timeout=10, check=False)

    def stop(self) -> None:
        _stop(self.processes)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> GnomeKeyringService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


@dataclass
class HangingSecretService:
    """A private bus whose ``org.freedesktop.secrets`` owner never answers a call.

    Nothing is started that could answer in its place: the bus has no service activation,
    and the owner reads every message (so nothing blocks on a full socket) and drops it.
    """

    directory: Path
    bus_address: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.bus_address,
                "XDG_RUNTIME_DIR": str(self.directory / "run")}

    @classmethod
    def start(cls, *, timeout: float = 10.0) -> HangingSecretService:
        dbus_daemon = _tool("dbus-daemon")
        service = cls(directory=Path(tempfile.mkdtemp(prefix="sipe-hang-")))
        try:
            service.bus_address = _start_private_bus(service.directory, dbus_daemon,
                                                     service.processes)
            owner = subprocess.Popen(
                [sys.executable, "-m", "tests.servers.secret_service", "hang",
                 service.bus_address],
                cwd=Path(__file__).resolve().parents[2], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
            service.processes.append(owner)
            assert owner.stdout is not None
            ready = owner.stdout.readline().decode().strip()
            if ready != "ready":
                raise RuntimeError(f"the hanging Secret Service did not start ({ready!r}, "
                                   f"exit status {owner.poll()})")
        except BaseException:
            service.stop()
            raise
        return service

    def stop(self) -> None:
        _stop(self.processes)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> HangingSecretService:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _hang(address: str) -> None:
    """Own org.freedesktop.secrets on ``address`` and never reply to anything."""
    from jeepney.bus_messages import message_bus
    from jeepney.io.blocking import Proxy, open_dbus_connection

    connection = open_dbus_connection(bus=address)
    do_not_queue = 4
    (answer,) = Proxy(message_bus, connection, timeout=5).RequestName(SECRETS_BUS_NAME,
                                                                      do_not_queue)
    if answer != 1:  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        raise SystemExit(f"could not own {SECRETS_BUS_NAME} (RequestName said {answer})")
    print("ready", flush=True)
    while True:
        connection.receive()  # read it, answer nothing


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "hang":
        _hang(sys.argv[2])
    else:
        raise SystemExit("usage: python -m tests.servers.secret_service hang BUS_ADDRESS")
