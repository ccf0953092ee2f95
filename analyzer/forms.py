from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.template.defaultfilters import filesizeformat

from analyzer.models import EmotionChoice
from ml.formats import FORMATS

# What the file picker offers; the content is sniffed on the server whatever the name says.
ACCEPT = ",".join(("audio/*", "video/*", *(row.suffix for row in FORMATS)))


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Recording",
        # Empty files are refused by the service, with the same message everywhere.
        allow_empty_file=True,
        max_length=255,
        widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
        error_messages={"required": "Choose a recording to upload."},
    )

    def __init__(self, *args: Any, cut_off: bool = False, **kwargs: Any) -> None:
        """``cut_off``: the file was dropped while uploading for passing the size limit."""
        super().__init__(*args, **kwargs)
        self.cut_off = cut_off
        if cut_off:
            self.fields["file"].required = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.cut_off:
            limit = filesizeformat(settings.SPEECHEMOTION_MAX_UPLOAD_BYTES)
            self.add_error("file", f"The file is too large; the limit is {limit}.")
        return cleaned


SORT_CHOICES = [
    ("-date", "Newest first"),
    ("date", "Oldest first"),
    ("emotion", "Emotion A–Z"),
    ("-emotion", "Emotion Z–A"),
    ("-duration", "Longest first"),
    ("duration", "Shortest first"),
    ("-confidence", "Most confident first"),
    ("confidence", "Least confident first"),
]
DEFAULT_SORT = "-date"
# The history's state in its query string, in this order; "page" goes last.
_STATE_FIELDS = ("emotion", "q", "sort")


class HistoryFilterForm(forms.Form):
    """The history's filter, search and order (a GET form; a bad value is dropped alone)."""

    emotion = forms.ChoiceField(
        label="Emotion",
        choices=[("", "All emotions"), *EmotionChoice.choices],
        required=False,
    )
    q = forms.CharField(label="File name", max_length=255, required=False)
    sort = forms.ChoiceField(label="Sort by", choices=SORT_CHOICES, required=False)

    def _valid(self) -> dict[str, Any]:
        if not self.is_bound:
            return {}
        self.is_valid()
        return self.cleaned_data

    def filters(self) -> dict[str, str | None]:
        """The valid values as ``selectors.analysis_list`` takes them."""
        valid = self._valid()
        return {
            "emotion": valid.get("emotion") or None,
            "search": valid.get("q") or None,
            "order": valid.get("sort") or None,
        }

    def state(self) -> dict[str, str]:
        """The valid values that differ from the defaults, for links and hidden fields."""
        valid = self._valid()
        values = {name: valid.get(name) or "" for name in _STATE_FIELDS}
        if values["sort"] == DEFAULT_SORT:
            values["sort"] = ""
        return {name: value for name, value in values.items() if value}

    def query(self, *, page: int | None = None) -> str:
        """The state as a query string (without "?"), with ``page`` when it is not the first."""
        query = QueryDict(mutable=True)
        query.update(self.state())
        if page is not None and page > 1:
            query["page"] = str(page)
        return query.urlencode()


class _UUIDListField(forms.Field):
    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[uuid.UUID]:
        values = value if isinstance(value, list | tuple) else [value] if value else []
        try:
            return list(dict.fromkeys(uuid.UUID(str(item)) for item in values))
        except ValueError:
            raise ValidationError("Unknown analyses were chosen.", code="invalid") from None


class HistorySelectionForm(forms.Form):
    """The analyses ticked in the history, to delete them together."""

    ids = _UUIDListField(error_messages={"required": "Choose the analyses to delete first."})
