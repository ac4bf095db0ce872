"""The question the check cannot answer alone: trust this certificate / this server?"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontDatabase
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
from sipe_setup.core.textsafety import printable, printable_lines

from .widgets import PageScroll, breakable

__all__ = ["TrustDialog"]


def _plain(text: str, parent: QWidget) -> QLabel:
    """A wrapping label that shows ``text`` as plain text with control characters visible:
    host names, messages and certificate fields come from the network."""
    label = QLabel(printable_lines(text), parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def _selectable(text: str, parent: QWidget, *, mono: bool = False) -> QLabel:
    label = _plain(text, parent)
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
        # The question and the certificate scroll on a small screen; the answers stay below.
        area = PageScroll(self)
        layout.addWidget(area, 1)
        body = area.widget()
        assert body is not None
        content = QVBoxLayout(body)
        content.setContentsMargins(0, 0, 0, 0)

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
        content.addLayout(head)

        cert = question.certificate
        if question.kind is TrustKind.CERTIFICATE:
            self.setWindowTitle(self.tr("Trust this server certificate?"))
            heading = self.tr("The certificate of %1 is not trusted by this computer.").replace(
                "%1", printable(f"{question.host}:{question.port}"))
            accept_text = self.tr("&Trust this certificate")
            reject_text = self.tr("&Do not trust")
            explanation = self.tr(
                "Someone could be pretending to be your company's server. Trust it only if "
                "your IT department confirms the SHA-256 fingerprint below (read it out to "
                "them). Your choice is remembered for this server only.")
        elif question.kind is TrustKind.DOWNGRADE:
            self.setWindowTitle(self.tr("Continue without encryption?"))
            heading = self.tr("The server redirects you to unencrypted TCP at %1.").replace(
                "%1", printable(f"{question.host}:{question.port}"))
            accept_text = self.tr("&Continue unencrypted")
            reject_text = self.tr("&Stay encrypted")
            explanation = self.tr(
                "Everything you send, the sign-in included, would travel in clear text. "
                "Continue only if your IT department says this redirect is intended.")
        else:
            self.setWindowTitle(self.tr("Send your credentials to this server?"))
            heading = self.tr("%1 is not inside your SIP domain %2.").replace(
                "%1", printable(question.host)).replace("%2", printable(question.sip_domain))
            accept_text = self.tr("&Send to this server")
            reject_text = self.tr("&Do not send")
            explanation = self.tr(
                "Its name does not end in your SIP domain (or it is only an address). Office "
                "Communicator and Lync would refuse it (strict naming); Pidgin connects "
                "anyway. Continue only if your IT department uses this server.")
        self.heading_label = _plain(heading, self)  # bold by font, never by markup
        bold = QFont(self.heading_label.font())
        bold.setBold(True)
        self.heading_label.setFont(bold)
        text.addWidget(self.heading_label)
        self.message_label = _selectable(question.message, self)
        text.addWidget(self.message_label)
        text.addWidget(_plain(explanation, self))

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
                field.setText(breakable(field.text()))  # a fingerprint wraps at its colons
                field.setAccessibleName(caption.rstrip(":"))
                caption_label = _plain(caption, self)
                caption_label.setWordWrap(False)
                caption_label.setBuddy(field)
                details.addRow(caption_label, field)
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

    def setVisible(self, visible: bool) -> None:
        """Opened at :meth:`sizeHint` (Qt alone stops at two thirds of the screen)."""
        if visible and not self.testAttribute(Qt.WidgetAttribute.WA_Resized):
            self.resize(self.sizeHint())
        super().setVisible(visible)

    def sizeHint(self) -> QSize:
        """Ninety characters wide, as tall as its content — within the screen."""
        hint = super().sizeHint()
        body = self.findChild(PageScroll)
        content = body.widget() if body is not None else None
        width = max(hint.width(), self.fontMetrics().averageCharWidth() * 90)
        height = hint.height()
        if content is not None:
            height = max(height, content.heightForWidth(width) + 100)
        wanted = QSize(width, height)
        screen = self.screen()
        if screen is not None:
            room = screen.availableGeometry().size()
            wanted = wanted.boundedTo(QSize(room.width() - 16, room.height() - 48))
        return wanted
