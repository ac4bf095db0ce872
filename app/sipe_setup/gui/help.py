"""What each field means, with examples (shown by the "?" buttons and as tooltips).

Facts from SIPE's account settings (reference §1.1, §4) and the advice catalog. Every text goes
through ``QCoreApplication.translate`` so the wizard can be translated.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from sipe_setup.core.account import Field

__all__ = ["field_help", "field_label"]


def _tr(text: str) -> str:
    return QCoreApplication.translate("FieldHelp", text)


def field_label(fld: Field) -> str:
    """The label shown next to a field (Pidgin's own words where it has them)."""
    labels = {
        Field.SIGNIN: _tr("Sign-in &address:"),
        Field.LOGIN: _tr("&Login:"),
        Field.PASSWORD: _tr("&Password:"),
        Field.SSO: _tr("Use &Single Sign-On"),
        Field.SERVER: _tr("&Server[:Port]:"),
        Field.TRANSPORT: _tr("&Connection type:"),
        Field.AUTH: _tr("Authentication sc&heme:"),
        Field.USER_AGENT: _tr("&User Agent:"),
    }
    return labels[fld]


def field_help(fld: Field) -> str:
    """Rich text: what the field means, with examples."""
    texts = {
        Field.SIGNIN: _tr(
            "<b>Sign-in address</b> (Pidgin calls it <i>Username</i>): your Lync / Skype for "
            "Business address, usually the same as your e-mail address.<br>"
            "Example: <tt>first.last@company.com</tt>.<br>"
            "The part after the @ is your SIP domain; it is used to find the server."),
        Field.LOGIN: _tr(
            "<b>Login</b>: the Windows account that proves who you are, if it differs from the "
            "sign-in address. Leave it empty to use the sign-in address.<br>"
            "Accepted forms: <tt>DOMAIN\\user</tt> (e.g. <tt>COMPANY\\first.last</tt>), "
            "<tt>user@company.com</tt>, or an enterprise name <tt>user\\@company.com</tt>.<br>"
            "If the password is right but sign-in fails, the check tells you which form works."),
        Field.PASSWORD: _tr(
            "<b>Password</b>: your Windows / network password. It is only sent to your "
            "company's server (as NTLM or Kerberos proof, never in clear text), it is never "
            "written to reports, logs or settings, and it is not remembered by this window."),
        Field.SSO: _tr(
            "<b>Single Sign-On</b>: sign in with the credentials you already have instead of "
            "a Login and Password — on Linux the Kerberos ticket you got with <tt>kinit</tt> "
            "(check with <tt>klist</tt>), on Windows your Windows logon.<br>"
            "Works only where your company uses Kerberos; with NTLM you need a password."),
        Field.SERVER: _tr(
            "<b>Server[:Port]</b>: leave it <b>empty</b> — the server is then found "
            "automatically, exactly as Pidgin does (Lync autodiscover, then DNS SRV records, "
            "then the usual names like <tt>sipinternal.company.com</tt>). That is right for "
            "almost every company and keeps working when IT moves the server.<br>"
            "Fill it in only if IT gave you a server, e.g. <tt>sip.company.com</tt> or "
            "<tt>sip.company.com:443</tt>. Without a port, 5061 (TLS) or 5060 (TCP) is used."),
        Field.TRANSPORT: _tr(
            "<b>Connection type</b>: <b>Auto</b> tries what your company publishes (TLS, or "
            "TCP if that is all there is); <b>SSL/TLS</b> is encrypted and what Lync servers "
            "use; <b>TCP</b> is <b>unencrypted</b> — everything you send travels in clear "
            "text. Choose TCP only if IT says so."),
        Field.AUTH: _tr(
            "<b>Authentication scheme</b>: how you prove who you are. <b>Auto</b> uses the "
            "best the server offers (like Pidgin: TLS-DSK, then Kerberos, then NTLM). "
            "<b>NTLM</b> works with Login + Password everywhere; <b>Kerberos</b> needs a "
            "Kerberos realm (and is what Single Sign-On uses); <b>TLS-DSK</b> is the "
            "certificate login of Lync 2010 and later: Pidgin first fetches a sign-in "
            "certificate from the company's Lync web services with your Login and password. "
            "Under Auto, Pidgin does not fall back when that fails; the check tells you, and "
            "the profile then pins the scheme that works."),
        Field.USER_AGENT: _tr(
            "<b>User Agent</b>: how the client introduces itself. Leave it empty for Pidgin's "
            "own. Some companies only admit Microsoft clients (a <i>client version "
            "filter</i>; the server then refuses with error 17002). Pick a Microsoft client "
            "from the list, e.g. <tt>UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for "
            "Business)</tt>, only if the check or IT says so."),
    }
    return texts[fld]
