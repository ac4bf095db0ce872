"""What the CLI and the wizard do with a profile: save it with its password, rename or delete
it, export it to Pidgin, import Pidgin's SIPE accounts. One place, so both front ends say the
same thing in the same words.

Invariants:
- nothing is half-done on a refusal: every check that can refuse (name taken, Pidgin running,
  no password to export, no keyring) runs before the first write;
- the password goes to the OS keyring only; a keyring that cannot be used is an error the front
  end turns into a choice (save without the password, or stop) — never a silent fallback;
- the messages (``lines``) never contain the password;
- a password moved out of accounts.xml leaves our backups of it too (see
  :mod:`sipe_setup.core.export.pidgin.accounts`); the messages say so;
- every Pidgin account becomes its own profile: two accounts with one sign-in address and
  different Logins get distinct profile names, and the lines say which is which.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from sipe_setup.core.account import Secret
from sipe_setup.core.export.pidgin import (
    ExportResult,
    PasswordMode,
    PidginFileError,
    PidginRunning,
    PidginSipeAccount,
    SipeAccountEntry,
    TrustedCertificate,
    export_account,
    find_running_clients,
    keyring_plugin_path,
    read_sipe_accounts,
    remove_saved_password,
)
from sipe_setup.core.profiles import (
    MAX_PROFILE_NAME,
    Profile,
    ProfileError,
    ProfileExists,
    ProfileStore,
    profile_id,
    validate_profile_name,
)
from sipe_setup.core.secrets import (
    KeyringUnavailable,
    PasswordPlace,
    PasswordVault,
    store_pidgin_password,
)

if TYPE_CHECKING:
    from sipe_setup.core.readiness import PidginReadiness

__all__ = ["ExportOutcome", "ImportedProfile", "SavedProfile", "delete_profile",
           "export_profile", "import_pidgin_accounts", "pidgin_profile_names",
           "profile_from_pidgin", "rename_profile", "save_profile"]


@dataclass(frozen=True, slots=True)
class SavedProfile:
    """A profile on disk, where its password went, and what to tell the user."""

    profile: Profile
    path: Path
    password_place: PasswordPlace | None
    lines: list[str]


def save_profile(store: ProfileStore, vault: PasswordVault, profile: Profile,
                 password: Secret | None, *, replace_existing: bool = False,
                 allow_without_password: bool = False,
                 now: dt.datetime | None = None) -> SavedProfile:
    """Save ``profile``; its password (if any, and not SSO) goes to the keyring first.

    Raises:
        ProfileExists: the name is taken and ``replace_existing`` is False (nothing written).
        KeyringUnavailable: no usable keyring and ``allow_without_password`` is False
            (nothing written); the message says why and what the user can do.
    """
    path = store.path_for(profile.name)
    if path.exists() and not replace_existing:
        raise ProfileExists(f"A profile “{profile.name}” exists already ({path}); choose "
                            "another name or replace it.")
    lines: list[str] = []
    place: PasswordPlace | None = None
    if profile.sso:
        lines.append("Password: none needed (Single Sign-On uses your Kerberos ticket).")
    elif password:
        try:
            place = vault.store(profile.id, password)
            lines.append(f"Password: {place.description}.")
        except KeyringUnavailable as exc:
            if not allow_without_password:
                raise
            lines.append(f"Password: not saved — {exc}")
    else:
        lines.append("Password: not saved; Pidgin will ask for it when it signs in.")
    if place is None and not profile.sso and not password:
        # Replacing a profile whose password is in the keyring, without a new password:
        # keep pointing at the stored one if it is still there.
        old_place = _still_stored(vault, profile, path)
        if old_place:
            place = old_place
            lines[-1] = f"Password: kept in {old_place.backend_name}."
    saved = replace(profile, password_stored=place is not None,
                    password_where=place.backend_name if place else "")
    written = store.save(saved, replace_existing=replace_existing, now=now)
    state = "validated" if saved.validation else "not validated yet"
    lines.insert(0, f"Profile “{saved.name}” saved ({state}) in {written}.")
    return SavedProfile(saved, written, place, lines)


def _still_stored(vault: PasswordVault, profile: Profile, path: Path) -> PasswordPlace | None:
    if not path.exists():
        return None
    try:
        if vault.load(profile.id) is None:
            return None
    except KeyringUnavailable:
        return None
    status = vault.status()
    return PasswordPlace(status.backend_name, f"Saved in {status.backend_name}")


def rename_profile(store: ProfileStore, vault: PasswordVault, old_name: str,
                   new_name: str) -> list[str]:
    """Rename a profile and move its keyring entry with it."""
    profile = store.load(old_name)
    new_name = validate_profile_name(new_name)
    new_id = Profile(name=new_name, signin=profile.signin).id
    if profile.password_stored and new_id != profile.id:
        password = vault.load(profile.id)
        if password is not None:
            if store.path_for(new_name).exists():
                raise ProfileExists(f"A profile “{new_name}” exists already; choose another "
                                    "name.")
            vault.store(new_id, password)
    renamed = store.rename(old_name, new_name)
    if profile.password_stored and new_id != profile.id:
        vault.delete(profile.id)
    return [f"Profile “{old_name}” is now “{renamed.name}”."]


def delete_profile(store: ProfileStore, vault: PasswordVault, name: str, *,
                   keep_password: bool = False) -> list[str]:
    """Delete a profile file and (unless asked not to) its keyring entry."""
    path = store.path_for(name)
    lines = []
    removed = store.delete(name)
    lines.append(f"Deleted profile “{name}” ({removed}).")
    if not keep_password:
        try:
            if vault.delete(path.stem):
                lines.append("Its password was removed from the keyring.")
        except KeyringUnavailable as exc:
            lines.append(f"Its password could not be removed from the keyring: {exc}")
    return lines


# --- Pidgin -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What an export did, and what to tell the user.

    ``pidgin_problems``: what Pidgin on this computer will still get wrong for this account
    ("Signed in — but Pidgin on this computer will fail TLS-DSK because …"; from
    :mod:`sipe_setup.core.readiness`); they are the last of ``lines`` too.
    """

    result: ExportResult
    entry: SipeAccountEntry
    lines: list[str]
    pidgin_problems: tuple[str, ...] = ()


def pidgin_entry(profile: Profile) -> SipeAccountEntry:
    """The Pidgin account for a profile (validated again; raises AccountValidationError)."""
    profile.account()
    settings = profile.pidgin_settings()
    return SipeAccountEntry(signin=profile.signin, login=profile.login,
                            server=str(settings["server"]),
                            transport=str(settings["transport"]),
                            authentication=str(settings["authentication"]),
                            sso=bool(settings["sso"]), useragent=str(settings["useragent"]))


def export_profile(profile: Profile, *, purple_dir: Path, mode: PasswordMode,
                   vault: PasswordVault, password: Secret | None = None,
                   now: dt.datetime | None = None,
                   readiness: PidginReadiness | None = None,
                   check_this_computer: bool = True) -> ExportOutcome:
    """Write ``profile`` into Pidgin's ``accounts.xml`` in ``purple_dir``.

    ``password`` overrides the one in sipe-setup's keyring (needed for the keyring and
    cleartext modes unless the profile uses Single Sign-On).

    The outcome's last lines say what Pidgin on this computer will still fail at for this
    profile (:func:`~sipe_setup.core.readiness.export_verdict_lines`): from ``readiness`` when
    given (the wizard has looked already), else from a fresh look at this computer (quick and
    bounded) unless ``check_this_computer`` is False.

    Raises:
        PidginRunning: Pidgin or Finch uses ``purple_dir`` (nothing written).
        ProfileError: no password for a mode that needs one (nothing written).
        KeyringUnavailable: the keyring mode cannot store the password (nothing written).
        PidginFileError: accounts.xml or prefs.xml is unreadable (nothing written).
    """
    entry = pidgin_entry(profile)
    lines: list[str] = []
    running = find_running_clients(purple_dir)
    if running:
        raise PidginRunning(running)
    if profile.sso and mode is not PasswordMode.NONE:
        lines.append("Single Sign-On: Pidgin needs no password, so none was exported.")
        mode = PasswordMode.NONE
    secret: Secret | None = None
    if mode is not PasswordMode.NONE:
        secret = password or vault.load(profile.id)
        if not secret:
            raise ProfileError("There is no password to export: the profile has none in the "
                               "keyring. Type the password, or export with the password mode "
                               "“none” (Pidgin will ask for it).")
    if mode is PasswordMode.KEYRING:
        assert secret is not None
        place = store_pidgin_password(entry.name, secret)
        lines.append(f"Password for Pidgin: {place.description}.")
    accepted = profile.validation.accepted_certificates if profile.validation else ()
    trusted = tuple(TrustedCertificate(c.host, c.pem) for c in accepted if c.pem)
    result = export_account(purple_dir, entry, password_mode=mode,
                            password=secret if mode is PasswordMode.CLEARTEXT else None,
                            trusted_certificates=trusted, now=now)
    lines = [*result.notes, *lines]
    problems: tuple[str, ...] = ()
    if readiness is not None or check_this_computer:
        from sipe_setup.core.readiness import PidginNeeds, check_readiness, export_verdict_lines

        needs = PidginNeeds.from_profile(profile, mode)
        if readiness is None:
            readiness = check_readiness(purple_dir=purple_dir, needs=needs)
        problems = tuple(export_verdict_lines(readiness, needs))
    return ExportOutcome(result, entry, [*lines, *problems], problems)


@dataclass(frozen=True, slots=True)
class ImportedProfile:
    """One Pidgin SIPE account and what became of it."""

    account_name: str
    profile: Profile | None
    lines: list[str] = field(default_factory=list)


def profile_from_pidgin(account: PidginSipeAccount, name: str = "") -> tuple[Profile, list[str]]:
    """A (not yet validated) profile from a Pidgin account, with notes on what was read.

    Raises:
        AccountValidationError: the account's fields are not valid (each error names a field).
        ProfileError: the profile name is unusable.
    """
    entry = account.entry
    draft = Profile(name=validate_profile_name(name or entry.signin), signin=entry.signin,
                    login=entry.login, server=entry.server, transport=entry.transport,
                    auth=entry.authentication, sso=entry.sso, user_agent=entry.useragent)
    settings = draft.account()
    return (replace(draft, transport=settings.transport.value, auth=settings.auth.value),
            list(account.notes))


def import_pidgin_accounts(store: ProfileStore, vault: PasswordVault, purple_dir: Path, *,
                           only: str = "", move_passwords: bool = False,
                           replace_existing: bool = False,
                           now: dt.datetime | None = None) -> list[ImportedProfile]:
    """Make profiles of Pidgin's SIPE accounts; optionally move cleartext passwords out.

    ``only`` limits the import to one account (its ``signin,login`` name or sign-in address).
    Moving a password stores it in sipe-setup's keyring entry *and* where the
    pidgin-gnome-keyring plugin reads it, then removes it from accounts.xml and from our
    backups of accounts.xml. Accounts sharing a sign-in address are named apart
    (:func:`pidgin_profile_names`).

    Raises:
        PidginFileError: accounts.xml is unreadable.
        PidginRunning: a password move was asked while Pidgin/Finch uses the folder.
    """
    every = read_sipe_accounts(purple_dir)
    names = pidgin_profile_names(every)
    chosen = [(a, names[i]) for i, a in enumerate(every)
              if not only or only in (a.entry.name, a.entry.signin)]
    if move_passwords and any(a.password for a, _ in chosen):
        running = find_running_clients(purple_dir)
        if running:
            raise PidginRunning(running)
    outcomes: list[ImportedProfile] = []
    for account, name in chosen:
        outcome = _import_one(store, vault, purple_dir, account, profile_name=name,
                              move_passwords=move_passwords,
                              replace_existing=replace_existing, now=now)
        if name != account.entry.signin and outcome.profile is not None:
            twins = [a.entry.login or "none" for a in every
                     if profile_id(a.entry.signin) == profile_id(account.entry.signin)]
            outcome.lines.append(
                f"Pidgin has {len(twins)} accounts for {account.entry.signin} (Logins: "
                f"{', '.join(twins)}); this one is the profile “{name}”, so they stay apart.")
        outcomes.append(outcome)
    return outcomes


def pidgin_profile_names(accounts: Sequence[PidginSipeAccount]) -> list[str]:
    """The profile name for each account: its sign-in address, or — when several accounts
    share one sign-in (different Logins) — ``signin (Login)``, kept unique and within the
    profile-name limit (``signin #2`` when the Login does not fit)."""
    groups: dict[str, int] = {}
    for account in accounts:
        key = profile_id(account.entry.signin)
        groups[key] = groups.get(key, 0) + 1
    used: set[str] = set()
    names: list[str] = []
    for account in accounts:
        signin = account.entry.signin.strip()
        if groups[profile_id(signin)] == 1:
            names.append(signin)
            used.add(profile_id(signin))
            continue
        name = f"{signin} ({account.entry.login or 'no Login'})"
        counter = 1
        while len(name) > MAX_PROFILE_NAME or profile_id(name) in used:
            counter += 1
            suffix = f" #{counter}"
            name = signin[:MAX_PROFILE_NAME - len(suffix)] + suffix
        used.add(profile_id(name))
        names.append(name)
    return names


def _import_one(store: ProfileStore, vault: PasswordVault, purple_dir: Path,
                account: PidginSipeAccount, *, profile_name: str, move_passwords: bool,
                replace_existing: bool, now: dt.datetime | None) -> ImportedProfile:
    name = account.entry.name
    try:
        profile, lines = profile_from_pidgin(account, profile_name)
    except ProfileError as exc:
        return ImportedProfile(name, None, [f"Not imported: {exc}"])
    except ValueError as exc:  # AccountValidationError: the Pidgin account itself is broken
        return ImportedProfile(name, None, [f"Not imported, the account needs repair: {exc}. "
                                            "Open it in the wizard to fix it."])
    if store.path_for(profile.name).exists() and not replace_existing:
        return ImportedProfile(name, None, [f"Skipped: a profile “{profile.name}” exists "
                                            "already (use replace to overwrite it)."])
    password = account.password if move_passwords else None
    try:
        saved = save_profile(store, vault, profile, password, replace_existing=True, now=now)
    except KeyringUnavailable as exc:
        return ImportedProfile(name, None, [f"Not imported: {exc}"])
    lines = [*saved.lines, *lines]
    if account.password and move_passwords:
        lines.extend(_move_password(purple_dir, name, account.password, now=now))
    elif account.password:
        lines.append("accounts.xml holds this password in plain text; import again with "
                     "“move the password to the keyring” to take it out.")
    return ImportedProfile(name, saved.profile, lines)


def _move_password(purple_dir: Path, name: str, password: Secret, *,
                   now: dt.datetime | None) -> list[str]:
    """Store the password where Pidgin's keyring plugin reads it, then take it out of
    accounts.xml and of our backups of it; the lines to show."""
    try:
        place = store_pidgin_password(name, password)
    except KeyringUnavailable as exc:
        return [f"The password stays in accounts.xml: {exc}"]
    try:
        removal = remove_saved_password(purple_dir, name, now=now)
    except (PidginRunning, PidginFileError, LookupError, OSError) as exc:
        return [f"The password is in {place.backend_name} now, but it stays in accounts.xml: "
                f"{exc}"]
    lines = [f"The plain-text password was removed from accounts.xml; Pidgin now reads it "
             f"from {place.backend_name} through the pidgin-gnome-keyring plugin."]
    if removal.backup is not None:
        lines.append(f"The previous accounts.xml was kept as {removal.backup}, without this "
                     "password (a backup never keeps a password you moved out).")
    if removal.scrubbed_backups:
        count = len(removal.scrubbed_backups)
        lines.append(f"The password was also removed from {count} older "
                     f"backup{'s' if count > 1 else ''} of accounts.xml.")
    if keyring_plugin_path() is None:
        lines.append("The pidgin-gnome-keyring plugin is not installed: install it "
                     "(sudo apt install pidgin-gnome-keyring) or Pidgin will ask for "
                     "the password.")
    return lines
