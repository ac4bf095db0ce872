"""A real BitlBee (Debian's ``bitlbee-libpurple``, so pidgin-sipe runs inside it) on loopback,
and a minimal IRC client to type commands into it.

BitlBee runs in ForkDaemon mode (``-F -n``: one child per IRC client, the parent in the
foreground) on 127.0.0.1 and a free port, with a throw-away configuration folder; libpurple's
files (accounts.xml, certificates) go to ``<dir>/purple/<nick>``. It is started in a process
group of its own and that group is ended on exit (the parent and its children, nothing else).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import require_tool

_CONFIG = """[settings]
RunMode = ForkDaemon
AuthMode = Open
DaemonInterface = 127.0.0.1
DaemonPort = {port}
ConfigDir = {config_dir}
PidFile = {pid_file}
MotdFile = /dev/null
[defaults]
"""


def require_bitlbee() -> str:
    """Path of bitlbee; under CI=true a missing one fails the test (conftest.require_tool).

    A bitlbee without libpurple (Debian's plain ``bitlbee``) cannot run SIPE: that fails too.
    """
    path = require_tool("bitlbee")
    version = subprocess.run([path, "-V"], capture_output=True, text=True, timeout=10,
                             check=False)
    assert "--purple=1" in version.stdout, \
        f"{path} is not built with libpurple (apt install bitlbee-libpurple):\n{version.stdout}"
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class IrcClient:
    """A line-based IRC connection to BitlBee, as a person's IRC client would use it."""

    sock: socket.socket
    nick: str
    received: list[str] = field(default_factory=list)
    _buffer: bytes = b""

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def type_line(self, text: str) -> None:
        """What typing ``text`` in the &bitlbee window sends: a ``/COMMAND`` is the client's
        own (sent as the IRC command), anything else a message to the channel."""
        if text.startswith("/"):
            self.send(text[1:])
        else:
            self.send(f"PRIVMSG &bitlbee :{text}")

    def _read(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        if not chunk:
            raise ConnectionError("BitlBee closed the connection:\n" + self.transcript())
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\r\n")
        for raw in lines:
            line = raw.decode("utf-8", errors="replace")
            if line.startswith("PING "):
                self.send("PONG " + line[5:])
            self.received.append(line)

    def root_messages(self) -> list[str]:
        """The text of everything root said in &bitlbee (or to us)."""
        found = []
        for line in self.received:
            match = re.match(r":root!\S+ (?:PRIVMSG|NOTICE) \S+ :(.*)$", line)
            if match:
                found.append(match.group(1))
        return found

    def wait_for(self, pattern: str, timeout: float = 30.0, *, start: int = 0) -> str:
        """The first received line (from index ``start``) matching ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = start
        while True:
            for line in self.received[seen:]:
                if regex.search(line):
                    return line
            seen = len(self.received)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line matching {pattern!r} within {timeout} s:\n"
                                   + self.transcript())
            self._read(min(left, 0.5))

    def command(self, text: str, reply: str, timeout: float = 15.0) -> str:
        """Type ``text`` and wait for root's answer matching ``reply``."""
        start = len(self.received)
        self.type_line(text)
        return self.wait_for(reply, timeout, start=start)

    def transcript(self) -> str:
        return "\n".join(self.received[-60:])


@dataclass
class BitlbeeServer:
    """A running bitlbee; ``connect()`` gives an IRC client that has joined &bitlbee."""

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    def connect(self, nick: str = "tester", timeout: float = 15.0) -> IrcClient:
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("bitlbee did not accept a connection:\n"
                                       + self.log()) from None
                time.sleep(0.1)
        client = IrcClient(sock, nick)
        client.send(f"NICK {nick}")
        client.send(f"USER {nick} 0 * :sipe-setup test")
        client.wait_for(r" JOIN :?&bitlbee", timeout)
        return client

    def purple_dir(self, nick: str = "tester") -> Path:
        """Where BitlBee's libpurple keeps this user's files."""
        return self.directory / "config" / "purple" / nick

    def log(self) -> str:
        path = self.directory / "bitlbee.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@contextmanager
def run_bitlbee(directory: Path) -> Iterator[BitlbeeServer]:
    """Start bitlbee-libpurple on 127.0.0.1:<free port>; stop it (and its children) after."""
    binary = require_bitlbee()
    directory.mkdir(parents=True, exist_ok=True)
    config_dir = directory / "config"
    config_dir.mkdir(exist_ok=True)
    port = _free_port()
    conf = directory / "bitlbee.conf"
    conf.write_text(_CONFIG.format(port=port, config_dir=config_dir,
                                   pid_file=directory / "bitlbee.pid"), encoding="utf-8")
    env = dict(os.environ, HOME=str(directory), LC_ALL="C.UTF-8")
    with (directory / "bitlbee.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "-F", "-n", "-v", "-i", "127.0.0.1", "-p", str(port), "-c", str(conf),
             "-d", str(config_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    try:
        yield BitlbeeServer(process, port, directory)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # bitlbee and the children it forked
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
