"""The advice catalog: one entry per known failure, with a code you can read out on the phone.

Every FAIL or WARN a check step produces points at exactly one :class:`AdviceEntry` by id.
Codes are stable (``SS-<AREA>-<WHAT>``): IT staff and documentation may quote them, so an
existing code is never renamed or reused.

Texts are plain English sentences; ``{placeholders}`` are filled from the evidence of the step
(server names, the server's own words, suggested values) with :meth:`AdviceEntry.render`.
``{server_reason}`` is special: it is the server's own reason, verbatim; it is also kept on
:attr:`RenderedAdvice.server_reason` so a front end can show it beside ours, and reads "no reason
given" when the server gave none. Every code a user can see is listed, with its kind, in
:mod:`sipe_setup.core.codes` (and in the README's table; a test keeps them in step).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Final

from sipe_setup.core.account import Field

__all__ = ["CATALOG", "NO_REASON", "SUGGESTED_USER_AGENTS", "AdviceEntry", "RenderedAdvice",
           "advice"]

#: User Agents of real Microsoft clients, for servers with a client version filter (17002).
SUGGESTED_USER_AGENTS: Final = (
    "UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)",
    "UCCAPI/15.0.4481.1000 OC/15.0.4481.1000 (Microsoft Lync)",
    "UCCAPI/4.0.7577.0 OC/4.0.7577.0 (Microsoft Lync 2010 (Beta))",
    "UCCAPI/3.5.6907.0 OC/3.5.6907.0 (Microsoft Office Communicator 2007 R2)",
)
NO_REASON: Final = "no reason given"
"""What ``{server_reason}`` reads when the server gave no reason."""


@dataclass(frozen=True, slots=True)
class RenderedAdvice:
    """An entry with its placeholders filled, ready to show."""

    id: str
    code: str
    title: str
    explanation: str
    fix: str
    field: Field | None
    server_reason: str = ""
    """The server's own words (ms-diagnostics reason or Warning text), verbatim; ``""`` when
    the server gave none or the advice is not about a server answer."""

    def to_json(self) -> dict[str, str | None]:
        """JSON form for reports."""
        return {"id": self.id, "code": self.code, "title": self.title,
                "explanation": self.explanation, "fix": self.fix,
                "field": self.field.value if self.field else None,
                "server_reason": self.server_reason}


@dataclass(frozen=True, slots=True)
class AdviceEntry:
    """One known failure: what it means and what to change."""

    id: str
    code: str
    title: str
    explanation: str
    fix: str
    field: Field | None = None  # the form field to jump back to, if one is concerned

    @property
    def placeholders(self) -> frozenset[str]:
        """The ``{names}`` used in the code, title, explanation and fix."""
        fmt = string.Formatter()
        return frozenset(name for text in (self.code, self.title, self.explanation, self.fix)
                         for _, name, _, _ in fmt.parse(text) if name)

    def render(self, **values: object) -> RenderedAdvice:
        """Fill ``{name}`` placeholders; a missing value is shown as "?" rather than failing
        (the catalog tests make sure no caller leaves one out)."""

        class _Lenient(dict[str, object]):
            def __missing__(self, key: str) -> str:
                return "?"

        said = values.get("server_reason")
        said_text = str(said).strip() if said is not None else ""
        mapping = _Lenient({k: v for k, v in values.items() if v is not None})
        if "server_reason" in self.placeholders:
            mapping["server_reason"] = said_text or NO_REASON
        fmt = string.Formatter()

        def fill(text: str) -> str:
            return fmt.vformat(text, (), mapping)

        return RenderedAdvice(self.id, fill(self.code), fill(self.title),
                              fill(self.explanation), fill(self.fix), self.field,
                              said_text if said_text != NO_REASON else "")


_UA_LIST = "; ".join(SUGGESTED_USER_AGENTS[:2])

_ENTRIES: Final = (
    # --- input ---------------------------------------------------------------------------------
    AdviceEntry("input-invalid", "SS-INPUT-BAD", "A field is not filled in correctly",
                "{detail}", "Correct the field and try again.", Field.SIGNIN),
    # --- discovery -----------------------------------------------------------------------------
    AdviceEntry(
        "discovery-none", "SS-DISC-NONE", "No server found for {domain}",
        "Neither Lync autodiscover nor the DNS records SIPE looks for (SRV _sipinternaltls._tcp, "
        "_sipinternal._tcp, _sip._tls, _sip._tcp; A records sipinternal, sipexternal, sip) "
        "exist for {domain}, and the domain itself has no address.",
        "Ask IT for the server name and enter it in Server (like sip.{domain}:443). IT can "
        "publish _sipinternaltls._tcp.{domain} SRV 0 0 5061 <pool> (inside) and "
        "_sip._tls.{domain} SRV 0 0 443 <edge> (outside), or lyncdiscover.{domain}.",
        Field.SERVER),
    AdviceEntry(
        "discovery-dns-failed", "SS-DISC-DNS", "The DNS server did not answer",
        "Lookups for {domain} failed ({detail}), so nothing can be said about which records "
        "exist.",
        "Check the network connection and the DNS server (VPN connected?), then retry; or enter "
        "the server manually.", Field.SERVER),
    AdviceEntry(
        "discovery-outside-domain", "SS-DISC-NAME",
        "The server {host} is outside your SIP domain {domain}",
        "Office Communicator and Lync ignore a discovered server whose name is not in the SIP "
        "domain (strict DNS naming). SIPE does not check this and will connect anyway, but the "
        "TLS certificate must still match {host}.",
        "If this is intended (hosted service, merged companies), accept it. Otherwise ask IT to "
        "publish the record with a server inside {domain}.", Field.SERVER),
    AdviceEntry(
        "discovery-webticket", "SS-DISC-TICKET", "Autodiscover needs a web ticket",
        "The Lync autodiscover service asks for a web ticket, and getting one from the web "
        "ticket service it named failed.",
        "Discovery continues with DNS records. If it finds nothing, enter the server manually "
        "(for Office 365: sipdir.online.lync.com:443 with TLS).", Field.SERVER),
    # --- connection ----------------------------------------------------------------------------
    AdviceEntry(
        "connect-refused", "SS-NET-REFUSED", "{host}:{port} refused the connection",
        "The server exists but nothing accepts {transport} connections on port {port}. "
        "Lync front ends listen on 5061 (TLS) inside the company; Edge servers on 443 outside.",
        "Try the other port (5061 inside the network or on VPN, 443 from outside), or the other "
        "connection type; ask IT which port is open for you.", Field.SERVER),
    AdviceEntry(
        "connect-timeout", "SS-NET-TIMEOUT", "No answer from {host}:{port}",
        "The connection attempt got no answer at all. A firewall is probably dropping it, or "
        "you need the company VPN to reach internal servers.",
        "Connect to the VPN (or try from inside the company network), or use the Edge server "
        "on port 443. IT can confirm the firewall rules.", Field.SERVER),
    AdviceEntry(
        "connect-unreachable", "SS-NET-UNREACH", "{host} could not be reached",
        "The network reported: {detail}.",
        "Check the network connection and the server name.", Field.SERVER),
    AdviceEntry(
        "connect-dns", "SS-NET-NAME", "The server name {host} does not resolve",
        "The name typed in Server has no address in DNS.",
        "Check the spelling of the server name, or leave Server empty for automatic discovery.",
        Field.SERVER),
    AdviceEntry(
        "tcp-refused", "SS-NET-TCP", "Plain TCP is not accepted by {host}",
        "The server refuses unencrypted TCP connections; most Lync servers only accept TLS.",
        "Set Connection type to Auto or SSL/TLS.", Field.TRANSPORT),
    AdviceEntry(
        "tls-handshake", "SS-TLS-FAIL", "The TLS handshake with {host} failed",
        "The server and this computer could not agree on an encrypted connection ({detail}). "
        "Old servers may only offer TLS versions or ciphers this system no longer allows; or "
        "the port does not speak TLS at all.",
        "If IT says the server uses plain TCP on this port, set Connection type to TCP; "
        "otherwise report the detail to IT.", Field.TRANSPORT),
    AdviceEntry(
        "tls-untrusted", "SS-TLS-CA", "The certificate of {host} is not trusted",
        "The server's certificate (fingerprint {fingerprint}) is issued by {issuer}, which this "
        "computer does not trust ({detail}). That is normal for company-internal certificate "
        "authorities, but it is also what an attacker's certificate looks like.",
        "Ask IT for the company's CA certificate and install it (or pass --ca-file), or compare "
        "the fingerprint with IT over the phone and accept it.", Field.SERVER),
    AdviceEntry(
        "tls-name-mismatch", "SS-TLS-NAME", "The certificate does not match {host}",
        "The certificate names {names}, but the connection went to {host}. Pidgin checks the "
        "name it connected to (the SRV target or the Server you typed).",
        "Enter one of the certificate's names in Server (for example {suggested}), or ask IT "
        "to fix the DNS record or the certificate.", Field.SERVER),
    AdviceEntry(
        "tls-expired", "SS-TLS-DATE", "The certificate of {host} is out of date",
        "{detail}",
        "If this computer's date and time are right, IT must renew the server certificate. "
        "Otherwise correct the clock.", Field.SERVER),
    # --- SIP level -----------------------------------------------------------------------------
    AdviceEntry(
        "no-response", "SS-SIP-SILENT", "{host} does not answer the sign-in request",
        "The connection was made but the server sent no SIP answer within {timeout} s. SIPE "
        "would wait here forever. The port may belong to something that is not a SIP server, "
        "or the server is overloaded.",
        "Check the server and port with IT; try the other port (5061/443).", Field.SERVER),
    AdviceEntry(
        "no-final-answer", "SS-SIP-NOFINAL", "{host} never gives its final answer",
        "The server keeps sending interim answers or unrelated messages ({detail}) but never "
        "the answer to the sign-in request. SIPE would wait forever.",
        "Report this to IT with the code: the server or a device in between is misbehaving. "
        "Meanwhile try the other port (5061/443).", Field.SERVER),
    AdviceEntry(
        "server-closed", "SS-SIP-CLOSED", "{host} closed the connection",
        "The server hung up during sign-in ({detail}).",
        "Retry once. If it persists the server may reject this connection type or client; try "
        "TLS, or a User Agent of a Microsoft client.", Field.TRANSPORT),
    AdviceEntry(
        "garbage", "SS-SIP-GARBAGE", "{host} does not speak SIP",
        "What came back is not a SIP message ({detail}). The port probably belongs to another "
        "service (a web server, for example).",
        "Check the server name and port; Lync uses 5061 (TLS) or 443 (Edge).", Field.SERVER),
    AdviceEntry(
        "not-lync", "SS-SIP-NOTLYNC", "{host} is a SIP server, but not Lync / Skype for Business",
        "It {answer} and identifies itself as “{server_header}”. That is typical of a VoIP "
        "telephone system, not of your instant-messaging server (Lync always accepts the "
        "sign-in request and asks for NTLM, Kerberos or TLS-DSK). The check's step “Find the "
        "server” shows which DNS record or setting led to {host}.",
        "Enter your Lync / Skype for Business server manually in Server (ask IT for its name).",
        Field.SERVER),
    AdviceEntry(
        "proxy-digest", "SS-SIP-PROXY", "A SIP proxy in front of {host} asks for your password",
        "{host} answered 407 Proxy Authentication Required with a Digest challenge (realm "
        "“{realm}”, server “{server_header}”): a SIP proxy stands between you and the server. "
        "Pidgin's SIPE answers it with your Login and password (Digest) and goes on to the Lync "
        "server behind it. sipe-setup does not send your password with Digest, so it cannot "
        "check the sign-in beyond this proxy.",
        "If IT confirms the proxy, save the profile and try it in Pidgin. Otherwise enter the "
        "Lync / Skype for Business server itself in Server (ask IT for its name).",
        Field.SERVER),
    AdviceEntry(
        "redirect-loop", "SS-SIP-REDIRECT", "Too many redirects",
        "The servers kept redirecting the sign-in ({detail}).",
        "Report this to IT: the pool assignment for your account is inconsistent.", None),
    AdviceEntry(
        "service-unavailable", "SS-SIP-503", "The server is temporarily unavailable ({status})",
        "The server answered {status} {reason_phrase}: {server_reason}. Lync says this when a "
        "pool is down or overloaded, or when it cannot reach your home server.",
        "Retry later. If it persists, report the code and the server's reason to IT.", None),
    AdviceEntry(
        "server-error", "SS-SIP-5XX", "The server failed to process the sign-in ({status})",
        "The server answered {status} {reason_phrase}: {server_reason}. SIPE does not handle "
        "this answer and would wait forever; sipe-setup stops here.",
        "Report the code and the server's reason to IT.", None),
    AdviceEntry(
        "temporarily-unavailable", "SS-SIP-480", "Your account is temporarily unavailable (480)",
        "The server answered 480: {server_reason}. SIPE would wait forever here.",
        "Retry in a few minutes; if it persists your account may be in the middle of a move "
        "between pools — ask IT.", None),
    AdviceEntry(
        "unexpected-status", "SS-SIP-{status}", "Unexpected answer {status} from the server",
        "The server answered {status} {reason_phrase}: {server_reason}.",
        "Report the code and the server's reason to IT.", None),
    AdviceEntry(
        "not-found", "SS-SIP-404", "The server does not know {signin}",
        "The server answered 404 ({server_reason}): the sign-in address is not enabled for "
        "Lync / Skype for Business, or it is spelt differently from your SIP address (which is "
        "often, but not always, your e-mail address).",
        "Check the sign-in address with IT (ask for your SIP URI). Note: the sign-in address "
        "is not the Windows login — that goes in Login.", Field.SIGNIN),
    AdviceEntry(
        "user-not-in-pool", "SS-SIP-4006", "Your account lives on another pool",
        "The server says: {server_reason}. You reached a pool that does not host your account "
        "and it did not redirect you.",
        "Leave Server empty to let discovery find your home pool, or ask IT for its name.",
        Field.SERVER),
    AdviceEntry(
        "client-version", "SS-SIP-17002", "The server rejects this client version",
        "The server has a client version filter and refuses the User Agent “{user_agent}” "
        "({filter_said}: “{server_reason}”).",
        "Set User Agent to that of an allowed Microsoft client, for example: " + _UA_LIST + ".",
        Field.USER_AGENT),
    AdviceEntry(
        "client-version-advised", "SS-SIP-UPGRADE", "The server advises a newer client",
        "You are signed in, but the server's client version filter marks the User Agent "
        "“{user_agent}” as out of date ({filter_said}: “{server_reason}”). It works today; "
        "IT may block it later.",
        "Nothing must change now. To be safe, set User Agent to that of a current Microsoft "
        "client, for example: " + _UA_LIST + ".", Field.USER_AGENT),
    AdviceEntry(
        "remote-access-disabled", "SS-SIP-4003", "Your account may not sign in from outside",
        "The server (an Edge server, reached from outside the company network) says: "
        "“{server_reason}” (ms-diagnostics 4003). Your Login and password are fine, but this "
        "account is not enabled for remote access.",
        "Connect to the company VPN or network and retry (Server empty, or the internal pool on "
        "port 5061); or ask IT to enable remote (external) access for your account.", None),
    AdviceEntry(
        "user-disabled", "SS-SIP-4141", "Your Lync / Skype for Business account is disabled",
        "The server says: “{server_reason}” (ms-diagnostics 4141). The account exists but is "
        "disabled for Lync / Skype for Business.",
        "Ask IT to enable your account for Lync / Skype for Business again.", None),
    AdviceEntry(
        "uri-in-use", "SS-SIP-URIUSED", "The sign-in address belongs to more than one account",
        "The server says: “{server_reason}”. Another user in the directory has the same SIP "
        "address ({signin}), so the server refuses the sign-in.",
        "Report the code to IT: the SIP address must belong to exactly one user.", None),
    AdviceEntry(
        "dns-srv-failed", "SS-SIP-1008", "The server could not find the next server in DNS",
        "The server answered {status} {reason_phrase}: “{server_reason}” (ms-diagnostics 1008). "
        "The server you reached (often an Edge server or a Director) forwards the sign-in to "
        "your pool and could not resolve the DNS SRV record for it. Nothing on this computer "
        "causes that.",
        "Report the code and the server's reason to IT (DNS of the pool, or the Edge's next "
        "hop).", None),
    AdviceEntry(
        "dns-conflict", "SS-SIP-1009", "The server found conflicting DNS records",
        "The server answered {status} {reason_phrase}: “{server_reason}” (ms-diagnostics 1009): "
        "an SRV record it needs points to a host outside the record's own domain, which Lync "
        "refuses.",
        "Report the code and the server's reason to IT.", None),
    AdviceEntry(
        "next-hop-untrusted", "SS-SIP-1010", "The server does not trust the next server",
        "The server answered {status} {reason_phrase}: “{server_reason}” (ms-diagnostics 1010). "
        "It forwards the sign-in to another server (your pool, a Director) and does not trust "
        "that server's certificate. Nothing on this computer causes that.",
        "Report the code and the server's reason to IT (certificates between the servers).",
        None),
    AdviceEntry(
        "server-time-skew", "SS-SIP-1013", "The server says the clocks differ too much",
        "The server answered {status} {reason_phrase}: “{server_reason}” (ms-diagnostics 1013).",
        "Check that this computer's date, time and time zone are right (automatic time); if "
        "they are, report the code to IT.", None),
    AdviceEntry(
        "server-timeout", "SS-SIP-504", "The server timed out passing on the sign-in (504)",
        "The server answered 504 {reason_phrase}: “{server_reason}”. A front end or Edge "
        "server got no answer from the next server in time. Pidgin's SIPE retries a 504 to "
        "its sign-in request five more times, 60 s apart, before it gives up.",
        "Retry in a few minutes. If it persists, report the code and the server's reason to "
        "IT.", None),
    AdviceEntry(
        "forbidden", "SS-SIP-403", "The server rejected the sign-in (403)",
        "The server said: {server_reason}. Your credentials may be correct but the account is "
        "not allowed to sign in this way (remote access, federation or policy).",
        "Report the server's reason and the code to IT.", None),
    AdviceEntry(
        "not-authorized-for-uri", "SS-AUTH-4004", "Login and sign-in address belong to "
        "different people",
        "The server accepted the password but says these credentials may not act as "
        "{signin} ({server_reason}).",
        "Make the Login the Windows account of the same person as the sign-in address.",
        Field.LOGIN),
    # --- authentication ------------------------------------------------------------------------
    AdviceEntry(
        "auth-failed", "SS-AUTH-401", "Wrong password or Login",
        "The server rejected the Login “{login}” with this password ({scheme}).",
        "Check the password (Caps Lock?). If it is right, check the Login: usually "
        "COMPANY\\username or username@company.com.", Field.PASSWORD),
    AdviceEntry(
        "auth-login-form", "SS-AUTH-LOGIN", "The Login has the wrong form",
        "The password is right, but the Login “{login}” is not accepted in this form; "
        "“{working_login}” works.",
        "Set Login to {working_login}.", Field.LOGIN),
    AdviceEntry(
        "auth-loop", "SS-AUTH-LOOP", "The server asks for authentication again after a "
        "completed handshake",
        "The {scheme} handshake completed but the server answered 401 again. Usually the "
        "account is locked or disabled, the password expired, or the signature was rejected.",
        "Sign in to a Windows or web service with the same account to check it; ask IT to "
        "check whether the account is locked.", Field.PASSWORD),
    AdviceEntry(
        "auth-incompatible", "SS-AUTH-SCHEME", "The server does not offer {chosen}",
        "You chose {chosen}, but the server offers only: {offered}.",
        "Set Authentication scheme to Auto (or to one of: {offered}).", Field.AUTH),
    AdviceEntry(
        "auth-tls-dsk-only", "SS-AUTH-DSK", "The server only offers TLS-DSK",
        "The server offers only certificate-based authentication (TLS-DSK), which sipe-setup "
        "cannot test yet. Pidgin + SIPE can use it.",
        "Save the profile with Authentication scheme TLS-DSK (or Auto) and try it in Pidgin; "
        "ask IT whether NTLM or Kerberos can be enabled.", Field.AUTH),
    AdviceEntry(
        "auth-bad-signature", "SS-AUTH-SIG", "The server's signature is wrong",
        "The server's answer carries a signature that does not match. SIPE stops with “Invalid "
        "message signature received”. Something between you and the server altered the "
        "message, or the server is not the one it claims to be.",
        "Report this to IT; do not use this server.", None),
    AdviceEntry(
        "auth-server-bad-challenge", "SS-AUTH-CHAL", "The server's authentication challenge is "
        "not usable",
        "The server's {scheme} challenge is malformed or lacks what SIPE needs ({detail}). "
        "SIPE reports “Failed to authenticate to server”.",
        "Report this to IT with the code.", None),
    # --- TLS-DSK (certificate sign-in; reference tls-dsk.md) --------------------------------
    AdviceEntry(
        "dsk-no-sts", "SS-DSK-NOSTS", "The server offers TLS-DSK without a certificate service",
        "The server's TLS-DSK challenge has no sts-uri, so there is no address to get a "
        "sign-in certificate from. Pidgin stops with “No URI for certificate provisioning "
        "service provided”.",
        "Set Authentication scheme to {alternative}, or ask IT to check the Lync web services "
        "(CertProvisioningService) of the pool.", Field.AUTH),
    AdviceEntry(
        "dsk-ws-untrusted", "SS-DSK-CA", "The certificate of the web services at {host} is not "
        "trusted",
        "To sign in with TLS-DSK, Pidgin first fetches a sign-in certificate from {host} over "
        "HTTPS. That server's certificate (fingerprint {fingerprint}) is not trusted "
        "({detail}). Pidgin will ask about it too, or fail.",
        "Install the company CA (or pass --ca-file), or compare the fingerprint with IT and "
        "accept it; the export then hands it to Pidgin.", None),
    AdviceEntry(
        "dsk-ws-host", "SS-DSK-HOST", "The web services host {host} is outside your SIP domain",
        "The server sends the certificate request to {host}, which is not inside {domain}; "
        "your password would go there. You did not allow it.",
        "If IT confirms {host} belongs to the company, run the check again and allow it.",
        None),
    AdviceEntry(
        "dsk-ws-unreachable", "SS-DSK-NET", "The Lync web services at {host} cannot be reached",
        "Getting a sign-in certificate needs HTTPS to {url}, and that failed: {detail}. "
        "Pidgin stops with “Web ticket request to … failed”.",
        "Check the VPN or proxy (the web services are often only reachable inside the company); "
        "or set Authentication scheme to {alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-mex", "SS-DSK-MEX", "The Lync web services describe themselves wrongly",
        "The service description at {url} is not usable: {detail}. Pidgin stops with “Web "
        "ticket request to … failed”.",
        "Report the code and the detail to IT; or set Authentication scheme to {alternative}.",
        Field.AUTH),
    AdviceEntry(
        "dsk-ticket-password", "SS-DSK-401", "Wrong password or Login (web ticket refused)",
        "The web ticket service at {host} refused the Login “{login}” with this password "
        "(HTTP {status}; the server said: {server_reason}). Pidgin stops with “Web ticket "
        "request to … failed”.",
        "Check the password (Caps Lock?). If it is right, check the Login: usually "
        "COMPANY\\username or username@company.com.", Field.PASSWORD),
    AdviceEntry(
        "dsk-ticket", "SS-DSK-TICKET", "The web ticket service refused to issue a ticket",
        "The web ticket service at {url} answered: {detail}. Pidgin stops with “Web ticket "
        "request to … failed”.",
        "Report the server's words and the code to IT; or set Authentication scheme to "
        "{alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-certprov", "SS-DSK-CERT", "No sign-in certificate was issued",
        "The certificate service at {url} did not issue a usable certificate: {detail}. Pidgin "
        "stops with “Certificate request to … failed”.",
        "Report the code and the detail to IT; or set Authentication scheme to "
        "{alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-short-cert", "SS-DSK-SHORT", "The sign-in certificate is valid for less than an "
        "hour",
        "The certificate service issued a certificate that is valid for too short a time "
        "({detail}). "
        "Pidgin's SIPE asks for a new one whenever less than an hour is left, so it loops "
        "forever and never signs in.",
        "IT must issue sign-in certificates valid for more than an hour (Lync's default is "
        "8 hours); check this computer's clock too. Meanwhile set Authentication scheme to "
        "{alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-tls-frame", "SS-DSK-FRAME", "The server's TLS-DSK answer is framed in a way SIPE "
        "cannot read",
        "The server split its TLS handshake messages over several records ({detail}). Lync "
        "sends them in one; Pidgin's SIPE fails with “Failed to authenticate to server”.",
        "This server is not behaving like Lync; report it to IT, or set Authentication "
        "scheme to {alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-tls-version", "SS-DSK-TLS10", "The server refuses the TLS 1.0 that TLS-DSK uses",
        "SIPE runs the TLS-DSK handshake with TLS 1.0 only, and the server refused it "
        "({detail}). Pidgin fails with “Failed to authenticate to server”.",
        "IT must allow TLS 1.0 for TLS-DSK on the pool (Lync/Skype for Business needs it for "
        "this), or enable NTLM/Kerberos; set Authentication scheme to {alternative}.",
        Field.AUTH),
    AdviceEntry(
        "dsk-tls-failed", "SS-DSK-TLS", "The TLS-DSK handshake failed",
        "The certificate handshake inside the sign-in failed: {detail}. Pidgin fails with "
        "“Failed to authenticate to server”.",
        "Report the code and the detail to IT; or set Authentication scheme to "
        "{alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-rejected", "SS-DSK-REJECT", "The server refused the sign-in certificate",
        "The TLS-DSK handshake completed, but the server answered 401 ({server_reason}). The "
        "certificate may not be published for your account, or the account is blocked.",
        "Ask IT to check certificate authentication for your account; or set Authentication "
        "scheme to {alternative}.", Field.AUTH),
    AdviceEntry(
        "dsk-rc4", "SS-DSK-RC4", "The server chose the obsolete RC4 cipher for TLS-DSK",
        "The server picked {suite}; SIPE accepts it and signs with {algorithm}, and the "
        "sign-in works. RC4 is broken cryptography.",
        "Nothing to change here; IT should disable RC4 on the pool.", None),
    AdviceEntry(
        "dsk-auto-fails", "SS-DSK-AUTO", "Pidgin with Authentication scheme Auto would fail here",
        "The server offers TLS-DSK, which Pidgin's SIPE always picks under Auto, and TLS-DSK "
        "fails here: {detail}. SIPE does not fall back to another scheme then. {working} "
        "works, so the profile pins {working}.",
        "Keep Authentication scheme {working}: the saved profile and the Pidgin export set it. "
        "To use TLS-DSK, the cause ({why_code}, in the report's steps) must be fixed first.",
        Field.AUTH),
    AdviceEntry(
        "dsk-libxml", "SS-DSK-LIBXML", "Pidgin's SIPE on this computer cannot do TLS-DSK",
        "{detail} TLS-DSK needs SIPE to read the Lync web services' XML, so Pidgin fails with "
        "“Web ticket request to … failed” (autodiscover and the contact list suffer too).",
        "{fix} See the README, section “Pidgin's SIPE and libxml2”, for the fix on this "
        "system.", Field.AUTH),
    AdviceEntry(
        "kerberos-no-ticket", "SS-KRB-TICKET", "No Kerberos ticket",
        "Single Sign-On with Kerberos needs a ticket, but none was found ({detail}).",
        "Run kinit {principal} (on Linux) or sign in to the Windows domain, then retry; or "
        "untick Single Sign-On and type Login and password.", Field.SSO),
    AdviceEntry(
        "kerberos-failed", "SS-KRB-FAIL", "Kerberos did not work",
        "Getting a Kerberos ticket for {target} failed: {detail}.",
        "Check the Login (Kerberos wants user@REALM), the realm's KDC (/etc/krb5.conf), and "
        "that the clock is right; or choose NTLM.", Field.LOGIN),
    AdviceEntry(
        "kerberos-wrong-password", "SS-KRB-PASSWORD", "Wrong password (Kerberos)",
        "The Kerberos server (KDC) rejected the password for {principal} ({kdc_error}).",
        "Check the password (Caps Lock?). Each try counts as a failed sign-in towards the "
        "account's lockout.", Field.PASSWORD),
    AdviceEntry(
        "kerberos-principal-unknown", "SS-KRB-PRINCIPAL", "The Kerberos server does not know "
        "{principal}",
        "The KDC of the realm has no account {principal} ({kdc_error}). Kerberos wants the "
        "Windows account as user@REALM (the domain in capitals).",
        "Check the Login: usually username@COMPANY.COM or COMPANY\\username; the part "
        "after @ must be the Kerberos realm.", Field.LOGIN),
    AdviceEntry(
        "kerberos-revoked", "SS-KRB-LOCKED", "The account is locked or disabled",
        "The Kerberos server (KDC) refuses {principal}: its credentials are revoked "
        "({kdc_error}). Active Directory says this when the account is locked after too many "
        "wrong passwords, disabled, or outside its allowed logon hours.",
        "Wait for the lockout to end or ask IT to unlock or enable the account; do not retry "
        "with other passwords meanwhile.", None),
    AdviceEntry(
        "kerberos-password-expired", "SS-KRB-EXPIRED", "Your password has expired",
        "The Kerberos server (KDC) says the password of {principal} has expired "
        "({kdc_error}).",
        "Change the password first (Windows sign-in, the company's password web page, or "
        "kpasswd), then type the new one here.", Field.PASSWORD),
    AdviceEntry(
        "kerberos-clock-skew", "SS-KRB-CLOCK", "This computer's clock is off (Kerberos)",
        "The Kerberos server (KDC) refuses the request because the clocks differ by more than "
        "the allowed skew, usually 5 minutes ({kdc_error}).",
        "Set the date, time and time zone correctly (enable automatic time), then retry.",
        None),
    AdviceEntry(
        "kerberos-service-unknown", "SS-KRB-SPN", "The Kerberos server does not know {target}",
        "The KDC has no service principal {target} ({kdc_error}), so it issues no ticket for "
        "this server. The server name may be an alias the KDC does not know, or IT has not "
        "registered the service principal.",
        "Enter the server's real name (the pool's FQDN) in Server, or choose NTLM; IT can "
        "register the principal (setspn).", Field.SERVER),
    AdviceEntry(
        "kerberos-kdc-unreachable", "SS-KRB-KDC", "No Kerberos server can be reached",
        "No KDC for the realm of {principal} answered ({kdc_error}). Kerberos needs a domain "
        "controller, which is usually reachable only inside the company network.",
        "Connect to the VPN, or check the realm's KDC in /etc/krb5.conf (or DNS SRV "
        "_kerberos._udp); or choose NTLM.", None),
    AdviceEntry(
        "kerberos-unavailable", "SS-KRB-MISSING", "Kerberos support is not installed",
        "sipe-setup cannot try Kerberos: {detail}.",
        "{install}; or choose NTLM.", Field.AUTH),
    AdviceEntry(
        "clock-skew", "SS-AUTH-CLOCK", "This computer's clock is off by {skew}",
        "The server's clock says {server_time}; this computer says {local_time}. Kerberos "
        "fails beyond 5 minutes, NTLM beyond 15.",
        "Set the date, time and time zone correctly (enable automatic time), then retry.",
        None),
    AdviceEntry(
        "password-required", "SS-AUTH-NOPW", "A password is needed",
        "Without Single Sign-On the server needs the password to check who you are.",
        "Type the password, or tick Single Sign-On if you use Kerberos (kinit).",
        Field.PASSWORD),
    # --- redirects and server proof (hardening) ---------------------------------------------
    AdviceEntry(
        "redirect-untrusted", "SS-SIP-301HOST", "Redirect to {host} not followed",
        "Before you signed in, the server redirected the sign-in to {host}, which is {where}. "
        "Your credentials would go there, and you did not allow it. Pidgin would follow such "
        "a redirect without asking.",
        "If IT confirms {host} is the company's server, run the check again and allow it "
        "(CLI: --accept-outside-domain); otherwise report the redirect to IT.", None),
    AdviceEntry(
        "redirect-downgrade", "SS-SIP-301TCP", "Redirect to unencrypted TCP not followed",
        "The server redirected the sign-in from an encrypted (TLS) connection to plain TCP at "
        "{host}:{port}. Everything, the sign-in included, would travel unencrypted.",
        "Ask IT why the pool redirects to TCP; allow it only if IT confirms this is intended.",
        None),
    AdviceEntry(
        "home-pool-unreachable", "SS-NET-HOMEPOOL", "Your home pool {host} cannot be reached",
        "The server you reached redirected you to your home pool {host}:{port}, and that "
        "address is not reachable from here: {detail} ({code}). Home pools are often only "
        "reachable inside the company network.",
        "Connect to the VPN (or try from inside the company network); IT can check that the "
        "pool {host} is reachable, or that the Edge server handles external sign-ins.",
        Field.SERVER),
    AdviceEntry(
        "unsigned-ok", "SS-AUTH-UNSIGNED", "The server did not prove it checked your password",
        "The server answered 200 OK without the signature ({scheme}) it promised. Pidgin "
        "accepts that, but a server that never checked your password can do the same: it may "
        "not be your company's server.",
        "Check the server name with IT; if it is right, IT should look at the pool's "
        "authentication settings. Pidgin will sign in as it did here.", None),
    # --- general -------------------------------------------------------------------------------
    AdviceEntry(
        "deadline", "SS-TIMEOUT", "The check took too long",
        "The whole check did not finish within {timeout} s; it was stopped at: {detail}.",
        "Retry; if it happens again, report the code and the last step to IT.", None),
    AdviceEntry(
        "cancelled", "SS-CANCELLED", "The check was cancelled", "You stopped the check.",
        "Press Retry to run it again.", None),
    AdviceEntry(
        "internal-error", "SS-BUG", "sipe-setup hit an internal error",
        "{detail}", "Please report this as a bug with the saved report.", None),
)

CATALOG: Final[dict[str, AdviceEntry]] = {e.id: e for e in _ENTRIES}
assert len(CATALOG) == len(_ENTRIES), "duplicate advice id"


def advice(advice_id: str, **values: object) -> RenderedAdvice:
    """Render a catalog entry by id.

    Raises:
        KeyError: for an unknown id (a programming error, caught by the catalog tests).
    """
    return CATALOG[advice_id].render(**values)
