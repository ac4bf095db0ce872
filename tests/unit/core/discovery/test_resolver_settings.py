"""Resolver settings as glibc reads and uses them (resolv.conf, RES_OPTIONS, res_send's loop)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipe_setup.core.discovery import Nameserver, ResolverSettings
from sipe_setup.core.discovery.dns import read_resolv_conf


def conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "resolv.conf"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_no_options_line_is_glibcs_5_seconds_times_2(tmp_path: Path) -> None:
    applied = read_resolv_conf(conf(tmp_path, "nameserver 192.0.2.1\nsearch example.org\n"),
                               environ={})
    assert applied.nameservers == (Nameserver("192.0.2.1"),)
    assert (applied.timeout, applied.attempts, applied.rotate) == (5.0, 2, False)
    assert applied.lifetime == 10.0
    assert "glibc's defaults" in applied.source and "no options line" in applied.source


def test_options_timeout_attempts_rotate(tmp_path: Path) -> None:
    applied = read_resolv_conf(conf(tmp_path, (
        "# comment\n; another\nnameserver 192.0.2.1\nnameserver 2001:db8::1%eth0\n"
        "options timeout:1 attempts:1 rotate edns0 ndots:2\n")), environ={})
    assert applied.nameservers == (Nameserver("192.0.2.1"), Nameserver("2001:db8::1"))
    assert (applied.timeout, applied.attempts, applied.rotate, applied.edns0) == (
        1.0, 1, True, True)
    assert applied.source.endswith("resolv.conf")
    assert "rotate" in applied.describe() and "1 s per try" in applied.describe()


def test_later_options_win_and_res_options_comes_last(tmp_path: Path) -> None:
    path = conf(tmp_path, "nameserver 192.0.2.1\noptions timeout:3\noptions attempts:4 "
                          "timeout:2\n")
    assert (read_resolv_conf(path, environ={}).timeout,
            read_resolv_conf(path, environ={}).attempts) == (2.0, 4)
    env = read_resolv_conf(path, environ={"RES_OPTIONS": "timeout:7 attempts:1"})
    assert (env.timeout, env.attempts) == (7.0, 1)
    assert "RES_OPTIONS" in env.source


def test_glibc_limits(tmp_path: Path) -> None:
    applied = read_resolv_conf(conf(tmp_path, (
        "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n"
        "nameserver 192.0.2.4\nnameserver not-an-ip\noptions timeout:99 attempts:9\n")),
        environ={})
    assert len(applied.nameservers) == 3  # MAXNS
    assert (applied.timeout, applied.attempts) == (30.0, 5)  # RES_MAXRETRANS, RES_MAXRETRY


def test_no_nameserver_line_means_localhost(tmp_path: Path) -> None:
    applied = read_resolv_conf(conf(tmp_path, "options timeout:2\n"), environ={})
    assert applied.nameservers == (Nameserver("127.0.0.1"),)


def test_glibc_waits_per_server_and_round(tmp_path: Path) -> None:
    """res_send.c: server i > 0 waits (timeout << i) / count whole seconds (at least 1)."""
    three = read_resolv_conf(conf(tmp_path, (
        "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n"
        "options timeout:5 attempts:2\n")), environ={})
    assert three.server_timeouts() == (5.0, 3.0, 6.0)
    assert three.schedule() == ((0, 5.0), (1, 3.0), (2, 6.0)) * 2
    assert three.lifetime == 28.0
    rotated = three.schedule(offset=1)
    assert [index for index, _ in rotated[:3]] == [1, 2, 0]
    one_second = read_resolv_conf(conf(tmp_path, (
        "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\n"
        "options timeout:1\n")), environ={})
    assert one_second.server_timeouts() == (1.0, 1.0, 1.0)


def test_explicit_nameservers_use_the_documented_defaults() -> None:
    settings = ResolverSettings((Nameserver("127.0.0.1", 5353),))
    applied = settings.applied()
    assert (applied.timeout, applied.attempts, applied.rotate) == (2.0, 2, False)
    assert applied.lifetime == 4.0 == settings.lifetime
    assert applied.schedule() == ((0, 2.0), (0, 2.0))
    two = ResolverSettings((Nameserver("127.0.0.1", 5353), Nameserver("127.0.0.2", 5353)))
    assert two.applied().schedule() == ((0, 2.0), (1, 2.0))  # 2 tries in all, round the servers


@pytest.mark.parametrize(("timeout", "attempts"), [(1.0, 1), (0.5, 3)])
def test_explicit_values_win(tmp_path: Path, timeout: float, attempts: int) -> None:
    settings = ResolverSettings(timeout=timeout, attempts=attempts,
                                resolv_conf=conf(tmp_path, "nameserver 192.0.2.1\n"))
    applied = settings.applied()
    assert (applied.timeout, applied.attempts) == (timeout, attempts)
    assert applied.nameservers == (Nameserver("192.0.2.1"),)
