"""MS-SIPAE authentication: connectionless NTLM, signature strings, challenge handling.

Modules: :mod:`.ntlm` (NTLM primitives and client), :mod:`.signature` (signature input string,
Authentication-Info), :mod:`.challenge` (WWW-Authenticate in, Authorization out),
:mod:`.authenticator` (the per-scheme state machines), :mod:`.errors`.
"""
