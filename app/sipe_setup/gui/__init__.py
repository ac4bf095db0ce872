"""The desktop wizard (PySide6) over :mod:`sipe_setup.core`.

Only this package imports Qt. It holds no protocol logic: every value shown comes from the core
(validation, check steps, advice, reports); the GUI lays it out, runs the check off the GUI
thread and asks the user the trust questions the core raises.
"""
