"""Saved profiles: the account settings plus what a check proved, one JSON file per profile.

Invariants:
- a profile file never holds a password: the password lives in the OS keyring
  (:mod:`sipe_setup.core.secrets`) under the profile's id;
- files are written atomically with mode 0600 in a 0700 directory (:mod:`sipe_setup.core.fileio`),
  under the directory's writer lock, and a file is re-checked just before it is replaced: two
  saves (two wizards, a wizard and the CLI) never lose one another's change silently;
- backups of replaced files are pruned to the newest few
  (:data:`~sipe_setup.core.fileio.KEEP_BACKUPS`);
- a file we cannot use (not JSON, not a profile, a newer schema version, bad values) is reported
  with its path and left exactly as it is; replacing it needs ``replace=True`` and it is backed
  up first;
- everything read from a file is validated like typed input (:func:`parse_account`), since a
  profile can come from another machine.

File format (``PROFILE_FORMAT``, ``PROFILE_SCHEMA_VERSION`` 1)::

    {"format": "sipe-setup-profile", "version": 1, "name": "Work",
     "account": {"signin", "login", "server", "transport", "auth", "sso", "user_agent"},
     "validation": null | {"at", "summary", "host", "port", "transport", "scheme",
                           "connected_address", "server_header",
                           "entry": {"host", "port", "transport"}, "pin_server",
                           "certificate": null | {"host", "sha256", "accepted_by_user", "pem"},
                           "webservice_certificates": [{"host", "sha256", …, "pem"}] (optional;
                           TLS-DSK's web-services hosts the user accepted)},
     "password": {"stored": false} | {"stored": true, "where": "...", "key_generation": 1},
     "created": ISO, "updated": ISO}
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import platformdirs

from sipe_setup.core.account import AccountSettings, AuthScheme, Transport, parse_account
from sipe_setup.core.fileio import (
    FileWriteError,
    Snapshot,
    backup_file,
    ensure_private_dir,
    locked_folder,
    read_snapshot,
    write_atomic,
)
from sipe_setup.core.jsonfields import flag_field, json_document, object_field, text_field
from sipe_setup.core.steps import CheckResult
from sipe_setup.core.transport import normalize_sha256_fingerprint

__all__ = [
    "MAX_PROFILE_BYTES",
    "MAX_PROFILE_NAME",
    "PROFILE_FORMAT",
    "PROFILE_SCHEMA_VERSION",
    "CertificateTrust",
    "Profile",
    "ProfileError",
    "ProfileExists",
    "ProfileListing",
    "ProfileNotFound",
    "ProfileStore",
    "ProfileUnreadable",
    "Validation",
    "default_profiles_dir",
    "profile_id",
    "validate_profile_name",
]

PROFILE_FORMAT: Final = "sipe-setup-profile"
PROFILE_SCHEMA_VERSION: Final = 1
MAX_PROFILE_BYTES: Final = 256 * 1024
_MAX_REPLACEABLE_BYTES: Final = 16 * 1024 * 1024  # an unreadable file we may still back up
MAX_PROFILE_NAME: Final = 64
_MAX_NAME = MAX_PROFILE_NAME
_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*")
_SCHEMES = ("NTLM", "Kerberos", "TLS-DSK")


def default_profiles_dir() -> Path:
    """``<user config dir>/sipe-setup/profiles`` (``XDG_CONFIG_HOME`` on Linux)."""
    return platformdirs.user_config_path("sipe-setup", appauthor=False) / "profiles"


class ProfileError(Exception):
    """A profile operation that cannot be done; the message says why in plain words."""


class ProfileNotFound(ProfileError):
    """No profile with that name."""


class ProfileExists(ProfileError):
    """A profile with that name (or file) exists already."""


class ProfileUnreadable(ProfileError):
    """A profile file that is not JSON, not a profile, too new or holds bad values."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}. The file was left as it is.")
        self.path = path
        self.problem = problem


def validate_profile_name(name: str) -> str:
    """The name, stripped; raises :class:`ProfileError` when it is unusable."""
    text = name.strip()
    if not text:
        raise ProfileError("A profile needs a name, like “Work”.")
    if len(text) > _MAX_NAME:
        raise ProfileError(f"A profile name can have at most {_MAX_NAME} characters.")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ProfileError("A profile name cannot contain control characters.")
    return text


def profile_id(name: str) -> str:
    """The file and keyring id of a name: lower case letters, digits, ``-``, ``_`` and ``.``.

    ``Work (Contoso)`` → ``work-contoso``. Two names with one id are one profile.
    """
    folded = unicodedata.normalize("NFKD", name.strip().casefold())
    ascii_text = folded.encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9._]+", "-", ascii_text).strip("-.")
    if not slug:  # a name in a script with no ASCII letters: keep it unique by code points
        slug = "p-" + "-".join(f"{ord(c):x}" for c in name.strip())[:80]
    return slug[:80]


@dataclass(frozen=True, slots=True)
class CertificateTrust:
    """A server certificate the user accepted (not trusted by a CA)."""

    host: str
    sha256: str
    pem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "sha256": self.sha256, "accepted_by_user": True,
                "pem": self.pem}


@dataclass(frozen=True, slots=True)
class Validation:
    """What a successful check proved about this profile."""

    at: str
    summary: str
    host: str
    port: int
    transport: str  # "tls" | "tcp": what was really used
    scheme: str  # "NTLM" | "Kerberos" | "TLS-DSK"
    entry_host: str  # where the sign-in started (before any 301 redirect)
    entry_port: int
    entry_transport: str
    pin_server: bool  # discovery alone would not reach the entry point: write it for Pidgin
    connected_address: str = ""
    server_header: str = ""
    certificate: CertificateTrust | None = None
    webservice_certificates: tuple[CertificateTrust, ...] = ()

    @property
    def accepted_certificates(self) -> tuple[CertificateTrust, ...]:
        """Every certificate Pidgin must be told to trust: the SIP server's, then the web
        services' (TLS-DSK fetches its sign-in certificate from those over HTTPS)."""
        return ((self.certificate,) if self.certificate else ()) + self.webservice_certificates

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at, "summary": self.summary, "host": self.host, "port": self.port,
            "transport": self.transport, "scheme": self.scheme,
            "connected_address": self.connected_address, "server_header": self.server_header,
            "entry": {"host": self.entry_host, "port": self.entry_port,
                      "transport": self.entry_transport},
            "pin_server": self.pin_server,
            "certificate": self.certificate.to_json() if self.certificate else None,
            "webservice_certificates": [c.to_json() for c in self.webservice_certificates],
        }

    @classmethod
    def from_check(cls, account: AccountSettings, result: CheckResult,
                   now: dt.datetime | None = None) -> Validation:
        """The proof from a successful check.

        Raises:
            ProfileError: when the check did not sign in.
        """
        if not result.ok or not result.selected:
            raise ProfileError("Only a check that signed in can be saved as validated; this "
                               f"one did not sign in ({result.code}).")
        selected = result.selected
        entry = result.server.entry_point or selected.candidate
        sipe_pick = (result.discovery or {}).get("sipe_would_use")
        entry_key = (entry.host.lower(), entry.port, entry.transport.value)
        if account.server is not None or result.server.private_resolver:
            pin = True  # typed by the user, or found through DNS servers Pidgin does not ask
        elif isinstance(sipe_pick, Mapping):
            pick_key = (str(sipe_pick.get("host", "")).lower(), int(sipe_pick.get("port", 0)),
                        str(sipe_pick.get("transport", "")))
            pin = pick_key != entry_key or entry.outside_domain
        else:
            pin = True
        accepted = result.accepted_certificate or result.server.trusted_by_ca_file
        return cls(
            at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
            summary=result.summary,
            host=selected.host, port=selected.port,
            transport=selected.candidate.transport.value,
            scheme=result.server.scheme,
            entry_host=entry_key[0], entry_port=entry_key[1], entry_transport=entry_key[2],
            pin_server=pin,
            connected_address=selected.connected_address,
            server_header=result.server.server_header,
            certificate=(CertificateTrust(accepted.host, accepted.sha256, accepted.pem)
                         if accepted else None),
            webservice_certificates=tuple(
                CertificateTrust(c.host, c.sha256, c.pem)
                for c in result.accepted_webservice_certificates),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """A named account setup. Build one with :meth:`from_account`; never holds the password."""

    name: str
    signin: str
    login: str = ""
    server: str = ""
    transport: str = Transport.AUTO.value
    auth: str = AuthScheme.AUTO.value
    sso: bool = False
    user_agent: str = ""
    validation: Validation | None = None
    password_stored: bool = False
    password_where: str = ""
    created: str = ""
    updated: str = ""

    @property
    def id(self) -> str:
        """File name (without ``.json``) and keyring key base."""
        return profile_id(self.name)

    @classmethod
    def from_account(cls, name: str, account: AccountSettings,
                     result: CheckResult | None = None,
                     now: dt.datetime | None = None) -> Profile:
        """A profile of ``account``; validated when ``result`` is a successful check."""
        moment = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
        return cls(
            name=validate_profile_name(name),
            signin=account.signin.address, login=account.login.text,
            server=str(account.server) if account.server else "",
            transport=account.transport.value, auth=account.auth.value, sso=account.sso,
            user_agent=account.user_agent,
            validation=Validation.from_check(account, result, now) if result else None,
            created=moment, updated=moment,
        )

    def account(self) -> AccountSettings:
        """The settings, validated again (raises ``AccountValidationError``)."""
        return parse_account(self.signin, login=self.login, server=self.server,
                             transport=self.transport, auth=self.auth, sso=self.sso,
                             user_agent=self.user_agent)

    @property
    def pidgin_account_name(self) -> str:
        """``signin,login``: Pidgin's account name and the keyring plugin's ``user``."""
        return f"{self.signin},{self.login}"

    def pidgin_settings(self) -> dict[str, str | bool]:
        """The five SIPE settings to write for Pidgin, all explicit.

        With a validation, Pidgin gets what was proven: the scheme that worked instead of
        Auto (SIPE's Auto would try TLS-DSK first, which the check cannot prove), and the
        entry server when discovery alone would have picked another one.
        """
        server, transport, auth = self.server, self.transport, AuthScheme(self.auth)
        check = self.validation
        if check is not None:
            if check.pin_server:
                server = f"{check.entry_host}:{check.entry_port}"
                transport = check.entry_transport
            if auth is AuthScheme.AUTO and check.scheme in ("NTLM", "Kerberos"):
                auth = AuthScheme.NTLM if check.scheme == "NTLM" else AuthScheme.KERBEROS
        return {"server": server, "transport": transport, "authentication": auth.pidgin_value,
                "sso": self.sso, "useragent": self.user_agent}

    # --- JSON --------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        password: dict[str, Any] = {"stored": self.password_stored}
        if self.password_stored:
            password.update(where=self.password_where, key_generation=_key_generation())
        return {
            "format": PROFILE_FORMAT, "version": PROFILE_SCHEMA_VERSION, "name": self.name,
            "account": {"signin": self.signin, "login": self.login, "server": self.server,
                        "transport": self.transport, "auth": self.auth, "sso": self.sso,
                        "user_agent": self.user_agent},
            "validation": self.validation.to_json() if self.validation else None,
            "password": password,
            "created": self.created, "updated": self.updated,
        }

    @classmethod
    def from_json(cls, doc: object) -> Profile:
        """Parse and validate a profile document.

        Raises:
            ValueError: with a plain sentence naming the bad part.
        """
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        if doc.get("format") != PROFILE_FORMAT:
            raise ValueError("not a sipe-setup profile (no \"format\": \"sipe-setup-profile\")")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("the profile has no schema version")
        if version > PROFILE_SCHEMA_VERSION:
            raise ValueError(f"it was written by a newer sipe-setup (profile version {version}, "
                             f"this one reads up to {PROFILE_SCHEMA_VERSION}); update "
                             "sipe-setup to use it")
        if version < 1:
            raise ValueError(f"unknown profile version {version}")
        name = validate_profile_name(text_field(doc, "name"))
        account = object_field(doc, "account")
        profile = cls(
            name=name, signin=text_field(account, "signin"),
            login=text_field(account, "login"), server=text_field(account, "server"),
            transport=text_field(account, "transport") or "auto",
            auth=text_field(account, "auth") or "auto", sso=flag_field(account, "sso"),
            user_agent=text_field(account, "user_agent"),
            validation=_validation(doc.get("validation")),
            created=text_field(doc, "created"), updated=text_field(doc, "updated"),
        )
        settings = profile.account()  # raises AccountValidationError (a ValueError)
        password = object_field(doc, "password")
        stored = flag_field(password, "stored")
        return replace(profile, transport=settings.transport.value, auth=settings.auth.value,
                       password_stored=stored,
                       password_where=text_field(password, "where") if stored else "")


def _key_generation() -> int:
    from sipe_setup.core.secrets import KEY_GENERATION  # keyring is slow to import

    return KEY_GENERATION


def _port(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise ValueError(f"“{key}” is not a port number")
    return value


def _transport_text(doc: Mapping[str, Any], key: str) -> str:
    value = text_field(doc, key)
    if value not in ("tls", "tcp"):
        raise ValueError(f"“{key}” must be tls or tcp")
    return value


def _validation(value: object) -> Validation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("“validation” is not an object")
    entry = object_field(value, "entry")
    scheme = text_field(value, "scheme")
    if scheme not in _SCHEMES:
        raise ValueError(f"“scheme” must be one of {', '.join(_SCHEMES)}")
    certificate = value.get("certificate")
    trust = None if certificate is None else _certificate_trust(certificate)
    webservices = value.get("webservice_certificates", [])
    if not isinstance(webservices, list) or len(webservices) > 8:
        raise ValueError("“webservice_certificates” is not a list of up to 8 certificates")
    return Validation(
        at=text_field(value, "at"), summary=text_field(value, "summary", 1024),
        host=_host(value, "host"), port=_port(value, "port"),
        transport=_transport_text(value, "transport"), scheme=scheme,
        entry_host=_host(entry, "host"), entry_port=_port(entry, "port"),
        entry_transport=_transport_text(entry, "transport"),
        pin_server=flag_field(value, "pin_server"),
        connected_address=text_field(value, "connected_address", 64),
        server_header=text_field(value, "server_header", 256),
        certificate=trust,
        webservice_certificates=tuple(_certificate_trust(c) for c in webservices),
    )


def _certificate_trust(certificate: object) -> CertificateTrust:
    if not isinstance(certificate, dict):
        raise ValueError("a certificate is not an object")
    sha256 = normalize_sha256_fingerprint(text_field(certificate, "sha256"))
    if sha256 is None:
        raise ValueError("“sha256” is not a SHA-256 fingerprint (32 hex pairs with colons)")
    pem = text_field(certificate, "pem", limit=64 * 1024) or None
    if pem is not None and not _PEM_RE.fullmatch(pem):
        raise ValueError("“pem” is not one PEM certificate")
    return CertificateTrust(_host(certificate, "host"), sha256, pem)


def _host(doc: Mapping[str, Any], key: str) -> str:
    value = text_field(doc, key, 253).strip().lower()
    if not value or not re.fullmatch(r"[a-z0-9.:\-\[\]_]+", value):
        raise ValueError(f"“{key}” is not a host name or address")
    return value


@dataclass(frozen=True, slots=True)
class ProfileListing:
    """One file in the store: the profile, or why it cannot be read."""

    path: Path
    profile: Profile | None
    problem: str = ""

    @property
    def id(self) -> str:
        return self.path.stem


class ProfileStore:
    """The profiles directory. Methods raise :class:`ProfileError` subclasses."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_profiles_dir()

    def path_for(self, name: str) -> Path:
        return self.directory / f"{profile_id(name)}.json"

    def list(self) -> list[ProfileListing]:
        """Every ``*.json`` file, readable or not, sorted by name."""
        if not self.directory.is_dir():
            return []
        listings = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                listings.append(ProfileListing(path, self._read(path)))
            except ProfileUnreadable as exc:
                listings.append(ProfileListing(path, None, exc.problem))
        return listings

    def load(self, name: str) -> Profile:
        path = self.path_for(name)
        if not path.exists():
            known = ", ".join(item.profile.name for item in self.list() if item.profile)
            raise ProfileNotFound(f"There is no profile “{name}”."
                                  + (f" Saved profiles: {known}." if known else
                                     " No profiles are saved yet."))
        return self._read(path)

    def save(self, profile: Profile, *, replace_existing: bool = False,
             now: dt.datetime | None = None) -> Path:
        """Write ``profile``; refuses to replace an existing file unless asked.

        An existing file is backed up first when replaced (also an unreadable one). Runs under
        the directory's lock; the file is re-checked just before it is replaced.

        Raises:
            ProfileExists: the file exists and ``replace_existing`` is False.
            FolderBusy: another sipe-setup kept the folder locked too long.
            FileChangedError: another program changed the file meanwhile (nothing written).
            FileWriteError: the file cannot be written (the old one is unchanged).
        """
        path = self.path_for(profile.name)
        with locked_folder(self.directory, what="sipe-setup"):
            old = self._snapshot(path)
            if old.data is not None:
                if not replace_existing:
                    raise ProfileExists(f"A profile “{profile.name}” exists already ({path}); "
                                        "choose another name or replace it.")
                backup_file(path, now=now, data=old.data)
                try:
                    previous: Profile | None = self._parse(path, old.data)
                except ProfileUnreadable:
                    previous = None
                if previous is not None and previous.created:
                    profile = replace(profile, created=previous.created)
            moment = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
            profile = replace(profile, updated=moment, created=profile.created or moment)
            ensure_private_dir(self.directory)
            data = json.dumps(profile.to_json(), indent=2, ensure_ascii=False) + "\n"
            write_atomic(path, data.encode("utf-8"), expect=old)
        return path

    def rename(self, old_name: str, new_name: str) -> Profile:
        """Give a profile a new name (and file). The caller moves the keyring entry."""
        self.load(old_name)  # ProfileNotFound before anything is created
        new_name = validate_profile_name(new_name)
        with locked_folder(self.directory, what="sipe-setup"):
            profile = self.load(old_name)
            old_path, new_path = self.path_for(old_name), self.path_for(new_name)
            if new_path.exists() and new_path != old_path:
                raise ProfileExists(f"A profile “{new_name}” exists already; choose another "
                                    "name.")
            renamed = replace(profile, name=new_name)
            self.save(renamed, replace_existing=new_path == old_path)
            if new_path != old_path:
                _unlink(old_path)
        return renamed

    def delete(self, name: str) -> Path:
        """Remove a profile's file (readable or not); the caller deletes the keyring entry."""
        path = self.path_for(name)
        if not path.exists():
            raise ProfileNotFound(f"There is no profile “{name}”.")
        with locked_folder(self.directory, what="sipe-setup"):
            if not path.exists():
                raise ProfileNotFound(f"There is no profile “{name}”.")
            _unlink(path)
        return path

    def _snapshot(self, path: Path) -> Snapshot:
        """The whole file as it is now (to back it up and to re-check it before replacing)."""
        try:
            snapshot = read_snapshot(path, limit=_MAX_REPLACEABLE_BYTES)
        except OSError as exc:
            raise FileWriteError(path, exc, action="read",
                                 consequence="Nothing was changed.") from None
        if snapshot.data is not None and len(snapshot.data) > _MAX_REPLACEABLE_BYTES:
            raise ProfileUnreadable(path, "is far too large to be a profile; move it away "
                                          "by hand")
        return snapshot

    def _read(self, path: Path) -> Profile:
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_PROFILE_BYTES + 1)
        except OSError as exc:
            raise ProfileUnreadable(path, f"cannot be read ({exc.strerror})") from None
        return self._parse(path, data)

    def _parse(self, path: Path, data: bytes) -> Profile:
        if len(data) > MAX_PROFILE_BYTES:
            raise ProfileUnreadable(path, f"is larger than {MAX_PROFILE_BYTES // 1024} KiB, "
                                          "so it is not a profile")
        try:
            doc = json_document(data)
        except ValueError as exc:
            raise ProfileUnreadable(path, str(exc)) from None
        try:
            return Profile.from_json(doc)
        except ValueError as exc:  # AccountValidationError is a ValueError
            raise ProfileUnreadable(path, str(exc)) from None
        except ProfileError as exc:
            raise ProfileUnreadable(path, str(exc)) from None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise FileWriteError(path, exc, action="delete") from None
