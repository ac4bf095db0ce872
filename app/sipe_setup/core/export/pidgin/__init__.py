"""Pidgin as an export target: its own files, read and written the way libpurple 2.x does.

What Pidgin expects is described in reference §4; the shapes were checked against files the
real finch writes. The modules:

- :mod:`.model` — the values (an account entry, password modes, results) and errors;
- :mod:`.paths` — the settings folder, its files, the keyring plugin;
- :mod:`.xmlfile` — bounded, defused parsing and the locked, re-checked, backed-up write;
- :mod:`.account_xml` — editing one ``<account>`` element in libpurple's order;
- :mod:`.accounts` — the accounts.xml merge and taking a plain-text password out;
- :mod:`.reading` — reading SIPE accounts as SIPE reads them;
- :mod:`.prefs` — prefs.xml and the pidgin-gnome-keyring plugin;
- :mod:`.tls_peers` — the trusted-certificate pool;
- :mod:`.running` — Pidgin/Finch processes on a folder.

Invariants (details in each module): every write is atomic, under the folder lock, re-checked
against what was read, with a pruned timestamped backup that never keeps a password the user
asked to remove; input files are untrusted; the password never appears in a message.
"""

from sipe_setup.core.export.pidgin.accounts import (
    PasswordRemoval,
    export_account,
    remove_cleartext_password,
    remove_saved_password,
)
from sipe_setup.core.export.pidgin.model import (
    ExportResult,
    PasswordMode,
    PidginFileError,
    PidginRunning,
    PidginSipeAccount,
    RunningClient,
    SipeAccountEntry,
    TrustedCertificate,
)
from sipe_setup.core.export.pidgin.paths import default_purple_dir, keyring_plugin_path
from sipe_setup.core.export.pidgin.prefs import enable_keyring_plugin
from sipe_setup.core.export.pidgin.reading import read_sipe_accounts
from sipe_setup.core.export.pidgin.running import find_running_clients
from sipe_setup.core.export.pidgin.tls_peers import tls_peer_file_name
from sipe_setup.core.export.pidgin.xmlfile import MAX_FILE_BYTES

__all__ = [
    "MAX_FILE_BYTES",
    "ExportResult",
    "PasswordMode",
    "PasswordRemoval",
    "PidginFileError",
    "PidginRunning",
    "PidginSipeAccount",
    "RunningClient",
    "SipeAccountEntry",
    "TrustedCertificate",
    "default_purple_dir",
    "enable_keyring_plugin",
    "export_account",
    "find_running_clients",
    "keyring_plugin_path",
    "read_sipe_accounts",
    "remove_cleartext_password",
    "remove_saved_password",
    "tls_peer_file_name",
]
