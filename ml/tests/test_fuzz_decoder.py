"""The decoder against hostile input: real files mangled, random bytes, wrong names.

A seeded sample of a few hundred inputs of the fuzz corpus (:mod:`ml.fuzzing`) goes
through ``load_audio`` once per class; the tests then check what each one gave. The same
corpus, in thousands, is what ``bench/fuzz_decoder.py`` prints figures for. Every input
must end as decoded audio or as an :class:`~ml.errors.MLError` whose message a person can
read: never another exception, never a temporary file or an ffmpeg process left behind.
"""

from __future__ import annotations

import shutil
import tempfile
import unittest
from collections import Counter
from pathlib import Path

from ml.fuzzing import (
    DECODED,
    FUZZ_COUNT,
    PROBE_EVERY,
    TIMEOUT,
    UNEXPECTED,
    Outcome,
    fuzz_cases,
    make_seeds,
    quiet_stderr,
    run_case,
    scratch_tempdir,
)
from ml.tests.ffmpeg_processes import left_behind, watching_ffmpeg


class FuzzDecoderTests(unittest.TestCase):
    """A few hundred seeded inputs, decoded once for the class."""

    outcomes: list[Outcome]

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        root = Path(tempfile.mkdtemp(prefix="test_fuzz_decoder_"))
        cls.addClassCleanup(shutil.rmtree, root, ignore_errors=True)
        seeds_dir, cases_dir = root / "seeds", root / "cases"
        seeds_dir.mkdir()
        cases_dir.mkdir()
        cls.seeds = make_seeds(seeds_dir)
        with scratch_tempdir(root / "tmp"), quiet_stderr(), watching_ffmpeg() as started:
            cls.outcomes = [run_case(case, cases_dir) for case in fuzz_cases(cls.seeds, FUZZ_COUNT)]
        cls.ffmpeg_runs, cls.left_behind = len(started), left_behind(started)
        cls.kinds = Counter(outcome.kind for outcome in cls.outcomes)

    def _report(self, outcomes: list[Outcome]) -> str:
        shown = [f"{o.case.label}: {o.kind} {'; '.join(o.problems)}" for o in outcomes[:8]]
        return f"{len(outcomes)} of {len(self.outcomes)} inputs:\n" + "\n".join(shown)

    def test_it_answers_every_input_with_audio_or_an_ml_error(self) -> None:
        unexpected = [o for o in self.outcomes if o.kind == UNEXPECTED]
        self.assertEqual(unexpected, [], self._report(unexpected))

    def test_it_probes_every_input_to_an_info_or_an_ml_error(self) -> None:
        probed = [o for o in self.outcomes if o.case.index % PROBE_EVERY == 0]
        self.assertGreater(len(probed), FUZZ_COUNT // 4)
        bad = [o for o in probed if any(p.startswith("probe_audio") for p in o.problems)]
        self.assertEqual(bad, [], self._report(bad))

    def test_it_gives_every_refusal_a_sentence_for_the_user(self) -> None:
        refused = [o for o in self.outcomes if o.kind not in (DECODED, UNEXPECTED)]
        self.assertGreater(len(refused), FUZZ_COUNT // 2)
        for outcome in refused:
            with self.subTest(outcome.case.label):
                self.assertTrue(outcome.message[:1].isupper(), outcome.message)
                self.assertTrue(outcome.message.endswith("."), outcome.message)
                self.assertNotIn("Error:", outcome.message)

    def test_it_returns_finite_mono_audio_within_the_limit(self) -> None:
        decoded = [o for o in self.outcomes if o.kind == DECODED]
        # Intact seeds and harmless mutations must still decode, whatever their name.
        self.assertGreater(len(decoded), FUZZ_COUNT // 10)
        bad = [o for o in decoded if o.problems]
        self.assertEqual(bad, [], self._report(bad))

    def test_it_leaves_no_temporary_file_and_no_process_behind(self) -> None:
        leaks = [o for o in self.outcomes if any(" behind" in p for p in o.problems)]
        self.assertEqual(leaks, [], self._report(leaks))
        self.assertGreater(self.ffmpeg_runs, FUZZ_COUNT // 10)  # MP4, Matroska, damaged FLAC
        self.assertEqual(self.left_behind, [], "ffmpeg process groups still holding a process")

    def test_it_refuses_with_several_distinct_errors(self) -> None:
        # A corpus that only reaches the format sniffer tests nothing behind it.
        errors = set(self.kinds) - {DECODED, UNEXPECTED}
        self.assertTrue(
            {"UnsupportedFormatError", "AudioDecodeError", "AudioTooShortError"} <= errors,
            self.kinds,
        )
        self.assertIn("AudioTooLongError", errors, self.kinds)

    def test_it_decodes_every_intact_seed_under_any_name(self) -> None:
        intact = [o for o in self.outcomes if o.case.mutation == "intact"]
        self.assertGreater(len(intact), 10)
        for outcome in intact:
            long = outcome.case.label.split()[1].endswith("-4s")
            expected = "AudioTooLongError" if long else DECODED
            self.assertEqual(outcome.kind, expected, f"{outcome.case.label}: {outcome.message}")

    def test_it_answers_within_the_timeout(self) -> None:
        slowest = max(self.outcomes, key=lambda o: o.seconds)
        self.assertLess(slowest.seconds, TIMEOUT + 2, slowest.case.label)


if __name__ == "__main__":
    unittest.main()
