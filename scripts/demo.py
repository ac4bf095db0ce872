"""``make demo``: the wizard against a fake company on this machine, in a sandbox.

Starts the test registrar (TLS, certificate from a throw-away test CA, account
``EXAMPLE\\alice`` / ``Passw0rd!``) and dnsmasq publishing its SRV and A records on 127.0.0.1,
then opens the wizard pre-filled with ``alice@example.test``.

The demo leaves your own Pidgin and keyring alone: the wizard runs with its own temporary home
folder (``HOME`` and the ``XDG_*`` folders, so its own profiles and ``~/.purple``) and its own
keyring (a private gnome-keyring on a private D-Bus, as the tests use; without gnome-keyring,
no keyring at all). Everything is deleted when the demo ends.

After *Save*, the Save page's *Launch Pidgin* starts a Pidgin (or finch) in the same sandbox
that really signs in to the test server: the demo points the exported account at the
registrar's address (Pidgin asks the system's DNS, not the demo's) and puts the registrar's
certificate into that Pidgin's ``tls_peers``. With Pidgin installed it opens its window;
with finch only, finch runs in a terminal window if there is one, else in the background and
the demo prints whether it signed in. The servers stay up until that Pidgin quits.

Extra arguments go to the wizard (e.g. ``-platform offscreen``). Run from the repository root:
``.venv/bin/python scripts/demo.py [--scenario NAME]``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.gui.loopback import (  # noqa: E402 - needs the repository root on sys.path
    DEMO_LOGIN,
    DEMO_PASSWORD,
    DEMO_SIGNIN,
    LoopbackSite,
    dnsmasq_binary,
)
from tests.servers.registrar import SCENARIOS  # noqa: E402

#: Scenarios that need more than the demo gives the registrar (a second server, a keytab).
_NEEDS_MORE = ("redirect", "redirect-early", "redirect-unsigned", "kerberos-only")
DEMO_SCENARIOS = {name: text for name, text in SCENARIOS.items() if name not in _NEEDS_MORE}

#: The environment the wizard passes to "Launch Pidgin" (see sipe_setup.gui.pidgin_launch).
PIDGIN_COMMAND_ENV = "SIPE_SETUP_PIDGIN_COMMAND"


def sandbox_env(base: Mapping[str, str], root: Path, bus_address: str | None) -> dict[str, str]:
    """The environment of the demo's wizard and Pidgin: a home and XDG folders under ``root``,
    the private keyring's bus (or none), and the display of ``base`` still reachable."""
    home = root / "home"
    env = {k: v for k, v in base.items()
           if not k.startswith(("DBUS_", "GNOME_KEYRING", "XDG_", "KDE_", "KWALLET"))}
    folders = {"HOME": home, "XDG_CONFIG_HOME": home / ".config",
               "XDG_DATA_HOME": home / ".local" / "share", "XDG_CACHE_HOME": home / ".cache",
               "XDG_STATE_HOME": home / ".local" / "state"}
    for name, path in folders.items():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        env[name] = str(path)
    # The display must stay reachable: X finds its cookie via $HOME unless XAUTHORITY says,
    # Wayland its socket in XDG_RUNTIME_DIR unless WAYLAND_DISPLAY is a full path.
    real_home = Path(base.get("HOME", str(Path.home())))
    if "XAUTHORITY" not in env and (real_home / ".Xauthority").is_file():
        env["XAUTHORITY"] = str(real_home / ".Xauthority")
    wayland, runtime = base.get("WAYLAND_DISPLAY", ""), base.get("XDG_RUNTIME_DIR", "")
    if wayland and runtime and not wayland.startswith("/"):
        env["WAYLAND_DISPLAY"] = str(Path(runtime) / wayland)
    if runtime:
        env["XDG_RUNTIME_DIR"] = runtime
    if bus_address:
        env["DBUS_SESSION_BUS_ADDRESS"] = bus_address
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
    else:  # no keyring at all rather than the real one
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={root / 'no-session-bus'}"
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    return env


# --- "Launch Pidgin": runs as its own process, started by the wizard -------------------------


def pin_demo_server(purple_dir: Path, port: int, cert_pem: str) -> list[str]:
    """Point the exported demo account at the registrar's address and trust its certificate
    there (libpurple's tls_peers); what was done, in sentences (empty: nothing to change)."""
    from sipe_setup.core.pidgin import (
        PasswordMode,
        TrustedCertificate,
        export_account,
        read_sipe_accounts,
    )

    accounts = [a for a in read_sipe_accounts(purple_dir) if a.entry.signin == DEMO_SIGNIN]
    if not accounts:
        raise SystemExit(f"demo: there is no {DEMO_SIGNIN} account in {purple_dir} yet: "
                         "save and export it first")
    account = accounts[0]
    server = f"127.0.0.1:{port}"
    peer = purple_dir / "certificates" / "x509" / "tls_peers" / "127.0.0.1"
    trusted = peer.is_file() and peer.read_text(encoding="utf-8").strip() == cert_pem.strip()
    if account.entry.server == server and account.entry.transport == "tls" and trusted:
        return []
    entry = dataclasses.replace(account.entry, server=server, transport="tls")
    mode = PasswordMode.CLEARTEXT if account.password else PasswordMode.NONE
    export_account(purple_dir, entry, password_mode=mode, password=account.password,
                   trusted_certificates=[TrustedCertificate("127.0.0.1", cert_pem)])
    return [f"The demo's Pidgin asks the system's DNS, which does not know example.test: the "
            f"demo set its server to {server} and put the test server's certificate into "
            f"{peer}."]


def _finch_in_background(purple_dir: Path, env: dict[str, str]) -> int:
    from tests.servers.finch import run_finch

    print("demo: finch (no terminal window for it here) signs in in the background …",
          flush=True)
    run = run_finch(purple_dir, env=env, timeout=30)
    if run.signed_in:
        print(f"demo: finch signed in to the test server as {DEMO_LOGIN}.", flush=True)
        return 0
    print("demo: finch did not sign in: " + (", ".join(run.errors) or "no answer") + "\n"
          + run.tail(15), flush=True)
    return 1


def start_pidgin(info_file: Path, purple_dir: Path, *, background: bool = False) -> int:
    """What the wizard's *Launch Pidgin* runs in the demo: pin, then start Pidgin or finch
    (``background``: finch without a window, whatever is installed — the tests use it)."""
    info = json.loads(info_file.read_text(encoding="utf-8"))
    for line in pin_demo_server(purple_dir, int(info["port"]),
                                Path(info["cert"]).read_text(encoding="utf-8")):
        print(f"demo: {line}", flush=True)
    env = dict(os.environ)
    display = bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")) and not background
    pidgin, finch = shutil.which("pidgin"), shutil.which("finch")
    terminal = shutil.which("x-terminal-emulator")
    if pidgin and display:
        return subprocess.run([pidgin, "-c", str(purple_dir)], env=env, check=False).returncode
    if finch and terminal and display:
        return subprocess.run([terminal, "-e", finch, "-c", str(purple_dir)], env=env,
                              check=False).returncode
    if finch and shutil.which("script"):
        return _finch_in_background(purple_dir, env)
    print("demo: neither Pidgin nor finch is installed (Debian: pidgin or finch, and "
          "pidgin-sipe).", flush=True)
    return 2


# --- the demo -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    width = max(map(len, DEMO_SCENARIOS))
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, text in DEMO_SCENARIOS.items())
    parser = argparse.ArgumentParser(
        prog="make demo ARGS=…",
        description="The wizard against a test server on this computer, in a sandbox: your "
                    "own Pidgin and keyring are left alone.",
        epilog=f"scenarios (--scenario NAME):\n{listing}\n\nOther arguments go to the wizard.",
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    parser.add_argument("--scenario", default="success", choices=sorted(DEMO_SCENARIOS),
                        metavar="NAME", help="how the test server behaves (default: success)")
    parser.add_argument("--start-pidgin", nargs=2, type=Path, metavar=("INFO", "PURPLE_DIR"),
                        help=argparse.SUPPRESS)
    return parser


def _keyring(stack: contextlib.ExitStack) -> str | None:
    """A private gnome-keyring's bus address, or None (then the demo has no keyring)."""
    if not (shutil.which("gnome-keyring-daemon") and shutil.which("dbus-daemon")):
        return None
    from tests.servers.secret_service import GnomeKeyringService

    try:
        service = stack.enter_context(GnomeKeyringService.start())
    except (OSError, RuntimeError) as exc:
        print(f"demo: no private keyring ({exc}); the demo runs without one", file=sys.stderr)
        return None
    return service.bus_address


def _demo_clients(purple_dir: Path, helper_pids: list[int]) -> list[int]:
    """The processes of the demo's Pidgin still running (Pidgin/finch on the sandbox's
    folder, and "Launch Pidgin" helpers)."""
    from sipe_setup.core.pidgin import find_running_clients

    pids = [client.pid for client in find_running_clients(purple_dir)]
    for pid in helper_pids:
        with contextlib.suppress(OSError):
            os.kill(pid, 0)
            pids.append(pid)
    return pids


def _helpers(root: Path) -> list[int]:
    found = []
    for pid_file in root.glob("launch-*.pid"):
        with contextlib.suppress(OSError, ValueError):
            found.append(int(pid_file.read_text()))
    return found


def _wait_for_demo_pidgin(root: Path, purple_dir: Path) -> None:
    told = False
    try:
        while _demo_clients(purple_dir, _helpers(root)):
            if not told:
                print("demo: the demo's Pidgin still runs; the test servers stay up until it "
                      "quits (Ctrl+C ends it and the demo).", flush=True)
                told = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        for pid in _demo_clients(purple_dir, _helpers(root)):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    args, wizard_args = _parser().parse_known_args(argv)
    if args.start_pidgin:
        info, purple = args.start_pidgin
        (info.parent / f"launch-{os.getpid()}.pid").write_text(str(os.getpid()))
        return start_pidgin(info, purple)
    # `kill` or a closed terminal: stop the servers too (the with-blocks below clean up).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if dnsmasq_binary() is None:
        print("make demo needs dnsmasq (Debian: dnsmasq-base); `make system-deps` installs it.",
              file=sys.stderr)
        return 2
    banner = (f"<b>Demo</b>, in a sandbox: your own Pidgin and keyring are not touched. A test "
              f"server for <tt>{DEMO_SIGNIN}</tt> runs on this computer; its password is "
              f"<tt>{DEMO_PASSWORD}</tt>. Type it to see a successful sign-in (then save, and "
              "Launch Pidgin to see Pidgin sign in), or a wrong one to see how a failure is "
              "explained.")
    with tempfile.TemporaryDirectory(prefix="sipe-setup-demo-") as tmp, \
            contextlib.ExitStack() as stack:
        root = Path(tmp)
        site = stack.enter_context(LoopbackSite(root / "site", scenario=args.scenario,
                                                tls="ca"))
        bus = _keyring(stack)
        env = sandbox_env(os.environ, root, bus)
        purple = Path(env["HOME"]) / ".purple"
        info = root / "demo.json"
        info.write_text(json.dumps({"port": site.port, "cert": site.cert_file}),
                        encoding="utf-8")
        env[PIDGIN_COMMAND_ENV] = shlex.join([sys.executable, str(Path(__file__).resolve()),
                                              "--start-pidgin", str(info), "{purple_dir}"])
        print(f"""sipe-setup demo (scenario {args.scenario})
  registrar  127.0.0.1:{site.port} (TLS), account {DEMO_LOGIN}
  dnsmasq    127.0.0.1:{site.nameserver.port}: _sipinternaltls._tcp.example.test SRV \
-> sip.example.test:{site.port}, sip.example.test A -> 127.0.0.1
  sign-in    {DEMO_SIGNIN}   login {DEMO_LOGIN}   password {DEMO_PASSWORD}
  sandbox    {env['HOME']} (home, profiles, ~/.purple), keyring: \
{'a private gnome-keyring' if bus else 'none'}

Type the password {DEMO_PASSWORD} to see a successful sign-in; change it to see a failure.
Everything above is removed when the demo ends.""", flush=True)
        command = [sys.executable, "-m", "sipe_setup.gui.app",
                   "--nameserver", str(site.nameserver), "--ca-file", str(site.ca_file),
                   "--signin", DEMO_SIGNIN, "--login", DEMO_LOGIN, "--no-remember",
                   "--banner", banner, "--title-note", "demo", *wizard_args]
        wizard = subprocess.Popen(command, cwd=ROOT, env=env)
        try:
            status = wizard.wait()
        except KeyboardInterrupt:
            status = 130
        finally:
            if wizard.poll() is None:
                wizard.terminate()
                wizard.wait(10)
        _wait_for_demo_pidgin(root, purple)
        return status


if __name__ == "__main__":
    sys.exit(main())
