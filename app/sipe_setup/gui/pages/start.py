"""Page 0, *Start*: a new setup, or start from what exists — a Pidgin account to check and
repair, a saved profile, or a settings file from IT.

Each way in becomes a :class:`StartChoice` (field values, maybe a password held in memory, a
note for the Account page, certificates to trust); the wizard applies it. The same functions
build the choice for the ``--profile`` and ``--settings-file`` options.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from sipe_setup.core.account import AccountValidationError, Secret
from sipe_setup.core.pidgin import (
    PidginFileError,
    PidginSipeAccount,
    default_purple_dir,
    read_sipe_accounts,
)
from sipe_setup.core.profile_actions import profile_from_pidgin
from sipe_setup.core.profiles import Profile, ProfileError, ProfileStore
from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault
from sipe_setup.core.sharefile import SharedSettings, SharedSettingsError, load_shared_settings

from ..keyring_bridge import KeyringCall
from ..widgets import (
    FieldMessage,
    HelpButton,
    MessageKind,
    hint_label,
    home_relative,
    scroll_body,
)

__all__ = ["StartChoice", "StartPage", "StartWay", "choice_from_pidgin", "choice_from_profile",
           "choice_from_settings"]


def _tr(text: str) -> str:
    return QCoreApplication.translate("StartPage", text)


class StartWay(enum.Enum):
    """The ways into the wizard."""

    NEW = "new"
    PIDGIN = "pidgin"
    PROFILE = "profile"
    SETTINGS = "settings"


@dataclass(frozen=True, slots=True)
class StartChoice:
    """What a way in fills in. ``password`` None: leave the password field as it is."""

    values: dict[str, str | bool] = field(default_factory=dict)
    password: Secret | None = None
    note: str = ""
    trusted: frozenset[str] = frozenset()
    login_pattern: str = ""
    profile_name: str = ""
    purple_dir: Path | None = None


def _profile_values(profile: Profile) -> dict[str, str | bool]:
    return {"signin": profile.signin, "login": profile.login, "server": profile.server,
            "transport": profile.transport, "auth": profile.auth, "sso": profile.sso,
            "user_agent": profile.user_agent}


def choice_from_pidgin(account: PidginSipeAccount, purple_dir: Path) -> StartChoice:
    """Pidgin's account as SIPE reads it; its cleartext password (if any) in memory only."""
    notes: list[str] = []
    try:
        profile, read_notes = profile_from_pidgin(account, "Pidgin")
        values = _profile_values(profile)
        notes.extend(read_notes)
    except (AccountValidationError, ProfileError):
        entry = account.entry  # a broken account: show it as it is, the pages say what is wrong
        values = {"signin": entry.signin, "login": entry.login, "server": entry.server,
                  "transport": entry.transport, "auth": entry.authentication,
                  "sso": entry.sso, "user_agent": entry.useragent}
        notes.append(_tr("Pidgin's settings for this account have problems; they are marked "
                         "on the pages."))
    if account.password:
        notes.append(_tr("The password was taken from accounts.xml, where Pidgin keeps it in "
                         "plain text; here it stays in memory only."))
    head = _tr("Checking the Pidgin account <b>%1</b>.").replace(
        "%1", _escape(account.entry.signin))
    return StartChoice(values=values, password=account.password or Secret(""),
                       note=" ".join([head, *map(_escape, notes)]), purple_dir=purple_dir)


def choice_from_profile(profile: Profile, vault: PasswordVault) -> StartChoice:
    """A saved profile; its password from the keyring when it was stored there."""
    notes = [_tr("Checking the saved profile <b>%1</b>.").replace("%1", _escape(profile.name))]
    password = Secret("")
    if profile.password_stored and not profile.sso:
        try:
            stored = vault.load(profile.id)
        except KeyringUnavailable as exc:
            stored = None
            notes.append(_escape(_tr("Its password could not be read from the keyring: %1")
                                 .replace("%1", str(exc))))
        if stored:
            password = stored
            notes.append(_escape(_tr("The password comes from %1.").replace(
                "%1", profile.password_where or _tr("the keyring"))))
        elif not notes[1:]:
            notes.append(_tr("Its password is no longer in the keyring; type it."))
    cert = profile.validation.certificate if profile.validation else None
    return StartChoice(values=_profile_values(profile), password=password,
                       note=" ".join(notes),
                       trusted=frozenset({cert.sha256}) if cert else frozenset(),
                       profile_name=profile.name)


def choice_from_settings(settings: SharedSettings, signin: str = "") -> StartChoice:
    """IT's settings; the Login follows the sign-in address through IT's pattern."""
    who = settings.organization or _tr("your IT department")
    parts = [_tr("Settings from <b>%1</b>.").replace("%1", _escape(who))]
    if settings.note:
        parts.append(_escape(settings.note))
    if not signin:
        parts.append(_tr("Type your sign-in address and password."))
    return StartChoice(values=settings.prefill(signin), note=" ".join(parts),
                       trusted=settings.trusted_fingerprints,
                       login_pattern=settings.login_pattern)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class StartPage(QWizardPage):
    """Four ways in; all but *New setup* need something picked before Next.

    Args:
        store: where saved profiles are listed from.
        vault: where a saved profile's password is read from.
        purple_dir: the Pidgin folder offered first.
        apply: called with the choice when Next is pressed.
    """

    def __init__(self, store: ProfileStore, vault: PasswordVault, purple_dir: Path | None,
                 apply: Callable[[StartChoice], None], current_signin: Callable[[], str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.vault = vault
        self._apply = apply
        self._current_signin = current_signin
        self.settings: SharedSettings | None = None
        self.accounts: list[PidginSipeAccount] = []
        # A saved profile's password is read from the keyring off the GUI thread.
        self.password_read = KeyringCall(self)
        self.password_read.done.connect(self._password_read)
        self._read_choice: tuple[Profile, StartChoice] | None = None
        self.setObjectName("start-page")
        self.setTitle(self.tr("Set up Lync / Skype for Business for Pidgin"))
        self.setSubTitle(self.tr("Start from scratch, or from what you already have."))

        layout = QVBoxLayout(scroll_body(self))
        self.ways = QButtonGroup(self)
        self.buttons: dict[StartWay, QRadioButton] = {}
        self.details: dict[StartWay, QWidget] = {}

        # New setup
        self._add_way(layout, StartWay.NEW, self.tr("Ne&w setup"), self.tr(
            "Type your sign-in address and password; the server is found automatically."),
                      None)

        # A Pidgin account
        pidgin = QWidget(self)
        column = self._column(pidgin)
        folder_row = QHBoxLayout()
        self.purple_edit = QLineEdit(home_relative(str(purple_dir or default_purple_dir())),
                                     pidgin)
        self.purple_edit.setObjectName("start-purple-dir")
        self.purple_edit.setAccessibleName(self.tr("Pidgin's settings folder"))
        self.purple_edit.editingFinished.connect(self.load_pidgin_accounts)
        choose = QPushButton(self.tr("Choose &folder…"), pidgin)
        choose.setObjectName("start-choose-purple-dir")
        choose.setAccessibleName(self.tr("Choose Pidgin's settings folder"))
        choose.clicked.connect(self._ask_purple_dir)
        folder_row.addWidget(self.purple_edit, 1)
        folder_row.addWidget(choose)
        column.addLayout(folder_row)
        self.pidgin_list = self._list(pidgin, "pidgin-accounts",
                                      self.tr("SIPE accounts in Pidgin"))
        column.addWidget(self.pidgin_list)
        self.pidgin_message = FieldMessage(pidgin)
        column.addWidget(self.pidgin_message)
        self._add_way(layout, StartWay.PIDGIN,
                      self.tr("Check and &repair an existing Pidgin account"), self.tr(
            "Reads the SIPE accounts from Pidgin's accounts.xml (nothing is changed until you "
            "save at the end)."), pidgin)

        # A saved profile
        saved = QWidget(self)
        column = self._column(saved)
        self.profile_list = self._list(saved, "saved-profiles", self.tr("Saved profiles"))
        column.addWidget(self.profile_list)
        self.profile_message = FieldMessage(saved)
        column.addWidget(self.profile_message)
        self._add_way(layout, StartWay.PROFILE, self.tr("A saved &profile"), self.tr(
            "A setup you saved with sipe-setup before; its password comes from the keyring."),
                      saved)

        # A settings file from IT
        shared = QWidget(self)
        column = self._column(shared)
        file_row = QHBoxLayout()
        self.settings_edit = QLineEdit(shared)
        self.settings_edit.setObjectName("settings-file")
        self.settings_edit.setAccessibleName(self.tr("Settings file"))
        self.settings_edit.setPlaceholderText(self.tr("a .json file from your IT department"))
        self.settings_edit.editingFinished.connect(self._settings_path_edited)
        choose_file = QPushButton(self.tr("Choose f&ile…"), shared)
        choose_file.setObjectName("choose-settings-file")
        choose_file.setAccessibleName(self.tr("Choose the settings file"))
        choose_file.clicked.connect(self._ask_settings_file)
        file_row.addWidget(self.settings_edit, 1)
        file_row.addWidget(choose_file)
        column.addLayout(file_row)
        self.settings_message = FieldMessage(shared)
        self.settings_message.setObjectName("settings-file-message")
        column.addWidget(self.settings_message)
        self._add_way(layout, StartWay.SETTINGS, self.tr("A &settings file from IT"), self.tr(
            "IT can hand out a small file with the server and Login pattern (never a "
            "password), so you only type your address and password."), shared)
        layout.addStretch(1)

        self.buttons[StartWay.NEW].setChecked(True)
        self.ways.buttonToggled.connect(self._way_toggled)
        self.pidgin_list.currentRowChanged.connect(lambda _row: self.completeChanged.emit())
        self.profile_list.currentRowChanged.connect(lambda _row: self.completeChanged.emit())
        self._way_toggled()

    # --- layout helpers -----------------------------------------------------------------------

    def _column(self, widget: QWidget) -> QVBoxLayout:
        column = QVBoxLayout(widget)
        indent = self.style().pixelMetric(self.style().PixelMetric.PM_ExclusiveIndicatorWidth)
        column.setContentsMargins(indent + 8, 0, 0, 4)
        column.setSpacing(4)
        return column

    def _list(self, parent: QWidget, name: str, accessible: str) -> QListWidget:
        widget = QListWidget(parent)
        widget.setObjectName(name)
        widget.setAccessibleName(accessible)
        rows = widget.fontMetrics().height() + 6
        widget.setMaximumHeight(rows * 4 + 4)
        widget.setMinimumHeight(rows * 2 + 4)
        return widget

    def _add_way(self, layout: QVBoxLayout, way: StartWay, text: str, help_text: str,
                 details: QWidget | None) -> None:
        row = QHBoxLayout()
        button = QRadioButton(text, self)
        button.setObjectName(f"start-{way.value}")
        button.setToolTip(help_text)
        button.setAccessibleDescription(help_text)
        self.ways.addButton(button)
        self.buttons[way] = button
        row.addWidget(button)
        row.addWidget(HelpButton(text.replace("&", ""), help_text, self))
        row.addStretch(1)
        layout.addLayout(row)
        if details is not None:
            layout.addWidget(details)
            self.details[way] = details
        else:
            hint = hint_label(help_text, self)
            hint.setContentsMargins(
                self.style().pixelMetric(self.style().PixelMetric.PM_ExclusiveIndicatorWidth)
                + 8, 0, 0, 4)
            layout.addWidget(hint)

    # --- which way ----------------------------------------------------------------------------

    def way(self) -> StartWay:
        """The way chosen."""
        return next(w for w, b in self.buttons.items() if b.isChecked())

    def choose(self, way: StartWay) -> None:
        """Pick a way (as a click on its button would)."""
        self.buttons[way].setChecked(True)

    def _way_toggled(self, _button: object = None, checked: bool = True) -> None:
        if not checked:  # the button losing the check; the one gaining it follows
            return
        way = self.way()
        for other, widget in self.details.items():
            widget.setVisible(other is way)
        if way is StartWay.PIDGIN and not self.pidgin_list.count() \
                and not self.pidgin_message.message():
            self.load_pidgin_accounts()
        elif way is StartWay.PROFILE:
            self.load_profiles()
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        """New setup always; the others once something usable is picked."""
        if self.password_read.busy():
            return False
        way = self.way()
        if way is StartWay.PIDGIN:
            return 0 <= self.pidgin_list.currentRow() < len(self.accounts)
        if way is StartWay.PROFILE:
            item = self.profile_list.currentItem()
            return item is not None and isinstance(
                item.data(Qt.ItemDataRole.UserRole), Profile)
        if way is StartWay.SETTINGS:
            return self.settings is not None
        return True

    # --- Pidgin -------------------------------------------------------------------------------

    def purple_dir(self) -> Path:
        """The Pidgin folder as typed."""
        return Path(self.purple_edit.text().strip() or str(default_purple_dir())).expanduser()

    def set_purple_dir(self, path: Path) -> None:
        """Read the accounts of another Pidgin folder."""
        self.purple_edit.setText(home_relative(str(path)))
        self.load_pidgin_accounts()

    def _ask_purple_dir(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.tr("Pidgin's settings folder"),
                                                  str(self.purple_dir()))
        if chosen:
            self.set_purple_dir(Path(chosen))

    def load_pidgin_accounts(self) -> None:
        """(Re)read the SIPE accounts of the Pidgin folder into the list."""
        self.pidgin_list.clear()
        self.accounts = []
        folder = self.purple_dir()
        try:
            self.accounts = read_sipe_accounts(folder)
        except PidginFileError as exc:
            self.pidgin_message.show_message(MessageKind.ERROR, home_relative(str(exc)))
        except OSError as exc:
            self.pidgin_message.show_message(MessageKind.ERROR, self.tr(
                "%1 cannot be read: %2").replace("%1", str(folder)).replace(
                "%2", exc.strerror or str(exc)))
        else:
            if self.accounts:
                self.pidgin_message.clear()
            else:
                self.pidgin_message.show_message(MessageKind.INFO, self.tr(
                    "There is no SIPE account in %1.").replace(
                    "%1", home_relative(str(folder / "accounts.xml"))))
        for account in self.accounts:
            entry = account.entry
            text = entry.signin + (f"  ({entry.login})" if entry.login else "")
            if account.password:
                text += self.tr("  — password saved in plain text")
            item = QListWidgetItem(text, self.pidgin_list)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, text)
        if self.accounts:
            self.pidgin_list.setCurrentRow(0)
        self.pidgin_list.setAccessibleDescription(self.pidgin_message.message())
        self.completeChanged.emit()

    # --- saved profiles -----------------------------------------------------------------------

    def load_profiles(self) -> None:
        """(Re)list the saved profiles; unreadable ones are shown with their problem."""
        self.profile_list.clear()
        try:
            listings = self.store.list()
        except OSError as exc:
            self.profile_message.show_message(MessageKind.ERROR, self.tr(
                "The profiles cannot be listed: %1").replace("%1", exc.strerror or str(exc)))
            return
        first = -1
        for listing in listings:
            profile = listing.profile
            if profile is not None:
                state = self.tr("validated") if profile.validation else self.tr(
                    "not validated")
                text = f"{profile.name} — {profile.signin} ({state})"
            else:
                text = self.tr("%1 — cannot be used: %2").replace(
                    "%1", listing.path.name).replace("%2", listing.problem)
            item = QListWidgetItem(text, self.profile_list)
            item.setData(Qt.ItemDataRole.AccessibleTextRole, text)
            item.setToolTip(text)
            if profile is None:
                item.setFlags(item.flags() & ~(Qt.ItemFlag.ItemIsEnabled
                                               | Qt.ItemFlag.ItemIsSelectable))
            else:
                item.setData(Qt.ItemDataRole.UserRole, profile)
                if first < 0:
                    first = self.profile_list.count() - 1
        if first >= 0:
            self.profile_list.setCurrentRow(first)
        if not listings:
            self.profile_message.show_message(MessageKind.INFO, self.tr(
                "No saved profiles yet (in %1).").replace("%1", str(self.store.directory)))
        else:
            self.profile_message.clear()
        self.completeChanged.emit()

    def select_profile(self, name: str) -> bool:
        """Select the saved profile called ``name``; False if it is not there."""
        for row in range(self.profile_list.count()):
            item = self.profile_list.item(row)
            profile = item.data(Qt.ItemDataRole.UserRole)
            if isinstance(profile, Profile) and profile.name == name:
                self.profile_list.setCurrentRow(row)
                return True
        return False

    # --- settings file ------------------------------------------------------------------------

    def _ask_settings_file(self) -> None:
        name, _filter = QFileDialog.getOpenFileName(
            self, self.tr("Settings file from IT"), str(Path.home()),
            self.tr("sipe-setup settings (*.json);;All files (*)"))
        if name:
            self.load_settings_file(Path(name))

    def _settings_path_edited(self) -> None:
        text = self.settings_edit.text().strip()
        if text:
            self.load_settings_file(Path(text).expanduser())

    def load_settings_file(self, path: Path) -> None:
        """Read IT's settings; what they say (or what is wrong) appears under the file name."""
        self.settings_edit.setText(str(path))
        try:
            self.settings = load_shared_settings(path)
        except SharedSettingsError as exc:
            self.settings = None
            self.settings_message.show_message(MessageKind.ERROR, self.tr(
                "This file cannot be used: %1").replace("%1", str(exc)))
        else:
            settings = self.settings
            parts = [self.tr("From %1.").replace(
                "%1", settings.organization or self.tr("your IT department"))]
            if settings.note:
                parts.append(settings.note)
            if settings.certificate_sha256:
                parts.append(self.tr("Trusts the certificate of %1.").replace(
                    "%1", settings.certificate_host))
            self.settings_message.show_message(MessageKind.INFO, " ".join(parts))
        self.settings_edit.setAccessibleDescription(self.settings_message.message())
        self.completeChanged.emit()

    # --- Next ---------------------------------------------------------------------------------

    def choice(self) -> StartChoice | None:
        """What the chosen way fills in (None for a new setup: keep what is there)."""
        way = self.way()
        if way is StartWay.PIDGIN:
            return choice_from_pidgin(self.accounts[self.pidgin_list.currentRow()],
                                      self.purple_dir())
        if way is StartWay.PROFILE:
            item = self.profile_list.currentItem()
            profile = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
            assert isinstance(profile, Profile)
            return choice_from_profile(profile, self.vault)
        if way is StartWay.SETTINGS:
            assert self.settings is not None
            return choice_from_settings(self.settings, self._current_signin())
        return None

    def _profile_with_stored_password(self) -> Profile | None:
        item = self.profile_list.currentItem()
        profile = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        if (self.way() is StartWay.PROFILE and isinstance(profile, Profile)
                and profile.password_stored and not profile.sso):
            return profile
        return None

    def validatePage(self) -> bool:
        """Apply the choice to the fields before the Account page shows.

        A saved profile's password comes from the keyring, which may ask to be unlocked or
        not answer at all: it is read in the background (Next is disabled meanwhile), and the
        wizard goes on by itself once it is there.
        """
        if not self.isComplete():
            return False
        profile = self._profile_with_stored_password()
        if profile is not None:
            read, self._read_choice = self._read_choice, None
            if read is not None and read[0] is profile:
                self._apply(read[1])
                return True
            vault = self.vault
            self.password_read.start(lambda: choice_from_profile(profile, vault))
            self.profile_message.show_message(MessageKind.INFO, self.tr(
                "Reading the password from the keyring …"))
            self.completeChanged.emit()
            return False
        self._apply(self.choice() or StartChoice())
        return True

    def _password_read(self, result: object) -> None:
        profile = self._profile_with_stored_password()
        self.profile_message.clear()
        self.completeChanged.emit()
        if not isinstance(result, StartChoice) or profile is None \
                or result.profile_name != profile.name or not self.isVisible():
            return  # a bug, or the user picked something else meanwhile: Next again
        self._read_choice = (profile, result)
        wizard = self.wizard()
        if wizard is not None:
            wizard.next()
