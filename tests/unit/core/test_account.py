"""Table-driven tests of the account model: every Login form, host[:port], bad input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipe_setup.core.account import (
    AccountValidationError,
    AuthScheme,
    Field,
    FieldError,
    LoginForm,
    Secret,
    ServerAddress,
    SignInAddress,
    Transport,
    parse_account,
    parse_login,
    parse_server,
    parse_signin,
)

GOOD_SIGNIN = [
    ("alice@example.test", "alice", "example.test"),
    ("  alice@example.test  ", "alice", "example.test"),
    ("sip:alice@example.test", "alice", "example.test"),
    ("SIP:alice@Example.TEST", "alice", "example.test"),
    ("First.Last@COMPANY.COM", "First.Last", "company.com"),
    ("a.b-c_d+e@sub.company.co.uk", "a.b-c_d+e", "sub.company.co.uk"),
    ("bob@bücher.example", "bob", "xn--bcher-kva.example"),
    ("bob@example.test.", "bob", "example.test"),
    ("alice@example.test\n", "alice", "example.test"),  # a pasted newline is trimmed
]


@pytest.mark.parametrize(("text", "user", "domain"), GOOD_SIGNIN)
def test_good_signin(text: str, user: str, domain: str) -> None:
    result = parse_signin(text)
    assert isinstance(result, SignInAddress), result
    assert (result.user, result.domain) == (user, domain)
    assert result.uri == f"sip:{user}@{domain}"


BAD_SIGNIN = [
    ("", "Enter your sign-in address"),
    ("   ", "Enter your sign-in address"),
    ("alice", "needs an @ and a domain"),
    ("alice.example.test", "needs an @ and a domain"),
    ("@example.test", "your name before the @"),
    ("alice@", "needs a domain after the @"),
    ("alice@@example.test", "more than one @"),
    ("a@b@example.test", "more than one @"),
    ("al ice@example.test", "space before the @"),
    ("alice@exa mple.test", "domain after the @ contains a space"),
    ("alice\t@example.test", "a tab"),
    ("ali\u200bce@example.test", "invisible control character (U+200B)"),
    ("EXAMPLE\\alice@example.test", "put it in the Login field"),
    ("<alice@example.test>", "characters a SIP address cannot have"),
    ("alice@example", "needs a dot"),
    ("alice@-bad.example", "not a valid domain name"),
    ("alice@exa_mple.test", "not a valid domain name"),
    ("alice@" + "a" * 64 + ".test", "not a valid domain name"),
    ("a" * 300 + "@example.test", "too long"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_SIGNIN)
def test_bad_signin(text: str, fragment: str) -> None:
    result = parse_signin(text)
    assert isinstance(result, FieldError), result
    assert result.field is Field.SIGNIN
    assert fragment in result.message


SIGNIN = parse_signin("alice@example.test")
assert isinstance(SIGNIN, SignInAddress)

# (login, form, ntlm user, ntlm domain, kerberos principal)
GOOD_LOGIN = [
    ("", LoginForm.SAME_AS_SIGNIN, "alice@example.test", "", "alice@EXAMPLE.TEST"),
    ("EXAMPLE\\alice", LoginForm.DOMAIN_USER, "alice", "EXAMPLE", "alice@EXAMPLE"),
    ("example/alice", LoginForm.DOMAIN_USER, "alice", "example", "alice@EXAMPLE"),
    ("alice@example.test", LoginForm.USER_AT_REALM, "alice@example.test", "",
     "alice@EXAMPLE.TEST"),
    ("alice@Corp.Example.TEST", LoginForm.USER_AT_REALM, "alice@Corp.Example.TEST", "",
     "alice@CORP.EXAMPLE.TEST"),
    ("alice\\@upn.example", LoginForm.ENTERPRISE, "alice@upn.example", "",
     "alice\\@upn.example"),
    ("alice\\@upn.example@CORP.TEST", LoginForm.ENTERPRISE, "alice@upn.example", "",
     "alice\\@upn.example@CORP.TEST"),
    ("alice", LoginForm.BARE_USER, "alice", "", "alice"),
    ("  EXAMPLE\\alice ", LoginForm.DOMAIN_USER, "alice", "EXAMPLE", "alice@EXAMPLE"),
]


@pytest.mark.parametrize(("text", "form", "nt_user", "nt_domain", "krb"), GOOD_LOGIN)
def test_good_login(text: str, form: LoginForm, nt_user: str, nt_domain: str, krb: str) -> None:
    result = parse_login(text, SIGNIN)
    assert not isinstance(result, FieldError), result
    assert result.form is form
    assert (result.ntlm.user, result.ntlm.domain) == (nt_user, nt_domain)
    assert str(result.kerberos) == krb


BAD_LOGIN = [
    ("EXAMPLE\\", "missing the user name"),
    ("\\alice", "missing the domain"),
    ("EX\\AM\\alice", "more than one"),
    ("EXAMPLE\\al ice", "contains a space"),
    ("EXAMPLE\\alice@example.test", "mixes"),
    ("alice@", "missing the domain"),
    ("@example.test", "missing the user name"),
    ("a@b@example.test", "more than one @"),
    ("alice@exa mple.test", "contains a space"),
    ("alice@-x.test", "not a valid domain"),
    ("al ice", "contains a space"),
    ("alice,bob", "comma"),
    ("ali\nce", "line break"),
    ("\\@upn.example", "missing the user name"),
    ("alice\\@", "missing the domain"),
    ("alice\\@upn@", "realm"),
    ("x" * 300, "too long"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_LOGIN)
def test_bad_login(text: str, fragment: str) -> None:
    result = parse_login(text, SIGNIN)
    assert isinstance(result, FieldError), result
    assert result.field is Field.LOGIN
    assert fragment in result.message


GOOD_SERVER = [
    ("", None),
    ("   ", None),
    ("sip.example.test", ServerAddress("sip.example.test", None)),
    ("SIP.Example.TEST:443", ServerAddress("sip.example.test", 443)),
    ("sip:pool.example.test:5061", ServerAddress("pool.example.test", 5061)),
    ("127.0.0.1:5060", ServerAddress("127.0.0.1", 5060, is_ip=True)),
    ("127.0.0.1", ServerAddress("127.0.0.1", None, is_ip=True)),
    ("[::1]:5061", ServerAddress("::1", 5061, is_ip=True)),
    ("[2001:DB8::1]", ServerAddress("2001:db8::1", None, is_ip=True)),
    ("2001:db8::1", ServerAddress("2001:db8::1", None, is_ip=True)),
    ("lync.bücher.example:443", ServerAddress("lync.xn--bcher-kva.example", 443)),
    ("server:65535", ServerAddress("server", 65535)),
    ("sip.example.test\r\n", ServerAddress("sip.example.test", None)),  # trimmed
]


@pytest.mark.parametrize(("text", "expected"), GOOD_SERVER)
def test_good_server(text: str, expected: ServerAddress | None) -> None:
    assert parse_server(text) == expected


BAD_SERVER: list[tuple[str, str]] = [
    ("sip.example.test:", "no port"),
    ("sip.example.test:0", "out of range"),
    ("sip.example.test:65536", "out of range"),
    ("sip.example.test:abc", "not a number"),
    ("sip.example.test:-1", "not a number"),
    ("sip.example.test:٥٠٦١", "not a number"),
    (":5061", "missing before"),
    ("https://sip.example.test", "without http://"),
    ("sip example.test", "space"),
    ("alice@example.test", "looks like an address"),
    ("[::1", "closing ]"),
    ("[::1]5061", "only :port"),
    ("[::1]:", "only :port"),
    ("[nothex]:5061", "not an IPv6 address"),
    ("2001:db8::1:5061:x", "must be written in brackets"),
    ("300.1.2.3", "not a valid IPv4"),
    ("bad_host.example", "not a valid server name"),
    ("sip.exa\x00mple.test", "control character"),
]


@pytest.mark.parametrize(("text", "fragment"), BAD_SERVER)
def test_bad_server(text: str, fragment: str) -> None:
    result = parse_server(text)
    assert isinstance(result, FieldError), result
    assert result.field is Field.SERVER
    assert fragment in result.message


def test_default_ports_follow_sipe() -> None:
    server = parse_server("pool.example.test")
    assert isinstance(server, ServerAddress)
    assert server.port_for(Transport.TLS) == 5061
    assert server.port_for(Transport.TCP) == 5060
    assert server.port_for(Transport.AUTO) == 5061


def test_account_collects_every_field_error() -> None:
    with pytest.raises(AccountValidationError) as info:
        parse_account("alice", login="A\\B\\C", server="x:99999", transport="udp", auth="digest",
                      user_agent="bad\nua")
    fields = [e.field for e in info.value.errors]
    assert fields == [Field.SIGNIN, Field.LOGIN, Field.SERVER, Field.TRANSPORT, Field.AUTH,
                      Field.USER_AGENT]
    assert info.value.for_field(Field.SERVER)[0].message.startswith("The port 99999")


def test_empty_login_with_bad_signin_reports_only_signin() -> None:
    with pytest.raises(AccountValidationError) as info:
        parse_account("nobody")
    assert [e.field for e in info.value.errors] == [Field.SIGNIN]


def test_account_rules() -> None:
    account = parse_account("alice@Example.Test", login="EXAMPLE\\alice",
                            server="127.0.0.1:5060", auth="krb5")
    assert account.auth is AuthScheme.KERBEROS
    assert account.auth.pidgin_value == "krb5"
    assert account.effective_transport is Transport.TLS  # auto + manual server → TLS
    assert account.pidgin_account_name == "alice@example.test,EXAMPLE\\alice"
    assert parse_account("alice@example.test").pidgin_account_name == "alice@example.test,"
    assert parse_account("alice@example.test").effective_transport is Transport.AUTO
    tcp = parse_account("alice@example.test", transport="TCP")
    assert any("unencrypted" in w.message for w in tcp.warnings)
    v6 = parse_account("alice@example.test", server="[::1]:5061")
    assert any("IPv6" in w.message for w in v6.warnings)


def test_secret_never_prints() -> None:
    secret = Secret("Passw0rd!")
    assert "Passw0rd" not in repr(secret)
    assert "Passw0rd" not in str(secret)
    assert "Passw0rd" not in f"{secret}"
    assert secret.reveal() == "Passw0rd!"


@given(st.text(max_size=80))
def test_parsers_never_raise(text: str) -> None:
    parse_signin(text)
    parse_login(text, SIGNIN)
    parse_login(text, None)
    parse_server(text)
    with contextlib.suppress(AccountValidationError):
        parse_account(text, login=text, server=text, user_agent=text)
