"""The supported file formats: one table for the upload form, the ``analyze`` command,
storage and decoding.

A file's container is sniffed from its bytes (``ml.audio.sniff_format``), never trusted
from its name; the name only picks, within the sniffed family, the more precise
extension a stored copy keeps (``.m4a`` or ``.mov`` rather than ``.mp4``, ``.mkv``
rather than ``.webm``) and so the content type it is served with. Plain Python: the web
service and the CLI both read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath


class AudioFormat(StrEnum):
    """A family of containers, as told from the first bytes of a file."""

    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"
    MP3 = "mp3"
    MP4 = "mp4"  # also MOV and M4A (ISO base media)
    MATROSKA = "matroska"  # also WebM

    @property
    def via_ffmpeg(self) -> bool:
        return self in (AudioFormat.MP4, AudioFormat.MATROSKA)


@dataclass(frozen=True)
class FileFormat:
    """One file name extension (without the dot) of a family.

    ``audio_type`` and ``video_type`` are the content types a stored file of this
    extension is served with, with sound only or with a picture too (None: never has
    one). ``stored``: a stored recording may keep this extension; when False the
    family's first one is used (``.opus`` and ``.oga`` files are stored as ``.ogg``).
    """

    extension: str
    family: AudioFormat
    audio_type: str
    video_type: str | None = None
    stored: bool = True

    @property
    def suffix(self) -> str:
        return f".{self.extension}"

    def content_type(self, *, has_video: bool) -> str:
        return self.video_type if has_video and self.video_type else self.audio_type


# In the order the file picker lists them; within a family the first is its default.
FORMATS: tuple[FileFormat, ...] = (
    FileFormat("wav", AudioFormat.WAV, "audio/wav"),
    FileFormat("flac", AudioFormat.FLAC, "audio/flac"),
    FileFormat("ogg", AudioFormat.OGG, "audio/ogg", "video/ogg"),
    FileFormat("oga", AudioFormat.OGG, "audio/ogg", stored=False),
    FileFormat("opus", AudioFormat.OGG, "audio/ogg", stored=False),
    FileFormat("mp3", AudioFormat.MP3, "audio/mpeg"),
    FileFormat("m4a", AudioFormat.MP4, "audio/mp4", "video/mp4"),
    FileFormat("webm", AudioFormat.MATROSKA, "audio/webm", "video/webm"),
    FileFormat("mp4", AudioFormat.MP4, "audio/mp4", "video/mp4"),
    # Browsers play QuickTime files with H.264/AAC when they are announced as MP4.
    FileFormat("mov", AudioFormat.MP4, "audio/mp4", "video/mp4"),
    FileFormat("mkv", AudioFormat.MATROSKA, "audio/x-matroska", "video/x-matroska"),
)

EXTENSIONS: tuple[str, ...] = tuple(row.extension for row in FORMATS)
SUFFIXES: frozenset[str] = frozenset(row.suffix for row in FORMATS)
_BY_EXTENSION = {row.extension: row for row in FORMATS}
_FIRST = {family: next(row for row in FORMATS if row.family is family) for family in AudioFormat}

UNKNOWN_EXTENSION = "bin"
UNKNOWN_CONTENT_TYPE = "application/octet-stream"


def format_for_name(name: str) -> FileFormat | None:
    """The row of ``name``'s extension (any case), or None when it is not supported."""
    return _BY_EXTENSION.get(PurePath(name).suffix.lstrip(".").lower())


@dataclass(frozen=True)
class StoredFormat:
    """The extension a stored copy gets and the content type it is served with."""

    extension: str
    content_type: str


def stored_format(family: AudioFormat | str, *, has_video: bool, name: str = "") -> StoredFormat:
    """What a file of the sniffed ``family`` is stored and served as.

    The user's extension (from ``name``) wins when it belongs to the family; otherwise an
    MP4 without a picture is an ``.m4a``, and any other family takes its first extension.
    An unknown family is stored as opaque bytes.
    """
    try:
        family = AudioFormat(family)
    except ValueError:
        return StoredFormat(UNKNOWN_EXTENSION, UNKNOWN_CONTENT_TYPE)
    row = format_for_name(name)
    if row is None or row.family is not family or not row.stored:
        if family is AudioFormat.MP4:
            row = _BY_EXTENSION["mp4" if has_video else "m4a"]
        else:
            row = _FIRST[family]
    return StoredFormat(row.extension, row.content_type(has_video=has_video))
