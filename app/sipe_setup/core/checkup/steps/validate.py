"""Check the settings before anything goes on the network."""

from __future__ import annotations

from sipe_setup.core.advice import advice
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.flow import Step, StepFailed, StepLog, StepOutcome
from sipe_setup.core.steps import StepId, StepStatus


class ValidateStep(Step):
    """The form is complete: a password unless Single Sign-On; notes on odd values."""

    id = StepId.VALIDATE

    def title(self, ctx: CheckContext) -> str:
        return "Check the settings"

    async def run(self, ctx: CheckContext, log: StepLog) -> StepOutcome:
        a = ctx.account
        log(f"Sign-in address: {a.signin.address}")
        ntlm = a.login.ntlm
        ntlm_text = f"{ntlm.domain}\\{ntlm.user}" if ntlm.domain else ntlm.user
        log(f"Login: {a.login.text or '(same as the sign-in address)'} "
            f"→ NTLM {ntlm_text}, Kerberos {a.login.kerberos}")
        if not a.sso and not ctx.password:
            raise StepFailed(advice("password-required"), "no password")
        for warning in a.warnings:
            log(f"Note: {warning.message}")
        notes = len(a.warnings)
        if notes:
            noun = "note" if notes == 1 else "notes"
            return StepOutcome(StepStatus.WARN, f"settings are complete; {notes} {noun} below")
        return StepOutcome.passed("settings are complete")
