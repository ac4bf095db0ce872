"""Read and write Pidgin's own files: accounts.xml, prefs.xml and the trusted-certificate pool.

What Pidgin (libpurple 2.x) expects is described in reference §4; the shapes below were checked
against files the real finch writes.

Invariants:
- Every file is written with :func:`~sipe_setup.core.fileio.write_atomic` after a timestamped
  :func:`~sipe_setup.core.fileio.backup_file`: a reader (or a crash) sees the old document or
  the new one, never half of one.
- Everything that can fail is checked before anything is written: a corrupt accounts.xml or
  prefs.xml, a running Pidgin/Finch on the same folder, or a bad entry leaves all files as they
  were, and the error says so.
- Other accounts, settings, statuses and unknown elements survive in meaning: the document is
  parsed, only our account's SIPE keys, password and ``auto-login`` flags are touched, and the
  tree is written back (whitespace between elements may change; text does not).
- Input files are untrusted: parsed with ``defusedxml`` (no DTDs, no entities) and read only up
  to :data:`MAX_FILE_BYTES`.
- The password never appears in a log line, a note, an exception or a ``repr``.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import unicodedata
import xml.etree.ElementTree as ET  # only to build and serialise; parsing is defused
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from pyexpat import ErrorString
from typing import Final

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from sipe_setup.core.account import AccountSettings, Secret
from sipe_setup.core.fileio import backup_file, ensure_private_dir, write_atomic

__all__ = [
    "MAX_FILE_BYTES",
    "ExportResult",
    "PasswordMode",
    "PidginFileError",
    "PidginRunning",
    "PidginSipeAccount",
    "RunningClient",
    "SipeAccountEntry",
    "TrustedCertificate",
    "default_purple_dir",
    "enable_keyring_plugin",
    "export_account",
    "find_running_clients",
    "keyring_plugin_path",
    "read_sipe_accounts",
    "remove_cleartext_password",
    "tls_peer_file_name",
]

MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""Pidgin files larger than this are refused rather than read (a real one is a few KiB)."""

SIPE_PROTOCOL: Final = "prpl-sipe"
PIDGIN_UI: Final = "gtk-gaim"
FINCH_UI: Final = "gnt-purple"
KEYRING_PLUGIN_FILE: Final = "gnome-keyring.so"
XML_DECLARATION: Final = "<?xml version='1.0' encoding='UTF-8' ?>\n"

TRANSPORTS: Final = ("auto", "tls", "tcp")
AUTHENTICATIONS: Final = ("auto", "ntlm", "krb5", "tls-dsk")
# The keys we own in <settings>, in the order we write them.
SIPE_KEYS: Final = ("server", "transport", "useragent", "authentication", "sso")

# libpurple's order of <account> children (account.c:account_to_xmlnode).
_CHILD_RANK: Final = {
    "protocol": 0,
    "name": 1,
    "password": 2,
    "alias": 3,
    "statuses": 4,
    "userinfo": 5,
    "settings": 6,  # settings with ui=… rank 7, see _rank
    "proxy": 8,
    "current_error": 9,
}
_CLIENT_PROGRAMS: Final = ("pidgin", "finch")
_PROC: Final = Path("/proc")
_PROC_READ_LIMIT: Final = 256 * 1024


# --- values --------------------------------------------------------------------------------------


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


# --- locations -----------------------------------------------------------------------------------


def default_purple_dir() -> Path:
    """libpurple's settings folder: ``~/.purple``; on Windows ``%APPDATA%\\.purple``.

    On Windows libpurple honours ``PURPLEHOME`` first (``wpurple_home_dir``), so do we.
    """
    if sys.platform == "win32":
        base = os.environ.get("PURPLEHOME") or os.environ.get("APPDATA")
        if base:
            return Path(base) / ".purple"
    return Path.home() / ".purple"


def keyring_plugin_path() -> Path | None:
    """The installed pidgin-gnome-keyring plugin, or None."""
    candidates = [Path("/usr/lib/purple-2") / KEYRING_PLUGIN_FILE]
    candidates += sorted(Path("/usr/lib").glob(f"*/purple-2/{KEYRING_PLUGIN_FILE}"))
    candidates += [
        Path("/usr/local/lib/purple-2") / KEYRING_PLUGIN_FILE,
        default_purple_dir() / "plugins" / KEYRING_PLUGIN_FILE,
    ]
    return next((path for path in candidates if path.is_file()), None)


def tls_peer_file_name(host: str) -> str:
    """The file name libpurple's x509 ``tls_peers`` pool uses for ``host``.

    ``purple_certificate_pool_mkpath`` escapes the id with ``purple_escape_filename``: ASCII
    letters, digits and ``@-_.#`` stay, every other byte of the UTF-8 form becomes ``%xx``
    (lower-case hex); on Windows a trailing ``.`` becomes ``%2e`` as well.
    """
    if not host:
        raise ValueError("the certificate's host name is empty")
    out: list[str] = []
    for ch in host:
        if ch.isascii() and (ch.isalnum() or ch in "@-_.#"):
            out.append(ch)
        else:
            out.extend(f"%{byte:02x}" for byte in ch.encode("utf-8"))
    name = "".join(out)
    if sys.platform == "win32" and name.endswith("."):
        name = name[:-1] + "%2e"
    return name


# --- reading XML ---------------------------------------------------------------------------------


def _read_bounded(path: Path) -> bytes | None:
    """The file's bytes; None when it does not exist."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PidginFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise PidginFileError(
            path, f"is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB, which no Pidgin file is"
        )
    return data


def _parse(path: Path, data: bytes, *, root_tag: str, what: str) -> ET.Element:
    """Parse untrusted XML (comments kept) and check the root element."""
    parser = DefusedXMLParser(
        target=ET.TreeBuilder(insert_comments=True),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(data)
        root: ET.Element = parser.close()
    except ET.ParseError as exc:
        line, column = exc.position
        reason = ErrorString(exc.code)
        raise PidginFileError(
            path, f"is not valid XML ({reason} at line {line}, column {column + 1})"
        ) from exc
    except DefusedXmlException as exc:
        raise PidginFileError(
            path, f"contains a DTD or entity declaration, which {what} never has ({exc})"
        ) from exc
    if root.tag != root_tag:
        raise PidginFileError(
            path,
            f"is not a Pidgin {what}: its top element is <{root.tag}>, expected <{root_tag}>",
        )
    return root


def _load(path: Path, *, root_tag: str, what: str) -> ET.Element | None:
    data = _read_bounded(path)
    if data is None:
        return None
    return _parse(path, data, root_tag=root_tag, what=what)


def _serialise(root: ET.Element) -> bytes:
    ET.indent(root, space="\t")
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return (XML_DECLARATION + "\n" + body + "\n").encode("utf-8")


def _write_document(path: Path, root: ET.Element, *, now: datetime | None) -> Path | None:
    """Back the old file up, then replace it atomically (mode 0600); returns the backup."""
    backup = backup_file(path, now=now)
    write_atomic(path, _serialise(root))
    return backup


# --- accounts.xml --------------------------------------------------------------------------------


def _accounts_path(purple_dir: Path) -> Path:
    return purple_dir / "accounts.xml"


def _prefs_path(purple_dir: Path) -> Path:
    return purple_dir / "prefs.xml"


def _load_accounts(path: Path) -> ET.Element | None:
    return _load(path, root_tag="account", what="accounts file (accounts.xml)")


def _text(element: ET.Element | None) -> str:
    return "" if element is None else "".join(element.itertext())


def _same_name(a: str, b: str) -> bool:
    # libpurple looks accounts up through purple_normalize (Unicode-normalised); SIP addresses
    # are compared case-insensitively, so "Alice@…" and "alice@…" are one account.
    def norm(text: str) -> str:
        return unicodedata.normalize("NFC", text).casefold()

    return norm(a) == norm(b)


def _sipe_accounts(root: ET.Element) -> Iterator[ET.Element]:
    for account in root.findall("account"):
        if _text(account.find("protocol")).strip() == SIPE_PROTOCOL:
            yield account


def _find_sipe_account(root: ET.Element, name: str) -> ET.Element | None:
    return next(
        (acc for acc in _sipe_accounts(root) if _same_name(_text(acc.find("name")), name)), None
    )


def _rank(element: ET.Element) -> int | None:
    tag: object = element.tag  # typeshed says str, but a comment's tag is the Comment factory
    if not isinstance(tag, str):
        return None
    rank = _CHILD_RANK.get(element.tag)
    if element.tag == "settings" and element.get("ui") is not None:
        return 7
    return rank


def _insert_in_order(account: ET.Element, child: ET.Element) -> None:
    """Insert ``child`` where libpurple would have written it (before the first later one)."""
    rank = _rank(child)
    assert rank is not None
    for index, existing in enumerate(account):
        existing_rank = _rank(existing)
        if existing_rank is not None and existing_rank > rank:
            account.insert(index, child)
            return
    account.append(child)


def _settings_block(account: ET.Element, ui: str | None) -> ET.Element:
    for settings in account.findall("settings"):
        if settings.get("ui") == ui:
            return settings
    settings = ET.Element("settings")
    if ui is not None:
        settings.set("ui", ui)
    _insert_in_order(account, settings)
    return settings


def _set_setting(settings: ET.Element, name: str, kind: str, value: str) -> None:
    """Set one <setting>, in place when it exists (duplicates dropped), else appended."""
    matches = [s for s in settings.findall("setting") if s.get("name") == name]
    if matches:
        target = matches[0]
        for extra in matches[1:]:
            settings.remove(extra)
        target.attrib.clear()
    else:
        target = ET.SubElement(settings, "setting")
    target.set("name", name)
    target.set("type", kind)
    for child in list(target):
        target.remove(child)
    target.text = value


def _set_password(account: ET.Element, password: Secret | None) -> None:
    for old in account.findall("password"):
        account.remove(old)
    if password is not None:
        element = ET.Element("password")
        element.text = password.reveal()
        _insert_in_order(account, element)


def _apply_entry(account: ET.Element, entry: SipeAccountEntry) -> None:
    name = account.find("name")
    if name is None:
        name = ET.Element("name")
        _insert_in_order(account, name)
    for child in list(name):
        name.remove(child)
    name.text = entry.name
    settings = _settings_block(account, None)
    values = {
        "server": ("string", entry.server),
        "transport": ("string", entry.transport),
        "useragent": ("string", entry.useragent),
        "authentication": ("string", entry.authentication),
        "sso": ("bool", "1" if entry.sso else "0"),
    }
    for key in SIPE_KEYS:
        kind, value = values[key]
        _set_setting(settings, key, kind, value)
    for ui in (PIDGIN_UI, FINCH_UI):
        _set_setting(_settings_block(account, ui), "auto-login", "bool", "1")


def _new_account(entry: SipeAccountEntry) -> ET.Element:
    account = ET.Element("account")
    ET.SubElement(account, "protocol").text = SIPE_PROTOCOL
    ET.SubElement(account, "name")
    _apply_entry(account, entry)
    return account


def _has_forbidden_char(text: str) -> bool:
    # Control characters cannot be written to XML 1.0 (or would be normalised away, like CR),
    # and SIPE refuses tab/CR/LF in the sign-in name anyway.
    return any(unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufffe\uffff" for ch in text)


def _check_entry(entry: SipeAccountEntry) -> None:
    problems: list[str] = []
    if not entry.signin:
        problems.append("the sign-in address is empty")
    if "," in entry.signin:
        problems.append("the sign-in address contains a comma, which separates it from Login")
    for label, value in (
        ("sign-in address", entry.signin),
        ("login", entry.login),
        ("server", entry.server),
        ("user agent", entry.useragent),
    ):
        if _has_forbidden_char(value):
            problems.append(f"the {label} contains a control character")
    if entry.transport not in TRANSPORTS:
        problems.append(f"transport {entry.transport!r} is not one of {', '.join(TRANSPORTS)}")
    if entry.authentication not in AUTHENTICATIONS:
        problems.append(
            f"authentication {entry.authentication!r} is not one of {', '.join(AUTHENTICATIONS)}"
        )
    if problems:
        raise ValueError("Cannot export this account: " + "; ".join(problems) + ".")


def _ensure_not_running(purple_dir: Path) -> None:
    clients = find_running_clients(purple_dir)
    if clients:
        raise PidginRunning(clients)


def export_account(
    purple_dir: Path,
    entry: SipeAccountEntry,
    *,
    password_mode: PasswordMode,
    password: Secret | None = None,
    trusted_certificates: Sequence[TrustedCertificate] = (),
    now: datetime | None = None,
) -> ExportResult:
    """Merge ``entry`` into ``purple_dir/accounts.xml`` as an enabled prpl-sipe account.

    An account with the same name is updated in place (alias, statuses, other settings, proxy
    kept); every other account and element is kept. All five SIPE keys are written explicitly
    (an absent ``authentication`` would mean NTLM to SIPE). With ``KEYRING`` the caller stores
    the secret itself; here only prefs.xml is changed to load pidgin-gnome-keyring.

    Raises:
        ValueError: a bad entry, or ``CLEARTEXT`` without a password.
        PidginRunning: Pidgin or Finch uses ``purple_dir``; nothing was touched.
        PidginFileError: accounts.xml (or, for ``KEYRING``, prefs.xml) is corrupt or
            unreadable; nothing was touched.
        OSError: writing failed; the old file is still in place.
    """
    _check_entry(entry)
    if password_mode is PasswordMode.CLEARTEXT and not password:
        raise ValueError("Password mode 'cleartext' needs the password.")
    cert_names = [tls_peer_file_name(c.host) for c in trusted_certificates]
    _ensure_not_running(purple_dir)

    accounts_path = _accounts_path(purple_dir)
    root = _load_accounts(accounts_path)
    plugin = keyring_plugin_path() if password_mode is PasswordMode.KEYRING else None
    prefs_root: ET.Element | None = None
    if plugin is not None:
        # Read prefs.xml now so that a corrupt one stops us before accounts.xml changes.
        prefs_root = _load_prefs(_prefs_path(purple_dir))

    ensure_private_dir(purple_dir)
    notes: list[str] = []
    certificate_files: list[Path] = []
    certificate_notes: list[str] = []
    peers = purple_dir / "certificates" / "x509" / "tls_peers"
    for trusted, cert_name in zip(trusted_certificates, cert_names, strict=True):
        ensure_private_dir(peers)
        certificate_file = peers / cert_name
        write_atomic(certificate_file, trusted.pem.encode("utf-8"))
        certificate_files.append(certificate_file)
        certificate_notes.append(
            f"Pidgin will trust the certificate you accepted for {trusted.host} "
            f"without asking again ({certificate_file})."
        )

    if root is None:
        root = ET.Element("account", {"version": "1.0"})
    account = _find_sipe_account(root, entry.name)
    created = account is None
    if account is None:
        account = _new_account(entry)
        root.append(account)
    else:
        _apply_entry(account, entry)
    _set_password(account, password if password_mode is PasswordMode.CLEARTEXT else None)
    backup = _write_document(accounts_path, root, now=now)

    action = "Added" if created else "Updated"
    notes.append(f"{action} the Pidgin account “{entry.name}” in {accounts_path}.")
    if backup is not None:
        notes.append(f"The previous file was saved as {backup}.")
    notes.extend(certificate_notes)
    keyring_enabled = False
    if password_mode is PasswordMode.NONE and entry.sso:
        notes.append("No password is saved: Single Sign-On uses your Kerberos ticket.")
    elif password_mode is PasswordMode.NONE:
        notes.append("No password is saved: Pidgin will ask for it when it signs in.")
    elif password_mode is PasswordMode.CLEARTEXT:
        notes.append(
            "The password is saved in plain text in accounts.xml (a file only you can read)."
        )
    elif plugin is None:
        notes.append(
            "The pidgin-gnome-keyring plugin is not installed, so Pidgin cannot read the "
            "keyring and will ask for the password (Debian/Ubuntu: sudo apt install "
            "pidgin-gnome-keyring)."
        )
    else:
        _merge_keyring_plugin(purple_dir, prefs_root, plugin, now=now)
        keyring_enabled = True
        notes.append(
            "Pidgin and Finch will read the password from your keyring through the "
            "pidgin-gnome-keyring plugin."
        )
    return ExportResult(
        accounts_xml=accounts_path,
        backup=backup,
        created=created,
        certificate_files=tuple(certificate_files),
        keyring_plugin_enabled=keyring_enabled,
        notes=notes,
    )


def _bool_setting(settings: ET.Element | None, name: str) -> bool:
    if settings is None:
        return False
    for setting in settings.findall("setting"):
        if setting.get("name") == name:
            # libpurple: a setting without data is ignored; anything not starting with 0 is true.
            value = _text(setting)
            return bool(value) and not value.startswith("0")
    return False


def _ui_settings(account: ET.Element, ui: str) -> ET.Element | None:
    return next((s for s in account.findall("settings") if s.get("ui") == ui), None)


def _read_account(account: ET.Element) -> PidginSipeAccount:
    signin, _, login = _text(account.find("name")).partition(",")
    values: dict[str, str] = {}
    other: dict[str, str] = {}
    settings = next((s for s in account.findall("settings") if s.get("ui") is None), None)
    for setting in [] if settings is None else settings.findall("setting"):
        name = setting.get("name")
        value = _text(setting)
        if name is None or not value:  # libpurple ignores a setting without data
            continue
        (values if name in SIPE_KEYS else other)[name] = value
    notes: list[str] = []
    transport = values.get("transport", "auto")
    if transport not in ("auto", "tls"):
        if transport != "tcp":
            notes.append(f"Pidgin's connection type “{transport}” means TCP to SIPE.")
        transport = "tcp"  # SIPE: anything else is TCP
    authentication = values.get("authentication", "ntlm")  # SIPE's default when absent
    if "authentication" not in values:
        notes.append("Pidgin has no authentication setting for this account, which SIPE "
                     "treats as NTLM (not Auto).")
    elif authentication not in AUTHENTICATIONS:
        notes.append(f"Pidgin's authentication value “{authentication}” is unknown; SIPE "
                     "treats it as Auto.")
        authentication = "auto"  # SIPE: unknown values mean Automatic
    sso_value = values.get("sso", "0")
    entry = SipeAccountEntry(
        signin=signin,
        login=login,
        server=values.get("server", ""),
        transport=transport,
        authentication=authentication,
        sso=not sso_value.startswith("0"),
        useragent=values.get("useragent", ""),
    )
    password_element = account.find("password")
    password = None if password_element is None else Secret(_text(password_element))
    return PidginSipeAccount(
        entry=entry,
        password=password,
        enabled_pidgin=_bool_setting(_ui_settings(account, PIDGIN_UI), "auto-login"),
        enabled_finch=_bool_setting(_ui_settings(account, FINCH_UI), "auto-login"),
        other_settings=other,
        notes=tuple(notes),
    )


def read_sipe_accounts(purple_dir: Path) -> list[PidginSipeAccount]:
    """The prpl-sipe accounts in ``purple_dir/accounts.xml``; [] when there is no file.

    Raises:
        PidginFileError: the file is corrupt or unreadable.
    """
    root = _load_accounts(_accounts_path(purple_dir))
    if root is None:
        return []
    return [_read_account(account) for account in _sipe_accounts(root)]


def remove_cleartext_password(
    purple_dir: Path, account_name: str, *, now: datetime | None = None
) -> Path | None:
    """Drop the ``<password>`` of that prpl-sipe account and enable the keyring plugin.

    Call it after the password was stored in the keyring and read back. Returns the backup of
    accounts.xml, or None when the account had no saved password (accounts.xml untouched).

    Raises:
        PidginRunning: Pidgin or Finch uses ``purple_dir``; nothing was touched.
        PidginFileError: accounts.xml or prefs.xml is corrupt; nothing was touched.
        LookupError: there is no prpl-sipe account of that name.
    """
    _ensure_not_running(purple_dir)
    path = _accounts_path(purple_dir)
    root = _load_accounts(path)
    account = None if root is None else _find_sipe_account(root, account_name)
    if root is None or account is None:
        raise LookupError(f"{path} has no SIPE account named {account_name}.")
    plugin = keyring_plugin_path()
    prefs_root = _load_prefs(_prefs_path(purple_dir)) if plugin is not None else None
    backup = None
    if account.find("password") is not None:
        _set_password(account, None)
        backup = _write_document(path, root, now=now)
    if plugin is not None:
        _merge_keyring_plugin(purple_dir, prefs_root, plugin, now=now)
    return backup


# --- prefs.xml -----------------------------------------------------------------------------------

# Pidgin loads the plugins listed in /pidgin/plugins/loaded, Finch those in /finch/plugins/loaded.
# The shape finch writes (checked with finch 2.14):
#   <pref version='1' name='/'>
#     <pref name='finch'><pref name='plugins'>
#       <pref name='loaded' type='pathlist'><item value='/usr/lib/purple-2/gnome-keyring.so'/>
_LOADED_PLUGIN_PREFS: Final = (("pidgin", "plugins", "loaded"), ("finch", "plugins", "loaded"))


def _load_prefs(path: Path) -> ET.Element | None:
    root = _load(path, root_tag="pref", what="preferences file (prefs.xml)")
    if root is not None and root.get("name") != "/":
        raise PidginFileError(path, "is not a Pidgin preferences file: its top <pref> is not '/'")
    return root


def _child_pref(parent: ET.Element, name: str) -> ET.Element:
    for pref in parent.findall("pref"):
        if pref.get("name") == name:
            return pref
    return ET.SubElement(parent, "pref", {"name": name})


def _add_plugin(root: ET.Element, plugin: Path) -> bool:
    """Add ``plugin`` to Pidgin's and Finch's loaded lists; True when something changed."""
    changed = False
    for path in _LOADED_PLUGIN_PREFS:
        node = root
        for name in path:
            node = _child_pref(node, name)
        if node.get("type") != "pathlist":
            node.attrib.pop("value", None)
            node.set("type", "pathlist")
            changed = True
        if not any(item.get("value") == str(plugin) for item in node.findall("item")):
            ET.SubElement(node, "item", {"value": str(plugin)})
            changed = True
    return changed


def _merge_keyring_plugin(
    purple_dir: Path, root: ET.Element | None, plugin: Path, *, now: datetime | None
) -> bool:
    if root is None:
        root = ET.Element("pref", {"version": "1", "name": "/"})
    if not _add_plugin(root, plugin):
        return False
    _write_document(_prefs_path(purple_dir), root, now=now)
    return True


def enable_keyring_plugin(purple_dir: Path, *, now: datetime | None = None) -> bool:
    """Make prefs.xml load pidgin-gnome-keyring in Pidgin and Finch; True if prefs.xml changed.

    Returns False, writing nothing, when the plugin is listed already or is not installed
    (see :func:`keyring_plugin_path`).

    Raises:
        PidginRunning: Pidgin or Finch uses ``purple_dir``; nothing was touched.
        PidginFileError: prefs.xml is corrupt or unreadable; nothing was touched.
    """
    _ensure_not_running(purple_dir)
    plugin = keyring_plugin_path()
    if plugin is None:
        return False
    root = _load_prefs(_prefs_path(purple_dir))
    ensure_private_dir(purple_dir)
    return _merge_keyring_plugin(purple_dir, root, plugin, now=now)


# --- running clients -----------------------------------------------------------------------------


def _read_proc_file(path: Path) -> bytes | None:
    try:
        with path.open("rb") as handle:
            return handle.read(_PROC_READ_LIMIT)
    except OSError:
        return None


def _config_option(args: list[str]) -> str | None:
    """The ``-c DIR`` / ``--config[=]DIR`` of a pidgin/finch command line (getopt rules)."""
    result: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            break
        if arg.startswith("--"):
            option, has_value, value = arg[2:].partition("=")
            # getopt_long accepts any unambiguous prefix; "c" only starts "config".
            if option and "config".startswith(option):
                if has_value:
                    result = value
                elif index < len(args):
                    result = args[index]
                    index += 1
            elif option in ("session", "display") and not has_value:
                index += 1  # options with a required argument
            continue
        if arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for position, letter in enumerate(letters):
                rest = letters[position + 1 :]
                if letter == "c":
                    if rest:
                        result = rest
                    elif index < len(args):
                        result = args[index]
                        index += 1
                    break
                if letter == "s":  # --session takes an argument
                    if not rest:
                        index += 1
                    break
                if letter == "l":  # --login[=NAMES]: optional argument, attached only
                    break
    return result


def _process_home(pid_dir: Path) -> Path:
    environ = _read_proc_file(pid_dir / "environ")
    for entry in (environ or b"").split(b"\0"):
        if entry.startswith(b"HOME="):
            return Path(os.fsdecode(entry[5:]))
    return Path.home()


def _client_config_dir(pid_dir: Path, args: list[str]) -> Path:
    config = _config_option(args)
    if config is None:
        return _process_home(pid_dir) / ".purple"
    path = Path(os.path.expanduser(config))
    if not path.is_absolute():
        with contextlib.suppress(OSError):
            path = Path(os.readlink(pid_dir / "cwd")) / path
    return path


def _scan_clients(proc: Path) -> Iterator[tuple[RunningClient, Path]]:
    uid = os.getuid()
    own = os.getpid()
    try:
        entries = list(proc.iterdir())
    except OSError:
        return
    for pid_dir in entries:
        if not pid_dir.name.isdigit() or int(pid_dir.name) == own:
            continue
        try:
            if pid_dir.stat().st_uid != uid:
                continue
        except OSError:
            continue
        raw = _read_proc_file(pid_dir / "cmdline")
        if not raw:
            continue
        argv = [os.fsdecode(part) for part in raw.rstrip(b"\0").split(b"\0")]
        comm = os.fsdecode((_read_proc_file(pid_dir / "comm") or b"").strip())
        program = os.path.basename(argv[0])
        if program not in _CLIENT_PROGRAMS:
            # A script run through its interpreter: argv[0] is the interpreter, comm the script.
            if comm not in _CLIENT_PROGRAMS:
                continue
            program = comm
        yield RunningClient(pid=int(pid_dir.name), program=program), _client_config_dir(
            pid_dir, argv[1:]
        )


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):
        return os.path.abspath(a) == os.path.abspath(b)


def find_running_clients(purple_dir: Path) -> list[RunningClient]:
    """Pidgin/Finch processes of the current user that use ``purple_dir``.

    Linux only (reads ``/proc``): a process's folder is its ``-c``/``--config`` option, else
    ``$HOME/.purple`` from its environment (ours when unreadable). Elsewhere this returns []:
    callers must still ask the user to quit Pidgin first.
    """
    if not sys.platform.startswith("linux") or not _PROC.is_dir():
        return []
    return sorted(
        (client for client, folder in _scan_clients(_PROC) if _same_dir(folder, purple_dir)),
        key=lambda client: client.pid,
    )
