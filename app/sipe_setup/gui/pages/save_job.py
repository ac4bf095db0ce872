"""What pressing Save does, in a thread with no widgets in reach (see :mod:`.save`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QCoreApplication

from sipe_setup.core.account import AccountValidationError, Secret
from sipe_setup.core.pidgin import PasswordMode, PidginFileError, PidginRunning
from sipe_setup.core.profile_actions import SavedProfile, export_profile, save_profile
from sipe_setup.core.profiles import Profile, ProfileError, ProfileStore
from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault

__all__ = ["SaveJob", "SaveOutcome"]


def _tr(text: str) -> str:
    return QCoreApplication.translate("SavePage", text)


@dataclass(slots=True)
class SaveOutcome:
    """What pressing Save did: the messages, and whether the profile and the export happened.

    ``keyring_problem``: the profile was not saved because the keyring could not take the
    password (locked, dismissed, not answering, …) — the page then offers saving without it.
    ``password_note``: where the password went, in a sentence ("" when the profile was saved
    before, by an earlier press).
    """

    profile: Profile | None = None
    exported: bool = False
    lines: list[str] = field(default_factory=list)
    error: str = ""
    keyring_problem: KeyringUnavailable | None = None
    password_note: str = ""
    pidgin_running: bool = False  # the export was refused: Pidgin/Finch uses the folder


def password_note(saved: SavedProfile) -> str:
    """Where the password is now, for the page's Password row."""
    profile = saved.profile
    if profile.sso:
        return _tr("None needed: Single Sign-On uses your Kerberos ticket.")
    if saved.password_place is not None:
        return _tr("Saved in %1.").replace("%1", saved.password_place.backend_name)
    if profile.password_stored:
        return _tr("Kept in %1.").replace("%1", profile.password_where or _tr("the keyring"))
    return _tr("Not saved: Pidgin will ask for it when it signs in.")


@dataclass(slots=True)
class SaveJob:
    """The work behind Save: the profile (password into the keyring), then the export.

    ``keep_password_out``: the user chose "save without the password" — sipe-setup's keyring
    is not touched at all (no unlock prompt, no wait for a keyring that does not answer);
    Pidgin still gets the password if its own mode asks for it.
    """

    store: ProfileStore
    vault: PasswordVault
    profile: Profile
    already_saved: bool
    password: Secret | None
    replace_existing: bool
    keep_password_out: bool
    export: bool
    purple_dir: Path
    mode: PasswordMode

    def run(self) -> SaveOutcome:
        outcome = SaveOutcome()
        if self.already_saved:
            outcome.profile = self.profile
        else:
            try:
                saved = save_profile(
                    self.store, self.vault, self.profile,
                    None if self.keep_password_out else self.password,
                    replace_existing=self.replace_existing,
                    allow_without_password=self.keep_password_out)
            except KeyringUnavailable as exc:
                outcome.keyring_problem = exc
                outcome.error = _tr("The profile was not saved: %1").replace("%1", str(exc))
                return outcome
            except (ProfileError, OSError) as exc:
                outcome.error = _tr("The profile was not saved: %1").replace("%1", str(exc))
                return outcome
            outcome.profile = saved.profile
            outcome.lines.extend(saved.lines)
            outcome.password_note = password_note(saved)
        if not self.export:
            return outcome
        try:
            exported = export_profile(outcome.profile, purple_dir=self.purple_dir,
                                      mode=self.mode, vault=self.vault, password=self.password)
        except (PidginRunning, PidginFileError, ProfileError, KeyringUnavailable,
                AccountValidationError, OSError) as exc:
            outcome.error = _tr("Not exported to Pidgin: %1").replace("%1", str(exc))
            outcome.pidgin_running = isinstance(exc, PidginRunning)
            return outcome
        outcome.exported = True
        outcome.lines.extend(exported.lines)
        return outcome
