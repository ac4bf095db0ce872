"""Pidgin readiness: real probes on this machine, fakes for the machines we are not on."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sipe_setup.cli import main
from sipe_setup.core.account import parse_account
from sipe_setup.core.profiles import Profile, Validation
from sipe_setup.core.readiness import (
    OsRelease,
    PidginNeeds,
    ReadinessProbes,
    Status,
    check_readiness,
    export_verdict_lines,
    find_sipe_plugin,
    purple_plugin_dirs,
    read_os_release,
    sipe_install_advice,
)
from sipe_setup.core.sipe_xml_probe import SipeXmlProbe, SipeXmlStatus, probe_sipe_xml
from tests.conftest import UNDER_CI

OK_XML = SipeXmlProbe(SipeXmlStatus.OK, "fine", library="/lib/libxml2.so.2", version="2.9.14")
BROKEN_XML = SipeXmlProbe(SipeXmlStatus.BROKEN, "broken", library="/lib/libxml2.so.2",
                          version="2.9.14")
DEBIAN12 = OsRelease("debian", "12", (), "Debian GNU/Linux 12 (bookworm)")
DEBIAN13 = OsRelease("debian", "13", (), "Debian GNU/Linux 13 (trixie)")


def _fake_probes(tmp_path: Path, *, sipe: bool = True, keyring: bool = True,
                 xml: SipeXmlProbe = OK_XML, release: OsRelease = DEBIAN12,
                 missing: tuple[str, ...] = (), realm: str | None = "EXAMPLE.TEST",
                 ticket: bool | None = True, sso_option: bool = True) -> ReadinessProbes:
    """A machine made of files in ``tmp_path``: one plugin folder, maybe holding SIPE."""
    plugins = tmp_path / "lib" / "purple-2"
    plugins.mkdir(parents=True, exist_ok=True)
    if sipe:
        body = b"\0SIPE version 1.25.0 (git)\0" + (b"Use Single Sign-On\0" if sso_option else b"")
        (plugins / "libsipe.so").write_bytes(b"\x7fELF" + body)
    if keyring:
        (plugins / "gnome-keyring.so").write_bytes(b"\x7fELF")
    krb5 = tmp_path / "krb5.conf"
    krb5.write_text(f"[libdefaults]\n default_realm = {realm}\n" if realm else "[realms]\n")
    return ReadinessProbes(
        plugin_dirs=lambda _purple: [tmp_path / "nowhere", plugins],
        keyring_plugin=lambda dirs: next((d / "gnome-keyring.so" for d in dirs
                                          if (d / "gnome-keyring.so").is_file()), None),
        xml_probe=lambda: xml, os_release=lambda: release,
        pidgin_programs=lambda: ["/usr/bin/pidgin"],
        missing_kerberos_modules=lambda: missing,
        krb5_config=lambda: (krb5, realm),
        kerberos_ticket=lambda: (ticket, "alice@EXAMPLE.TEST" if ticket else ""),
        platform="linux")


def _statuses(probes: ReadinessProbes, needs: PidginNeeds | None = None) -> dict[str, Status]:
    return {f.id: f.status for f in check_readiness(needs=needs, probes=probes).findings}


# --- fakes ------------------------------------------------------------------------------------


def test_everything_in_place_is_ready(tmp_path: Path) -> None:
    readiness = check_readiness(probes=_fake_probes(tmp_path))
    assert readiness.verdict == "ready", readiness.findings
    assert readiness.sipe is not None and readiness.sipe.version == "1.25.0"
    assert readiness.sipe.path == tmp_path / "lib" / "purple-2" / "libsipe.so"


def test_no_plugin_folders_at_all_means_no_sipe(tmp_path: Path) -> None:
    probes = replace(_fake_probes(tmp_path, sipe=False, keyring=False),
                     plugin_dirs=lambda _purple: [tmp_path / "a", tmp_path / "b"])
    readiness = check_readiness(probes=probes)
    sipe = readiness.finding("sipe-plugin")
    assert sipe is not None and sipe.status is Status.FAIL
    assert str(tmp_path / "a") in sipe.summary  # says where it looked
    assert "sudo apt install pidgin-sipe" in sipe.advice
    assert readiness.verdict == "not-ready"
    keyring = readiness.finding("keyring-plugin")
    assert keyring is not None and keyring.status is Status.WARN
    assert "pidgin-gnome-keyring" in keyring.advice


def test_debian_13_is_told_it_has_no_pidgin_sipe(tmp_path: Path) -> None:
    readiness = check_readiness(probes=_fake_probes(tmp_path, sipe=False, release=DEBIAN13))
    sipe = readiness.finding("sipe-plugin")
    assert sipe is not None and "no longer ship pidgin-sipe" in sipe.advice
    assert "sudo apt install pidgin-sipe" in sipe_install_advice(DEBIAN12)
    assert "dnf install pidgin-sipe" in sipe_install_advice(OsRelease("fedora", "40"))
    assert "universe" in sipe_install_advice(OsRelease("linuxmint", "22", ("ubuntu",)))
    assert "sipe.sourceforge.net" in sipe_install_advice(OsRelease("arch"))
    assert "Windows" in sipe_install_advice(OsRelease(), platform="win32")


def test_broken_libxml2_says_what_fails_and_depends_on_the_scheme(tmp_path: Path) -> None:
    probes = _fake_probes(tmp_path, xml=BROKEN_XML)
    readiness = check_readiness(probes=probes, needs=PidginNeeds(tls_dsk=True))
    xml = readiness.finding("sipe-xml")
    assert xml is not None and xml.status is Status.FAIL
    assert xml.summary.startswith("Pidgin will fail TLS-DSK here")
    for failing in ("TLS-DSK", "autodiscover", "contact list"):
        assert failing in xml.summary
    assert "NTLM or Kerberos" in xml.advice
    lines = export_verdict_lines(readiness, PidginNeeds(tls_dsk=True, validated=True))
    assert lines[0].startswith("Signed in — but Pidgin on this computer will fail TLS-DSK "
                               "because")
    ntlm = export_verdict_lines(readiness, PidginNeeds(tls_dsk=False, kerberos=False,
                                                       autodiscover=False, validated=True))
    assert "contact list and presence will stay empty" in ntlm[0]
    assert "TLS-DSK" not in ntlm[0] and "autodiscover" not in ntlm[0]
    auto = export_verdict_lines(readiness, PidginNeeds())
    assert auto[0].startswith("Exported — but") and "Authentication is Auto" in auto[0]


def test_working_libxml2_adds_no_export_line(tmp_path: Path) -> None:
    readiness = check_readiness(probes=_fake_probes(tmp_path))
    assert export_verdict_lines(readiness, PidginNeeds(tls_dsk=True, validated=True)) == []


def test_unknown_probe_is_a_warning(tmp_path: Path) -> None:
    unknown = SipeXmlProbe(SipeXmlStatus.UNKNOWN, "?", reason="libxml2 could not be loaded")
    statuses = _statuses(_fake_probes(tmp_path, xml=unknown))
    assert statuses["sipe-xml"] is Status.WARN


def test_keyring_plugin_fails_only_for_the_keyring_mode(tmp_path: Path) -> None:
    probes = _fake_probes(tmp_path, keyring=False)
    assert _statuses(probes, PidginNeeds(keyring_plugin=True))["keyring-plugin"] is Status.FAIL
    assert _statuses(probes, PidginNeeds(keyring_plugin=False))["keyring-plugin"] is Status.INFO
    readiness = check_readiness(probes=probes, needs=PidginNeeds(keyring_plugin=True))
    [line] = export_verdict_lines(readiness, PidginNeeds(keyring_plugin=True))
    assert "pidgin-gnome-keyring" in line and "ask" in line


def test_kerberos_needs_both_modules_config_and_a_ticket_for_sso(tmp_path: Path) -> None:
    probes = _fake_probes(tmp_path, missing=("krb5",), realm=None, ticket=False)
    sso = PidginNeeds(kerberos=True, sso=True)
    readiness = check_readiness(probes=probes, needs=sso)
    modules = readiness.finding("kerberos-modules")
    assert modules is not None and modules.status is Status.WARN
    assert "krb5" in modules.summary and "gssapi" in modules.summary  # why both are needed
    assert "Pidgin itself does not need" in modules.advice or "pip install" in modules.advice
    config = readiness.finding("kerberos-config")
    assert config is not None and config.status is Status.WARN
    ticket = readiness.finding("kerberos-ticket")
    assert ticket is not None and ticket.status is Status.FAIL and "kinit" in ticket.advice
    assert any("kinit" in line for line in export_verdict_lines(readiness, sso))
    # Without Kerberos in the profile, none of it is a problem.
    ntlm = _statuses(probes, PidginNeeds(kerberos=False, tls_dsk=False))
    assert ntlm["kerberos-modules"] is Status.INFO
    assert ntlm["kerberos-config"] is Status.INFO
    assert ntlm["kerberos-ticket"] is Status.INFO


def test_sipe_built_without_kerberos(tmp_path: Path) -> None:
    probes = _fake_probes(tmp_path, sso_option=False)
    assert _statuses(probes, PidginNeeds(kerberos=True))["sipe-kerberos"] is Status.FAIL
    assert _statuses(probes, PidginNeeds(kerberos=False))["sipe-kerberos"] is Status.INFO


def test_windows_skips_what_does_not_apply(tmp_path: Path) -> None:
    probes = replace(_fake_probes(tmp_path), platform="win32")
    statuses = _statuses(probes)
    assert statuses["sipe-xml"] is Status.SKIP
    assert statuses["keyring-plugin"] is Status.SKIP
    assert "kerberos-ticket" not in statuses


def test_needs_follow_what_the_profile_proved() -> None:
    account = parse_account("alice@example.test", login="EXAMPLE\\alice", auth="auto")
    profile = Profile.from_account("Work", account)
    assert PidginNeeds.from_profile(profile).tls_dsk is None  # Auto, unproven: maybe
    proven = Validation(at="2025-01-01T00:00:00+00:00", summary="ok", host="h", port=443,
                        transport="tls", scheme="TLS-DSK", entry_host="h", entry_port=443,
                        entry_transport="tls", pin_server=True)
    needs = PidginNeeds.from_profile(replace(profile, validation=proven))
    assert needs.tls_dsk is True and needs.validated and not needs.autodiscover
    ntlm = PidginNeeds.from_profile(replace(profile, validation=replace(proven, scheme="NTLM")))
    assert ntlm.tls_dsk is False and ntlm.kerberos is False  # pinned to NTLM for Pidgin


def test_os_release_and_plugin_dirs(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('ID=ubuntu\nVERSION_ID="24.04"\nID_LIKE=debian\nPRETTY_NAME="Ubuntu"\n')
    parsed = read_os_release(release)
    assert parsed == OsRelease("ubuntu", "24.04", ("debian",), "Ubuntu")
    assert read_os_release(tmp_path / "missing") == OsRelease()
    dirs = purple_plugin_dirs(tmp_path / "purple")
    assert dirs[0] == tmp_path / "purple" / "plugins"
    assert find_sipe_plugin([tmp_path / "none"]) is None


# --- this machine, for real -------------------------------------------------------------------


def _real_sipe_or_skip() -> None:
    if not Path("/usr/lib/purple-2/libsipe.so").exists() and not list(
            Path("/usr/lib").glob("*/purple-2/libsipe.so")):
        message = "pidgin-sipe is not installed (make test installs it)"
        if UNDER_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux machine facts")
def test_this_machine_for_real(tmp_path: Path) -> None:
    _real_sipe_or_skip()
    readiness = check_readiness(purple_dir=tmp_path, needs=PidginNeeds(tls_dsk=True))
    assert readiness.elapsed < 10, "every check is bounded"
    sipe = readiness.finding("sipe-plugin")
    assert sipe is not None and sipe.status is Status.PASS, sipe
    assert readiness.sipe is not None and readiness.sipe.version, readiness.sipe
    if Path("/usr/bin/dpkg-query").exists():
        assert readiness.sipe.package and readiness.sipe.package.startswith("pidgin-sipe ")
    assert readiness.sipe.kerberos is True  # Debian builds SIPE with GSSAPI
    probe = probe_sipe_xml()
    xml = readiness.finding("sipe-xml")
    assert xml is not None
    if probe.broken:  # Debian 12 with libxml2 2.9.14+dfsg-1.3~deb12u4…u6: this CI machine
        assert xml.status is Status.FAIL and "TLS-DSK" in xml.summary
        assert export_verdict_lines(readiness, PidginNeeds(tls_dsk=True, validated=True))
    else:
        assert xml.status is (Status.PASS if probe.ok else Status.WARN)


def test_doctor_cli_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _real_sipe_or_skip()
    code = main(["doctor", "--json", "--purple-dir", str(tmp_path)])
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "sipe-setup/doctor"
    ids = [f["id"] for f in document["findings"]]
    assert ids[:4] == ["pidgin", "sipe-plugin", "sipe-xml", "keyring-plugin"]
    assert "kerberos-modules" in ids
    assert code == (1 if document["verdict"] == "not-ready" else 0)
    code = main(["doctor", "--purple-dir", str(tmp_path)])
    text = capsys.readouterr().out
    assert "SIPE plugin" in text and ("PASS" in text or "FAIL" in text)
    if probe_sipe_xml().broken:
        assert code == 1 and "FAIL  XML in SIPE" in text and "What to do:" in text


def test_doctor_for_a_profile(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["doctor", "--profile", "Nope"]) == 2
    assert "Nope" in capsys.readouterr().err
    from sipe_setup.core.profiles import ProfileStore

    account = parse_account("alice@example.test", auth="tls-dsk", server="sip.example.test")
    ProfileStore().save(Profile.from_account("Work", account))
    main(["doctor", "--profile", "Work", "--json"])
    document = json.loads(capsys.readouterr().out)
    assert document["profile"] == "Work"
    if probe_sipe_xml().broken:
        [xml] = [f for f in document["findings"] if f["id"] == "sipe-xml"]
        assert xml["summary"].startswith("Pidgin will fail TLS-DSK here")
    assert os.environ["XDG_CONFIG_HOME"] == str(tmp_path)


def test_export_to_pidgin_says_what_this_machine_will_fail(tmp_path: Path) -> None:
    from sipe_setup.core.pidgin import PasswordMode
    from sipe_setup.core.profile_actions import export_profile
    from sipe_setup.core.secrets import PasswordVault
    from tests.unit.test_secrets import MemoryKeyring

    account = parse_account("alice@example.test", auth="tls-dsk", server="sip.example.test")
    profile = Profile.from_account("Work", account)
    vault = PasswordVault(MemoryKeyring())
    fake = check_readiness(probes=_fake_probes(tmp_path, xml=BROKEN_XML))
    outcome = export_profile(profile, purple_dir=tmp_path / "p1", mode=PasswordMode.NONE,
                             vault=vault, readiness=fake)
    assert outcome.pidgin_problems and outcome.lines[-1] == outcome.pidgin_problems[-1]
    assert "will fail TLS-DSK because" in outcome.pidgin_problems[0]
    quiet = export_profile(profile, purple_dir=tmp_path / "p2", mode=PasswordMode.NONE,
                           vault=vault, check_this_computer=False)
    assert quiet.pidgin_problems == ()
    real = export_profile(profile, purple_dir=tmp_path / "p3", mode=PasswordMode.NONE,
                          vault=vault)  # this computer, for real
    if sys.platform.startswith("linux") and probe_sipe_xml().broken:
        assert any("will fail TLS-DSK because" in line for line in real.pidgin_problems)
