"""Can Pidgin on *this* computer do what a profile needs? (``sipe-setup doctor``, the wizard's
readiness box before Save, and the export's verdict.)

A check that signs in proves the server side. Whether Pidgin then signs in too depends on this
machine: the SIPE plugin must be installed (Debian 13 no longer ships it); its XML parser must
work with this libxml2 (Debian 12's security updates broke it: no TLS-DSK, no autodiscover, no
contact list — :mod:`sipe_setup.core.sipe_xml_probe`); the keyring password mode needs the
pidgin-gnome-keyring plugin; Kerberos needs a krb5.conf and, for Single Sign-On, a ticket.

Each check is a :class:`Finding` with a :class:`Status` and, when something is wrong, advice in
plain words. Every check is quick and bounded: files are looked at, small helper programs
(``dpkg-query``, ``rpm``, ``klist``) run with a 3-second limit, the libxml2 probe runs in a child
process with its own limit. Nothing here changes the machine. :class:`ReadinessProbes` holds the
machine-facing parts, so tests replace them with fakes (a missing plugin folder, a broken
libxml2) and run the real ones on the real machine.

What was not tried (outside Linux): plugin folders and the libxml2 probe are Linux's; on
Windows the plugin is looked for in Pidgin's install folder, the libxml2 and keyring-plugin
checks are skipped (Pidgin for Windows bundles its own libxml2 and keeps passwords itself);
macOS is looked at like Linux where that makes sense and is untested.
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sipe_setup.core.export.pidgin.paths import (
    KEYRING_PLUGIN_FILE,
    default_purple_dir,
    keyring_plugin_path,
)
from sipe_setup.core.sipe_xml_probe import SipeXmlProbe, SipeXmlStatus, probe_sipe_xml

if TYPE_CHECKING:
    from sipe_setup.core.export.pidgin.model import PasswordMode
    from sipe_setup.core.profiles import Profile

__all__ = [
    "COMMAND_TIMEOUT",
    "Finding",
    "OsRelease",
    "PidginNeeds",
    "PidginReadiness",
    "ReadinessProbes",
    "SipePlugin",
    "Status",
    "check_readiness",
    "export_verdict_lines",
    "find_sipe_plugin",
    "purple_plugin_dirs",
    "read_os_release",
    "sipe_install_advice",
]

COMMAND_TIMEOUT: Final = 3.0
"""Seconds any helper program (dpkg-query, rpm, klist) may take."""
_MAX_PLUGIN_BYTES: Final = 64 * 1024 * 1024
_SIPE_FILE: Final = "libsipe.dll" if sys.platform == "win32" else "libsipe.so"
_SIPE_URL: Final = "https://sipe.sourceforge.net/"


class Status(enum.StrEnum):
    """How one fact bears on Pidgin working here."""

    PASS = "pass"  # noqa: S105 - fine (not a password)
    INFO = "info"  # worth knowing, changes nothing for this profile
    WARN = "warn"  # may stop something (depends on the server or on how the profile is used)
    FAIL = "fail"  # Pidgin on this computer will not do what the profile needs
    SKIP = "skip"  # does not apply on this system


_RANK: Final = {Status.SKIP: 0, Status.PASS: 1, Status.INFO: 1, Status.WARN: 2, Status.FAIL: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """One readiness fact: what was found and, when it matters, what to do."""

    id: str  # "pidgin", "sipe-plugin", "sipe-xml", "keyring-plugin", "kerberos-modules", …
    title: str
    status: Status
    summary: str
    advice: str = ""
    facts: Mapping[str, str | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "title": self.title, "status": self.status.value,
                "summary": self.summary, "advice": self.advice or None,
                "facts": dict(self.facts)}


@dataclass(frozen=True, slots=True)
class OsRelease:
    """The few ``/etc/os-release`` fields advice depends on ("" when absent)."""

    id: str = ""
    version_id: str = ""
    id_like: tuple[str, ...] = ()
    pretty_name: str = ""

    def like(self, *names: str) -> bool:
        return self.id in names or any(name in self.id_like for name in names)


@dataclass(frozen=True, slots=True)
class SipePlugin:
    """The installed SIPE plugin: where, which version, from which package."""

    path: Path
    version: str | None = None  # SIPE's own version, e.g. "1.25.0"
    package: str | None = None  # e.g. "pidgin-sipe 1.25.0-2.1+b1"
    kerberos: bool | None = None  # built with GSSAPI (has the Single Sign-On option)


@dataclass(frozen=True, slots=True)
class PidginNeeds:
    """What a profile asks of Pidgin. ``None`` means "maybe" (Authentication Auto unproven)."""

    tls_dsk: bool | None = None
    kerberos: bool | None = None
    sso: bool = False
    autodiscover: bool = True  # no server given: SIPE asks Lync autodiscover (XML) first
    keyring_plugin: bool | None = None  # the keyring password mode
    validated: bool = False  # a check signed in with these settings

    @classmethod
    def from_profile(cls, profile: Profile,
                     mode: PasswordMode | None = None) -> PidginNeeds:
        """What Pidgin gets for ``profile`` (its proven settings) needs."""
        settings = profile.pidgin_settings()
        auth = str(settings["authentication"])
        check = profile.validation
        tls_dsk: bool | None = auth == "tls-dsk"
        kerberos: bool | None = auth == "krb5" or bool(settings["sso"])
        if auth == "auto":
            proven = check.scheme if check is not None else ""
            tls_dsk = True if proven == "TLS-DSK" else None
            kerberos = True if proven == "Kerberos" or settings["sso"] else None
        keyring = None if mode is None else mode.value == "keyring" and not profile.sso
        return cls(tls_dsk=tls_dsk, kerberos=kerberos, sso=bool(settings["sso"]),
                   autodiscover=not settings["server"], keyring_plugin=keyring,
                   validated=check is not None)


@dataclass(frozen=True, slots=True)
class PidginReadiness:
    """All findings, in a fixed order, and what they add up to."""

    findings: tuple[Finding, ...]
    os_release: OsRelease
    sipe: SipePlugin | None
    xml: SipeXmlProbe | None
    elapsed: float = 0.0

    @property
    def worst(self) -> Status:
        return max((f.status for f in self.findings), key=_RANK.__getitem__,
                   default=Status.PASS)

    @property
    def verdict(self) -> str:
        """``ready``, ``warnings`` or ``not-ready``."""
        return {Status.FAIL: "not-ready", Status.WARN: "warnings"}.get(self.worst, "ready")

    def finding(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def to_json(self) -> dict[str, object]:
        return {"schema": "sipe-setup/doctor", "schema_version": 1, "verdict": self.verdict,
                "system": self.os_release.pretty_name or sys.platform,
                "findings": [f.to_json() for f in self.findings],
                "elapsed_ms": round(self.elapsed * 1000)}


# --- the machine-facing parts ----------------------------------------------------------------


def _run(command: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> tuple[int, str] | None:
    """(exit status, stdout) of a helper program; None when it is missing or took too long."""
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(list(command), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False,
                              env=dict(os.environ, LC_ALL="C", LANG="C"))
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode, done.stdout.decode("utf-8", errors="replace")


def read_os_release(path: Path = Path("/etc/os-release")) -> OsRelease:
    """The distribution, from os-release (empty on systems without one)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:65536]
    except OSError:
        return OsRelease()
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return OsRelease(id=values.get("ID", "").lower(), version_id=values.get("VERSION_ID", ""),
                     id_like=tuple(values.get("ID_LIKE", "").lower().split()),
                     pretty_name=values.get("PRETTY_NAME", ""))


def purple_plugin_dirs(purple_dir: Path | None = None) -> list[Path]:
    """Where libpurple 2 looks for plugins: the user's ``<purple dir>/plugins`` and the system
    folders (Debian's libpurple searches both ``/usr/lib/purple-2`` and the multiarch one)."""
    user = (purple_dir or default_purple_dir()) / "plugins"
    if sys.platform == "win32":
        roots = [os.environ.get(name, "") for name in ("ProgramFiles(x86)", "ProgramFiles")]
        return [user, *(Path(root) / "Pidgin" / "plugins" for root in roots if root)]
    dirs = [user, Path("/usr/lib/purple-2")]
    dirs += sorted(Path("/usr/lib").glob("*/purple-2"))
    dirs += [Path("/usr/lib64/purple-2"), Path("/usr/local/lib/purple-2")]
    dirs += sorted(Path("/usr/local/lib").glob("*/purple-2"))
    seen: set[Path] = set()
    return [d for d in dirs if not (d in seen or seen.add(d))]  # type: ignore[func-returns-value]


def _find_file(name: str, dirs: Sequence[Path]) -> Path | None:
    return next((d / name for d in dirs if (d / name).is_file()), None)


def _package_of(path: Path) -> str | None:
    """``name version`` of the distribution package that installed ``path``, if any."""
    for candidate in dict.fromkeys([str(path), str(path.resolve())]):
        owner = _run(["dpkg-query", "-S", candidate])
        if owner is not None and owner[0] == 0 and ":" in owner[1]:
            package = owner[1].split(":", 1)[0].split(",")[0].strip()
            version = _run(["dpkg-query", "-W", "-f=${Version}", package])
            if version is not None and version[0] == 0 and version[1].strip():
                return f"{package} {version[1].strip()}"
            return package
    rpm = _run(["rpm", "-qf", "--qf", "%{NAME} %{VERSION}-%{RELEASE}", str(path)])
    if rpm is not None and rpm[0] == 0 and rpm[1].strip():
        return rpm[1].strip().splitlines()[0]
    return None


_VERSION_TEXT: Final = re.compile(rb"SIPE version (\d+(?:\.\d+){1,3})")
_ABOUT_TEXT: Final = re.compile(rb"SIPE (\d+\.\d+(?:\.\d+){0,2}) \(")


def find_sipe_plugin(dirs: Sequence[Path]) -> SipePlugin | None:
    """The SIPE plugin in ``dirs`` (first found, as libpurple loads the first), with its
    version read from the file itself and the package that installed it."""
    path = _find_file(_SIPE_FILE, dirs)
    if path is None:
        return None
    version: str | None = None
    kerberos: bool | None = None
    try:
        if path.stat().st_size <= _MAX_PLUGIN_BYTES:
            data = path.read_bytes()
            match = _VERSION_TEXT.search(data) or _ABOUT_TEXT.search(data)
            version = match.group(1).decode("ascii") if match else None
            # The Single Sign-On option exists only in builds with GSSAPI (or SSPI on Windows).
            kerberos = b"Use Single Sign-On" in data
    except OSError:
        pass
    return SipePlugin(path=path, version=version, package=_package_of(path), kerberos=kerberos)


def _krb5_config_files() -> list[Path]:
    configured = os.environ.get("KRB5_CONFIG")
    if configured:
        return [Path(p) for p in configured.split(os.pathsep) if p]
    return [Path("/etc/krb5.conf")]


_DEFAULT_REALM: Final = re.compile(r"^\s*default_realm\s*=\s*(\S+)", re.MULTILINE)


def _default_realm(files: Sequence[Path]) -> tuple[Path | None, str | None]:
    """(the first krb5.conf that exists, its ``default_realm``) — includes are not followed."""
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")[:1024 * 1024]
        except OSError:
            continue
        libdefaults = re.split(r"^\s*\[(?!libdefaults\])", text.partition("[libdefaults]")[2],
                               maxsplit=1, flags=re.MULTILINE)[0]
        match = _DEFAULT_REALM.search(libdefaults)
        return path, match.group(1) if match else None
    return None, None


def _kerberos_ticket() -> tuple[bool | None, str]:
    """(a valid ticket?, its principal or why unknown) — ``klist -s`` answers the first."""
    valid = _run(["klist", "-s"])
    if valid is None:
        return None, "klist is not installed or did not answer"
    listing = _run(["klist"])
    principal = ""
    if listing is not None:
        match = re.search(r"(?:Default principal|Principal):\s*(\S+)", listing[1])
        principal = match.group(1) if match else ""
    return valid[0] == 0, principal


def _missing_kerberos_modules() -> tuple[str, ...]:
    from sipe_setup.core.auth.kerberos import missing_kerberos_modules  # the auth package: lazily

    return missing_kerberos_modules()


@dataclass
class ReadinessProbes:
    """The machine-facing parts of the checks; tests replace any of them."""

    plugin_dirs: Callable[[Path | None], Sequence[Path]] = purple_plugin_dirs
    sipe_plugin: Callable[[Sequence[Path]], SipePlugin | None] = find_sipe_plugin
    keyring_plugin: Callable[[Sequence[Path]], Path | None] = (
        lambda dirs: _find_file(KEYRING_PLUGIN_FILE, dirs) or keyring_plugin_path())
    xml_probe: Callable[[], SipeXmlProbe] = probe_sipe_xml
    os_release: Callable[[], OsRelease] = read_os_release
    pidgin_programs: Callable[[], list[str]] = (
        lambda: [p for p in (shutil.which("pidgin"), shutil.which("finch")) if p])
    missing_kerberos_modules: Callable[[], tuple[str, ...]] = _missing_kerberos_modules
    krb5_config: Callable[[], tuple[Path | None, str | None]] = (
        lambda: _default_realm(_krb5_config_files()))
    kerberos_ticket: Callable[[], tuple[bool | None, str]] = _kerberos_ticket
    platform: str = sys.platform


# --- advice ------------------------------------------------------------------------------------


def sipe_install_advice(release: OsRelease, platform: str = sys.platform) -> str:
    """Where to get pidgin-sipe on this system."""
    if platform == "win32":
        return (f"Install the SIPE plugin for Pidgin for Windows from {_SIPE_URL} (the "
                "pidgin-sipe installer), then restart Pidgin.")
    if release.id == "debian":
        major = release.version_id.split(".")[0]
        if major.isdigit() and int(major) <= 12:
            return "Install it: sudo apt install pidgin-sipe"
        return ("Debian 13 and later no longer ship pidgin-sipe. Build it from source "
                f"({_SIPE_URL}; it needs libpurple-dev), or use Pidgin on a system that still "
                "ships it (Debian 12: sudo apt install pidgin-sipe).")
    if release.like("ubuntu"):
        return "Install it: sudo apt install pidgin-sipe (from the universe component)"
    if release.like("fedora", "rhel", "centos"):
        return "Install it: sudo dnf install pidgin-sipe"
    if release.like("suse", "opensuse"):
        return "Install it: sudo zypper install pidgin-sipe"
    return ("Install pidgin-sipe with your distribution's package manager, or build it from "
            f"source ({_SIPE_URL}).")


def _keyring_install_advice(release: OsRelease) -> str:
    if release.like("debian", "ubuntu"):
        return "sudo apt install pidgin-gnome-keyring"
    return "install the pidgin-gnome-keyring plugin from your distribution"


_XML_WHAT_FAILS: Final = ("TLS-DSK (certificate) sign-in fails with “Web ticket request to … "
                          "failed”, Lync autodiscover finds nothing, and the contact list and "
                          "presence stay empty after sign-in")
_XML_ADVICE: Final = (
    "This is the computer's libxml2/pidgin-sipe pair, not the account: install your "
    "distribution's libxml2 updates (a later build may restore what SIPE needs; run sipe-setup "
    "doctor again to see) or a pidgin-sipe built against a libxml2 that works. Meanwhile set "
    "Authentication to NTLM or Kerberos if the server offers them, and the server by hand "
    "instead of autodiscover. See the README, “Pidgin's SIPE and libxml2”.")


# --- the checks --------------------------------------------------------------------------------


def _pidgin_finding(probes: ReadinessProbes) -> Finding:
    if probes.platform == "win32":
        return Finding("pidgin", "Pidgin", Status.SKIP, "not looked for on Windows")
    programs = probes.pidgin_programs()
    if programs:
        return Finding("pidgin", "Pidgin", Status.PASS, f"found: {', '.join(programs)}",
                       facts={"programs": ", ".join(programs)})
    return Finding("pidgin", "Pidgin", Status.WARN,
                   "neither pidgin nor finch is on the PATH",
                   "Install Pidgin (Debian/Ubuntu: sudo apt install pidgin).")


def _sipe_finding(sipe: SipePlugin | None, dirs: Sequence[Path], release: OsRelease,
                  probes: ReadinessProbes) -> Finding:
    if sipe is None:
        return Finding(
            "sipe-plugin", "SIPE plugin", Status.FAIL,
            f"pidgin-sipe is not installed: no {_SIPE_FILE} in "
            f"{', '.join(str(d) for d in dirs) or 'any plugin folder'}, so Pidgin has no "
            "Office Communicator (SIPE) protocol",
            sipe_install_advice(release, probes.platform))
    version = f"SIPE {sipe.version}" if sipe.version else "SIPE (version not readable)"
    package = f", package {sipe.package}" if sipe.package else ""
    return Finding("sipe-plugin", "SIPE plugin", Status.PASS,
                   f"{version} in {sipe.path}{package}",
                   facts={"path": str(sipe.path), "version": sipe.version,
                          "package": sipe.package})


def _xml_finding(xml: SipeXmlProbe | None, needs: PidginNeeds) -> Finding:
    title = "XML in SIPE (libxml2)"
    if xml is None:
        return Finding("sipe-xml", title, Status.SKIP,
                       "not checked on this system (Pidgin for Windows brings its own libxml2)")
    facts = {"status": xml.status.value, "library": xml.library, "version": xml.version}
    if xml.status is SipeXmlStatus.OK:
        return Finding("sipe-xml", title, Status.PASS,
                       f"SIPE can read XML with libxml2 {xml.version or ''} ({xml.library})"
                       .replace("  ", " "), facts=facts)
    if xml.status is SipeXmlStatus.UNKNOWN:
        return Finding("sipe-xml", title, Status.WARN, f"could not be checked: {xml.reason}",
                       "If TLS-DSK, autodiscover or the contact list fail in Pidgin while "
                       "sipe-setup's check passes, this XML problem may be the cause.",
                       facts=facts)
    where = f"libxml2 {xml.version} ({xml.library})" if xml.version else "this libxml2"
    if needs.tls_dsk:
        lead = f"Pidgin will fail TLS-DSK here: SIPE cannot read XML with {where}"
    elif needs.tls_dsk is None:
        lead = (f"SIPE cannot read XML with {where}: with Authentication Auto, Pidgin fails "
                "whenever the server offers TLS-DSK (SIPE then does not fall back)")
    else:
        lead = f"SIPE cannot read XML with {where}"
    return Finding("sipe-xml", title, Status.FAIL, f"{lead}. In Pidgin, {_XML_WHAT_FAILS}.",
                   _XML_ADVICE, facts=facts)


def _keyring_finding(path: Path | None, needs: PidginNeeds, release: OsRelease,
                     platform: str) -> Finding:
    title = "Keyring plugin"
    if platform == "win32":
        return Finding("keyring-plugin", title, Status.SKIP,
                       "not used on Windows (Pidgin keeps the password itself)")
    if path is not None:
        return Finding("keyring-plugin", title, Status.PASS,
                       f"pidgin-gnome-keyring is installed ({path})", facts={"path": str(path)})
    if needs.keyring_plugin is False:
        status = Status.INFO
    else:
        status = Status.FAIL if needs.keyring_plugin else Status.WARN
    return Finding("keyring-plugin", title, status,
                   "pidgin-gnome-keyring is not installed: with the keyring password mode "
                   "Pidgin cannot read the password and asks for it at every sign-in",
                   f"Install it ({_keyring_install_advice(release)}), or export with the "
                   "password mode “none”.")


def _kerberos_findings(probes: ReadinessProbes, sipe: SipePlugin | None,
                       needs: PidginNeeds) -> list[Finding]:
    wanted = needs.kerberos or needs.sso
    not_needed = needs.kerberos is False and not needs.sso
    findings = []
    missing = probes.missing_kerberos_modules()
    if missing:
        from sipe_setup.core.auth.kerberos import (
            kerberos_install_advice,
            kerberos_unavailable_reason,
        )

        findings.append(Finding(
            "kerberos-modules", "Kerberos in sipe-setup",
            Status.INFO if not_needed else Status.WARN,
            f"sipe-setup cannot check Kerberos: {kerberos_unavailable_reason(missing)}",
            f"{kerberos_install_advice(missing)}.", facts={"missing": ", ".join(missing)}))
    else:
        findings.append(Finding("kerberos-modules", "Kerberos in sipe-setup", Status.PASS,
                                "the Python modules gssapi and krb5 are installed"))
    if sipe is not None and sipe.kerberos is False:
        findings.append(Finding(
            "sipe-kerberos", "Kerberos in SIPE", Status.FAIL if wanted else Status.INFO,
            "this SIPE plugin was built without Kerberos (no Single Sign-On option)",
            "Use NTLM, or a pidgin-sipe built with GSSAPI (distribution packages are)."))
    if probes.platform == "win32":
        return findings  # Windows: SSPI and the domain logon; nothing to read here
    config, realm = probes.krb5_config()
    if config is not None and realm:
        findings.append(Finding("kerberos-config", "Kerberos configuration", Status.PASS,
                                f"{config}: default realm {realm}",
                                facts={"file": str(config), "realm": realm}))
    else:
        what = (f"{config} names no default_realm" if config is not None
                else "there is no /etc/krb5.conf")
        findings.append(Finding(
            "kerberos-config", "Kerberos configuration",
            Status.INFO if not wanted else Status.WARN,
            f"{what}: Kerberos works only with a Login of the form user@REALM and a KDC "
            "found through DNS (_kerberos._udp SRV records)",
            "For Kerberos, install krb5-config/krb5-user (Debian/Ubuntu) and set "
            "default_realm to your company's realm (the Windows domain in capitals).",
            facts={"file": str(config) if config else None, "realm": realm}))
    valid, principal = probes.kerberos_ticket()
    if valid:
        findings.append(Finding("kerberos-ticket", "Kerberos ticket", Status.PASS,
                                f"a valid ticket{f' for {principal}' if principal else ''}",
                                facts={"principal": principal or None}))
    elif valid is None:
        findings.append(Finding("kerberos-ticket", "Kerberos ticket",
                                Status.WARN if needs.sso else Status.INFO,
                                f"cannot tell whether there is a ticket: {principal}",
                                "Single Sign-On needs one: run kinit user@REALM."))
    else:
        findings.append(Finding(
            "kerberos-ticket", "Kerberos ticket", Status.FAIL if needs.sso else Status.INFO,
            "no valid Kerberos ticket now" + (
                ": Single Sign-On in Pidgin will fail" if needs.sso else
                " (needed only for Single Sign-On)"),
            "Run kinit user@REALM (or sign in to the Windows domain), then start Pidgin."))
    return findings


def check_readiness(*, purple_dir: Path | None = None, needs: PidginNeeds | None = None,
                    probes: ReadinessProbes | None = None) -> PidginReadiness:
    """Look at this computer (bounded, read-only) and say what Pidgin can do here."""
    started = time.monotonic()
    probes = probes or ReadinessProbes()
    needs = needs or PidginNeeds()
    release = probes.os_release()
    dirs = list(probes.plugin_dirs(purple_dir))
    sipe = probes.sipe_plugin(dirs)
    xml = None if probes.platform == "win32" else probes.xml_probe()
    keyring = None if probes.platform == "win32" else probes.keyring_plugin(dirs)
    findings = [
        _pidgin_finding(probes),
        _sipe_finding(sipe, dirs, release, probes),
        _xml_finding(xml, needs),
        _keyring_finding(keyring, needs, release, probes.platform),
        *_kerberos_findings(probes, sipe, needs),
    ]
    return PidginReadiness(tuple(findings), release, sipe, xml,
                           elapsed=time.monotonic() - started)


# --- the export's verdict ---------------------------------------------------------------------


def export_verdict_lines(readiness: PidginReadiness, needs: PidginNeeds) -> list[str]:
    """What the export should add about *this* computer's Pidgin ("" lines left out).

    "Signed in — but Pidgin on this computer will fail TLS-DSK because …": the check proved the
    server side; these lines say what this machine will still break.
    """
    lead = "Signed in — but" if needs.validated else "Exported — but"
    lines: list[str] = []
    sipe = readiness.finding("sipe-plugin")
    if sipe is not None and sipe.status is Status.FAIL:
        lines.append(f"{lead} Pidgin on this computer has no SIPE plugin (pidgin-sipe is not "
                     f"installed), so it cannot sign in at all. {sipe.advice}")
    xml = readiness.xml
    if xml is not None and xml.broken:
        where = f"libxml2 {xml.version}" if xml.version else "this computer's libxml2"
        if needs.tls_dsk:
            lines.append(f"{lead} Pidgin on this computer will fail TLS-DSK because its SIPE "
                         f"plugin cannot read XML with {where} (“Web ticket request to … "
                         "failed”); the contact list and presence stay empty too. Run "
                         "sipe-setup doctor for what to do.")
        elif needs.tls_dsk is None:
            lines.append(f"{lead} Pidgin on this computer will fail whenever the server offers "
                         f"TLS-DSK, because its SIPE plugin cannot read XML with {where} and "
                         "Authentication is Auto; the contact list and presence stay empty "
                         "too. Set Authentication to NTLM or Kerberos; run sipe-setup doctor.")
        else:
            autodiscover = (" and Lync autodiscover will not work (the server is not set)"
                            if needs.autodiscover else "")
            lines.append(f"{lead} in Pidgin on this computer the contact list and presence "
                         f"will stay empty{autodiscover}: its SIPE plugin cannot read XML with "
                         f"{where}. Signing in itself works. Run sipe-setup doctor for what to "
                         "do.")
    keyring = readiness.finding("keyring-plugin")
    if needs.keyring_plugin and keyring is not None and keyring.status is Status.FAIL:
        lines.append(f"The pidgin-gnome-keyring plugin is not installed, so Pidgin will ask "
                     f"for the password: {keyring.advice}")
    ticket = readiness.finding("kerberos-ticket")
    if needs.sso and ticket is not None and ticket.status is Status.FAIL:
        lines.append("Pidgin's Single Sign-On needs a Kerberos ticket and there is none now: "
                     "run kinit user@REALM before starting Pidgin.")
    sipe_krb = readiness.finding("sipe-kerberos")
    if (needs.kerberos or needs.sso) and sipe_krb is not None and \
            sipe_krb.status is Status.FAIL:
        lines.append(f"{lead} this computer's SIPE plugin was built without Kerberos. "
                     f"{sipe_krb.advice}")
    return lines
