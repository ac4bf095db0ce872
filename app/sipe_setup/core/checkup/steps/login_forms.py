"""After a wrong-password answer: try other Login forms to tell a wrong form from a wrong
password (at most two more attempts, on the same connection)."""

from __future__ import annotations

import contextlib

from sipe_setup.core.account import AccountSettings, ParsedLogin, parse_login
from sipe_setup.core.auth.challenge import ChallengeScheme, find_challenge, parse_challenges
from sipe_setup.core.auth.mechanism import MechanismFailed
from sipe_setup.core.auth.mechanisms.ntlm import NtlmMechanism
from sipe_setup.core.checkup.context import CheckContext
from sipe_setup.core.checkup.flow import StepFailed, StepLog
from sipe_setup.core.checkup.handshake import run_handshake
from sipe_setup.core.checkup.session import SipSession
from sipe_setup.core.checkup.steps.signout import deregister
from sipe_setup.core.sip.register import RegisterDialog

__all__ = ["find_working_login", "other_login_forms"]


def other_login_forms(account: AccountSettings, nb_domain: str) -> list[str]:
    """Up to two Login forms that name the same user differently."""
    login = account.login
    base = login.ntlm.user.split("@", 1)[0] or account.signin.user  # the name without a domain
    forms = [f"{nb_domain}\\{base}"] if nb_domain else []
    forms += [account.signin.address, f"{base}@{account.sip_domain}"]
    seen = {(login.ntlm.domain.upper(), login.ntlm.user.lower())}
    out = []
    for text in forms:
        parsed = parse_login(text, account.signin)
        if not isinstance(parsed, ParsedLogin):
            continue
        key = (parsed.ntlm.domain.upper(), parsed.ntlm.user.lower())
        if key not in seen:
            seen.add(key)
            out.append(text)
    return out[:2]


async def _signs_in(session: SipSession, mechanism: NtlmMechanism, log: StepLog) -> bool:
    dialog: RegisterDialog = session.new_dialog()
    response = await session.exchange(dialog.next_register(), None, log)
    challenge = find_challenge(parse_challenges(response), ChallengeScheme.NTLM)
    if challenge is None:
        return False
    try:
        final = await run_handshake(session, dialog, mechanism, challenge, log)
    except MechanismFailed:
        return False
    if final.status != 200:
        return False
    with contextlib.suppress(StepFailed):
        await deregister(session, dialog, mechanism, log)
    return True


async def find_working_login(ctx: CheckContext, session: SipSession, nb_domain: str,
                             log: StepLog) -> str | None:
    """The first other Login form the server accepts with this password, if any; every
    refused form counts as a failed sign-in of this check."""
    account, password = ctx.account, ctx.password
    assert password is not None
    others = other_login_forms(account, nb_domain)
    if not others:
        return None
    log("Rejected. Trying other forms of the Login to tell a wrong form from a wrong "
        f"password: {', '.join(others)}")
    for text in others:
        parsed = parse_login(text, account.signin)
        assert isinstance(parsed, ParsedLogin)
        mechanism = NtlmMechanism(parsed.ntlm, password, ctx.hostname)
        if await _signs_in(session, mechanism, log):
            log(f"Login {text} works.")
            return text
        ctx.failed_attempts += 1
        log(f"Login {text} is rejected too.")
    return None
