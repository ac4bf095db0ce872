"""BitlBee commands: quoting that BitlBee's own splitter undoes, and the settings chosen."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipe_setup.cli import main
from sipe_setup.core.account import Secret, parse_account
from sipe_setup.core.export.bitlbee import (
    PASSWORD_PLACEHOLDER,
    bitlbee_setup,
    bitlbee_setup_for_profile,
    bitlbee_word,
    split_bitlbee_command,
)
from sipe_setup.core.export.pidgin.model import SipeAccountEntry
from sipe_setup.core.profiles import Profile, ProfileStore, Validation

ENTRY = SipeAccountEntry(signin="alice@example.test", login="EXAMPLE\\alice",
                         server="sip.example.test:5061", transport="tls",
                         authentication="ntlm")


def test_bitlbee_own_test_vectors() -> None:
    """tests/check_util.c of BitlBee 3.6, which our port of split_command_parts must pass."""
    assert split_bitlbee_command(
        "account add etc \"user name with spaces\" 'pass\\ word'") == [
        "account", "add", "etc", "user name with spaces", "pass\\ word"]
    assert split_bitlbee_command("channel set group Close\\ friends") == [
        "channel", "set", "group", "Close friends"]
    assert split_bitlbee_command("a  b   c") == ["a", "b", "c"]


def test_a_single_backslash_is_eaten_and_ours_survives() -> None:
    assert split_bitlbee_command("account add sipe a@b.c,DOMAIN\\user")[3] == \
        "a@b.c,DOMAINuser"  # the trap the issue describes
    assert bitlbee_word("DOMAIN\\user") == "DOMAIN\\\\user"
    assert split_bitlbee_command("x " + bitlbee_word("DOMAIN\\user"))[1] == "DOMAIN\\user"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                      blacklist_characters="\r\n\0"), max_size=40))
def test_every_word_comes_back(word: str) -> None:
    assert split_bitlbee_command(f"account x set useragent {bitlbee_word(word)}") == [
        "account", "x", "set", "useragent", word]


def test_commands_in_order_with_oper_for_the_password() -> None:
    setup = bitlbee_setup(ENTRY)
    texts = [line.text for line in setup.lines]
    ident = "sipe(alice@example.test,EXAMPLE\\\\alice)"
    assert texts == [
        "account add sipe alice@example.test,EXAMPLE\\\\alice",
        f"account {ident} set server sip.example.test:5061",
        f"account {ident} set transport tls",
        f"account {ident} set authentication ntlm",
        f"account {ident} set -del useragent",
        f"account {ident} set sso false",
        f"account {ident} set -del password",
        f"/OPER alice@example.test {PASSWORD_PLACEHOLDER}",
        f"account {ident} on",
    ]
    assert [line.irc for line in setup.lines].count(True) == 1
    assert not setup.has_password
    assert split_bitlbee_command(texts[1])[1] == "sipe(alice@example.test,EXAMPLE\\alice)"


def test_inline_password_is_marked_secret() -> None:
    setup = bitlbee_setup(ENTRY, password=Secret("pa ss\\"))
    assert setup.has_password and setup.lines[0].secret
    assert split_bitlbee_command(setup.lines[0].text)[4] == "pa ss\\"
    assert not any(line.text.startswith("/OPER") for line in setup.lines)
    with pytest.raises(ValueError, match="line break"):
        bitlbee_setup(ENTRY, password=Secret("a\nb"))


def test_auto_becomes_the_proven_scheme_because_bitlbee_cannot_say_auto() -> None:
    auto = replace(ENTRY, authentication="auto")
    assert dict(bitlbee_setup(auto, proven_scheme="TLS-DSK").settings)["authentication"] == \
        "tls-dsk"
    unproven = bitlbee_setup(auto)
    assert dict(unproven.settings)["authentication"] == "ntlm"
    assert any("cannot pass Authentication “Auto”" in note for note in unproven.notes)
    sso = bitlbee_setup(replace(auto, sso=True))
    assert dict(sso.settings)["authentication"] == "krb5"
    assert dict(sso.settings)["sso"] == "true"
    assert not any("password" in line.text for line in sso.lines)


def test_no_login_and_odd_usernames() -> None:
    plain = bitlbee_setup(replace(ENTRY, login=""))
    assert plain.lines[0].text == "account add sipe alice@example.test"
    odd = bitlbee_setup(replace(ENTRY, login="EXAMPLE\\al)ice"))
    assert odd.account_id == "sipe" and any("sipe2" in note for note in odd.notes)
    with pytest.raises(ValueError):
        bitlbee_setup(replace(ENTRY, login="a\tb"))


def test_profile_export_uses_what_the_check_proved() -> None:
    account = parse_account("alice@example.test", login="EXAMPLE\\alice", auth="auto")
    check = Validation(at="2025-01-01T00:00:00+00:00", summary="ok", host="pool.example.test",
                       port=443, transport="tls", scheme="NTLM",
                       entry_host="pool.example.test", entry_port=443, entry_transport="tls",
                       pin_server=True)
    profile = replace(Profile.from_account("Work", account), validation=check)
    settings = dict(bitlbee_setup_for_profile(profile).settings)
    assert settings == {"server": "pool.example.test:443", "transport": "tls",
                        "authentication": "ntlm", "useragent": "", "sso": "false"}


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["export-bitlbee", "Nope"]) == 1
    capsys.readouterr()
    account = parse_account("alice@example.test", login="EXAMPLE\\alice", auth="ntlm")
    ProfileStore().save(Profile.from_account("Work", account))
    assert main(["export-bitlbee", "Work"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "account add sipe alice@example.test,EXAMPLE\\\\alice"
    assert "# Type these" in err and "#" not in out
    monkeypatch.setenv("BB_PW", "s3cret pw")
    assert main(["export-bitlbee", "Work", "--password-env", "BB_PW", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["commands"][0]["contains_password"] is True
    assert document["commands"][0]["text"].endswith("s3cret\\ pw")
    assert document["settings"]["authentication"] == "ntlm"
