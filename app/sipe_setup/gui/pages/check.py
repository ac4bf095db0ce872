"""Page 3, *Check*: discovery and a real trial sign-in, shown live, step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QStyle,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from sipe_setup.core.steps import CheckResult, StepEvent, StepId, StepStatus, Verdict
from sipe_setup.core.textsafety import printable

from ..state import WizardState
from ..step_tree import StepTree
from ..widgets import plain_label, plain_tooltip, scroll_body

if TYPE_CHECKING:  # imported when a check starts: the check pipeline is heavy to import
    from sipe_setup.core.checkup import TrustQuestion

    from ..trust_dialog import TrustDialog
    from ..worker import CheckWorker

__all__ = ["CheckPage"]

_STATUS_ICON = {
    StepStatus.RUNNING: QStyle.StandardPixmap.SP_BrowserReload,
    StepStatus.PASS: QStyle.StandardPixmap.SP_DialogApplyButton,
    StepStatus.WARN: QStyle.StandardPixmap.SP_MessageBoxWarning,
    StepStatus.FAIL: QStyle.StandardPixmap.SP_MessageBoxCritical,
    StepStatus.SKIP: QStyle.StandardPixmap.SP_MediaSkipForward,
}


class CheckPage(QWizardPage):
    """Runs the check in a :class:`CheckWorker` and lists the steps as they arrive.

    Signals:
        check_started(): a run began.
        check_finished(CheckResult): a run ended (signed in, failed or cancelled).
        trust_dialog_shown(TrustDialog): a trust question is on screen.
    """

    check_started = Signal()
    check_finished = Signal(object)
    trust_dialog_shown = Signal(object)

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.worker: CheckWorker | None = None
        self.trust_dialog: TrustDialog | None = None
        self._items: dict[tuple[StepId, int], QTreeWidgetItem] = {}
        self.setObjectName("check-page")
        self.setTitle(self.tr("Test sign-in"))
        self.setSubTitle(self.tr(
            "sipe-setup now finds your server the way Pidgin does and signs in for real, then "
            "signs out again. Each step is listed below; open a step to see every detail."))

        layout = QVBoxLayout(scroll_body(self))
        self.status_label = plain_label(QLabel(self))
        self.status_label.setObjectName("check-status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status_label)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("check-progress")
        self.progress.setAccessibleName(self.tr("Check progress"))
        self.progress.setTextVisible(False)
        layout.addWidget(self.progress)

        self.steps_view = StepTree(self)  # lines wrap; no sideways scrolling
        self.steps_view.setObjectName("check-steps")
        self.steps_view.setAccessibleName(self.tr("Steps of the check"))
        self.steps_view.setAccessibleDescription(self.tr(
            "One line per step; expand a step to read its details."))
        self.steps_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        layout.addWidget(self.steps_view, 1)

        buttons = QHBoxLayout()
        self.cancel_button = QPushButton(self.tr("&Stop the check"), self)
        self.cancel_button.setObjectName("check-cancel")
        self.cancel_button.setAccessibleName(self.tr("Stop the check"))
        self.cancel_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_BrowserStop))
        self.cancel_button.clicked.connect(self.cancel_check)
        self.retry_button = QPushButton(self.tr("&Retry"), self)
        self.retry_button.setObjectName("check-retry")
        self.retry_button.setAccessibleName(self.tr("Run the check again"))
        self.retry_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_BrowserReload))
        self.retry_button.clicked.connect(self.start_check)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.retry_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self._set_running(False)

    # --- QWizardPage --------------------------------------------------------------------------

    def initializePage(self) -> None:
        """Entering the page starts a check."""
        self.start_check()

    def cleanupPage(self) -> None:
        """Going Back stops a running check first."""
        self.stop_and_wait()

    def isComplete(self) -> bool:
        """Next (to the verdict) once a check has ended."""
        return self.worker is None and self.state.last_result is not None

    # --- running ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """A check is in progress."""
        return self.worker is not None

    def start_check(self) -> None:
        """Validate the settings and start a check in a worker thread."""
        if self.worker is not None:
            return
        from ..worker import CheckWorker, check_options

        validation = self.state.validate()
        if validation.account is None:  # the earlier pages do not let this happen
            self.status_label.setText(" ".join(e.message for e in validation.errors))
            return
        account = validation.account
        self.state.last_result = None
        self.state.last_account = account
        self.steps_view.clear()
        self._items.clear()
        password = None if account.sso else self.state.password
        options = check_options(account, self.state.environment,
                                self.state.trusted_fingerprints(),
                                try_other_logins=self.state.try_other_logins)
        self.state.try_other_logins = False  # the consent was for this one check
        worker = CheckWorker(account, password, options, self)
        worker.step_event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        worker.trust_asked.connect(self._on_trust, Qt.ConnectionType.QueuedConnection)
        worker.verdict.connect(self._on_verdict, Qt.ConnectionType.QueuedConnection)
        worker.check_done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)
        self.worker = worker
        self.status_label.setText(self.tr("Checking %1 …").replace("%1", account.signin.address))
        self._set_running(True)
        self.completeChanged.emit()
        worker.start()
        self.check_started.emit()

    def cancel_check(self) -> None:
        """Ask the running check to stop; the result (cancelled) arrives as usual."""
        if self.worker is not None:
            self.status_label.setText(self.tr("Stopping …"))
            self.cancel_button.setEnabled(False)
            self.worker.cancel()
        self._close_trust_dialog()

    def stop_and_wait(self, timeout_ms: int = 10000) -> None:
        """Cancel a running check and wait for its thread to end (window closing, Back)."""
        worker = self.worker
        if worker is None:
            return
        self.cancel_check()
        worker.wait(timeout_ms)
        # The queued check_done has not been delivered yet; take the thread down here.
        self._finish(worker, worker.result)

    def _set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        self.retry_button.setEnabled(not running)
        # Busy indicator while running (the number of steps is not known beforehand); when the
        # check has ended the status line above says how.
        self.progress.setRange(0, 0)
        self.progress.setVisible(running)

    # --- events from the worker (GUI thread, queued) ------------------------------------------

    def _icon(self, status: StepStatus) -> object:
        return self.style().standardIcon(_STATUS_ICON[status])

    def _on_event(self, event: StepEvent) -> None:
        if self.sender() is not self.worker:
            return  # a late event of a run that was abandoned
        key = (event.step, event.attempt)
        item = self._items.get(key)
        # Step titles and lines quote the server: shown with control characters visible
        # (item text is plain text; tooltips are not, hence plain_tooltip).
        title, line = printable(event.title), printable(event.line)
        if event.kind == "started" or item is None:
            item = QTreeWidgetItem([title])
            self.steps_view.addTopLevelItem(item)
            self._items[key] = item
            self.steps_view.scrollToItem(item)
        if event.kind == "progress" and line:
            child = QTreeWidgetItem([line])
            child.setToolTip(0, plain_tooltip(line))
            item.addChild(child)
        elif event.kind == "finished":
            item.setText(0, f"{title} — {line}" if line else title)
        item.setIcon(0, self._icon(event.status))  # type: ignore[arg-type]
        status_word = {StepStatus.RUNNING: self.tr("running"), StepStatus.PASS: self.tr("passed"),
                       StepStatus.WARN: self.tr("warning"), StepStatus.FAIL: self.tr("failed"),
                       StepStatus.SKIP: self.tr("skipped")}[event.status]
        item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{status_word}: {item.text(0)}")
        item.setToolTip(0, plain_tooltip(item.text(0)))

    def _on_trust(self, question: TrustQuestion) -> None:
        if self.sender() is not self.worker or self.worker is None:
            return
        from ..trust_dialog import TrustDialog

        worker = self.worker
        dialog = TrustDialog(question, self)
        self.trust_dialog = dialog

        def answered(code: int) -> None:
            worker.answer_trust(code == TrustDialog.DialogCode.Accepted.value)
            if self.trust_dialog is dialog:
                self.trust_dialog = None
            dialog.deleteLater()

        dialog.finished.connect(answered)
        dialog.open()
        self.trust_dialog_shown.emit(dialog)

    def _close_trust_dialog(self) -> None:
        dialog, self.trust_dialog = self.trust_dialog, None
        if dialog is not None:
            dialog.reject()

    def _on_verdict(self, result: CheckResult) -> None:
        """The verdict is known (signed 200 OK verified): say it now; the sign-out follows."""
        if self.worker is not None and self.sender() is self.worker:
            self._show_verdict(result)

    def _on_done(self, result: CheckResult) -> None:
        worker = self.worker
        if worker is None or self.sender() is not worker:
            return
        self._finish(worker, result)

    def _finish(self, worker: CheckWorker, result: CheckResult | None) -> None:
        worker.wait()
        for signal in (worker.step_event, worker.trust_asked, worker.verdict, worker.check_done):
            signal.disconnect()
        worker.deleteLater()
        self.worker = None
        self._close_trust_dialog()
        self.state.last_result = result
        if result is not None and result.accepted_certificate is not None:
            self.state.accepted_certificate = result.accepted_certificate
        self._set_running(False)
        if result is None:
            self.status_label.setText(self.tr("The check was stopped."))
        else:
            self._show_verdict(result)
        self.completeChanged.emit()
        if result is not None:
            self.check_finished.emit(result)

    def _show_verdict(self, result: CheckResult) -> None:
        if result.verdict is Verdict.SIGNED_IN:
            text = self.tr("Signed in. Press Next for the summary and the report.")
        elif result.verdict is Verdict.CANCELLED:
            text = self.tr("The check was stopped. Press Retry to run it again.")
        else:
            text = self.tr("The sign-in failed (%1). Press Next to see what to change.").replace(
                "%1", result.code)
        self.status_label.setText(text)
        # The failed step is selected and in view, not opened: its title says in plain words
        # what failed; the protocol lines under it (REGISTER CSeq 2, 401 …) are its details.
        for index in range(self.steps_view.topLevelItemCount()):
            item = self.steps_view.topLevelItem(index)
            if item is not None and item.text(0) and any(
                    s.status is StepStatus.FAIL
                    and item.text(0).startswith(printable(s.title))
                    for s in result.steps):
                self.steps_view.setCurrentItem(item)
                self.steps_view.scrollToItem(item)
