"""The two Keras architectures. Both output logits over the eight emotions.

Importing this module imports TensorFlow; only training and the loader do that.
"""

from __future__ import annotations

from enum import StrEnum

import keras
from keras import layers

from ml.features import FeatureSet
from ml.labels import EMOTIONS


class Architecture(StrEnum):
    MLP = "mlp"  # utterance statistics -> dense layers
    CNN = "cnn"  # log-mel frames -> 2-D convolutions -> pooling over time

    @property
    def feature_set(self) -> FeatureSet:
        return FeatureSet.STATS if self is Architecture.MLP else FeatureSet.LOGMEL


def build_mlp(input_dim: int, *, width: int = 256, dropout: float = 0.5) -> keras.Model:
    """[batch, input_dim] standardised statistics -> [batch, 8] logits."""
    inputs = keras.Input(shape=(input_dim,), name="stats")
    x = layers.Dropout(0.1)(inputs)
    for units in (width, width // 2):
        x = layers.Dense(units, kernel_regularizer=keras.regularizers.l2(1e-4))(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(len(EMOTIONS), name="logits")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_cnn(n_mels: int, *, channels: tuple[int, ...] = (16, 32, 64, 96), dropout: float = 0.4):
    """[batch, frames, n_mels] log-mel (any number of frames) -> [batch, 8] logits."""
    inputs = keras.Input(shape=(None, n_mels), name="logmel")
    x = layers.Reshape((-1, n_mels, 1))(inputs)
    for i, ch in enumerate(channels):
        x = layers.Conv2D(ch, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        if i < len(channels) - 1:
            x = layers.MaxPooling2D(2)(x)
    freq = n_mels // 2 ** (len(channels) - 1)
    x = layers.AveragePooling2D(pool_size=(1, freq), name="freq_mean")(x)
    x = layers.Reshape((-1, channels[-1]))(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(len(EMOTIONS), name="logits")(x)
    return keras.Model(inputs, outputs, name="cnn")
