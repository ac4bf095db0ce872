"""Lync autodiscover against a real HTTP + HTTPS server (test CA) and real dnsmasq."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.discovery import (
    AutodiscoverOutcome,
    AutodiscoverSettings,
    CandidateSource,
    DiscoveryOptions,
    DiscoveryResult,
    Nameserver,
    ResolverSettings,
    WarningCode,
    discover,
)
from tests.conftest import require_tool
from tests.servers.autodiscover import (
    AutodiscoverServer,
    Reply,
    root_document,
    user_document,
    webticket_mex_document,
)
from tests.servers.dnsmasq import Dnsmasq, DnsZone
from tests.servers.testca import TestCA, self_signed

DOMAIN = "example.test"
INTERNAL = f"lyncdiscoverinternal.{DOMAIN}"
EXTERNAL = f"lyncdiscover.{DOMAIN}"
WEB = f"web.{DOMAIN}"
USER_PATH = "/Autodiscover/AutodiscoverService.svc/root/user"
WEB_NAMES = [INTERNAL, EXTERNAL, WEB]


@dataclass
class Lab:
    server: AutodiscoverServer
    dns_port: int
    ca: TestCA

    def run(self, *, user: str = f"alice@{DOMAIN}", login: str = "", password: str = "",
            ca_file: str | None = "", max_body: int = 256 * 1024,
            request_timeout: float = 3.0) -> DiscoveryResult:
        account = parse_account(user, login=login)
        http = AutodiscoverSettings(
            https_port=self.server.https_port, http_port=self.server.http_port,
            ca_file=str(self.ca.ca_path) if ca_file == "" else ca_file,
            max_body=max_body, request_timeout=request_timeout)
        options = DiscoveryOptions(
            resolver=ResolverSettings((Nameserver("127.0.0.1", self.dns_port),), timeout=1.0),
            # A generous grace: once the selection is known, the report still waits for the
            # equivalent http/https requests (all local, so this costs nothing unless one hangs).
            deadline=10.0, settle_grace=2.0, http=http)
        return asyncio.run(discover(account, password=Secret(password) if password else None,
                                    options=options))

    def url(self, scheme: str, host: str, path: str) -> str:
        return self.server.url(scheme, host, path)


def _zone(hosts: list[str]) -> DnsZone:
    zone = DnsZone(DOMAIN)
    for host in hosts:
        zone = zone.host(host, "127.0.0.1")
    return zone.host(f"pool.{DOMAIN}", "127.0.0.2").host(f"edge.{DOMAIN}", "127.0.0.3")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    binary = require_tool("dnsmasq")
    ca = TestCA.create(tmp_path / "ca")
    cert = ca.issue(WEB_NAMES, ip_addresses=["127.0.0.1"])
    with Dnsmasq(_zone(WEB_NAMES), binary=binary) as dns, AutodiscoverServer(cert) as server:
        yield Lab(server, dns.port, ca)


def outcomes(result: DiscoveryResult) -> list[tuple[str, str]]:
    return [(a.url.split("?")[0], a.outcome.value) for a in result.autodiscover]


def test_user_document_gives_servers_first(lab: Lab) -> None:
    lab.server.route(INTERNAL, "/", Reply(user_document(internal=(f"pool.{DOMAIN}", 5061),
                                                        external=(f"edge.{DOMAIN}", 443))))
    result = lab.run()
    assert [(c.host, c.port, c.transport.value, c.source) for c in result.candidates[:2]] == [
        (f"pool.{DOMAIN}", 5061, "tls", CandidateSource.AUTODISCOVER),
        (f"edge.{DOMAIN}", 443, "tls", CandidateSource.AUTODISCOVER)]
    assert result.selected is not None and result.selected.host == f"pool.{DOMAIN}"
    assert result.selected.addresses == ("127.0.0.2",)
    internal = [a for a in result.autodiscover if "Internal" in a.url]
    assert {a.url.split(":")[0] for a in internal} == {"https", "http"}
    assert all(a.outcome is AutodiscoverOutcome.SERVERS for a in internal)
    # The request SIPE sends: Accept, User-Agent, sipuri, Host and SNI set to the name.
    # Internal and external requests run at once: pick the internal one by its Host.
    https_request = next(r for r in lab.server.requests
                         if r.scheme == "https" and r.host == INTERNAL)
    assert https_request.headers["Accept"] == "application/vnd.microsoft.rtc.autodiscover+xml;v=1"
    assert https_request.headers["User-Agent"].startswith("Purple/")
    assert https_request.query == f"sipuri=alice@{DOMAIN}"
    assert https_request.host == INTERNAL and https_request.sni == INTERNAL


def test_root_user_link_then_ntlm_protected_user_document(lab: Lab, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "ntlm-users"
    users.write_text("EXAMPLE:alice:Passw0rd!\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    lab.server.route(EXTERNAL, "/", Reply(root_document(
        user_href=lab.url("https", WEB, USER_PATH))))
    lab.server.route(WEB, USER_PATH, Reply(user_document(external=(f"edge.{DOMAIN}", 443)),
                                           ntlm_protected=True))
    result = lab.run(login="EXAMPLE\\alice", password="Passw0rd!")
    user_hops = [a for a in result.autodiscover if USER_PATH in a.url]
    assert user_hops and all(a.authenticated for a in user_hops)
    assert all(a.outcome is AutodiscoverOutcome.SERVERS for a in user_hops)
    assert result.selected is not None and result.selected.host == f"edge.{DOMAIN}"
    assert lab.server.authenticated_users
    assert "Passw0rd!" not in repr(result) and "Passw0rd!" not in str(result.to_json())


def test_wrong_password_is_auth_failed(lab: Lab, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    users = tmp_path / "ntlm-users"
    users.write_text("EXAMPLE:alice:Passw0rd!\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    lab.server.route(INTERNAL, "/", Reply(root_document(
        user_href=lab.url("https", WEB, USER_PATH))))
    lab.server.route(WEB, USER_PATH, Reply(user_document(external=(f"edge.{DOMAIN}", 443)),
                                           ntlm_protected=True))
    result = lab.run(login="EXAMPLE\\alice", password="wrong")
    user_hops = [a for a in result.autodiscover if USER_PATH in a.url]
    assert user_hops and all(a.outcome is AutodiscoverOutcome.AUTH_FAILED for a in user_hops)
    assert all(a.authenticated for a in user_hops)
    assert lab.server.auth_failures >= 1
    assert "wrong" not in str(result.to_json())
    # Autodiscover gave nothing: SIPE continues with DNS; nothing else is published here.
    assert all(c.source is not CandidateSource.AUTODISCOVER for c in result.candidates)


def test_web_ticket_needed_is_reported(lab: Lab) -> None:
    lab.server.route(EXTERNAL, "/", Reply(root_document(
        user_href=lab.url("https", WEB, USER_PATH))))
    lab.server.route(WEB, USER_PATH, Reply(
        always_401=True, web_ticket_url=f"https://{WEB}/WebTicket/WebTicketService.svc"))
    result = lab.run(login="EXAMPLE\\alice", password="Passw0rd!")
    hops = [a for a in result.autodiscover if USER_PATH in a.url]
    assert hops and all(a.outcome is AutodiscoverOutcome.NEEDS_WEB_TICKET for a in hops)
    # Was "not supported yet; comes with TLS-DSK": the ticket is now asked for, and the
    # detail says how that went (here: the web ticket service does not exist).
    assert "the server wants a web ticket from" in hops[0].detail
    assert "getting one failed" in hops[0].detail and "HTTP 404" in hops[0].detail
    assert WarningCode.AUTODISCOVER_WEB_TICKET in {w.code for w in result.warnings}


WEBTICKET_PATH = "/WebTicket/WebTicketService.svc"


def _web_ticket_lab(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                    win_negotiate_host: str = WEB) -> str:
    """Root → User link that wants a web ticket from the web ticket service on WEB."""
    users = tmp_path / "ntlm-users"
    users.write_text("EXAMPLE:alice:Passw0rd!\n", encoding="utf-8")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))
    user_url = lab.url("https", WEB, USER_PATH)
    lab.server.route(EXTERNAL, "/", Reply(root_document(user_href=user_url)))
    lab.server.route(WEB, USER_PATH, Reply(user_document(external=(f"edge.{DOMAIN}", 443)),
                                           accept_web_ticket=True,
                                           web_ticket_url=lab.url("https", WEB, WEBTICKET_PATH)))
    negotiate = lab.url("https", win_negotiate_host, f"{WEBTICKET_PATH}/WinNegotiate")
    lab.server.route(WEB, f"{WEBTICKET_PATH}/mex", Reply(webticket_mex_document(negotiate),
                                                         content_type="text/xml"))
    lab.server.route(win_negotiate_host, f"{WEBTICKET_PATH}/WinNegotiate",
                     Reply(ntlm_protected=True, web_ticket_issuer=True))
    return user_url


def test_user_link_needing_a_web_ticket_gets_one(lab: Lab, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    user_url = _web_ticket_lab(lab, tmp_path, monkeypatch)
    result = lab.run(login="EXAMPLE\\alice", password="Passw0rd!")
    hops = [a for a in result.autodiscover if USER_PATH in a.url]
    assert hops and all(a.outcome is AutodiscoverOutcome.SERVERS for a in hops), hops
    assert all(a.authenticated and "with a web ticket from" in a.detail for a in hops)
    assert result.selected is not None and result.selected.host == f"edge.{DOMAIN}"
    assert WarningCode.AUTODISCOVER_WEB_TICKET not in {w.code for w in result.warnings}
    # The RST asked for the User URL (AppliesTo) for the sign-in address, after HTTP NTLM.
    tickets = lab.server.issued_web_tickets
    assert tickets and {t.applies_to for t in tickets} == {user_url}
    assert {t.claim for t in tickets} == {f"sip:alice@{DOMAIN}"}
    assert all(t.user.lower().endswith("alice") for t in tickets)
    assert lab.server.web_ticket_uses
    # SIPE's headers on the retried GET.
    retried = [r for r in lab.server.requests if "X-MS-WebTicket" in r.headers]
    assert retried and all(r.headers["Accept"] == "application/vnd.microsoft.rtc.autodiscover"
                           "+xml;v=1" and r.headers["X-MS-WebTicket"].startswith("opaque=")
                           for r in retried)
    assert "Passw0rd!" not in str(result.to_json())


def test_web_ticket_with_wrong_password_falls_through(lab: Lab, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _web_ticket_lab(lab, tmp_path, monkeypatch)
    result = lab.run(login="EXAMPLE\\alice", password="Nope-4711")
    hops = [a for a in result.autodiscover if USER_PATH in a.url]
    assert hops and all(a.outcome is AutodiscoverOutcome.NEEDS_WEB_TICKET for a in hops)
    assert "did not accept the credentials" in hops[0].detail
    assert "Nope-4711" not in str(result.to_json())
    assert not lab.server.issued_web_tickets
    assert all(c.source is not CandidateSource.AUTODISCOVER for c in result.candidates)


def test_web_ticket_password_never_goes_outside_the_domain(
        lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The mex (inside the domain) points the password at an IP address: not inside it.
    _web_ticket_lab(lab, tmp_path, monkeypatch, win_negotiate_host="127.0.0.1")
    result = lab.run(login="EXAMPLE\\alice", password="Passw0rd!")
    hops = [a for a in result.autodiscover if USER_PATH in a.url]
    assert hops and all(a.outcome is AutodiscoverOutcome.NEEDS_WEB_TICKET for a in hops)
    assert "not allowed" in hops[0].detail
    assert not [r for r in lab.server.requests if r.method == "POST"]


def test_redirect_document_is_followed(lab: Lab) -> None:
    lab.server.route(INTERNAL, "/", Reply(root_document(
        redirect_href=lab.url("https", WEB, "/moved"))))
    lab.server.route(WEB, "/moved", Reply(user_document(internal=(f"pool.{DOMAIN}", 5061))))
    result = lab.run()
    https_chain = [a for a in result.autodiscover if a.chain.startswith("https://LyncDiscoverI")]
    assert [a.outcome for a in https_chain] == [AutodiscoverOutcome.REDIRECT,
                                                AutodiscoverOutcome.SERVERS]
    assert result.selected is not None and result.selected.host == f"pool.{DOMAIN}"


def test_wrong_content_type_and_http_redirect_are_skipped(lab: Lab) -> None:
    lab.server.route(INTERNAL, "/", Reply(b'{"servers": []}', content_type="application/json"))
    lab.server.route(EXTERNAL, "/", Reply(b"", status=302,
                                          headers=(("Location", "https://evil.invalid/"),)))
    result = lab.run()
    internal = {a.outcome for a in result.autodiscover if "Internal" in a.url}
    external = [a for a in result.autodiscover if "Internal" not in a.url]
    assert internal == {AutodiscoverOutcome.WRONG_CONTENT_TYPE}
    assert {a.outcome for a in external} == {AutodiscoverOutcome.HTTP_STATUS}
    assert all(a.status == 302 and "not followed" in a.detail for a in external)
    assert not any(r.host == "evil.invalid" for r in lab.server.requests)


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
                  b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                  b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
                  b"<AutodiscoverResponse><User>&c;</User></AutodiscoverResponse>")


@pytest.mark.parametrize(("reply", "expected"), [
    (Reply(b"<AutodiscoverResponse><User>"), AutodiscoverOutcome.BAD_DOCUMENT),
    (Reply(b"\x00\xff garbage \x01"), AutodiscoverOutcome.BAD_DOCUMENT),
    (Reply(BILLION_LAUGHS), AutodiscoverOutcome.BAD_DOCUMENT),
    (Reply(huge_body=4 * 1024 * 1024), AutodiscoverOutcome.TOO_LARGE),
    (Reply(b"", status=500, content_type="text/html"), AutodiscoverOutcome.HTTP_STATUS),
])
def test_hostile_documents_end_cleanly(lab: Lab, reply: Reply,
                                       expected: AutodiscoverOutcome) -> None:
    lab.server.route(INTERNAL, "/", reply)
    lab.server.route(EXTERNAL, "/", reply)
    result = lab.run()
    assert {a.outcome for a in result.autodiscover} == {expected}
    assert not any(c.source is CandidateSource.AUTODISCOVER for c in result.candidates)


def test_redirect_loop_is_detected(lab: Lab) -> None:
    lab.server.route(INTERNAL, "/", Reply(root_document(
        redirect_href=lab.url("https", WEB, "/a"))), scheme="https")
    lab.server.route(WEB, "/a", Reply(root_document(redirect_href=lab.url("https", WEB, "/b"))))
    lab.server.route(WEB, "/b", Reply(root_document(redirect_href=lab.url("https", WEB, "/a"))))
    result = lab.run()
    chain = [a for a in result.autodiscover if a.chain.startswith("https://LyncDiscoverI")]
    assert chain[-1].outcome is AutodiscoverOutcome.REDIRECT_LOOP
    assert [a.url.split(":", 2)[-1].split("/", 1)[-1] for a in chain[1:]] == ["a", "b", "a"]


def test_endless_redirect_chain_is_bounded(lab: Lab) -> None:
    for hop in range(20):
        lab.server.route(WEB, f"/{hop}", Reply(root_document(
            redirect_href=lab.url("https", WEB, f"/{hop + 1}"))))
    lab.server.route(INTERNAL, "/", Reply(root_document(redirect_href=lab.url("https", WEB, "/0"))),
                     scheme="https")
    result = lab.run()
    chain = [a for a in result.autodiscover if a.chain.startswith("https://LyncDiscoverI")]
    assert chain[-1].outcome is AutodiscoverOutcome.TOO_MANY_REDIRECTS
    assert len(chain) == 9  # 8 documents, then the verdict


def test_hanging_server_times_out(lab: Lab) -> None:
    lab.server.route(INTERNAL, "/", Reply(user_document(internal=(f"pool.{DOMAIN}", 5061)),
                                          delay=3.0))
    started = time.monotonic()
    result = lab.run(request_timeout=0.5)
    assert time.monotonic() - started < 2.5
    internal = {a.outcome for a in result.autodiscover if "Internal" in a.url}
    assert internal == {AutodiscoverOutcome.TIMEOUT}


def test_untrusted_certificate_fails_https_only(lab: Lab, tmp_path: Path) -> None:
    lab.server.route(INTERNAL, "/", Reply(user_document(internal=(f"pool.{DOMAIN}", 5061))))
    result = lab.run(ca_file=None)  # the test CA is not trusted
    by_scheme = {a.url.split(":")[0]: a for a in result.autodiscover if "Internal" in a.url}
    assert by_scheme["https"].outcome is AutodiscoverOutcome.TLS_FAILED
    assert by_scheme["http"].outcome is AutodiscoverOutcome.SERVERS
    assert result.selected is not None and result.selected.host == f"pool.{DOMAIN}"


def test_certificate_for_another_name_fails(tmp_path: Path) -> None:
    binary = require_tool("dnsmasq")
    ca = TestCA.create(tmp_path / "ca")
    wrong = ca.issue([f"other.{DOMAIN}"])
    with Dnsmasq(_zone(WEB_NAMES), binary=binary) as dns, AutodiscoverServer(wrong) as server:
        server.route(INTERNAL, "/", Reply(user_document(internal=(f"pool.{DOMAIN}", 5061))),
                     scheme="https")
        result = Lab(server, dns.port, ca).run()
    https = next(a for a in result.autodiscover if a.url.startswith("https://LyncDiscoverI"))
    assert https.outcome is AutodiscoverOutcome.TLS_FAILED


def test_self_signed_and_expired_certificates_fail(tmp_path: Path) -> None:
    import datetime as dt

    binary = require_tool("dnsmasq")
    ca = TestCA.create(tmp_path / "ca")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for cert in (self_signed(tmp_path / "self", WEB_NAMES), ca.issue(WEB_NAMES, not_after=past)):
        with Dnsmasq(_zone(WEB_NAMES), binary=binary) as dns, AutodiscoverServer(cert) as server:
            server.route(INTERNAL, "/", Reply(user_document(internal=(f"pool.{DOMAIN}", 5061))),
                         scheme="https")
            result = Lab(server, dns.port, ca).run()
        https = next(a for a in result.autodiscover if a.url.startswith("https://LyncDiscoverI"))
        assert https.outcome is AutodiscoverOutcome.TLS_FAILED, https.detail


@pytest.mark.parametrize("fqdn", ["pool..example.test", "a" * 64 + ".example.test",
                                  "po\u00a0ol.example.test", "\ufffd.example.test", ""])
def test_a_user_document_naming_no_real_host_says_so(lab: Lab, fqdn: str) -> None:
    """Server names from the network that are not names (empty or over-long labels, control
    bytes) are reported on the attempt, never dropped silently or called "not waited"."""
    lab.server.route(INTERNAL, "/", Reply(user_document(internal=(fqdn, 5061))))
    result = lab.run()
    internal = [a for a in result.autodiscover if "Internal" in a.url and a.url.startswith(
        "https")]
    assert internal, outcomes(result)
    attempt = internal[0]
    assert attempt.outcome.value != "not-waited", outcomes(result)
    assert "not a valid host name" in attempt.detail, attempt
    assert all(c.host != fqdn for c in result.candidates)
