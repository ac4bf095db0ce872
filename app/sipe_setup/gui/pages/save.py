"""Page 5, *Save*: keep the working setup as a profile (password in the keyring) and export it
to Pidgin.

Reached only after a check that signed in. Everything that can refuse (name taken, no keyring,
Pidgin running) is checked before anything is written, and again when Save is pressed; the
work itself is done by ``core.profile_actions`` in a thread (:mod:`.save_job`), and its
messages (the same the CLI prints) stay on the page until the user presses Finish.

The keyring is never asked on the GUI thread: entering the page (and *Check again*) starts a
look in the background (:mod:`..keyring_bridge`); until it answers the Password row says
"Checking your keyring …" and Save waits. The row shows a plan before Save and the outcome
after it (:mod:`.save_password`); a keyring that is locked, dismissed or not answering leads to
the choice of saving without the password, never to a dead end.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from sipe_setup.core.pidgin import (
    PasswordMode,
    PidginRunning,
    default_purple_dir,
    find_running_clients,
    keyring_plugin_path,
)
from sipe_setup.core.profiles import (
    Profile,
    ProfileError,
    ProfileStore,
    validate_profile_name,
)
from sipe_setup.core.secrets import PasswordVault, VaultStatus

from ..background import BackgroundCall
from ..bitlbee_dialog import BitlbeeButton
from ..keyring_bridge import KeyringChecker, KeyringLook
from ..pidgin_launch import pidgin_command, start_pidgin
from ..readiness_box import ReadinessBox
from ..state import WizardState
from ..widgets import (
    FieldMessage,
    MessageKind,
    add_field_row,
    hint_label,
    home_relative,
    scroll_body,
)
from .save_job import SaveJob, SaveOutcome
from .save_password import PasswordRow, cleartext_warning

__all__ = ["SaveOutcome", "SavePage"]

_MODES = (PasswordMode.KEYRING, PasswordMode.NONE, PasswordMode.CLEARTEXT)


class SavePage(QWizardPage):
    """Profile name, where the password goes, and the export to Pidgin; then Save, then Finish.

    Args:
        store: where profiles are kept (tests point it at a temp dir).
        vault: sipe-setup's password store.
        purple_dir: Pidgin's settings folder offered first (default ``~/.purple``).
    """

    saved = Signal(object)  # SaveOutcome, after every press of Save that got to work
    keyring_checked = Signal()  # the look at the keyrings answered (the page shows it)

    def __init__(self, state: WizardState, store: ProfileStore, vault: PasswordVault,
                 purple_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.store = store
        self.vault = vault
        self.setObjectName("save-page")
        self.setTitle(self.tr("Save and export to Pidgin"))
        self.setSubTitle(self.tr(
            "Keep these working settings as a profile, with the password in your keyring, "
            "and put the account into Pidgin."))
        self.vault_status = VaultStatus(False, "", "")
        self.pidgin_keyring: VaultStatus | None = None  # None: still being looked at
        self.keyring = KeyringChecker(vault, self)
        self.keyring.checked.connect(self._keyring_looked)
        self._mode_picked = False  # the user chose Pidgin's password mode: keep it
        self.cleartext_confirmed = False
        self.cleartext_box: QMessageBox | None = None
        self.outcome: SaveOutcome | None = None
        self.worker: BackgroundCall | None = None
        self._saved_profile: Profile | None = None  # kept when only the export failed
        self._mode_index = 0
        self._done = False  # the last Save did everything asked; an edit asks for a new one

        outer = QVBoxLayout(scroll_body(self))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        holder = QWidget(self)
        holder.setLayout(form)
        outer.addWidget(holder)

        # --- the profile name -------------------------------------------------------------
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("profile-name")
        self.name_edit.setClearButtonEnabled(True)
        name_box = QWidget(self)
        name_column = QVBoxLayout(name_box)
        name_column.setContentsMargins(0, 0, 0, 0)
        name_column.setSpacing(2)
        name_column.addWidget(self.name_edit)
        self.replace_check = QCheckBox(self.tr("&Replace the existing profile"), name_box)
        self.replace_check.setObjectName("replace-profile")
        self.replace_check.hide()
        name_column.addWidget(self.replace_check)
        row = add_field_row(form, self.tr("Profile &name:"), name_box, self.name_edit, self.tr(
            "<b>Profile name</b>: how this setup is called in sipe-setup, for example "
            "<tt>Work</tt>. <tt>sipe-setup profiles list</tt> shows your profiles; the wizard "
            "can open one again to check or repair it."), topic=self.tr("Profile name"))
        self.name_message = row.message

        # --- where the password goes ------------------------------------------------------
        self.password_row = PasswordRow(self)
        self.password_where = self.password_row.where
        self.keyring_again = self.password_row.keyring_again
        self.use_keyring = self.password_row.use_keyring
        self.without_password = self.password_row.without_password
        self.dont_save = self.password_row.dont_save
        self.password_row.check_again.connect(self.refresh_keyring)
        self.password_row.changed.connect(self._update_save_button)
        where_label = QLabel(self.tr("Password:"), self)
        where_label.setBuddy(self.password_where)
        form.addRow(where_label, self.password_row)

        # --- export to Pidgin -------------------------------------------------------------
        self.export_box = QGroupBox(self.tr("&Export to Pidgin"), self)
        self.export_box.setObjectName("export-to-pidgin")
        self.export_box.setCheckable(True)
        self.export_box.setChecked(True)
        self.export_box.setAccessibleName(self.tr("Export to Pidgin"))
        self.export_box.setToolTip(self.tr(
            "Add the account to Pidgin's accounts.xml (or update it), keeping a backup of the "
            "old file."))
        self.export_box.toggled.connect(lambda _on: self._refresh_export())
        export_form = QFormLayout(self.export_box)
        export_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.folder_edit = QLineEdit(self.export_box)
        self.folder_edit.setObjectName("purple-dir")
        self.folder_edit.setText(home_relative(str(purple_dir or default_purple_dir())))
        self.folder_edit.editingFinished.connect(self._refresh_export)
        self.choose_folder = QPushButton(self.tr("C&hoose…"), self.export_box)
        self.choose_folder.setObjectName("choose-purple-dir")
        self.choose_folder.setAccessibleName(self.tr("Choose Pidgin's settings folder"))
        self.choose_folder.clicked.connect(self._ask_folder)
        self.running_again = QPushButton(self.tr("Check &again"), self.export_box)
        self.running_again.setObjectName("pidgin-check-again")
        self.running_again.setAccessibleName(self.tr("Check again whether Pidgin is running"))
        self.running_again.clicked.connect(self._refresh_export)
        folder_row = QWidget(self.export_box)
        folder_line = QHBoxLayout(folder_row)
        folder_line.setContentsMargins(0, 0, 0, 0)
        folder_line.addWidget(self.folder_edit, 1)
        folder_line.addWidget(self.choose_folder)
        folder_line.addWidget(self.running_again)
        row = add_field_row(export_form, self.tr("Pidgin f&older:"), folder_row,
                            self.folder_edit, self.tr(
            "<b>Pidgin folder</b>: where Pidgin and Finch keep their settings "
            "(<tt>accounts.xml</tt>), normally <tt>~/.purple</tt>. Quit Pidgin before "
            "exporting: it rewrites the file when it quits."), topic=self.tr("Pidgin folder"))
        self.folder_message = row.message

        self.mode_combo = QComboBox(self.export_box)
        self.mode_combo.setObjectName("password-mode")
        self.mode_combo.addItem(self.tr("In the keyring (read by the pidgin-gnome-keyring "
                                        "plugin)"), PasswordMode.KEYRING.value)
        self.mode_combo.addItem(self.tr("Nowhere: Pidgin asks for it when it signs in"),
                                PasswordMode.NONE.value)
        self.mode_combo.addItem(self.tr("In plain text in accounts.xml (not recommended)"),
                                PasswordMode.CLEARTEXT.value)
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        row = add_field_row(export_form, self.tr("Pidgin's &password:"), self.mode_combo,
                            self.mode_combo, self.tr(
            "<b>Where Pidgin finds the password</b>. <b>Keyring</b>: in your desktop's "
            "keyring, read by the <i>pidgin-gnome-keyring</i> plugin (Debian/Ubuntu: "
            "<tt>sudo apt install pidgin-gnome-keyring</tt>). <b>Nowhere</b>: Pidgin asks "
            "each time it signs in. <b>Plain text</b>: Pidgin 2 keeps it unencrypted in "
            "accounts.xml, readable by anyone who can read your files or their backups."),
                            topic=self.tr("Pidgin's password"))
        self.mode_message = row.message
        outer.addWidget(self.export_box)
        self.readiness_box = ReadinessBox(self)  # Pidgin on this computer (core.readiness)
        outer.addWidget(self.readiness_box)

        # --- save, and what it did --------------------------------------------------------
        actions = QHBoxLayout()
        self.save_button = QPushButton(self.tr("&Save"), self)
        self.save_button.setObjectName("save-profile")
        self.save_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_DialogSaveButton))
        self.save_button.setDefault(False)
        self.save_button.clicked.connect(self.start_save)
        actions.addWidget(self.save_button)
        self.launch_button = QPushButton(self.tr("Laun&ch Pidgin"), self)
        self.launch_button.setObjectName("launch-pidgin")
        self.launch_button.setToolTip(self.tr("Start Pidgin with the account just exported"))
        self.launch_button.clicked.connect(self.launch_pidgin)
        self.launch_button.hide()  # after an export, when Pidgin can be started from here
        actions.addWidget(self.launch_button)
        self.save_hint = hint_label(self.tr(
            "Finish closes the wizard once the profile is saved; Cancel closes it without "
            "saving."), self)
        actions.addWidget(self.save_hint, 1)
        self.bitlbee_button = BitlbeeButton(self.state, self)  # the commands, to copy
        actions.addWidget(self.bitlbee_button)
        outer.addLayout(actions)
        self.status_message = FieldMessage(self)
        self.status_message.setObjectName("save-status")
        outer.addWidget(self.status_message)
        self.outcome_view = QPlainTextEdit(self)
        self.outcome_view.setObjectName("save-outcome")
        self.outcome_view.setReadOnly(True)
        self.outcome_view.setAccessibleName(self.tr("What was saved"))
        self.outcome_view.setTabChangesFocus(True)
        self.outcome_view.hide()
        outer.addWidget(self.outcome_view, 1)
        outer.addStretch(0)

        self.name_edit.textChanged.connect(self._name_changed)
        self.replace_check.toggled.connect(self._update_save_button)
        for signal in (self.name_edit.textEdited, self.export_box.toggled,
                       self.folder_edit.textEdited, self.mode_combo.currentIndexChanged,
                       self.replace_check.toggled):
            signal.connect(self._edited)

    def _edited(self, *_args: object) -> None:
        if self._done:
            self._done = False
            if self._saved_profile is None:  # a new Save: the plan again, not the outcome
                self._show_plan()
            self._update_save_button()

    # --- entering the page --------------------------------------------------------------------

    def initializePage(self) -> None:
        """Defaults from the check: the profile name, the keyring, Pidgin's state."""
        self._saved_profile = None
        self._done = False
        self.outcome = None
        self.outcome_view.clear()
        self.outcome_view.hide()
        self.launch_button.hide()
        self.status_message.clear()
        self.name_edit.setText(self.default_name())
        if self.state.profile_name and self.name_edit.text() == self.state.profile_name:
            self.replace_check.setChecked(True)  # opened to check this profile again
        self._mode_picked = False
        self.refresh_keyring()
        self._refresh_export()
        self.readiness_box.refresh_for(self.state, self.purple_dir())
        self.name_edit.setFocus()

    def default_name(self) -> str:
        """The profile the wizard was opened with, else the SIP domain, else "Work"."""
        if self.state.profile_name:
            return self.state.profile_name
        account = self.state.last_account
        return account.sip_domain if account is not None else self.tr("Work")

    @property
    def sso(self) -> bool:
        """The checked account uses Single Sign-On (no password anywhere)."""
        account = self.state.last_account
        return bool(account and account.sso)

    def isComplete(self) -> bool:
        """Finish only once the profile is saved (the user has seen what happened)."""
        return self._saved_profile is not None and self.worker is None

    def cleanupPage(self) -> None:
        """Going Back waits for a save in progress (it cannot be cancelled halfway)."""
        self.stop_and_wait()

    def stop_and_wait(self, timeout_ms: int = 30000) -> None:
        """Wait for a running save (the wizard is closing); a keyring look is just dropped
        (it ends on its own, within the keyring's time limit)."""
        self.keyring.cancel()
        self.readiness_box.cancel()
        if self.worker is not None:
            self.worker.wait(timeout_ms)

    # --- the name -----------------------------------------------------------------------------

    def _name_changed(self) -> None:
        self.name_problem()
        self._update_save_button()

    def name_problem(self) -> str:
        """Check the name as typed; shows the message and returns the blocking problem."""
        try:
            name = validate_profile_name(self.name_edit.text())
        except ProfileError as exc:
            self.replace_check.hide()
            self.name_message.show_message(MessageKind.ERROR, str(exc))
            self.name_edit.setAccessibleDescription(str(exc))
            return str(exc)
        exists = self.store.path_for(name).exists()
        same_as_saved = (self._saved_profile is not None
                         and self.store.path_for(self._saved_profile.name)
                         == self.store.path_for(name))
        self.replace_check.setVisible(exists and not same_as_saved)
        problem = ""
        if exists and not same_as_saved:
            text = self.tr("A profile “%1” exists already: tick Replace, or choose another "
                           "name.").replace("%1", name)
            self.name_message.show_message(MessageKind.WARNING, text)
            self.replace_check.setAccessibleDescription(text)
            if not self.replace_check.isChecked():
                problem = text
        else:
            self.name_message.clear()
        self.name_edit.setAccessibleDescription(self.name_message.message())
        return problem

    # --- the password -------------------------------------------------------------------------

    def refresh_keyring(self) -> None:
        """Find out (again), off the GUI thread, where the password can go; say it when known."""
        self.pidgin_keyring = None
        self.keyring.start()
        self._show_plan()
        self._refresh_modes()
        self._update_save_button()

    def keyring_busy(self) -> bool:
        """The page is still waiting for the keyring's answer."""
        return self.keyring.busy()

    def _keyring_looked(self, look: KeyringLook) -> None:
        self.vault_status = look.vault
        self.pidgin_keyring = look.pidgin
        if self._saved_profile is None:
            self._show_plan()
        if not self._mode_picked:
            self._choose_default_mode()
        self._refresh_modes()
        self._update_save_button()
        self.keyring_checked.emit()

    def _show_plan(self) -> None:
        if self.sso:
            self.password_row.show_sso()
        elif self.keyring.busy():
            self.password_row.show_checking()
        else:
            self.password_row.show_status(self.vault_status)

    def keyring_choice_needed(self) -> bool:
        """Save has to wait: the keyring is being looked at, or it cannot take the password
        and the user has not chosen to go on without it."""
        return not self.sso and self.password_row.blocks_saving()

    # --- Pidgin -------------------------------------------------------------------------------

    def purple_dir(self) -> Path:
        """The Pidgin folder as typed (``~`` expanded)."""
        return Path(self.folder_edit.text().strip() or str(default_purple_dir())).expanduser()

    def _ask_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(
            self, self.tr("Pidgin's settings folder"), str(self.purple_dir()),
            QFileDialog.Option.ShowDirsOnly | QFileDialog.Option.DontResolveSymlinks)
        if chosen:
            self.set_purple_dir(Path(chosen))

    def set_purple_dir(self, path: Path) -> None:
        """Use this Pidgin folder (the folder chooser and tests)."""
        self.folder_edit.setText(home_relative(str(path)))
        self._refresh_export()

    def pidgin_running_message(self) -> str:
        """Which Pidgin/Finch uses the folder now, in plain words ("" when none)."""
        if not self.export_box.isChecked():
            return ""
        running = find_running_clients(self.purple_dir())
        return str(PidginRunning(running)) if running else ""

    def _refresh_export(self) -> None:
        running = self.pidgin_running_message()
        if running:
            self.folder_message.show_message(MessageKind.ERROR, home_relative(running))
        elif self.export_box.isChecked() and not (self.purple_dir() / "accounts.xml").exists():
            self.folder_message.show_message(MessageKind.INFO, self.tr(
                "There is no accounts.xml here yet; it will be created."))
        else:
            self.folder_message.clear()
        self.running_again.setVisible(bool(running))
        self.folder_edit.setAccessibleDescription(self.folder_message.message())
        self._refresh_modes()
        self._update_save_button()

    def password_mode(self) -> PasswordMode:
        """The password mode chosen for Pidgin."""
        return PasswordMode(str(self.mode_combo.currentData()))

    def set_password_mode(self, mode: PasswordMode) -> None:
        """Choose a mode (cleartext still asks first)."""
        self.mode_combo.setCurrentIndex(_MODES.index(mode))

    def _choose_default_mode(self) -> None:
        usable = not self.sso and self.pidgin_keyring is not None and self.pidgin_keyring.usable
        self.mode_combo.blockSignals(True)
        self._mode_index = _MODES.index(PasswordMode.KEYRING if usable else PasswordMode.NONE)
        self.mode_combo.setCurrentIndex(self._mode_index)
        self.mode_combo.blockSignals(False)
        self._refresh_modes()

    def _refresh_modes(self) -> None:
        model = self.mode_combo.model()
        assert isinstance(model, QStandardItemModel)
        pidgin = self.pidgin_keyring
        keyring_ok = pidgin is not None and pidgin.usable and not self.sso
        for mode in (PasswordMode.KEYRING, PasswordMode.CLEARTEXT):
            item = model.item(_MODES.index(mode))
            item.setEnabled(not self.sso and (mode is not PasswordMode.KEYRING or keyring_ok))
        self.mode_combo.setEnabled(not self.sso)
        mode = self.password_mode()
        note, kind = "", MessageKind.INFO
        if self.sso:
            note = self.tr("Single Sign-On: Pidgin needs no password.")
        elif pidgin is None:
            note = self.tr("Checking whether Pidgin can use your keyring …")
        elif not pidgin.usable:
            note = self.tr("The keyring cannot be used for Pidgin: %1.").replace(
                "%1", pidgin.reason.rstrip(".") or self.tr("not available"))
            kind = MessageKind.WARNING
        elif mode is PasswordMode.KEYRING and keyring_plugin_path() is None:
            note = self.tr("The pidgin-gnome-keyring plugin is not installed, so Pidgin "
                           "cannot read the keyring and will ask for the password: install "
                           "pidgin-gnome-keyring (Debian/Ubuntu: sudo apt install "
                           "pidgin-gnome-keyring).")
            kind = MessageKind.WARNING
        elif mode is PasswordMode.CLEARTEXT:
            note = self.tr("The password will be readable in accounts.xml, as you chose.")
            kind = MessageKind.WARNING
        if note:
            self.mode_message.show_message(kind, note)
        else:
            self.mode_message.clear()
        self.mode_combo.setAccessibleDescription(note)

    def _mode_changed(self, index: int) -> None:
        if _MODES[index] is PasswordMode.CLEARTEXT and not self.cleartext_confirmed:
            self.mode_combo.blockSignals(True)
            self.mode_combo.setCurrentIndex(self._mode_index)
            self.mode_combo.blockSignals(False)
            self.ask_cleartext()
            return
        self._mode_index = index
        self._mode_picked = True
        self._refresh_modes()

    def ask_cleartext(self) -> None:
        """The warning that must be accepted before the password goes into accounts.xml."""
        box, accept = cleartext_warning(self)

        def answered() -> None:
            if box.clickedButton() is accept:
                self.cleartext_confirmed = True
                self.set_password_mode(PasswordMode.CLEARTEXT)
            self.cleartext_box = None
            box.deleteLater()

        box.finished.connect(answered)
        self.cleartext_box = box
        box.open()

    # --- saving -------------------------------------------------------------------------------

    def _update_save_button(self) -> None:
        blocked = (self._done or self.worker is not None or self.state.last_result is None
                   or not self.state.last_result.ok or self.keyring_choice_needed()
                   or bool(self.name_problem_quiet()))
        self.save_button.setEnabled(not blocked)
        if self._saved_profile is not None and self.outcome is not None \
                and not self.outcome.exported and self.export_box.isChecked():
            self.save_button.setText(self.tr("&Try the export again"))
        else:
            self.save_button.setText(self.tr("&Save"))

    def name_problem_quiet(self) -> str:
        """The blocking name problem without changing what is shown."""
        try:
            name = validate_profile_name(self.name_edit.text())
        except ProfileError as exc:
            return str(exc)
        if self._saved_profile is not None and (self.store.path_for(self._saved_profile.name)
                                                == self.store.path_for(name)):
            return ""
        if self.store.path_for(name).exists() and not self.replace_check.isChecked():
            return "exists"
        return ""

    def start_save(self) -> None:
        """Check everything again, then save (and export) in a thread."""
        if self.worker is not None:
            return
        result, account = self.state.last_result, self.state.last_account
        if result is None or account is None or not result.ok:
            self._show_error(self.tr("Only a setup whose test sign-in worked can be saved. Go "
                                     "back, fix what the Result page said, and test again."))
            return
        if self.name_problem():
            self.name_edit.setFocus()
            return
        if self.keyring_choice_needed() and self._saved_profile is None:
            self._show_error(self.tr("Nothing was saved: choose to save without the password, "
                                     "or make the keyring work and press Check again."))
            return
        running = self.pidgin_running_message()
        self._refresh_export()
        if running and (self._saved_profile is None or self.export_box.isChecked()):
            # Which Pidgin runs is said once, under the folder; here only what happened.
            self._show_error(self.tr("Nothing was written: quit Pidgin first (see Pidgin "
                                     "folder above), then press Check again."))
            return
        try:
            profile = self._saved_profile or Profile.from_account(
                validate_profile_name(self.name_edit.text()), account, result)
        except ProfileError as exc:
            self._show_error(str(exc))
            return
        job = SaveJob(
            store=self.store, vault=self.vault, profile=profile,
            already_saved=self._saved_profile is not None,
            password=None if account.sso else (self.state.password or None),
            replace_existing=self.replace_check.isChecked(),
            keep_password_out=self.password_row.without_chosen(),
            export=self.export_box.isChecked(), purple_dir=self.purple_dir(),
            mode=self.password_mode())
        worker = BackgroundCall(job.run, self)
        worker.outcome.connect(self._on_saved, Qt.ConnectionType.QueuedConnection)
        self.worker = worker
        self.status_message.show_message(MessageKind.INFO, self.tr("Saving …"))
        self._update_save_button()
        self.completeChanged.emit()
        worker.start()

    def launch_pidgin(self) -> None:
        """Start Pidgin on the folder the account went to (detached; it outlives us)."""
        if start_pidgin(self.purple_dir()):
            self.status_message.show_message(MessageKind.INFO, self.tr(
                "Pidgin is starting and signs in with the account; Finish closes this "
                "window."))
        else:
            self._show_error(self.tr("Pidgin could not be started from here; start it "
                                     "yourself."))

    def _show_error(self, text: str) -> None:
        self.status_message.show_message(MessageKind.ERROR, text)
        self.status_message.setAccessibleDescription(text)

    def _on_saved(self, value: object) -> None:
        worker = self.worker
        if worker is not None:
            worker.wait()
            worker.deleteLater()
        self.worker = None
        if not isinstance(value, SaveOutcome):  # a bug, not a refusal: still say it plainly
            value = SaveOutcome(error=self.tr("Saving failed unexpectedly: %1").replace(
                "%1", f"{type(value).__name__}: {value}"))
        self.outcome = value
        self._done = not value.error
        if value.profile is not None:
            self._saved_profile = value.profile
        if value.password_note:
            self.password_row.show_outcome(value.password_note)
        elif value.keyring_problem is not None:
            self.password_row.show_failure(value.keyring_problem)
        lines = list(value.lines)
        if value.error and value.keyring_problem is None and not value.pidgin_running:
            lines.append(value.error)  # said once, below; a running Pidgin under the folder
        self.outcome_view.setPlainText(home_relative("\n".join(lines)))
        self.outcome_view.setVisible(bool(lines))
        if value.keyring_problem is not None:  # the row above now offers the way on
            self._show_error(self.tr("Nothing was saved. %1").replace(
                "%1", str(value.keyring_problem)))
        elif value.pidgin_running:
            self._refresh_export()  # the folder's message names the running Pidgin
            self._show_error(self.tr("Saved, but not exported: quit Pidgin first (see Pidgin "
                                     "folder above), then press Try the export again."))
        elif value.error:
            self._show_error(value.error)
        elif value.exported and pidgin_command(self.purple_dir()) is not None:
            self.launch_button.show()
            self.status_message.show_message(MessageKind.INFO, self.tr(
                "Saved and exported. Launch Pidgin to sign in with it; Finish closes this "
                "window."))
        elif value.exported:
            self.status_message.show_message(MessageKind.INFO, self.tr(
                "Saved and exported. Start Pidgin to sign in; press Finish to close."))
        else:
            self.status_message.show_message(MessageKind.INFO, self.tr(
                "Saved. Press Finish to close."))
        if value.exported:
            self._refresh_export()  # the folder's note: accounts.xml exists now
        self.name_problem()
        self._update_save_button()
        self.completeChanged.emit()
        self.saved.emit(value)

