"""`sipe-setup discover` end to end: the installed console script against a real dnsmasq."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.servers.dns_proxy import DnsProxy
from tests.servers.dnsmasq import Dnsmasq, DnsZone

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "sipe-setup"
DOMAIN = "example.test"
ZONE = (DnsZone(DOMAIN).srv("_sipinternaltls._tcp", f"pool.{DOMAIN}", 5061)
        .srv("_sip._tls", "sipdir.online.example.org", 443)
        .host(f"pool.{DOMAIN}", "127.0.0.2").host("sipdir.online.example.org", "127.0.0.3")
        .host(f"sip.{DOMAIN}", "127.0.0.4").also_local("example.org").also_local("empty.test"))


@pytest.fixture(scope="module")
def dns_port() -> Iterator[int]:
    binary = require_tool("dnsmasq")
    with Dnsmasq(ZONE, binary=binary) as server:
        yield server.port


def sipe_setup(*args: str, stdin: str = "", env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT) if SCRIPT.exists() else sys.executable, *(
        [] if SCRIPT.exists() else ["-m", "sipe_setup"]), *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def test_table_lists_queries_candidates_selection_and_warnings(dns_port: int) -> None:
    done = sipe_setup("discover", f"alice@{DOMAIN}", "--nameserver", f"127.0.0.1:{dns_port}")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"_sipinternaltls._tcp.{DOMAIN}" in out and "answer" in out and "nxdomain" in out
    assert "SIPE uses this one" in out
    assert f"1. pool.{DOMAIN}:5061 TLS" in out
    assert "2. sipdir.online.example.org:443 TLS" in out
    assert f"SIPE would connect first to: pool.{DOMAIN}:5061 (TLS)" in out
    assert "SS-DISC-STRICT-NAMING" in out
    assert "Traceback" not in done.stderr


def test_json_document(dns_port: int) -> None:
    done = sipe_setup("discover", f"alice@{DOMAIN}", "--nameserver", f"127.0.0.1:{dns_port}",
                      "--transport", "tls", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["schema_version"] == 1 and document["command"] == "discover"
    assert document["verdict"] == "found" and document["code"] is None
    queries = document["discovery"]["queries"]
    assert {q["name"] for q in queries if q["type"] == "SRV"} == {
        f"_sipinternaltls._tcp.{DOMAIN}", f"_sip._tls.{DOMAIN}"}
    assert all(set(q) >= {"name", "type", "outcome", "records"} for q in queries)
    srv = next(q for q in queries if q["name"] == f"_sipinternaltls._tcp.{DOMAIN}")
    assert srv["outcome"] == "answer"
    assert srv["records"] == [{"priority": 0, "weight": 0, "port": 5061,
                               "target": f"pool.{DOMAIN}", "sipe_uses": True}]
    candidates = document["discovery"]["candidates"]
    assert [(c["host"], c["port"], c["transport"], c["source"]) for c in candidates] == [
        (f"pool.{DOMAIN}", 5061, "tls", "srv"), ("sipdir.online.example.org", 443, "tls", "srv"),
        (f"sip.{DOMAIN}", 443, "tls", "a-record")]
    assert document["selected"]["host"] == f"pool.{DOMAIN}"
    assert document["timings"]["total_ms"] > 0
    assert any(w["code"] == "SS-DISC-STRICT-NAMING" for w in document["warnings"])


def test_nothing_found_exits_1_with_code_and_advice(dns_port: int) -> None:
    done = sipe_setup("discover", "bob@empty.test", "--nameserver", f"127.0.0.1:{dns_port}")
    assert done.returncode == 1
    assert "SS-DISC-NONE" in done.stdout
    assert "_sipinternaltls._tcp.empty.test. SRV 0 0 5061 pool.empty.test." in done.stdout
    assert "lyncdiscover.empty.test." in done.stdout
    done = sipe_setup("discover", "bob@empty.test", "--nameserver", f"127.0.0.1:{dns_port}",
                      "--json")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["verdict"] == "none" and document["code"] == "SS-DISC-NONE"
    assert document["selected"] is None and document["advice"]


def test_a_dns_server_that_never_answers_is_not_nothing_published() -> None:
    """As ``check`` says it: SS-DISC-DNS (the network), not SS-DISC-NONE (publish records)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # receives every query, answers none
        port = silent.getsockname()[1]
        done = sipe_setup("discover", "bob@empty.test", "--nameserver", f"127.0.0.1:{port}",
                          "--timeout", "3", "--json")
        done_text = sipe_setup("discover", "bob@empty.test", "--nameserver",
                               f"127.0.0.1:{port}", "--timeout", "3")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["code"] == "SS-DISC-DNS"
    assert "SS-DISC-DNS" in done_text.stdout and "publish the DNS records" not in done_text.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["alice"], "The sign-in address needs an @ and a domain, like first.last@company.com."),
    (["alice@example.test", "--server", "sip.example.test:99999"],
     "The port 99999 is out of range (1–65535)."),
    (["alice@example.test", "--transport", "udp"], "Unknown connection type “udp”"),
])
def test_bad_input_exits_2_with_the_field_error(args: list[str], message: str) -> None:
    done = sipe_setup("discover", *args, "--nameserver", "127.0.0.1:9")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_nameserver_is_a_usage_error() -> None:
    done = sipe_setup("discover", "alice@example.test", "--nameserver", "dns.example.test")
    assert done.returncode == 2 and "is not an IP address" in done.stderr


def test_manual_server_skips_dns(dns_port: int) -> None:
    done = sipe_setup("discover", f"alice@{DOMAIN}", "--server", "sip.example.test",
                      "--transport", "tcp", "--nameserver", f"127.0.0.1:{dns_port}", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["discovery"]["mode"] == "manual"
    assert document["discovery"]["queries"] == []
    assert document["selected"] == document["discovery"]["candidates"][0]
    assert (document["selected"]["port"], document["selected"]["transport"]) == (5060, "tcp")


def test_password_from_stdin_never_printed(dns_port: int) -> None:
    secret = "S3cret-Pa55"
    done = sipe_setup("discover", f"alice@{DOMAIN}", "--login", "EXAMPLE\\alice",
                      "--password-stdin", "--nameserver", f"127.0.0.1:{dns_port}", "--json",
                      stdin=secret + "\n")
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout and secret not in done.stderr
    done = sipe_setup("discover", f"alice@{DOMAIN}", "--password-env", "NO_SUCH_VARIABLE_X",
                      "--nameserver", f"127.0.0.1:{dns_port}")
    assert done.returncode == 2 and "NO_SUCH_VARIABLE_X is not set" in done.stderr


def test_ctrl_c_exits_cleanly() -> None:
    binary = require_tool("dnsmasq")
    with Dnsmasq(DnsZone(DOMAIN), binary=binary) as dns, DnsProxy(
            dns.port, drop_names=[f"_sip._tls.{DOMAIN}", f"sip.{DOMAIN}"]) as proxy:
        command = [str(SCRIPT) if SCRIPT.exists() else sys.executable, *(
            [] if SCRIPT.exists() else ["-m", "sipe_setup"]),
            "discover", f"alice@{DOMAIN}", "--nameserver", f"127.0.0.1:{proxy.port}"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, cwd=ROOT)
        deadline = time.monotonic() + 10
        while len(proxy.seen) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 130
    assert "Traceback" not in err and "Interrupted" in err
