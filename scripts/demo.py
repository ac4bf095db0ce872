"""``make demo``: the wizard against a fake company on this machine.

Starts the test registrar (TLS, certificate from a throw-away test CA, account
``EXAMPLE\\alice`` / ``Passw0rd!``) and dnsmasq publishing its SRV and A records on 127.0.0.1,
then opens the wizard pre-filled with ``alice@example.test``. Both servers stop when the wizard
closes. Extra arguments go to the wizard (e.g. ``-platform offscreen``); ``--scenario NAME``
picks a registrar failure scenario (``python -m tests.servers.registrar --help`` lists them).

Run from the repository root: ``.venv/bin/python scripts/demo.py``.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     allow_abbrev=False)
    parser.add_argument("--scenario", default="success",
                        help="registrar scenario (default: success)")
    args, wizard_args = parser.parse_known_args(argv)
    # `kill` or a closed terminal: stop the servers too (the with-blocks below clean up).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if dnsmasq_binary() is None:
        print("make demo needs dnsmasq (Debian: dnsmasq-base); `make system-deps` installs it.",
              file=sys.stderr)
        return 2
    banner = (f"<b>Demo.</b> A test server for <tt>{DEMO_SIGNIN}</tt> runs on this computer. "
              f"Its password is <tt>{DEMO_PASSWORD}</tt>: type it to see a successful "
              "sign-in, then go back and change it to see how a failure is explained.")
    with tempfile.TemporaryDirectory(prefix="sipe-setup-demo-") as tmp, \
            LoopbackSite(Path(tmp), scenario=args.scenario, tls="ca") as site:
        print(f"""sipe-setup demo
  registrar  127.0.0.1:{site.port} (TLS, scenario {args.scenario}), account {DEMO_LOGIN}
  dnsmasq    127.0.0.1:{site.nameserver.port}: _sipinternaltls._tcp.example.test SRV \
             -> sip.example.test:{site.port}, sip.example.test A -> 127.0.0.1
  sign-in    {DEMO_SIGNIN}   login {DEMO_LOGIN}   password {DEMO_PASSWORD}

Type the password {DEMO_PASSWORD} to see a successful sign-in; change it to see a failure.
The servers stop when you close the wizard.""", flush=True)
        command = [sys.executable, "-m", "sipe_setup.gui.app",
                   "--nameserver", str(site.nameserver), "--ca-file", str(site.ca_file),
                   "--signin", DEMO_SIGNIN, "--login", DEMO_LOGIN, "--no-remember",
                   "--banner", banner, "--title-note", "demo", *wizard_args]
        wizard = subprocess.Popen(command, cwd=ROOT)
        try:
            return wizard.wait()
        except KeyboardInterrupt:
            return 130
        finally:
            if wizard.poll() is None:
                wizard.terminate()
                wizard.wait(10)


if __name__ == "__main__":
    sys.exit(main())
