"""``sipe-setup export-bitlbee``'s commands, typed into a real bitlbee-libpurple, sign in.

BitlBee (Debian's bitlbee-libpurple, pidgin-sipe inside) runs on loopback; a small IRC client
types exactly what the command printed; the account must sign in to the test registrar with
NTLM over TCP. The registrar proves the commands were right: it saw ``EXAMPLE\\alice`` (the
backslash BitlBee would have eaten) and the password (typed through /OPER, or inline with
every character BitlBee treats specially), and verified SIPE's signed REGISTER.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sipe_setup.core.account import parse_account
from sipe_setup.core.export.bitlbee import PASSWORD_PLACEHOLDER
from sipe_setup.core.profiles import Profile, ProfileStore
from tests.conftest import ROOT
from tests.servers.bitlbee import IrcClient, run_bitlbee
from tests.servers.finch import require_finch
from tests.servers.registrar import RegistrarConfig, RegistrarThread

PASSWORD = "Passw0rd!"
# Everything BitlBee's command splitter treats specially: spaces, a backslash (also before a
# quote and at the end), both quotes (also leading).
NASTY_PASSWORD = "\"Pa ss\\w'o\\\"rd\\"


def _export(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run the real CLI; its standard output, line by line."""
    done = subprocess.run(
        [sys.executable, "-m", "sipe_setup", "export-bitlbee", "Work", *args],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), **(env or {})})
    assert done.returncode == 0, done.stderr
    assert "&bitlbee" in done.stderr  # the notes go to stderr, the commands alone to stdout
    return done.stdout.splitlines()


def _save_profile(tmp_path: Path, port: int) -> None:
    account = parse_account("alice@example.test", login="EXAMPLE\\alice",
                            server=f"127.0.0.1:{port}", transport="tcp", auth="ntlm")
    ProfileStore(tmp_path / "xdg" / "sipe-setup" / "profiles").save(
        Profile.from_account("Work", account))


def _type_all(irc: IrcClient, lines: list[str], password: str) -> None:
    for line in lines:
        start = len(irc.received)
        if line.startswith("/OPER "):
            irc.type_line(line.replace(PASSWORD_PLACEHOLDER, password))
            irc.wait_for(r"Password added to IM account", start=start)
        elif line.startswith("account add "):
            irc.type_line(line)
            irc.wait_for(r"Account successfully added", start=start)
        elif line.endswith(" on"):
            irc.type_line(line)
        else:
            irc.type_line(line)
            # "name = `value'" (or "is empty" after -del; "Setting changed" for a password)
            irc.wait_for(r"PRIVMSG \S+ :(\S+ = `|\S+ is empty|Setting changed|You may now use)",
                         start=start)
            assert not any("Failed" in m or "Unknown" in m or "Could not find" in m
                           for m in irc.root_messages()), irc.transcript()


def _assert_online(irc: IrcClient, registrar: RegistrarThread) -> None:
    irc.wait_for(r"sipe - (Logging in: )?Logged in$", timeout=45)
    listing = irc.command("account list", r"End of account list")
    assert "(connected)" in irc.transcript(), listing
    stats = registrar.registrar.stats
    assert stats.last_principal == "EXAMPLE\\alice", stats
    assert stats.authenticated >= 1 and stats.auth_failures == 0, stats
    assert "NTLM" in stats.register_auth_schemes, stats
    assert stats.client_signatures_verified >= 1, stats  # SIPE's signed REGISTER verified
    assert stats.client_signature_failures == 0, stats


def test_printed_commands_sign_in_with_the_password_through_oper(tmp_path: Path) -> None:
    require_finch()  # pidgin-sipe itself (bitlbee-libpurple loads the same libsipe.so)
    with RegistrarThread(RegistrarConfig(users=[("EXAMPLE", "alice", PASSWORD)])) as registrar, \
            run_bitlbee(tmp_path / "bitlbee") as bitlbee:
        _save_profile(tmp_path, registrar.port)
        lines = _export(tmp_path)
        assert lines[0] == "account add sipe alice@example.test,EXAMPLE\\\\alice"
        assert f"/OPER alice@example.test {PASSWORD_PLACEHOLDER}" in lines
        assert PASSWORD not in "\n".join(lines)
        irc = bitlbee.connect()
        _type_all(irc, lines, PASSWORD)
        _assert_online(irc, registrar)
        settings = irc.command("account sipe set", r"username = ")
        assert "EXAMPLE\\alice" in settings  # the backslash arrived
        assert "authentication = `ntlm'" in irc.transcript()


def test_inline_password_with_every_special_character(tmp_path: Path) -> None:
    require_finch()
    users = [("EXAMPLE", "alice", NASTY_PASSWORD)]
    with RegistrarThread(RegistrarConfig(users=users)) as registrar, \
            run_bitlbee(tmp_path / "bitlbee") as bitlbee:
        _save_profile(tmp_path, registrar.port)
        lines = _export(tmp_path, "--password-env", "BB_TEST_PASSWORD",
                        env={"BB_TEST_PASSWORD": NASTY_PASSWORD})
        assert not any(line.startswith("/OPER") for line in lines)
        irc = bitlbee.connect()
        _type_all(irc, lines, "")
        _assert_online(irc, registrar)


def test_a_wrong_password_is_refused_by_the_registrar(tmp_path: Path) -> None:
    """The control: the sign-in above is the password's doing, not a registrar that says yes."""
    require_finch()
    with RegistrarThread(RegistrarConfig(users=[("EXAMPLE", "alice", PASSWORD)])) as registrar, \
            run_bitlbee(tmp_path / "bitlbee") as bitlbee:
        _save_profile(tmp_path, registrar.port)
        lines = _export(tmp_path)
        irc = bitlbee.connect()
        _type_all(irc, lines, "not-the-password")
        irc.wait_for(r"sipe - (Login error|Logged out|Error|Couldn't log in)", timeout=45)
        assert registrar.registrar.stats.last_reject == "wrong-password"
        assert not re.search(r"sipe - (Logging in: )?Logged in$", irc.transcript(), re.M)


@pytest.mark.parametrize("word", ["EXAMPLE\\alice", "a b", "\"quoted", "'single", "end\\",
                                  "", "mid\"dle'quote", "\\\\double"])
def test_bitlbee_itself_reads_each_word_back(tmp_path: Path, word: str) -> None:
    """The escaping, checked by BitlBee's own parser: set a string setting, read it back."""
    from sipe_setup.core.export.bitlbee import bitlbee_word

    require_finch()  # BitlBee's "sipe" protocol is pidgin-sipe's libsipe.so
    with run_bitlbee(tmp_path / "bitlbee") as bitlbee:
        irc = bitlbee.connect()
        irc.command("account add sipe bob@example.test", r"Account successfully added")
        reply = irc.command(f"account sipe set useragent {bitlbee_word(word)}",
                            r"useragent = `")
        assert reply.split(":", 2)[2] == f"useragent = `{word}'", reply
