"""Can this machine's pidgin-sipe parse XML at all? A libxml2 probe.

SIPE 1.25.0 reads every XML document (web-service metadata and web tickets for TLS-DSK, Lync
autodiscover answers, contact lists, presence) through libxml2's SAX interface in an unusual
way: it fills in the *SAX1* element callbacks (``startElement``/``endElement``) but marks the
handler as a SAX2 one (``initialized = XML_SAX2_MAGIC``) and leaves the SAX2 callbacks
(``startElementNs``/``endElementNs``) empty. Older libxml2 then falls back to the SAX1
callbacks. libxml2 builds that carry a 2023 security fix (Debian 12's 2.9.14+dfsg-1.3~deb12u4
and later, and very likely upstream 2.12+) no longer do: no element callback fires, every parse
yields nothing, and SIPE fails with "Web ticket request to … failed" (TLS-DSK), gets no
autodiscover answer and no contact list — while NTLM/Kerberos sign-in itself still works.

Version numbers do not tell (distributions backport differently), so we ask libxml2 itself:

1. load ``libxml2.so.2`` (or the library given), the way the dynamic linker would for SIPE;
2. build an ``xmlSAXHandler`` with only ``startElement`` set and ``initialized`` =
   ``XML_SAX2_MAGIC``, exactly as SIPE marks its handler, and parse ``<a/>`` with
   ``xmlSAXUserParseMemory``;
3. the control: the same with ``initialized = 1`` (a plain SAX1 handler) must see the callback,
   which shows the probe itself works.

OK = both fire; BROKEN = only the control fires; anything else = UNKNOWN, with the reason.

Isolation (decided): the ctypes code runs in a short-lived child interpreter
(``sys.executable -I -S -c …``), never in the caller's process. A wrong struct layout or a
broken libxml2 could crash or hang a process that calls into C; in the child that costs a
reported UNKNOWN ("probe process was killed by signal SIGSEGV", "did not finish within 5 s")
instead of the GUI. ``-I -S`` keeps the child independent of the user's Python environment
and makes it start in ~30 ms; it imports only ``ctypes`` and ``json``. The child inherits the
caller's environment (``LD_LIBRARY_PATH``, ``LD_PRELOAD``), as Pidgin started by the same user
would, and it resolves ``xmlSAXUserParseMemory`` through the process-wide symbol scope — the
same lookup SIPE's own call goes through, so a preloaded interposer counts as it would for SIPE.

The result is cached per process and library (:func:`probe_sipe_xml`); the probe takes
~30–60 ms, so a GUI should still call it from a worker thread, not the event loop.
"""

from __future__ import annotations

import enum
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "DEFAULT_LIBRARY",
    "PROBE_TIMEOUT",
    "SipeXmlProbe",
    "SipeXmlStatus",
    "probe_sipe_xml",
    "run_sipe_xml_probe",
]

DEFAULT_LIBRARY = "libxml2.so.2"
"""The soname SIPE (libsipe.so) links against on Linux."""

PROBE_TIMEOUT = 5.0
"""Seconds the child may take before the probe gives up (UNKNOWN)."""

# The child program. Self-contained: stdlib ctypes + json only, run with -I -S.
# argv[1] = library to load ("" = libxml2.so.2, then ctypes.util.find_library("xml2")).
# Prints one JSON object on stdout.
_CHILD = r"""
import ctypes, json, sys

def main(library):
    out = {}
    names = [library] if library else ["libxml2.so.2"]
    lib = None
    errors = []
    for name in names:
        try:
            lib = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
            break
        except OSError as exc:
            errors.append(str(exc))
    if lib is None and not library:
        from ctypes.util import find_library
        found = find_library("xml2")
        if found:
            try:
                lib = ctypes.CDLL(found, mode=ctypes.RTLD_GLOBAL)
            except OSError as exc:
                errors.append(str(exc))
    if lib is None:
        out["error"] = "libxml2 could not be loaded: " + ("; ".join(errors) or "not found")
        return out

    if not hasattr(lib, "xmlSAXUserParseMemory"):
        out["error"] = "%s is not libxml2 (no xmlSAXUserParseMemory)" % (library or "it")
        return out
    out["library"] = names[0]
    try:
        class DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
        dladdr = ctypes.CDLL(None).dladdr
        dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
        info = DlInfo()
        if dladdr(ctypes.cast(lib.xmlCheckVersion, ctypes.c_void_p), ctypes.byref(info)):
            if info.dli_fname:
                out["library"] = info.dli_fname.decode(errors="replace")
    except (AttributeError, OSError):
        pass
    try:
        getter = lib.__xmlParserVersion
        getter.restype = ctypes.POINTER(ctypes.c_char_p)
        raw = getter().contents.value
    except (AttributeError, ValueError):
        try:
            raw = ctypes.c_char_p.in_dll(lib, "xmlParserVersion").value
        except (AttributeError, ValueError):
            raw = None
    if raw:
        out["raw_version"] = raw.decode(errors="replace")

    StartElement = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    P = ctypes.c_void_p

    class Handler(ctypes.Structure):
        # struct _xmlSAXHandler: 14 callbacks, startElement, 12 callbacks, initialized,
        # then the SAX2 extension: _private, startElementNs, endElementNs, serror.
        _fields_ = [("before", P * 14), ("startElement", StartElement), ("after", P * 12),
                    ("initialized", ctypes.c_uint), ("private", P),
                    ("startElementNs", P), ("endElementNs", P), ("serror", P)]

    fired = [0]

    def on_start(user_data, name, attrs):
        fired[0] += 1

    callback = StartElement(on_start)
    try:
        parse = ctypes.CDLL(None).xmlSAXUserParseMemory  # what SIPE's call resolves to
    except AttributeError:
        parse = lib.xmlSAXUserParseMemory
    parse.argtypes = [ctypes.POINTER(Handler), P, ctypes.c_char_p, ctypes.c_int]
    parse.restype = ctypes.c_int
    XML_SAX2_MAGIC = 0xDEEDBEAF  # libxml/parser.h; what SIPE puts in "initialized"
    for key, initialized in (("magic", XML_SAX2_MAGIC), ("control", 1)):
        handler = Handler()
        handler.startElement = callback
        handler.initialized = initialized
        fired[0] = 0
        rc = parse(ctypes.byref(handler), None, b"<a/>", 4)
        out[key] = {"rc": rc, "fired": fired[0]}
    return out

try:
    result = main(sys.argv[1])
except Exception as exc:
    result = {"error": "probe failed: %s: %s" % (type(exc).__name__, exc)}
sys.stdout.write(json.dumps(result) + "\n")
"""


class SipeXmlStatus(enum.Enum):
    """Whether SIPE's way of parsing XML works with this machine's libxml2."""

    OK = "ok"
    """SAX1 callbacks fire with ``XML_SAX2_MAGIC``: SIPE can read XML."""
    BROKEN = "broken"
    """They do not: SIPE parses no XML (no TLS-DSK, no Lync autodiscover, no contacts)."""
    UNKNOWN = "unknown"
    """libxml2 was not found, or the probe itself failed (see ``reason``)."""


@dataclass(frozen=True, slots=True)
class SipeXmlProbe:
    """What the probe found. ``library``/``version`` are None when libxml2 was not loaded."""

    status: SipeXmlStatus
    explanation: str
    library: str | None = None
    """Path of the libxml2 that was loaded (or the name asked for, if the path is unknown)."""
    version: str | None = None
    """libxml2's own version, e.g. ``2.9.14`` (distribution patches are not visible here)."""
    reason: str | None = None
    """Why the result is UNKNOWN; None otherwise."""
    magic_fired: bool | None = None
    """Did ``startElement`` fire with ``initialized = XML_SAX2_MAGIC`` (SIPE's setting)?"""
    control_fired: bool | None = None
    """Did it fire with ``initialized = 1`` (the control)?"""
    elapsed: float = 0.0
    """Seconds the probe took, child start included."""

    @property
    def ok(self) -> bool:
        return self.status is SipeXmlStatus.OK

    @property
    def broken(self) -> bool:
        return self.status is SipeXmlStatus.BROKEN


def _dotted_version(raw: str) -> str:
    """libxml2's ``xmlParserVersion`` ("20914") as "2.9.14"; other text as given."""
    digits = raw.split("-", 1)[0]
    if not digits.isdigit():
        return raw
    number = int(digits)
    return f"{number // 10000}.{number // 100 % 100}.{number % 100}"


def _library_words(library: str | None, version: str | None) -> str:
    words = "the XML library libxml2"
    if version:
        words += f" {version}"
    if library:
        words += f" ({library})"
    return words


def _unknown(reason: str, elapsed: float, *, library: str | None = None,
             version: str | None = None) -> SipeXmlProbe:
    explanation = (
        "sipe-setup could not check whether Pidgin's SIPE plugin can read XML on this "
        f"computer: {reason}. If TLS-DSK sign-in, autodiscover or the contact list fail in "
        "Pidgin although sipe-setup's checks pass, this XML problem may be the cause."
    )
    return SipeXmlProbe(SipeXmlStatus.UNKNOWN, explanation, library=library, version=version,
                        reason=reason, elapsed=elapsed)


def _interpret(data: object, elapsed: float) -> SipeXmlProbe:
    if not isinstance(data, dict):
        return _unknown("the probe gave no usable answer", elapsed)
    if isinstance(data.get("error"), str):
        return _unknown(data["error"], elapsed)
    library = data.get("library") if isinstance(data.get("library"), str) else None
    if library and os.path.isabs(library):
        library = os.path.realpath(library)  # the versioned file, e.g. libxml2.so.2.9.14
    raw_version = data.get("raw_version")
    version = _dotted_version(raw_version) if isinstance(raw_version, str) else None
    results: dict[str, tuple[int, int]] = {}
    for key in ("magic", "control"):
        entry = data.get(key)
        if not (isinstance(entry, dict) and isinstance(entry.get("rc"), int)
                and isinstance(entry.get("fired"), int)):
            return _unknown("the probe gave no usable answer", elapsed, library=library,
                            version=version)
        results[key] = (entry["rc"], entry["fired"])
    magic_rc, magic_count = results["magic"]
    control_rc, control_count = results["control"]
    magic_fired, control_fired = magic_count > 0, control_count > 0
    where = _library_words(library, version)

    def found(status: SipeXmlStatus, explanation: str,
              reason: str | None = None) -> SipeXmlProbe:
        return SipeXmlProbe(status, explanation, library=library, version=version,
                            reason=reason, magic_fired=magic_fired,
                            control_fired=control_fired, elapsed=elapsed)

    if not control_fired or control_rc != 0:
        reason = (f"{where} did not parse a trivial document even in plain SAX1 mode "
                  f"(result {control_rc}, {control_count} callbacks)")
        return found(SipeXmlStatus.UNKNOWN, _unknown(reason, elapsed).explanation, reason)
    if magic_fired and magic_rc == 0:
        return found(
            SipeXmlStatus.OK,
            f"Pidgin's SIPE plugin can read XML with {where}: TLS-DSK sign-in, Lync "
            "autodiscover and the contact list are not blocked by the XML library.")
    return found(
        SipeXmlStatus.BROKEN,
        f"Pidgin's SIPE plugin cannot read any XML on this computer: {where} no longer "
        "delivers XML the way SIPE asks for it (probably a side effect of a 2023 security "
        "fix). In Pidgin, TLS-DSK (certificate) sign-in will fail with \"Web ticket request "
        "… failed\" — also with authentication Auto when the server offers TLS-DSK, because "
        "SIPE does not fall back to NTLM then — and Lync autodiscover, the contact list and "
        "presence will not work. Signing in with NTLM or Kerberos itself still works. This "
        "is a problem of this computer's libxml2 and pidgin-sipe packages, not of the "
        "account; it needs a fixed package from the distribution.")


def run_sipe_xml_probe(library: str | None = None, *, env: Mapping[str, str] | None = None,
                       timeout: float = PROBE_TIMEOUT) -> SipeXmlProbe:
    """Run the probe now in a child process (not cached); never raises, never hangs.

    ``library``: a path or soname to load instead of ``libxml2.so.2``. ``env``: the child's
    whole environment (default: this process's), e.g. to try an ``LD_PRELOAD``.
    """
    started = time.monotonic()
    executable = sys.executable
    if not executable:
        return _unknown("no Python interpreter is available to run the probe in", 0.0)
    try:
        completed = subprocess.run(
            [executable, "-I", "-S", "-c", _CHILD, library or ""],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
            env=dict(os.environ if env is None else env), check=False,
        )
    except subprocess.TimeoutExpired:
        return _unknown(f"the probe did not finish within {timeout:g} s",
                        time.monotonic() - started)
    except OSError as exc:
        return _unknown(f"the probe could not be started ({exc})", time.monotonic() - started)
    elapsed = time.monotonic() - started
    if completed.returncode < 0:
        try:
            name = signal.Signals(-completed.returncode).name
        except ValueError:
            name = f"signal {-completed.returncode}"
        return _unknown(f"the probe process was killed by {name} inside libxml2", elapsed)
    line = completed.stdout.decode(errors="replace").strip().splitlines()
    try:
        data = json.loads(line[-1]) if line else None
    except json.JSONDecodeError:
        data = None
    if data is None:
        stderr = completed.stderr.decode(errors="replace").strip().splitlines()
        detail = stderr[-1] if stderr else f"exit status {completed.returncode}"
        return _unknown(f"the probe gave no answer ({detail})", elapsed)
    return _interpret(data, elapsed)


_cache: dict[str | None, SipeXmlProbe] = {}
_cache_lock = threading.Lock()


def probe_sipe_xml(library: str | None = None) -> SipeXmlProbe:
    """The probe's result for ``library`` (default ``libxml2.so.2``), cached per process.

    UNKNOWN results caused by a timeout are not cached, so a busy machine can try again.
    """
    with _cache_lock:
        cached = _cache.get(library)
        if cached is not None:
            return cached
        result = run_sipe_xml_probe(library)
        if not (result.reason or "").startswith("the probe did not finish"):
            _cache[library] = result
        return result
