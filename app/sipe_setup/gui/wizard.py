"""The setup wizard: Start → Account → Connection → Check → Result → Save.

Pages have fixed ids (:class:`PageId`) with gaps so pages can be inserted; ``QWizard``'s default
``nextId`` goes to the next higher id. The Result page leads on to Save only after a check that
signed in; after a failure it is the last page. All pages share one
:class:`~sipe_setup.gui.state.WizardState`.

Keyboard and screen: Enter presses the page's way forward (:meth:`SetupWizard.forward_button`),
never Back; F1 shows the focused field's help; focus moved anywhere scrolls it into view. The
window opens no larger than the screen (:meth:`SetupWizard.size_for_room`); the pages scroll.

Cold start: only the first page is built (and its module imported) before the window shows;
the others stand as empty placeholders until :meth:`SetupWizard.build_pages` — which
``sipe-setup-gui`` calls once the first page is painted —, the first use of a page attribute,
or the first Next.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QIcon, QKeyEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLabel,
    QPushButton,
    QScrollArea,
    QWidget,
    QWizard,
    QWizardPage,
)

from sipe_setup.core.account import Field
from sipe_setup.core.profiles import ProfileStore
from sipe_setup.core.secrets import PasswordVault

from .pages.base import FieldPage
from .pages.start import StartChoice, StartPage
from .state import FIELD_KEYS, CheckEnvironment, WizardState
from .widgets import show_help_for, verdict_logo

if TYPE_CHECKING:
    from .pages.account import AccountPage
    from .pages.check import CheckPage
    from .pages.connection import ConnectionPage
    from .pages.result import ResultPage
    from .pages.save import SavePage

__all__ = ["PAGE_OF_FIELD", "PageId", "SetupWizard", "default_settings"]

_SETTINGS_GROUP = "last-input"


class PageId(enum.IntEnum):
    """Page ids, in the order the pages come (gaps leave room for more)."""

    START = 5
    ACCOUNT = 10
    CONNECTION = 20
    CHECK = 30
    RESULT = 40
    SAVE = 50


#: The page each form field is on (for the Result page's "Change the …" button).
PAGE_OF_FIELD: Mapping[Field, PageId] = {
    Field.SIGNIN: PageId.ACCOUNT, Field.LOGIN: PageId.ACCOUNT, Field.PASSWORD: PageId.ACCOUNT,
    Field.SSO: PageId.ACCOUNT, Field.SERVER: PageId.CONNECTION,
    Field.TRANSPORT: PageId.CONNECTION, Field.AUTH: PageId.CONNECTION,
    Field.USER_AGENT: PageId.CONNECTION,
}


def default_settings() -> QSettings:
    """Where the last inputs are remembered (an INI file in the user's config dir)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "sipe-setup",
                     "sipe-setup-gui")


class SetupWizard(QWizard):
    """The wizard. ``state`` holds the values; ``prefill`` fills the Account/Connection fields.

    Args:
        environment: nameservers, CA file and timeouts for the checks.
        settings: where the last inputs are remembered (None: not remembered).
        profile_store: where profiles are saved and listed (default: the user's config dir).
        vault: where passwords are kept (default: the OS keyring).
        purple_dir: Pidgin's settings folder offered first (default ``~/.purple``).
        show_start_page: begin with the Start page (ways in); False begins with Account.
    """

    def __init__(self, environment: CheckEnvironment | None = None,
                 settings: QSettings | None = None, parent: QWidget | None = None, *,
                 profile_store: ProfileStore | None = None, vault: PasswordVault | None = None,
                 purple_dir: Path | None = None, show_start_page: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("setup-wizard")
        self.state = WizardState(environment=environment or CheckEnvironment())
        self.settings = settings
        self._title_note = ""
        self._update_title()
        self.restore_inputs()

        self.profile_store = profile_store or ProfileStore()
        self.vault = vault or PasswordVault()
        self._purple_dir = purple_dir
        self._built: dict[PageId, QWizardPage] = {}
        for page_id in PageId:  # placeholders keep the ids (and the Next button) in place
            self.setPage(page_id, QWizardPage())
        self.setStartId(PageId.START if show_start_page else PageId.ACCOUNT)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        # Enter presses the page's way forward, chosen here (forward_button), never Back.
        self.setOption(QWizard.WizardOption.NoDefaultButton, True)
        self._icon: QIcon = QApplication.windowIcon()
        if not self._icon.isNull():
            self.setPixmap(QWizard.WizardPixmap.LogoPixmap, verdict_logo(self._icon, None, self))
        self._entering = False  # a page is being entered: its focus does not scroll it
        self.currentIdChanged.connect(self._page_changed)
        # F1 (and Shift+F1): the focused field's help, what its "?" button shows.
        for key in (QKeySequence.StandardKey.HelpContents, QKeySequence.StandardKey.WhatsThis):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(self.show_focused_help)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)

    # --- pages, built on first use ------------------------------------------------------------

    def _make(self, page_id: PageId) -> QWizardPage:
        state = self.state
        if page_id is PageId.START:
            return StartPage(self.profile_store, self.vault, self._purple_dir, self.apply_start,
                             lambda: state.text(Field.SIGNIN))
        if page_id is PageId.ACCOUNT:
            from .pages.account import AccountPage

            return AccountPage(state)
        if page_id is PageId.CONNECTION:
            from .pages.connection import ConnectionPage

            return ConnectionPage(state)
        if page_id is PageId.CHECK:
            from .pages.check import CheckPage

            check = CheckPage(state)
            check.check_started.connect(self.remember_inputs)
            check.check_started.connect(self._show_verdict_logo)
            check.check_finished.connect(self._show_verdict_logo)
            return check
        if page_id is PageId.RESULT:
            from .pages.result import ResultPage

            result = ResultPage(state, self.jump_to_field, self.check_again)
            result.save_page_id = PageId.SAVE
            return result
        from .pages.save import SavePage

        save = SavePage(state, self.profile_store, self.vault, self._purple_dir)
        save.saved.connect(self._saved)
        save.keyring_checked.connect(self.update_default_button)
        save.password_row.changed.connect(self.update_default_button)
        return save

    def _built_page(self, page_id: PageId) -> QWizardPage:
        """The page of ``page_id``, built (in place of its placeholder) if it was not yet."""
        page = self._built.get(page_id)
        if page is None:
            page = self._built[page_id] = self._make(page_id)
            placeholder = self.page(page_id)
            self.removePage(page_id)
            self.setPage(page_id, page)
            if placeholder is not None:
                placeholder.deleteLater()
            page.completeChanged.connect(self.update_default_button)
        return page

    def build_pages(self) -> None:
        """Build every page not built yet (once the first page is on screen)."""
        for page_id in PageId:
            self._built_page(page_id)

    def setStartId(self, page_id: int) -> None:
        """The page the wizard begins with (built now: it is about to be shown)."""
        if page_id in tuple(PageId):
            self._built_page(PageId(page_id))
        super().setStartId(page_id)

    def validateCurrentPage(self) -> bool:
        """Next: every page exists before the wizard moves on."""
        self.build_pages()
        return bool(super().validateCurrentPage())

    @property
    def start_page(self) -> StartPage:
        page = self._built_page(PageId.START)
        assert isinstance(page, StartPage)
        return page

    @property
    def account_page(self) -> AccountPage:
        return cast("AccountPage", self._built_page(PageId.ACCOUNT))

    @property
    def connection_page(self) -> ConnectionPage:
        return cast("ConnectionPage", self._built_page(PageId.CONNECTION))

    @property
    def check_page(self) -> CheckPage:
        return cast("CheckPage", self._built_page(PageId.CHECK))

    @property
    def result_page(self) -> ResultPage:
        return cast("ResultPage", self._built_page(PageId.RESULT))

    @property
    def save_page(self) -> SavePage:
        return cast("SavePage", self._built_page(PageId.SAVE))

    #: What a window manager's title bar and borders add around the window, at most.
    FRAME_ROOM = QSize(16, 48)

    def size_for_room(self, room: QSize) -> QSize:
        """The size the wizard opens with on a screen with ``room`` (its available area, in
        device-independent pixels: 1366×768 at 200 % is 683×384): room for the step list and
        the longer help texts, but never more than the screen has — the pages scroll."""
        hint = super().sizeHint()
        wanted = QSize(max(hint.width(), 760), max(hint.height(), 600))
        return wanted.boundedTo(QSize(room.width() - self.FRAME_ROOM.width(),
                                      room.height() - self.FRAME_ROOM.height()))

    def setVisible(self, visible: bool) -> None:
        """Shown the first time: at :meth:`sizeHint` (Qt alone would open a window at no more
        than two thirds of the screen — 455×256 of a 1366×768 screen at 200 %)."""
        if visible and not self.testAttribute(Qt.WidgetAttribute.WA_Resized):
            self.resize(self.sizeHint())
        super().setVisible(visible)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self, self._fit_header)

    def _fit_header(self) -> None:
        """The page's title and subtitle keep every line at any width.

        QWizard sizes its header from the subtitle's one-size-fits-all hint, not from the
        height the text needs at the window's width (a top-level layout does not ask
        heightForWidth): in a narrow window the subtitle's last line was cut off.
        """
        for label in self.findChildren(QLabel):
            parent = label.parentWidget()
            if parent is None or parent.metaObject().className() != "QWizardHeader":
                continue
            need = label.heightForWidth(label.width()) if label.wordWrap() else -1
            if need > 0 and label.minimumHeight() != need:
                label.setMinimumHeight(need)

    def sizeHint(self) -> QSize:
        """:meth:`size_for_room` of the screen the wizard is on."""
        screen = self.screen()
        if screen is None:
            return self.size_for_room(QSize(1 << 16, 1 << 16))
        return self.size_for_room(screen.availableGeometry().size())

    def _update_title(self) -> None:
        title = self.tr("Set up Lync / Skype for Business for Pidgin")
        self.setWindowTitle(f"{title} — {self._title_note}" if self._title_note else title)

    def set_title_note(self, note: str) -> None:
        """Add a note to the window title (e.g. "demo")."""
        self._title_note = note
        self._update_title()

    def set_banner(self, text: str) -> None:
        """A note at the top of the Account page (the demo tells its password there)."""
        self.account_page.set_banner(text)

    # --- values -------------------------------------------------------------------------------

    def field_pages(self) -> list[FieldPage]:
        """The pages holding form fields."""
        return [self.account_page, self.connection_page]

    def prefill(self, values: Mapping[str, str | bool]) -> None:
        """Fill the Account and Connection fields.

        Keys are ``signin``, ``login``, ``server``, ``transport``, ``auth``, ``sso`` and
        ``user_agent`` (``core.account.Field`` values). There is no password key on purpose.

        Raises:
            KeyError: for an unknown key (before anything is changed).
        """
        unknown = [key for key in values if key not in FIELD_KEYS]
        if unknown:
            raise KeyError(f"unknown field(s) {', '.join(map(repr, unknown))}; expected "
                           f"{', '.join(FIELD_KEYS)}")
        for key, value in values.items():
            self.state.set(key, value)
        for page in self.field_pages():
            page.load_from_state()

    def skip_start_page(self) -> None:
        """Begin with the Account page (the fields were filled from the command line)."""
        self.setStartId(PageId.ACCOUNT)
        if self.currentId() == PageId.START:
            self.restart()

    def apply_start(self, choice: StartChoice) -> None:
        """Fill the wizard from a way in (Start page, ``--profile``, ``--settings-file``)."""
        if choice.values:
            self.prefill(choice.values)
        if choice.password is not None:
            self.account_page.set_password(choice.password)
        self.state.preset_trusted = choice.trusted
        self.state.login_pattern = choice.login_pattern
        self.state.profile_name = choice.profile_name
        if choice.purple_dir is not None:
            self.save_page.set_purple_dir(choice.purple_dir)
        self.set_banner(choice.note)

    def field_widget(self, fld: Field) -> QWidget:
        """The input widget of a field."""
        page = self._built_page(PAGE_OF_FIELD[fld])
        assert isinstance(page, FieldPage)
        widget = page.field_widget(fld)
        assert widget is not None
        return widget

    def check_again(self) -> None:
        """Back to the Check page and run the check once more (with the current state)."""
        while self.currentId() != PageId.CHECK and self.currentId() > PageId.CHECK:
            before = self.currentId()
            self.back()
            if self.currentId() == before:
                break
        self.check_page.start_check()

    def jump_to_field(self, fld: Field) -> None:
        """Go back to the page of ``fld`` and put the focus in it."""
        target = PAGE_OF_FIELD[fld]
        while self.currentId() != target and self.currentId() > target:
            before = self.currentId()
            self.back()
            if self.currentId() == before:
                break
        if self.currentId() != target:  # not on the path back (e.g. opened elsewhere)
            self.setStartId(target)
            self.restart()
        widget = self.field_widget(fld)
        self.show_focus(widget)
        edit = getattr(widget, "selectAll", None)
        if callable(edit):
            edit()

    # --- keyboard -----------------------------------------------------------------------------

    def forward_button(self) -> QPushButton | None:
        """The button Enter presses: the way forward of the current page, never Back.

        Next (or *Test sign-in*, *Save profile*) where there is one; on the Save page *Save*
        until the profile is saved, then Finish; on a failed Result page the advice's
        *Change the …* (the way to a working account), else Finish.
        """
        page_id = self.currentId()
        if page_id == PageId.SAVE and PageId.SAVE in self._built:
            save = self.save_page.save_button
            finish = self.button(QWizard.WizardButton.FinishButton)
            if save.isEnabled() or not finish.isEnabled():
                return save
            return finish if isinstance(finish, QPushButton) else None
        if page_id == PageId.RESULT and PageId.RESULT in self._built:
            result = self.state.last_result
            jump = self.result_page.jump_button
            if result is not None and not result.ok and not jump.isHidden():
                return jump
        for which in (QWizard.WizardButton.NextButton, QWizard.WizardButton.CommitButton,
                      QWizard.WizardButton.FinishButton):
            button = self.button(which)
            if isinstance(button, QPushButton) and not button.isHidden():
                return button
        return None

    def update_default_button(self) -> None:
        """Mark the forward button as the default (drawn so) and stop every other push button
        from taking Enter when it has the focus (Qt's auto-default): Enter on a focused
        *< Back* or *Change the …* button goes forward; Space still presses the focused one."""
        forward = self.forward_button()
        for button in self.findChildren(QPushButton):
            if button.window() is not self:  # a dialog of the wizard: its own defaults
                continue
            button.setAutoDefault(False)
            if button.isDefault() != (button is forward):
                button.setDefault(button is forward)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter and Return press :meth:`forward_button` (when it is enabled), nothing else."""
        plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier,
                                      Qt.KeyboardModifier.KeypadModifier)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and plain:
            self.update_default_button()
            forward = self.forward_button()
            if forward is not None and forward.isEnabled() and forward.isVisible():
                forward.click()
            event.accept()
            return
        super().keyPressEvent(event)

    def show_focused_help(self) -> None:
        """F1 / Shift+F1: the help of the field that has the focus."""
        show_help_for(QApplication.focusWidget())

    def show_focus(self, widget: QWidget) -> None:
        """Put the keyboard focus on ``widget`` so that it shows: drawn as focused (as after
        Tab) and scrolled into view."""
        self.setAttribute(Qt.WidgetAttribute.WA_KeyboardFocusChange, True)
        widget.setFocus(Qt.FocusReason.ShortcutFocusReason)
        QTimer.singleShot(0, widget, lambda: self._scroll_to(widget))

    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        if new is not None and new.window() is self and not self._entering:
            self._scroll_to(new)

    @staticmethod
    def _scroll_to(widget: QWidget) -> None:
        """Scroll the page so that ``widget`` (with a margin) is in view."""
        parent = widget.parentWidget()
        while parent is not None:
            if isinstance(parent, QScrollArea) and parent.objectName() == "page-scroll":
                parent.ensureWidgetVisible(widget, 16, 16)
                return
            parent = parent.parentWidget()

    def _page_changed(self, _page_id: int) -> None:
        self.update_default_button()
        self._show_verdict_logo()
        QTimer.singleShot(0, self, self._fit_header)  # another subtitle
        page = self.currentPage()
        if page is not None:
            self._focus_page(page)

    def _focus_page(self, page: QWizardPage) -> None:
        """A new page starts with the focus on its first input (QWizard would put it on Next
        when it has no default button); on a failed Result page on *Change the …*."""
        focus = QApplication.focusWidget()
        if focus is not None and page.isAncestorOf(focus) and focus.isVisible():
            return  # the page chose (e.g. a jump to a field)
        forward = self.forward_button()
        target: QWidget | None = forward if forward is not None and page.isAncestorOf(
            forward) and forward.isEnabled() and self.currentId() == PageId.RESULT else None
        candidate = page.nextInFocusChain()
        while target is None and candidate is not None and candidate is not page \
                and page.isAncestorOf(candidate):
            if (candidate.focusPolicy() & Qt.FocusPolicy.TabFocus) == Qt.FocusPolicy.TabFocus \
                    and candidate.isVisibleTo(page) and candidate.isEnabled():
                target = candidate
            candidate = candidate.nextInFocusChain()
        # A new page is read from its top: the focus goes in without scrolling the page (the
        # next Tab scrolls to wherever the focus then is).
        area = page.findChild(QScrollArea, "page-scroll")
        if area is not None:
            area.verticalScrollBar().setValue(0)
        if target is not None:
            self._entering = True
            try:
                target.setFocus(Qt.FocusReason.OtherFocusReason)
            finally:
                self._entering = False

    def _show_verdict_logo(self, *_args: object) -> None:
        """The header icon's badge follows the last check on the Check and Result pages: a
        green check after a sign-in, a red cross after a failure (never a check on a
        failure page)."""
        if self._icon.isNull():
            return
        result = self.state.last_result
        for page_id in (PageId.CHECK, PageId.RESULT):
            page = self._built.get(page_id)
            if page is None:
                continue
            verdict = None if result is None else result.verdict
            running = page_id == PageId.CHECK and getattr(page, "running", False)
            page.setPixmap(QWizard.WizardPixmap.LogoPixmap,
                           verdict_logo(self._icon, None if running else verdict, self))

    def _saved(self, outcome: object) -> None:
        """After Save: Finish becomes the way forward and gets the focus, so that Enter
        closes the wizard (and never goes back a page)."""
        self.update_default_button()
        forward = self.forward_button()
        if isinstance(forward, QAbstractButton) and forward is not self.save_page.save_button \
                and forward.isEnabled():
            self.show_focus(forward)
        # What Save did is in view (below the form, on a small screen off the page).
        status = self.save_page.status_message
        QTimer.singleShot(0, status, lambda: self._scroll_to(status))
        del outcome

    # --- remembered inputs --------------------------------------------------------------------

    def remember_inputs(self) -> None:
        """Store the current values (never the password) for the next start."""
        if self.settings is None:
            return
        self.settings.beginGroup(_SETTINGS_GROUP)
        for key in FIELD_KEYS:
            self.settings.setValue(key, self.state.values.get(key, ""))
        self.settings.endGroup()
        self.settings.sync()

    def restore_inputs(self) -> None:
        """Load the values remembered last time (pages are filled when they are built)."""
        if self.settings is None:
            return
        self.settings.beginGroup(_SETTINGS_GROUP)
        try:
            for key in FIELD_KEYS:
                value = self.settings.value(key)
                if value is None:
                    continue
                if key == Field.SSO.value:
                    self.state.set(key, str(value).lower() in ("true", "1"))
                else:
                    self.state.set(key, str(value))
        finally:
            self.settings.endGroup()

    # --- closing ------------------------------------------------------------------------------

    def _stop_background_work(self) -> None:
        for page_id in (PageId.CHECK, PageId.SAVE):
            page = self._built.get(page_id)  # a page never built has nothing running
            stop = getattr(page, "stop_and_wait", None)
            if callable(stop):
                stop()

    def done(self, result: int) -> None:
        """Closing the wizard stops a running check and waits for its thread."""
        self._stop_background_work()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        """The window's close button: same as Cancel."""
        self._stop_background_work()
        super().closeEvent(event)
