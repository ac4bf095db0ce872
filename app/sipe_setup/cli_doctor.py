"""``sipe-setup doctor``: can Pidgin on this computer do it? (:mod:`sipe_setup.core.readiness`)

Only argparse at import time: the command line starts fast; the handler imports the core.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sipe_setup.core.readiness import PidginReadiness

__all__ = ["add_doctor_command", "render_readiness", "run_doctor"]

_LABEL = {"pass": "PASS", "info": "INFO", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def add_doctor_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``sipe-setup doctor [--json] [--purple-dir DIR] [--profile NAME]``."""
    cmd = subparsers.add_parser(
        "doctor", allow_abbrev=False,
        help="check whether Pidgin on this computer can sign in (SIPE plugin, libxml2, "
             "keyring plugin, Kerberos)",
        description="Looks at this computer, not at the server: is pidgin-sipe installed "
        "(which version), can its XML parser work with this libxml2 (TLS-DSK, autodiscover "
        "and the contact list need it), is the pidgin-gnome-keyring plugin there, can "
        "Kerberos work (Python modules, krb5.conf, a ticket for Single Sign-On). Each line "
        "says PASS, INFO, WARN or FAIL and what to do. Exit status 1 when something will "
        "fail. Read-only and quick (every helper program has a 3-second limit).")
    cmd.add_argument("--purple-dir", type=Path, metavar="DIR",
                     help="Pidgin's settings folder, for its plugins folder (default: "
                          "~/.purple)")
    cmd.add_argument("--profile", metavar="NAME",
                     help="judge for this saved profile (its scheme, server, Single Sign-On)")
    cmd.add_argument("--json", action="store_true", help="print one JSON document")
    cmd.set_defaults(handler=run_doctor)


def _wrap(text: str, indent: str, width: int) -> list[str]:
    return textwrap.wrap(text, width=max(width, 60), initial_indent=indent,
                         subsequent_indent=indent, break_on_hyphens=False) or [indent]


def render_readiness(readiness: PidginReadiness, *, width: int | None = None,
                     profile: str = "") -> str:
    """The human-readable report: one block per finding, worst first within the order."""
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 100)
    system = readiness.os_release.pretty_name or sys.platform
    head = f"Pidgin on this computer ({system})"
    lines = [head + (f", for profile “{profile}”:" if profile else ":")]
    title_width = max(len(f.title) for f in readiness.findings)
    for finding in readiness.findings:
        label = _LABEL[finding.status.value]
        first = f"{label}  {finding.title:<{title_width}}  "
        body = _wrap(finding.summary, " " * len(first), width)
        lines.append(first + body[0].lstrip())
        lines += body[1:]
        if finding.advice and finding.status.value in ("warn", "fail", "info"):
            lines += _wrap(f"What to do: {finding.advice}", " " * len(first), width)
    fails = sum(f.status.value == "fail" for f in readiness.findings)
    warns = sum(f.status.value == "warn" for f in readiness.findings)
    lines.append("")
    if fails:
        lines.append(f"Not ready: {fails} thing{'s' if fails > 1 else ''} will fail in Pidgin "
                     f"here (FAIL){f'; {warns} may (WARN)' if warns else ''}.")
    elif warns:
        lines.append(f"Probably ready: {warns} thing{'s' if warns > 1 else ''} may stop "
                     "Pidgin here (WARN).")
    else:
        lines.append("Ready: nothing on this computer stops Pidgin's SIPE.")
    return "\n".join(lines)


def run_doctor(args: argparse.Namespace) -> int:
    """Handler of ``doctor``: 0 ready (or only warnings), 1 something will fail, 2 bad input."""
    from sipe_setup.core.readiness import PidginNeeds, check_readiness

    needs = None
    if args.profile:
        from sipe_setup.core.profiles import ProfileError, ProfileStore

        try:
            profile = ProfileStore().load(args.profile)
        except ProfileError as exc:
            print(f"sipe-setup doctor: {exc}", file=sys.stderr)
            return 2
        needs = PidginNeeds.from_profile(profile)
    readiness = check_readiness(purple_dir=args.purple_dir, needs=needs)
    if args.json:
        from sipe_setup.core.textsafety import escape_json_output

        document = readiness.to_json()
        document["profile"] = args.profile or None
        print(escape_json_output(json.dumps(document, indent=2, ensure_ascii=False)))
    else:
        print(render_readiness(readiness, profile=args.profile or ""))
    return 1 if readiness.verdict == "not-ready" else 0
