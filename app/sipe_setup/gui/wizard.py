"""The setup wizard: Start → Account → Connection → Check → Result → Save.

Pages have fixed ids (:class:`PageId`) with gaps so pages can be inserted; ``QWizard``'s default
``nextId`` goes to the next higher id. The Result page leads on to Save only after a check that
signed in; after a failure it is the last page. All pages share one
:class:`~sipe_setup.gui.state.WizardState`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QWidget, QWizard

from sipe_setup.core.account import Field
from sipe_setup.core.profiles import ProfileStore
from sipe_setup.core.secrets import PasswordVault

from .pages.account import AccountPage
from .pages.base import FieldPage
from .pages.check import CheckPage
from .pages.connection import ConnectionPage
from .pages.result import ResultPage
from .pages.save import SavePage
from .pages.start import StartChoice, StartPage
from .state import FIELD_KEYS, CheckEnvironment, WizardState

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
        self.start_page = StartPage(self.profile_store, self.vault, purple_dir,
                                    self.apply_start, lambda: self.state.text(Field.SIGNIN))
        self.account_page = AccountPage(self.state)
        self.connection_page = ConnectionPage(self.state)
        self.check_page = CheckPage(self.state)
        self.result_page = ResultPage(self.state, self.jump_to_field, self.check_again)
        self.result_page.save_page_id = PageId.SAVE
        self.save_page = SavePage(self.state, self.profile_store, self.vault, purple_dir)
        self.setPage(PageId.START, self.start_page)
        self.setPage(PageId.ACCOUNT, self.account_page)
        self.setPage(PageId.CONNECTION, self.connection_page)
        self.setPage(PageId.CHECK, self.check_page)
        self.setPage(PageId.RESULT, self.result_page)
        self.setPage(PageId.SAVE, self.save_page)
        self.setStartId(PageId.START if show_start_page else PageId.ACCOUNT)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.check_page.check_started.connect(self.remember_inputs)
        icon = QApplication.windowIcon()
        if not icon.isNull():
            logo = icon.pixmap(QSize(48, 48), self.devicePixelRatioF())
            self.setPixmap(QWizard.WizardPixmap.LogoPixmap, logo)

    def sizeHint(self) -> QSize:
        """Room for the step list and the longer help texts without cramping."""
        hint = super().sizeHint()
        return QSize(max(hint.width(), 760), max(hint.height(), 600))

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
        page = self.page(PAGE_OF_FIELD[fld])
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
        widget.setFocus()
        edit = getattr(widget, "selectAll", None)
        if callable(edit):
            edit()

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

    def done(self, result: int) -> None:
        """Closing the wizard stops a running check and waits for its thread."""
        self.check_page.stop_and_wait()
        self.save_page.stop_and_wait()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        """The window's close button: same as Cancel."""
        self.check_page.stop_and_wait()
        self.save_page.stop_and_wait()
        super().closeEvent(event)
