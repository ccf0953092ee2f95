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
    FUNC = "func"  # the same dense layers over the larger set of functionals
    CNN = "cnn"  # log-mel frames -> 1-D convolutions over time -> pooling
    ENC = "enc"  # the same dense layers over the pretrained speech encoder's embedding

    @property
    def feature_set(self) -> FeatureSet:
        return {
            Architecture.MLP: FeatureSet.STATS,
            Architecture.FUNC: FeatureSet.FUNCTIONALS,
            Architecture.CNN: FeatureSet.LOGMEL,
            Architecture.ENC: FeatureSet.ENCODER,
        }[self]


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


def build_cnn(
    n_channels: int,
    *,
    channels: tuple[int, ...] = (96, 128, 160),
    kernel: int = 5,
    dropout: float = 0.4,
) -> keras.Model:
    """[batch, frames, n_channels] log-mel (and pitch) frames, any number -> [batch, 8] logits.

    Convolutions run over time with the mel bands as channels: on this machine's CPU a
    training step took 110 ms against 600 ms for a small 2-D CNN over the spectrogram
    image (batch 32, 3 s crops), which is what makes cross-validation affordable.
    """
    inputs = keras.Input(shape=(None, n_channels), name="logmel")
    x = layers.Rescaling(0.05, name="db_scale")(inputs)  # log-mel dB to about unit range
    for i, ch in enumerate(channels):
        x = layers.Conv1D(ch, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        if i < len(channels) - 1:
            x = layers.MaxPooling1D(2)(x)
    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(len(EMOTIONS), name="logits")(x)
    return keras.Model(inputs, outputs, name="cnn")
