"""The MS-SIPAE schemes as :class:`~sipe_setup.core.auth.mechanism.AuthMechanism` s."""
