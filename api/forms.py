from __future__ import annotations

from django import forms


class ApiKeyNameForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        required=False,
        help_text="What the key is for, e.g. “laptop script”.",
    )
