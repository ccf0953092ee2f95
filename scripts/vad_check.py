"""Run the "is anybody speaking?" check on every recording under a folder.

    python scripts/vad_check.py DATA_DIR [--quiet]

Every file under DATA_DIR with a supported audio ending (flac, wav, mp3...) is decoded as
an upload is (:func:`ml.audio.load_audio`) and checked with :func:`ml.audio.ensure_speech`,
the check that answers "no speech detected". Prints each refused file, then how many were
refused, and the time taken. Every take of the training corpora must pass. Exit status: 0
when none was refused, 1 when any was refused or could not be decoded, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ml.audio import SUPPORTED_EXTENSIONS, ensure_speech, load_audio  # noqa: E402
from ml.errors import MLError, NoSpeechError  # noqa: E402


def recordings(data_dir: Path) -> list[Path]:
    """Every file under ``data_dir`` whose ending is a supported audio format, sorted."""
    endings = {f".{ext}" for ext in SUPPORTED_EXTENSIONS}
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p.suffix.lower() in endings)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Run the speech check (ml.audio.ensure_speech) on every recording."
    )
    parser.add_argument("data_dir", metavar="DATA_DIR", type=Path, help="folder of recordings")
    parser.add_argument("--quiet", action="store_true", help="print only the totals")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not args.data_dir.is_dir():
        parser.error(f"DATA_DIR is not a folder: {args.data_dir}")  # exits with status 2
    paths = recordings(args.data_dir)
    if not paths:
        parser.error(f"no recordings under {args.data_dir}")
    refused = failed = 0
    audio_seconds = 0.0
    start = time.perf_counter()
    for path in paths:
        name = path.relative_to(args.data_dir)
        try:
            decoded = load_audio(path)
            audio_seconds += decoded.duration
            ensure_speech(decoded.signal)
        except NoSpeechError:
            refused += 1
            if not args.quiet:
                print(f"refused: {name}")
        except MLError as err:
            failed += 1
            print(f"not decoded: {name}: {err}")
    elapsed = time.perf_counter() - start
    print(f"refused {refused}/{len(paths)}" + (f", {failed} not decoded" if failed else ""))
    print(
        f"{elapsed:.1f} s for {audio_seconds / 60:.1f} min of audio "
        f"({audio_seconds / max(elapsed, 1e-9):.0f}x real time, decoding included)"
    )
    return 1 if refused or failed else 0


if __name__ == "__main__":
    sys.exit(main())
