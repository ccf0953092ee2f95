"""Every error the ml package raises on purpose derives from :class:`MLError`.

Callers (the web service, the CLI) catch these and turn them into messages; anything
else escaping the package is a bug.
"""

from __future__ import annotations


class MLError(Exception):
    """Root of the ml package's errors; ``str(err)`` is a message fit for a user."""


class AudioDecodeError(MLError):
    """The input could not be decoded as audio (corrupt, truncated, not audio)."""


class UnsupportedFormatError(AudioDecodeError):
    """The content is not one of the supported audio or video formats."""


class NoAudioTrackError(AudioDecodeError):
    """A video container holds no sound track."""


class DecodeTimeoutError(AudioDecodeError):
    """Decoding took longer than the wall-clock limit."""


class DecoderUnavailableError(AudioDecodeError):
    """The decoder (ffmpeg) could not be started: missing, not executable, no process."""


class AudioTooShortError(MLError):
    """Too little audio to say anything about it."""


class AudioTooLongError(MLError):
    """The recording is longer than the configured duration limit."""


class NoSpeechError(MLError):
    """The recording holds silence, noise, music or a tone but no speech."""


class ModelLoadError(MLError):
    """A saved model is missing files, inconsistent or of an unknown version."""
