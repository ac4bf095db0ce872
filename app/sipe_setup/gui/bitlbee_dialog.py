"""The BitlBee commands for the checked account, to copy (:mod:`sipe_setup.core.export.bitlbee`).

A button on the Save page (:class:`BitlbeeButton`) opens :class:`BitlbeeDialog`: the exact
commands for BitlBee's ``&bitlbee`` channel, what to know about them, and Copy. The password is
left out (BitlBee takes it through the IRC client's ``/OPER``) unless the user ticks the box
that puts it in; the text shown is the text copied.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sipe_setup.core.account import Secret
from sipe_setup.core.export.bitlbee import BitlbeeSetup, bitlbee_setup_for_profile
from sipe_setup.core.profiles import Profile, ProfileError

from .state import WizardState
from .widgets import plain_label

__all__ = ["BitlbeeButton", "BitlbeeDialog", "profile_from_state"]


def profile_from_state(state: WizardState) -> Profile | None:
    """The profile Save would write for the checked account (None before a check)."""
    account, result = state.last_account, state.last_result
    if account is None:
        return None
    try:
        return Profile.from_account("BitlBee", account,
                                    result if result is not None and result.ok else None)
    except ProfileError:
        return Profile.from_account("BitlBee", account)


class BitlbeeDialog(QDialog):
    """The commands, the notes, Copy and Close."""

    def __init__(self, profile: Profile, password: Secret | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bitlbee-dialog")
        self.setWindowTitle(self.tr("Commands for BitlBee"))
        self.profile = profile
        self.password = password if password and not profile.sso else None
        layout = QVBoxLayout(self)
        intro = plain_label(QLabel(self))
        intro.setWordWrap(True)
        intro.setText(self.tr("For IRC users of BitlBee (bitlbee-libpurple with pidgin-sipe): "
                              "type or paste these lines in BitlBee's &bitlbee channel."))
        layout.addWidget(intro)
        self.commands = QPlainTextEdit(self)
        self.commands.setObjectName("bitlbee-commands")
        self.commands.setReadOnly(True)
        self.commands.setAccessibleName(self.tr("BitlBee commands"))
        self.commands.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.commands.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout.addWidget(self.commands, 1)
        self.include_password = QCheckBox(self.tr("Put the &password into the commands "
                                                  "(instead of /OPER)"), self)
        self.include_password.setObjectName("bitlbee-include-password")
        self.include_password.setVisible(self.password is not None)
        self.include_password.toggled.connect(self._update)
        layout.addWidget(self.include_password)
        self.notes = plain_label(QLabel(self))  # our text, but it quotes the account's fields
        self.notes.setObjectName("bitlbee-notes")
        self.notes.setWordWrap(True)
        layout.addWidget(self.notes)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = QPushButton(self.tr("&Copy"), self)
        self.copy_button.setObjectName("bitlbee-copy")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setup: BitlbeeSetup | None = None
        self.resize(720, 420)
        self._update()

    def _update(self) -> None:
        password = self.password if self.include_password.isChecked() else None
        try:
            self.setup = bitlbee_setup_for_profile(self.profile, password=password)
        except ValueError as exc:
            self.setup = None
            self.commands.setPlainText("")
            self.notes.setText(str(exc))
            self.copy_button.setEnabled(False)
            return
        self.commands.setPlainText(self.setup.text())
        self.notes.setText("\n".join(f"• {note}" for note in self.setup.notes))
        self.copy_button.setEnabled(True)

    def copy(self) -> None:
        """Put the commands on the clipboard."""
        if self.setup is not None:
            QGuiApplication.clipboard().setText(self.setup.text())
            self.copy_button.setText(self.tr("Copied"))


class BitlbeeButton(QPushButton):
    """"Commands for BitlBee…": opens :class:`BitlbeeDialog` for the checked account."""

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Commands for B&itlBee…"), parent)
        self.state = state
        self.setObjectName("bitlbee-commands-button")
        self.setToolTip(self.tr("The commands that add this account to BitlBee (an IRC "
                                "gateway running pidgin-sipe), to copy."))
        self.dialog: BitlbeeDialog | None = None
        self.clicked.connect(self.open_dialog)

    def open_dialog(self) -> None:
        profile = profile_from_state(self.state)
        if profile is None:
            return
        self.dialog = BitlbeeDialog(profile, self.state.password or None, self)
        self.dialog.open()
