"""What "nothing is clipped" means, measured on live widgets (the layout test and the screenshot
script use it).

A label is clipped when its text needs more room than it has: a wrapping label's
``heightForWidth(width)`` is taller than its height; any other label's or button's size hint is
larger than its size. A label or button is also clipped when it lies (partly) outside one of its
ancestors — except inside a scroll area, where the user can scroll to it. A page that would
have to scroll sideways counts as clipped too: text must wrap, not run off to the right.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QComboBox,
    QGroupBox,
    QLabel,
    QLineEdit,
    QScrollArea,
    QWidget,
)

__all__ = ["clipped_widgets", "describe"]

_SLACK = 1  # rounding at fractional scale factors


def describe(widget: QWidget) -> str:
    """A short name for a widget in a failure message."""
    text = ""
    if isinstance(widget, QLabel | QAbstractButton):
        text = widget.text()
    elif isinstance(widget, QGroupBox):
        text = widget.title()
    name = widget.objectName()
    shown = f"{text.replace(chr(0x200B), '')[:60]!r}" if text else ""
    return f"{type(widget).__name__}{'#' + name if name else ''} {shown}".strip()


def _inside_item_view(widget: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QAbstractItemView | QComboBox):
            return True
        parent = parent.parentWidget()
    return False


def _text_problem(widget: QWidget) -> str:
    if isinstance(widget, QLabel):
        pixmap = widget.pixmap()
        if not widget.text() and (pixmap is None or pixmap.isNull()):
            return ""
        if widget.wordWrap() and widget.text():
            need = widget.heightForWidth(widget.width())
            if need > widget.height() + _SLACK:
                return f"needs {need} px of height at width {widget.width()}, has {widget.height()}"
            return ""
        hint = widget.sizeHint()
    elif isinstance(widget, QAbstractButton) and widget.text():
        hint = widget.sizeHint()
    elif (isinstance(widget, QGroupBox) and widget.title()) or isinstance(
            widget, QLineEdit | QComboBox):
        hint = widget.minimumSizeHint()
    else:
        return ""
    if hint.width() > widget.width() + _SLACK or hint.height() > widget.height() + _SLACK:
        return f"needs {hint.width()}×{hint.height()}, has {widget.width()}×{widget.height()}"
    return ""


def _outside_problem(widget: QWidget, window: QWidget) -> str:
    rect = QRect(QPoint(0, 0), widget.size())
    child: QWidget = widget
    parent = widget.parentWidget()
    while parent is not None:
        rect = rect.translated(child.pos())
        holder = parent.parentWidget()
        if isinstance(holder, QAbstractScrollArea) and parent is holder.viewport():
            return ""  # the user can scroll to it
        if not parent.rect().contains(rect):
            return (f"lies outside {type(parent).__name__}#{parent.objectName()} "
                    f"({rect.getRect()} in {parent.rect().getRect()})")
        if parent is window:
            return ""
        child, parent = parent, holder
    return ""


def clipped_widgets(window: QWidget) -> list[str]:
    """Every visible label, button, input and group title of ``window`` that does not fit,
    and every page that would scroll sideways, as readable lines (empty: nothing clipped)."""
    problems: list[str] = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or _inside_item_view(widget):
            continue
        if isinstance(widget, QScrollArea) and widget.objectName() == "page-scroll":
            bar = widget.horizontalScrollBar()
            if bar.maximum() > 0:
                body = widget.widget()
                need = body.minimumSizeHint().width() if body is not None else 0
                problems.append(f"{describe(widget)} scrolls sideways: its content needs "
                                f"{need} px, the page has {widget.viewport().width()}")
            continue
        if not isinstance(widget, QLabel | QAbstractButton | QGroupBox | QLineEdit | QComboBox):
            continue
        problem = _text_problem(widget)
        if problem:
            problems.append(f"{describe(widget)} {problem}")
            continue
        problem = _outside_problem(widget, window)
        if problem:
            problems.append(f"{describe(widget)} {problem}")
    return problems
