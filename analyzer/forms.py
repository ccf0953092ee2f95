from __future__ import annotations

from django import forms

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


class HistoryFilterForm(forms.Form):
    emotion = forms.ChoiceField(
        label="Emotion",
        choices=[("", "All emotions"), *EmotionChoice.choices],
        required=False,
    )
