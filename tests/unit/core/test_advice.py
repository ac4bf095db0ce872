"""The advice catalog: stable unique codes, complete texts, lenient rendering."""

from __future__ import annotations

import re

from sipe_setup.core.account import Field
from sipe_setup.core.advice import CATALOG, NO_REASON, SUGGESTED_USER_AGENTS, advice


def test_codes_are_unique_and_well_formed() -> None:
    codes = [entry.code for entry in CATALOG.values()]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert re.fullmatch(r"SS-[A-Z0-9]+-[A-Z0-9{}a-z_]+|SS-[A-Z]+", code), code


def test_every_entry_says_what_to_change() -> None:
    for entry in CATALOG.values():
        assert entry.title and entry.explanation and entry.fix, entry.id
        assert entry.fix.rstrip().endswith((".", ")")), entry.id


def test_render_fills_values_and_tolerates_missing_ones() -> None:
    rendered = advice("connect-refused", host="sip.example.test", port=5061, transport="TLS")
    assert rendered.title == "sip.example.test:5061 refused the connection"
    assert "{" not in rendered.explanation
    partial = advice("connect-refused")
    assert partial.title == "?:? refused the connection"


def test_status_code_goes_into_the_phone_code() -> None:
    assert advice("unexpected-status", status=486).code == "SS-SIP-486"


def test_client_version_advice_suggests_real_user_agents() -> None:
    rendered = advice("client-version", user_agent="Purple/2.14", server_reason="x")
    assert rendered.field is Field.USER_AGENT
    assert SUGGESTED_USER_AGENTS[0] in rendered.fix


def test_jump_back_fields() -> None:
    assert advice("auth-login-form", login="a", working_login="B\\a").field is Field.LOGIN
    assert advice("not-found").field is Field.SIGNIN
    assert advice("auth-incompatible").field is Field.AUTH
    assert advice("tcp-refused").field is Field.TRANSPORT


def test_the_servers_reason_is_kept_verbatim_beside_ours() -> None:
    said = advice("forbidden", server_reason=' Remote access "denied" ')
    assert said.server_reason == 'Remote access "denied"'
    assert 'Remote access "denied"' in said.explanation
    assert said.to_json()["server_reason"] == 'Remote access "denied"'
    silent = advice("forbidden", server_reason="")
    assert silent.server_reason == "" and NO_REASON in silent.explanation
    assert advice("forbidden").server_reason == "" and "?" not in advice("forbidden").explanation
    assert advice("connect-refused", host="h").server_reason == ""


def test_new_entries_jump_to_the_field_that_fixes_them() -> None:
    assert advice("client-version-advised").field is Field.USER_AGENT
    assert advice("kerberos-wrong-password").field is Field.PASSWORD
    assert advice("kerberos-principal-unknown").field is Field.LOGIN
    assert advice("kerberos-service-unknown").field is Field.SERVER
    assert advice("proxy-digest").field is Field.SERVER
    assert SUGGESTED_USER_AGENTS[0] in advice("client-version-advised").fix
