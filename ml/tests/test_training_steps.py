"""A dense member trains for exactly the steps its recipe asks, with the draws it asks."""

from __future__ import annotations

import unittest

import numpy as np

from ml.features import FeatureConfig, FeatureSet
from ml.training import Recipe, _sampling_weights, fit


class TrainingStepsTests(unittest.TestCase):
    def test_it_takes_one_optimiser_step_per_batch_of_each_epoch(self) -> None:
        rng = np.random.default_rng(0)
        labels = np.repeat(np.arange(8), 12)  # 96 takes
        feats = [[rng.standard_normal(16).astype(np.float32) for _ in range(3)] for _ in labels]
        recipe = Recipe(
            architecture="func",
            epochs=13,  # not a multiple of the ten epochs drawn at a time
            batch_size=32,
            features=FeatureConfig(feature_set=FeatureSet.FUNCTIONALS),
        )
        model, norm = fit(feats, labels, np.arange(len(labels)), recipe)
        self.assertEqual(int(model.optimizer.iterations.numpy()), 13 * (96 // 32))
        self.assertEqual(norm[0].shape, (16,))

    def test_it_draws_every_corpus_and_emotion_pair_equally_often(self) -> None:
        labels = np.array([0, 0, 0, 1, 0, 1])
        groups = np.array(["a", "a", "a", "a", "b", "b"])
        p = _sampling_weights(labels, groups)
        self.assertAlmostEqual(float(p.sum()), 1.0)
        pairs = set(zip(groups.tolist(), labels.tolist(), strict=True))
        pair_mass = {(g, y): float(p[(groups == g) & (labels == y)].sum()) for g, y in pairs}
        np.testing.assert_allclose(list(pair_mass.values()), 0.25)
