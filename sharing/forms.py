from __future__ import annotations

from django import forms

from sharing.services import DEFAULT_EXPIRY_DAYS, EXPIRY_DAYS


class ShareLinkForm(forms.Form):
    days = forms.TypedChoiceField(
        label="Works for",
        choices=[(days, f"{days} day{'s' if days > 1 else ''}") for days in EXPIRY_DAYS],
        coerce=int,
        # Left out (a script, an old page): a week.
        required=False,
        empty_value=DEFAULT_EXPIRY_DAYS,
        initial=DEFAULT_EXPIRY_DAYS,
        error_messages={"invalid_choice": "Choose how long the link works: 1, 7 or 30 days."},
    )
