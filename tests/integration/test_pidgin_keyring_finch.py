"""Real finch + pidgin-sipe + pidgin-gnome-keyring sign in with the password only in the keyring.

accounts.xml has no ``<password>``; ``store_pidgin_password`` put it in a real gnome-keyring;
``prefs.xml`` makes finch load the Debian "Password Keyring" plugin, which looks the password
up (libsecret, schema org.gnome.keyring.NetworkPassword, user + protocol) and hands it to SIPE.
Without the item, finch has no password: SIPE never starts (finch waits for one).
"""

from __future__ import annotations

from pathlib import Path

from sipe_setup.core.account import Secret
from sipe_setup.core.secrets import store_pidgin_password
from tests.servers.finch import KEYRING_PLUGIN, FinchRun, run_finch, write_accounts_xml
from tests.servers.registrar import RegistrarConfig, RegistrarThread
from tests.servers.secret_service import GnomeKeyringService

PASSWORD = "Passw0rd!"
USERS = [("EXAMPLE", "alice", PASSWORD)]
ACCOUNT = "alice@example.test,EXAMPLE\\alice"

# What makes finch load the plugin at start (purple_plugins_load_saved("/finch/plugins/loaded"));
# Pidgin reads the same list from /pidgin/plugins/loaded.
FINCH_PREFS = f"""<?xml version='1.0' encoding='UTF-8' ?>
<pref version='1' name='/'>
 <pref name='finch'>
  <pref name='plugins'>
   <pref name='loaded' type='pathlist'>
    <item value='{KEYRING_PLUGIN}'/>
   </pref>
  </pref>
 </pref>
</pref>
"""


def _purple_dir(tmp_path: Path, port: int) -> Path:
    purple = tmp_path / "purple"
    write_accounts_xml(purple, name=ACCOUNT, password=None, settings={
        "server": ("string", f"127.0.0.1:{port}"),
        "transport": ("string", "tcp"),
        "authentication": ("string", "ntlm"),
        "sso": ("bool", "0"),
    })
    (purple / "prefs.xml").write_text(FINCH_PREFS, encoding="utf-8")
    return purple


def _plugin_loaded(run: FinchRun) -> bool:
    return f"Loading saved plugin {KEYRING_PLUGIN}" in run.log


def test_finch_signs_in_with_the_password_from_the_keyring(
        finch_with_keyring_plugin: None, secret_service: GnomeKeyringService,
        tmp_path: Path) -> None:
    store_pidgin_password(ACCOUNT, Secret(PASSWORD))
    with RegistrarThread(RegistrarConfig(users=USERS)) as registrar:
        purple = _purple_dir(tmp_path, registrar.port)
        assert "<password>" not in (purple / "accounts.xml").read_text()
        run = run_finch(purple, env=secret_service.env)
        detail = f"\nregistrar: {registrar.registrar.stats}\nfinch log tail:\n{run.tail()}"
        assert _plugin_loaded(run), detail
        assert "lookup_sync error" not in run.log, detail
        assert run.signed_in, detail
        assert run.errors == [], detail
        assert registrar.registrar.stats.last_principal == "EXAMPLE\\alice"
    # The plugin turned remember-password off: finch wrote no password back.
    assert "<password>" not in (purple / "accounts.xml").read_text()


def test_finch_without_the_keyring_item_does_not_sign_in(
        finch_with_keyring_plugin: None, secret_service: GnomeKeyringService,
        tmp_path: Path) -> None:
    with RegistrarThread(RegistrarConfig(users=USERS)) as registrar:
        purple = _purple_dir(tmp_path, registrar.port)
        run = run_finch(purple, env=secret_service.env, timeout=4)
        detail = f"\nfinch log tail:\n{run.tail()}"
        assert _plugin_loaded(run), detail
        assert "Connecting to account" in run.log, detail
        # No password: finch asks for one, so SIPE's login never starts.
        assert "sipe_purple_login" not in run.log, detail
        assert not run.signed_in, detail
        assert registrar.registrar.stats.requests_by_method.get("REGISTER", 0) == 0
