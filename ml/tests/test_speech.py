"""Speech or not (Silero VAD): real voices pass; silence, noise, tones, hum and music do not."""

from __future__ import annotations

import subprocess
import sys
import unittest

import numpy as np

from ml.audio import SAMPLE_RATE, ensure_speech, load_audio
from ml.errors import ModelLoadError, NoSpeechError
from ml.labels import Emotion
from ml.speech import (
    FRAME,
    get_session,
    has_speech,
    load_session,
    model_path,
    speech_probabilities,
    speech_regions,
)
from ml.tests.helpers import (
    REPO,
    SPEECH_TAKES,
    TempDirMixin,
    data_dir,
    hum,
    ravdess_path,
    read_signal,
    savee_path,
    silence,
    speech,
    tone,
    white_noise,
    write_audio,
    write_speech,
)


def _melody(*, seed: int, chord: bool = False) -> np.ndarray:
    """Plucked notes of a major scale (harmonics, decaying), 0.3 s each, 6 s in all."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(16000 * 0.3)) / 16000
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3 * t)
    notes = []
    for f in rng.choice([262, 294, 330, 349, 392, 440, 494, 523], 20):
        pitches = (f, f * 1.25, f * 1.5) if chord else (f,)
        wave = sum(0.5**k * np.sin(2 * np.pi * p * (k + 1) * t) for p in pitches for k in range(5))
        notes.append(envelope * wave)
    signal = np.concatenate(notes)
    return (0.3 * signal / np.abs(signal).max()).astype(np.float32)


def _silero_loop(signal: np.ndarray) -> np.ndarray:
    """Silero's own way: one 512-sample chunk per call, the state carried from the start."""
    session = get_session()
    n = -(-len(signal) // FRAME)
    x = np.zeros(64 + n * FRAME, dtype=np.float32)
    x[64 : 64 + len(signal)] = signal
    state = np.zeros((2, 1, 128), dtype=np.float32)
    sr = np.array(SAMPLE_RATE, dtype=np.int64)
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        chunk = x[None, i * FRAME : i * FRAME + 64 + FRAME]
        prob, state = session.run(None, {"input": chunk, "state": state, "sr": sr})
        out[i] = prob[0, 0]
    return out


def _onset(signal: np.ndarray) -> int:
    """The first sample of the first 10 ms louder than a tenth of the peak."""
    level = np.abs(signal[: len(signal) // 160 * 160]).reshape(-1, 160).max(axis=1)
    return int(np.argmax(level > 0.1 * level.max())) * 160


class SpeechTests(unittest.TestCase):
    def test_it_accepts_every_tenth_take_of_all_four_corpora(self) -> None:
        for corpus in ("ravdess", "savee", "emovo", "casia"):
            with self.subTest(corpus=corpus):
                paths = sorted((data_dir() / corpus).rglob("*.flac"))[::10]
                self.assertGreater(len(paths), 10, f"{corpus} takes are missing")
                refused = [p.name for p in paths if not has_speech(read_signal(p))]
                self.assertEqual(refused, [], f"{len(refused)} of {len(paths)} takes refused")

    def test_it_accepts_real_speech_from_several_speakers(self) -> None:
        paths = [ravdess_path(**take) for take in SPEECH_TAKES]
        paths += [savee_path("DC", "a", 1), savee_path("KL", "sa", 3)]
        for path in paths:
            with self.subTest(path=path.name):
                ensure_speech(read_signal(path))  # raises NoSpeechError if judged not speech

    def test_it_accepts_a_single_short_calm_word(self) -> None:
        for actor in (1, 8, 15, 20):
            with self.subTest(actor=actor):
                take = speech(Emotion.CALM, actor=actor)
                start = _onset(take)
                word = take[start : start + round(0.4 * SAMPLE_RATE)]
                ensure_speech(np.concatenate([silence(0.5), word, silence(0.5)]))

    def test_it_accepts_quiet_and_slightly_noisy_speech(self) -> None:
        signal = speech()
        noise = white_noise(len(signal) / 16000, seed=3, amplitude=1.0)[: len(signal)]
        noise *= np.std(signal) / np.std(noise) / 10 ** (20 / 20)  # 20 dB SNR
        cases = {"20 dB quieter": 0.1 * signal, "20 dB SNR white noise": signal + noise}
        for name, case in cases.items():
            with self.subTest(case=name):
                ensure_speech(case.astype(np.float32))

    def test_it_accepts_speech_over_music(self) -> None:
        voice = speech(Emotion.ANGRY, actor=2, intensity=2, statement=2)
        music = np.resize(_melody(seed=5), len(voice))
        ensure_speech(voice + music * (np.std(voice) / np.std(music)))  # as loud as the voice

    def test_it_refuses_sounds_that_are_not_speech(self) -> None:
        cases = {
            "digital silence": silence(3.0),
            "faint hiss": white_noise(3.0, seed=1, amplitude=1e-4),
            "white noise": white_noise(3.0, seed=2),
            "loud white noise": white_noise(3.0, seed=3, amplitude=0.5).clip(-1, 1),
            "440 Hz tone": tone(3.0, 440.0),
            "150 Hz tone": tone(3.0, 150.0),
            "50 Hz mains hum": hum(3.0, 50.0),
            "60 Hz mains hum": hum(3.0, 60.0),
            "tone over noise": tone(3.0, 220.0) + white_noise(3.0, seed=4, amplitude=0.01),
            "a melody": _melody(seed=5),
            "chords": _melody(seed=6, chord=True),
        }
        for name, signal in cases.items():
            with self.subTest(case=name):
                self.assertFalse(has_speech(signal))
                with self.assertRaises(NoSpeechError) as caught:
                    ensure_speech(signal)
                self.assertIn("No speech detected", str(caught.exception))


class ProbabilityTests(unittest.TestCase):
    def test_it_gives_one_probability_per_32_ms_frame(self) -> None:
        for n in (0, 1, 512, 513, 16000):
            with self.subTest(samples=n):
                probs = speech_probabilities(white_noise(1.0, seed=n)[:n])
                self.assertEqual(probs.shape, (-(-n // 512),))
                self.assertEqual(probs.dtype, np.float32)
                self.assertTrue(np.all((probs >= 0) & (probs <= 1)))
        self.assertGreater(speech_probabilities(speech()).max(), 0.9)
        self.assertLess(speech_probabilities(silence(2.0)).max(), 0.1)

    def test_it_reads_a_long_recording_as_silero_does_chunk_by_chunk(self) -> None:
        # 130 s: three parallel streams of 60 s in one model call per chunk.
        takes = [speech(**take) for take in SPEECH_TAKES]
        signal = np.concatenate([np.concatenate([t, silence(1.0)]) for t in takes] * 6)
        signal = signal[: 130 * SAMPLE_RATE]
        fast, slow = speech_probabilities(signal), _silero_loop(signal)
        self.assertEqual(fast.shape, slow.shape)
        first_minute = 60 * SAMPLE_RATE // FRAME
        np.testing.assert_allclose(fast[:first_minute], slow[:first_minute], atol=1e-5)
        agree = np.mean((fast >= 0.5) == (slow >= 0.5))
        self.assertGreater(agree, 0.99)

    def test_it_finds_no_speech_region_in_music_or_noise(self) -> None:
        for signal in (_melody(seed=5), _melody(seed=6, chord=True), white_noise(5.0, seed=7)):
            self.assertEqual(speech_regions(signal), [])


class ModelLoadTests(TempDirMixin, unittest.TestCase):
    def test_it_refuses_a_file_that_is_not_the_silero_model(self) -> None:
        other = self.tmp / "silero_vad.onnx"
        other.write_bytes(model_path().read_bytes()[:-1] + b"\0")
        with self.assertRaises(ModelLoadError) as caught:
            load_session(other)
        self.assertIn("SHA-256", str(caught.exception))
        with self.assertRaises(ModelLoadError):
            load_session(self.tmp / "missing.onnx")

    def test_it_loads_the_model_once(self) -> None:
        self.assertIs(get_session(), get_session())

    def test_it_needs_neither_torch_nor_the_silero_package_code(self) -> None:
        code = (
            "import sys, numpy as np\n"
            "import ml.speech\n"
            "ml.speech.has_speech(np.zeros(16000, np.float32))\n"
            "print(sorted(m for m in ('torch', 'silero_vad') if m in sys.modules))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "[]")


class DecodedSpeechTests(TempDirMixin, unittest.TestCase):
    """The check works on what ``load_audio`` returns, whatever the original rate."""

    def test_it_judges_decoded_files(self) -> None:
        speech_44k = write_speech(self.tmp / "speech.wav", sample_rate=44100, channels=2)
        ensure_speech(load_audio(speech_44k).signal)
        tone_44k = write_audio(self.tmp / "tone.wav", tone(2.0, 440.0), sample_rate=44100)
        with self.assertRaises(NoSpeechError):
            ensure_speech(load_audio(tone_44k).signal)


if __name__ == "__main__":
    unittest.main()
