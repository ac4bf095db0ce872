"""accounts.xml under pressure: concurrent exports, another program's change, kills, backups
that must not keep a removed password, pruning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from sipe_setup.core import fileio
from sipe_setup.core.account import Secret
from sipe_setup.core.export.pidgin import accounts as pidgin_accounts
from sipe_setup.core.export.pidgin import paths as pidgin_paths
from sipe_setup.core.fileio import KEEP_BACKUPS, LOCK_FILE_NAME, FileChangedError, FolderBusy
from sipe_setup.core.pidgin import (
    PasswordMode,
    SipeAccountEntry,
    enable_keyring_plugin,
    export_account,
    read_sipe_accounts,
    remove_cleartext_password,
    remove_saved_password,
)
from tests.unit.test_pidgin import ALICE, OTHERS_XML, accounts, canon, find_account, parse, write

ROOT = Path(__file__).resolve().parents[2]
SENTINEL = "Sentinel&<Pidgin>-7f3e!"
NOW = datetime(2026, 3, 4, 5, 6, 7)
OTHER_NAMES = ["carol@jabber.example/Home", "carol@irc.libera.chat", "bob@other.test,OTHER\\bob"]


def sentinel_files(*roots: Path, secret: str = SENTINEL) -> list[Path]:
    """Every file under ``roots`` holding ``secret``, as typed or XML-escaped."""
    forms = (secret.encode(), escape(secret).encode())
    return [p for root in roots for p in sorted(root.rglob("*"))
            if p.is_file() and any(f in p.read_bytes() for f in forms)]


@pytest.fixture
def purple(tmp_path: Path) -> Path:
    return tmp_path / "purple"


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    plugin = tmp_path / "lib" / "purple-2" / "gnome-keyring.so"
    plugin.parent.mkdir(parents=True)
    plugin.write_bytes(b"\x7fELF")
    monkeypatch.setattr(pidgin_paths, "keyring_plugin_path", lambda: plugin)
    return plugin


@pytest.fixture
def no_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pidgin_paths, "keyring_plugin_path", lambda: None)


def _entry(n: int) -> SipeAccountEntry:
    return SipeAccountEntry(f"user{n}@example.test", f"EXAMPLE\\user{n}", "", "tls", "ntlm")


def _names(purple: Path) -> set[str]:
    return {a.entry.name for a in read_sipe_accounts(purple)}


# --- two exports at once -------------------------------------------------------------------------


def test_concurrent_exports_in_threads_never_lose_an_account(purple: Path,
                                                             no_plugin: None) -> None:
    """Used to lose an account in most rounds, both exports reporting success."""
    for round_number in range(20):
        folder = purple / str(round_number)
        write(folder / "accounts.xml", OTHERS_XML)
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def export(n: int, folder: Path = folder, barrier: threading.Barrier = barrier,
                   errors: list[BaseException] = errors) -> None:
            try:
                barrier.wait()
                export_account(folder, _entry(n), password_mode=PasswordMode.NONE)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=export, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        root = parse(folder / "accounts.xml")
        assert len(accounts(root)) == 6, f"round {round_number} lost an account"
        assert {_entry(n).name for n in range(3)} <= _names(folder)
        for name in OTHER_NAMES:
            assert find_account(root, name), name


_EXPORTER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from sipe_setup.core.pidgin import PasswordMode, SipeAccountEntry, export_account

    purple, first, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    print("ready", flush=True)
    sys.stdin.readline()
    for n in range(first, first + count):
        entry = SipeAccountEntry(f"user{n}@example.test", "", "", "auto", "ntlm")
        export_account(purple, entry, password_mode=PasswordMode.NONE)
""")


def test_concurrent_exports_in_processes_never_lose_an_account(purple: Path) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    children = [subprocess.Popen([sys.executable, "-c", _EXPORTER, str(purple), str(first),
                                  "15"], env=env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, text=True)
                for first in (0, 100)]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    for child in children:  # start both at once
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
    for child in children:
        assert child.wait(120) == 0
        assert child.stdout is not None
        child.stdout.close()
    names = _names(purple)
    expected = {f"user{n}@example.test," for n in [*range(15), *range(100, 115)]}
    assert expected <= names
    assert len(accounts(parse(purple / "accounts.xml"))) == 30 + 3


def test_a_busy_folder_is_refused_in_plain_words(purple: Path, no_plugin: None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    before = (purple / "accounts.xml").read_bytes()
    monkeypatch.setattr(fileio, "LOCK_TIMEOUT_SECONDS", 0.2)
    holding, release = threading.Event(), threading.Event()

    def other_export() -> None:
        with fileio.locked_folder(purple, what="export"):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other_export)
    thread.start()
    try:
        assert holding.wait(5)
        with pytest.raises(FolderBusy, match=r"^Another export is writing to .*purple"):
            export_account(purple, ALICE, password_mode=PasswordMode.NONE)
    finally:
        release.set()
        thread.join()
    assert (purple / "accounts.xml").read_bytes() == before
    assert not list(purple.glob("*.bak"))


def test_a_change_made_meanwhile_is_kept_and_reported(purple: Path, no_plugin: None,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Pidgin (which does not lock) saves accounts.xml while we merge: we must not write our
    tree, built from the old file, over its change."""
    write(purple / "accounts.xml", OTHERS_XML)
    theirs = OTHERS_XML.replace("</account>\n</account>", "</account>\n<!-- Pidgin -->\n"
                                "</account>").encode()
    from sipe_setup.core.export.pidgin.account_xml import new_account as real_new_account

    def meanwhile(entry: SipeAccountEntry) -> ET.Element:
        (purple / "accounts.xml").write_bytes(theirs)
        return real_new_account(entry)

    monkeypatch.setattr(pidgin_accounts, "new_account", meanwhile)
    with pytest.raises(FileChangedError, match="another program changed it"):
        export_account(purple, ALICE, password_mode=PasswordMode.NONE)
    assert (purple / "accounts.xml").read_bytes() == theirs
    assert not list(purple.glob("*.bak")) and not list(purple.glob(".*.tmp"))


def test_prefs_changed_meanwhile_is_not_overwritten(purple: Path, fake_plugin: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    prefs = purple / "prefs.xml"
    write(prefs, "<?xml version='1.0'?>\n<pref version='1' name='/'/>\n")
    theirs = b"<?xml version='1.0'?>\n<pref version='1' name='/'><pref name='x'/></pref>\n"
    from sipe_setup.core.export.pidgin.prefs import merge_keyring_plugin as real_add

    def meanwhile(*args: object, **kwargs: object) -> bool:
        prefs.write_bytes(theirs)
        return real_add(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pidgin_accounts, "merge_keyring_plugin", meanwhile)
    with pytest.raises(FileChangedError):
        export_account(purple, ALICE, password_mode=PasswordMode.KEYRING)
    assert prefs.read_bytes() == theirs


def test_enable_keyring_plugin_holds_the_lock(purple: Path, fake_plugin: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileio, "LOCK_TIMEOUT_SECONDS", 0.1)
    purple.mkdir()
    holding, release = threading.Event(), threading.Event()

    def other() -> None:
        with fileio.locked_folder(purple):
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert holding.wait(5)
        with pytest.raises(FolderBusy):
            enable_keyring_plugin(purple)
    finally:
        release.set()
        thread.join()
    assert enable_keyring_plugin(purple)


# --- a removed password leaves the backups too ---------------------------------------------------


def test_keyring_export_after_cleartext_leaves_no_password_in_any_backup(
        purple: Path, fake_plugin: Path) -> None:
    """The repair path: the password was in accounts.xml, the user moves to the keyring."""
    write(purple / "accounts.xml", OTHERS_XML)
    for n in range(3):  # three cleartext exports: two backups already hold the password
        export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                       password=Secret(SENTINEL), now=NOW + timedelta(seconds=n))
    assert len(sentinel_files(purple)) == 3  # accounts.xml and two backups

    result = export_account(purple, ALICE, password_mode=PasswordMode.KEYRING,
                            now=NOW + timedelta(seconds=10))

    assert sentinel_files(purple) == []
    assert result.password_removed and result.backup is not None
    assert len(result.scrubbed_backups) == 2
    notes = "\n".join(result.notes)
    assert "without this account's password" in notes
    assert "also removed from 2 older backups" in notes
    assert SENTINEL not in notes
    # The backups still restore everything else, other accounts' passwords included.
    for backup in fileio.backups_of(purple / "accounts.xml"):
        root = parse(backup)
        assert find_account(root, "bob@other.test,OTHER\\bob")[0].findtext("password") == \
            "bobs-pw"
        assert find_account(root, "carol@jabber.example/Home")[0].findtext("password") == \
            "xmpp-pw"
    scrubbed = parse(result.backup)
    original = ET.fromstring(OTHERS_XML.encode())
    assert [canon(a) for a in accounts(scrubbed)][:3] == [canon(a) for a in accounts(original)]


@pytest.mark.parametrize("mode", [PasswordMode.NONE, PasswordMode.KEYRING])
def test_redoing_a_cleartext_export_without_the_password(purple: Path, no_plugin: None,
                                                         mode: PasswordMode) -> None:
    export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                   password=Secret(SENTINEL), now=NOW)
    result = export_account(purple, ALICE, password_mode=mode, now=NOW)
    assert result.backup is not None
    assert sentinel_files(purple) == []


def test_a_cleartext_export_keeps_the_backups_as_they_are(purple: Path, no_plugin: None) -> None:
    """Cleartext is the user's explicit choice: nothing is scrubbed then."""
    export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                   password=Secret(SENTINEL), now=NOW)
    result = export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                            password=Secret(SENTINEL), now=NOW)
    assert result.backup is not None and not result.password_removed
    assert result.backup in sentinel_files(purple)


def test_moving_the_password_out_scrubs_it_from_every_backup(purple: Path,
                                                             fake_plugin: Path) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    for n in range(2):
        export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                       password=Secret(SENTINEL), now=NOW + timedelta(seconds=n))
    removal = remove_saved_password(purple, ALICE.name, now=NOW + timedelta(seconds=5))
    assert removal.removed and removal.backup is not None
    assert len(removal.scrubbed_backups) == 1 and removal.keyring_plugin_enabled
    assert sentinel_files(purple) == []
    # Nothing left: no write, no new backup; the remaining backups stay clean.
    before = sorted(p.name for p in purple.iterdir())
    again = remove_saved_password(purple, ALICE.name)
    assert not again.removed and again.backup is None and again.scrubbed_backups == ()
    assert sorted(p.name for p in purple.iterdir()) == before


_KILLED_REMOVER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from sipe_setup.core.export.pidgin import paths
    from sipe_setup.core.pidgin import remove_cleartext_password

    paths.keyring_plugin_path = lambda: None
    real_replace = os.replace

    def replace(src, dst):
        dst = Path(dst)
        if sys.argv[3] == "accounts.xml" and dst.name == "accounts.xml":
            os.kill(os.getpid(), signal.SIGKILL)
        if sys.argv[3] == "new-backup" and dst.name.endswith(".bak") and not dst.exists():
            os.kill(os.getpid(), signal.SIGKILL)
        real_replace(src, dst)

    os.replace = replace
    remove_cleartext_password(Path(sys.argv[1]), sys.argv[2])
""")


@pytest.mark.parametrize("where", ["accounts.xml", "new-backup"])
def test_kill_while_moving_the_password_out_then_again(purple: Path, no_plugin: None,
                                                       where: str) -> None:
    """A kill mid-write leaves a temporary copy; the next write removes it, and when it is
    done no file under the folder holds the password — backups and leftovers included."""
    write(purple / "accounts.xml", OTHERS_XML)
    for _ in range(2):
        export_account(purple, ALICE, password_mode=PasswordMode.CLEARTEXT,
                       password=Secret(SENTINEL), now=NOW)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "app")}
    child = subprocess.run([sys.executable, "-c", _KILLED_REMOVER, str(purple), ALICE.name,
                            where], env=env, timeout=60, check=False)
    assert child.returncode == -signal.SIGKILL
    leftovers = list(purple.glob(".accounts.xml.*.tmp"))
    assert len(leftovers) == 1, "the kill did not hit the window"
    # The move did not finish: accounts.xml still holds the password, nothing else does
    # (the leftover copy of the backup was already scrubbed when it was written).
    assert (purple / "accounts.xml") in sentinel_files(purple)

    remove_cleartext_password(purple, ALICE.name)

    assert not any(p.exists() for p in leftovers)
    assert sentinel_files(purple) == []
    [alice] = [a for a in read_sipe_accounts(purple) if a.entry.name == ALICE.name]
    assert alice.password is None


# --- pruning -------------------------------------------------------------------------------------


def test_fifty_exports_keep_only_the_newest_backups(purple: Path, no_plugin: None) -> None:
    write(purple / "accounts.xml", OTHERS_XML)
    for n in range(50):
        export_account(purple, ALICE, password_mode=PasswordMode.NONE,
                       now=NOW + timedelta(seconds=n))
    backups = sorted(p.name for p in purple.glob("accounts.xml.*.bak"))
    assert len(backups) == KEEP_BACKUPS
    # Export n (0…49) ran at 05:06:07 + n s and backed up the file before it.
    assert backups[-1] == "accounts.xml.20260304-050656.bak"
    assert backups[0] == f"accounts.xml.20260304-0506{57 - KEEP_BACKUPS:02d}.bak"
    assert sorted(p.name for p in purple.iterdir() if not p.name.endswith(".bak")) == [
        LOCK_FILE_NAME, "accounts.xml"]
