"""Small building blocks the pages share: a help button, a message under a field, a field row,
and the scrolling page body that keeps every page readable on a small screen.

Layout rules the pages follow (``tests/gui/test_layout.py`` checks them at 1366×768 at 100 % and
200 % and in a 640×480 window): every page's content sits in :func:`scroll_body`, so a page
scrolls instead of squeezing; every text that can grow wraps (:func:`wrapping_label`), and
text that quotes an input or a server is made breakable (:func:`breakable`) so that a long
address cannot widen the page.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPen, QPixmap
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWhatsThis,
    QWidget,
)

from sipe_setup.core.steps import Verdict
from sipe_setup.core.textsafety import printable, printable_lines

__all__ = ["FieldMessage", "FieldRow", "HelpButton", "MessageKind", "PageScroll", "add_field_row",
           "breakable", "help_text_for", "hint_label", "home_relative", "plain_label",
           "plain_tooltip", "scroll_body", "show_help_for", "status_icon", "unbreakable",
           "verdict_logo", "wrapping_label"]

#: A zero-width space: lets a long token (an address, a path) wrap without a visible mark.
ZERO_WIDTH_SPACE = "\u200b"
_LONG_TOKEN = re.compile(r"\S{24,}")
_BREAK_AFTER = re.compile(r"([@.\\/:_,;=&?-])")


def breakable(text: str) -> str:
    """``text`` with invisible break points in long tokens (after ``@ . \\ / :`` and the like,
    and at least every 20 characters), so that a wrapping label can wrap a 120-character
    address instead of growing wider than the window."""

    def split(match: re.Match[str]) -> str:
        token = _BREAK_AFTER.sub(lambda m: m.group(1) + ZERO_WIDTH_SPACE, match.group(0))
        parts = token.split(ZERO_WIDTH_SPACE)
        out = []
        for part in parts:
            out.append(ZERO_WIDTH_SPACE.join(part[i:i + 20] for i in range(0, len(part), 20)))
        return ZERO_WIDTH_SPACE.join(out)

    return _LONG_TOKEN.sub(split, text)


def unbreakable(text: str) -> str:
    """``text`` without the break points :func:`breakable` added (for accessible names)."""
    return text.replace(ZERO_WIDTH_SPACE, "")


class PageScroll(QScrollArea):
    """A frameless vertical scroll area whose content grows and shrinks with what it shows.

    QScrollArea re-fits its widget when the scroll area itself is resized, but not when a
    message appears inside the widget while the window keeps its size: the content would stay
    at its old height and squeeze the texts below the message. Every layout change of the
    content therefore asks for a new fit.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page-scroll")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        body = QWidget(self)
        body.setObjectName("page-body")
        self.setWidget(body)
        body.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            QCoreApplication.postEvent(self, QEvent(QEvent.Type.LayoutRequest))
        return super().eventFilter(watched, event)


def scroll_body(page: QWidget) -> QWidget:
    """The widget a page lays its content out on: inside a :class:`PageScroll` that fills
    the page. On a small screen (1366×768 at 200 % leaves 683×384) the page scrolls instead
    of squeezing its labels; focus moving to a widget below the fold scrolls it into view
    (the wizard does that for every focus change)."""
    outer = QVBoxLayout(page)
    outer.setContentsMargins(0, 0, 0, 0)
    area = PageScroll(page)
    outer.addWidget(area)
    body = area.widget()
    assert body is not None
    return body


def wrapping_label(parent: QWidget | None = None, text: str = "", *,
                   plain: bool = True) -> QLabel:
    """A label whose text wraps and can be selected (plain text unless ``plain`` is False)."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    if plain:
        label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


LOGO_SIZE = 48


def verdict_logo(icon: QIcon, verdict: Verdict | None, widget: QWidget) -> QPixmap:
    """The wizard's header icon for a verdict.

    The application icon carries a green check (the trial sign-in worked); shown as it is
    before a check and after a sign-in. After a failure its badge is a red cross, after a
    stopped check a grey bar — a failure page never shows the check. The badge sits where the
    icon's own is (a circle at 98,96 of 128, radius 24 plus a white ring).
    """
    pixmap = icon.pixmap(QSize(LOGO_SIZE, LOGO_SIZE), widget.devicePixelRatioF())
    if verdict is None or verdict is Verdict.SIGNED_IN or pixmap.isNull():
        return pixmap
    pixmap = QPixmap(pixmap)
    scale = LOGO_SIZE / 128
    center = QPointF(98 * scale, 96 * scale)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(center, 28 * scale, 28 * scale)
    painter.setBrush(QColor("#c62828" if verdict is Verdict.FAILED else "#6b6b6b"))
    painter.drawEllipse(center, 24 * scale, 24 * scale)
    pen = QPen(QColor("#ffffff"), 7 * scale)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    arm = 10 * scale
    if verdict is Verdict.FAILED:
        painter.drawLine(center + QPointF(-arm, -arm), center + QPointF(arm, arm))
        painter.drawLine(center + QPointF(-arm, arm), center + QPointF(arm, -arm))
    else:
        painter.drawLine(center + QPointF(-arm, 0), center + QPointF(arm, 0))
    painter.end()
    return pixmap


def help_text_for(widget: QWidget | None) -> tuple[QWidget, str] | None:
    """The What's This text for ``widget`` or the nearest ancestor that has one."""
    while widget is not None:
        if widget.whatsThis():
            return widget, widget.whatsThis()
        widget = widget.parentWidget()
    return None


def show_help_for(widget: QWidget | None) -> bool:
    """F1 / Shift+F1: show the help of the focused field next to it; False if it has none."""
    found = help_text_for(widget)
    if found is None:
        return False
    owner, text = found
    QWhatsThis.showText(owner.mapToGlobal(QPoint(0, owner.height())), text, owner)
    return True


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
    """A "?" button that explains a field: for the mouse. It is not a tab stop — from the
    keyboard, F1 (or Shift+F1) on the field shows the same text (the field's What's This)."""

    def __init__(self, topic: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = text
        self.setText("?")
        self.setToolTip(text)
        self.setWhatsThis(text)
        self.setAccessibleName(self.tr("Help: %1").replace("%1", topic))
        self.setAccessibleDescription(text)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
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
        self.text.setText(breakable(text))
        self.setAccessibleName(text)
        self.show()

    def clear(self) -> None:
        """Hide the message."""
        self.kind = None
        self.text.clear()
        self.hide()

    def message(self) -> str:
        """The text shown, or "" when hidden."""
        return unbreakable(self.text.text()) if self.kind is not None else ""


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


class _FormField(QWidget):
    """A form row's field column (input, message, hint).

    QFormLayout keeps the heights it computed for its rows' wrapping texts: when a message
    under one field appears or goes, another row's hint could keep a stale, too small height
    and lose its last line. Every re-layout of a row therefore re-computes the whole form.
    """

    def __init__(self, form: QFormLayout, parent: QWidget | None) -> None:
        super().__init__(parent)
        self._form = form

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self._form.invalidate()
        return super().event(event)


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
    # Narrow window (200 %, 640×480): a field that does not fit beside its label goes below it.
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
    label = QLabel(label_text, parent)
    name = topic or label_text.replace("&", "").rstrip(":")
    if label_text:
        label.setBuddy(buddy)
    buddy.setAccessibleName(name)
    buddy.setToolTip(help_text)
    buddy.setWhatsThis(help_text)
    help_button = HelpButton(name, help_text, parent)
    container = _FormField(form, parent)
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
