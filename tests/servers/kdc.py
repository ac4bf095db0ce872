"""A real MIT Kerberos KDC (Debian krb5-kdc) in a temporary directory on loopback.

Used by the Kerberos tests and the standalone registrar: it creates a realm, a user principal
with a password and the registrar's ``sip/<host>`` service principal with a keytab.

    with MitKdc.start(tmp_dir, realm="EXAMPLE.TEST") as kdc:
        kdc.add_user("alice", "Passw0rd!")
        keytab = kdc.add_service("sip/server.example.test")
        env = kdc.client_env()   # KRB5_CONFIG etc. for a process that should use this realm
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind((LOOPBACK, 0))
        return int(udp.getsockname()[1])


def _tool(name: str) -> str:
    path = shutil.which(name) or f"/usr/sbin/{name}"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name} not found (Debian package krb5-kdc / krb5-admin-server)")
    return path


@dataclass
class MitKdc:
    """A running KDC; stop() (or the context manager) kills it."""

    directory: Path
    realm: str
    port: int
    process: subprocess.Popen[bytes] | None = None
    log: list[str] = field(default_factory=list)

    @property
    def krb5_conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.directory / "kdc.conf"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KRB5_CONFIG"] = str(self.krb5_conf)
        env["KRB5_KDC_PROFILE"] = str(self.kdc_conf)
        return env

    def client_env(self, ccache: str | None = None) -> dict[str, str]:
        """Environment variables that point a Kerberos client at this realm."""
        env = {"KRB5_CONFIG": str(self.krb5_conf)}
        env["KRB5CCNAME"] = ccache or f"FILE:{self.directory / 'ccache'}"
        return env

    @classmethod
    def start(cls, directory: Path, realm: str = "EXAMPLE.TEST") -> MitKdc:
        """Create the realm database and start krb5kdc on a free loopback port."""
        directory.mkdir(parents=True, exist_ok=True)
        kdc = cls(directory=directory, realm=realm, port=_free_port())
        kdc.krb5_conf.write_text(
            "[libdefaults]\n"
            f" default_realm = {realm}\n"
            " dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n"
            " dns_canonicalize_hostname = false\n udp_preference_limit = 1\n"
            f"[realms]\n {realm} = {{\n  kdc = {LOOPBACK}:{kdc.port}\n }}\n"
            f"[domain_realm]\n .{realm.lower()} = {realm}\n {realm.lower()} = {realm}\n"
        )
        kdc.kdc_conf.write_text(
            f"[kdcdefaults]\n kdc_ports = {kdc.port}\n kdc_tcp_ports = {kdc.port}\n"
            f"[realms]\n {realm} = {{\n"
            f"  database_name = {directory / 'principal'}\n"
            f"  key_stash_file = {directory / 'stash'}\n"
            f"  acl_file = {directory / 'kadm5.acl'}\n"
            f"  kdc_listen = {LOOPBACK}:{kdc.port}\n"
            f"  kdc_tcp_listen = {LOOPBACK}:{kdc.port}\n"
            "  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n"
            " }\n"
        )
        (directory / "kadm5.acl").write_text("")
        subprocess.run([_tool("kdb5_util"), "create", "-s", "-r", realm, "-P", "master-pw", "-W"],
                       env=kdc._env(), check=True, capture_output=True, timeout=60)
        logfile = (directory / "kdc.log").open("wb")
        kdc.process = subprocess.Popen([_tool("krb5kdc"), "-n", "-r", realm],
                                       env=kdc._env(), stdout=logfile, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((LOOPBACK, kdc.port)) == 0:
                    return kdc
            if kdc.process.poll() is not None:
                break
            time.sleep(0.05)
        kdc.stop()
        raise RuntimeError("krb5kdc did not start: " + (directory / "kdc.log").read_text())

    def kadmin(self, query: str) -> str:
        """Run one kadmin.local query."""
        done = subprocess.run([_tool("kadmin.local"), "-r", self.realm, "-q", query],
                              env=self._env(), check=True, capture_output=True, timeout=60)
        return done.stdout.decode(errors="replace")

    def add_user(self, name: str, password: str) -> str:
        """Create ``name@REALM`` with a password (given on stdin, never in argv)."""
        subprocess.run([_tool("kadmin.local"), "-r", self.realm, "-q", f"addprinc {name}"],
                       input=f"{password}\n{password}\n".encode(), env=self._env(), check=True,
                       capture_output=True, timeout=60)
        return f"{name}@{self.realm}"

    def add_service(self, name: str) -> Path:
        """Create a service principal with a random key and export it to a keytab."""
        keytab = self.directory / (name.replace("/", "_") + ".keytab")
        self.kadmin(f"addprinc -randkey {name}")
        self.kadmin(f"ktadd -k {keytab} {name}")
        return keytab

    def stop(self) -> None:
        """Stop the KDC process."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> MitKdc:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
