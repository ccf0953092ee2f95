"""The table of supported formats (ml/formats.py): what a stored copy is named and served as."""

from __future__ import annotations

import unittest

from ml.audio import AudioInfo
from ml.formats import EXTENSIONS, FORMATS, SUFFIXES, AudioFormat, format_for_name, stored_format


class FormatTableTests(unittest.TestCase):
    def test_it_lists_each_extension_once_with_a_family(self) -> None:
        self.assertEqual(len(EXTENSIONS), len(set(EXTENSIONS)))
        self.assertEqual({row.family for row in FORMATS}, set(AudioFormat))
        self.assertEqual(SUFFIXES, {f".{extension}" for extension in EXTENSIONS})

    def test_it_finds_a_row_by_name_in_any_case(self) -> None:
        self.assertEqual(format_for_name("Take 1.M4A").family, AudioFormat.MP4)
        self.assertIsNone(format_for_name("notes.txt"))
        self.assertIsNone(format_for_name("no-extension"))

    def test_it_stores_a_file_under_the_users_extension_when_it_fits_the_sniffed_family(
        self,
    ) -> None:
        cases = [
            (AudioFormat.MP4, False, "memo.mov", ("mov", "audio/mp4")),
            (AudioFormat.MP4, True, "clip.mov", ("mov", "video/mp4")),
            (AudioFormat.MP4, False, "clip.mp4", ("mp4", "audio/mp4")),
            (AudioFormat.MATROSKA, False, "talk.mkv", ("mkv", "audio/x-matroska")),
            (AudioFormat.MATROSKA, True, "talk.mkv", ("mkv", "video/x-matroska")),
            (AudioFormat.WAV, False, "take.WAV", ("wav", "audio/wav")),
        ]
        for family, has_video, name, expected in cases:
            with self.subTest(name=name, has_video=has_video):
                stored = stored_format(family, has_video=has_video, name=name)
                self.assertEqual((stored.extension, stored.content_type), expected)

    def test_it_falls_back_to_the_familys_default_when_the_name_does_not_fit(self) -> None:
        cases = [
            (AudioFormat.MP4, False, "voice memo", ("m4a", "audio/mp4")),
            (AudioFormat.MP4, True, "clip.webm", ("mp4", "video/mp4")),
            (AudioFormat.MATROSKA, False, "x.wav", ("webm", "audio/webm")),
            (AudioFormat.WAV, False, "speech.mp3", ("wav", "audio/wav")),
            # Picker-only extensions are stored under the family's first one.
            (AudioFormat.OGG, False, "speech.opus", ("ogg", "audio/ogg")),
            ("aiff", False, "x.aiff", ("bin", "application/octet-stream")),
        ]
        for family, has_video, name, expected in cases:
            with self.subTest(name=name):
                stored = stored_format(family, has_video=has_video, name=name)
                self.assertEqual((stored.extension, stored.content_type), expected)

    def test_it_gives_the_probe_the_same_content_type_as_a_nameless_stored_copy(self) -> None:
        for family in AudioFormat:
            for has_video in (False, True):
                info = AudioInfo(family, 4.0, 16000, 1, has_video=has_video)
                with self.subTest(family=family, has_video=has_video):
                    self.assertEqual(
                        info.content_type,
                        stored_format(family, has_video=has_video).content_type,
                    )
        self.assertEqual(AudioInfo(AudioFormat.MATROSKA, 4.0, 48000, 1).content_type, "audio/webm")
