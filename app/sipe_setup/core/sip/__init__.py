"""SIP for a SIPE-compatible sign-in: the message codec and SIPE's REGISTER (sans-I/O)."""
