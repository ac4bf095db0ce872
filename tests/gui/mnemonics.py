"""The Alt+letter shortcuts (mnemonics) a page offers, to check that none means two things."""

from __future__ import annotations

from collections import defaultdict

from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QWidget, QWizard

__all__ = ["mnemonic", "mnemonics_of_page"]


def mnemonic(text: str) -> str:
    """The mnemonic letter of a text ("&Next >" → "n"; "" when there is none; "&&" is a
    literal ampersand)."""
    index = 0
    while True:
        index = text.find("&", index)
        if index < 0 or index + 1 >= len(text):
            return ""
        if text[index + 1] == "&":
            index += 2
            continue
        return text[index + 1].lower()


def _text(widget: QWidget) -> str:
    if isinstance(widget, QAbstractButton):
        return widget.text()
    if isinstance(widget, QGroupBox):
        return widget.title()
    if isinstance(widget, QLabel) and widget.buddy() is not None:
        return widget.text()
    return ""


def mnemonics_of_page(wizard: QWizard, page: QWidget) -> dict[str, list[str]]:
    """Letter → the texts using it: every widget of ``page`` that can carry one (visible or
    not: the page shows some only in some states) and the wizard's buttons shown with it."""
    found: dict[str, list[str]] = defaultdict(list)
    widgets = [w for w in page.findChildren(QWidget) if w.window() is wizard]
    for which in (QWizard.WizardButton.BackButton, QWizard.WizardButton.NextButton,
                  QWizard.WizardButton.CommitButton, QWizard.WizardButton.FinishButton,
                  QWizard.WizardButton.CancelButton):
        button = wizard.button(which)
        if button is not None and not button.isHidden():
            widgets.append(button)
    for widget in widgets:
        text = _text(widget)
        letter = mnemonic(text)
        if letter:
            found[letter].append(text)
    return dict(found)


def clashes(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """The letters used more than once."""
    return {letter: texts for letter, texts in found.items() if len(texts) > 1}
