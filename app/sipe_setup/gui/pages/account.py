"""Page 1, *Account*: Pidgin's Basic tab (sign-in address, Login, Password, Single Sign-On)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sipe_setup.core.account import Field, Secret

from ..help import field_help, field_label
from ..state import WizardState
from ..widgets import add_field_row, scroll_body
from .base import FieldPage

__all__ = ["AccountPage"]


class AccountPage(FieldPage):
    """Sign-in address, Login, Password and Single Sign-On, validated as you type."""

    fields = (Field.SIGNIN, Field.LOGIN, Field.PASSWORD, Field.SSO)

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.setObjectName("account-page")
        self.setTitle(self.tr("Your Lync / Skype for Business account"))
        self.setSubTitle(self.tr(
            "The same settings as the Basic tab of a SIPE account in Pidgin. Next, you can "
            "adjust the connection; then a real test sign-in shows whether everything works."))

        outer = QVBoxLayout(scroll_body(self))
        self.banner = QLabel(self)
        self.banner.setObjectName("demo-banner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setFrameShape(QLabel.Shape.StyledPanel)
        self.banner.setMargin(8)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        outer.addWidget(self.banner)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        holder = QWidget(self)  # so that add_field_row has a parent for its widgets
        holder.setLayout(form)
        outer.addWidget(holder)

        self.signin_edit = QLineEdit(self)
        self.signin_edit.setObjectName("signin")
        self.signin_edit.setPlaceholderText(self.tr("first.last@company.com"))
        self.signin_edit.setClearButtonEnabled(True)
        self.messages[Field.SIGNIN] = add_field_row(
            form, field_label(Field.SIGNIN), self.signin_edit, self.signin_edit,
            field_help(Field.SIGNIN)).message

        self.login_edit = QLineEdit(self)
        self.login_edit.setObjectName("login")
        self.login_edit.setPlaceholderText(self.tr("optional — empty means the sign-in address"))
        self.login_edit.setClearButtonEnabled(True)
        self.messages[Field.LOGIN] = add_field_row(
            form, field_label(Field.LOGIN), self.login_edit, self.login_edit,
            field_help(Field.LOGIN),
            hint=self.tr("Accepted forms, for example: <tt>COMPANY\\first.last</tt> or "
                         "<tt>first.last@company.com</tt>.")).message

        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setInputMethodHints(Qt.InputMethodHint.ImhHiddenText
                                               | Qt.InputMethodHint.ImhNoPredictiveText
                                               | Qt.InputMethodHint.ImhSensitiveData)
        self.show_password = QPushButton(self.tr("Sho&w"), self)
        self.show_password.setObjectName("show-password")
        self.show_password.setCheckable(True)
        self.show_password.setAccessibleName(self.tr("Show the password"))
        self.show_password.setToolTip(self.tr("Show or hide the password as you type it"))
        self.show_password.toggled.connect(self._toggle_password)
        password_row = QWidget(self)
        row = QHBoxLayout(password_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.password_edit, 1)
        row.addWidget(self.show_password)
        self.messages[Field.PASSWORD] = add_field_row(
            form, field_label(Field.PASSWORD), password_row, self.password_edit,
            field_help(Field.PASSWORD)).message

        self.sso_check = QCheckBox(field_label(Field.SSO), self)
        self.sso_check.setObjectName("sso")
        self.sso_check.setAccessibleName(self.tr("Use Single Sign-On"))
        self.sso_check.setToolTip(field_help(Field.SSO))
        sso_row = add_field_row(
            form, "", self.sso_check, self.sso_check, field_help(Field.SSO),
            topic=self.tr("Use Single Sign-On"),
            hint=self.tr("Signs in with the credentials you already have, instead of Login "
                         "and Password: the Kerberos ticket from <tt>kinit</tt> (Linux, "
                         "macOS) or your Windows logon."))
        self.messages[Field.SSO] = sso_row.message
        assert sso_row.hint is not None
        self.sso_hint = sso_row.hint
        self.sso_check.setAccessibleName(self.tr("Use Single Sign-On"))
        outer.addStretch(1)

        self.inputs = {Field.SIGNIN: self.signin_edit, Field.LOGIN: self.login_edit,
                       Field.PASSWORD: self.password_edit, Field.SSO: self.sso_check}

        self.signin_edit.textEdited.connect(lambda t: self._edited(Field.SIGNIN, t))
        self.login_edit.textEdited.connect(lambda t: self._edited(Field.LOGIN, t))
        self.password_edit.textEdited.connect(self._password_edited)
        self.sso_check.toggled.connect(self._sso_toggled)
        self.load_from_state()

    # --- state <-> widgets --------------------------------------------------------------------

    def load_from_state(self) -> None:
        """Show the state's values (after prefill or restore)."""
        self.signin_edit.setText(self.state.text(Field.SIGNIN))
        self.login_edit.setText(self.state.text(Field.LOGIN))
        self.sso_check.setChecked(self.state.sso)
        self._apply_sso(self.state.sso)
        self.refresh()

    def set_banner(self, text: str) -> None:
        """Show a note above the form (the demo says which password works)."""
        self.banner.setText(text)
        self.banner.setAccessibleName(self.banner.text())
        self.banner.setVisible(bool(text))

    def set_password(self, password: Secret) -> None:
        """Put a password into the field (from a saved profile or accounts.xml; memory only)."""
        self.state.password = password
        self.password_edit.setText(password.reveal())
        self.refresh()

    def _edited(self, fld: Field, text: str) -> None:
        self.state.set(fld.value, text)
        if fld is Field.SIGNIN and Field.LOGIN not in self.touched:
            login = self.state.login_from_pattern()
            if login:  # IT's settings file says how the Login is built from the address
                self.state.set(Field.LOGIN.value, login)
                self.login_edit.setText(login)
        self.touch(fld)

    def _password_edited(self, text: str) -> None:
        self.state.password = Secret(text)
        self.touch(Field.PASSWORD)

    def _toggle_password(self, shown: bool) -> None:
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown
                                       else QLineEdit.EchoMode.Password)
        self.show_password.setText(self.tr("Hi&de") if shown else self.tr("Sho&w"))
        self.show_password.setAccessibleName(self.tr("Hide the password") if shown
                                             else self.tr("Show the password"))

    def _sso_toggled(self, checked: bool) -> None:
        self.state.set(Field.SSO.value, checked)
        self._apply_sso(checked)
        self.touch(Field.SSO)

    def _apply_sso(self, checked: bool) -> None:
        for widget in (self.login_edit, self.password_edit, self.show_password):
            widget.setEnabled(not checked)

    def extra_errors(self) -> dict[Field, str]:
        """Without Single Sign-On the check needs a password."""
        if not self.state.sso and not self.state.password:
            return {Field.PASSWORD: self.tr("Enter your password, or tick Single Sign-On.")}
        return {}
