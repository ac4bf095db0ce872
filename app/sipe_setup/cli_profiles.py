"""``sipe-setup profiles …``, ``export-pidgin``, ``import-pidgin`` and ``check --save``.

The messages come from :mod:`sipe_setup.core.profile_actions`, so the CLI and the wizard say
the same things. Only argparse at import time: each handler imports the core when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sipe_setup.cli_common import (
    EXIT_OK,
    EXIT_PROBLEM,
    EXIT_USAGE,
    add_password_options,
    read_password,
)

if TYPE_CHECKING:
    from sipe_setup.core.account import AccountSettings, Secret
    from sipe_setup.core.export.pidgin import PasswordMode
    from sipe_setup.core.profiles import Profile
    from sipe_setup.core.steps import CheckResult

#: ``--password-mode`` choices: the values of :class:`~sipe_setup.core.export.pidgin.PasswordMode`
#: (a unit test keeps them equal), written out so that building the parser imports no core.
PASSWORD_MODES = ("none", "keyring", "cleartext")


def _err(command: str, message: str) -> None:
    print(f"sipe-setup {command}: {message}", file=sys.stderr)


def _os_error_text(exc: OSError) -> str:
    """An ``OSError`` in plain words naming its file (never "[Errno 13] …")."""
    from sipe_setup.core.fileio import FileWriteError, describe_os_error

    if isinstance(exc, FileWriteError):
        return str(exc)
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{describe_os_error(exc)}"


def _describe(exc: Exception) -> str:
    return _os_error_text(exc) if isinstance(exc, OSError) else str(exc)


def _ask_yes_no(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


# --- check --save ---------------------------------------------------------------------------


def add_save_options(cmd: argparse.ArgumentParser) -> None:
    """The ``check`` options that save the validated profile."""
    cmd.add_argument("--save", metavar="NAME",
                     help="after a successful sign-in, save the profile as NAME (password into "
                          "the OS keyring)")
    cmd.add_argument("--replace", action="store_true",
                     help="with --save: replace an existing profile of that name")
    cmd.add_argument("--allow-no-keyring", action="store_true",
                     help="with --save: when no keyring can hold the password, save the "
                          "profile without it (Pidgin will ask) instead of stopping")


def save_checked_profile(args: argparse.Namespace, account: AccountSettings,
                         password: Secret | None, result: CheckResult) -> int:
    """``check --save NAME``: store the validated profile; messages on stderr."""
    from sipe_setup.core.profile_actions import save_profile
    from sipe_setup.core.profiles import Profile, ProfileError, ProfileStore
    from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault

    if not result.ok:
        _err("check", f"profile “{args.save}” not saved: the check did not sign in.")
        return EXIT_PROBLEM
    store, vault = ProfileStore(), PasswordVault()
    try:
        profile = Profile.from_account(args.save, account, result)
    except ProfileError as exc:
        _err("check", f"--save: {exc}")
        return EXIT_USAGE
    allow = args.allow_no_keyring
    if password and not account.sso and not allow:
        status = vault.status()
        if not status.usable:
            _err("check", status.reason)
            allow = _ask_yes_no("Save the profile without the password (Pidgin will ask for "
                                "it)?")
            if not allow:
                _err("check", "nothing saved (use --allow-no-keyring to save without the "
                              "password).")
                return EXIT_PROBLEM
    try:
        saved = save_profile(store, vault, profile, password, replace_existing=args.replace,
                             allow_without_password=allow)
    except (ProfileError, KeyringUnavailable, OSError) as exc:
        _err("check", f"profile not saved: {_describe(exc)}")
        return EXIT_PROBLEM
    for line in saved.lines:
        print(line, file=sys.stderr)
    return EXIT_OK


# --- profiles ---------------------------------------------------------------------------------


def _add_purple_dir(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--purple-dir", type=Path, metavar="DIR",
                     help="Pidgin's settings folder (default: ~/.purple; on Windows "
                          "%%APPDATA%%\\.purple)")


def add_profile_commands(
        subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``profiles``, ``export-pidgin``, ``import-pidgin``."""
    cmd = subparsers.add_parser(
        "profiles", allow_abbrev=False, help="list, show, rename, delete or share saved profiles",
        description="Saved profiles live in the user's config folder (one JSON file each, "
        "readable by you only); their passwords live in the OS keyring.")
    sub = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="list the saved profiles")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=_list)
    show = sub.add_parser("show", help="show one profile (never the password)")
    show.add_argument("name", metavar="NAME")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)
    ren = sub.add_parser("rename", help="rename a profile (its keyring entry moves with it)")
    ren.add_argument("name", metavar="NAME")
    ren.add_argument("new_name", metavar="NEW_NAME")
    ren.set_defaults(handler=_rename)
    rm = sub.add_parser("delete", help="delete a profile and its keyring entry")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--keep-password", action="store_true",
                    help="leave the password in the keyring")
    rm.set_defaults(handler=_delete)
    share = sub.add_parser(
        "share", help="write a settings file for colleagues: no password, no personal data",
        description="Writes server, connection type, scheme, User Agent, the Login pattern "
        "(like COMPANY\\{user}) and an accepted certificate fingerprint. Others open it with "
        "the wizard or `sipe-setup check USER --prefill FILE`.")
    share.add_argument("name", metavar="NAME")
    share.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout); "
                       "an existing FILE is refused unless --replace")
    share.add_argument("--replace", "--force", dest="replace", action="store_true",
                       help="with -o: overwrite FILE if it exists (never Pidgin's accounts.xml "
                            "or prefs.xml)")
    share.add_argument("--organization", default="", help="shown to whoever opens the file")
    share.add_argument("--note", default="", help="a line for the reader, like a help number")
    share.set_defaults(handler=_share)

    exp = subparsers.add_parser(
        "export-pidgin", allow_abbrev=False,
        help="write a saved profile into Pidgin's accounts.xml",
        description="Adds (or updates) the SIPE account in Pidgin's accounts.xml with every "
        "SIPE setting written out, keeps all other accounts, and keeps a timestamped backup. "
        "Quit Pidgin first: it rewrites accounts.xml when it exits.")
    exp.add_argument("profile", metavar="PROFILE")
    _add_purple_dir(exp)
    exp.add_argument("--password-mode", choices=PASSWORD_MODES, default="none",
                     help="none: Pidgin asks at sign-in (default); keyring: the "
                          "pidgin-gnome-keyring plugin reads it from the keyring; cleartext: "
                          "stored in plain text in accounts.xml")
    exp.add_argument("--accept-cleartext", action="store_true",
                     help="confirm --password-mode cleartext without a prompt")
    pw = exp.add_mutually_exclusive_group()
    add_password_options(pw)
    exp.set_defaults(handler=_export)

    imp = subparsers.add_parser(
        "import-pidgin", allow_abbrev=False,
        help="make profiles of the SIPE accounts in Pidgin's accounts.xml",
        description="Reads Pidgin's SIPE accounts into profiles so they can be checked and "
        "repaired. With --move-password-to-keyring a plain-text password leaves accounts.xml "
        "for the keyring (read by the pidgin-gnome-keyring plugin).")
    _add_purple_dir(imp)
    imp.add_argument("--account", default="", metavar="NAME",
                     help="only this account (sign-in address or signin,login)")
    imp.add_argument("--move-password-to-keyring", action="store_true")
    imp.add_argument("--replace", action="store_true", help="replace existing profiles")
    imp.set_defaults(handler=_import)


def _profile_json(profile: Profile) -> dict[str, object]:
    doc = profile.to_json()
    if doc.get("validation") and isinstance(doc["validation"], dict):
        cert = doc["validation"].get("certificate")
        if isinstance(cert, dict):
            cert.pop("pem", None)  # long; the fingerprint identifies it
    return doc


def _list(args: argparse.Namespace) -> int:
    from sipe_setup.core.profiles import ProfileStore

    listings = ProfileStore().list()
    if args.json:
        print(json.dumps([{"id": item.id, "file": str(item.path), "problem": item.problem,
                           "profile": _profile_json(item.profile) if item.profile else None}
                          for item in listings], indent=2, ensure_ascii=False))
        return EXIT_OK
    if not listings:
        print("No profiles saved yet. Save one with: sipe-setup check USER --save NAME")
        return EXIT_OK
    for item in listings:
        if item.profile is None:
            print(f"{item.id}: UNREADABLE — {item.problem}")
            continue
        p = item.profile
        check = (f"validated {p.validation.at} via {p.validation.host}:{p.validation.port}"
                 if p.validation else "not validated")
        where = (p.password_where or "keyring") if p.password_stored else (
            "SSO" if p.sso else "no password saved")
        print(f"{p.name}: {p.signin} — {check}; password: {where}")
    return EXIT_OK


def _load(command: str, name: str) -> Profile | None:
    from sipe_setup.core.profiles import ProfileError, ProfileStore

    try:
        return ProfileStore().load(name)
    except ProfileError as exc:
        _err(command, str(exc))
        return None


def _show(args: argparse.Namespace) -> int:
    profile = _load("profiles show", args.name)
    if profile is None:
        return EXIT_PROBLEM
    if args.json:
        print(json.dumps(_profile_json(profile), indent=2, ensure_ascii=False))
        return EXIT_OK
    settings = profile.pidgin_settings()
    rows = [("Name", profile.name), ("Sign-in address", profile.signin),
            ("Login", profile.login or "(same as the sign-in address)"),
            ("Server", profile.server or "(automatic)"), ("Connection type", profile.transport),
            ("Authentication", profile.auth), ("Single Sign-On", "yes" if profile.sso else "no"),
            ("User Agent", profile.user_agent or "(SIPE's own)"),
            ("Password", (f"in {profile.password_where}" if profile.password_stored else
                          "not saved"))]
    check = profile.validation
    if check:
        rows += [("Validated", f"{check.at}: {check.summary}"),
                 ("Pidgin gets", f"server {settings['server'] or '(automatic)'}, "
                                 f"{settings['transport']}, {settings['authentication']}")]
        if check.certificate:
            rows.append(("Accepted certificate", f"{check.certificate.host} "
                                                 f"{check.certificate.sha256}"))
    else:
        rows.append(("Validated", "no — run a check with --save to validate it"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return EXIT_OK


def _rename(args: argparse.Namespace) -> int:
    from sipe_setup.core.profile_actions import rename_profile
    from sipe_setup.core.profiles import ProfileError, ProfileStore
    from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault

    try:
        lines = rename_profile(ProfileStore(), PasswordVault(), args.name, args.new_name)
    except (ProfileError, KeyringUnavailable, OSError) as exc:
        _err("profiles rename", _describe(exc))
        return EXIT_PROBLEM
    print("\n".join(lines))
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    from sipe_setup.core.profile_actions import delete_profile
    from sipe_setup.core.profiles import ProfileError, ProfileStore
    from sipe_setup.core.secrets import PasswordVault

    try:
        lines = delete_profile(ProfileStore(), PasswordVault(), args.name,
                               keep_password=args.keep_password)
    except (ProfileError, OSError) as exc:
        _err("profiles delete", _describe(exc))
        return EXIT_PROBLEM
    print("\n".join(lines))
    return EXIT_OK


def _share(args: argparse.Namespace) -> int:
    from sipe_setup.core.sharefile import (
        SharedFileExists,
        SharedSettingsError,
        shared_settings_from_profile,
        write_shared_settings,
    )

    profile = _load("profiles share", args.name)
    if profile is None:
        return EXIT_PROBLEM
    try:
        shared, notes = shared_settings_from_profile(profile, organization=args.organization,
                                                     note=args.note)
    except ValueError as exc:
        _err("profiles share", str(exc))
        return EXIT_PROBLEM
    for note in notes:
        print(note, file=sys.stderr)
    if args.output:
        try:
            write_shared_settings(Path(args.output), shared, replace=args.replace)
        except SharedFileExists as exc:
            _err("profiles share", f"{exc} (add --replace to overwrite it).")
            return EXIT_PROBLEM
        except SharedSettingsError as exc:
            _err("profiles share", f"{exc}.")
            return EXIT_PROBLEM
        except OSError as exc:
            _err("profiles share", _os_error_text(exc))
            return EXIT_PROBLEM
        print(f"Settings written to {args.output} (no password, no personal data).",
              file=sys.stderr)
    else:
        print(shared.dumps(), end="")
    return EXIT_OK


def _export_password(args: argparse.Namespace, profile: Profile,
                     mode: PasswordMode) -> Secret | str | None:
    """A password typed for this export, None to use the keyring's, or an error sentence."""
    import getpass

    from sipe_setup.core.account import Secret
    from sipe_setup.core.export.pidgin import PasswordMode

    given = read_password(args)
    if given is not None or mode is PasswordMode.NONE or profile.sso:
        return given
    if profile.password_stored:
        return None
    if sys.stdin.isatty():
        try:
            return Secret(getpass.getpass(f"Password for {profile.signin}: ")) or None
        except EOFError:
            return "no password given"
    return ("the profile has no saved password; give it with --password-stdin or "
            "--password-env VAR, or use --password-mode none")


def _export(args: argparse.Namespace) -> int:
    from sipe_setup.core.account import AccountValidationError
    from sipe_setup.core.export.pidgin import (
        PasswordMode,
        PidginFileError,
        PidginRunning,
        default_purple_dir,
    )
    from sipe_setup.core.profile_actions import export_profile
    from sipe_setup.core.profiles import ProfileError
    from sipe_setup.core.secrets import KeyringUnavailable, PasswordVault

    profile = _load("export-pidgin", args.profile)
    if profile is None:
        return EXIT_PROBLEM
    mode = PasswordMode(args.password_mode)
    if mode is PasswordMode.CLEARTEXT and not profile.sso and not args.accept_cleartext:
        print("Pidgin 2 keeps a saved password in plain text in accounts.xml: anyone who can "
              "read your files (or a backup of them) can read it. The keyring mode avoids "
              "this.", file=sys.stderr)
        if not _ask_yes_no("Store the password in plain text anyway?"):
            _err("export-pidgin", "nothing exported (confirm with --accept-cleartext).")
            return EXIT_PROBLEM
    password = _export_password(args, profile, mode)
    if isinstance(password, str):
        _err("export-pidgin", f"password: {password}")
        return EXIT_USAGE
    try:
        outcome = export_profile(profile, purple_dir=args.purple_dir or default_purple_dir(),
                                 mode=mode, vault=PasswordVault(), password=password)
    except (PidginRunning, PidginFileError, ProfileError, KeyringUnavailable,
            AccountValidationError, OSError) as exc:
        _err("export-pidgin", _describe(exc))
        return EXIT_PROBLEM
    print("\n".join(outcome.lines))
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    from sipe_setup.core.export.pidgin import PidginFileError, PidginRunning, default_purple_dir
    from sipe_setup.core.profile_actions import import_pidgin_accounts
    from sipe_setup.core.profiles import ProfileStore
    from sipe_setup.core.secrets import PasswordVault

    purple_dir = args.purple_dir or default_purple_dir()
    try:
        outcomes = import_pidgin_accounts(ProfileStore(), PasswordVault(), purple_dir,
                                          only=args.account,
                                          move_passwords=args.move_password_to_keyring,
                                          replace_existing=args.replace)
    except (PidginRunning, PidginFileError, OSError) as exc:
        _err("import-pidgin", _describe(exc))
        return EXIT_PROBLEM
    if not outcomes:
        what = f"“{args.account}”" if args.account else "SIPE accounts"
        print(f"No {what} found in {purple_dir / 'accounts.xml'}.")
        return EXIT_PROBLEM
    for outcome in outcomes:
        print(f"{outcome.account_name}:")
        for line in outcome.lines:
            print(f"  {line}")
    return EXIT_OK if all(o.profile for o in outcomes) else EXIT_PROBLEM
