"""BitlBee as an export target: the exact commands that set up the SIPE account.

BitlBee (an IRC gateway; ``bitlbee-libpurple`` runs pidgin-sipe inside it) is configured by
typing commands in its control channel ``&bitlbee``. What the commands must look like was read
from BitlBee 3.6's source and checked against the real ``bitlbee-libpurple`` in the tests:

- **Splitting** (``lib/misc.c:split_command_parts``): words are separated by spaces; a word
  that *starts* with ``"`` or ``'`` runs to the matching quote; outside quotes a backslash
  escapes the next character and is removed — so ``DOMAIN\\user`` typed as is arrives as
  ``DOMAINuser``. Inside quotes a backslash is kept unless it precedes the closing quote.
  :func:`bitlbee_word` therefore writes every backslash and space with a backslash before it
  and escapes a quote at the start of a word: one rule, valid for any text.
- **The protocol** is libpurple's id without ``prpl-``: ``sipe``. Its **settings** are SIPE's
  own libpurple option names (``server``, ``transport``, ``authentication``, ``useragent``,
  ``sso``, …; ``protocols/purple/purple.c:purple_init``). List settings accept exactly SIPE's
  values; booleans ``true``/``false``.
- **A setting equal to BitlBee's default is not passed to libpurple** (``set.c:set_setstr``
  stores nothing, ``purple_sync_settings`` skips it). BitlBee's default for
  ``authentication`` is the list's first value, ``auto``, while SIPE reads a missing
  ``authentication`` as **NTLM** — so *Auto cannot be set through BitlBee*. The commands set
  the scheme the check proved instead (and say so when there was no check).
- **The account** is addressed as ``sipe(<username>)`` (``account.c:account_get``), not by its
  tag: a second SIPE account gets the tag ``sipe2``, and ``sipe`` would silently change the
  first one.
- **The password**: ``account add`` without one, then ``account … set -del password`` and the
  IRC command ``/OPER <anything> <password>`` — BitlBee's way to take a password without it
  showing in the channel or the IRC client's logs (SIPE's passwords are optional, for Single
  Sign-On, so ``account add`` alone asks for none). Or, when asked, inline in ``account add``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from sipe_setup.core.account import Secret
from sipe_setup.core.export.pidgin.account_xml import check_entry
from sipe_setup.core.export.pidgin.model import SipeAccountEntry

if TYPE_CHECKING:
    from sipe_setup.core.profiles import Profile

__all__ = [
    "BITLBEE_PROTOCOL",
    "PASSWORD_PLACEHOLDER",
    "BitlbeeLine",
    "BitlbeeSetup",
    "bitlbee_setup",
    "bitlbee_setup_for_profile",
    "bitlbee_word",
    "split_bitlbee_command",
]

BITLBEE_PROTOCOL: Final = "sipe"
PASSWORD_PLACEHOLDER: Final = "YOUR-PASSWORD"  # noqa: S105 - shown, not used
_SCHEMES: Final = {"NTLM": "ntlm", "Kerberos": "krb5", "TLS-DSK": "tls-dsk"}
_MAX_ARGS: Final = 16  # IRC_MAX_ARGS


def bitlbee_word(text: str) -> str:
    """``text`` as one word of a BitlBee command (``split_command_parts`` gives it back)."""
    if text == "":
        return '""'
    escaped = "".join(f"\\{ch}" if ch in " \\" else ch for ch in text)
    return f"\\{escaped}" if escaped[0] in "\"'" else escaped


def split_bitlbee_command(line: str) -> list[str]:
    """The words BitlBee 3.6 makes of a command line: ``split_command_parts`` (limit 0)
    step by step, on a NUL-terminated buffer as in C — for the tests, and to check a line.

    Same quirks: only a word's first character opens a quote; what follows a closing quote
    up to the next space is dropped; at most 16 words.
    """
    buf = [*line, "\0"]
    starts = [0]
    quote = ""
    s = 0
    while buf[s] != "\0" and len(starts) < _MAX_ARGS:
        ch = buf[s]
        if ch == " " and not quote:
            buf[s] = "\0"
            s += 1
            while buf[s] == " ":
                s += 1
            if buf[s] in ("\"", "'"):
                quote = buf[s]
                s += 1
            if buf[s] == "\0":
                break
            starts.append(s)
            continue  # the word's first character is looked at like any other
        if ch == "\\" and ((not quote and buf[s + 1] != "\0") or (quote and buf[s + 1] == quote)):
            del buf[s]  # the backslash goes; the character it escaped is skipped below
        elif quote and ch == quote:
            buf[s] = "\0"
            quote = ""
        s += 1
    return ["".join(buf[i:buf.index("\0", i)]) for i in starts]


@dataclass(frozen=True, slots=True)
class BitlbeeLine:
    """One line to type. ``irc``: an IRC-client command (``/OPER``), not a BitlBee one."""

    text: str
    irc: bool = False
    secret: bool = False  # holds the password


@dataclass(frozen=True, slots=True)
class BitlbeeSetup:
    """The commands, in order, and what to tell the user about them."""

    username: str  # BitlBee's username of the account: ``signin[,login]``
    account_id: str  # the word that names the account in ``account <id> …`` (escaped)
    settings: tuple[tuple[str, str], ...]  # (BitlBee setting, value), unescaped
    lines: tuple[BitlbeeLine, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_password(self) -> bool:
        return any(line.secret for line in self.lines)

    def text(self) -> str:
        """Every line, one per line, as typed."""
        return "\n".join(line.text for line in self.lines)

    def to_json(self) -> dict[str, object]:
        return {"schema": "sipe-setup/bitlbee", "schema_version": 1,
                "protocol": BITLBEE_PROTOCOL, "username": self.username,
                "account_id": self.account_id, "settings": dict(self.settings),
                "commands": [{"text": line.text, "irc_command": line.irc,
                              "contains_password": line.secret} for line in self.lines],
                "notes": list(self.notes)}


def _check_irc_text(label: str, text: str) -> None:
    if any(ch in "\r\n\0" for ch in text):
        raise ValueError(f"Cannot make BitlBee commands: the {label} contains a line break, "
                         "which an IRC line cannot carry.")


def _authentication(entry: SipeAccountEntry, proven: str | None) -> tuple[str, str]:
    """The ``authentication`` value for BitlBee, and a note when it is not the profile's."""
    if entry.authentication != "auto":
        return entry.authentication, ""
    why = ("BitlBee cannot pass Authentication “Auto” to SIPE (BitlBee drops a setting equal "
           "to its default, auto, and SIPE reads a missing one as NTLM)")
    if proven in _SCHEMES:
        return _SCHEMES[proven], (f"{why}; the commands set {proven}, the scheme the check "
                                  "signed in with.")
    chosen = "krb5" if entry.sso else "ntlm"
    label = "Kerberos" if entry.sso else "NTLM"
    return chosen, (f"{why}; with no check to go by, the commands set {label}. Run a check "
                    "(sipe-setup check … --save) to find the scheme that works.")


def bitlbee_setup(entry: SipeAccountEntry, *, proven_scheme: str | None = None,
                  password: Secret | None = None,
                  accepted_certificate_hosts: tuple[str, ...] = ()) -> BitlbeeSetup:
    """The BitlBee commands for ``entry``.

    ``proven_scheme``: the scheme a check signed in with ("NTLM", "Kerberos", "TLS-DSK"), for
    Authentication Auto. ``password``: put it inline in ``account add`` (the lines holding it
    are marked ``secret``); None: the ``/OPER`` route with a placeholder.

    Raises:
        ValueError: a field cannot be written (control characters, an empty sign-in).
    """
    check_entry(entry)
    for label, value in (("sign-in address", entry.signin), ("login", entry.login),
                         ("server", entry.server), ("user agent", entry.useragent)):
        _check_irc_text(label, value)
    if password is not None:
        _check_irc_text("password", password.reveal())
    username = f"{entry.signin},{entry.login}" if entry.login else entry.signin
    notes: list[str] = [
        "Type these in BitlBee's control channel &bitlbee, one line at a time and in this "
        "order (or send each to root with /msg root …).",
    ]
    if ")" in username:
        account_id = BITLBEE_PROTOCOL
        notes.append("BitlBee cannot name this account by its username (it contains “)”), so "
                     "the commands use the tag “sipe”: if BitlBee answered “Account "
                     "successfully added with tag sipe2” (or another), use that tag instead.")
    else:
        account_id = bitlbee_word(f"{BITLBEE_PROTOCOL}({username})")
    authentication, auth_note = _authentication(entry, proven_scheme)
    if auth_note:
        notes.append(auth_note)
    settings = (("server", entry.server), ("transport", entry.transport),
                ("authentication", authentication), ("useragent", entry.useragent),
                ("sso", "true" if entry.sso else "false"))
    add = f"account add {BITLBEE_PROTOCOL} {bitlbee_word(username)}"
    lines: list[BitlbeeLine] = []
    inline = password is not None and not entry.sso
    if inline:
        assert password is not None
        lines.append(BitlbeeLine(f"{add} {bitlbee_word(password.reveal())}", secret=True))
    else:
        lines.append(BitlbeeLine(add))
    for name, value in settings:
        if value:
            lines.append(BitlbeeLine(f"account {account_id} set {name} {bitlbee_word(value)}"))
        else:  # back to the default, which is empty: BitlBee then passes nothing, as SIPE wants
            lines.append(BitlbeeLine(f"account {account_id} set -del {name}"))
    if entry.sso:
        notes.append("Single Sign-On: no password; BitlBee's SIPE uses the Kerberos ticket of "
                     "the user BitlBee runs as (kinit on the BitlBee machine).")
    elif not inline:
        lines.append(BitlbeeLine(f"account {account_id} set -del password"))
        lines.append(BitlbeeLine(f"/OPER {entry.signin} {PASSWORD_PLACEHOLDER}", irc=True))
        notes.append(f"The /OPER line is a command of your IRC client: replace "
                     f"{PASSWORD_PLACEHOLDER} with your password. BitlBee takes it as the "
                     "account's password without showing it in the channel or in your IRC "
                     "logs (type it, do not paste it into the channel).")
    else:
        notes.append("The first line holds your password: do not paste it where others can "
                     "read it, and clear your IRC client's log afterwards.")
    lines.append(BitlbeeLine(f"account {account_id} on"))
    for host in accepted_certificate_hosts:
        notes.append(f"The check accepted the certificate of {host}, which no trusted "
                     "authority signed, so BitlBee's libpurple will not trust it either: "
                     "accept it when BitlBee asks in the channel, or copy the file "
                     f"~/.purple/certificates/x509/tls_peers/{host} (written by the export to "
                     "Pidgin) into <BitlBee's ConfigDir>/purple/<your nick>/certificates/x509/"
                     "tls_peers/.")
    notes.append("If BitlBee has this account already, leave out the first line: the "
                 "others update it. Registered BitlBee users keep it with: save")
    return BitlbeeSetup(username=username, account_id=account_id, settings=settings,
                        lines=tuple(lines), notes=tuple(notes))


def bitlbee_setup_for_profile(profile: Profile, *,
                              password: Secret | None = None) -> BitlbeeSetup:
    """The commands for a saved profile: the settings Pidgin would get (what the check
    proved), the scheme the check signed in with for Auto, its accepted certificates.

    Raises:
        AccountValidationError: the profile's fields are no longer valid.
        ValueError: a field cannot be written.
    """
    profile.account()
    settings = profile.pidgin_settings()
    entry = SipeAccountEntry(signin=profile.signin, login=profile.login,
                             server=str(settings["server"]),
                             transport=str(settings["transport"]),
                             authentication=str(settings["authentication"]),
                             sso=bool(settings["sso"]), useragent=str(settings["useragent"]))
    check = profile.validation
    hosts = tuple(dict.fromkeys(c.host for c in check.accepted_certificates)) if check else ()
    return bitlbee_setup(entry, proven_scheme=check.scheme if check else None,
                         password=password, accepted_certificate_hosts=hosts)

