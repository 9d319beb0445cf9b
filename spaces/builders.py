"""Model builders for the built-in spaces.

Contract: ``build(values, input_shape, num_classes) -> keras.Model``, compiled, where ``values``
holds exactly the active parameters of the space. Inputs are float images in ``[0, 1]``; labels are
integer classes. Builders import Keras lazily so listing spaces stays instant.
"""
from __future__ import annotations

from typing import Any

Values = dict[str, Any]


def _compile(model: Any, values: Values) -> Any:
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(values["learning_rate"])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _dense_stack(x: Any, values: Values, depth: int) -> Any:
    """``depth`` dense layers ``units_1..units_depth``, each with optional batch norm and dropout."""
    from keras import layers

    for index in range(1, depth + 1):
        x = layers.Dense(int(values[f"units_{index}"]), use_bias=not values["batch_norm"])(x)
        if values["batch_norm"]:
            x = layers.BatchNormalization()(x)
        x = layers.Activation(values["activation"])(x)
        if values["dropout"] > 0:
            x = layers.Dropout(float(values["dropout"]))(x)
    return x


def build_cnn(values: Values, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Conv blocks (conv, optional batch norm, activation, optional pooling), then dense layers."""
    import keras
    from keras import layers

    if len(input_shape) != 3:
        raise ValueError(f"a convolutional network needs images (height, width, channels), but the data has "
                         f"examples of shape {tuple(input_shape)}: search a dense space (image_mlp) instead")
    inputs = keras.Input(shape=input_shape)
    x = inputs
    kernel = int(values["kernel_size"])
    for block in range(1, int(values["conv_blocks"]) + 1):
        x = layers.Conv2D(
            int(values[f"filters_{block}"]), kernel, padding="same", use_bias=not values["batch_norm"]
        )(x)
        if values["batch_norm"]:
            x = layers.BatchNormalization()(x)
        x = layers.Activation(values["activation"])(x)
        pooling = values[f"pooling_{block}"]
        if pooling == "max":
            x = layers.MaxPooling2D(2, padding="same")(x)
        elif pooling == "avg":
            x = layers.AveragePooling2D(2, padding="same")(x)
    x = layers.Flatten()(x)
    depth = int(values["dense_layers"])
    x = _dense_stack(x, values, depth)
    if depth == 0 and values["dropout"] > 0:
        x = layers.Dropout(float(values["dropout"]))(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return _compile(keras.Model(inputs, outputs, name="cnn"), values)


def build_mlp(values: Values, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Flattened input, ``dense_layers`` dense layers, softmax classifier."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape)
    x = layers.Flatten()(inputs)
    x = _dense_stack(x, values, int(values["dense_layers"]))
    outputs = layers.Dense(num_classes, activation="softmax")(x)
    return _compile(keras.Model(inputs, outputs, name="mlp"), values)
