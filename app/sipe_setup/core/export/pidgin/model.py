"""The values and errors of the Pidgin export: what an account is, what an export did.

What Pidgin (libpurple 2.x) expects is described in reference §4; the shapes were checked
against files the real finch writes. The password never appears in a ``repr`` or a message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sipe_setup.core.account import AccountSettings, Secret

__all__ = [
    "AUTHENTICATIONS",
    "FINCH_UI",
    "PIDGIN_UI",
    "SIPE_KEYS",
    "SIPE_PROTOCOL",
    "TRANSPORTS",
    "ExportResult",
    "PasswordMode",
    "PidginFileError",
    "PidginRunning",
    "PidginSipeAccount",
    "RunningClient",
    "SipeAccountEntry",
    "TrustedCertificate",
]

SIPE_PROTOCOL: Final = "prpl-sipe"
PIDGIN_UI: Final = "gtk-gaim"
FINCH_UI: Final = "gnt-purple"

TRANSPORTS: Final = ("auto", "tls", "tcp")
AUTHENTICATIONS: Final = ("auto", "ntlm", "krb5", "tls-dsk")
# The keys we own in <settings>, in the order we write them.
SIPE_KEYS: Final = ("server", "transport", "useragent", "authentication", "sso")


class PasswordMode(enum.StrEnum):
    """Where Pidgin gets the password from."""

    NONE = "none"  # Pidgin asks at sign-in
    KEYRING = "keyring"  # the pidgin-gnome-keyring plugin reads it from the OS keyring
    CLEARTEXT = "cleartext"  # <password> in accounts.xml (the user was warned)


@dataclass(frozen=True)
class SipeAccountEntry:
    """The SIPE account as Pidgin stores it (reference §4.1, §4.2).

    ``server`` is "" for auto-discovery, else ``host[:port]`` as SIPE reads it; ``transport``
    is ``auto``/``tls``/``tcp``; ``authentication`` is ``auto``/``ntlm``/``krb5``/``tls-dsk``.
    """

    signin: str
    login: str
    server: str = ""
    transport: str = "auto"
    authentication: str = "auto"
    sso: bool = False
    useragent: str = ""

    @property
    def name(self) -> str:
        """The account name: ``signin,login`` (Pidgin writes the comma even with no login)."""
        return f"{self.signin},{self.login}"

    @classmethod
    def from_settings(cls, settings: AccountSettings) -> SipeAccountEntry:
        """The entry for validated wizard/CLI settings."""
        return cls(
            signin=settings.signin.address,
            login=settings.login.text,
            server="" if settings.server is None else str(settings.server),
            transport=settings.transport.value,
            authentication=settings.auth.pidgin_value,
            sso=settings.sso,
            useragent=settings.user_agent,
        )




@dataclass(frozen=True)
class TrustedCertificate:
    """A server certificate the user chose to trust, for libpurple's ``tls_peers`` pool."""

    host: str
    pem: str




@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_account` did, for the front end to show."""

    accounts_xml: Path
    backup: Path | None
    created: bool  # False: an existing account with the same name was updated
    certificate_files: tuple[Path, ...]  # tls_peers files written (SIP server, web services)
    keyring_plugin_enabled: bool  # prefs.xml loads pidgin-gnome-keyring in Pidgin and Finch
    notes: list[str] = field(default_factory=list)  # plain-words lines for the user
    password_removed: bool = False  # a plain-text <password> left accounts.xml (and backups)
    scrubbed_backups: tuple[Path, ...] = ()  # older backups the removed password was taken out of

    @property
    def certificate_file(self) -> Path | None:
        """The first certificate written (the SIP server's when there is one)."""
        return self.certificate_files[0] if self.certificate_files else None


@dataclass(frozen=True)
class PidginSipeAccount:
    """One prpl-sipe account read from accounts.xml.

    ``entry`` holds what SIPE will actually use: a missing or empty ``authentication`` reads
    as ``ntlm`` (SIPE's default), a ``transport`` other than auto/tls as ``tcp``.
    """

    entry: SipeAccountEntry
    password: Secret | None  # the cleartext <password>, if the file has one
    enabled_pidgin: bool
    enabled_finch: bool
    other_settings: dict[str, str]  # protocol settings other than the five SIPE keys
    notes: tuple[str, ...] = ()  # where SIPE reads a setting differently from how it looks


@dataclass(frozen=True)
class RunningClient:
    """A Pidgin or Finch process using a given settings folder."""

    pid: int
    program: str  # "pidgin" | "finch"


class PidginFileError(Exception):
    """accounts.xml or prefs.xml cannot be read or is not what libpurple writes.

    The message names the file and the problem, and says that nothing was changed.
    """

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}. Nothing was changed.")


class PidginRunning(Exception):
    """Pidgin or Finch runs on the folder; it would overwrite our change when it quits."""

    def __init__(self, clients: list[RunningClient]) -> None:
        self.clients = clients
        described = ", ".join(f"{c.program.capitalize()} (pid {c.pid})" for c in clients)
        verb = "is" if len(clients) == 1 else "are"
        super().__init__(
            f"{described} {verb} running with this settings folder; it rewrites accounts.xml "
            "when it quits, so the change would be lost. Quit Pidgin (Buddy List → Quit) and "
            "try again."
        )
