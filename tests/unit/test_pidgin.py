"""accounts.xml / prefs.xml merge, password modes, corrupt files, running clients, crash safety."""

from __future__ import annotations

import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipe_setup.core import pidgin
from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.export.pidgin import paths as pidgin_paths
from sipe_setup.core.export.pidgin import running as pidgin_running
from sipe_setup.core.export.pidgin import xmlfile as pidgin_xmlfile
from sipe_setup.core.fileio import LOCK_FILE_NAME
from sipe_setup.core.pidgin import (
    PasswordMode,
    PidginFileError,
    PidginRunning,
    SipeAccountEntry,
    TrustedCertificate,
    enable_keyring_plugin,
    export_account,
    find_running_clients,
    read_sipe_accounts,
    remove_cleartext_password,
    tls_peer_file_name,
)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Sup3r-S3cret&<pw>"
# How the password looks in a file: as typed, or XML-escaped inside <password>.
PASSWORD_FORMS = (PASSWORD.encode(), escape(PASSWORD).encode())
NOW = datetime(2024, 5, 6, 7, 8, 9)
ALICE = SipeAccountEntry(
    signin="alice@example.test",
    login="EXAMPLE\\alice",
    server="sip.example.test:443",
    transport="tls",
    authentication="auto",
    sso=False,
    useragent="UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)",
)

# Shaped like a file Pidgin 2.14 wrote: an XMPP, an IRC and another SIPE account with
# statuses, proxy, alias, current_error, an unknown element and a comment.
OTHERS_XML = """<?xml version='1.0' encoding='UTF-8' ?>

<account version='1.0'>
	<account>
		<protocol>prpl-jabber</protocol>
		<name>carol@jabber.example/Home</name>
		<password>xmpp-pw</password>
		<statuses>
			<status type='available' name='Available' active='true'>
				<attributes/>
			</status>
			<status type='offline' name='Offline' active='false'>
				<attributes/>
			</status>
		</statuses>
		<settings>
			<setting name='connection_security' type='string'>require_tls</setting>
			<setting name='port' type='int'>5222</setting>
			<setting name='buddy_icon' type='string'>deadbeef.png</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>1</setting>
		</settings>
		<current_error/>
	</account>
	<account>
		<protocol>prpl-irc</protocol>
		<name>carol@irc.libera.chat</name>
		<alias>Carol &amp; co</alias>
		<settings>
			<setting name='port' type='int'>6697</setting>
			<setting name='ssl' type='bool'>1</setting>
			<setting name='encoding' type='string'>UTF-8</setting>
		</settings>
		<settings ui='gnt-purple'>
			<setting name='auto-login' type='bool'>0</setting>
		</settings>
		<proxy>
			<type>socks5</type>
			<host>proxy.example</host>
			<port>1080</port>
		</proxy>
	</account>
	<!-- a comment someone left -->
	<account>
		<protocol>prpl-sipe</protocol>
		<name>bob@other.test,OTHER\\bob</name>
		<password>bobs-pw</password>
		<alias>Bob at work</alias>
		<statuses>
			<status type='away' name='Away' active='true'>
				<attributes>
					<attribute id='message' value='lunch'/>
				</attributes>
			</status>
		</statuses>
		<userinfo>Hello</userinfo>
		<settings>
			<setting name='server' type='string'>127.0.0.1:1</setting>
			<setting name='transport' type='string'>tcp</setting>
			<setting name='email_url' type='string'>https://mail.other.test/EWS/Exchange.asmx</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>0</setting>
		</settings>
		<proxy>
			<type>global</type>
		</proxy>
		<future-thing version='3'>kept <b>as is</b></future-thing>
		<current_error>
			<type>0</type>
			<description>Could not connect</description>
		</current_error>
	</account>
</account>
"""

# An older export of alice: must be updated in place, keeping what the user added.
ALICE_OLD_XML = """<?xml version='1.0' encoding='UTF-8' ?>

<account version='1.0'>
	<account>
		<protocol>prpl-sipe</protocol>
		<name>alice@example.test,EXAMPLE\\alice</name>
		<password>old-pw</password>
		<alias>Alice (work)</alias>
		<statuses>
			<status type='available' name='Available' active='true'>
				<attributes/>
			</status>
		</statuses>
		<settings>
			<setting name='email_url' type='string'>https://mail.example.test/EWS/Exchange.asmx</setting>
			<setting name='server' type='string'>old.example.test</setting>
			<setting name='authentication' type='string'></setting>
			<setting name='dont-publish' type='bool'>1</setting>
		</settings>
		<settings ui='gtk-gaim'>
			<setting name='auto-login' type='bool'>0</setting>
			<setting name='buddy-list-position' type='int'>3</setting>
		</settings>
		<proxy>
			<type>none</type>
		</proxy>
	</account>
</account>
"""

# The shape of the prefs.xml finch 2.14 writes (trimmed).
FINCH_PREFS_XML = """<?xml version='1.0' encoding='UTF-8' ?>

<pref version='1' name='/'>
	<pref name='purple'>
		<pref name='away'>
			<pref name='idle_reporting' type='string' value='system'/>
			<pref name='mins_before_away' type='int' value='5'/>
		</pref>
	</pref>
	<pref name='plugins'>
		<pref name='core'>
			<pref name='nss_prefs'>
				<pref name='cipher_list' type='stringlist'/>
			</pref>
		</pref>
	</pref>
	<pref name='pidgin'>
		<pref name='browsers'>
			<pref name='command' type='path' value='sensible-browser'/>
		</pref>
	</pref>
	<pref name='finch'>
		<pref name='plugins'>
			<pref name='loaded' type='pathlist'>
				<item value='/usr/lib/x86_64-linux-gnu/finch/gntclipboard.so'/>
			</pref>
			<pref name='seen' type='pathlist'/>
		</pref>
		<pref name='conversations'>
			<pref name='timestamps' type='bool' value='1'/>
		</pref>
	</pref>
</pref>
"""


# --- helpers -------------------------------------------------------------------------------------


def canon(element: ET.Element) -> tuple[object, ...]:
    """A comparable form: whitespace between elements ignored, all text kept exactly."""

    def text(value: str | None) -> str:
        return "" if value is None or not value.strip() else value

    return (
        element.tag if isinstance(element.tag, str) else "#comment",
        sorted(element.attrib.items()),
        text(element.text),
        [(canon(child), text(child.tail)) for child in element],
    )


def parse(path: Path) -> ET.Element:
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    parser.feed(path.read_bytes())
    root: ET.Element = parser.close()
    return root


def accounts(root: ET.Element) -> list[ET.Element]:
    return root.findall("account")


def find_account(root: ET.Element, name: str) -> list[ET.Element]:
    return [a for a in accounts(root) if a.findtext("name") == name]


def settings_of(account: ET.Element, ui: str | None = None) -> dict[str, tuple[str, str]]:
    block = next(s for s in account.findall("settings") if s.get("ui") == ui)
    return {s.get("name", ""): (s.get("type", ""), s.text or "") for s in block}


def write(path: Path, text: str, mode: int = 0o600) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path.read_bytes()


@pytest.fixture
def purple(tmp_path: Path) -> Path:
    return tmp_path / "purple"


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for /usr/lib/purple-2/gnome-keyring.so, so tests don't depend on the host."""
    plugin = tmp_path / "lib" / "purple-2" / "gnome-keyring.so"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"\x7fELF")
    monkeypatch.setattr(pidgin_paths, "keyring_plugin_path", lambda: plugin)
    return plugin


@pytest.fixture
def no_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pidgin_paths, "keyring_plugin_path", lambda: None)


def leaks(data: bytes) -> bool:
    return any(form in data for form in PASSWORD_FORMS)


def files_in(directory: Path) -> dict[str, bytes]:
    """Every file's bytes, except the writers' lock file (empty, only ever created)."""
    return {p.name: p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE_NAME}


# --- new file, merge, update ---------------------------------------------------------------------


def test_export_creates_the_folder_and_a_new_file(purple: Path, no_plugin: None) -> None:
    result = export_account(purple, ALICE, password_mode=PasswordMode.NONE, now=NOW)

    assert result.created and result.backup is None and result.certificate_file is None
    assert result.accounts_xml == purple / "accounts.xml"
    assert stat.S_IMODE(purple.stat().st_mode) == 0o700
    assert stat.S_IMODE(result.accounts_xml.stat().st_mode) == 0o600
    data = result.accounts_xml.read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8' ?>\n")
    root = parse(result.accounts_xml)
    assert root.tag == "account" and root.get("version") == "1.0"
    [account] = accounts(root)
    assert [c.tag for c in account] == ["protocol", "name", "settings", "settings", "settings"]
    assert [s.get("ui") for s in account.findall("settings")] == [None, "gtk-gaim", "gnt-purple"]
    assert account.findtext("protocol") == "prpl-sipe"
    assert account.findtext("name") == "alice@example.test,EXAMPLE\\alice"
    assert settings_of(account) == {
        "server": ("string", "sip.example.test:443"),
        "transport": ("string", "tls"),
        "useragent": ("string", ALICE.useragent),
        "authentication": ("string", "auto"),
        "sso": ("bool", "0"),
    }
    assert settings_of(account, "gtk-gaim") == {"auto-login": ("bool", "1")}
    assert settings_of(account, "gnt-purple") == {"auto-login": ("bool", "1")}
    assert sorted(p.name for p in purple.iterdir()) == [LOCK_FILE_NAME, "accounts.xml"]


def test_name_keeps_the_comma_without_login() -> None:
    assert SipeAccountEntry("alice@example.test", "").name == "alice@example.test,"


def test_entry_from_validated_settings() -> None:
    settings = parse_account("alice@example.test", "EXAMPLE\\alice", "sip.example.test:5061",
                             "tls", "kerberos", True, "UA/1")
    entry = SipeAccountEntry.from_settings(settings)
    assert entry == SipeAccountEntry("alice@example.test", "EXAMPLE\\alice",
                                     "sip.example.test:5061", "tls", "krb5", True, "UA/1")
    assert entry.name == settings.pidgin_account_name


@pytest.mark.parametrize(("auth", "sso"), [("ntlm", False), ("krb5", True), ("tls-dsk", False)])
def test_every_sipe_setting_is_explicit(purple: Path, no_plugin: None, auth: str,
                                        sso: bool) -> None:
    entry = SipeAccountEntry("alice@example.test", "", "", "auto", auth, sso, "")
    export_account(purple, entry, password_mode=PasswordMode.NONE)
    [account] = accounts(parse(purple / "accounts.xml"))
    values = settings_of(account)
    assert list(values) == ["server", "transport", "useragent", "authentication", "sso"]
    assert values["authentication"] == ("string", auth)
    assert values["sso"] == ("bool", "1" if sso else "0")
    assert account.findtext("name") == "alice@example.test,"


def test_merge_keeps_every_other_account(purple: Path, no_plugin: None) -> None:
    original = write(purple / "accounts.xml", OTHERS_XML)
    before = parse(purple / "accounts.xml")

    result = export_account(purple, ALICE, password_mode=PasswordMode.NONE, now=NOW)

    assert result.created
    after = parse(purple / "accounts.xml")
    assert after.attrib == before.attrib
    # Everything that was there is still there, in the same order, and ours comes last.
    assert [canon(c) for c in after][:-1] == [canon(c) for c in before]
    assert after[-1].findtext("name") == ALICE.name
    assert result.backup is not None and result.backup.read_bytes() == original


def test_update_in_place_keeps_what_the_user_added(purple: Path, no_plugin: None) -> None:
    write(purple / "accounts.xml", ALICE_OLD_XML)

    result = export_account(purple, ALICE, password_mode=PasswordMode.NONE, now=NOW)

    assert not result.created
    root = parse(purple / "accounts.xml")
    [account] = find_account(root, ALICE.name)
    assert len(accounts(root)) == 1
    assert [c.tag for c in account] == [
        "protocol", "name", "alias", "statuses", "settings", "settings", "settings", "proxy"
    ]
    assert account.findtext("alias") == "Alice (work)"
    assert account.find("password") is None  # mode NONE removes a saved password
    assert account.find("statuses/status[@type='available']") is not None
    assert account.findtext("proxy/type") == "none"
    values = settings_of(account)
    assert values["email_url"] == ("string", "https://mail.example.test/EWS/Exchange.asmx")
    assert values["dont-publish"] == ("bool", "1")
    assert values["server"] == ("string", "sip.example.test:443")
    assert values["authentication"] == ("string", "auto")
    assert values["sso"] == ("bool", "0")
    assert settings_of(account, "gtk-gaim") == {
        "auto-login": ("bool", "1"),
        "buddy-list-position": ("int", "3"),
    }
    assert settings_of(account, "gnt-purple") == {"auto-login": ("bool", "1")}


def test_update_puts_new_children_in_libpurples_order(purple: Path, no_plugin: None) -> None:
    write(purple / "accounts.xml", ALICE_OLD_XML)
    export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                   password=Secret(PASSWORD))
    [account] = accounts(parse(purple / "accounts.xml"))
    tags = [(c.tag, c.get("ui")) for c in account]
    assert tags == [
        ("protocol", None), ("name", None), ("password", None), ("alias", None),
        ("statuses", None), ("settings", None), ("settings", "gtk-gaim"),
        ("settings", "gnt-purple"), ("proxy", None),
    ]
    assert account.findtext("password") == PASSWORD


def test_update_matches_the_name_case_insensitively(purple: Path, no_plugin: None) -> None:
    write(purple / "accounts.xml", ALICE_OLD_XML)
    entry = SipeAccountEntry("Alice@Example.test", "example\\alice", "", "auto", "ntlm")
    result = export_account(purple, entry, password_mode=PasswordMode.NONE)
    assert not result.created
    [account] = accounts(parse(purple / "accounts.xml"))
    assert account.findtext("name") == "Alice@Example.test,example\\alice"
    assert account.findtext("alias") == "Alice (work)"


def test_merge_with_others_and_an_old_alice(purple: Path, no_plugin: None) -> None:
    combined = OTHERS_XML.replace(
        "</account>\n</account>\n",
        "</account>\n" + ALICE_OLD_XML.split("<account version='1.0'>\n", 1)[1],
    )
    write(purple / "accounts.xml", combined)
    before = parse(purple / "accounts.xml")
    export_account(purple, ALICE, password_mode=PasswordMode.NONE)
    after = parse(purple / "accounts.xml")
    assert len(accounts(after)) == len(accounts(before)) == 4
    for old, new in zip(list(before)[:-1], list(after)[:-1], strict=True):
        assert canon(old) == canon(new)
    assert after[-1].findtext("alias") == "Alice (work)"


def test_another_protocol_with_the_same_name_is_not_touched(purple: Path,
                                                             no_plugin: None) -> None:
    text = OTHERS_XML.replace("carol@jabber.example/Home", ALICE.name)
    write(purple / "accounts.xml", text)
    before = parse(purple / "accounts.xml")
    assert export_account(purple, ALICE, password_mode=PasswordMode.NONE).created
    after = parse(purple / "accounts.xml")
    assert canon(after[0]) == canon(before[0])


# --- password modes ------------------------------------------------------------------------------


def test_cleartext_writes_the_password(purple: Path, no_plugin: None) -> None:
    result = export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                            password=Secret(PASSWORD))
    [account] = accounts(parse(purple / "accounts.xml"))
    assert account.findtext("password") == PASSWORD
    assert not result.keyring_plugin_enabled
    assert PASSWORD not in repr(result) and all(PASSWORD not in n for n in result.notes)
    assert stat.S_IMODE(result.accounts_xml.stat().st_mode) == 0o600


@pytest.mark.parametrize("password", [None, Secret("")])
def test_cleartext_needs_a_password(purple: Path, password: Secret | None) -> None:
    with pytest.raises(ValueError, match="needs the password"):
        export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT, password=password)
    assert not purple.exists()


def test_none_removes_a_saved_password_and_says_pidgin_will_ask(purple: Path,
                                                                no_plugin: None) -> None:
    write(purple / "accounts.xml", ALICE_OLD_XML)
    result = export_account(purple, ALICE, password_mode=PasswordMode.NONE,
                            password=Secret(PASSWORD))
    assert b"<password" not in result.accounts_xml.read_bytes()
    assert any("ask" in note for note in result.notes)
    assert not (purple / "prefs.xml").exists()


def test_keyring_mode_enables_the_plugin_and_writes_no_password(purple: Path,
                                                                fake_plugin: Path) -> None:
    write(purple / "accounts.xml", ALICE_OLD_XML)
    result = export_account(purple, ALICE, password_mode=PasswordMode.KEYRING,
                            password=Secret(PASSWORD), now=NOW)
    assert b"<password" not in result.accounts_xml.read_bytes()
    assert PASSWORD.encode() not in b"".join(files_in(purple).values()).replace(
        ALICE_OLD_XML.encode(), b"")
    assert result.keyring_plugin_enabled
    prefs = parse(purple / "prefs.xml")
    assert prefs.tag == "pref" and prefs.attrib == {"version": "1", "name": "/"}
    for ui in ("pidgin", "finch"):
        loaded = prefs.find(f"pref[@name='{ui}']/pref[@name='plugins']/pref[@name='loaded']")
        assert loaded is not None and loaded.get("type") == "pathlist"
        assert [i.get("value") for i in loaded.findall("item")] == [str(fake_plugin)]
    assert stat.S_IMODE((purple / "prefs.xml").stat().st_mode) == 0o600


def test_keyring_mode_without_the_plugin_says_so(purple: Path, no_plugin: None) -> None:
    result = export_account(purple, ALICE, password_mode=PasswordMode.KEYRING)
    assert not result.keyring_plugin_enabled
    assert any("pidgin-gnome-keyring plugin is not installed" in note
               and "sudo apt install pidgin-gnome-keyring" in note for note in result.notes)
    assert not (purple / "prefs.xml").exists()


def test_remove_cleartext_password(purple: Path, fake_plugin: Path) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                   password=Secret(PASSWORD))
    before = parse(purple / "accounts.xml")
    written = (purple / "accounts.xml").read_bytes()

    backup = remove_cleartext_password(purple, ALICE.name, now=NOW)

    # The backup is what was there, minus the password the user asked to remove; the other
    # accounts' passwords stay (they are the user's choice).
    assert backup is not None and not leaks(backup.read_bytes())
    assert leaks(written)
    kept = parse(backup)
    assert find_account(kept, ALICE.name)[0].find("password") is None
    assert find_account(kept, "bob@other.test,OTHER\\bob")[0].findtext("password") == "bobs-pw"
    assert [canon(a) for a in accounts(kept)][:-1] == [canon(a) for a in accounts(before)][:-1]
    after = parse(purple / "accounts.xml")
    [alice] = find_account(after, ALICE.name)
    assert alice.find("password") is None
    assert find_account(after, "bob@other.test,OTHER\\bob")[0].findtext("password") == "bobs-pw"
    for old, new in zip(list(before)[:-1], list(after)[:-1], strict=True):
        assert canon(old) == canon(new)
    assert str(fake_plugin) in (purple / "prefs.xml").read_text()
    # Nothing left to remove: no write, no new backup.
    assert remove_cleartext_password(purple, ALICE.name) is None
    with pytest.raises(LookupError):
        remove_cleartext_password(purple, "nobody@example.test,")


# --- corrupt files -------------------------------------------------------------------------------

CORRUPT = {
    "not-xml": b"this is not xml at all\n",
    "truncated": OTHERS_XML.encode()[:700],
    "wrong-root": b"<?xml version='1.0'?>\n<accounts version='1.0'><account/></accounts>\n",
    "empty": b"",
    "entity-bomb": (b"<?xml version='1.0'?>\n<!DOCTYPE account [<!ENTITY a 'aaaaaaaaaa'>"
                    b"<!ENTITY b '&a;&a;&a;&a;&a;'>]>\n<account version='1.0'>&b;</account>\n"),
    "binary": b"\x00\x01\x02\xff\xfe",
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_corrupt_accounts_xml_is_left_alone(purple: Path, fake_plugin: Path, kind: str) -> None:
    path = purple / "accounts.xml"
    path.parent.mkdir(parents=True)
    path.write_bytes(CORRUPT[kind])
    before = files_in(purple)

    for call in (
        lambda: export_account(purple, ALICE, password_mode=PasswordMode.KEYRING,
                               trusted_certificates=(TrustedCertificate("h.example", "PEM"),)),
        lambda: read_sipe_accounts(purple),
        lambda: remove_cleartext_password(purple, ALICE.name),
    ):
        with pytest.raises(PidginFileError) as caught:
            call()
        message = str(caught.value)
        assert str(path) in message and "Nothing was changed" in message
        assert files_in(purple) == before
    if kind in ("not-xml", "truncated"):
        assert "line" in message and "column" in message


def test_oversized_file_is_refused(purple: Path, no_plugin: None,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pidgin_xmlfile, "MAX_FILE_BYTES", 1024)
    original = write(purple / "accounts.xml", OTHERS_XML + "<!--" + "x" * 2000 + "-->")
    with pytest.raises(PidginFileError, match="larger than"):
        export_account(purple, ALICE, password_mode=PasswordMode.NONE)
    assert (purple / "accounts.xml").read_bytes() == original


@pytest.mark.parametrize("kind", ["not-xml", "wrong-root", "truncated"])
def test_corrupt_prefs_xml_stops_a_keyring_export(purple: Path, fake_plugin: Path,
                                                   kind: str) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    prefs = {"not-xml": b"garbage", "wrong-root": b"<account version='1.0'/>",
             "truncated": FINCH_PREFS_XML.encode()[:300]}[kind]
    (purple / "prefs.xml").write_bytes(prefs)
    before = files_in(purple)
    with pytest.raises(PidginFileError, match=r"prefs\.xml") as caught:
        export_account(purple, ALICE, password_mode=PasswordMode.KEYRING)
    assert "Nothing was changed" in str(caught.value)
    with pytest.raises(PidginFileError):
        enable_keyring_plugin(purple)
    assert files_in(purple) == before


def test_bad_entries_are_refused_before_anything_is_written(purple: Path) -> None:
    for entry in (
        SipeAccountEntry("", ""),
        SipeAccountEntry("a,b@example.test", ""),
        SipeAccountEntry("alice@example.test", "", transport="udp"),
        SipeAccountEntry("alice@example.test", "", authentication="kerberos"),
        SipeAccountEntry("alice@example.test", "", useragent="UA\r\nX-Evil: 1"),
    ):
        with pytest.raises(ValueError, match="Cannot export"):
            export_account(purple, entry, password_mode=PasswordMode.NONE)
    assert not purple.exists()


# --- backups -------------------------------------------------------------------------------------


def test_backup_has_the_old_content_and_mode_0600(purple: Path, no_plugin: None) -> None:
    original = write(purple / "accounts.xml", OTHERS_XML, mode=0o644)
    result = export_account(purple, ALICE, password_mode=PasswordMode.NONE, now=NOW)
    assert result.backup == purple / "accounts.xml.20240506-070809.bak"
    assert result.backup.read_bytes() == original
    assert stat.S_IMODE(result.backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(result.accounts_xml.stat().st_mode) == 0o600
    assert any(str(result.backup) in note for note in result.notes)
    again = export_account(purple, ALICE, password_mode=PasswordMode.NONE, now=NOW)
    assert again.backup is not None and again.backup != result.backup
    assert again.backup.read_bytes() == result.accounts_xml.read_bytes()


# --- prefs.xml -----------------------------------------------------------------------------------


def test_prefs_merge_keeps_other_prefs_and_is_idempotent(purple: Path,
                                                         fake_plugin: Path) -> None:
    original = write(purple / "prefs.xml", FINCH_PREFS_XML)
    before = parse(purple / "prefs.xml")

    assert enable_keyring_plugin(purple, now=NOW) is True

    after = parse(purple / "prefs.xml")
    finch_loaded = after.find("pref[@name='finch']/pref[@name='plugins']/pref[@name='loaded']")
    pidgin_loaded = after.find("pref[@name='pidgin']/pref[@name='plugins']/pref[@name='loaded']")
    assert finch_loaded is not None and pidgin_loaded is not None
    assert [i.get("value") for i in finch_loaded] == [
        "/usr/lib/x86_64-linux-gnu/finch/gntclipboard.so", str(fake_plugin)]
    assert [i.get("value") for i in pidgin_loaded] == [str(fake_plugin)]
    assert pidgin_loaded.get("type") == "pathlist"
    # Take our additions out again: what is left is the original document.
    finch_loaded.remove(finch_loaded[-1])
    pidgin = after.find("pref[@name='pidgin']")
    assert pidgin is not None
    pidgin.remove(pidgin.find("pref[@name='plugins']"))  # type: ignore[arg-type]
    assert canon(after) == canon(before)
    assert (purple / "prefs.xml.20240506-070809.bak").read_bytes() == original

    written = (purple / "prefs.xml").read_bytes()
    backups = sorted(purple.glob("prefs.xml.*.bak"))
    assert enable_keyring_plugin(purple) is False
    assert (purple / "prefs.xml").read_bytes() == written
    assert sorted(purple.glob("prefs.xml.*.bak")) == backups


def test_prefs_created_with_the_minimal_shape(purple: Path, fake_plugin: Path) -> None:
    assert enable_keyring_plugin(purple) is True
    data = (purple / "prefs.xml").read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8' ?>\n")
    root = parse(purple / "prefs.xml")
    assert root.attrib == {"version": "1", "name": "/"}
    assert [p.get("name") for p in root] == ["pidgin", "finch"]


def test_enable_without_the_plugin_changes_nothing(purple: Path, no_plugin: None) -> None:
    assert enable_keyring_plugin(purple) is False
    assert not (purple / "prefs.xml").exists()


def test_keyring_plugin_path_finds_the_debian_plugin() -> None:
    found = pidgin.keyring_plugin_path()
    debian = Path("/usr/lib/purple-2/gnome-keyring.so")
    if debian.exists():
        assert found == debian
    else:
        assert found is None or found.name == "gnome-keyring.so"


# --- trusted certificate -------------------------------------------------------------------------


def test_trusted_certificate_goes_to_tls_peers(purple: Path, no_plugin: None) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    result = export_account(purple, ALICE, password_mode=PasswordMode.NONE,
                            trusted_certificates=(TrustedCertificate("sip.example.test", pem),))
    path = purple / "certificates" / "x509" / "tls_peers" / "sip.example.test"
    assert result.certificate_file == path
    assert path.read_text() == pem
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.parametrize(("host", "name"), [
    ("sip.example.test", "sip.example.test"),
    ("127.0.0.1", "127.0.0.1"),
    ("::1", "%3a%3a1"),
    ("sip_01-a#b@x", "sip_01-a#b@x"),
    ("bücher.example", "b%c3%bccher.example"),
    ("../../etc/passwd", "..%2f..%2fetc%2fpasswd"),
])
def test_tls_peer_file_name_follows_purple_escape_filename(host: str, name: str) -> None:
    assert tls_peer_file_name(host) == name


# --- reading -------------------------------------------------------------------------------------


def test_read_missing_file_is_empty(purple: Path) -> None:
    assert read_sipe_accounts(purple) == []


def test_read_sipe_accounts(purple: Path, no_plugin: None) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                   password=Secret(PASSWORD))
    bob, alice = read_sipe_accounts(purple)
    assert alice.entry == ALICE
    assert alice.password is not None and alice.password.reveal() == PASSWORD
    assert alice.enabled_pidgin and alice.enabled_finch and alice.other_settings == {}
    assert PASSWORD not in repr(alice)
    # bob has no authentication key: SIPE uses NTLM then, and so do we when reading.
    assert bob.entry == SipeAccountEntry("bob@other.test", "OTHER\\bob", "127.0.0.1:1", "tcp",
                                         "ntlm", False, "")
    assert bob.other_settings == {"email_url": "https://mail.other.test/EWS/Exchange.asmx"}
    assert not bob.enabled_pidgin and not bob.enabled_finch


def test_read_applies_sipes_defaults(purple: Path) -> None:
    write(purple / "accounts.xml", ALICE_OLD_XML.replace(
        "<setting name='dont-publish' type='bool'>1</setting>",
        "<setting name='transport' type='string'>udp</setting>"
        "<setting name='sso' type='bool'>yes</setting>"))
    [alice] = read_sipe_accounts(purple)
    assert alice.entry.authentication == "ntlm"  # present but empty = absent
    assert alice.entry.transport == "tcp" and alice.entry.sso
    assert alice.entry.server == "old.example.test"
    assert not alice.enabled_pidgin


XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(signin=XML_TEXT.filter(lambda s: s != "" and "," not in s), login=XML_TEXT,
       useragent=XML_TEXT, sso=st.booleans(),
       auth=st.sampled_from(["auto", "ntlm", "krb5", "tls-dsk"]))
def test_export_then_read_round_trips(signin: str, login: str, useragent: str, sso: bool,
                                      auth: str) -> None:
    entry = SipeAccountEntry(signin, login, "sip.example.test:5061", "tcp", auth, sso, useragent)
    with tempfile.TemporaryDirectory() as tmp:
        purple = Path(tmp) / "purple"
        write(purple / "accounts.xml", OTHERS_XML)
        export_account(purple, entry, password_mode=PasswordMode.CLEARTEXT,
                       password=Secret(signin + login))
        accounts_read = read_sipe_accounts(purple)
        assert len(accounts_read) == 2
        ours = accounts_read[1]
        assert ours.entry == entry
        assert ours.password is not None and ours.password.reveal() == signin + login


# --- running clients -----------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["-c", "/d"], "/d"),
    (["-c/d"], "/d"),
    (["-dc", "/d"], "/d"),
    (["-dn", "--config=/d"], "/d"),
    (["--config", "/d"], "/d"),
    (["--conf=/d"], "/d"),
    (["-d"], None),
    (["--session", "-c", "-c", "/d"], "/d"),
    (["-s", "x", "--", "-c", "/e"], None),
    (["-l", "-c", "/d"], "/d"),
    (["--debug"], None),
])
def test_config_option_parsing(args: list[str], expected: str | None) -> None:
    assert pidgin_running._config_option(args) == expected


@pytest.fixture
def fake_finch(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A script called ``finch`` that just sleeps; its command line is what we look at."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(5)


def _start_fake(started: list[subprocess.Popen[bytes]], tmp_path: Path, program: str,
                args: list[str], env: dict[str, str] | None = None) -> int:
    script = tmp_path / "bin" / program
    if not script.exists():
        script.parent.mkdir(exist_ok=True)
        script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
        script.chmod(0o755)
    process = subprocess.Popen([str(script), *args], env=env)
    started.append(process)
    comm = Path(f"/proc/{process.pid}/comm")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # wait until the exec has happened
        if comm.exists() and comm.read_text().strip() == program:
            break
        time.sleep(0.02)
    return process.pid


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")
def test_find_running_clients(tmp_path: Path, purple: Path,
                              fake_finch: list[subprocess.Popen[bytes]]) -> None:
    purple.mkdir()
    other = tmp_path / "other"
    other.mkdir()
    link = tmp_path / "link-to-purple"
    link.symlink_to(purple)
    assert find_running_clients(purple) == []

    finch_pid = _start_fake(fake_finch, tmp_path, "finch", ["-c", str(purple), "-d"])
    pidgin_pid = _start_fake(fake_finch, tmp_path, "pidgin", [f"--config={link}"])
    home_pid = _start_fake(fake_finch, tmp_path, "finch", [],
                           env={**os.environ, "HOME": str(other)})

    found = find_running_clients(purple)
    assert [(c.pid, c.program) for c in found] == sorted(
        [(finch_pid, "finch"), (pidgin_pid, "pidgin")])
    assert find_running_clients(link) == found
    assert [(c.pid, c.program) for c in find_running_clients(other / ".purple")] == [
        (home_pid, "finch")]
    assert find_running_clients(other) == []
    assert find_running_clients(tmp_path / "nowhere") == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")
def test_argv0_finch_without_config_uses_its_home(
        tmp_path: Path, fake_finch: list[subprocess.Popen[bytes]]) -> None:
    # argv[0] "finch" (as the real binary has), no -c: its folder is $HOME/.purple of *its* env.
    process = subprocess.Popen(["bash", "-c", "exec -a finch sleep 60"],
                               env={**os.environ, "HOME": str(tmp_path)})
    fake_finch.append(process)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not find_running_clients(tmp_path / ".purple"):
        time.sleep(0.02)
    assert find_running_clients(tmp_path / ".purple") == [
        pidgin.RunningClient(process.pid, "finch")]
    assert find_running_clients(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux only)")
def test_export_refuses_while_finch_runs(tmp_path: Path, purple: Path, fake_plugin: Path,
                                         fake_finch: list[subprocess.Popen[bytes]]) -> None:
    original = write(purple / "accounts.xml", OTHERS_XML)
    pid = _start_fake(fake_finch, tmp_path, "finch", ["-c", str(purple)])
    before = files_in(purple)
    for call in (
        lambda: export_account(purple, ALICE, password_mode=PasswordMode.KEYRING),
        lambda: enable_keyring_plugin(purple),
        lambda: remove_cleartext_password(purple, ALICE.name),
    ):
        with pytest.raises(PidginRunning) as caught:
            call()
        assert caught.value.clients == [pidgin.RunningClient(pid, "finch")]
        assert str(caught.value) == (
            f"Finch (pid {pid}) is running with this settings folder; it rewrites accounts.xml "
            "when it quits, so the change would be lost. Quit Pidgin (Buddy List → Quit) and "
            "try again."
        )
    assert files_in(purple) == before
    assert (purple / "accounts.xml").read_bytes() == original


# --- crash safety --------------------------------------------------------------------------------

_CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from sipe_setup.core import pidgin
    from sipe_setup.core.account import Secret

    purple = Path(sys.argv[1])
    how = sys.argv[2]
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "accounts.xml":
            if how == "before-rename":
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)
            if how == "after-rename":
                os.kill(os.getpid(), signal.SIGKILL)
            return
        real_replace(src, dst)

    if how != "loop":
        os.replace = replace
    entry = pidgin.SipeAccountEntry("alice@example.test", "EXAMPLE\\\\alice",
                                    "new.example.test", "tls", "ntlm", False, "UA")
    if how == "loop":
        print("ready", flush=True)
        n = 0
        while True:
            n += 1
            e = pidgin.SipeAccountEntry(entry.signin, entry.login, f"s{n % 2}.example.test",
                                        "tls", "ntlm", False, "x" * 20000)
            pidgin.export_account(purple, e, password_mode=pidgin.PasswordMode.CLEARTEXT,
                                  password=Secret("pw"))
    pidgin.export_account(purple, entry, password_mode=pidgin.PasswordMode.NONE)
""")


def _run_child(purple: Path, how: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(purple), how], env=env,
                            stdout=subprocess.PIPE, text=True)


def _assert_whole(purple: Path) -> ET.Element:
    names = [p.name for p in purple.iterdir() if p.name != LOCK_FILE_NAME]
    assert names.count("accounts.xml") == 1
    assert all(n == "accounts.xml" or n.startswith((".accounts.xml.", "accounts.xml.")) for n in
               names)
    return parse(purple / "accounts.xml")  # raises if the document is broken


@pytest.mark.parametrize("how", ["before-rename", "after-rename"])
def test_kill_during_export_leaves_old_or_new(purple: Path, how: str) -> None:
    original = write(purple / "accounts.xml", OTHERS_XML)
    child = _run_child(purple, how)
    assert child.wait(30) == -signal.SIGKILL
    root = _assert_whole(purple)
    if how == "before-rename":
        assert (purple / "accounts.xml").read_bytes() == original
        assert list(purple.glob(".accounts.xml.*.tmp")), "the kill did not hit the window"
    else:
        assert find_account(root, "alice@example.test,EXAMPLE\\alice")
        assert len(accounts(root)) == 4


def test_kill_at_random_moments_never_breaks_the_file(purple: Path) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    rng = random.Random(1234)
    for _ in range(6):
        child = _run_child(purple, "loop")
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.0, 0.4))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
        root = _assert_whole(purple)
        assert len(accounts(root)) in (3, 4)
        for account in find_account(root, "alice@example.test,EXAMPLE\\alice"):
            assert settings_of(account)["server"][1] in ("s0.example.test", "s1.example.test")
