"""Text, JSON and HTML reports of a check, with redaction.

Invariants:
- The password never appears: it is not part of any object a report is built from, and as a
  last line of defence every string of the report is scrubbed of the secret when one is given.
- Redaction works on the finished JSON tree, so the three renderings redact identically.
- Text from the network is data: the text and HTML reports show every control or reordering
  character as a visible escape (:func:`~sipe_setup.core.textsafety.printable`); the JSON
  report keeps the data exact but writes those characters as ``\\uXXXX`` escapes.
- ``schema_version`` changes whenever a field is removed or changes meaning (README documents
  the schema).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from dataclasses import dataclass

from sipe_setup import __version__
from sipe_setup.core.account import AccountSettings, Secret
from sipe_setup.core.steps import CheckResult, StepStatus
from sipe_setup.core.textsafety import escape_json_output, printable

__all__ = ["REPORT_SCHEMA_VERSION", "Redaction", "report_html", "report_json", "report_text"]

REPORT_SCHEMA_VERSION = 1

_STATUS_MARK = {
    StepStatus.PASS.value: "[ OK ]",
    StepStatus.WARN.value: "[WARN]",
    StepStatus.FAIL.value: "[FAIL]",
    StepStatus.SKIP.value: "[SKIP]",
    StepStatus.RUNNING.value: "[ .. ]",
}
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


def _whole_token(value: str, *, inside_names: bool) -> re.Pattern[str]:
    """``value`` only where it stands as a whole token, case-insensitively.

    A user name or NTLM domain never matches inside another word ("ed" in "Unauthorized") or
    as a label of a host name ("EXAMPLE" in "sip.example.test"). A host name or domain may end
    a longer name ("sip.<domain>") but never sits inside a word.
    """
    before = r"(?<![\w-])" if inside_names else r"(?<![\w.-])"
    after = r"(?![\w-])" if inside_names else r"(?![\w-]|\.\w)"
    return re.compile(before + re.escape(value) + after, re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Redaction:
    """What to hide. The password is always hidden; user names and hosts on request."""

    secret: Secret | None = None
    users: tuple[str, ...] = ()  # sign-in user part, Login, NTLM user/domain...
    hosts: tuple[str, ...] = ()  # SIP domain first, then server names and addresses

    @classmethod
    def for_check(cls, account: AccountSettings | None, result: CheckResult,
                  secret: Secret | None, *, users: bool = False,
                  hosts: bool = False) -> Redaction:
        """The redaction of a check's report: the password always; on request the user's
        names (sign-in user, Login, NTLM user and domain, Kerberos name) and every host seen
        (SIP domain first, then discovered, selected and typed servers)."""
        user_names: tuple[str, ...] = ()
        host_names: tuple[str, ...] = ()
        if account is not None and users:
            login = account.login
            user_names = (account.signin.user, login.text, login.ntlm.user, login.ntlm.domain,
                          login.kerberos.name)
        if account is not None and hosts:
            found: list[str] = []
            candidates = (result.discovery or {}).get("candidates")
            if isinstance(candidates, list):
                found = [str(c.get("host", "")) for c in candidates if isinstance(c, dict)]
            if result.selected:
                found.append(result.selected.host)
            found.extend(result.server.webservice_hosts)
            if account.server is not None:
                found.append(account.server.host)
            host_names = (account.sip_domain, *(h for h in found if h))
        return cls(secret=secret if secret else None, users=user_names, hosts=host_names)

    def apply(self, text: str) -> str:
        """Scrub one string."""
        if self.secret is not None and self.secret.reveal():
            text = text.replace(self.secret.reveal(), "********")
        for user in sorted((u for u in self.users if u), key=len, reverse=True):
            text = _whole_token(user, inside_names=False).sub("<user>", text)
        if self.hosts:
            domain, *others = self.hosts
            for index, host in enumerate(sorted((h for h in others if h), key=len,
                                                reverse=True), 1):
                text = _whole_token(host, inside_names=True).sub(f"<host-{index}>", text)
            if domain:
                text = _whole_token(domain, inside_names=True).sub("<domain>", text)
            text = _IPV4.sub("<ip>", text)
        return text

    def tree(self, value: object) -> object:
        """Scrub every string in a JSON-like tree (keys included)."""
        if isinstance(value, str):
            return self.apply(value)
        if isinstance(value, dict):
            return {self.apply(str(k)): self.tree(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.tree(v) for v in value]
        return value


def _document(result: CheckResult, redaction: Redaction) -> dict[str, object]:
    doc: dict[str, object] = {
        "schema": "sipe-setup/check",
        "schema_version": REPORT_SCHEMA_VERSION,
        "tool_version": __version__,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "started": result.started,
        "verdict": result.verdict.value,
        "code": result.code,
        "summary": result.summary,
        "advice": result.advice.to_json() if result.advice else None,
        "account": result.account,
        "steps": [s.to_json() for s in result.steps],
        "discovery": result.discovery,
        "selected": result.selected.to_json() if result.selected else None,
        "server": result.server.to_json(),
        "round_trips": result.round_trips,
        "failed_attempts": result.failed_attempts,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "redacted": {"user": bool(redaction.users), "hosts": bool(redaction.hosts)},
    }
    scrubbed = redaction.tree(doc)
    assert isinstance(scrubbed, dict)
    return scrubbed


def _visible(value: object) -> object:
    """Every string of a JSON-like tree (keys included) made :func:`printable`."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable(str(k)): _visible(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_visible(v) for v in value]
    return value


def _shown_document(result: CheckResult, redaction: Redaction) -> dict[str, object]:
    """The document as the text and HTML reports show it (control characters visible)."""
    shown = _visible(_document(result, redaction))
    assert isinstance(shown, dict)
    return shown


def report_json(result: CheckResult, redaction: Redaction | None = None) -> str:
    """The JSON report (one document; schema in the README)."""
    return escape_json_output(json.dumps(_document(result, redaction or Redaction()),
                                         indent=2, ensure_ascii=False))


def _lines(doc: dict[str, object]) -> list[str]:
    out = [f"Code: {doc['code']}", f"Result: {doc['summary']}"]
    adv = doc.get("advice")
    if isinstance(adv, dict):
        out += ["", f"Problem: {adv['title']}", f"Why: {adv['explanation']}",
                f"What to change: {adv['fix']}"]
    account = doc.get("account")
    if isinstance(account, dict):
        out += ["", "Account:"]
        out += [f"  {k}: {v}" for k, v in account.items() if v not in ("", None)]
    out += ["", "Steps:"]
    steps = doc.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        mark = _STATUS_MARK.get(str(step.get("status")), "[    ]")
        out.append(f"{mark} {step['title']}: {step['summary']}")
        detail = step.get("detail")
        out += [f"         {line}" for line in (detail if isinstance(detail, list) else [])]
        step_advice = step.get("advice")
        if isinstance(step_advice, dict) and step.get("status") in ("warn", "fail"):
            out.append(f"         → {step_advice['code']}: {step_advice['fix']}")
    out += ["", f"Round trips: {doc.get('round_trips')}",
            f"Failed sign-ins this check caused: {doc.get('failed_attempts', 0)}",
            f"Started: {doc.get('started')}",
            f"sipe-setup {doc.get('tool_version')}"]
    return out


def report_text(result: CheckResult, redaction: Redaction | None = None) -> str:
    """Plain text, phone code first — what "Copy report" puts on the clipboard."""
    return "\n".join(_lines(_shown_document(result, redaction or Redaction()))) + "\n"


def report_html(result: CheckResult, redaction: Redaction | None = None) -> str:
    """A self-contained HTML page of the same content."""
    doc = _shown_document(result, redaction or Redaction())
    esc = html.escape
    rows = []
    steps = doc.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        detail = step.get("detail")
        lines = "<br>".join(esc(str(x)) for x in (detail if isinstance(detail, list) else []))
        rows.append(f"<tr class='{esc(str(step['status']))}'><td>"
                    f"{esc(_STATUS_MARK.get(str(step['status']), ''))}</td>"
                    f"<td><b>{esc(str(step['title']))}</b><br>{esc(str(step['summary']))}"
                    f"<div class='detail'>{lines}</div></td></tr>")
    adv = doc.get("advice")
    advice_html = ""
    if isinstance(adv, dict):
        advice_html = (f"<h2>{esc(str(adv['title']))}</h2><p>{esc(str(adv['explanation']))}</p>"
                       f"<p><b>What to change:</b> {esc(str(adv['fix']))}</p>")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sipe-setup report</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        ".code{font-size:2em;font-family:monospace}td{vertical-align:top;padding:.3em}"
        ".fail td:first-child{color:#b00}.warn td:first-child{color:#a60}"
        ".pass td:first-child{color:#070}.detail{font-family:monospace;font-size:.85em;"
        "color:#444}</style></head><body>"
        f"<p class='code'>{esc(str(doc['code']))}</p><p>{esc(str(doc['summary']))}</p>"
        f"{advice_html}<table>{''.join(rows)}</table>"
        f"<p><small>sipe-setup {esc(str(doc['tool_version']))}, "
        f"{esc(str(doc['generated']))}</small></p></body></html>\n"
    )
