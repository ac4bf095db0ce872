"""Issue #4 end to end, from the CLI, with real parts only.

A check against the test registrar is saved as a profile with its password in a real Secret
Service (gnome-keyring on a private D-Bus), exported to Pidgin's accounts.xml next to other
accounts, and real finch + pidgin-sipe (+ pidgin-gnome-keyring) signs in with it without
asking anything. Then every file written is scanned for the password.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.servers.finch import require_finch, run_finch
from tests.servers.secret_service import GnomeKeyringService

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "sipe_setup"]
SENTINEL = "Sentinel-Pw-7f3a9c!"
SIGNIN = "alice@example.test"
LOGIN = "EXAMPLE\\alice"
ACCOUNT_NAME = f"{SIGNIN},{LOGIN}"

OTHER_ACCOUNTS = """<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
 <account>
  <protocol>prpl-jabber</protocol>
  <name>bob@jabber.example.test/Home</name>
  <alias>Bob at home</alias>
  <statuses><status type='available' name='Available' active='true'><attributes/></status>
  </statuses>
  <settings><setting name='connect_server' type='string'>127.0.0.1</setting>
   <setting name='port' type='int'>1</setting></settings>
  <settings ui='gnt-purple'><setting name='auto-login' type='bool'>0</setting></settings>
 </account>
 <account>
  <protocol>prpl-irc</protocol>
  <name>carol@irc.example.test</name>
  <settings><setting name='port' type='int'>1</setting></settings>
 </account>
 <account>
  <protocol>prpl-sipe</protocol>
  <name>dave@other.test,</name>
  <settings><setting name='server' type='string'>127.0.0.1:1</setting>
   <setting name='email_url' type='string'>https://mail.other.test/EWS/Exchange.asmx</setting>
  </settings>
  <settings ui='gnt-purple'><setting name='auto-login' type='bool'>0</setting></settings>
 </account>
</account>
"""


@pytest.fixture(scope="module")
def keyring_service() -> Iterator[GnomeKeyringService]:
    require_finch(keyring_plugin=True)
    require_tool("dbus-daemon")
    require_tool("gnome-keyring-daemon")
    with GnomeKeyringService.start() as service:
        yield service


@pytest.fixture(scope="module")
def registrar_port() -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.registrar", "--port", "0",
         "--user", f"EXAMPLE\\alice:{SENTINEL}"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    yield int(line.split("127.0.0.1:")[1].split()[0])
    process.terminate()
    process.wait(5)


def _env(tmp: Path, service: GnomeKeyringService | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBUS_")}
    env.update({"HOME": str(tmp / "home"), "XDG_CONFIG_HOME": str(tmp / "config"),
                "XDG_DATA_HOME": str(tmp / "data")})
    env.pop("PYTHON_KEYRING_BACKEND", None)
    if service is not None:
        env.update(service.env)
    return env


def _cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          timeout=90, cwd=ROOT, env=env)


def _accounts(path: Path) -> dict[tuple[str, str], ET.Element]:
    root = ET.parse(path).getroot()
    return {(a.findtext("protocol", ""), a.findtext("name", "")): a
            for a in root.findall("account")}


def _files_with(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_saved_profile_exported_with_keyring_signs_in_with_finch(
        tmp_path: Path, keyring_service: GnomeKeyringService, registrar_port: int) -> None:
    env = _env(tmp_path, keyring_service)
    server = f"127.0.0.1:{registrar_port}"
    done = _cli(env, "check", SIGNIN, "--login", LOGIN, "--server", server, "--transport",
                "tcp", "--password-stdin", "--json", "--save", "Work", stdin=SENTINEL + "\n")
    assert done.returncode == 0, done.stderr
    (tmp_path / "check-report.json").write_text(done.stdout)
    assert json.loads(done.stdout)["code"] == "SS-OK"
    assert "saved (validated)" in done.stderr
    assert "Password: Saved in" in done.stderr and "Secret Service" in done.stderr
    assert keyring_service.secret_tool("lookup", "service", "sipe-setup", "username",
                                       "work#g1").stdout == SENTINEL

    shown = _cli(env, "profiles", "show", "Work", "--json")
    doc = json.loads(shown.stdout)
    assert doc["validation"]["scheme"] == "NTLM"
    assert doc["password"]["stored"] is True

    purple = tmp_path / "purple"
    purple.mkdir()
    (purple / "accounts.xml").write_text(OTHER_ACCOUNTS)
    exported = _cli(env, "export-pidgin", "Work", "--purple-dir", str(purple),
                    "--password-mode", "keyring")
    assert exported.returncode == 0, exported.stderr
    assert "Added the Pidgin account" in exported.stdout
    assert keyring_service.secret_tool("lookup", "user", ACCOUNT_NAME, "protocol",
                                       "prpl-sipe").stdout == SENTINEL
    accounts = _accounts(purple / "accounts.xml")
    sipe = accounts[("prpl-sipe", ACCOUNT_NAME)]
    assert sipe.find("password") is None
    settings = {s.get("name"): s.text for group in sipe.findall("settings")
                if group.get("ui") is None for s in group.findall("setting")}
    assert set(settings) == {"server", "transport", "authentication", "sso", "useragent"}
    assert (settings["server"], settings["transport"], settings["authentication"],
            settings["sso"]) == (server, "tcp", "ntlm", "0")
    assert len(accounts) == 4

    finch_env = {**keyring_service.env, "HOME": str(purple)}
    run = run_finch(purple, env=finch_env, timeout=25)
    assert run.signed_in, run.tail()
    assert run.errors == [], run.tail()
    # finch rewrote accounts.xml on exit: every other account is still there, no password.
    after = _accounts(purple / "accounts.xml")
    assert set(after) == set(accounts)
    assert after[("prpl-sipe", "dave@other.test,")].find(
        "settings/setting[@name='email_url']") is not None

    # Nothing written anywhere holds the password: config, profiles, reports, Pidgin's
    # files, backups, finch's debug log, and gnome-keyring's (encrypted) keyring file.
    assert _files_with(tmp_path, SENTINEL.encode()) == []
    assert _files_with(keyring_service.directory, SENTINEL.encode()) == []

    # Cleartext mode (after the warning is confirmed): the password is in that accounts.xml
    # and nowhere else.
    plain = tmp_path / "purple-plain"
    refused = _cli(env, "export-pidgin", "Work", "--purple-dir", str(plain),
                   "--password-mode", "cleartext")
    assert refused.returncode == 1 and "plain text" in refused.stderr
    assert not (plain / "accounts.xml").exists()
    done = _cli(env, "export-pidgin", "Work", "--purple-dir", str(plain),
                "--password-mode", "cleartext", "--accept-cleartext")
    assert done.returncode == 0, done.stderr
    assert _files_with(tmp_path, SENTINEL.encode()) == [plain / "accounts.xml"]
    run = run_finch(plain, timeout=25)
    assert run.signed_in, run.tail()


def test_no_keyring_is_said_plainly_and_nothing_is_saved_silently(
        tmp_path: Path, registrar_port: int) -> None:
    env = _env(tmp_path, None)  # no D-Bus session: no Secret Service
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    args = ("check", SIGNIN, "--login", LOGIN, "--server", f"127.0.0.1:{registrar_port}",
            "--transport", "tcp", "--password-stdin", "--save", "Work")
    done = _cli(env, *args, stdin=SENTINEL + "\n")
    assert done.returncode == 1
    assert "No password store is available" in done.stderr or "keyring" in done.stderr.lower()
    assert "nothing saved" in done.stderr
    assert not (tmp_path / "config" / "sipe-setup" / "profiles" / "work.json").exists()
    done = _cli(env, *args, "--allow-no-keyring", stdin=SENTINEL + "\n")
    assert done.returncode == 0, done.stderr
    assert "Password: not saved" in done.stderr
    profile = json.loads((tmp_path / "config" / "sipe-setup" / "profiles" / "work.json")
                         .read_text())
    assert profile["password"] == {"stored": False}
    assert _files_with(tmp_path, SENTINEL.encode()) == []


def test_import_moves_a_cleartext_password_into_the_keyring(
        tmp_path: Path, keyring_service: GnomeKeyringService, registrar_port: int) -> None:
    env = _env(tmp_path, keyring_service)
    purple = tmp_path / "purple"
    purple.mkdir()
    account = (f" <account>\n  <protocol>prpl-sipe</protocol>\n  <name>{ACCOUNT_NAME}</name>\n"
               f"  <password>{SENTINEL}</password>\n  <settings>\n"
               f"   <setting name='server' type='string'>127.0.0.1:{registrar_port}</setting>\n"
               "   <setting name='transport' type='string'>tcp</setting>\n  </settings>\n"
               "  <settings ui='gnt-purple'><setting name='auto-login' type='bool'>1</setting>"
               "</settings>\n </account>\n</account>\n")
    (purple / "accounts.xml").write_text(OTHER_ACCOUNTS.rsplit("</account>", 1)[0] + account)
    listed = _cli(env, "import-pidgin", "--purple-dir", str(purple))
    assert "plain text" in listed.stdout, listed.stdout + listed.stderr
    done = _cli(env, "import-pidgin", "--purple-dir", str(purple), "--account", SIGNIN,
                "--move-password-to-keyring", "--replace")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed from accounts.xml" in done.stdout
    assert "which SIPE treats as NTLM" in done.stdout
    profile = json.loads(_cli(env, "profiles", "show", SIGNIN, "--json").stdout)
    # SIPE reads a missing authentication setting as NTLM, so the profile says NTLM.
    assert profile["account"]["auth"] == "ntlm"
    assert SENTINEL.encode() not in (purple / "accounts.xml").read_bytes()
    run = run_finch(purple, env={**keyring_service.env, "HOME": str(purple)}, timeout=25)
    assert run.signed_in, run.tail()
