"""Check the SIP server's TLS certificate; an untrusted one is used only if the user says so."""

from __future__ import annotations

from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.diagnose import certificate_advice, connect_advice
from sipe_setup.core.checkup.flow import Step, StepLog, StepOutcome, TryNextServer
from sipe_setup.core.checkup.steps.connect import mark_connected, open_connection
from sipe_setup.core.checkup.trust import TrustKind, TrustQuestion
from sipe_setup.core.steps import AcceptedCertificate, StepId
from sipe_setup.core.transport import CertificateInfo, ConnectFailed

__all__ = ["CertificateStep", "certificate_lines"]


def certificate_lines(cert: CertificateInfo) -> list[str]:
    """The certificate as the live view and the report show it."""
    lines = [
        f"Subject: {cert.subject}",
        f"Names: {', '.join(cert.dns_names + cert.ip_addresses) or '(none)'}",
        f"Issuer: {cert.issuer}",
        f"Valid: {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d}",
        f"SHA-256: {cert.sha256_fingerprint}",
        f"Trusted chain: {'yes' if cert.chain_trusted else 'no'}; matches "
        f"{cert.checked_host}: {'yes' if cert.host_matches else 'no'}",
    ]
    return lines + [f"Problem: {problem}" for problem in cert.problems()]


class CertificateStep(Step):
    """TLS only: the handshake result and the certificate's trust."""

    id = StepId.TLS

    def title(self, ctx: CheckContext) -> str:
        if ctx.current.tls_failure is not None:
            return "TLS handshake"
        return f"Check the certificate of {ctx.current.candidate.host}"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        attempt = ctx.current
        if attempt.tls_failure is not None:
            exc = attempt.tls_failure
            raise TryNextServer(connect_advice(attempt.candidate, exc, ctx.account.transport),
                                str(exc))
        if attempt.rejected_certificate is not None:
            return await self._untrusted(ctx, attempt.rejected_certificate, log)
        conn = attempt.connection
        assert conn is not None and conn.certificate is not None
        cert = conn.certificate
        for line in certificate_lines(cert):
            log(line)
        ctx.facts.certificate = cert
        ctx.facts.tls_version = conn.tls_version or ""
        if cert.acceptable:
            if ctx.options.ca_file:  # Pidgin knows only the system's CAs and its tls_peers
                ctx.facts.trusted_by_ca_file = AcceptedCertificate(
                    attempt.candidate.host, cert.sha256_fingerprint, cert.pem)
            return StepOutcome.passed(f"{conn.tls_version}, trusted, issued to "
                                      f"{attempt.candidate.host}")
        # Only reachable through a fingerprint the user accepted before.
        self._remember_accepted(ctx, cert)
        return StepOutcome.passed(f"{conn.tls_version}, accepted earlier by you: "
                                  f"{cert.sha256_fingerprint}")

    @staticmethod
    def _remember_accepted(ctx: CheckContext, cert: CertificateInfo) -> None:
        host = ctx.current.candidate.host
        ctx.accepted_certificate = AcceptedCertificate(host, cert.sha256_fingerprint, cert.pem)
        ctx.facts.certificate_accepted_by_user = cert.sha256_fingerprint

    async def _untrusted(self, ctx: CheckContext, cert: CertificateInfo,
                         log: StepLog) -> StepOutcome:
        attempt = ctx.current
        candidate = attempt.candidate
        for line in certificate_lines(cert):
            log(line)
        ctx.facts.certificate = cert
        adv = certificate_advice(candidate, cert)
        question = TrustQuestion(TrustKind.CERTIFICATE, candidate.host, candidate.port,
                                 ctx.account.sip_domain, " ".join(cert.problems()), cert)
        if ctx.ask_trust is None or not await ctx.ask_trust(question):
            problems = cert.problems()
            raise TryNextServer(adv, problems[0] if problems else "certificate rejected")
        started = ctx.since_start()
        trusted = ctx.options.trusted_fingerprints | {cert.sha256_fingerprint}
        try:
            conn = await open_connection(ctx, candidate, attempt.address, trusted)
        except ConnectFailed as exc:
            raise TryNextServer(connect_advice(candidate, exc, ctx.account.transport),
                                str(exc)) from None
        mark_connected(ctx, conn, started)
        self._remember_accepted(ctx, cert)
        return StepOutcome.warned(f"accepted by you: {cert.sha256_fingerprint}", adv)
