"""Speech or not: real voices pass; silence, noise, a tone and mains hum are refused."""

from __future__ import annotations

import unittest

import numpy as np

from ml.audio import ensure_speech, load_audio
from ml.errors import NoSpeechError
from ml.speech import speech_score
from ml.tests.helpers import (
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


class SpeechTests(unittest.TestCase):
    def test_it_accepts_every_tenth_take_of_both_corpora(self) -> None:
        paths = sorted((data_dir() / "ravdess").rglob("*.flac"))[::10]
        paths += sorted((data_dir() / "savee").rglob("*.flac"))[::10]
        refused = [p.name for p in paths if speech_score(read_signal(p)) < 0.5]
        self.assertEqual(refused, [], f"{len(refused)} of {len(paths)} takes refused")

    def test_it_accepts_real_speech_from_several_speakers(self) -> None:
        paths = [ravdess_path(**take) for take in SPEECH_TAKES]
        paths += [savee_path("DC", "a", 1), savee_path("KL", "sa", 3)]
        for path in paths:
            with self.subTest(path=path.name):
                signal = read_signal(path)
                ensure_speech(signal)  # raises NoSpeechError if it is judged not speech
                self.assertGreaterEqual(speech_score(signal), 0.5)

    def test_it_accepts_quiet_and_slightly_noisy_speech(self) -> None:
        signal = speech()
        noise = white_noise(len(signal) / 16000, seed=3, amplitude=1.0)[: len(signal)]
        noise *= np.std(signal) / np.std(noise) / 10 ** (20 / 20)  # 20 dB SNR
        cases = {"20 dB quieter": 0.1 * signal, "20 dB SNR white noise": signal + noise}
        for name, case in cases.items():
            with self.subTest(case=name):
                ensure_speech(case.astype(np.float32))

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
                self.assertLess(speech_score(signal), 0.5)
                with self.assertRaises(NoSpeechError) as caught:
                    ensure_speech(signal)
                self.assertIn("No speech detected", str(caught.exception))

    def test_it_scores_between_zero_and_one(self) -> None:
        for signal in (speech(), silence(1.0), white_noise(1.0), tone(1.0), np.zeros(10)):
            score = speech_score(np.asarray(signal, dtype=np.float32))
            self.assertGreaterEqual(score, 0.0)
            self.assertLessEqual(score, 1.0)


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
