"""The Save page's *Password* row: where the password will go, then where it went.

Before Save it shows a plan — "The password will be saved in GNOME Keyring (Secret Service)." —
never an outcome; after Save, the outcome ("Saved in …", "Not saved: …"). When the keyring
cannot take the password (none, locked, dismissed, not answering) it offers the way on:
saving without the password (Pidgin then asks for it), trying the keyring again, or not saving.

States and the choices shown:

========== ====================================== =========================================
state      text                                   choices (default first)
========== ====================================== =========================================
CHECKING   Checking your keyring …                none; Save waits
SSO        None needed: Single Sign-On …          none
READY      The password will be saved in X.       none
LOCKED     … saved in X, which is locked …         unlock it and save there / without
UNUSABLE   Your password cannot be saved: why.    don't save / without; Check again
FAILED     The password was not saved in X: why.  try X again / without; Check again
DONE       the outcome of the last Save           none
========== ====================================== =========================================
"""

from __future__ import annotations

import enum

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from sipe_setup.core.secrets import KeyringProblem, KeyringUnavailable, VaultStatus

from ..widgets import HelpButton

__all__ = ["PasswordRow", "PasswordState", "cleartext_warning"]


class PasswordState(enum.Enum):
    CHECKING = "checking"
    SSO = "sso"
    READY = "ready"
    LOCKED = "locked"
    UNUSABLE = "unusable"
    FAILED = "failed"
    DONE = "done"


class PasswordRow(QWidget):
    """The text, the three choices and *Check again*; ``changed`` when the choice may differ."""

    changed = Signal()
    check_again = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = PasswordState.CHECKING
        self.backend_name = ""
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        where_row = QHBoxLayout()
        self.where = QLabel(self)
        self.where.setObjectName("password-where")
        self.where.setWordWrap(True)
        self.where.setTextFormat(Qt.TextFormat.PlainText)  # backend names and reasons: data
        self.where.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where.setAccessibleName(self.tr("Where the password goes"))
        where_row.addWidget(self.where, 1)
        self.keyring_again = QPushButton(self.tr("Check a&gain"), self)
        self.keyring_again.setObjectName("keyring-check-again")
        self.keyring_again.setAccessibleName(self.tr("Check the keyring again"))
        self.keyring_again.clicked.connect(self.check_again)
        where_row.addWidget(self.keyring_again, 0, Qt.AlignmentFlag.AlignTop)
        help_text = self.tr(
            "<b>Password</b>: sipe-setup keeps it in your desktop's keyring (GNOME Keyring, "
            "KWallet, …), never in a file. If the keyring is locked you are asked to unlock "
            "it when you press Save. Without a usable keyring you can save the profile "
            "without the password; Pidgin then asks for it when it signs in.")
        self.where.setToolTip(help_text)
        where_row.addWidget(HelpButton(self.tr("Password"), help_text, self), 0,
                            Qt.AlignmentFlag.AlignTop)
        column.addLayout(where_row)

        self.use_keyring = QRadioButton(self)
        self.use_keyring.setObjectName("save-in-keyring")
        self.without_password = QRadioButton(
            self.tr("Save &without the password (Pidgin will ask for it)"), self)
        self.without_password.setObjectName("save-without-password")
        self.dont_save = QRadioButton(self.tr("&Don't save until the keyring works"), self)
        self.dont_save.setObjectName("dont-save")
        self.choice = QButtonGroup(self)
        for button in (self.use_keyring, self.without_password, self.dont_save):
            self.choice.addButton(button)
            column.addWidget(button)
            button.toggled.connect(self._toggled)
        self.dont_save.setChecked(True)
        self.show_checking()

    # --- what the page tells it ---------------------------------------------------------------

    def show_checking(self) -> None:
        self._show(PasswordState.CHECKING, self.tr("Checking your keyring …"))

    def show_sso(self) -> None:
        self._show(PasswordState.SSO,
                   self.tr("None needed: Single Sign-On uses your Kerberos ticket."))

    def show_status(self, status: VaultStatus) -> None:
        """The plan, from what the keyring said."""
        self.backend_name = status.backend_name
        name = status.backend_name or self.tr("the keyring")
        if status.usable and status.locked:
            self.use_keyring.setText(self.tr("&Unlock it when I press Save, and save the "
                                             "password there"))
            self._show(PasswordState.LOCKED, self.tr(
                "The password will be saved in %1, which is locked: you will be asked to "
                "unlock it.").replace("%1", name))
        elif status.usable:
            self._show(PasswordState.READY,
                       self.tr("The password will be saved in %1.").replace("%1", name))
        else:
            reason = status.reason.rstrip(".") or self.tr("no keyring is available")
            self._show(PasswordState.UNUSABLE, self.tr(
                "Your password cannot be saved: %1.").replace("%1", reason))

    def show_failure(self, error: KeyringUnavailable) -> None:
        """Saving into the keyring failed: say why, and offer the way on."""
        name = error.backend_name or self.backend_name or self.tr("the keyring")
        self.backend_name = name
        self.use_keyring.setText(self.tr("&Try %1 again").replace("%1", name))
        self._show(PasswordState.FAILED, self.tr("The password was not saved in %1: %2.")
                   .replace("%1", name).replace("%2", _short_reason(error.problem)))

    def show_outcome(self, text: str) -> None:
        self._show(PasswordState.DONE, text)

    # --- what the page asks -------------------------------------------------------------------

    def blocks_saving(self) -> bool:
        """Save must wait: still checking, or "don't save" is the choice."""
        if self.state is PasswordState.CHECKING:
            return True
        return self.state is PasswordState.UNUSABLE and self.dont_save.isChecked()

    def without_chosen(self) -> bool:
        """The user chose to save the profile without the password."""
        return (self.state in (PasswordState.LOCKED, PasswordState.UNUSABLE,
                               PasswordState.FAILED) and self.without_password.isChecked())

    # --- inside -------------------------------------------------------------------------------

    def _show(self, state: PasswordState, text: str) -> None:
        self.state = state
        self.where.setText(text)
        self.where.setAccessibleDescription(text)
        shown = {
            PasswordState.LOCKED: (self.use_keyring, self.without_password),
            PasswordState.UNUSABLE: (self.dont_save, self.without_password),
            PasswordState.FAILED: (self.use_keyring, self.without_password),
        }.get(state, ())
        for button in (self.use_keyring, self.without_password, self.dont_save):
            button.setVisible(button in shown)
        if shown and self.choice.checkedButton() not in shown:
            shown[0].setChecked(True)
        self.keyring_again.setVisible(state in (PasswordState.LOCKED, PasswordState.UNUSABLE,
                                                PasswordState.FAILED))
        self.changed.emit()

    def _toggled(self, on: bool) -> None:
        if on:
            self.changed.emit()


def _tr(text: str) -> str:
    return QCoreApplication.translate("PasswordRow", text)


def _short_reason(problem: KeyringProblem) -> str:
    reasons = {
        KeyringProblem.NO_BACKEND: _tr("no password store is available"),
        KeyringProblem.LOCKED: _tr("it is locked"),
        KeyringProblem.DISMISSED: _tr("the request to unlock it was dismissed"),
        KeyringProblem.WRITE_FAILED: _tr("it refused the password"),
        KeyringProblem.READ_BACK_MISMATCH: _tr(
            "it gave back something different, so it was removed again"),
        KeyringProblem.NOT_ANSWERING: _tr("the keyring is not answering"),
    }
    return reasons.get(problem, _tr("it reported an error"))


def cleartext_warning(parent: QWidget) -> tuple[QMessageBox, QAbstractButton]:
    """The (window-modal, not yet opened) warning to accept before Pidgin's password goes
    into accounts.xml in plain text, and its accept button."""
    box = QMessageBox(QMessageBox.Icon.Warning, _tr("Password in plain text?"), _tr(
        "Pidgin 2 keeps a saved password in plain text in accounts.xml: anyone who can read "
        "your files (or a backup of them) can read it. The keyring mode avoids this.\n\n"
        "Store the password in plain text anyway?"), QMessageBox.StandardButton.NoButton,
                      parent)
    box.setObjectName("cleartext-warning")
    accept = box.addButton(_tr("Store in &plain text"), QMessageBox.ButtonRole.AcceptRole)
    accept.setObjectName("accept-cleartext")
    keep = box.addButton(_tr("&Keep it out of accounts.xml"), QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    return box, accept
