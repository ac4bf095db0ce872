"""The command line with a keyring that never answers, and the process's own secrets.

- ``check --save``, ``export-pidgin --password-mode keyring`` and ``profiles delete`` against a
  real D-Bus Secret Service that owns ``org.freedesktop.secrets`` and never replies: each ends
  within its time limit with "The keyring is not answering" and the save-without-password way.
- ``--password-env VAR``: the variable is gone from the environment before anything runs, so no
  child process (the keyring library's compiler probe included) ever sees the password.
- Core dumps are off (RLIMIT_CORE 0/0, not dumpable) in started ``sipe-setup`` and
  ``sipe-setup-gui`` processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sipe_setup.core.account import parse_account
from sipe_setup.core.profiles import Profile, ProfileStore
from tests.conftest import require_tool
from tests.servers.secret_service import HangingSecretService

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "sipe_setup"]
SENTINEL = "Sentinel-Env-Pw-31c8!"
SIGNIN = "alice@example.test"
LOGIN = "EXAMPLE\\alice"
TIMEOUT = "1"  # SIPE_SETUP_KEYRING_TIMEOUT: one second instead of ten
NOT_ANSWERING = "The keyring is not answering"


@pytest.fixture(scope="module")
def registrar_port() -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.servers.registrar", "--port", "0",
         "--user", f"EXAMPLE\\alice:{SENTINEL}"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    yield int(line.split("127.0.0.1:")[1].split()[0])
    process.terminate()
    process.wait(5)


@pytest.fixture
def hanging() -> Iterator[HangingSecretService]:
    require_tool("dbus-daemon")
    with HangingSecretService.start() as service:
        yield service


def _env(tmp: Path, service: HangingSecretService | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DBUS_", "GNOME_KEYRING")) and k not in ("DISPLAY",
                                                                         "WAYLAND_DISPLAY")}
    env.update({"HOME": str(tmp / "home"), "XDG_CONFIG_HOME": str(tmp / "config"),
                "XDG_DATA_HOME": str(tmp / "data"), "SIPE_SETUP_KEYRING_TIMEOUT": TIMEOUT,
                "PYTHONPATH": str(ROOT / "app")})
    env.pop("PYTHON_KEYRING_BACKEND", None)
    if service is not None:
        env.update(service.env)
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
    else:
        env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={tmp / 'no-bus'}"
    return env


def _cli(env: dict[str, str], *args: str, stdin: str = "",
         limit: float = 30) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                          timeout=limit, cwd=ROOT, env=env)
    return done, time.monotonic() - started


def _saved_profile(tmp: Path, monkeypatch: pytest.MonkeyPatch, *, stored: bool) -> Profile:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "config"))
    profile = dataclasses.replace(
        Profile.from_account("Work", parse_account(SIGNIN, login=LOGIN, transport="tcp")),
        password_stored=stored, password_where="Secret Service" if stored else "")
    ProfileStore().save(profile)
    return profile


# --- a keyring that never answers -----------------------------------------------------------


def test_check_save_with_a_hanging_keyring(tmp_path: Path, registrar_port: int,
                                           hanging: HangingSecretService) -> None:
    env = _env(tmp_path, hanging)
    args = ("check", SIGNIN, "--login", LOGIN, "--server", f"127.0.0.1:{registrar_port}",
            "--transport", "tcp", "--password-stdin", "--save", "Work")
    done, took = _cli(env, *args, stdin=SENTINEL + "\n")
    assert done.returncode == 1, done.stderr
    assert "the keyring is not answering" in done.stderr
    assert "nothing saved (use --allow-no-keyring" in done.stderr
    assert took < 20
    profile_file = tmp_path / "config" / "sipe-setup" / "profiles" / "work.json"
    assert not profile_file.exists()

    done, took = _cli(env, *args, "--allow-no-keyring", stdin=SENTINEL + "\n")
    assert done.returncode == 0, done.stderr
    assert "Password: not saved" in done.stderr
    assert json.loads(profile_file.read_text())["password"] == {"stored": False}
    assert SENTINEL not in done.stderr + done.stdout
    assert took < 20


def test_export_pidgin_keyring_mode_with_a_hanging_keyring(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        hanging: HangingSecretService) -> None:
    _saved_profile(tmp_path, monkeypatch, stored=True)
    env = _env(tmp_path, hanging)
    purple = tmp_path / "purple"
    # The password from sipe-setup's own keyring entry …
    done, took = _cli(env, "export-pidgin", "Work", "--purple-dir", str(purple),
                      "--password-mode", "keyring")
    assert done.returncode == 1
    assert NOT_ANSWERING in done.stderr, done.stderr
    assert took < 20
    # … or typed, to be put where Pidgin's keyring plugin looks.
    env["SIPE_TEST_PASSWORD"] = SENTINEL
    done, took = _cli(env, "export-pidgin", "Work", "--purple-dir", str(purple),
                      "--password-mode", "keyring", "--password-env", "SIPE_TEST_PASSWORD")
    assert done.returncode == 1
    assert NOT_ANSWERING in done.stderr, done.stderr
    assert "without the password" in done.stderr
    assert SENTINEL not in done.stderr
    assert took < 20
    assert not (purple / "accounts.xml").exists()  # nothing half-done


def test_profiles_delete_with_a_hanging_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                hanging: HangingSecretService) -> None:
    _saved_profile(tmp_path, monkeypatch, stored=True)
    done, took = _cli(_env(tmp_path, hanging), "profiles", "delete", "Work")
    assert done.returncode == 0, done.stderr
    assert "Deleted profile “Work”" in done.stdout
    assert "could not be removed from the keyring" in done.stdout
    assert NOT_ANSWERING in done.stdout
    assert took < 20
    assert ProfileStore().list() == []


# --- the password in the environment --------------------------------------------------------


def _recording_tools(tmp: Path) -> tuple[Path, Path]:
    """Fake gcc/cc/ld first on PATH: each writes the environment it got into a file."""
    bin_dir, record = tmp / "bin", tmp / "children"
    bin_dir.mkdir()
    record.mkdir()
    for name in ("gcc", "cc", "ld"):
        tool = bin_dir / name
        tool.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                        f"path = os.path.join({str(record)!r}, str(os.getpid()))\n"
                        "with open(path, 'w') as f:\n"
                        "    json.dump({'argv': sys.argv, 'env': dict(os.environ)}, f)\n"
                        "sys.exit(1)\n")
        tool.chmod(0o755)
    return bin_dir, record


def test_password_env_never_reaches_a_child_process(tmp_path: Path,
                                                    registrar_port: int) -> None:
    """The keyring library probes for macOS libraries with gcc/ld (ctypes.util.find_library);
    those children must not inherit the password."""
    bin_dir, record = _recording_tools(tmp_path)
    env = _env(tmp_path)  # no keyring backend forced: the library looks for one
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["SIPE_TEST_PASSWORD"] = SENTINEL
    done, _took = _cli(env, "check", SIGNIN, "--login", LOGIN, "--server",
                       f"127.0.0.1:{registrar_port}", "--transport", "tcp", "--password-env",
                       "SIPE_TEST_PASSWORD", "--save", "Work", "--allow-no-keyring")
    assert done.returncode == 0, done.stderr  # signed in: the password was read
    children = [json.loads(p.read_text()) for p in record.iterdir()]
    assert children, "no child process ran: the keyring library no longer probes with gcc/ld"
    for child in children:
        assert "SIPE_TEST_PASSWORD" not in child["env"], child["argv"]
        assert SENTINEL not in json.dumps(child), child["argv"]


# --- core dumps --------------------------------------------------------------------------------

# Runs a module the way ``python -m`` does, and reports (PR_GET_DUMPABLE, RLIMIT_CORE) as the
# process starts and as it exits.
_REPORT = """
import atexit, ctypes, resource, runpy, sys
def report(when):
    libc = ctypes.CDLL(None, use_errno=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    sys.stderr.write(f"\\n{when} {libc.prctl(3, 0, 0, 0, 0)} {soft} {hard}\\n")
report("BEFORE")
atexit.register(report, "AFTER")
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def _allow_core_dumps() -> None:
    """In the child before exec: core dumps as allowed as they can be (so 0/0 is ours)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _hardening_of(env: dict[str, str], module: str, *args: str) -> tuple[int, int, int]:
    """(dumpable, soft, hard) of a started ``python -m module args`` when it exits."""
    done = subprocess.run([sys.executable, "-c", _REPORT, module, *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env,
                          preexec_fn=_allow_core_dumps)
    found = {x.split()[0]: tuple(int(v) for v in x.split()[1:])
             for x in done.stderr.splitlines() if x.startswith(("BEFORE ", "AFTER "))}
    assert set(found) == {"BEFORE", "AFTER"}, done.stderr
    dumpable, _soft, hard = found["BEFORE"]
    assert dumpable == 1  # a fresh process is dumpable: what follows is sipe-setup's doing
    assert hard != 0 or resource.getrlimit(resource.RLIMIT_CORE)[1] == 0
    after = found["AFTER"]
    return after[0], after[1], after[2]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_core_dumps_are_off_in_the_cli_and_the_wizard(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _hardening_of(env, "sipe_setup", "profiles", "list") == (0, 0, 0)
    assert _hardening_of({**env, "QT_QPA_PLATFORM": "offscreen"}, "sipe_setup.gui.app",
                         "--version") == (0, 0, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux-only")
def test_a_waiting_cli_process_has_no_core_limit(tmp_path: Path) -> None:
    """Seen from outside: ``sipe-setup check … --password-stdin`` waiting for the password."""
    process = subprocess.Popen([*CLI, "check", SIGNIN, "--password-stdin"], cwd=ROOT,
                               env=_env(tmp_path), stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_allow_core_dumps)
    try:
        limits = Path(f"/proc/{process.pid}/limits")
        deadline = time.monotonic() + 15
        line = ""
        while time.monotonic() < deadline:
            line = next(x for x in limits.read_text().splitlines()
                        if x.startswith("Max core file size"))
            if line.split()[4:6] == ["0", "0"]:
                break
            time.sleep(0.05)
        assert line.split()[4:6] == ["0", "0"], line
    finally:
        process.kill()
        process.wait(5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc is Linux-only")
def test_the_password_is_gone_from_proc_environ(tmp_path: Path) -> None:
    """While the check runs, /proc/<pid>/environ (what ``ps e`` shows) holds no password."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        env = {**_env(tmp_path), "SIPE_TEST_PASSWORD": SENTINEL}
        process = subprocess.Popen(
            [*CLI, "check", SIGNIN, "--server", f"127.0.0.1:{port}", "--transport", "tcp",
             "--password-env", "SIPE_TEST_PASSWORD", "--timeout", "30"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            silent.settimeout(20)
            connection, _ = silent.accept()  # the check is running: the password was read
            with connection:
                environ = Path(f"/proc/{process.pid}/environ").read_bytes()
                assert process.poll() is None
                assert SENTINEL.encode() not in environ
                assert b"SIPE_TEST_PASSWORD=" + SENTINEL.encode() not in environ
        finally:
            process.kill()
            process.wait(5)
