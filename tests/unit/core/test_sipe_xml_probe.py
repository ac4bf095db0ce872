"""The libxml2 probe: can this machine's pidgin-sipe parse XML at all (tls-dsk.md §0.1, §4.6)?"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sipe_setup.core import sipe_xml_probe
from sipe_setup.core.sipe_xml_probe import (
    SipeXmlProbe,
    SipeXmlStatus,
    probe_sipe_xml,
    run_sipe_xml_probe,
)

# Debian 12 libxml2 builds that were tested and drop SIPE's SAX1 callbacks (reference §0.1).
KNOWN_BROKEN_DEBIAN = ("2.9.14+dfsg-1.3~deb12u4", "2.9.14+dfsg-1.3~deb12u5",
                       "2.9.14+dfsg-1.3~deb12u6")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    sipe_xml_probe._cache.clear()
    yield
    sipe_xml_probe._cache.clear()


def _debian_libxml2_version() -> str | None:
    if not shutil.which("dpkg-query"):
        return None
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libxml2"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def test_the_probe_answers_on_this_machine_and_its_control_fires() -> None:
    probe = run_sipe_xml_probe()
    assert probe.status in (SipeXmlStatus.OK, SipeXmlStatus.BROKEN), probe
    # With initialized = 1 the SAX1 callback fires: the probe itself works.
    assert probe.control_fired is True
    assert probe.magic_fired is (probe.status is SipeXmlStatus.OK)
    assert probe.library and "libxml2.so" in probe.library
    assert probe.version and probe.version.startswith("2.")
    assert probe.reason is None
    assert probe.explanation


def test_debian_12_libxml2_is_reported_broken() -> None:
    """The second check: on the Debian builds known to break SIPE, the probe must say so."""
    installed = _debian_libxml2_version()
    probe = run_sipe_xml_probe()
    if installed not in KNOWN_BROKEN_DEBIAN:
        # Another build: a version number says nothing either way (that is why the probe
        # exists); it must still give an answer.
        assert probe.status is not SipeXmlStatus.UNKNOWN, probe
        return
    assert probe.status is SipeXmlStatus.BROKEN, probe
    assert probe.broken and not probe.ok
    assert probe.magic_fired is False
    assert probe.version == "2.9.14"
    for words in ("cannot read any XML", "TLS-DSK", "Web ticket request", "autodiscover",
                  "contact list", "NTLM"):
        assert words in probe.explanation


def test_the_probe_is_fast() -> None:
    probe = run_sipe_xml_probe()
    # typically 20–60 ms (a child interpreter with -I -S); generous for a loaded CI machine
    assert probe.elapsed < 2.0, probe.elapsed


def test_a_missing_library_is_unknown_with_the_reason() -> None:
    probe = run_sipe_xml_probe("/nonexistent/libxml2.so.2")
    assert probe.status is SipeXmlStatus.UNKNOWN
    assert probe.reason and "libxml2 could not be loaded" in probe.reason
    assert "/nonexistent/libxml2.so.2" in probe.reason
    assert probe.library is None and probe.magic_fired is None
    assert probe.reason in probe.explanation
    assert "could not check" in probe.explanation


def test_a_library_that_is_not_libxml2_is_unknown() -> None:
    probe = run_sipe_xml_probe("libc.so.6")
    assert probe.status is SipeXmlStatus.UNKNOWN
    assert probe.reason == "libc.so.6 is not libxml2 (no xmlSAXUserParseMemory)"


def test_a_crashing_probe_is_unknown_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sipe_xml_probe, "_CHILD",
                        "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    probe = run_sipe_xml_probe()
    assert probe.status is SipeXmlStatus.UNKNOWN
    assert probe.reason and "SIGSEGV" in probe.reason


def test_a_hanging_probe_is_unknown_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sipe_xml_probe, "_CHILD", "import time; time.sleep(60)")
    probe = run_sipe_xml_probe(timeout=0.5)
    assert probe.status is SipeXmlStatus.UNKNOWN
    assert probe.reason == "the probe did not finish within 0.5 s"
    assert probe.elapsed < 5


def test_garbage_from_the_child_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sipe_xml_probe, "_CHILD",
                        "import sys; sys.stderr.write('boom\\n'); sys.exit(3)")
    probe = run_sipe_xml_probe()
    assert probe.status is SipeXmlStatus.UNKNOWN
    assert probe.reason == "the probe gave no answer (boom)"


def test_no_interpreter_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "")
    assert run_sipe_xml_probe().status is SipeXmlStatus.UNKNOWN


@pytest.mark.parametrize(
    ("magic", "control", "status"),
    [
        ({"rc": 0, "fired": 1}, {"rc": 0, "fired": 1}, SipeXmlStatus.OK),
        ({"rc": 0, "fired": 0}, {"rc": 0, "fired": 1}, SipeXmlStatus.BROKEN),
        ({"rc": 1, "fired": 1}, {"rc": 0, "fired": 1}, SipeXmlStatus.BROKEN),  # SIPE: error
        ({"rc": 0, "fired": 1}, {"rc": 0, "fired": 0}, SipeXmlStatus.UNKNOWN),  # control dead
        ({"rc": 0, "fired": 0}, {"rc": -1, "fired": 1}, SipeXmlStatus.UNKNOWN),
    ],
)
def test_interpretation(magic: dict[str, int], control: dict[str, int],
                        status: SipeXmlStatus) -> None:
    data = {"library": "libxml2.so.2", "raw_version": "21205", "magic": magic,
            "control": control}
    probe = sipe_xml_probe._interpret(data, 0.01)
    assert probe.status is status
    assert probe.version == "2.12.5"
    assert probe.control_fired is (control["fired"] > 0)
    assert (probe.reason is None) is (status is not SipeXmlStatus.UNKNOWN)


@pytest.mark.parametrize("data", [None, [], {"magic": {"rc": 0}}, {"error": "nope"}])
def test_malformed_answers_are_unknown(data: object) -> None:
    assert sipe_xml_probe._interpret(data, 0.0).status is SipeXmlStatus.UNKNOWN


def test_versions() -> None:
    assert sipe_xml_probe._dotted_version("20914") == "2.9.14"
    assert sipe_xml_probe._dotted_version("21300-GITv2.13.0") == "2.13.0"
    assert sipe_xml_probe._dotted_version("weird") == "weird"


def test_results_are_cached_per_process_and_library(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []

    def fake(library: str | None = None, **_: object) -> SipeXmlProbe:
        calls.append(library)
        return SipeXmlProbe(SipeXmlStatus.OK, "fine")

    monkeypatch.setattr(sipe_xml_probe, "run_sipe_xml_probe", fake)
    first = probe_sipe_xml()
    assert probe_sipe_xml() is first
    probe_sipe_xml("/other/libxml2.so.2")
    assert calls == [None, "/other/libxml2.so.2"]


def test_a_timeout_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str | None] = []

    def slow(library: str | None = None, **_: object) -> SipeXmlProbe:
        calls.append(library)
        return sipe_xml_probe._unknown("the probe did not finish within 5 s", 5.0)

    monkeypatch.setattr(sipe_xml_probe, "run_sipe_xml_probe", slow)
    probe_sipe_xml()
    probe_sipe_xml()
    assert len(calls) == 2
