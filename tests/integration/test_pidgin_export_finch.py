"""The real finch + pidgin-sipe load what ``core.pidgin.export_account`` writes, and sign in.

The exported account is merged into an accounts.xml that already holds XMPP, IRC and another
SIPE account (none enabled for finch, so they stay quiet). finch must sign in to our test
registrar with it, and when finch rewrites accounts.xml itself every other account must still
be there: proof that libpurple read our file completely, not just our account.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from sipe_setup.core.account import Secret
from sipe_setup.core.pidgin import (
    PasswordMode,
    SipeAccountEntry,
    export_account,
    read_sipe_accounts,
)
from tests.servers.finch import FinchRun, run_finch
from tests.servers.registrar import RegistrarConfig, RegistrarThread

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
FINCH_SAVE_DELAY = 6.5
ALICE_NAME = "alice@example.test,EXAMPLE\\alice"

# Accounts that must survive; none has auto-login for finch ('gnt-purple'), so finch leaves them
# offline. bob's SIPE account points at a closed port in case it were ever enabled.
OTHERS_XML = """<?xml version='1.0' encoding='UTF-8' ?>

<account version='1.0'>
	<account>
		<protocol>prpl-jabber</protocol>
		<name>carol@jabber.example.invalid/Home</name>
		<password>xmpp-pw</password>
		<alias>Carol</alias>
		<settings>
			<setting name='connect_server' type='string'>127.0.0.1</setting>
			<setting name='port' type='int'>1</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>1</setting>
		</settings>
		<settings ui='gnt-purple'>
			<setting name='auto-login' type='bool'>0</setting>
		</settings>
	</account>
	<account>
		<protocol>prpl-irc</protocol>
		<name>carol@irc.example.invalid</name>
		<settings>
			<setting name='port' type='int'>1</setting>
			<setting name='encoding' type='string'>UTF-8</setting>
		</settings>
	</account>
	<account>
		<protocol>prpl-sipe</protocol>
		<name>bob@other.invalid,OTHER\\bob</name>
		<alias>Bob at work</alias>
		<settings>
			<setting name='server' type='string'>127.0.0.1:1</setting>
			<setting name='transport' type='string'>tcp</setting>
			<setting name='email_url' type='string'>https://mail.other.invalid/EWS/Exchange.asmx</setting>
		</settings>
		<settings ui='gnt-purple'>
			<setting name='auto-login' type='bool'>0</setting>
		</settings>
	</account>
	<account>
		<protocol>prpl-sipe</protocol>
		<name>alice@example.test,EXAMPLE\\alice</name>
		<password>an-old-wrong-password</password>
		<alias>Alice (work)</alias>
		<settings>
			<setting name='server' type='string'>127.0.0.1:1</setting>
			<setting name='authentication' type='string'>krb5</setting>
			<setting name='email_url' type='string'>https://mail.example.test/EWS/Exchange.asmx</setting>
		</settings>
	</account>
</account>
"""

OTHER_NAMES = [
    ("prpl-jabber", "carol@jabber.example.invalid/Home"),
    ("prpl-irc", "carol@irc.example.invalid"),
    ("prpl-sipe", "bob@other.invalid,OTHER\\bob"),
]


def _accounts(path: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.fromstring(path.read_bytes())
    assert root.tag == "account"
    return {(a.findtext("protocol", ""), a.findtext("name", "")): a
            for a in root.findall("account")}


def _assert_signed_in(run: FinchRun, registrar: RegistrarThread) -> None:
    stats = registrar.registrar.stats
    detail = f"\nregistrar: {stats}\nfinch log tail:\n{run.tail()}"
    assert run.signed_in, "finch did not sign in with the exported account" + detail
    assert run.errors == [], detail
    assert stats.last_principal == "EXAMPLE\\alice", detail


@pytest.mark.parametrize("authentication", ["ntlm", "auto"])
def test_finch_signs_in_with_the_exported_account(finch: None, tmp_path: Path,
                                                  authentication: str) -> None:
    purple = tmp_path / "purple"
    purple.mkdir(mode=0o700)
    (purple / "accounts.xml").write_text(OTHERS_XML, encoding="utf-8")
    with RegistrarThread(RegistrarConfig(users=USERS)) as registrar:
        entry = SipeAccountEntry(
            signin="alice@example.test",
            login="EXAMPLE\\alice",
            server=f"127.0.0.1:{registrar.port}",
            transport="tcp",
            authentication=authentication,
            sso=False,
            useragent="UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)",
        )
        result = export_account(purple, entry, password_mode=PasswordMode.CLEARTEXT,
                                password=Secret(PASSWORD))
        assert not result.created  # the stale alice account was updated, not duplicated
        exported = result.accounts_xml.read_bytes()
        # What we wrote, read back by us: alice updated, the others untouched.
        [bob, alice] = read_sipe_accounts(purple)
        assert alice.entry == entry and alice.enabled_finch
        assert alice.other_settings["email_url"] == "https://mail.example.test/EWS/Exchange.asmx"
        assert bob.entry.signin == "bob@other.invalid" and not bob.enabled_finch

        # Keep our file as written: finch rewrites accounts.xml on its way out.
        shutil.copy2(result.accounts_xml, tmp_path / "exported-accounts.xml")
        # libpurple saves accounts.xml 5 s after a change (schedule_accounts_save); linger
        # past that so the file below is one finch wrote, not the one we gave it.
        run = run_finch(purple, linger=FINCH_SAVE_DELAY)
        _assert_signed_in(run, registrar)

    assert (tmp_path / "exported-accounts.xml").read_bytes() == exported
    for path in (tmp_path / "exported-accounts.xml", purple / "accounts.xml"):
        accounts = _accounts(path)
        for key in OTHER_NAMES:
            assert key in accounts, f"{key} missing from {path}"
        assert len(accounts) == 4, path
        alice_element = accounts[("prpl-sipe", ALICE_NAME)]
        assert alice_element.findtext("alias") == "Alice (work)"
    # finch wrote the file itself (libpurple's own serialiser, single-quoted attributes)
    # and kept what it read from ours: every other account, our settings and the alias.
    rewritten = (purple / "accounts.xml").read_bytes()
    assert rewritten != exported, "finch did not rewrite accounts.xml"
    assert b"<account version='1.0'>" in rewritten  # libpurple's serialiser, not ours
    [_, alice_after] = read_sipe_accounts(purple)
    assert alice_after.entry == entry
    assert alice_after.password is not None and alice_after.password.reveal() == PASSWORD
    assert alice_after.enabled_finch
