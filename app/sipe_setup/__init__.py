"""sipe-setup: set up and check a Lync / Skype for Business account for Pidgin + SIPE."""

__version__ = "0.1.0"
APP_ID = "io.github.sipe_setup.SipeSetup"
