"""Small building blocks the pages share: a help button, a message under a field, a field row."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFont, QIcon
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWhatsThis,
    QWidget,
)

from sipe_setup.core.textsafety import printable, printable_lines

__all__ = ["FieldMessage", "FieldRow", "HelpButton", "MessageKind", "add_field_row", "hint_label",
           "home_relative", "plain_label", "plain_tooltip", "status_icon"]


def plain_label(label: QLabel) -> QLabel:
    """``label`` set to show its text as plain text: a QLabel guesses rich text otherwise, and
    text from a server (a reason phrase, a certificate name) must never be markup."""
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def plain_tooltip(text: str) -> str:
    """A tooltip showing ``text`` literally (tooltips guess rich text, like QLabel), with
    control characters made visible."""
    return str(QtGuiNamespace.convertFromPlainText(printable(text)))


class MessageKind(enum.Enum):
    """How a message under a field is shown."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


_ICONS = {
    MessageKind.ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
    MessageKind.WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
    MessageKind.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
}


def home_relative(text: str) -> str:
    """``text`` with the home folder written as ``~`` (shorter paths in fields and messages)."""
    home = str(Path.home())
    if len(home) <= 1:
        return text
    return text.replace(home + "/", "~/").replace(home + "\\", "~\\")


def status_icon(widget: QWidget, pixmap: QStyle.StandardPixmap) -> QIcon:
    """A standard icon of the platform style."""
    return widget.style().standardIcon(pixmap)


class HelpButton(QToolButton):
    """A "?" button that explains a field (also reachable with Tab and Space)."""

    def __init__(self, topic: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self.setText("?")
        self.setToolTip(text)
        self.setWhatsThis(text)
        self.setAccessibleName(self.tr("Help: %1").replace("%1", topic))
        self.setAccessibleDescription(text)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoRaise(False)
        self.clicked.connect(self.show_help)

    def show_help(self) -> None:
        """Show the help text next to the button."""
        QWhatsThis.showText(self.mapToGlobal(QPoint(0, self.height())), self._text, self)


class FieldMessage(QWidget):
    """A one-line (wrapping) message under a field: an error, a warning or a note."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.icon = QLabel(self)
        self.icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = plain_label(QLabel(self))  # messages may quote a file or a server
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.text, 1)
        self.kind: MessageKind | None = None
        self.hide()

    def show_message(self, kind: MessageKind, text: str) -> None:
        """Show ``text`` with the icon of ``kind``."""
        self.kind = kind
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
        self.icon.setPixmap(status_icon(self, _ICONS[kind]).pixmap(size, size))
        text = printable_lines(text)
        self.text.setText(text)
        self.setAccessibleName(text)
        self.show()

    def clear(self) -> None:
        """Hide the message."""
        self.kind = None
        self.text.clear()
        self.hide()

    def message(self) -> str:
        """The text shown, or "" when hidden."""
        return self.text.text() if self.kind is not None else ""


def hint_label(text: str, parent: QWidget | None = None) -> QLabel:
    """A wrapping, slightly smaller explanation under a field."""
    label = QLabel(text, parent)
    label.setObjectName("field-hint")
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText)  # our own hints only, never network text
    font = QFont(label.font())
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * 0.92)
    label.setFont(font)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class FieldRow(NamedTuple):
    """The widgets :func:`add_field_row` made."""

    label: QLabel
    message: FieldMessage
    help_button: HelpButton
    hint: QLabel | None


def add_field_row(form: QFormLayout, label_text: str, field: QWidget, buddy: QWidget,
                  help_text: str, *, hint: str = "", topic: str = "") -> FieldRow:
    """Add ``label: [field] [?]`` with a message line (and an optional hint) under the field.

    ``field`` is what is laid out (it may hold more than one widget); ``buddy`` is the input
    itself: the label's mnemonic focuses it, and it gets the label text as accessible name and
    the help text as tooltip and What's This.
    """
    parent = form.parentWidget()
    label = QLabel(label_text, parent)
    name = topic or label_text.replace("&", "").rstrip(":")
    if label_text:
        label.setBuddy(buddy)
    buddy.setAccessibleName(name)
    buddy.setToolTip(help_text)
    buddy.setWhatsThis(help_text)
    help_button = HelpButton(name, help_text, parent)
    container = QWidget(parent)
    column = QVBoxLayout(container)
    column.setContentsMargins(0, 0, 0, 0)
    column.setSpacing(2)
    line = QHBoxLayout()
    if isinstance(field, QCheckBox):  # as wide as its text, the "?" right after it
        line.addWidget(field, 0)
        line.addWidget(help_button, 0)
        line.addStretch(1)
    else:
        line.addWidget(field, 1)
        line.addWidget(help_button, 0)
    column.addLayout(line)
    message = FieldMessage(container)
    column.addWidget(message)
    hint_widget = hint_label(hint, container) if hint else None
    if hint_widget is not None:
        column.addWidget(hint_widget)
    form.addRow(label, container)
    return FieldRow(label, message, help_button, hint_widget)
