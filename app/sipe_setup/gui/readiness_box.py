"""The Save page's compact "Pidgin on this computer" box (:mod:`sipe_setup.core.readiness`).

Before Save it says whether Pidgin *here* can do what the checked account needs: pidgin-sipe
installed, its XML parser working with this libxml2, the keyring plugin, Kerberos. The look
runs in a daemon thread (it starts small programs and the libxml2 probe, ~0.1 s, each bounded)
and the box says "Looking at Pidgin on this computer …" meanwhile; nothing waits for it.

The box shows one line per problem (FAIL first, then WARN) with the advice as the line's
tooltip; when nothing is wrong, one line saying so. The same text as ``sipe-setup doctor``.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from sipe_setup.core.readiness import (
    PidginNeeds,
    PidginReadiness,
    Status,
    check_readiness,
)
from sipe_setup.core.textsafety import printable

from .keyring_bridge import KeyringCall
from .state import WizardState
from .widgets import FieldMessage, MessageKind, home_relative

__all__ = ["ReadinessBox", "needs_from_state"]


def needs_from_state(state: WizardState) -> PidginNeeds:
    """What the account the wizard checked will ask of Pidgin (the settings Save exports)."""
    account, result = state.last_account, state.last_result
    if account is None:
        return PidginNeeds()
    from sipe_setup.core.profiles import Profile, ProfileError

    try:
        profile = Profile.from_account("readiness", account,
                                       result if result is not None and result.ok else None)
    except ProfileError:
        profile = Profile.from_account("readiness", account)
    return PidginNeeds.from_profile(profile)


class ReadinessBox(QGroupBox):
    """"Pidgin on this computer": the problems the readiness check found, or that it is fine."""

    checked = Signal(object)  # PidginReadiness, once a look has answered

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Pidgin on this computer"), parent)
        self.setObjectName("pidgin-readiness")
        self.setAccessibleName(self.tr("Pidgin on this computer"))
        self.readiness: PidginReadiness | None = None
        self._needs = PidginNeeds()
        self._purple_dir: Path | None = None
        self._call = KeyringCall(self)  # a daemon thread + queued delivery (not only keyrings)
        self._call.done.connect(self._looked)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        self.messages: list[FieldMessage] = []
        self._lines = QVBoxLayout()
        self._lines.setSpacing(2)
        layout.addLayout(self._lines)
        bottom = QHBoxLayout()
        self.status = QLabel(self)
        self.status.setObjectName("pidgin-readiness-status")
        self.status.setWordWrap(True)
        bottom.addWidget(self.status, 1)
        self.again = QPushButton(self.tr("&Look again"), self)
        self.again.setObjectName("pidgin-readiness-again")
        self.again.setAccessibleName(self.tr("Look again at Pidgin on this computer"))
        self.again.clicked.connect(lambda: self.refresh(self._needs, self._purple_dir))
        bottom.addWidget(self.again, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(bottom)

    def busy(self) -> bool:
        return self._call.busy()

    def refresh(self, needs: PidginNeeds, purple_dir: Path | None = None) -> None:
        """Look (again) in the background; the box says so until the answer comes."""
        self._needs, self._purple_dir = needs, purple_dir
        self._clear()
        self.status.setText(self.tr("Looking at Pidgin on this computer …"))
        self.again.setEnabled(False)
        self._call.start(lambda: check_readiness(purple_dir=purple_dir, needs=needs))

    def refresh_for(self, state: WizardState, purple_dir: Path | None = None) -> None:
        """:meth:`refresh` for the account the wizard checked."""
        self.refresh(needs_from_state(state), purple_dir)

    def cancel(self) -> None:
        self._call.cancel()

    def _clear(self) -> None:
        for message in self.messages:
            self._lines.removeWidget(message)
            message.deleteLater()
        self.messages = []

    def _looked(self, value: object) -> None:
        self.again.setEnabled(True)
        if not isinstance(value, PidginReadiness):
            self.status.setText(self.tr("Could not look at Pidgin on this computer: %1")
                                .replace("%1", f"{type(value).__name__}: {value}"))
            return
        self.show_readiness(value)
        self.checked.emit(value)

    def show_readiness(self, readiness: PidginReadiness) -> None:
        """Show what a look found (also used by tests with a made-up one)."""
        self.readiness = readiness
        self._clear()
        problems = sorted((f for f in readiness.findings
                           if f.status in (Status.FAIL, Status.WARN)),
                          key=lambda f: f.status is not Status.FAIL)
        for finding in problems:
            message = FieldMessage(self)
            message.setObjectName(f"readiness-{finding.id}")
            kind = MessageKind.ERROR if finding.status is Status.FAIL else MessageKind.WARNING
            message.show_message(kind, home_relative(f"{finding.title}: {finding.summary}"))
            if finding.advice:
                advice = home_relative(f"What to do: {finding.advice}")
                # Rich text that wraps (a long advice), escaped: it quotes paths and versions.
                message.setToolTip(f"<p>{html.escape(printable(advice))}</p>")
                message.setAccessibleDescription(advice)
            self._lines.addWidget(message)
            self.messages.append(message)
        sipe = readiness.sipe
        version = f"SIPE {sipe.version}" if sipe is not None and sipe.version else "SIPE"
        if not problems:
            self.status.setText(self.tr("%1 is installed and nothing here stops it; "
                                        "sipe-setup doctor shows the details.")
                                .replace("%1", version))
        else:
            self.status.setText(self.tr("Point at a line for what to do; sipe-setup doctor "
                                        "shows everything."))
        self.setAccessibleDescription("\n".join(m.message() for m in self.messages)
                                      or self.status.text())
