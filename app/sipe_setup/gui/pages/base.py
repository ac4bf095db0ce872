"""What the Account and Connection pages have in common: fields validated as you type."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtWidgets import QWidget, QWizardPage

from sipe_setup.core.account import Field

from ..state import Validation, WizardState
from ..widgets import FieldMessage, MessageKind

__all__ = ["FieldPage"]


class FieldPage(QWizardPage):
    """A page of form fields.

    Subclasses fill :attr:`inputs` (the widget to focus for a field) and :attr:`messages`
    (where that field's error or note is shown) and call :meth:`refresh` after every edit.
    Errors appear once a field was edited (or holds a value), so an empty form is not red;
    Next stays disabled while any field of the page is invalid.
    """

    fields: tuple[Field, ...] = ()

    def __init__(self, state: WizardState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.inputs: dict[Field, QWidget] = {}
        self.messages: dict[Field, FieldMessage] = {}
        self.touched: set[Field] = set()
        self._complete = False

    def load_from_state(self) -> None:
        """Show the state's values in the widgets (after a prefill or restore)."""

    def extra_errors(self) -> dict[Field, str]:
        """Errors the page adds to the core's (e.g. a missing password)."""
        return {}

    def notes(self, validation: Validation) -> dict[Field, list[str]]:
        """Non-blocking notes per field; by default the core's warnings on this page's fields."""
        return {f: [w.message for w in validation.warnings_for(f)] for f in self.fields}

    def touch(self, *fields: Field) -> None:
        """Mark fields as edited and re-validate."""
        self.touched.update(fields)
        self.refresh()

    def refresh(self) -> None:
        """Validate all values and show this page's errors and notes next to their fields."""
        validation = self.state.validate()
        extra = self.extra_errors()
        complete = True
        for fld in self.fields:
            errors = [e.message for e in validation.errors_for(fld)]
            if fld in extra:
                errors.append(extra[fld])
            if errors:
                complete = False
            message = self.messages.get(fld)
            if message is None:
                continue
            widget = self.inputs.get(fld)
            shown = errors and (fld in self.touched or self._has_value(fld))
            if shown:
                message.show_message(MessageKind.ERROR, " ".join(errors))
            elif notes := self.notes(validation).get(fld):
                message.show_message(MessageKind.WARNING, " ".join(notes))
            else:
                message.clear()
            if widget is not None:
                widget.setAccessibleDescription(message.message())
        if complete != self._complete:
            self._complete = complete
        self.completeChanged.emit()

    def _has_value(self, fld: Field) -> bool:
        value = self.state.values.get(fld.value)
        return isinstance(value, str) and bool(value.strip())

    def isComplete(self) -> bool:
        """Next is enabled only when every field of this page is valid."""
        return self._complete

    def field_widget(self, fld: Field) -> QWidget | None:
        """The widget to focus for ``fld`` (None if the field is not on this page)."""
        return self.inputs.get(fld)

    def owned_fields(self) -> Iterable[Field]:
        """The fields on this page."""
        return self.fields
