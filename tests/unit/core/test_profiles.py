"""Profile store: versioned JSON files, atomic, 0600; corrupt or newer files never overwritten."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from sipe_setup.core.account import Transport, parse_account
from sipe_setup.core.discovery import Candidate, CandidateSource
from sipe_setup.core.profiles import (
    PROFILE_SCHEMA_VERSION,
    Profile,
    ProfileError,
    ProfileExists,
    ProfileNotFound,
    ProfileStore,
    ProfileUnreadable,
    Validation,
    profile_id,
)
from sipe_setup.core.steps import (
    AcceptedCertificate,
    CheckResult,
    SelectedServer,
    ServerFacts,
    Verdict,
)

FINGERPRINT = ":".join(["AB"] * 32)


def _candidate(host: str, port: int, transport: str, *,
               outside_domain: bool = False) -> Candidate:
    return Candidate(host, port, Transport(transport), CandidateSource.MANUAL, "test",
                     outside_domain=outside_domain)


def _result(*, entry: tuple[str, int, str], selected: tuple[str, int, str] | None = None,
            sipe_pick: tuple[str, int, str] | None = None, scheme: str = "NTLM",
            verdict: Verdict = Verdict.SIGNED_IN, outside: bool = False,
            cert: AcceptedCertificate | None = None) -> CheckResult:
    host, port, transport = selected or entry
    pick = sipe_pick or entry
    return CheckResult(
        verdict=verdict, summary="Signed in as alice@example.test", advice=None, steps=[],
        account={},
        discovery={"sipe_would_use": {"host": pick[0], "port": pick[1], "transport": pick[2]}},
        selected=SelectedServer(_candidate(host, port, transport), "127.0.0.1"),
        server=ServerFacts(scheme=scheme,
                           entry_point=_candidate(*entry, outside_domain=outside)),
        accepted_certificate=cert)


def _account(**kw: str):  # type: ignore[no-untyped-def]
    return parse_account("alice@example.test", login=kw.get("login", "EXAMPLE\\alice"),
                         server=kw.get("server", ""), auth=kw.get("auth", "auto"))


def test_round_trip_private_file(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path / "profiles")
    result = _result(entry=("sip.example.test", 5061, "tls"),
                     cert=AcceptedCertificate("sip.example.test", FINGERPRINT,
                                              "-----BEGIN CERTIFICATE-----\nAAAA\n"
                                              "-----END CERTIFICATE-----\n"))
    profile = Profile.from_account("Work", _account(), result)
    path = store.save(profile)
    assert path.name == "work.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    loaded = store.load("work")
    assert loaded.name == "Work" and loaded.signin == "alice@example.test"
    assert loaded.validation is not None
    assert loaded.validation.certificate is not None
    assert loaded.validation.certificate.sha256 == FINGERPRINT
    assert loaded.validation.scheme == "NTLM"
    assert json.loads(path.read_text())["version"] == PROFILE_SCHEMA_VERSION
    assert [item.profile.name for item in store.list() if item.profile] == ["Work"]


def test_only_a_successful_check_validates(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="did not sign in"):
        Profile.from_account("Work", _account(), _result(entry=("a.example.test", 5061, "tls"),
                                                         verdict=Verdict.FAILED))


def test_existing_profile_is_not_replaced_silently(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(Profile.from_account("Work", _account()))
    with pytest.raises(ProfileExists, match="exists already"):
        store.save(Profile.from_account("work", _account(login="alice@example.test")))
    store.save(Profile.from_account("Work", _account(login="alice@example.test")),
               replace_existing=True)
    assert store.load("Work").login == "alice@example.test"
    assert len(list(tmp_path.glob("work.json.*.bak"))) == 1


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "not valid JSON (line 1"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[]", "not a JSON object"),
    (b'{"format": "other"}', "not a sipe-setup profile"),
    (json.dumps({"format": "sipe-setup-profile", "version": 99}).encode(),
     "newer sipe-setup (profile version 99"),
    (json.dumps({"format": "sipe-setup-profile", "version": 1, "name": "W",
                 "account": {"signin": "no-at-sign"}, "password": {"stored": False}}).encode(),
     "@"),
    (json.dumps({"format": "sipe-setup-profile", "version": 1, "name": "W",
                 "account": {"signin": "a@b.test", "sso": "yes"}}).encode(),
     "not true or false"),
    (b" " * (300 * 1024), "larger than"),
])
def test_unreadable_files_are_reported_and_kept(tmp_path: Path, content: bytes,
                                                problem: str) -> None:
    store = ProfileStore(tmp_path)
    path = tmp_path / "work.json"
    path.write_bytes(content)
    with pytest.raises(ProfileUnreadable) as caught:
        store.load("Work")
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)
    [listing] = store.list()
    assert listing.profile is None and problem in listing.problem
    with pytest.raises(ProfileExists):
        store.save(Profile.from_account("Work", _account()))
    assert path.read_bytes() == content


def test_replacing_an_unreadable_file_backs_it_up(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    (tmp_path / "work.json").write_bytes(b"{broken")
    store.save(Profile.from_account("Work", _account()), replace_existing=True)
    [backup] = tmp_path.glob("work.json.*.bak")
    assert backup.read_bytes() == b"{broken"


def test_rename_and_delete(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    store.save(Profile.from_account("Work", _account()))
    store.rename("Work", "Contoso office")
    assert not (tmp_path / "work.json").exists()
    assert store.load("contoso office").name == "Contoso office"
    with pytest.raises(ProfileNotFound, match="Saved profiles: Contoso office"):
        store.load("Work")
    store.delete("Contoso office")
    assert store.list() == []


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\nname"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ProfileError):
        Profile.from_account(name, _account())


def test_profile_ids() -> None:
    assert profile_id("Work (Contoso)") == "work-contoso"
    assert profile_id("Été") == "ete"
    assert profile_id("日本") .startswith("p-")


def test_pidgin_settings_write_what_was_proven() -> None:
    # Discovery's first pick worked: nothing pinned; Auto becomes the scheme that worked.
    result = _result(entry=("sip.example.test", 5061, "tls"), scheme="Kerberos")
    settings = Profile.from_account("W", _account(), result).pidgin_settings()
    assert settings == {"server": "", "transport": "auto", "authentication": "krb5",
                        "sso": False, "useragent": ""}
    # SIPE's first pick failed; the check got in through another candidate: pin it.
    result = _result(entry=("sipexternal.example.test", 443, "tls"),
                     sipe_pick=("sipinternal.example.test", 5061, "tls"))
    settings = Profile.from_account("W", _account(), result).pidgin_settings()
    assert settings["server"] == "sipexternal.example.test:443"
    assert settings["transport"] == "tls"
    assert settings["authentication"] == "ntlm"
    # A 301 to the home pool is not pinned: SIPE follows the same redirect.
    result = _result(entry=("sip.example.test", 5061, "tls"),
                     selected=("pool2.example.test", 5061, "tls"))
    assert Profile.from_account("W", _account(), result).pidgin_settings()["server"] == ""
    # A server outside the SIP domain the user accepted is pinned explicitly.
    result = _result(entry=("sip.other.test", 5061, "tls"), outside=True)
    assert Profile.from_account("W", _account(), result).pidgin_settings()["server"] == (
        "sip.other.test:5061")
    # A scheme the user chose is kept.
    result = _result(entry=("sip.example.test", 5061, "tls"), scheme="NTLM")
    account = _account(auth="ntlm")
    assert Profile.from_account("W", account, result).pidgin_settings()[
        "authentication"] == "ntlm"


def test_validation_survives_json() -> None:
    result = _result(entry=("sip.example.test", 5061, "tls"), selected=("pool.example.test",
                                                                        5061, "tls"))
    validation = Validation.from_check(_account(), result)
    profile = Profile.from_account("W", _account(), result)
    assert Profile.from_json(json.loads(json.dumps(profile.to_json()))).validation == validation


# --- the store under pressure --------------------------------------------------------------------


def test_concurrent_saves_of_one_new_profile_never_both_succeed(tmp_path: Path) -> None:
    """Two wizards saving "Work" at once: one wins, the other is told the name is taken
    (without the lock both passed the exists-check and the second silently replaced)."""
    import threading

    for _ in range(20):
        store = ProfileStore(tmp_path / str(_))
        barrier = threading.Barrier(2)
        results: list[str] = []

        def save(login: str, store: ProfileStore = store, barrier: threading.Barrier = barrier,
                 results: list[str] = results) -> None:
            barrier.wait()
            try:
                store.save(Profile.from_account("Work", _account(login=login)))
                results.append(login)
            except ProfileExists:
                results.append("refused")

        threads = [threading.Thread(target=save, args=(login,))
                   for login in ("EXAMPLE\\alice", "alice@example.test")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(results)[-1] == "refused", results
        winner = next(r for r in results if r != "refused")
        assert store.load("Work").login == winner


def test_a_profile_changed_meanwhile_is_not_overwritten(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from sipe_setup.core import profiles
    from sipe_setup.core.fileio import FileChangedError
    from sipe_setup.core.fileio import backup_file as real_backup

    store = ProfileStore(tmp_path)
    path = store.save(Profile.from_account("Work", _account()))

    def meanwhile(target: Path, **kwargs: object) -> Path | None:
        result = real_backup(target, **kwargs)  # type: ignore[arg-type]
        target.write_text(target.read_text().replace("EXAMPLE", "OTHER"))  # another program
        return result

    monkeypatch.setattr(profiles, "backup_file", meanwhile)
    with pytest.raises(FileChangedError):
        store.save(Profile.from_account("Work", _account(login="alice@example.test")),
                   replace_existing=True)
    assert store.load("Work").login == "OTHER\\alice"
    assert not list(tmp_path.glob(".*.tmp"))
    assert path.exists()


def test_replaced_profiles_keep_only_the_newest_backups(tmp_path: Path) -> None:
    import datetime as dt

    from sipe_setup.core.fileio import KEEP_BACKUPS, LOCK_FILE_NAME

    store = ProfileStore(tmp_path)
    moment = dt.datetime(2026, 5, 1, 8, 0, 0)
    for n in range(12):
        store.save(Profile.from_account("Work", _account()), replace_existing=True,
                   now=moment + dt.timedelta(minutes=n))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len([n for n in names if n.endswith(".bak")]) == KEEP_BACKUPS
    assert names[:2] == [LOCK_FILE_NAME, "work.json"]


def test_delete_errors_are_plain_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ProfileStore(tmp_path)
    path = store.save(Profile.from_account("Work", _account()))

    def refused(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refused)
    with pytest.raises(OSError) as caught:
        store.delete("Work")
    assert str(caught.value).startswith(f"Cannot delete {path}: permission denied.")
    assert "Errno" not in str(caught.value)
