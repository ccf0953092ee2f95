"""scripts/extract_audio.py on a little RAVDESS-like tree of real MP4s made with ffmpeg."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import soundfile as sf

from scripts.extract_audio import main, wav_name_for

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SCRIPT = Path(__file__).resolve().parents[1] / "extract_audio.py"
TONE_HZ = 440.0
SECONDS = 1.5


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args], check=True)


def _video_codec() -> str:
    listing = subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    has_x264 = any(line.split()[1:2] == ["libx264"] for line in listing.splitlines())
    return "libx264" if has_x264 else "mpeg4"


def _run(*argv: str, stderr: io.StringIO | None = None) -> tuple[int, str, str]:
    """Run main(argv) and return its exit status, stdout and stderr."""
    out, err = io.StringIO(), stderr if stderr is not None else io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class WavNameTests(unittest.TestCase):
    def test_it_maps_audio_visual_recordings_to_audio_only(self) -> None:
        self.assertEqual(wav_name_for("01-01-03-01-02-01-12.mp4"), "03-01-03-01-02-01-12.wav")
        self.assertEqual(wav_name_for("01-02-06-02-01-02-24.MP4"), "03-02-06-02-01-02-24.wav")

    def test_it_gives_no_name_to_video_only_recordings(self) -> None:
        self.assertIsNone(wav_name_for("02-01-03-01-02-01-12.mp4"))

    def test_it_keeps_other_names_and_changes_the_extension(self) -> None:
        self.assertEqual(wav_name_for("interview.mp4"), "interview.wav")
        self.assertEqual(wav_name_for("01-01-03.mp4"), "01-01-03.wav")
        self.assertEqual(wav_name_for("01-01-03-01-02-01-12-b.mp4"), "01-01-03-01-02-01-12-b.wav")


class ExtractAudioScriptTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="test_extract_audio_"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        media = cls.tmp / "media"
        media.mkdir()
        vcodec = _video_codec()
        av, silent = media / "av.mp4", media / "silent.mp4"
        picture = ["-f", "lavfi", "-i", "testsrc=size=64x64:rate=10"]
        tone = ["-f", "lavfi", "-i", f"sine=frequency={TONE_HZ:g}:sample_rate=44100"]
        seconds = ["-t", f"{SECONDS:g}"]
        _ffmpeg(*picture, *tone, *seconds, "-c:v", vcodec, "-c:a", "aac", "-ac", "2", str(av))
        _ffmpeg(*picture, *seconds, "-c:v", vcodec, str(silent))

        cls.src = cls.tmp / "ravdess"
        tree = {
            "Actor_01/01-01-03-01-02-01-01.mp4": av,
            "Actor_01/02-01-03-01-02-01-01.mp4": av,  # video-only modality: skipped
            "Actor_02/01-01-05-02-01-01-02.MP4": av,
            "Actor_02/01-01-01-01-01-01-02.mp4": silent,  # no sound track: fails
            "Actor_02/01-01-04-01-01-01-02.mp4": None,  # random bytes: fails
            "extra/interview.mp4": av,
            "notes.txt": None,
        }
        for name, source in tree.items():
            path = cls.src / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if source is None:
                path.write_bytes(np.random.default_rng(1).bytes(4096))
            else:
                shutil.copyfile(source, path)

        cls.good_src = cls.tmp / "good"
        (cls.good_src / "Actor_03").mkdir(parents=True)
        shutil.copyfile(av, cls.good_src / "Actor_03" / "01-01-02-01-01-02-03.mp4")

        # The whole tree is extracted once; the tests below look at what came out.
        cls.dst = cls.tmp / "wav"
        cls.status, cls.stdout, cls.stderr = _run(str(cls.src), str(cls.dst))

    def setUp(self) -> None:
        self.out = Path(tempfile.mkdtemp(prefix="test_extract_audio_out_"))
        self.addCleanup(shutil.rmtree, self.out, ignore_errors=True)

    def test_it_writes_renamed_wavs_mirroring_the_folders(self) -> None:
        self.assertEqual(
            _files_under(self.dst),
            {
                "Actor_01/03-01-03-01-02-01-01.wav",
                "Actor_02/03-01-05-02-01-01-02.wav",
                "extra/interview.wav",
            },
        )

    def test_it_writes_16_bit_mono_wavs_at_16_khz_holding_the_tone(self) -> None:
        for name in _files_under(self.dst):
            with self.subTest(name):
                info = sf.info(self.dst / name)
                format_ = (info.subtype, info.samplerate, info.channels)
                self.assertEqual(format_, ("PCM_16", 16000, 1))
                self.assertAlmostEqual(info.duration, SECONDS, delta=0.05)
                signal, rate = sf.read(self.dst / name, dtype="float32")
                spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
                self.assertAlmostEqual(np.argmax(spectrum) * rate / len(signal), TONE_HZ, delta=3)

    def test_it_skips_video_only_recordings_with_a_note(self) -> None:
        self.assertIn("skipped Actor_01/02-01-03-01-02-01-01.mp4: video-only", self.stderr)

    def test_it_reports_each_failure_with_its_file_and_reason(self) -> None:
        self.assertIn(
            "failed Actor_02/01-01-01-01-01-01-02.mp4: This video has no sound track.", self.stderr
        )
        self.assertIn("failed Actor_02/01-01-04-01-01-01-02.mp4: Could not read", self.stderr)
        self.assertNotIn("Traceback", self.stderr)

    def test_it_sums_up_and_exits_1_when_any_file_failed(self) -> None:
        self.assertEqual(self.stdout.strip().splitlines()[-1], "extracted 3, skipped 1, failed 2")
        self.assertEqual(self.status, 1)

    def test_it_exits_0_when_nothing_failed(self) -> None:
        status, stdout, _ = _run(str(self.good_src), str(self.out))
        self.assertEqual(status, 0)
        self.assertIn("extracted 1, skipped 0, failed 0", stdout)
        self.assertEqual(_files_under(self.out), {"Actor_03/03-01-02-01-01-02-03.wav"})

    def test_it_honours_the_sample_rate_option(self) -> None:
        status, _, _ = _run(str(self.good_src), str(self.out), "--sample-rate", "8000")
        self.assertEqual(status, 0)
        info = sf.info(self.out / "Actor_03" / "03-01-02-01-01-02-03.wav")
        self.assertEqual((info.subtype, info.samplerate, info.channels), ("PCM_16", 8000, 1))

    def test_it_keeps_existing_wavs_unless_told_to_overwrite(self) -> None:
        existing = self.out / "Actor_03" / "03-01-02-01-01-02-03.wav"
        existing.parent.mkdir()
        existing.write_bytes(b"keep me")

        status, stdout, stderr = _run(str(self.good_src), str(self.out))
        self.assertEqual(status, 0)
        self.assertIn("extracted 0, skipped 1, failed 0", stdout)
        self.assertIn("use --overwrite", stderr)
        self.assertEqual(existing.read_bytes(), b"keep me")

        status, stdout, _ = _run(str(self.good_src), str(self.out), "--overwrite")
        self.assertEqual(status, 0)
        self.assertIn("extracted 1, skipped 0, failed 0", stdout)
        self.assertEqual(sf.info(existing).subtype, "PCM_16")

    def test_it_draws_a_progress_bar_on_a_terminal(self) -> None:
        status, _, stderr = _run(str(self.good_src), str(self.out), stderr=_Terminal())
        self.assertEqual(status, 0)
        self.assertIn("Extracting", stderr)
        self.assertIn("1/1", stderr)

    def test_it_exits_2_when_src_dir_is_missing(self) -> None:
        for argv in ([str(self.tmp / "nope"), str(self.out)], [str(self.good_src)]):
            with self.subTest(argv=argv), self.assertRaises(SystemExit) as caught:
                _run(*argv)
            self.assertEqual(caught.exception.code, 2)
        self.assertEqual(list(self.out.iterdir()), [])

    def test_it_exits_2_on_a_sample_rate_that_is_not_positive(self) -> None:
        for rate in ("0", "-8000", "fast"):
            with self.subTest(rate), self.assertRaises(SystemExit) as caught:
                _run(str(self.good_src), str(self.out), "--sample-rate", rate)
            self.assertEqual(caught.exception.code, 2)

    def test_it_runs_as_a_plain_script_from_anywhere(self) -> None:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(self.good_src), str(self.out)],
            cwd=self.out,
            capture_output=True,
            text=True,
            check=False,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("extracted 1, skipped 0, failed 0", done.stdout)
        self.assertTrue((self.out / "Actor_03" / "03-01-02-01-01-02-03.wav").is_file())


if __name__ == "__main__":
    unittest.main()
