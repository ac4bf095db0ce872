"""Page 4, *Result*: the verdict, the phone code, what to change, and the report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizard,
    QWizardPage,
)

from sipe_setup.core.account import AccountSettings, Field
from sipe_setup.core.report import Redaction, report_html, report_json, report_text
from sipe_setup.core.steps import CheckResult, Verdict
from sipe_setup.core.textsafety import printable, printable_lines

from ..plain_words import split_details
from ..state import WizardState
from ..widgets import breakable, plain_label, scroll_body, wrapping_label

__all__ = ["ReportFormat", "ResultPage", "redaction_for"]

#: (file-dialog filter, suffix, renderer)
ReportFormat = tuple[str, str, Callable[[CheckResult, Redaction], str]]


def redaction_for(account: AccountSettings | None, result: CheckResult, state: WizardState, *,
                  users: bool, hosts: bool) -> Redaction:
    """The report's redaction: the password always; user names and hosts on request."""
    return Redaction.for_check(account, result, state.password or None, users=users,
                               hosts=hosts)


class ResultPage(QWizardPage):
    """The verdict in one sentence, the code in large type, the advice and the report."""

    def __init__(self, state: WizardState, jump_to_field: Callable[[Field], None],
                 retry_check: Callable[[], None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._jump_to_field = jump_to_field
        self._retry_check = retry_check
        self.setObjectName("result-page")
        self.setTitle(self.tr("Result"))
        #: The page after a successful check (the wizard sets it to its Save page).
        self.save_page_id = -1
        self.setButtonText(QWizard.WizardButton.NextButton, self.tr("&Save profile >"))
        self.setFinalPage(True)  # Finish is offered here too: saving is optional

        layout = QVBoxLayout(scroll_body(self))
        head = QHBoxLayout()
        self.verdict_icon = QLabel(self)
        head.addWidget(self.verdict_icon, 0, Qt.AlignmentFlag.AlignTop)
        # The verdict and the advice quote the server: plain text only (QLabel guesses rich).
        self.verdict_label = plain_label(QLabel(self))
        self.verdict_label.setObjectName("verdict")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bold = QFont(self.verdict_label.font())
        bold.setBold(True)
        self.verdict_label.setFont(bold)
        head.addWidget(self.verdict_label, 1)
        layout.addLayout(head)

        code_row = QHBoxLayout()
        code_caption = QLabel(self.tr("Code for your IT department:"), self)
        self.code_label = plain_label(QLabel(self))
        self.code_label.setObjectName("phone-code")
        self.code_label.setAccessibleName(self.tr("Code for your IT department"))
        self.code_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse
                                                | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        big = QFont(self.code_label.font())
        big.setPointSizeF(max(big.pointSizeF(), 9.0) * 2.0)
        big.setBold(True)
        self.code_label.setFont(big)
        code_caption.setBuddy(self.code_label)
        code_row.addWidget(code_caption)
        code_row.addWidget(self.code_label)
        code_row.addStretch(1)
        layout.addLayout(code_row)

        self.advice_box = QGroupBox(self)
        self.advice_box.setObjectName("advice")
        box = QVBoxLayout(self.advice_box)
        self.explanation_label = self._wrapping(box)
        self.explanation_label.setObjectName("advice-explanation")
        fix_caption = plain_label(QLabel(self.tr("What to change"), self.advice_box))
        caption_font = QFont(fix_caption.font())
        caption_font.setBold(True)
        fix_caption.setFont(caption_font)
        box.addWidget(fix_caption)
        self.fix_label = self._wrapping(box)
        self.fix_label.setObjectName("advice-fix")
        # Protocol words, SIPE's inner behaviour and command-line options: under Details
        # (plain_words), for IT; the report keeps every word.
        self.details_button = QToolButton(self.advice_box)
        self.details_button.setObjectName("advice-details-toggle")
        self.details_button.setText(self.tr("&Details"))
        self.details_button.setCheckable(True)
        self.details_button.setAutoRaise(True)
        self.details_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.details_button.setArrowType(Qt.ArrowType.RightArrow)
        self.details_button.setAccessibleName(self.tr("Show the technical details"))
        self.details_button.toggled.connect(self._toggle_details)
        box.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.details_label = self._wrapping(box)
        self.details_label.setObjectName("advice-details")
        self.details_label.hide()
        self.jump_button = QPushButton(self.advice_box)
        self.jump_button.setObjectName("jump-to-field")
        self.jump_button.clicked.connect(self._jump)
        self.login_forms_button = QPushButton(self.tr("Try the other &Login forms"),
                                              self.advice_box)
        self.login_forms_button.setObjectName("try-login-forms")
        self.login_forms_button.setToolTip(self.tr(
            "Checks up to two other ways of writing your Login with the same password, to tell "
            "a Login in the wrong form from a wrong password. Each rejected try counts towards "
            "your account's lockout, so do this once."))
        self.login_forms_button.clicked.connect(self._try_login_forms)
        self.login_forms_note = self._wrapping(box, add=False)
        self.login_forms_note.setObjectName("try-login-forms-note")
        self.login_forms_note.setText(self.tr(
            "Trying the other Login forms: each try counts as a failed sign-in on your "
            "account."))
        jump_row = QHBoxLayout()
        jump_row.addWidget(self.jump_button)
        jump_row.addWidget(self.login_forms_button)
        jump_row.addStretch(1)
        box.addLayout(jump_row)
        box.addWidget(self.login_forms_note)
        layout.addWidget(self.advice_box)

        report_box = QGroupBox(self.tr("Report"), self)
        report = QVBoxLayout(report_box)
        report_note = QLabel(self.tr(
            "The report lists every step and what the server answered, for your IT "
            "department. It never contains your password."), report_box)
        report_note.setWordWrap(True)
        report.addWidget(report_note)
        options = QHBoxLayout()
        self.hide_users = QCheckBox(self.tr("Hide &user names"), report_box)
        self.hide_users.setObjectName("redact-users")
        self.hide_hosts = QCheckBox(self.tr("Hide server &names and addresses"), report_box)
        self.hide_hosts.setObjectName("redact-hosts")
        options.addWidget(self.hide_users)
        options.addWidget(self.hide_hosts)
        options.addStretch(1)
        report.addLayout(options)
        actions = QHBoxLayout()
        self.copy_button = QPushButton(self.tr("&Copy report"), report_box)
        self.copy_button.setObjectName("copy-report")
        self.copy_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_FileDialogDetailedView))
        self.copy_button.clicked.connect(self.copy_report)
        self.save_button = QPushButton(self.tr("Sa&ve report…"), report_box)
        self.save_button.setObjectName("save-report")
        self.save_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_DialogSaveButton))
        self.save_button.clicked.connect(self._ask_save_report)
        self.copied_label = plain_label(QLabel(report_box))
        actions.addWidget(self.copy_button)
        actions.addWidget(self.save_button)
        actions.addWidget(self.copied_label, 1)
        report.addLayout(actions)
        layout.addWidget(report_box)
        layout.addStretch(1)

    def _wrapping(self, box: QVBoxLayout, *, add: bool = True) -> QLabel:
        label = wrapping_label(self.advice_box)
        if add:
            box.addWidget(label)
        return label

    def _toggle_details(self, shown: bool) -> None:
        self.details_button.setArrowType(Qt.ArrowType.DownArrow if shown
                                         else Qt.ArrowType.RightArrow)
        self.details_label.setVisible(shown)

    # --- showing the result -------------------------------------------------------------------

    def initializePage(self) -> None:
        """Fill the page from the last check."""
        result = self.state.last_result
        self.copied_label.clear()
        if result is None:
            return
        pixmap = {Verdict.SIGNED_IN: QStyle.StandardPixmap.SP_DialogApplyButton,
                  Verdict.FAILED: QStyle.StandardPixmap.SP_MessageBoxCritical,
                  Verdict.CANCELLED: QStyle.StandardPixmap.SP_MessageBoxInformation}[
            result.verdict]
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        self.verdict_icon.setPixmap(self.style().standardIcon(pixmap).pixmap(size, size))
        self.setSubTitle(self.tr("It works. Save it as a profile and put it into Pidgin, or "
                                 "press Finish.") if result.ok else
                         self.tr("The test sign-in did not work. Here is why, and what to do."))
        summary = printable(result.summary)
        self.verdict_label.setText(breakable(summary))
        self.verdict_label.setAccessibleName(summary)
        self.code_label.setText(printable(result.code))
        advice = result.advice
        self.advice_box.setVisible(advice is not None)
        details: list[str] = []
        if advice is not None:
            title = self.tr("Why") if not result.ok else self.tr("Note: %1").replace(
                "%1", printable(advice.title))
            self.advice_box.setTitle(title)
            for label, text in ((self.explanation_label, advice.explanation),
                                (self.fix_label, advice.fix)):
                words = split_details(printable_lines(text))
                label.setText(breakable(words.plain))
                label.setAccessibleName(words.plain)
                if words.details:
                    details.append(words.details)
        self.details_label.setText(breakable("\n".join(details)))
        self.details_button.setVisible(bool(details))
        self.details_button.setChecked(False)
        field = advice.field if advice is not None else None
        self.login_forms_button.setVisible(
            self._retry_check is not None and advice is not None and advice.id == "auth-failed")
        self.login_forms_note.setVisible(self.login_forms_button.isVisibleTo(self))
        self.jump_button.setVisible(field is not None)
        if field is not None:
            name = {Field.SIGNIN: self.tr("sign-in address"), Field.LOGIN: self.tr("Login"),
                    Field.PASSWORD: self.tr("password"), Field.SERVER: self.tr("server"),
                    Field.TRANSPORT: self.tr("connection type"),
                    Field.AUTH: self.tr("authentication scheme"),
                    Field.SSO: self.tr("Single Sign-On setting"),
                    Field.USER_AGENT: self.tr("User Agent")}[field]
            self.jump_button.setText(self.tr("C&hange the %1").replace("%1", name))
            self.jump_button.setAccessibleName(self.tr("Go back and change the %1").replace(
                "%1", name))

    def nextId(self) -> int:
        """On to Save after a sign-in that worked; otherwise this is the last page."""
        result = self.state.last_result
        return self.save_page_id if result is not None and result.ok else -1

    def _try_login_forms(self) -> None:
        assert self._retry_check is not None
        self.state.try_other_logins = True
        self._retry_check()

    def _jump(self) -> None:
        result = self.state.last_result
        if result is not None and result.advice is not None and result.advice.field:
            self._jump_to_field(result.advice.field)

    # --- the report ---------------------------------------------------------------------------

    def redaction(self) -> Redaction:
        """The redaction chosen with the two check boxes (the password always)."""
        assert self.state.last_result is not None
        return redaction_for(self.state.last_account, self.state.last_result, self.state,
                             users=self.hide_users.isChecked(), hosts=self.hide_hosts.isChecked())

    def report(self, fmt: str = "text") -> str:
        """The report of the last check as text, HTML or JSON."""
        result = self.state.last_result
        if result is None:
            return ""
        render = {"text": report_text, "html": report_html, "json": report_json}[fmt]
        return render(result, self.redaction())

    def copy_report(self) -> None:
        """Put the text report on the clipboard."""
        QGuiApplication.clipboard().setText(self.report("text"))
        self.copied_label.setText(self.tr("Copied to the clipboard."))

    def save_report(self, path: Path) -> None:
        """Write the report; the format follows the suffix (.html, .json, else text)."""
        fmt = {".html": "html", ".htm": "html", ".json": "json"}.get(path.suffix.lower(), "text")
        path.write_text(self.report(fmt), encoding="utf-8")
        self.copied_label.setText(self.tr("Saved to %1.").replace("%1", str(path)))

    def _ask_save_report(self) -> None:
        filters = {self.tr("Text (*.txt)"): ".txt", self.tr("Web page (*.html)"): ".html",
                   self.tr("JSON (*.json)"): ".json"}
        name, chosen = QFileDialog.getSaveFileName(
            self, self.tr("Save the report"), str(Path.home() / "sipe-setup-report.txt"),
            ";;".join(filters))
        if not name:
            return
        path = Path(name)
        if not path.suffix and chosen in filters:
            path = path.with_suffix(filters[chosen])
        self.save_report(path)
