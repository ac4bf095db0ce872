"""What the wizard's pages share: the field values, the password, the last check and trust.

A plain object (no Qt): pages read and write it, the wizard owns it. The password lives only
here, in memory, as a :class:`~sipe_setup.core.account.Secret`; it is never persisted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sipe_setup.core.account import (
    AccountSettings,
    AccountValidationError,
    Field,
    FieldError,
    Secret,
    parse_account,
)
from sipe_setup.core.steps import AcceptedCertificate, CheckResult

if TYPE_CHECKING:  # the discovery package is heavy; the first page does not need it
    from sipe_setup.core.discovery import Nameserver

__all__ = ["FIELD_KEYS", "CheckEnvironment", "Validation", "WizardState"]

#: The keys of :attr:`WizardState.values` (and of ``prefill``), as ``core.account.Field`` names
#: them; the password is not among them on purpose.
FIELD_KEYS: tuple[str, ...] = (Field.SIGNIN.value, Field.LOGIN.value, Field.SERVER.value,
                               Field.TRANSPORT.value, Field.AUTH.value, Field.SSO.value,
                               Field.USER_AGENT.value)

_DEFAULTS: dict[str, str | bool] = {
    Field.SIGNIN.value: "",
    Field.LOGIN.value: "",
    Field.SERVER.value: "",
    Field.TRANSPORT.value: "auto",
    Field.AUTH.value: "auto",
    Field.SSO.value: False,
    Field.USER_AGENT.value: "",
}


@dataclass(frozen=True, slots=True)
class CheckEnvironment:
    """How checks run in this session (from the command line; tests shorten the timeouts)."""

    nameservers: tuple[Nameserver, ...] = ()
    ca_file: str | None = None
    deadline: float = 90.0
    connect_timeout: float = 10.0
    response_timeout: float = 15.0
    discovery_deadline: float = 15.0


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of validating the current values."""

    account: AccountSettings | None
    errors: tuple[FieldError, ...]
    warnings: tuple[FieldError, ...]

    def errors_for(self, fld: Field) -> list[FieldError]:
        """The errors of one field."""
        return [e for e in self.errors if e.field is fld]

    def warnings_for(self, fld: Field) -> list[FieldError]:
        """The (non-blocking) notes on one field."""
        return [w for w in self.warnings if w.field is fld]


@dataclass(slots=True)
class WizardState:
    """The values of the Account and Connection pages plus what the check produced."""

    values: dict[str, str | bool] = field(default_factory=lambda: dict(_DEFAULTS))
    password: Secret = field(default_factory=lambda: Secret(""))
    environment: CheckEnvironment = field(default_factory=CheckEnvironment)
    last_result: CheckResult | None = None
    last_account: AccountSettings | None = None
    #: The certificate the user accepted in the trust dialog (host, fingerprint, PEM), from the
    #: core's result; kept across Retry so the same certificate is not asked about again.
    accepted_certificate: AcceptedCertificate | None = None
    #: Certificates trusted without asking: from IT's settings file or a saved profile.
    preset_trusted: frozenset[str] = frozenset()
    #: IT's Login pattern (``COMPANY\\{user}``): the Login follows the sign-in address.
    login_pattern: str = ""
    #: The saved profile the wizard was opened with (the Save page offers its name).
    profile_name: str = ""
    #: The user agreed, for the next check only, that other Login forms may be tried after
    #: a wrong-password answer (each try counts as a failed sign-in on the server).
    try_other_logins: bool = False

    def text(self, fld: Field) -> str:
        """A text field's value."""
        return str(self.values.get(fld.value, ""))

    @property
    def sso(self) -> bool:
        """Single Sign-On ticked."""
        return bool(self.values.get(Field.SSO.value, False))

    def set(self, key: str, value: str | bool) -> None:
        """Set one field value.

        Raises:
            KeyError: for a key that is not a form field (the password is set separately).
        """
        if key not in FIELD_KEYS:
            raise KeyError(f"unknown field {key!r}; expected one of {', '.join(FIELD_KEYS)}")
        if key == Field.SSO.value:
            self.values[key] = value if isinstance(value, bool) else str(value).strip().lower() in (
                "1", "true", "yes", "on")
        else:
            self.values[key] = str(value)

    def validate(self) -> Validation:
        """Validate every field with the core's rules."""
        try:
            account = parse_account(
                self.text(Field.SIGNIN), login=self.text(Field.LOGIN),
                server=self.text(Field.SERVER), transport=self.text(Field.TRANSPORT),
                auth=self.text(Field.AUTH), sso=self.sso,
                user_agent=self.text(Field.USER_AGENT))
        except AccountValidationError as exc:
            return Validation(None, exc.errors, ())
        return Validation(account, (), account.warnings)

    def trusted_fingerprints(self) -> frozenset[str]:
        """Accepted in this session (a Retry does not ask again) or preset as trusted."""
        cert = self.accepted_certificate
        accepted = frozenset({cert.sha256}) if cert else frozenset()
        return accepted | self.preset_trusted

    def login_from_pattern(self) -> str:
        """IT's Login pattern filled with the current sign-in address ("" without a pattern)."""
        signin = self.text(Field.SIGNIN).strip()
        if not self.login_pattern or "@" not in signin:
            return ""
        user = signin.split("@", 1)[0]
        return self.login_pattern.replace("{user}", user).replace("{signin}", signin)
