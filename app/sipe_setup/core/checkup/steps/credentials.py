"""TLS-DSK: get a sign-in certificate from the Lync web services, as SIPE does before it
answers the challenge (reference tls-dsk.md §1.2-1.4).

Runs only when TLS-DSK is the scheme SIPE picks. Under Auto, SIPE does not fall back when
this fails (§1.10): the step then warns that Pidgin would stop here, and the check goes on
with the next scheme only to find what the export can pin — never after a password refusal
(one failed attempt per check).

The web-services client and the TLS-DSK machinery (``cryptography``, the HTTP client) are
imported when the step runs: a check that never meets TLS-DSK does not load them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sipe_setup.core.account import AuthScheme
from sipe_setup.core.advice import RenderedAdvice, advice
from sipe_setup.core.auth.challenge import AuthChallenge, ChallengeScheme
from sipe_setup.core.auth.mechanism import offered_in_order
from sipe_setup.core.auth.registry import supported_schemes
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import provisioning_advice
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.checkup.steps.connect import host_addresses
from sipe_setup.core.checkup.trust import TrustKind, TrustQuestion
from sipe_setup.core.discovery.autodiscover import default_user_agent
from sipe_setup.core.steps import AcceptedCertificate, StepId
from sipe_setup.core.transport import CertificateInfo

if TYPE_CHECKING:
    from sipe_setup.core.net.http import HttpExchange
    from sipe_setup.core.webservices.provisioning import ProvisionedCertificate

__all__ = ["CredentialsStep", "tls_dsk_alternatives"]


def _tls_dsk_challenge(ctx: CheckContext) -> AuthChallenge | None:
    order = offered_in_order(ctx.current.challenges, ctx.account.auth)
    if order and order[0].scheme is ChallengeScheme.TLS_DSK:
        return order[0]
    return None


def tls_dsk_alternatives(ctx: CheckContext) -> list[AuthChallenge]:
    """What Auto could prove instead of TLS-DSK (to pin in the export)."""
    if ctx.account.auth is not AuthScheme.AUTO:
        return []
    return [c for c in offered_in_order(ctx.current.challenges, AuthScheme.AUTO)
            if c.scheme is not ChallengeScheme.TLS_DSK and c.scheme in supported_schemes()]


class _AskTheUser:
    """The web-services trust questions, asked through the check's front end."""

    def __init__(self, ctx: CheckContext) -> None:
        self._ctx = ctx

    async def approve_certificate(self, host: str, port: int,
                                  certificate: CertificateInfo) -> bool:
        ask = self._ctx.ask_trust
        return ask is not None and await ask(TrustQuestion(
            TrustKind.CERTIFICATE, host, port, self._ctx.account.sip_domain,
            "Lync web services (sign-in certificate): " + " ".join(certificate.problems()),
            certificate))

    async def approve_host(self, host: str, port: int, sip_domain: str) -> bool:
        typed = self._ctx.account.server
        if typed is not None and typed.host.lower() == host.lower():
            return True  # the user typed this very host as the Server
        ask = self._ctx.ask_trust
        return ask is not None and await ask(TrustQuestion(
            TrustKind.OUTSIDE_DOMAIN, host, port, sip_domain,
            f"To get a sign-in certificate the server sends you to {host}, which is not "
            f"inside your SIP domain {sip_domain}. Send your credentials to it?"))


def _exchange_line(exchange: HttpExchange) -> str:
    return f"{exchange.method} {exchange.url} → {exchange.outcome}"


class CredentialsStep(Step):
    """Web ticket + certificate over HTTPS, each request shown as it ends."""

    id = StepId.CREDENTIALS

    def applies(self, ctx: CheckContext) -> bool:
        return _tls_dsk_challenge(ctx) is not None

    def title(self, ctx: CheckContext) -> str:
        return "Get a sign-in certificate"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        from sipe_setup.core.webservices.provisioning import (
            ProvisioningError,
            ProvisioningFailure,
        )

        challenge = _tls_dsk_challenge(ctx)
        assert challenge is not None
        alternatives = tls_dsk_alternatives(ctx)
        skipped = await self._pidgin_cannot(ctx, alternatives, log)
        if skipped is not None:
            return skipped
        if not challenge.sts_uri:
            adv = advice("dsk-no-sts", alternative=self._alternative_text(alternatives))
            return self._failed(ctx, adv, "no sts-uri in the TLS-DSK challenge", alternatives,
                                password_refused=False)
        log(f"Certificate service: {challenge.sts_uri}")
        try:
            provisioned = await self._provision(ctx, challenge.sts_uri, log)
        except TimeoutError:
            limit = self._time_limit(ctx)
            exc = ProvisioningError(ProvisioningFailure.UNREACHABLE,
                                    f"The web services did not finish within {limit:g} s",
                                    url=challenge.sts_uri)
            adv = provisioning_advice(ctx.account, exc, self._alternative_text(alternatives))
            return self._failed(ctx, adv, exc.detail, alternatives, password_refused=False)
        except ProvisioningError as exc:
            refused = exc.failure is ProvisioningFailure.WEBTICKET_REJECTED
            ctx.failed_attempts += refused  # the web ticket service checked the password
            adv = provisioning_advice(ctx.account, exc, self._alternative_text(alternatives))
            if exc.sipe_message:
                log(f"Pidgin would say: “{exc.sipe_message}”")
            return self._failed(ctx, adv, exc.detail, alternatives, password_refused=refused)
        return self._provisioned(ctx, provisioned, log)

    @staticmethod
    def _alternative_text(alternatives: list[AuthChallenge]) -> str:
        names = {ChallengeScheme.NTLM: "NTLM", ChallengeScheme.KERBEROS: "Kerberos"}
        offered = [names[c.scheme] for c in alternatives if c.scheme in names]
        return " or ".join(offered) if offered else "another scheme, if IT enables one"

    async def _pidgin_cannot(self, ctx: CheckContext, alternatives: list[AuthChallenge],
                             log: StepLog) -> StepOutcome | None:
        """Pidgin's SIPE on this machine may be unable to read the web services' XML."""
        if await _sipe_reads_xml(ctx, log):
            return None
        ctx.facts.sipe_cannot_do_tls_dsk = True
        fix = (f"Set Authentication scheme to {self._alternative_text(alternatives)} (the "
               "export pins it once the check proves it works)." if alternatives else
               "Until SIPE or libxml2 is fixed, Pidgin cannot sign in to this server.")
        adv = advice("dsk-libxml", detail="This computer's libxml2 no longer calls the XML "
                     "callbacks Pidgin's SIPE 1.25 uses.", fix=fix)
        if not alternatives:
            log("Checking TLS-DSK anyway: the server side can still be proven.")
            return None
        ctx.current.tls_dsk_excluded = adv
        return StepOutcome.warned(
            f"Pidgin here cannot do TLS-DSK; checking {alternatives[0].scheme_token} instead",
            adv)

    @staticmethod
    def _failed(ctx: CheckContext, adv: RenderedAdvice, summary: str,
                alternatives: list[AuthChallenge], *, password_refused: bool) -> StepOutcome:
        if not alternatives or password_refused:
            raise StepFailed(adv, summary)
        ctx.current.tls_dsk_excluded = adv
        return StepOutcome.warned(f"Pidgin (Auto) would stop here: {summary}", adv)

    async def _provision(self, ctx: CheckContext, sts_uri: str,
                         log: StepLog) -> ProvisionedCertificate:
        from sipe_setup.core.net.http import BoundedHttpClient
        from sipe_setup.core.net.http_auth import HttpCredentials
        from sipe_setup.core.webservices.provisioning import provision_certificate

        account = ctx.account
        client = BoundedHttpClient(
            user_agent=account.user_agent or default_user_agent(),
            resolve=lambda host: host_addresses(ctx, host),
            ca_file=ctx.options.ca_file, trusted_fingerprints=ctx.options.trusted_fingerprints)
        dialog = ctx.current.dialog
        assert dialog is not None
        return await asyncio.wait_for(provision_certificate(
            sts_uri=sts_uri, signin=account.signin.address,
            credentials=HttpCredentials.for_account(account, ctx.password),
            user_agent=client.user_agent, instance_uuid=dialog.instance, client=client,
            trust=_AskTheUser(ctx), on_request=lambda exchange: log(_exchange_line(exchange))),
            self._time_limit(ctx))

    @staticmethod
    def _time_limit(ctx: CheckContext) -> float:
        """The whole certificate fetch: four requests, the RST with up to three NTLM legs."""
        return ctx.options.response_timeout * 4

    @staticmethod
    def _provisioned(ctx: CheckContext, provisioned: ProvisionedCertificate,
                     log: StepLog) -> StepOutcome:
        from sipe_setup.core.auth.mechanisms.tls_dsk import SigninCertificate

        ctx.current.signin_certificate = SigninCertificate(
            provisioned.certificate_der, provisioned.private_key, provisioned.not_after)
        ctx.facts.webservice_hosts = list(provisioned.hosts)
        for accepted in provisioned.accepted_certificates:
            ctx.accepted_webservice_certificates.append(
                AcceptedCertificate(accepted.host, accepted.sha256, accepted.pem))
        hours = provisioned.seconds_left / 3600
        log(f"Certificate valid until {provisioned.not_after:%Y-%m-%d %H:%M} UTC "
            f"({hours:.1f} h left); {provisioned.http_request_count} HTTP requests")
        ctx.timings["http_requests"] = provisioned.http_request_count
        return StepOutcome.passed(f"certificate issued, valid {hours:.1f} h")


async def _sipe_reads_xml(ctx: CheckContext, log: StepLog) -> bool:
    """The libxml2 probe (reference tls-dsk §4.6), unless the options already say."""
    known = ctx.options.sipe_reads_xml
    if known is not None:
        return known
    from sipe_setup.core.sipe_xml_probe import probe_sipe_xml

    probe = await asyncio.to_thread(probe_sipe_xml)
    if probe.broken:
        log(f"Pidgin readiness: {probe.explanation}")
    return not probe.broken
