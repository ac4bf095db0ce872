"""Page 2, *Connection*: Pidgin's Advanced tab (server, connection type, scheme, User Agent)."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QVBoxLayout, QWidget, QWizard

from sipe_setup.core.account import Field
from sipe_setup.core.advice import SUGGESTED_USER_AGENTS

from ..help import field_help, field_label
from ..state import Validation, WizardState
from ..widgets import add_field_row, scroll_body
from .base import FieldPage

__all__ = ["ConnectionPage"]


class ConnectionPage(FieldPage):
    """Server[:Port], Connection type, Authentication scheme and User Agent."""

    fields = (Field.SERVER, Field.TRANSPORT, Field.AUTH, Field.USER_AGENT)

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.setObjectName("connection-page")
        self.setTitle(self.tr("Connection"))
        self.setSubTitle(self.tr(
            "The Advanced tab of the account in Pidgin. The defaults suit most companies: "
            "change something only if your IT department told you to, or the check suggests "
            "it."))
        self.setButtonText(QWizard.WizardButton.NextButton, self.tr("&Test sign-in >"))

        outer = QVBoxLayout(scroll_body(self))
        holder = QWidget(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        holder.setLayout(form)
        outer.addWidget(holder)

        self.server_edit = QLineEdit(self)
        self.server_edit.setObjectName("server")
        self.server_edit.setPlaceholderText(self.tr("empty = find the server automatically"))
        self.server_edit.setClearButtonEnabled(True)
        self.messages[Field.SERVER] = add_field_row(
            form, field_label(Field.SERVER), self.server_edit, self.server_edit,
            field_help(Field.SERVER),
            hint=self.tr("Leave it empty: the server is then found the way Pidgin finds it, "
                         "from your address's domain, and keeps working when IT moves it. "
                         "Example if IT gave you one: <tt>sip.company.com:443</tt>.")).message

        self.transport_combo = QComboBox(self)
        self.transport_combo.setObjectName("transport")
        for text, value in ((self.tr("Auto"), "auto"), (self.tr("SSL/TLS"), "tls"),
                            (self.tr("TCP (unencrypted)"), "tcp")):
            self.transport_combo.addItem(text, value)
        self.messages[Field.TRANSPORT] = add_field_row(
            form, field_label(Field.TRANSPORT), self.transport_combo, self.transport_combo,
            field_help(Field.TRANSPORT)).message

        self.auth_combo = QComboBox(self)
        self.auth_combo.setObjectName("auth")
        for text, value in ((self.tr("Auto"), "auto"), (self.tr("NTLM"), "ntlm"),
                            (self.tr("Kerberos"), "kerberos"), (self.tr("TLS-DSK"), "tls-dsk")):
            self.auth_combo.addItem(text, value)
        self.messages[Field.AUTH] = add_field_row(
            form, field_label(Field.AUTH), self.auth_combo, self.auth_combo,
            field_help(Field.AUTH)).message

        self.user_agent_combo = QComboBox(self)
        self.user_agent_combo.setObjectName("user_agent")
        self.user_agent_combo.setEditable(True)
        self.user_agent_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.user_agent_combo.addItem("")
        self.user_agent_combo.addItems(list(SUGGESTED_USER_AGENTS))
        self.user_agent_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.user_agent_combo.setMinimumContentsLength(24)
        line_edit = self.user_agent_combo.lineEdit()
        assert line_edit is not None
        line_edit.setPlaceholderText(self.tr("empty = Pidgin's own"))
        self.messages[Field.USER_AGENT] = add_field_row(
            form, field_label(Field.USER_AGENT), self.user_agent_combo, self.user_agent_combo,
            field_help(Field.USER_AGENT),
            hint=self.tr("Some servers admit only Microsoft clients (a client version filter, "
                         "error 17002). Only then pick a Microsoft client from the list.")).message
        outer.addStretch(1)

        self.inputs = {Field.SERVER: self.server_edit, Field.TRANSPORT: self.transport_combo,
                       Field.AUTH: self.auth_combo, Field.USER_AGENT: self.user_agent_combo}

        self.server_edit.textEdited.connect(lambda t: self._edited(Field.SERVER, t))
        self.transport_combo.currentIndexChanged.connect(
            lambda _i: self._edited(Field.TRANSPORT, str(self.transport_combo.currentData())))
        self.auth_combo.currentIndexChanged.connect(
            lambda _i: self._edited(Field.AUTH, str(self.auth_combo.currentData())))
        self.user_agent_combo.currentTextChanged.connect(
            lambda t: self._edited(Field.USER_AGENT, t))
        self.load_from_state()

    def load_from_state(self) -> None:
        """Show the state's values (after prefill or restore)."""
        self.server_edit.setText(self.state.text(Field.SERVER))
        for combo, fld in ((self.transport_combo, Field.TRANSPORT), (self.auth_combo, Field.AUTH)):
            index = combo.findData(self.state.text(fld).lower().replace("krb5", "kerberos"))
            combo.blockSignals(True)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)
        self.user_agent_combo.blockSignals(True)
        self.user_agent_combo.setCurrentText(self.state.text(Field.USER_AGENT))
        self.user_agent_combo.blockSignals(False)
        self.refresh()

    def _edited(self, fld: Field, value: str) -> None:
        self.state.set(fld.value, value)
        self.touch(fld)

    def notes(self, validation: Validation) -> dict[Field, list[str]]:
        """The core's notes; the SSO-with-NTLM note also shows at the scheme it concerns."""
        notes = super().notes(validation)
        notes[Field.AUTH] = notes.get(Field.AUTH, []) + [
            w.message for w in validation.warnings_for(Field.SSO)]
        return notes
