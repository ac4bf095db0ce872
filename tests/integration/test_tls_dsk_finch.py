"""The real pidgin-sipe 1.25.0 (finch) signs in with TLS-DSK to our test registrar.

What this proves (reference tls-dsk.md §4.3): unmodified SIPE fetches the web-services
metadata, gets a web ticket over HTTP NTLM, has a client certificate issued and published,
runs TLS 1.0 inside REGISTER, signs its REGISTER with the derived key and accepts the
registrar's signed 200 OK — checked from both sides.

On Debian 12 SIPE cannot parse XML at all (libxml2 defect, §0.1): finch runs with the
test-only SAX1 shim preloaded, and only when the product's own probe says BROKEN.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sipe_setup.core.sipe_xml_probe import SipeXmlStatus, probe_sipe_xml, run_sipe_xml_probe
from tests.servers.finch import (
    REDACTED,
    SUCCESS_TEXT,
    FinchRun,
    add_tls_peer,
    redact_secrets,
    run_finch,
    sipe_settings,
    url_host,
    write_accounts_xml,
)
from tests.servers.registrar import RegistrarConfig, RegistrarThread
from tests.servers.sax1_shim import preload_env, require_sax1_shim

# -- the shim and the redaction, without finch ------------------------------------------------


def test_the_shim_makes_sipes_sax1_callbacks_fire() -> None:
    """Under LD_PRELOAD the product's probe (SIPE's handler setup) sees its callbacks."""
    shim = require_sax1_shim()
    env = dict(os.environ)
    env.update(preload_env(shim, env))
    probe = run_sipe_xml_probe(env=env)
    assert probe.status is SipeXmlStatus.OK, probe
    assert probe.magic_fired is True and probe.control_fired is True
    # The library reported is still the real libxml2, not the shim.
    assert probe.library and "libxml2.so" in probe.library


def test_the_shim_is_cached_by_source_hash(tmp_path: Path) -> None:
    from tests.servers.sax1_shim import build_sax1_shim

    require_sax1_shim()
    first = build_sax1_shim(tmp_path / "cache")
    mtime = first.stat().st_mtime_ns
    assert build_sax1_shim(tmp_path / "cache") == first
    assert first.stat().st_mtime_ns == mtime
    assert first.name.startswith("sax1_shim-") and first.suffix == ".so"


def test_missing_libxml2_headers_fail_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.conftest
    from tests.servers import sax1_shim

    monkeypatch.setattr(sax1_shim, "libxml2_cflags", lambda: None)
    monkeypatch.setattr(tests.conftest, "UNDER_CI", True)
    with pytest.raises(pytest.fail.Exception, match="libxml2-dev"):
        sax1_shim.require_sax1_shim()


def test_secret_lines_are_redacted() -> None:
    log = (
        "(18:26:40) sipe: tls_calculate_secrets: pre-master secret ( 48) = 0301F7B0AB\n"
        "(18:26:40) sipe: tls_calculate_secrets: master secret     ( 48) = A3899321\n"
        "(18:26:40) sipe: tls_calculate_secrets: key block         (104) = 961443DF\n"
        "(18:26:40) sipe: tls_finished: TLS-DSK client key         ( 32) = B89F6C37\n"
        "(18:26:40) sipe: tls_finished: TLS-DSK server key         ( 32) = B6C87638\n"
        "(18:26:40) sipe: NTLM AUTHENTICATE: exported session key (not encrypted): A44EC35D\n"
        "<wst:Entropy><wst:BinarySecret>JZUSWNQZAhl4JGqISuo30eq=</wst:BinarySecret>"
        "<BinarySecret Type=\"x\">EldQhzk1Vh3j=</BinarySecret>\n"
        "(18:26:40) sipe: sip_sec_init_sec_context__tls_dsk: handshake completed\n"
    )
    redacted = redact_secrets(log)
    for secret in ("0301F7B0AB", "A3899321", "961443DF", "B89F6C37", "B6C87638", "A44EC35D",
                   "JZUSWNQZAhl4JGqISuo30eq=", "EldQhzk1Vh3j="):
        assert secret not in redacted
    assert redacted.count(REDACTED) == 8
    assert "tls_finished: TLS-DSK client key         ( 32) = [redacted]" in redacted
    assert "handshake completed" in redacted
    assert redact_secrets(redacted) == redacted


# -- real finch + pidgin-sipe ------------------------------------------------------------------

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
ACCOUNT = "alice@example.test,EXAMPLE\\alice"
SIP_URI = "sip:alice@example.test"
TARGET = "server.example.test"


def _profile(tmp_path: Path, registrar: RegistrarThread, *, auth: str,
             password: str = PASSWORD) -> Path:
    """A SIPE account on 127.0.0.1:<registrar port> over TCP, trusting the web services."""
    purple = tmp_path / "purple"
    write_accounts_xml(purple, name=ACCOUNT, password=password,
                       settings=sipe_settings(registrar.port, transport="tcp", auth=auth))
    webservices = registrar.webservices
    host = url_host(webservices.sts_uri)
    assert host == "127.0.0.1", "finch may talk to loopback only"
    add_tls_peer(purple, host, webservices.https_cert_pem)
    return purple


def _detail(run: FinchRun, registrar: RegistrarThread) -> str:
    stats = registrar.registrar.stats
    return (f"\nregistrar: {stats}\nweb services refusals: "
            f"{registrar.webservices.stats.refusals}\npreload: {run.preload}\n"
            f"finch log tail:\n{run.tail()}")


def test_sipe_signs_in_with_tls_dsk(finch: None, tmp_path: Path) -> None:
    with RegistrarThread(RegistrarConfig(users=USERS, scenario="tls-dsk")) as registrar:
        webservices = registrar.webservices
        purple = _profile(tmp_path, registrar, auth="tls-dsk")
        run = run_finch(purple, sax1_shim=True)
        detail = _detail(run, registrar)
        stats, web = registrar.registrar.stats, webservices.stats

        # finch: SIPE's own verdict, and the whole TLS-DSK path in SIPE's order (§4.3)
        assert run.signed_in, "SIPE did not sign in" + detail
        assert run.errors == [], detail
        assert run.unsigned_ignored == 0, detail
        assert run.in_order(
            "sipe_cert_crypto_init: key pair generated",
            f"initialize_auth_context: TLS-DSK Certificate Provisioning URI {webservices.sts_uri}",
            "service_metadata: WebTicket policy found",
            "service_metadata: WebTicket URI ",
            f"service_metadata: Auth URI {webservices.auth_uri}",
            "webticket_metadata: WebTicket Windows Negotiate Auth URI ",
            "generate_sha1_proof_wsse: found assertionID and successfully computed the key",
            f"certprov_webticket: got ticket for {webservices.sts_uri}",
            f"get_and_publish_cert: certificate for target '{TARGET}' added",
            f"initialize_auth_context: TLS-DSK certificate for target '{TARGET}' found.",
            "check_cipher_suite: KEY(AES-CBC block cipher)",
            "tls_finished: TLS-DSK client key",
            "sip_sec_init_sec_context__tls_dsk: handshake completed",
            "sip_transport_input: signature of incoming message validated",
            "process_register_response: authentication handshake completed successfully",
        ) == [], detail

        # web services: a web ticket for alice over HTTP NTLM, her certificate published
        assert web.ntlm_logins == ["EXAMPLE\\alice"], detail
        assert web.tickets_issued == 1 and web.certificates_published == 1, detail
        assert web.refusals == [], detail
        published = webservices.published(SIP_URI)
        assert published is not None, detail
        assert published.subject.rfc4514_string() == f"CN={SIP_URI}"
        csr = web.csr_facts[0]
        assert (csr.version, csr.hash_name, csr.key_bits) == (0, "sha256", 2048)  # NSS build

        # registrar: one TLS-DSK handshake with the published certificate, SIPE's signed
        # REGISTER verified, a signed 200 OK sent — and nothing but TLS-DSK was tried
        assert stats.tls_dsk_handshakes == 1, detail
        assert stats.authenticated >= 1 and stats.auth_failures == 0, detail
        assert stats.last_principal == f"CN={SIP_URI}", detail
        assert stats.client_signatures_verified >= 1, detail
        assert stats.client_signature_failures == 0, detail
        assert stats.signed_responses >= 1, detail
        assert set(stats.register_auth_schemes) == {"TLS-DSK"}, detail

        # the log keeps no session secrets, on disk either
        assert "tls_finished: TLS-DSK client key         ( 32) = [redacted]" in run.log
        on_disk = (purple / "finch-debug.log").read_text()
        assert "master secret     ( 48) = [redacted]" in on_disk
        assert redact_secrets(on_disk) == on_disk
        if probe_sipe_xml().broken:
            assert run.preload and "sax1_shim" in run.preload
        assert run.elapsed < 20


def test_auto_with_a_wrong_password_fails_at_the_web_ticket_without_ntlm_fallback(
        finch: None, tmp_path: Path) -> None:
    """tls-dsk.md §0.3/§1.10: Auto commits to TLS-DSK; a failed web ticket is fatal."""
    config = RegistrarConfig(users=USERS, scenario="tls-dsk+ntlm")
    with RegistrarThread(config) as registrar:
        webservices = registrar.webservices
        purple = _profile(tmp_path, registrar, auth="auto", password="not-the-password")
        run = run_finch(purple, sax1_shim=True, until="Web ticket request to")
        detail = _detail(run, registrar)
        stats, web = registrar.registrar.stats, webservices.stats

        assert f"Web ticket request to {webservices.sts_uri} failed" in run.log, detail
        assert not run.handshake_completed, detail
        # SIPE did read the metadata (XML works) and failed at HTTP NTLM with the password
        assert "service_metadata: WebTicket policy found" in run.log, detail
        assert web.ntlm_failures >= 1 and web.ntlm_logins == [], detail
        assert web.tickets_issued == 0 and web.certificates_issued == 0, detail
        # no fallback although the 401 offered NTLM next to TLS-DSK: the registrar never
        # saw an NTLM (or any authorised) REGISTER
        assert 'WWW-Authenticate: NTLM realm="SIP Communications Service"' in run.log, detail
        assert stats.register_auth_schemes == [], detail
        assert stats.authenticated == 0 and stats.tls_dsk_handshakes == 0, detail
        assert run.elapsed < 20


def test_without_the_shim_sipe_behaves_as_the_probe_predicts(finch: None,
                                                             tmp_path: Path) -> None:
    """BROKEN: SIPE parses no XML and stops after the first mex (captures/tlsdsk-noshim.*);
    OK: it signs in with no help."""
    probe = probe_sipe_xml()
    assert probe.status is not SipeXmlStatus.UNKNOWN, probe.reason
    with RegistrarThread(RegistrarConfig(users=USERS, scenario="tls-dsk")) as registrar:
        webservices = registrar.webservices
        purple = _profile(tmp_path, registrar, auth="tls-dsk")
        run = run_finch(purple, sax1_shim=False,
                        until="Web ticket request to" if probe.broken else SUCCESS_TEXT)
        detail = _detail(run, registrar)
        assert run.preload is None
        if probe.ok:
            assert run.signed_in, detail
            return
        assert f"Web ticket request to {webservices.sts_uri} failed" in run.log, detail
        assert "service_metadata: WebTicket policy found" not in run.log, detail
        web = webservices.stats
        # the mex was fetched (200) but not understood: nothing after it
        assert [(e.method, e.path, e.status) for e in web.exchanges] == [
            ("GET", "/CertProv/CertProvisioningService.svc/mex", 200)], detail
        assert registrar.registrar.stats.authenticated == 0, detail
        assert run.elapsed < 20
