from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from analyzer.models import EmotionChoice

# What the file picker offers; the content is sniffed on the server whatever the name says.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".webm")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm")
ACCEPT = ",".join(("audio/*", "video/*", *dict.fromkeys(AUDIO_EXTENSIONS + VIDEO_EXTENSIONS)))


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


class HistoryFilterForm(forms.Form):
    emotion = forms.ChoiceField(
        label="Emotion",
        choices=[("", "All emotions"), *EmotionChoice.choices],
        required=False,
    )
