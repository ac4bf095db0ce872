"""Settings IT can hand out: a small file without password or personal data that pre-fills
the wizard and the CLI (``--prefill FILE``).

Invariants:
- the file carries no password, no sign-in address and no personal Login: the Login is a
  pattern (``COMPANY\\{user}``, ``{user}@company.com``, ``{signin}``) filled from the sign-in
  address of whoever opens it;
- a file is untrusted input: size-bounded, strict JSON, every value checked by the same
  validators as typed input, unknown keys refused (a typo must not pass silently);
- writing one (:func:`write_shared_settings`) never overwrites an existing file unless asked,
  and never Pidgin's own files (``accounts.xml``, ``prefs.xml``…) or a saved profile, even when
  asked.

Format (``SETTINGS_FORMAT``, version 1)::

    {"format": "sipe-setup-settings", "version": 1,
     "organization": "Contoso IT", "sip_domain": "contoso.com",
     "server": "", "transport": "auto", "auth": "auto", "user_agent": "",
     "login_pattern": "CONTOSO\\\\{user}",
     "certificate": null | {"host": "pool.contoso.com", "sha256": "AB:CD:..."},
     "note": "Call 1234 for help"}
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sipe_setup.core.account import (
    AccountValidationError,
    AuthScheme,
    FieldError,
    ServerAddress,
    Transport,
    parse_account,
    parse_server,
    parse_signin,
    validate_user_agent,
)
from sipe_setup.core.fileio import FileWriteError, write_atomic
from sipe_setup.core.jsonfields import json_document, text_field
from sipe_setup.core.profiles import Profile, default_profiles_dir
from sipe_setup.core.transport import normalize_sha256_fingerprint

__all__ = ["SETTINGS_FORMAT", "SETTINGS_VERSION", "SharedFileExists", "SharedSettings",
           "SharedSettingsError", "load_shared_settings", "shared_settings_from_profile",
           "write_shared_settings"]

SETTINGS_FORMAT: Final = "sipe-setup-settings"
SETTINGS_VERSION: Final = 1
MAX_SETTINGS_BYTES: Final = 64 * 1024
_KEYS = frozenset({"format", "version", "organization", "sip_domain", "server", "transport",
                   "auth", "user_agent", "login_pattern", "certificate", "note"})
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_SAMPLE_SIGNIN = "first.last@example.com"
# libpurple's own files: a settings file must never replace one of them.
_PIDGIN_FILES: Final = frozenset({"accounts.xml", "prefs.xml", "blist.xml", "status.xml",
                                  "pounces.xml", "savedstatuses.xml"})
_SHARED_FILE_MODE: Final = 0o644  # handed out to colleagues: readable, holds nothing personal


class SharedSettingsError(ValueError):
    """A settings file that cannot be used; the message names the file and the problem."""


class SharedFileExists(SharedSettingsError):
    """The output file exists and replacing it was not asked for."""


@dataclass(frozen=True, slots=True)
class SharedSettings:
    """What an IT department hands out so people only type their address and password."""

    server: str = ""
    transport: str = Transport.AUTO.value
    auth: str = AuthScheme.AUTO.value
    user_agent: str = ""
    login_pattern: str = ""
    sip_domain: str = ""
    organization: str = ""
    certificate_host: str = ""
    certificate_sha256: str = ""
    note: str = ""

    def login_for(self, signin: str) -> str:
        """The Login for this sign-in address (empty pattern → empty Login)."""
        user = signin.split("@", 1)[0]
        return self.login_pattern.replace("{user}", user).replace("{signin}", signin)

    def prefill(self, signin: str = "") -> dict[str, str | bool]:
        """Field values for the wizard and the CLI (``Field`` names as keys)."""
        values: dict[str, str | bool] = {"server": self.server, "transport": self.transport,
                                         "auth": self.auth, "user_agent": self.user_agent}
        if signin:
            values["signin"] = signin
            values["login"] = self.login_for(signin)
        return values

    @property
    def trusted_fingerprints(self) -> frozenset[str]:
        return frozenset({self.certificate_sha256} if self.certificate_sha256 else set())

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SETTINGS_FORMAT, "version": SETTINGS_VERSION,
            "organization": self.organization, "sip_domain": self.sip_domain,
            "server": self.server, "transport": self.transport, "auth": self.auth,
            "user_agent": self.user_agent, "login_pattern": self.login_pattern,
            "certificate": ({"host": self.certificate_host, "sha256": self.certificate_sha256}
                            if self.certificate_sha256 else None),
            "note": self.note,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"


def _login_pattern_of(profile: Profile) -> tuple[str, str]:
    """(pattern, note): the profile's Login with the person's name replaced by placeholders."""
    login, signin = profile.login.strip(), profile.signin
    user = signin.split("@", 1)[0]
    if not login:
        return "", ""
    if login.lower() == signin.lower():
        return "{signin}", ""
    index = login.lower().find(user.lower())
    if index < 0:
        return "", (f"The Login “{login}” does not contain the user name of "
                    f"{signin}, so it was left out (it is personal); people type their own.")
    return login[:index] + "{user}" + login[index + len(user):], ""


def shared_settings_from_profile(profile: Profile, *, organization: str = "",
                                 note: str = "") -> tuple[SharedSettings, list[str]]:
    """The shareable part of a profile, and notes on what was left out and why."""
    notes: list[str] = []
    pattern, why = _login_pattern_of(profile)
    if why:
        notes.append(why)
    settings = profile.pidgin_settings()
    server, transport = str(settings["server"]), str(settings["transport"])
    auth = profile.auth
    check = profile.validation
    if check is not None and auth == AuthScheme.AUTO.value:
        auth = {"NTLM": "ntlm", "Kerberos": "kerberos"}.get(check.scheme, auth)
    cert = check.certificate if check else None
    shared = SharedSettings(
        server=server, transport=transport, auth=auth, user_agent=profile.user_agent,
        login_pattern=pattern, sip_domain=profile.signin.split("@", 1)[1],
        organization=organization, certificate_host=cert.host if cert else "",
        certificate_sha256=cert.sha256 if cert else "", note=note,
    )
    _validate(shared)
    if profile.sso:
        notes.append("Single Sign-On is a choice of each person and was not included.")
    return shared, notes


def _field_problem(error: FieldError) -> str:
    return f"“{error.field.value}”: {error.message}"


def _validate(settings: SharedSettings) -> None:
    """Check every value with the account validators; raises ValueError."""
    server = parse_server(settings.server)
    if isinstance(server, FieldError):
        raise ValueError(_field_problem(server))
    ua = validate_user_agent(settings.user_agent)
    if isinstance(ua, FieldError):
        raise ValueError(_field_problem(ua))
    if settings.sip_domain:
        parsed = parse_signin(f"user@{settings.sip_domain}")
        if isinstance(parsed, FieldError):
            raise ValueError(f"“sip_domain”: {settings.sip_domain!r} is not a domain")
    unknown = {p for p in _PLACEHOLDER_RE.findall(settings.login_pattern)
               if p not in ("user", "signin")}
    if unknown:
        raise ValueError(f"“login_pattern”: unknown placeholder {{{sorted(unknown)[0]}}}; "
                         "use {user} or {signin}")
    if settings.login_pattern and "{" not in settings.login_pattern:
        raise ValueError("“login_pattern” has no {user} or {signin}: a fixed Login would be "
                         "one person's, not a pattern")
    sample = (f"first.last@{settings.sip_domain}" if settings.sip_domain else _SAMPLE_SIGNIN)
    try:
        parse_account(sample, login=settings.login_for(sample), server=settings.server,
                      transport=settings.transport, auth=settings.auth,
                      user_agent=settings.user_agent)
    except AccountValidationError as exc:
        raise ValueError("; ".join(_field_problem(e) for e in exc.errors)) from None
    if settings.certificate_sha256:
        if normalize_sha256_fingerprint(settings.certificate_sha256) != \
                settings.certificate_sha256:
            raise ValueError("“certificate.sha256” is not a SHA-256 fingerprint (32 hex pairs "
                             "separated by colons)")
        host = parse_server(settings.certificate_host)
        if not isinstance(host, ServerAddress):
            raise ValueError("“certificate.host” is not a host name")


def parse_shared_settings(doc: object) -> SharedSettings:
    """Validate a settings document; raises ValueError with the reason."""
    if not isinstance(doc, dict):
        raise ValueError("it is not a JSON object")
    if doc.get("format") != SETTINGS_FORMAT:
        raise ValueError(f"it is not a sipe-setup settings file (no \"format\": "
                         f"\"{SETTINGS_FORMAT}\")")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("it has no valid \"version\"")
    if version > SETTINGS_VERSION:
        raise ValueError(f"it was written by a newer sipe-setup (version {version}); update "
                         "sipe-setup to read it")
    if "password" in doc:
        raise ValueError("a settings file must not carry a password")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ValueError(f"unknown key “{unknown[0]}”")
    certificate = doc.get("certificate")
    cert_host = cert_sha = ""
    if certificate is not None:
        if not isinstance(certificate, dict):
            raise ValueError("“certificate” is not an object")
        cert_host = text_field(certificate, "host").strip().lower()
        cert_sha = text_field(certificate, "sha256").strip().upper()
    transport = text_field(doc, "transport").strip().lower() or Transport.AUTO.value
    auth_text = text_field(doc, "auth").strip() or AuthScheme.AUTO.value
    try:
        auth = AuthScheme.from_text(auth_text).value
    except ValueError:
        raise ValueError(f"“auth”: unknown scheme “{auth_text}”; use auto, ntlm, kerberos "
                         "or tls-dsk") from None
    settings = SharedSettings(
        server=text_field(doc, "server").strip(), transport=transport, auth=auth,
        user_agent=text_field(doc, "user_agent").strip(),
        login_pattern=text_field(doc, "login_pattern").strip(),
        sip_domain=text_field(doc, "sip_domain").strip().lower(),
        organization=text_field(doc, "organization"), certificate_host=cert_host,
        certificate_sha256=cert_sha, note=text_field(doc, "note", 1000),
    )
    _validate(settings)
    return settings


def load_shared_settings(path: Path) -> SharedSettings:
    """Read and validate a settings file.

    Raises:
        SharedSettingsError: naming the file and what is wrong with it.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SETTINGS_BYTES + 1)
    except OSError as exc:
        raise SharedSettingsError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) > MAX_SETTINGS_BYTES:
        raise SharedSettingsError(f"{path}: larger than {MAX_SETTINGS_BYTES // 1024} KiB, so "
                                  "it is not a settings file")
    try:
        doc = json_document(data)
    except ValueError as exc:
        raise SharedSettingsError(f"{path}: {exc}") from None
    try:
        return parse_shared_settings(doc)
    except ValueError as exc:
        raise SharedSettingsError(f"{path}: {exc}") from None


def _refuse_target(path: Path) -> None:
    if path.name.casefold() in _PIDGIN_FILES:
        raise SharedSettingsError(f"{path}: that is the name of one of Pidgin's own files; a "
                                  "settings file never replaces it. Choose another name, like "
                                  "contoso-sipe.json")
    with contextlib.suppress(OSError):
        if path.parent.resolve() == default_profiles_dir().resolve():
            raise SharedSettingsError(f"{path}: that is sipe-setup's profiles folder; write "
                                      "the settings file somewhere else")
    if path.is_dir():
        raise SharedSettingsError(f"{path}: is a folder; give a file name")


def write_shared_settings(path: Path, settings: SharedSettings, *,
                          replace: bool = False) -> None:
    """Write ``settings`` to ``path`` (mode 0644: it is meant to be handed out).

    Raises:
        SharedFileExists: ``path`` exists and ``replace`` is False (nothing written).
        SharedSettingsError: ``path`` is one of Pidgin's files, in the profiles folder or a
            folder — refused even with ``replace``.
        FileWriteError: it cannot be written (plain words, naming ``path``).
    """
    _refuse_target(path)
    data = settings.dumps().encode("utf-8")
    if replace:
        write_atomic(path, data, mode=_SHARED_FILE_MODE)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     _SHARED_FILE_MODE)
    except FileExistsError:
        raise SharedFileExists(f"{path} exists already; nothing was written") from None
    except OSError as exc:
        raise FileWriteError(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise FileWriteError(path, exc, consequence="Nothing was written.") from None
