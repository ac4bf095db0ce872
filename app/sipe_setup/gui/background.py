"""Run one blocking call (keyring, file writes) off the GUI thread and deliver its outcome.

A keyring write can wait for an unlock prompt, so the Save page never makes it on the GUI
thread. The outcome crosses back as a queued signal; widgets are touched only by the slot.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal

__all__ = ["BackgroundCall"]


class BackgroundCall(QThread):
    """Calls ``call()`` in a thread; ``outcome`` carries its return value or its exception."""

    outcome = Signal(object)

    def __init__(self, call: Callable[[], object], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._call = call
        self.result: object = None

    def run(self) -> None:
        """The thread body: never lets an exception escape (it is the outcome instead)."""
        try:
            value = self._call()
        except Exception as exc:  # delivered to the page, which explains it
            value = exc
        self.result = value
        self.outcome.emit(value)
