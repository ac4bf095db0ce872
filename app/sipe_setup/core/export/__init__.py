"""Export targets: what a profile becomes in a client. Today: :mod:`.pidgin` (accounts.xml,
prefs.xml, tls_peers, running clients, the keyring plugin)."""
