"""The Save page and the Start page, against the real registrar, dnsmasq and gnome-keyring."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring.backends.fail
import keyring.backends.SecretService
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from sipe_setup.core.account import Field, Secret, parse_account
from sipe_setup.core.pidgin import (
    PasswordMode,
    SipeAccountEntry,
    export_account,
    find_running_clients,
    read_sipe_accounts,
)
from sipe_setup.core.profile_actions import save_profile
from sipe_setup.core.profiles import Profile, ProfileStore
from sipe_setup.core.secrets import PasswordVault
from sipe_setup.core.steps import Verdict
from sipe_setup.gui import app as gui_app
from sipe_setup.gui.pages.save import SaveOutcome
from sipe_setup.gui.pages.start import StartWay
from sipe_setup.gui.wizard import PageId, SetupWizard
from tests.conftest import require_tool
from tests.gui.helpers import Heartbeat, click_next, fill_account, make_wizard, run_to_check
from tests.gui.loopback import DEMO_LOGIN, DEMO_PASSWORD, DEMO_SIGNIN, LoopbackSite
from tests.servers.secret_service import GnomeKeyringService, HangingSecretService


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSite]:
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp("save"), dnsmasq=binary, tls="ca") as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "profiles")


@pytest.fixture
def purple(tmp_path: Path) -> Path:
    directory = tmp_path / "purple"
    directory.mkdir()
    return directory


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> PasswordVault:
    """No password store at all: keyring's fail backend, and no D-Bus session to find."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    return PasswordVault(keyring.backends.fail.Keyring())


def secret_service_vault() -> PasswordVault:
    return PasswordVault(keyring.backends.SecretService.Keyring())


def to_result_page(qtbot: QtBot, wizard: SetupWizard, password: str = DEMO_PASSWORD) -> None:
    """Account → Connection → Check (signed in) → Result."""
    fill_account(qtbot, wizard, signin=DEMO_SIGNIN, login=DEMO_LOGIN, password=password)
    with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000) as finished:
        run_to_check(qtbot, wizard)
    assert finished.args[0].verdict is Verdict.SIGNED_IN, finished.args[0].summary
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.RESULT
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert finish.isVisible() and finish.isEnabled()  # saving is optional


def to_save_page(qtbot: QtBot, wizard: SetupWizard, password: str = DEMO_PASSWORD) -> None:
    """… → Result → Save, once the page knows where the password can go."""
    to_result_page(qtbot, wizard, password)
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.SAVE
    wait_for_keyring(qtbot, wizard)


def wait_for_keyring(qtbot: QtBot, wizard: SetupWizard, timeout_ms: int = 15000) -> None:
    qtbot.waitUntil(lambda: not wizard.save_page.keyring_busy(), timeout=timeout_ms)


def press_save(qtbot: QtBot, wizard: SetupWizard) -> SaveOutcome:
    page = wizard.save_page
    assert page.save_button.isEnabled()
    with qtbot.waitSignal(page.saved, timeout=20000) as saved:
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    outcome = saved.args[0]
    assert isinstance(outcome, SaveOutcome)
    return outcome


# --- Save page ------------------------------------------------------------------------------


def test_save_with_keyring_and_export_to_pidgin(qtbot: QtBot, site: LoopbackSite,
                                                 store: ProfileStore, purple: Path,
                                                 secret_service: GnomeKeyringService) -> None:
    vault = secret_service_vault()
    wizard = make_wizard(qtbot, site, store=store, vault=vault, purple_dir=purple)
    to_save_page(qtbot, wizard)
    page = wizard.save_page
    assert page.name_edit.text() == "example.test"
    # A plan until Save is pressed: nothing is in the keyring yet.
    assert page.password_where.text() == ("The password will be saved in GNOME Keyring "
                                          "(Secret Service).")
    assert not page.without_password.isVisible()
    assert page.export_box.isChecked()
    assert page.purple_dir() == purple
    assert page.password_mode() is PasswordMode.KEYRING
    finish = wizard.button(QWizard.WizardButton.FinishButton)
    assert not finish.isEnabled()  # not before the user has seen the outcome

    page.name_edit.clear()
    qtbot.keyClicks(page.name_edit, "Work")
    outcome = press_save(qtbot, wizard)
    assert not outcome.error, outcome.error
    assert outcome.exported
    shown = page.outcome_view.toPlainText()
    assert page.outcome_view.isVisible()
    assert "Profile “Work” saved (validated)" in shown
    assert "Added the Pidgin account" in shown
    assert DEMO_PASSWORD not in shown
    assert page.password_where.text() == "Saved in GNOME Keyring (Secret Service)."
    assert finish.isEnabled()
    assert not page.save_button.isEnabled()  # done; an edit asks for another Save

    profile = store.load("Work")
    assert profile.password_stored and profile.validation is not None
    stored = vault.load(profile.id)
    assert stored is not None and stored.reveal() == DEMO_PASSWORD
    accounts = (purple / "accounts.xml").read_text(encoding="utf-8")
    assert f"<name>{DEMO_SIGNIN},{DEMO_LOGIN}</name>" in accounts
    assert "<password>" not in accounts and DEMO_PASSWORD not in accounts
    [account] = read_sipe_accounts(purple)
    assert account.password is None
    items = secret_service.items({"protocol": "prpl-sipe"})
    assert [item[2] for item in items] == [DEMO_PASSWORD.encode()]

    # The same name again: the page says it exists and offers to replace it.
    page.name_edit.clear()
    qtbot.keyClicks(page.name_edit, "example.test")
    assert not page.replace_check.isVisible()
    save_profile(store, vault, Profile.from_account(
        "example.test", parse_account(DEMO_SIGNIN)), None)
    page.name_edit.setText("example.test ")
    assert page.replace_check.isVisible()
    assert "exists already" in page.name_message.message()
    assert not page.save_button.isEnabled()
    page.replace_check.setChecked(True)
    assert page.save_button.isEnabled()
    qtbot.mouseClick(finish, Qt.MouseButton.LeftButton)
    assert not wizard.isVisible()


def test_no_keyring_offers_saving_without_the_password(
        qtbot: QtBot, site: LoopbackSite, store: ProfileStore, purple: Path,
        no_keyring: PasswordVault) -> None:
    wizard = make_wizard(qtbot, site, store=store, vault=no_keyring, purple_dir=purple)
    to_save_page(qtbot, wizard)
    page = wizard.save_page
    assert "cannot be saved" in page.password_where.text()
    assert page.without_password.isVisible() and page.dont_save.isChecked()
    assert not page.save_button.isEnabled()  # never a silent fallback
    assert page.password_mode() is PasswordMode.NONE  # Pidgin's keyring is unreachable too
    assert "keyring cannot be used" in page.mode_message.message()
    qtbot.mouseClick(page.without_password, Qt.MouseButton.LeftButton)
    assert page.save_button.isEnabled()

    outcome = press_save(qtbot, wizard)
    assert not outcome.error, outcome.error
    shown = page.outcome_view.toPlainText()
    assert "Password: not saved" in shown
    assert "Pidgin will ask for it" in shown
    profile = store.load("example.test")
    assert not profile.password_stored
    accounts = (purple / "accounts.xml").read_text(encoding="utf-8")
    assert DEMO_SIGNIN in accounts and "<password>" not in accounts


def test_locked_keyring_offers_saving_without_the_password(
        qtbot: QtBot, site: LoopbackSite, store: ProfileStore, purple: Path,
        secret_service: GnomeKeyringService) -> None:
    """Locked, and the unlock prompt is dismissed (there is no prompter on the test bus)."""
    secret_service.lock()
    wizard = make_wizard(qtbot, site, store=store, vault=secret_service_vault(),
                         purple_dir=purple)
    to_save_page(qtbot, wizard)
    page = wizard.save_page
    plan = page.password_where.text()
    assert plan.startswith("The password will be saved in GNOME Keyring (Secret Service)")
    assert "locked" in plan and "asked" in plan
    assert page.use_keyring.isVisible() and page.use_keyring.isChecked()
    assert page.without_password.isVisible()  # offered before anything fails
    assert page.save_button.isEnabled()
    assert page.password_mode() is PasswordMode.NONE  # Pidgin's keyring item: locked too

    outcome = press_save(qtbot, wizard)
    assert outcome.error
    assert outcome.keyring_problem is not None
    assert store.list() == []  # nothing half-done
    assert "not saved" in page.password_where.text()
    assert page.without_password.isVisible()
    assert page.status_message.message().startswith("Nothing was saved. ")
    assert "without the password" in page.status_message.message()
    assert not page.outcome_view.isVisible()  # said once, in the status line
    assert page.save_button.isEnabled()  # trying the keyring again stays possible

    qtbot.mouseClick(page.without_password, Qt.MouseButton.LeftButton)
    outcome = press_save(qtbot, wizard)
    assert not outcome.error, outcome.error
    assert "Password: not saved" in page.outcome_view.toPlainText()
    assert page.password_where.text().startswith("Not saved")
    profile = store.load("example.test")
    assert not profile.password_stored
    assert secret_service.collection_locked()
    assert (purple / "accounts.xml").exists()


@pytest.fixture
def hanging_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[PasswordVault]:
    """A Secret Service that never answers (a real D-Bus service on a private bus)."""
    require_tool("dbus-daemon")
    with HangingSecretService.start() as service:
        for name, value in service.env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SIPE_SETUP_KEYRING_TIMEOUT", "1")
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        for name in ("GNOME_KEYRING_CONTROL", "DISPLAY", "WAYLAND_DISPLAY"):
            monkeypatch.delenv(name, raising=False)
        yield secret_service_vault()


def test_hanging_keyring_never_blocks_the_wizard(qtbot: QtBot, site: LoopbackSite,
                                                 store: ProfileStore, purple: Path,
                                                 hanging_keyring: PasswordVault) -> None:
    wizard = make_wizard(qtbot, site, store=store, vault=hanging_keyring, purple_dir=purple)
    to_result_page(qtbot, wizard)
    page = wizard.save_page
    heartbeat = Heartbeat()
    heartbeat.start()
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.SAVE
    assert page.keyring_busy()
    assert "Checking your keyring" in page.password_where.text()
    assert not page.save_button.isEnabled()
    wait_for_keyring(qtbot, wizard, timeout_ms=8000)
    heartbeat.stop()
    assert heartbeat.ticks > 20
    assert heartbeat.worst < 0.05, f"GUI thread blocked for {heartbeat.worst * 1000:.0f} ms"

    assert "the keyring is not answering" in page.password_where.text()
    assert page.without_password.isVisible() and page.dont_save.isChecked()
    assert not page.save_button.isEnabled()
    assert page.password_mode() is PasswordMode.NONE
    assert "not answering" in page.mode_message.message()

    # Check again: still off the GUI thread, still the same answer.
    heartbeat = Heartbeat()
    heartbeat.start()
    qtbot.mouseClick(page.keyring_again, Qt.MouseButton.LeftButton)
    assert page.keyring_busy()
    wait_for_keyring(qtbot, wizard, timeout_ms=8000)
    heartbeat.stop()
    assert heartbeat.worst < 0.05, f"GUI thread blocked for {heartbeat.worst * 1000:.0f} ms"

    qtbot.mouseClick(page.without_password, Qt.MouseButton.LeftButton)
    outcome = press_save(qtbot, wizard)
    assert not outcome.error, outcome.error
    assert outcome.exported
    assert "Password: not saved" in page.outcome_view.toPlainText()
    assert not store.load("example.test").password_stored
    assert "<password>" not in (purple / "accounts.xml").read_text(encoding="utf-8")


def test_a_keyring_that_stops_answering_while_saving(
        qtbot: QtBot, site: LoopbackSite, store: ProfileStore, purple: Path,
        hanging_keyring: PasswordVault, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan said "will be saved", then the store hangs on Save: the choice, not a dead end."""
    from sipe_setup.core.secrets import VaultStatus

    monkeypatch.setattr(PasswordVault, "status", lambda self: VaultStatus(
        True, "Secret Service", ""))
    wizard = make_wizard(qtbot, site, store=store, vault=hanging_keyring, purple_dir=purple)
    to_save_page(qtbot, wizard)
    page = wizard.save_page
    assert page.password_where.text() == "The password will be saved in Secret Service."
    heartbeat = Heartbeat()
    heartbeat.start()
    outcome = press_save(qtbot, wizard)
    heartbeat.stop()
    assert heartbeat.worst < 0.05, f"GUI thread blocked for {heartbeat.worst * 1000:.0f} ms"
    assert outcome.keyring_problem is not None
    assert "The keyring is not answering" in outcome.error
    assert store.list() == []
    assert page.without_password.isVisible()
    qtbot.mouseClick(page.without_password, Qt.MouseButton.LeftButton)
    outcome = press_save(qtbot, wizard)
    assert not outcome.error, outcome.error
    assert not store.load("example.test").password_stored


def test_closing_while_the_keyring_is_checked(qtbot: QtBot, site: LoopbackSite,
                                             store: ProfileStore, purple: Path,
                                             hanging_keyring: PasswordVault) -> None:
    wizard = make_wizard(qtbot, site, store=store, vault=hanging_keyring, purple_dir=purple)
    to_result_page(qtbot, wizard)
    click_next(qtbot, wizard)
    assert wizard.save_page.keyring_busy()
    heartbeat = Heartbeat()
    heartbeat.start()
    wizard.close()
    qtbot.wait(1500)  # the checks end on their own, after the window is gone
    heartbeat.stop()
    assert heartbeat.worst < 0.05, f"GUI thread blocked for {heartbeat.worst * 1000:.0f} ms"
    assert not wizard.isVisible()


def test_cleartext_only_after_the_warning(qtbot: QtBot, site: LoopbackSite,
                                          store: ProfileStore, purple: Path,
                                          no_keyring: PasswordVault) -> None:
    wizard = make_wizard(qtbot, site, store=store, vault=no_keyring, purple_dir=purple)
    to_save_page(qtbot, wizard)
    page = wizard.save_page
    page.mode_combo.setCurrentIndex(2)  # "In plain text …"
    box = page.cleartext_box
    assert box is not None
    qtbot.waitUntil(box.isVisible)
    assert "plain text" in box.text()
    assert page.password_mode() is PasswordMode.NONE  # not until the warning is accepted
    keep = box.escapeButton()
    assert keep is not None
    qtbot.mouseClick(keep, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.cleartext_box is None)
    assert page.password_mode() is PasswordMode.NONE

    page.mode_combo.setCurrentIndex(2)
    box = page.cleartext_box
    assert box is not None
    qtbot.waitUntil(box.isVisible)
    accept = box.findChild(type(keep), "accept-cleartext")
    assert accept is not None
    qtbot.mouseClick(accept, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.password_mode() is PasswordMode.CLEARTEXT)

    qtbot.mouseClick(page.without_password, Qt.MouseButton.LeftButton)
    outcome = press_save(qtbot, wizard)
    assert not outcome.error, outcome.error
    assert "saved in plain text in accounts.xml" in page.outcome_view.toPlainText()
    [account] = read_sipe_accounts(purple)
    assert account.password is not None and account.password.reveal() == DEMO_PASSWORD


def _start_fake_finch(qtbot: QtBot, tmp_path: Path, purple: Path) -> subprocess.Popen[bytes]:
    script = tmp_path / "bin" / "finch"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(60)\n")
    script.chmod(0o755)
    process = subprocess.Popen([str(script), "-c", str(purple)])
    qtbot.waitUntil(lambda: bool(find_running_clients(purple)), timeout=10000)
    return process


def test_pidgin_running_blocks_the_export(qtbot: QtBot, site: LoopbackSite,
                                          store: ProfileStore, purple: Path, tmp_path: Path,
                                          no_keyring: PasswordVault) -> None:
    finch = _start_fake_finch(qtbot, tmp_path, purple)
    try:
        wizard = make_wizard(qtbot, site, store=store, vault=no_keyring, purple_dir=purple)
        to_save_page(qtbot, wizard)
        page = wizard.save_page
        assert "Finch" in page.folder_message.message()
        assert "Quit Pidgin" in page.folder_message.message()
        assert page.running_again.isVisible()
        qtbot.mouseClick(page.without_password, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)  # refused at once
        assert page.worker is None
        assert "Nothing was written" in page.status_message.message()
        assert "Finch" not in page.status_message.message()  # named once, under the folder
        assert not (purple / "accounts.xml").exists()
        assert store.list() == []
    finally:
        finch.kill()
        finch.wait(5)
    qtbot.mouseClick(page.running_again, Qt.MouseButton.LeftButton)
    assert page.folder_message.kind is not None  # "no accounts.xml yet", not an error
    assert "Finch" not in page.folder_message.message()
    outcome = press_save(qtbot, wizard)
    assert outcome.exported and not outcome.error
    assert (purple / "accounts.xml").exists()


# --- Start page ------------------------------------------------------------------------------


def test_start_with_an_existing_pidgin_account(qtbot: QtBot, purple: Path, tmp_path: Path,
                                               store: ProfileStore,
                                               no_keyring: PasswordVault) -> None:
    export_account(purple, SipeAccountEntry(
        signin="bob@example.test", login="EXAMPLE\\bob", server="sip.example.test:5061",
        transport="tls", authentication="ntlm"), password_mode=PasswordMode.CLEARTEXT,
        password=Secret("Bobs-Pw-1"))
    broken = tmp_path / "broken-purple"
    broken.mkdir()
    (broken / "accounts.xml").write_text("<account><oops", encoding="utf-8")

    wizard = make_wizard(qtbot, start_page=True, store=store, vault=no_keyring,
                         purple_dir=broken)
    assert wizard.currentId() == PageId.START
    page = wizard.start_page
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()  # New setup
    qtbot.mouseClick(page.buttons[StartWay.PIDGIN], Qt.MouseButton.LeftButton)
    assert "Nothing was changed" in page.pidgin_message.message()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()

    page.set_purple_dir(purple)
    assert page.pidgin_list.count() == 1
    assert "plain text" in page.pidgin_list.item(0).text()
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.ACCOUNT
    account_page = wizard.account_page
    assert account_page.signin_edit.text() == "bob@example.test"
    assert account_page.login_edit.text() == "EXAMPLE\\bob"
    assert account_page.password_edit.text() == "Bobs-Pw-1"  # in memory, from accounts.xml
    assert "plain text" in account_page.banner.text() and account_page.banner.isVisible()
    assert wizard.state.text(Field.SERVER) == "sip.example.test:5061"
    assert wizard.state.text(Field.AUTH) == "ntlm"
    assert wizard.save_page.purple_dir() == purple  # the repaired account goes back there


def test_start_with_a_saved_profile(qtbot: QtBot, store: ProfileStore,
                                    secret_service: GnomeKeyringService) -> None:
    vault = secret_service_vault()
    profile = Profile.from_account("Office", parse_account(
        "carol@example.test", login="carol@example.test", transport="tls"))
    save_profile(store, vault, profile, Secret("Carols-Pw-2"))
    (store.directory / "broken.json").write_text("{not json", encoding="utf-8")

    wizard = make_wizard(qtbot, start_page=True, store=store, vault=vault)
    page = wizard.start_page
    page.choose(StartWay.PROFILE)
    texts = [page.profile_list.item(i).text() for i in range(page.profile_list.count())]
    assert len(texts) == 2
    broken = page.profile_list.item(texts.index(next(t for t in texts if "broken" in t)))
    assert "cannot be used" in broken.text()
    assert not broken.flags() & Qt.ItemFlag.ItemIsEnabled
    assert page.select_profile("Office")
    click_next(qtbot, wizard)  # the password is read from the keyring in the background
    qtbot.waitUntil(lambda: wizard.currentId() == PageId.ACCOUNT, timeout=10000)
    account_page = wizard.account_page
    assert account_page.signin_edit.text() == "carol@example.test"
    assert account_page.password_edit.text() == "Carols-Pw-2"
    assert wizard.state.text(Field.TRANSPORT) == "tls"
    assert wizard.state.profile_name == "Office"
    assert "Secret Service" in account_page.banner.text()


def test_a_saved_profile_with_a_hanging_keyring(qtbot: QtBot, store: ProfileStore,
                                                hanging_keyring: PasswordVault) -> None:
    profile = dataclasses.replace(Profile.from_account("Office", parse_account(
        "carol@example.test")), password_stored=True, password_where="Secret Service")
    store.save(profile)
    wizard = make_wizard(qtbot, start_page=True, store=store, vault=hanging_keyring)
    page = wizard.start_page
    page.choose(StartWay.PROFILE)
    assert page.select_profile("Office")
    heartbeat = Heartbeat()
    heartbeat.start()
    click_next(qtbot, wizard)
    assert wizard.currentId() == PageId.START
    assert "Reading the password from the keyring" in page.profile_message.message()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    qtbot.waitUntil(lambda: wizard.currentId() == PageId.ACCOUNT, timeout=8000)
    heartbeat.stop()
    assert heartbeat.ticks > 20
    assert heartbeat.worst < 0.05, f"GUI thread blocked for {heartbeat.worst * 1000:.0f} ms"
    account_page = wizard.account_page
    assert account_page.signin_edit.text() == "carol@example.test"
    assert account_page.password_edit.text() == ""
    assert "could not be read from the keyring" in account_page.banner.text()
    assert "The keyring is not answering" in account_page.banner.text()


def _fingerprint(site: LoopbackSite) -> str:
    pem = next((site.directory / "self-signed").glob("*.pem"))
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def test_start_with_a_settings_file(qtbot: QtBot, tmp_path: Path,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{\"format\": \"something else\"}", encoding="utf-8")
    binary = require_tool("dnsmasq")
    with LoopbackSite(tmp_path_factory.mktemp("trusted"), dnsmasq=binary,
                      tls="self-signed") as self_signed:
        good = tmp_path / "contoso.json"
        good.write_text(json.dumps({
            "format": "sipe-setup-settings", "version": 1, "organization": "Example IT",
            "sip_domain": "example.test", "transport": "tls", "auth": "ntlm",
            "login_pattern": "EXAMPLE\\{user}", "note": "Call 1234 for help",
            "certificate": {"host": "sip.example.test", "sha256": _fingerprint(self_signed)},
        }), encoding="utf-8")
        wizard = make_wizard(qtbot, self_signed, start_page=True, remember=False)
        page = wizard.start_page
        page.choose(StartWay.SETTINGS)
        assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
        page.load_settings_file(bad)
        assert "cannot be used" in page.settings_message.message()
        assert "not a sipe-setup settings file" in page.settings_message.message()
        assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
        page.load_settings_file(good)
        assert "Example IT" in page.settings_message.message()
        assert "Call 1234" in page.settings_message.message()
        click_next(qtbot, wizard)
        assert wizard.currentId() == PageId.ACCOUNT
        assert wizard.state.text(Field.TRANSPORT) == "tls"
        assert "Example IT" in wizard.account_page.banner.text()
        # The Login follows the address through IT's pattern.
        qtbot.keyClicks(wizard.account_page.signin_edit, DEMO_SIGNIN)
        assert wizard.account_page.login_edit.text() == DEMO_LOGIN
        qtbot.keyClicks(wizard.account_page.password_edit, DEMO_PASSWORD)
        # IT's certificate is trusted: no question about the self-signed certificate.
        asked: list[object] = []
        wizard.check_page.trust_dialog_shown.connect(asked.append)
        with qtbot.waitSignal(wizard.check_page.check_finished, timeout=20000) as finished:
            run_to_check(qtbot, wizard)
        assert finished.args[0].verdict is Verdict.SIGNED_IN, finished.args[0].summary
        assert asked == []


def test_command_line_ways_in_skip_the_start_page(qtbot: QtBot, tmp_path: Path,
                                                  no_keyring: PasswordVault) -> None:
    settings = tmp_path / "it.json"
    settings.write_text(json.dumps({"format": "sipe-setup-settings", "version": 1,
                                    "server": "sip.example.test", "auth": "ntlm"}),
                        encoding="utf-8")
    save_profile(ProfileStore(), no_keyring, Profile.from_account(
        "Home", parse_account("dave@example.test")), None)
    cases = {
        ("--signin", "erin@example.test"): ("erin@example.test", ""),
        ("--settings-file", str(settings), "--signin", "frank@example.test"):
            ("frank@example.test", "sip.example.test"),
        ("--profile", "Home"): ("dave@example.test", ""),
    }
    for argv, (signin, server) in cases.items():
        args = gui_app.build_parser().parse_args(list(argv))
        wizard = gui_app.make_wizard(args, settings_enabled=False)
        qtbot.addWidget(wizard)
        wizard.show()
        assert wizard.currentId() == PageId.ACCOUNT, argv
        assert wizard.state.text(Field.SIGNIN) == signin
        assert wizard.state.text(Field.SERVER) == server
    args = gui_app.build_parser().parse_args([])
    wizard = gui_app.make_wizard(args, settings_enabled=False)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.currentId() == PageId.START
    with pytest.raises(SystemExit, match="--profile"):
        gui_app.make_wizard(gui_app.build_parser().parse_args(["--profile", "Nope"]), False)
    with pytest.raises(SystemExit, match="--settings-file"):
        gui_app.make_wizard(gui_app.build_parser().parse_args(
            ["--settings-file", str(tmp_path / "missing.json")]), False)
