"""Extract 16-bit WAV sound tracks from the RAVDESS audio-visual MP4 recordings.

    python scripts/extract_audio.py SRC_DIR DST_DIR [--sample-rate 16000] [--overwrite]

Walks SRC_DIR for ``*.mp4`` files (any case) and writes one WAV per file under DST_DIR,
mirroring the sub-folders. RAVDESS names its files ``MM-VC-EE-II-SS-RR-AA`` where the
first field is the modality: a full audio-visual recording (01) becomes an audio-only
one (03), ``01-01-03-01-02-01-12.mp4 -> 03-01-03-01-02-01-12.wav``, and video-only
recordings (02) are skipped. Other names keep their stem.

The audio goes through :func:`ml.video.extract_audio_track`, as uploaded videos do in the
web service. Exit status: 0 when every file was extracted or skipped, 1 when any failed,
2 on bad arguments.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from ml.errors import MLError  # noqa: E402
from ml.video import extract_audio_track  # noqa: E402

_RAVDESS_NAME = re.compile(r"(\d\d)((?:-\d\d){6})")
_FULL_AV, _VIDEO_ONLY, _AUDIO_ONLY = "01", "02", "03"


@dataclass
class _Tally:
    extracted: int = 0
    skipped: int = 0
    failed: int = 0


def wav_name_for(mp4_name: str) -> str | None:
    """Name of the WAV extracted from ``mp4_name``, or None when it has no sound to take.

    >>> wav_name_for("01-01-03-01-02-01-12.mp4")
    '03-01-03-01-02-01-12.wav'
    >>> wav_name_for("02-01-03-01-02-01-12.mp4") is None
    True
    >>> wav_name_for("interview.MP4")
    'interview.wav'
    """
    stem = Path(mp4_name).stem
    match = _RAVDESS_NAME.fullmatch(stem)
    if match is None:
        return f"{stem}.wav"
    modality, rest = match.groups()
    if modality == _VIDEO_ONLY:
        return None
    if modality == _FULL_AV:
        modality = _AUDIO_ONLY
    return f"{modality}{rest}.wav"


def find_videos(src_dir: Path) -> list[Path]:
    """Every ``*.mp4`` file under ``src_dir`` (any case of the extension), sorted."""
    return sorted(
        path for path in src_dir.rglob("*") if path.suffix.lower() == ".mp4" and path.is_file()
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Extract 16-bit WAV sound tracks from RAVDESS MP4 recordings.",
    )
    parser.add_argument("src_dir", metavar="SRC_DIR", type=Path, help="folder of MP4 files")
    parser.add_argument("dst_dir", metavar="DST_DIR", type=Path, help="folder for the WAVs")
    parser.add_argument(
        "--sample-rate",
        type=_positive_int,
        default=16000,
        metavar="HZ",
        help="sample rate of the WAVs (default: %(default)s)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace WAVs that already exist")
    return parser


def _note(message: str) -> None:
    # tqdm.write keeps the progress bar intact while it is drawn.
    tqdm.write(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    src_dir: Path = args.src_dir
    dst_dir: Path = args.dst_dir
    if not src_dir.is_dir():
        parser.error(f"SRC_DIR is not a folder: {src_dir}")  # exits with status 2

    videos = find_videos(src_dir)
    tally = _Tally()
    claimed: dict[Path, Path] = {}  # output -> the source it is extracted from
    progress = tqdm(
        videos, desc="Extracting", unit="file", file=sys.stderr, disable=not sys.stderr.isatty()
    )
    for src in progress:
        relative = src.relative_to(src_dir)
        wav_name = wav_name_for(src.name)
        if wav_name is None:
            _note(f"skipped {relative}: video-only recording (modality 02), no sound track")
            tally.skipped += 1
            continue
        dst = dst_dir / relative.parent / wav_name
        if dst in claimed:
            _note(f"skipped {relative}: {claimed[dst]} already gives {dst}")
            tally.skipped += 1
            continue
        claimed[dst] = relative
        if dst.exists() and not args.overwrite:
            _note(f"skipped {relative}: {dst} exists (use --overwrite to replace it)")
            tally.skipped += 1
            continue
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            extract_audio_track(src, dst, sample_rate=args.sample_rate, mono=True)
        except (MLError, OSError) as err:
            _note(f"failed {relative}: {err}")
            tally.failed += 1
        else:
            tally.extracted += 1
    progress.close()

    print(f"extracted {tally.extracted}, skipped {tally.skipped}, failed {tally.failed}")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
