"""The upload view against hostile input: a seeded few hundred mangled files.

Real recordings (WAV, MP3, MP4) cut short, with flipped bytes, with junk after a valid
header, WAV headers that lie about their format, known signatures followed by noise,
random bytes and empty files, each under a random name and content type. Every one must
be either accepted (a row, its file and its job), recognised as a file this browser
already uploaded (the earlier analysis of the same bytes, nothing new stored), or refused
with a message on the form (400, and nothing left behind: no row, no file, no temporary
copy). Never a 500.

The decoder alone gets thousands of such inputs in ml/tests/test_fuzz_decoder.py and
bench/fuzz_decoder.py; this checks what the user sees and what the service keeps.
"""

from __future__ import annotations

import hashlib
import html
import re
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.test import TestCase, override_settings
from django.urls import reverse

from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    ffmpeg_encode,
    queued_jobs,
    speech_wav,
    upload,
)

FUZZ_SEED = 5_2026
FUZZ_COUNT = 240

NAMES = ("take", "voice memo", "clip", "x", "recording-2026-01-01", "ünïcødé")
EXTENSIONS = (".wav", ".mp3", ".mp4", ".m4a", ".webm", ".ogg", ".WAV", ".txt", ".exe", "")
CONTENT_TYPES = (
    "audio/wav",
    "audio/mpeg",
    "video/mp4",
    "audio/webm",
    "application/octet-stream",
    "text/html",
    "image/png",
    "audio/wav; codecs=1",
    "nonsense",
    "x" * 120,
)
MAGICS = (
    b"RIFF\xff\xff\xff\x7fWAVEfmt ",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\x00\x00\x00\x18ftypmp42",
    b"OggS\x00\x02",
    b"fLaC\x00\x00\x00\x22",
    b"\x1a\x45\xdf\xa3",
    b"%PDF-1.7\n",
    b"PK\x03\x04",
    b"\x89PNG\r\n\x1a\n",
)
_ERRORS = re.compile(r'<ul class="errorlist" id="upload-errors" role="alert">(.*?)</ul>', re.S)


@dataclass(frozen=True)
class UploadCase:
    index: int
    mutation: str
    data: bytes
    name: str
    content_type: str

    @property
    def label(self) -> str:
        return f"#{self.index} {self.mutation} as {self.name!r} ({self.content_type[:30]})"


def _lying_wav(rng: np.random.Generator, body: bytes) -> bytes:
    """A RIFF/WAVE header whose fields are extreme or inconsistent, then ``body``."""
    pick = lambda *values: int(rng.choice(values))  # noqa: E731
    fmt = struct.pack(
        "<HHIIHH",
        pick(1, 3, 0, 0xFFFE, 0x55),  # format tag
        pick(1, 2, 0, 255, 65535),  # channels
        pick(16000, 0, 1, 4_000_000_000, 8000),  # sample rate
        pick(32000, 0, 0xFFFFFFFF),  # bytes per second
        pick(2, 0, 65535),  # block align
        pick(16, 0, 7, 64, 24),  # bits per sample
    )
    data_size = pick(len(body), 0, 0xFFFFFFFF, 1)
    return (
        b"RIFF"
        + struct.pack("<I", pick(36 + len(body), 0, 0xFFFFFFFF))
        + b"WAVEfmt "
        + struct.pack("<I", pick(16, 0, 0xFFFF))
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
        + body
    )


def fuzz_cases(seeds: dict[str, bytes], *, count: int, seed: int) -> list[UploadCase]:
    rng = np.random.default_rng(seed)
    kinds = list(seeds)

    def base() -> tuple[str, bytes]:
        kind = kinds[int(rng.integers(len(kinds)))]
        return kind, seeds[kind]

    def flip(data: bytes, *, within: int, times: int) -> bytes:
        mangled = bytearray(data)
        for _ in range(times):
            position = int(rng.integers(min(within, len(mangled))))
            mangled[position] ^= 1 << int(rng.integers(8))
        return bytes(mangled)

    def truncated() -> tuple[str, bytes]:
        kind, data = base()
        return f"{kind} cut", data[: int(rng.integers(0, len(data)))]

    def header_then_junk() -> tuple[str, bytes]:
        kind, data = base()
        keep = int(rng.integers(8, 600))
        return f"{kind} header+junk", data[:keep] + rng.bytes(int(rng.integers(0, 40_000)))

    def header_flips() -> tuple[str, bytes]:
        kind, data = base()
        return f"{kind} header flips", flip(data, within=64, times=int(rng.integers(1, 8)))

    def body_flips() -> tuple[str, bytes]:
        kind, data = base()
        return f"{kind} body flips", flip(data, within=len(data), times=int(rng.integers(1, 64)))

    def spliced() -> tuple[str, bytes]:
        (a, first), (b, second) = base(), base()
        return f"{a}+{b} spliced", first[: len(first) // 2] + second[len(second) // 2 :]

    def lying_wav() -> tuple[str, bytes]:
        body = seeds["wav"][44 : 44 + int(rng.integers(0, 60_000))]
        return "lying wav header", _lying_wav(rng, body)

    def magic_then_noise() -> tuple[str, bytes]:
        magic = MAGICS[int(rng.integers(len(MAGICS)))]
        return f"{magic[:4]!r} + noise", magic + rng.bytes(int(rng.integers(0, 20_000)))

    def noise() -> tuple[str, bytes]:
        return "random bytes", rng.bytes(int(rng.integers(1, 30_000)))

    def empty() -> tuple[str, bytes]:
        return "empty", b""

    def intact() -> tuple[str, bytes]:
        kind, data = base()
        return f"{kind} intact", data

    mutations: list[tuple[Callable[[], tuple[str, bytes]], int]] = [
        (truncated, 5),
        (header_then_junk, 4),
        (header_flips, 4),
        (body_flips, 3),
        (spliced, 2),
        (lying_wav, 4),
        (magic_then_noise, 3),
        (noise, 2),
        (empty, 1),
        (intact, 1),
    ]
    weights = np.array([weight for _, weight in mutations], dtype=float)
    cases = []
    for index in range(count):
        make = mutations[int(rng.choice(len(mutations), p=weights / weights.sum()))][0]
        mutation, data = make()
        name = NAMES[int(rng.integers(len(NAMES)))] + EXTENSIONS[int(rng.integers(len(EXTENSIONS)))]
        content_type = CONTENT_TYPES[int(rng.integers(len(CONTENT_TYPES)))]
        cases.append(UploadCase(index, mutation, data, name, content_type))
    return cases


class UploadFuzzTests(TempMediaMixin, TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        wav = speech_wav()
        cls.seeds = {
            "wav": wav,
            "mp3": ffmpeg_encode(wav, ".mp3", "-c:a", "libmp3lame", "-b:a", "64k"),
            "mp4": ffmpeg_encode(wav, ".mp4", "-c:a", "aac", "-b:a", "64k"),
        }

    def check(self, case: UploadCase) -> tuple[str, list[str]]:
        """Post ``case``; return the outcome and the promises it broke."""
        rows, files = Analysis.objects.count(), len(self.stored_files())
        response = self.client.post(
            reverse("analyzer:upload"), {"file": upload(case.data, case.name, case.content_type)}
        )
        problems = []
        if response.status_code == 302 and Analysis.objects.count() == rows:
            return "duplicate", self.duplicate_problems(case, response["Location"], files)
        if response.status_code == 302:
            analysis = Analysis.objects.order_by("-created_at").first()
            if Analysis.objects.count() != rows + 1 or analysis is None:
                return "accepted", ["accepted without a new row"]
            if not re.fullmatch(r"uploads/\d{4}/\d{2}/[0-9a-f]{32}\.\w+", analysis.file.name):
                problems.append(f"stored as {analysis.file.name!r}")
            if len(self.stored_files()) != files + 1 or not analysis.file.storage.exists(
                analysis.file.name
            ):
                problems.append("accepted without its file")
            if analysis.job_id not in {job.id for job in queued_jobs()}:
                problems.append("accepted without a job")
            return "accepted", problems
        if response.status_code != 400:
            return str(response.status_code), [f"answered {response.status_code}"]
        errors = _ERRORS.search(response.content.decode())
        message = html.unescape(re.sub(r"<[^>]+>", " ", errors[1])).strip() if errors else ""
        if len(message) < 10:
            problems.append(f"refused without a clear message ({message!r})")
        if "Traceback" in message or "Error(" in message:
            problems.append(f"refused with internals in the message: {message!r}")
        if Analysis.objects.count() != rows:
            problems.append("refused but a row was kept")
        if len(self.stored_files()) != files:
            problems.append("refused but a file was kept")
        if self.temporary_files():
            problems.append("a temporary copy was left behind")
        return message.split(";")[0].split(":")[0][:60], problems

    def duplicate_problems(self, case: UploadCase, location: str, files: int) -> list[str]:
        """The same bytes again: the redirect must lead to this browser's earlier analysis
        of them, and nothing new may be kept."""
        digest = hashlib.sha256(case.data).hexdigest()
        earlier = Analysis.objects.filter(sha256=digest).exclude(status=Analysis.Status.FAILED)
        problems = []
        if location not in {analysis.get_absolute_url() for analysis in earlier}:
            problems.append(f"accepted without a new row, sent to {location!r}")
        if len(self.stored_files()) != files:
            problems.append("a duplicate kept a file")
        return problems

    # The limits on waiting analyses are tested apart (test_back_pressure.py); here every
    # accepted upload stays queued.
    @override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=0, SPEECHEMOTION_MAX_QUEUE_WAIT=0)
    def test_it_accepts_or_clearly_refuses_every_mangled_upload(self) -> None:
        outcomes: Counter[str] = Counter()
        broken: list[str] = []
        for case in fuzz_cases(self.seeds, count=FUZZ_COUNT, seed=FUZZ_SEED):
            outcome, problems = self.check(case)
            outcomes[outcome if outcome in ("accepted", "duplicate") else "refused"] += 1
            broken += [f"{case.label}: {problem}" for problem in problems]

        self.assertEqual(broken, [], f"outcomes: {dict(outcomes)}")
        # Both kinds occur, or the corpus would not be testing much.
        self.assertGreater(outcomes["accepted"], 5, outcomes)
        self.assertGreater(outcomes["duplicate"], 0, outcomes)  # the seeded corpus repeats files
        self.assertGreater(outcomes["refused"], FUZZ_COUNT // 2, outcomes)
        self.assertEqual(Analysis.objects.count(), outcomes["accepted"])
        self.assertEqual(len(self.stored_files()), outcomes["accepted"])
