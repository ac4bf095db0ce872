"""The SIPE account settings as one immutable, validated value.

Mirrors Pidgin's SIPE Basic/Advanced fields (reference §1.1, §4): sign-in address, Login,
Server[:Port], Connection type, Authentication scheme, Single Sign-On, User Agent. The password
is deliberately *not* part of this value: it travels separately as a :class:`Secret` so that a
settings object can be logged, shown or saved without ever carrying it.

Invariants:
- An :class:`AccountSettings` only exists if every field validated; use :func:`parse_account`.
- Validation never raises for bad *input*: it collects one :class:`FieldError` per bad field,
  each a plain sentence a user can act on.
- Domains are compared case-insensitively and kept in their ASCII (IDNA) form for DNS.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DEFAULT_PORT",
    "AccountSettings",
    "AccountValidationError",
    "AuthScheme",
    "Field",
    "FieldError",
    "KerberosPrincipal",
    "LoginForm",
    "NtlmIdentity",
    "ParsedLogin",
    "Secret",
    "ServerAddress",
    "SignInAddress",
    "Transport",
    "network_host_to_ascii",
    "parse_account",
    "parse_login",
    "parse_server",
    "parse_signin",
    "validate_user_agent",
]


class Transport(enum.StrEnum):
    """Connection type, as SIPE's ``transport`` setting spells it."""

    AUTO = "auto"
    TLS = "tls"
    TCP = "tcp"


class AuthScheme(enum.StrEnum):
    """Authentication scheme. ``KERBEROS`` is written ``krb5`` in accounts.xml."""

    AUTO = "auto"
    NTLM = "ntlm"
    KERBEROS = "kerberos"
    TLS_DSK = "tls-dsk"

    @property
    def pidgin_value(self) -> str:
        """The value SIPE's ``authentication`` setting uses."""
        return "krb5" if self is AuthScheme.KERBEROS else self.value

    @classmethod
    def from_text(cls, text: str) -> AuthScheme:
        """Accept our names and SIPE's (``krb5``), case-insensitively.

        Raises:
            ValueError: for anything else.
        """
        value = text.strip().lower()
        if value in ("krb5", "kerberos"):
            return cls.KERBEROS
        return cls(value)


class Field(enum.StrEnum):
    """The form fields, used to point an error (or advice) at the widget concerned."""

    SIGNIN = "signin"
    LOGIN = "login"
    PASSWORD = "password"  # noqa: S105 - a field name, not a password
    SERVER = "server"
    TRANSPORT = "transport"
    AUTH = "auth"
    SSO = "sso"
    USER_AGENT = "user_agent"


DEFAULT_PORT: Final = {Transport.TLS: 5061, Transport.TCP: 5060}

_MAX_SIGNIN = 256
_MAX_LOGIN = 256
_MAX_USER_AGENT = 256
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Characters a SIP user part may not hold without escaping (RFC 3261 "user" rule, simplified to
# what a person could plausibly type by mistake).
_BAD_USER_CHARS = set('<>"\\[]{}|^`,;:@') | {" "}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field, in words the user can act on."""

    field: Field
    message: str

    def __str__(self) -> str:
        return self.message


class AccountValidationError(ValueError):
    """Raised by :func:`parse_account` with every field error found."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("; ".join(e.message for e in errors))

    def for_field(self, fld: Field) -> list[FieldError]:
        """The errors that concern one field."""
        return [e for e in self.errors if e.field is fld]


class Secret:
    """A password that refuses to be printed, logged or compared by accident."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself; call only where it is sent to an authenticator or keyring."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")


# --- helpers ------------------------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text)


def _describe_control(text: str) -> str:
    for ch in text:
        if ch == "\t":
            return "a tab"
        if ch in "\r\n":
            return "a line break"
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"an invisible control character (U+{ord(ch):04X})"
    return "a control character"


def _domain_to_ascii(domain: str) -> str | None:
    """Lower-cased ASCII (IDNA/punycode) form of a DNS name, or None if it is not one."""
    name = domain.rstrip(".")
    if not name or len(name) > 253:
        return None
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = ascii_name.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        return None
    return ascii_name


def network_host_to_ascii(host: str) -> str | None:
    """A host name or IP literal that came from the network, checked like a typed one.

    Returns the form to connect to (an IP literal as given, a DNS name lower-cased ASCII), or
    None when it is not a usable host: an empty or over-long label, a name over 253 characters,
    bytes that are not a name at all (they would break TLS SNI encoding later).
    """
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return _domain_to_ascii(host)


# --- sign-in address ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInAddress:
    """A SIP sign-in address ``user@domain`` (no ``sip:``).

    ``domain`` is the lower-case ASCII form used for DNS; ``display_domain`` is what the user
    typed (may be an IDN).
    """

    user: str
    domain: str
    display_domain: str

    @property
    def address(self) -> str:
        """``user@domain`` with the DNS form of the domain, as SIP and SIPE use it."""
        return f"{self.user}@{self.domain}"

    @property
    def uri(self) -> str:
        """The SIP URI, ``sip:user@domain``."""
        return f"sip:{self.address}"

    def __str__(self) -> str:
        return self.address


def parse_signin(text: str) -> SignInAddress | FieldError:
    """Validate a sign-in address (Pidgin's *Username*). A leading ``sip:`` is accepted."""

    def err(msg: str) -> FieldError:
        return FieldError(Field.SIGNIN, msg)

    example = "like first.last@company.com"
    value = text.strip()
    if not value:
        return err(f"Enter your sign-in address, {example}.")
    if len(value) > _MAX_SIGNIN:
        return err(f"The sign-in address is too long ({len(value)} characters; at most "
                   f"{_MAX_SIGNIN}).")
    if _has_control(value):
        return err(f"The sign-in address contains {_describe_control(value)}; type it on one "
                   f"line, {example}.")
    if value.lower().startswith("sip:"):
        value = value[4:]
    if "@" not in value:
        return err(f"The sign-in address needs an @ and a domain, {example}.")
    user, _, domain = value.rpartition("@")
    if not user:
        return err(f"The sign-in address needs your name before the @, {example}.")
    if not domain:
        return err(f"The sign-in address needs a domain after the @, {example}.")
    if "@" in user:
        return err(f"The sign-in address has more than one @; it takes exactly one, {example}.")
    if any(ch.isspace() for ch in user):
        return err("The sign-in address contains a space before the @; SIP addresses have "
                   f"none, {example}.")
    bad = sorted({ch for ch in user if ch in _BAD_USER_CHARS})
    if bad:
        shown = " ".join(bad)
        hint = (" If you meant a Windows login such as DOMAIN\\user, put it in the Login field."
                if "\\" in bad else "")
        return err(f"The sign-in address contains characters a SIP address cannot have "
                   f"({shown}).{hint}")
    if any(ch.isspace() for ch in domain):
        return err(f"The domain after the @ contains a space, {example}.")
    ascii_domain = _domain_to_ascii(domain)
    if ascii_domain is None:
        return err(f"“{domain}” is not a valid domain name; check the part after the @, "
                   f"{example}.")
    if "." not in ascii_domain:
        return err(f"The domain “{domain}” needs a dot, {example}.")
    return SignInAddress(user=user, domain=ascii_domain, display_domain=domain.rstrip("."))


# --- login --------------------------------------------------------------------------------------


class LoginForm(enum.StrEnum):
    """The shapes of SIPE's Login field (reference §3.6, §4.2)."""

    SAME_AS_SIGNIN = "same-as-signin"  # empty Login
    DOMAIN_USER = "domain\\user"  # DOMAIN\user (also DOMAIN/user)
    USER_AT_REALM = "user@realm"  # UPN
    ENTERPRISE = "user\\@domain"  # enterprise principal, escaped @
    BARE_USER = "user"


@dataclass(frozen=True, slots=True)
class NtlmIdentity:
    """What SIPE puts in the NTLM AUTHENTICATE message's user and domain fields."""

    user: str
    domain: str


@dataclass(frozen=True, slots=True)
class KerberosPrincipal:
    """The Kerberos client principal SIPE would use.

    ``realm`` is empty when the default realm of the Kerberos configuration applies.
    ``enterprise`` marks an NT-ENTERPRISE name (``user@domain`` as the name part).
    """

    name: str
    realm: str
    enterprise: bool = False

    def __str__(self) -> str:
        name = self.name.replace("@", "\\@") if self.enterprise else self.name
        return f"{name}@{self.realm}" if self.realm else name


@dataclass(frozen=True, slots=True)
class ParsedLogin:
    """A Login as typed, with its form and the identities it maps to."""

    text: str
    form: LoginForm
    ntlm: NtlmIdentity
    kerberos: KerberosPrincipal


def _validate_login_part(part: str, what: str) -> str | None:
    if not part:
        return f"The Login is missing the {what}."
    if any(ch.isspace() for ch in part):
        return f"The Login's {what} contains a space."
    return None


def parse_login(text: str, signin: SignInAddress | None) -> ParsedLogin | FieldError:
    """Validate the Login field and map it to NTLM and Kerberos identities.

    Args:
        text: the Login as typed; empty means "same as the sign-in address".
        signin: the validated sign-in address (needed for an empty Login).
    """

    def err(msg: str) -> FieldError:
        return FieldError(Field.LOGIN, msg)

    forms = "DOMAIN\\user, user@company.com, or leave it empty"
    value = text.strip()
    if len(value) > _MAX_LOGIN:
        return err(f"The Login is too long ({len(value)} characters; at most {_MAX_LOGIN}).")
    if _has_control(value):
        return err(f"The Login contains {_describe_control(value)}; type it on one line.")
    if "," in value:
        return err("The Login cannot contain a comma: Pidgin stores the account as "
                   "“sign-in,login” and would split it there.")

    if not value:
        if signin is None:
            return err("The Login is empty, so it takes the sign-in address, which is not valid "
                       "yet.")
        return ParsedLogin(
            text="",
            form=LoginForm.SAME_AS_SIGNIN,
            ntlm=NtlmIdentity(user=signin.address, domain=""),
            kerberos=KerberosPrincipal(name=signin.user, realm=signin.domain.upper()),
        )

    if "\\@" in value:
        name, _, domain = value.partition("\\@")
        for part, what in ((name, "user name before \\@"), (domain, "domain after \\@")):
            problem = _validate_login_part(part, what)
            if problem:
                return err(f"{problem} An enterprise login looks like user\\@company.com.")
        if "@" in name or "\\" in name or "\\" in domain:
            return err(f"The Login mixes forms; use one of: {forms}.")
        if "@" in domain:
            # user\@upn.domain@REALM: an enterprise name with an explicit realm.
            domain, _, realm = domain.partition("@")
            if not realm or _domain_to_ascii(realm) is None:
                return err("The realm after the last @ is not a valid domain name.")
            realm_upper = realm.upper()
        else:
            realm_upper = ""
        upn = f"{name}@{domain}"
        return ParsedLogin(
            text=value,
            form=LoginForm.ENTERPRISE,
            ntlm=NtlmIdentity(user=upn, domain=""),
            kerberos=KerberosPrincipal(name=upn, realm=realm_upper, enterprise=True),
        )

    for sep in ("\\", "/"):
        if sep in value:
            domain, _, user = value.partition(sep)
            if "\\" in user or "/" in user:
                return err(f"The Login has more than one {sep}; use one of: {forms}.")
            problem = _validate_login_part(domain, "domain before the " + sep) or \
                _validate_login_part(user, "user name after the " + sep)
            if problem:
                return err(f"{problem} Write it like COMPANY\\first.last.")
            if "@" in user or "@" in domain:
                return err(f"The Login mixes DOMAIN\\user and user@domain; use one of: {forms}.")
            return ParsedLogin(
                text=value,
                form=LoginForm.DOMAIN_USER,
                ntlm=NtlmIdentity(user=user, domain=domain),
                kerberos=KerberosPrincipal(name=user, realm=domain.upper()),
            )

    if "@" in value:
        user, _, realm = value.rpartition("@")
        if "@" in user:
            return err(f"The Login has more than one @; use one of: {forms}.")
        problem = _validate_login_part(user, "user name before the @") or \
            _validate_login_part(realm, "domain after the @")
        if problem:
            return err(f"{problem} Write it like first.last@company.com.")
        if _domain_to_ascii(realm) is None:
            return err(f"“{realm}” after the @ in the Login is not a valid domain name.")
        return ParsedLogin(
            text=value,
            form=LoginForm.USER_AT_REALM,
            ntlm=NtlmIdentity(user=value, domain=""),
            kerberos=KerberosPrincipal(name=user, realm=realm.upper()),
        )

    if any(ch.isspace() for ch in value):
        return err(f"The Login contains a space; use one of: {forms}.")
    return ParsedLogin(
        text=value,
        form=LoginForm.BARE_USER,
        ntlm=NtlmIdentity(user=value, domain=""),
        kerberos=KerberosPrincipal(name=value, realm=""),
    )


# --- server -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A manually entered server: host (DNS name in ASCII, or IP literal) and optional port."""

    host: str
    port: int | None
    is_ip: bool = False

    def port_for(self, transport: Transport) -> int:
        """The port SIPE connects to: the given one, else 5061 (TLS) / 5060 (TCP)."""
        if self.port is not None:
            return self.port
        return DEFAULT_PORT[Transport.TLS if transport is Transport.AUTO else transport]

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 literal (which SIPE's ``host:port`` split cannot handle)."""
        return self.is_ip and ":" in self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return host if self.port is None else f"{host}:{self.port}"


def _parse_port(text: str) -> int | str:
    if not text.isdigit() or not text.isascii():
        return f"The port “{text}” is not a number; write the server like sip.company.com:443."
    port = int(text)
    if not 1 <= port <= 65535:
        return f"The port {port} is out of range (1–65535)."
    return port


def parse_server(text: str) -> ServerAddress | FieldError | None:
    """Validate Server[:Port]. Empty means automatic discovery (returns None).

    Accepts ``host``, ``host:port``, IPv4, ``[IPv6]``, ``[IPv6]:port`` and a bare IPv6 literal.
    """

    def err(msg: str) -> FieldError:
        return FieldError(Field.SERVER, msg)

    value = text.strip()
    if not value:
        return None
    if _has_control(value):
        return err(f"The server contains {_describe_control(value)}; type it on one line.")
    if any(ch.isspace() for ch in value):
        return err("The server contains a space; write it like sip.company.com or "
                   "sip.company.com:443.")
    if "://" in value:
        return err("Enter the server without http:// or sip:, like sip.company.com:443.")
    if value.lower().startswith("sip:"):
        value = value[4:]
    if "@" in value:
        return err("That looks like an address, not a server; enter a server name like "
                   "sip.company.com (or leave it empty to find it automatically).")

    port: int | None = None
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            return err("The IPv6 address is missing its closing ]; write it like "
                       "[2001:db8::1]:5061.")
        if rest:
            if not rest.startswith(":") or len(rest) == 1:
                return err("After the ] of an IPv6 address only :port may follow, like "
                           "[2001:db8::1]:5061.")
            parsed = _parse_port(rest[1:])
            if isinstance(parsed, str):
                return err(parsed)
            port = parsed
        try:
            addr6 = ipaddress.IPv6Address(host)
        except ValueError:
            return err(f"“{host}” inside [ ] is not an IPv6 address.")
        return ServerAddress(host=addr6.compressed, port=port, is_ip=True)

    if value.count(":") > 1:
        try:
            return ServerAddress(host=ipaddress.IPv6Address(value).compressed, port=None,
                                 is_ip=True)
        except ValueError:
            return err("An IPv6 address with a port must be written in brackets, like "
                       "[2001:db8::1]:5061.")

    host, sep, port_text = value.partition(":")
    if sep:
        if not port_text:
            return err("The server ends with “:” but no port; add the port (like :443) or "
                       "remove the colon.")
        parsed = _parse_port(port_text)
        if isinstance(parsed, str):
            return err(parsed)
        port = parsed
    if not host:
        return err("The server name is missing before the :port.")
    try:
        return ServerAddress(host=str(ipaddress.IPv4Address(host)), port=port, is_ip=True)
    except ValueError:
        pass
    if re.fullmatch(r"[0-9.]+", host):
        return err(f"“{host}” is not a valid IPv4 address.")
    ascii_host = _domain_to_ascii(host)
    if ascii_host is None:
        return err(f"“{host}” is not a valid server name; write it like sip.company.com.")
    return ServerAddress(host=ascii_host, port=port)


# --- user agent ---------------------------------------------------------------------------------


def validate_user_agent(text: str) -> str | FieldError:
    """A User Agent string: printable, one line, bounded. Empty = SIPE's built-in one."""
    value = text.strip()
    if len(value) > _MAX_USER_AGENT:
        return FieldError(Field.USER_AGENT, f"The User Agent is too long ({len(value)} "
                          f"characters; at most {_MAX_USER_AGENT}).")
    if _has_control(value):
        return FieldError(Field.USER_AGENT, f"The User Agent contains "
                          f"{_describe_control(value)}; it must be a single line.")
    if not value.isascii():
        return FieldError(Field.USER_AGENT, "The User Agent may only contain plain ASCII "
                          "characters, like UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 "
                          "(Skype for Business).")
    return value


# --- the whole account --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """One validated SIPE account (without its password).

    Build it with :func:`parse_account`.
    """

    signin: SignInAddress
    login: ParsedLogin
    server: ServerAddress | None = None
    transport: Transport = Transport.AUTO
    auth: AuthScheme = AuthScheme.AUTO
    sso: bool = False
    user_agent: str = ""
    warnings: tuple[FieldError, ...] = field(default=(), compare=False)

    @property
    def sip_domain(self) -> str:
        """The SIP domain (text after the @), lower-case ASCII."""
        return self.signin.domain

    @property
    def effective_transport(self) -> Transport:
        """SIPE's rule: ``auto`` with a manual server means TLS (reference §1.1)."""
        if self.transport is Transport.AUTO and self.server is not None:
            return Transport.TLS
        return self.transport

    @property
    def pidgin_account_name(self) -> str:
        """``signin,login`` exactly as Pidgin stores it (trailing comma when no login)."""
        return f"{self.signin.address},{self.login.text}"


def parse_account(
    signin: str,
    login: str = "",
    server: str = "",
    transport: str | Transport = Transport.AUTO,
    auth: str | AuthScheme = AuthScheme.AUTO,
    sso: bool = False,
    user_agent: str = "",
) -> AccountSettings:
    """Validate every field and build the settings.

    Raises:
        AccountValidationError: with one :class:`FieldError` per bad field.
    """
    errors: list[FieldError] = []
    warnings: list[FieldError] = []

    signin_result = parse_signin(signin)
    signin_value = signin_result if isinstance(signin_result, SignInAddress) else None
    if isinstance(signin_result, FieldError):
        errors.append(signin_result)

    login_result = parse_login(login, signin_value)
    # An empty Login only fails because the sign-in address did; don't say it twice.
    if isinstance(login_result, FieldError) and (login.strip() or signin_value is not None):
        errors.append(login_result)

    server_result = parse_server(server)
    if isinstance(server_result, FieldError):
        errors.append(server_result)
    elif isinstance(server_result, ServerAddress) and server_result.is_ipv6:
        warnings.append(FieldError(Field.SERVER, "SIPE cannot use an IPv6 address in the "
                                   "Server field (it splits at the first colon); use a host "
                                   "name for Pidgin."))

    try:
        transport_value = Transport(str(transport).strip().lower())
    except ValueError:
        errors.append(FieldError(Field.TRANSPORT, f"Unknown connection type “{transport}”; "
                                 "choose auto, tls or tcp."))
        transport_value = Transport.AUTO
    if transport_value is Transport.TCP:
        warnings.append(FieldError(Field.TRANSPORT, "TCP is unencrypted: your messages travel "
                                   "in clear text. Use it only if your IT department says so."))

    try:
        auth_value = auth if isinstance(auth, AuthScheme) else AuthScheme.from_text(auth)
    except ValueError:
        errors.append(FieldError(Field.AUTH, f"Unknown authentication scheme “{auth}”; choose "
                                 "auto, ntlm, kerberos or tls-dsk."))
        auth_value = AuthScheme.AUTO
    if sso and auth_value is AuthScheme.NTLM:
        warnings.append(FieldError(Field.SSO, "Single Sign-On with NTLM uses the Windows logon "
                                   "only on Windows; on Linux choose Kerberos or Auto."))

    ua_result = validate_user_agent(user_agent)
    if isinstance(ua_result, FieldError):
        errors.append(ua_result)

    if errors:
        raise AccountValidationError(errors)
    assert signin_value is not None
    assert isinstance(login_result, ParsedLogin)
    assert isinstance(ua_result, str)
    assert not isinstance(server_result, FieldError)
    return AccountSettings(
        signin=signin_value,
        login=login_result,
        server=server_result,
        transport=transport_value,
        auth=auth_value,
        sso=sso,
        user_agent=ua_result,
        warnings=tuple(warnings),
    )
