"""TLS-DSK certificate provisioning end to end: our client against the loopback Lync web
services (tests/servers/webservices.py: mex, web ticket over HTTP NTLM, GetAndPublishCert)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sipe_setup.core.account import KerberosPrincipal, NtlmIdentity, Secret
from sipe_setup.core.net.http import BoundedHttpClient, HttpExchange
from sipe_setup.core.net.http_auth import HttpCredentials
from sipe_setup.core.transport import CertificateInfo
from sipe_setup.core.webservices.provisioning import (
    ProvisionedCertificate,
    ProvisioningError,
    ProvisioningFailure,
    provision_certificate,
)
from tests.servers.ntlm_acceptor import Accounts
from tests.servers.webservices import (
    WEBTICKET_PATH,
    HttpsCertificate,
    WebServicesOptions,
    WebServicesServer,
    WebTicketFailure,
)

DOMAIN = "example.test"
SIGNIN = f"alice@{DOMAIN}"
PASSWORD = "Passw0rd!"
UA = "Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)"
INSTANCE = "085e0bd8-031c-5a0d-8d9a-f149aae6954a"
ACCOUNTS = Accounts((("EXAMPLE", "alice", PASSWORD),), DOMAIN)


@dataclass
class Trust:
    """Answers the two trust questions and remembers that they were asked."""

    certificates: bool = False
    hosts: bool = True
    asked_certificates: list[tuple[str, int, CertificateInfo]] = field(default_factory=list)
    asked_hosts: list[tuple[str, int, str]] = field(default_factory=list)

    async def approve_certificate(self, host: str, port: int, certificate: CertificateInfo
                                  ) -> bool:
        self.asked_certificates.append((host, port, certificate))
        return self.certificates

    async def approve_host(self, host: str, port: int, sip_domain: str) -> bool:
        self.asked_hosts.append((host, port, sip_domain))
        return self.hosts


@dataclass
class Run:
    server: WebServicesServer
    trust: Trust
    exchanges: list[HttpExchange]

    def provision(self, *, password: str = PASSWORD, sts_uri: str | None = None,
                  trusted_ca: bool = True, **credentials: Any) -> ProvisionedCertificate:
        client = BoundedHttpClient(user_agent=UA, ca_file=str(self.server.ca_cert_path)
                                   if trusted_ca else None)
        creds = HttpCredentials(ntlm=NtlmIdentity("alice", "EXAMPLE"), password=Secret(password),
                                **credentials)
        return asyncio.run(provision_certificate(
            sts_uri=self.server.sts_uri if sts_uri is None else sts_uri, signin=SIGNIN,
            credentials=creds, user_agent=UA, instance_uuid=INSTANCE, client=client,
            trust=self.trust, on_request=self.exchanges.append))

    def fails(self, **kw: Any) -> ProvisioningError:
        with pytest.raises(ProvisioningError) as info:
            self.provision(**kw)
        error = info.value
        assert PASSWORD not in repr(error.__dict__) and PASSWORD not in str(error)
        return error


@pytest.fixture
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Run]:
    options = getattr(request, "param", None) or WebServicesOptions()
    with WebServicesServer(ACCOUNTS, options, directory=tmp_path / "ws") as server:
        yield Run(server, Trust(), [])


def with_options(**kw: Any) -> Any:
    return pytest.mark.parametrize("lab", [WebServicesOptions(**kw)], indirect=True)


def test_certificate_is_provisioned_like_sipe(lab: Run) -> None:
    result = lab.provision()
    server = lab.server
    published = server.published(f"sip:{SIGNIN}")
    assert published is not None
    assert result.certificate_der == published.public_bytes(serialization.Encoding.DER)
    # The key in the certificate is the key of our CSR, and the key is not shown anywhere.
    certificate = x509.load_der_x509_certificate(result.certificate_der)
    assert certificate.public_key().public_numbers() == \
        result.private_key.public_key().public_numbers()
    assert "private_key" not in repr(result)
    assert result.not_after == certificate.not_valid_after_utc
    assert 7 * 3600 < result.seconds_left <= 8 * 3600
    # SIPE's number of HTTP requests: 2 mex GETs, the RST three times (NTLM), GetAndPublishCert.
    assert result.http_request_count == 6 == server.stats.requests
    assert [(e.method, e.path.rsplit("/", 1)[-1], e.status) for e in server.stats.exchanges] == [
        ("GET", "mex", 200), ("GET", "mex", 200), ("POST", "WinNegotiate", 401),
        ("POST", "WinNegotiate", 401), ("POST", "WinNegotiate", 200),
        ("POST", "WebTicket_Proof_SHA1", 200)]
    assert server.stats.ntlm_logins == ["EXAMPLE\\alice"]
    assert result.signing_required and result.timestamp_canonical
    assert result.auth_uri == server.auth_uri
    assert result.webticket_url == server.base_url + WEBTICKET_PATH
    assert result.hosts == ("127.0.0.1",) and result.accepted_certificates == ()
    # The live lines: one per request, in order, each with a status.
    assert [(e.method, e.status) for e in lab.exchanges] == [
        ("GET", 200), ("GET", 200), ("POST", 200), ("POST", 200)]
    assert "NTLM as EXAMPLE\\alice" in lab.exchanges[2].outcome
    assert lab.exchanges[2].requests_sent == 3
    assert result.exchanges == tuple(lab.exchanges)
    # Credentials went to an IP address: asked once, for the host that gets them.
    assert lab.trust.asked_hosts == [("127.0.0.1", server.port, DOMAIN)]
    # SIPE's HTTP: Host without the port, its User-Agent, the RST body on every leg.
    rst_legs = [e for e in server.stats.exchanges if e.path.endswith("WinNegotiate")]
    assert all(e.header("Host") == "127.0.0.1" and e.header("User-Agent") == UA
               for e in server.stats.exchanges)
    assert len({e.body for e in rst_legs}) == 1 and rst_legs[0].body.startswith(
        b'<?xml version="1.0"?>\r\n<soap:Envelope')
    assert [k for k, _ in rst_legs[1].headers] == [
        "Host", "User-Agent", "Authorization", "SOAPAction", "Content-Length", "Content-Type"]
    assert (rst_legs[1].header("Authorization") or "").startswith("NTLM ")
    certprov = server.stats.exchanges[-1]
    assert certprov.header("Authorization") is None
    assert certprov.header("SOAPAction") == \
        '"http://schemas.microsoft.com/OCS/AuthWebServices/GetAndPublishCert"'
    assert server.stats.csr_facts and server.stats.csr_facts[0].version == 0


@with_options(offer_negotiate=True)
def test_negotiate_offered_falls_back_to_raw_ntlm(lab: Run, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "krb5.conf"  # no KDC anywhere: Kerberos fails fast, as in the capture
    conf.write_text("[libdefaults]\n dns_lookup_kdc = false\n[realms]\n EXAMPLE = {\n"
                    "  kdc = 127.0.0.1:1\n }\n", encoding="utf-8")
    monkeypatch.setenv("KRB5_CONFIG", str(conf))
    result = lab.provision(kerberos=KerberosPrincipal("alice", "EXAMPLE"))
    legs = [e for e in lab.server.stats.exchanges if e.path.endswith("WinNegotiate")]
    assert [(e.header("Authorization") or "").split(" ")[0] for e in legs] == ["", "NTLM", "NTLM"]
    assert result.http_request_count == 6
    assert "Kerberos not possible" in lab.exchanges[2].outcome


def test_wrong_password_is_webticket_rejected(lab: Run) -> None:
    error = lab.fails(password="Wr0ng!")
    assert error.failure is ProvisioningFailure.WEBTICKET_REJECTED
    assert error.http_status == 401 and "28002" in error.server_text
    assert error.sipe_message == f"Web ticket request to {lab.server.sts_uri} failed"
    assert error.url.endswith("/WinNegotiate")
    assert lab.server.stats.ntlm_failures == 1
    assert not [e for e in lab.server.stats.exchanges if e.path.endswith("Proof_SHA1")]
    assert lab.exchanges[-1].status == 401 and lab.exchanges[-1].diagnostics


@with_options(webticket_failure=WebTicketFailure.UNAUTHORIZED)
def test_webticket_refused_after_authentication(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.WEBTICKET_REJECTED
    assert "28020" in error.server_text


@with_options(webticket_failure=WebTicketFailure.FAULT, fault_text="The user account is disabled.")
def test_webticket_fault_with_200_is_quoted_as_sipe_does(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.WEBTICKET_FAULT
    assert error.server_text == "The user account is disabled."
    assert error.sipe_message == (f"Web ticket request to {lab.server.sts_uri} failed\n"
                                  "(The user account is disabled.)")


@with_options(webticket_failure=WebTicketFailure.FAULT_500)
def test_webticket_fault_with_500_has_no_sipe_detail(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.WEBTICKET_FAULT and error.http_status == 500
    assert error.server_text == "The user account is disabled."
    assert error.sipe_message == f"Web ticket request to {lab.server.sts_uri} failed"


@with_options(certprov_500=True)
def test_certprov_500(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.CERTPROV_FAILED and error.http_status == 500
    assert error.sipe_message == f"Certificate request to {lab.server.auth_uri} failed"


@with_options(canonical_lifetime=False)
def test_non_canonical_timestamp_breaks_the_signature(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.CERTPROV_FAILED
    assert any("DigestValue" in why for why in lab.server.stats.refusals)


@with_options(certificate_lifetime=dt.timedelta(minutes=30))
def test_short_lived_certificate_is_reported(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.CERTIFICATE_SHORT_LIVED
    assert error.sipe_message == "" and "endless loop" in error.detail


@with_options(mex_policy=False)
def test_mex_without_policy_is_invalid(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.MEX_INVALID
    assert error.sipe_message == f"Web ticket request to {lab.server.sts_uri} failed"
    assert lab.server.stats.requests == 1


def test_missing_service_is_mex_failed(lab: Run) -> None:
    error = lab.fails(sts_uri=lab.server.base_url + "/nothing/here.svc")
    assert error.failure is ProvisioningFailure.MEX_FAILED and error.http_status == 404


@with_options(https_certificate=HttpsCertificate.SELF_SIGNED)
def test_untrusted_web_services_certificate_declined(lab: Run) -> None:
    error = lab.fails()
    assert error.failure is ProvisioningFailure.CERTIFICATE_REFUSED
    assert error.certificate is not None and error.certificate.self_signed
    assert lab.server.stats.requests == 0  # nothing was sent before the decision
    assert len(lab.trust.asked_certificates) == 1


@with_options(https_certificate=HttpsCertificate.SELF_SIGNED)
def test_untrusted_web_services_certificate_accepted_is_returned(lab: Run) -> None:
    lab.trust.certificates = True
    result = lab.provision()
    assert len(lab.trust.asked_certificates) == 1  # asked once for the whole flow
    (accepted,) = result.accepted_certificates
    pem = lab.server.https_cert_pem.decode()
    assert accepted.host == "127.0.0.1" and accepted.pem.strip() == pem.strip()
    assert accepted.sha256 == lab.trust.asked_certificates[0][2].sha256_fingerprint


def test_password_never_goes_to_an_unapproved_host(lab: Run) -> None:
    lab.trust.hosts = False
    error = lab.fails()
    assert error.failure is ProvisioningFailure.HOST_REFUSED
    assert "not allowed" in error.detail and error.sipe_message == ""  # SIPE would send it
    assert [e.method for e in lab.server.stats.exchanges] == ["GET", "GET"]


def test_unreachable_and_unusable_sts_uri(lab: Run) -> None:
    port = lab.server.port
    lab.server.stop()
    error = lab.fails()
    assert error.failure is ProvisioningFailure.UNREACHABLE
    assert error.sipe_message.startswith("Web ticket request to")
    assert f":{port}" in error.url
    error = lab.fails(sts_uri="not a url")
    assert error.failure is ProvisioningFailure.URL_INVALID
    assert error.sipe_message == "Can't request certificate from not a url"
