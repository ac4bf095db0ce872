"""The Check page's list of steps, with lines that wrap instead of running off to the right.

A ``QTreeView`` wraps an item's text when asked to (``setWordWrap``) but sizes its rows without
knowing the column's width, so long lines would keep one line's height and be cut. The delegate
here measures each row at the width it really gets (the viewport, minus the indentation of its
level and the icon), and the tree lays its rows out again whenever it is resized.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QWidget,
)

__all__ = ["StepTree"]


class _WrappingDelegate(QStyledItemDelegate):
    def __init__(self, view: QTreeWidget) -> None:
        super().__init__(view)
        self._view = view

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        view = self._view
        depth, parent = 0, index.parent()
        while parent.isValid():
            depth += 1
            parent = parent.parent()
        style = view.style()
        indent = view.indentation() * (depth + (1 if view.rootIsDecorated() else 0))
        icon = 0
        if index.data(Qt.ItemDataRole.DecorationRole) is not None:
            icon = style.pixelMetric(QStyle.PixelMetric.PM_SmallIconSize) + 4
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1
        width = view.viewport().width() - indent - icon - 3 * margin
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if width <= 40 or not text:
            return hint
        needed = option.fontMetrics.boundingRect(
            QRect(0, 0, width, 1 << 20), int(Qt.TextFlag.TextWordWrap), text)
        return QSize(min(hint.width(), width), max(hint.height(), needed.height() + 2 * margin))


class StepTree(QTreeWidget):
    """One column, no header, rows as tall as their wrapped text, no sideways scrolling."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setColumnCount(1)
        self.setItemDelegate(_WrappingDelegate(self))
        self.setWordWrap(True)
        self.setUniformRowHeights(False)
        self.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.header().setStretchLastSection(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """A new width: every row's height again."""
        super().resizeEvent(event)
        self.scheduleDelayedItemsLayout()
