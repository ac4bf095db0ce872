"""Merging a SIPE account into accounts.xml, and taking a plain-text password out of it.

Invariants:
- everything that can fail is checked before anything is written: a corrupt accounts.xml or
  prefs.xml, a running Pidgin/Finch on the same folder, or a bad entry leaves all files as they
  were, and the error says so;
- the read-merge-write runs under the folder lock
  (:func:`~sipe_setup.core.fileio.locked_folder`), so two exports never lose each other's
  account, and the file is re-checked just before it is replaced (another program's change is
  refused, never overwritten);
- other accounts, settings, statuses and unknown elements survive in meaning: the document is
  parsed, only our account's SIPE keys, password and ``auto-login`` flags are touched, and the
  tree is written back (whitespace between elements may change; text does not);
- a backup never keeps a password the user asked to remove: when an export in ``none`` or
  ``keyring`` mode (or a move to the keyring) drops this account's ``<password>``, the new
  backup is written without it, and it is scrubbed from our older backups of accounts.xml too.
  Other accounts' passwords in backups stay as they were (they are the user's choice);
- the password never appears in a log line, a note, an exception or a ``repr``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import xml.etree.ElementTree as ET  # only to build and serialise; parsing is defused
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sipe_setup.core.account import Secret
from sipe_setup.core.export.pidgin import paths, xmlfile
from sipe_setup.core.export.pidgin.account_xml import (
    apply_entry,
    check_entry,
    new_account,
    set_password,
)
from sipe_setup.core.export.pidgin.model import (
    ExportResult,
    PasswordMode,
    PidginFileError,
    SipeAccountEntry,
    TrustedCertificate,
)
from sipe_setup.core.export.pidgin.prefs import load_prefs, merge_keyring_plugin
from sipe_setup.core.export.pidgin.reading import (
    find_sipe_account,
    load_accounts,
    same_name,
    sipe_accounts,
)
from sipe_setup.core.export.pidgin.running import ensure_not_running, running_detection
from sipe_setup.core.export.pidgin.tls_peers import tls_peer_file_name, write_trusted_certificates
from sipe_setup.core.export.pidgin.xmlfile import text
from sipe_setup.core.fileio import (
    PRIVATE_FILE_MODE,
    Snapshot,
    backups_of,
    locked_folder,
    read_snapshot,
    write_atomic,
)

__all__ = ["PasswordRemoval", "export_account", "remove_cleartext_password",
           "remove_saved_password", "scrub_backups"]

_LOCK_WHAT = "export"  # "Another export is writing to …"


# --- scrubbing a removed password out of backups -------------------------------------------------


def _without_password(data: bytes, account_name: str) -> bytes | None:
    """``data`` (an accounts.xml) without that SIPE account's ``<password>``; None when it has
    none (or is not a document we can edit)."""
    try:
        root = xmlfile.parse(Path("backup"), data, root_tag="account", what="accounts file")
    except PidginFileError:
        return None
    changed = False
    for account in sipe_accounts(root):
        if _names_match(account, account_name) and account.find("password") is not None:
            set_password(account, None)
            changed = True
    return xmlfile.serialise(root) if changed else None


def _names_match(account: ET.Element, account_name: str) -> bool:
    return same_name(text(account.find("name")), account_name)


def scrub_backups(accounts_xml: Path, account_name: str) -> list[Path]:
    """Remove that SIPE account's ``<password>`` from every backup of ``accounts_xml`` we wrote
    (``accounts.xml.<stamp>.bak``); returns the backups changed.

    A scrubbed backup keeps its mode and times; everything else in it (other accounts and their
    passwords) is kept. Backups we cannot parse are left alone (we never write such a backup).
    The caller holds the folder lock.
    """
    changed: list[Path] = []
    for backup in backups_of(accounts_xml):
        try:
            snapshot = read_snapshot(backup, limit=xmlfile.MAX_FILE_BYTES)
            info = backup.stat()
        except OSError:
            continue
        if snapshot.data is None or len(snapshot.data) > xmlfile.MAX_FILE_BYTES:
            continue
        scrubbed = _without_password(snapshot.data, account_name)
        if scrubbed is None:
            continue
        write_atomic(backup, scrubbed, mode=stat.S_IMODE(info.st_mode) & PRIVATE_FILE_MODE
                     or PRIVATE_FILE_MODE, expect=snapshot)
        with contextlib.suppress(OSError):
            os.utime(backup, ns=(info.st_atime_ns, info.st_mtime_ns))
        changed.append(backup)
    return changed


def _backup_data(snapshot: Snapshot, account_name: str, removing: bool) -> bytes | None:
    """What the backup of ``snapshot`` should hold: None for the bytes as read."""
    if not removing or snapshot.data is None:
        return None
    return _without_password(snapshot.data, account_name)


# --- export --------------------------------------------------------------------------------------


def export_account(
    purple_dir: Path,
    entry: SipeAccountEntry,
    *,
    password_mode: PasswordMode,
    password: Secret | None = None,
    trusted_certificates: Sequence[TrustedCertificate] = (),
    now: datetime | None = None,
) -> ExportResult:
    """Merge ``entry`` into ``purple_dir/accounts.xml`` as an enabled prpl-sipe account.

    An account with the same name is updated in place (alias, statuses, other settings, proxy
    kept); every other account and element is kept. All five SIPE keys are written explicitly
    (an absent ``authentication`` would mean NTLM to SIPE). With ``KEYRING`` the caller stores
    the secret itself; here only prefs.xml is changed to load pidgin-gnome-keyring. With
    ``NONE`` or ``KEYRING`` a saved ``<password>`` of this account is removed — from the file,
    from the backup taken now and from our older backups.

    Raises:
        ValueError: a bad entry, or ``CLEARTEXT`` without a password.
        PidginRunning: Pidgin or Finch uses ``purple_dir``; nothing was touched.
        PidginFileError: accounts.xml (or, for ``KEYRING``, prefs.xml) is corrupt or
            unreadable; nothing was touched.
        FolderBusy: another export kept the folder locked too long; nothing was touched.
        FileChangedError: another program changed accounts.xml or prefs.xml meanwhile.
        FileWriteError: writing failed (an ``OSError``); the old file is still in place.
    """
    check_entry(entry)
    if password_mode is PasswordMode.CLEARTEXT and not password:
        raise ValueError("Password mode 'cleartext' needs the password.")
    cert_names = [tls_peer_file_name(c.host) for c in trusted_certificates]
    ensure_not_running(purple_dir)
    with locked_folder(purple_dir, what=_LOCK_WHAT):
        return _export_locked(purple_dir, entry, password_mode, password,
                              trusted_certificates, cert_names, now)


def _export_locked(
    purple_dir: Path,
    entry: SipeAccountEntry,
    password_mode: PasswordMode,
    password: Secret | None,
    trusted_certificates: Sequence[TrustedCertificate],
    cert_names: list[str],
    now: datetime | None,
) -> ExportResult:
    accounts_path = paths.accounts_path(purple_dir)
    accounts_snapshot, root = load_accounts(accounts_path)
    plugin = paths.keyring_plugin_path() if password_mode is PasswordMode.KEYRING else None
    prefs_snapshot: Snapshot | None = None
    prefs_root: ET.Element | None = None
    if plugin is not None:
        # Read prefs.xml now so that a corrupt one stops us before accounts.xml changes.
        prefs_snapshot, prefs_root = load_prefs(paths.prefs_path(purple_dir))
        xmlfile.check_unchanged(prefs_snapshot)
    xmlfile.check_unchanged(accounts_snapshot)

    certificate_files, certificate_notes = write_trusted_certificates(
        purple_dir, trusted_certificates, cert_names)

    if root is None:
        root = ET.Element("account", {"version": "1.0"})
    account = find_sipe_account(root, entry.name)
    created = account is None
    had_password = account is not None and account.find("password") is not None
    if account is None:
        account = new_account(entry)
        root.append(account)
    else:
        apply_entry(account, entry)
    removing = password_mode is not PasswordMode.CLEARTEXT
    set_password(account, password if not removing else None)
    backup = xmlfile.commit(accounts_snapshot, root, now=now,
                            backup_data=_backup_data(accounts_snapshot, entry.name, removing))
    scrubbed: list[Path] = []
    if removing:
        scrubbed = [b for b in scrub_backups(accounts_path, entry.name) if b != backup]

    notes: list[str] = []
    action = "Added" if created else "Updated"
    notes.append(f"{action} the Pidgin account “{entry.name}” in {accounts_path}.")
    unseen = running_detection()
    if unseen:  # Flatpak, or a system without /proc, ps or tasklist
        notes.append(f"sipe-setup cannot tell whether Pidgin is running ({unseen}). If it "
                     "is, quit it and export again: Pidgin rewrites accounts.xml when it quits.")
    if had_password and removing:
        notes.append("Its plain-text password was removed from accounts.xml.")
    if backup is not None:
        without = (", without this account's password (a backup never keeps a password you "
                   "chose not to keep)" if had_password and removing else "")
        notes.append(f"The previous file was saved as {backup}{without}.")
    if scrubbed:
        notes.append(f"This account's password was also removed from {len(scrubbed)} older "
                     f"backup{'s' if len(scrubbed) > 1 else ''} of accounts.xml.")
    notes.extend(certificate_notes)
    keyring_enabled = False
    if password_mode is PasswordMode.NONE and entry.sso:
        notes.append("No password is saved: Single Sign-On uses your Kerberos ticket.")
    elif password_mode is PasswordMode.NONE:
        notes.append("No password is saved: Pidgin will ask for it when it signs in.")
    elif password_mode is PasswordMode.CLEARTEXT:
        notes.append(
            "The password is saved in plain text in accounts.xml (a file only you can read)."
        )
    elif plugin is None:
        notes.append(
            "The pidgin-gnome-keyring plugin is not installed, so Pidgin cannot read the "
            "keyring and will ask for the password (Debian/Ubuntu: sudo apt install "
            "pidgin-gnome-keyring)."
        )
    else:
        assert prefs_snapshot is not None
        merge_keyring_plugin(prefs_snapshot, prefs_root, plugin, now=now)
        keyring_enabled = True
        notes.append(
            "Pidgin and Finch will read the password from your keyring through the "
            "pidgin-gnome-keyring plugin."
        )
    return ExportResult(
        accounts_xml=accounts_path,
        backup=backup,
        created=created,
        certificate_files=tuple(certificate_files),
        keyring_plugin_enabled=keyring_enabled,
        notes=notes,
        password_removed=had_password and removing,
        scrubbed_backups=tuple(scrubbed),
    )


# --- taking a password out -----------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordRemoval:
    """What :func:`remove_saved_password` did."""

    removed: bool  # accounts.xml held a <password> for the account and no longer does
    backup: Path | None  # the backup of accounts.xml taken first (without that password)
    scrubbed_backups: tuple[Path, ...]  # older backups the password was taken out of
    keyring_plugin_enabled: bool  # prefs.xml lists pidgin-gnome-keyring (now or already)


def remove_saved_password(
    purple_dir: Path, account_name: str, *, now: datetime | None = None
) -> PasswordRemoval:
    """Drop the ``<password>`` of that prpl-sipe account — from accounts.xml and from our
    backups of it — and enable the keyring plugin.

    Call it after the password was stored in the keyring and read back. When the account has
    no saved password accounts.xml is not written (older backups are still scrubbed).

    Raises:
        PidginRunning: Pidgin or Finch uses ``purple_dir``; nothing was touched.
        PidginFileError: accounts.xml or prefs.xml is corrupt; nothing was touched.
        LookupError: there is no prpl-sipe account of that name.
        FolderBusy, FileChangedError, FileWriteError: as for :func:`export_account`.
    """
    ensure_not_running(purple_dir)
    path = paths.accounts_path(purple_dir)
    if not purple_dir.is_dir():
        raise LookupError(f"{path} has no SIPE account named {account_name}.")
    with locked_folder(purple_dir, what=_LOCK_WHAT):
        snapshot, root = load_accounts(path)
        account = None if root is None else find_sipe_account(root, account_name)
        if root is None or account is None:
            raise LookupError(f"{path} has no SIPE account named {account_name}.")
        plugin = paths.keyring_plugin_path()
        prefs: tuple[Snapshot, ET.Element | None] | None = None
        if plugin is not None:
            prefs = load_prefs(paths.prefs_path(purple_dir))
        backup = None
        removed = account.find("password") is not None
        if removed:
            set_password(account, None)
            backup = xmlfile.commit(snapshot, root, now=now,
                                    backup_data=_backup_data(snapshot, account_name, True))
        scrubbed = tuple(b for b in scrub_backups(path, account_name) if b != backup)
        if plugin is not None and prefs is not None:
            merge_keyring_plugin(prefs[0], prefs[1], plugin, now=now)
    return PasswordRemoval(removed, backup, scrubbed, plugin is not None)


def remove_cleartext_password(
    purple_dir: Path, account_name: str, *, now: datetime | None = None
) -> Path | None:
    """:func:`remove_saved_password`, returning only the backup of accounts.xml (None when the
    account had no saved password and accounts.xml was not written)."""
    return remove_saved_password(purple_dir, account_name, now=now).backup
