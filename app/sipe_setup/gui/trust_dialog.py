"""The question the check cannot answer alone: trust this certificate / this server?"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from sipe_setup.core.checkup import TrustKind, TrustQuestion

__all__ = ["TrustDialog"]


def _selectable(text: str, parent: QWidget, *, mono: bool = False) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                  | Qt.TextInteractionFlag.TextSelectableByKeyboard)
    if mono:
        label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    return label


class TrustDialog(QDialog):
    """Shows a :class:`TrustQuestion` with the certificate's details; the safe answer is "No".

    ``accepted``/``rejected`` (QDialog) carry the answer; the dialog is window-modal and opened
    with :meth:`open` so the GUI thread keeps running while the user reads.
    """

    def __init__(self, question: TrustQuestion, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.question = question
        self.setObjectName("trust-dialog")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        layout = QVBoxLayout(self)
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 90)

        head = QHBoxLayout()
        head.setSpacing(12)
        icon = QLabel(self)
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(size, size))
        head.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        text = QVBoxLayout()
        text.setSpacing(8)
        head.addLayout(text, 1)
        layout.addLayout(head)

        cert = question.certificate
        if question.kind is TrustKind.CERTIFICATE:
            self.setWindowTitle(self.tr("Trust this server certificate?"))
            heading = self.tr("The certificate of %1 is not trusted by this computer.").replace(
                "%1", f"{question.host}:{question.port}")
            accept_text = self.tr("&Trust this certificate")
            reject_text = self.tr("&Do not trust")
            explanation = self.tr(
                "Someone could be pretending to be your company's server. Trust it only if "
                "your IT department confirms the SHA-256 fingerprint below (read it out to "
                "them). Your choice is remembered for this server only.")
        else:
            self.setWindowTitle(self.tr("Send your credentials to this server?"))
            heading = self.tr("%1 is not inside your SIP domain %2.").replace(
                "%1", question.host).replace("%2", question.sip_domain)
            accept_text = self.tr("&Send to this server")
            reject_text = self.tr("&Do not send")
            explanation = self.tr(
                "The server was found automatically but its name does not end in your SIP "
                "domain. Office Communicator and Lync would refuse it (strict naming); Pidgin "
                "connects anyway. Continue only if your IT department uses this server.")
        title = QLabel(f"<b>{heading}</b>", self)
        title.setWordWrap(True)
        text.addWidget(title)
        text.addWidget(_selectable(question.message, self))
        note = QLabel(explanation, self)
        note.setWordWrap(True)
        text.addWidget(note)

        if cert is not None:
            details = QFormLayout()
            details.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            rows = (
                (self.tr("Issued to:"), cert.subject, False),
                (self.tr("Names:"), ", ".join(cert.dns_names + cert.ip_addresses)
                 or self.tr("(none)"), False),
                (self.tr("Issued by:"), cert.issuer + (self.tr(" (self-signed)")
                                                      if cert.self_signed else ""), False),
                (self.tr("Valid:"), f"{cert.not_before:%Y-%m-%d} – {cert.not_after:%Y-%m-%d}",
                 False),
                (self.tr("SHA-256:"), cert.sha256_fingerprint, True),
            )
            for caption, value, mono in rows:
                field = _selectable(value, self, mono=mono)
                field.setAccessibleName(caption.rstrip(":"))
                details.addRow(caption, field)
            self.fingerprint_label = details.itemAt(details.rowCount() - 1,
                                                    QFormLayout.ItemRole.FieldRole).widget()
            details.setContentsMargins(0, 6, 0, 6)
            text.addLayout(details)

        buttons = QDialogButtonBox(self)
        self.accept_button = QPushButton(accept_text, self)
        self.accept_button.setObjectName("trust-accept")
        self.accept_button.setAutoDefault(False)
        self.reject_button = QPushButton(reject_text, self)
        self.reject_button.setObjectName("trust-reject")
        self.reject_button.setDefault(True)
        buttons.addButton(self.accept_button, QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.addButton(self.reject_button, QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.reject_button.setFocus()
