"""The ``deep_mlp`` space's model: Glorot & Bengio's (2010) depth x activation study on MNIST.

A plain dense network: flattened input, ``depth`` hidden ``Dense(WIDTH)`` layers with one activation,
then a softmax ``Dense(num_classes)`` output layer; Glorot uniform kernels, zero biases, no batch
norm, no dropout, plain SGD (no momentum) at a fixed ``LEARNING_RATE``. Only ``depth`` and
``activation`` are searched.

The model is a ``GradientNormModel``: it trains as usual (its logs are the usual ``loss`` and
metrics) and also accumulates, for each Dense layer, the L2 norm of that layer's kernel gradient on
every training batch. ``trial_attrs_after_epoch(1)`` returns their means over the first epoch as
the trial's ``gradient_norms`` attribute: ``depth + 1`` floats, input side first, output layer last.

Keras is imported lazily (listing spaces stays instant): the Keras classes and the ``lecun_tanh``
activation are defined and registered (package ``hpsearch``) by ``register()``, which building a
model calls. To load a saved ``.keras`` file in a fresh process, call ``register()`` first (or pass
``custom_objects=register()``); ``from hpsearch.spaces.deep_mlp import GradientNormModel`` works too.
"""
from __future__ import annotations

import functools
from typing import Any

# Measured on full MNIST, 2-core CPU, batch 128: an epoch takes about 2-4 s at depth 5, 5-7 s at 20 and
# 9-12 s at 40 with 128 units (256 units: 27-31 s at depth 40). At this rate depth-5 relu/tanh/lecun_tanh
# nets reach 91-92% validation accuracy after one epoch and 93-95% after two; 0.1 made the 40-layer tanh
# net collapse in epoch 2 and 0.2 diverged lecun_tanh, so the grid's differences come from depth and
# activation, not from an unstable step size.
WIDTH = 128  # units of every hidden layer
LEARNING_RATE = 0.05  # plain SGD, no momentum
DEPTHS = (5, 20, 40)  # hidden layers
ACTIVATIONS = ("relu", "tanh", "sigmoid", "lecun_tanh")
LECUN_TANH_SCALE = 1.7159  # lecun_tanh(x) = 1.7159 * tanh(2x / 3) (LeCun et al. 1998, "Efficient BackProp")
GRADIENT_NORM_DIGITS = 3  # significant digits of each recorded norm


def register() -> dict[str, Any]:
    """Define and register (once per process) the Keras objects of this space; returns them by name.

    The returned dict is usable as ``custom_objects`` of ``keras.models.load_model``.
    """
    classes = _keras_objects()
    return {"GradientNormModel": classes[0], "lecun_tanh": classes[1]}


def __getattr__(name: str) -> Any:
    """``GradientNormModel`` and ``lecun_tanh`` exist once Keras is imported: build them on first access."""
    if name in ("GradientNormModel", "lecun_tanh"):
        return register()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_values(values: dict[str, Any]) -> tuple[int, str]:
    """``(depth, activation)`` from a configuration; ``ValueError`` names the rule and the value."""
    depth = values.get("depth")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"deep_mlp needs 'depth' as an int >= 1, but got {depth!r}.")
    activation = values.get("activation")
    if activation not in ACTIVATIONS:
        raise ValueError(f"deep_mlp needs 'activation' in {list(ACTIVATIONS)}, but got {activation!r}.")
    return depth, activation


def build_deep_mlp(values: dict[str, Any], input_shape: tuple[int, ...], num_classes: int) -> Any:
    """A compiled ``GradientNormModel``: ``values["depth"]`` hidden layers of ``WIDTH`` units with
    ``values["activation"]``, a softmax output layer, SGD at ``LEARNING_RATE``, accuracy metric."""
    import keras
    from keras import layers

    depth, activation_name = check_values(values)
    model_class, lecun = _keras_objects()
    activation = lecun if activation_name == "lecun_tanh" else activation_name
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Flatten(name="flatten")(inputs)
    for index in range(1, depth + 1):
        x = layers.Dense(WIDTH, activation=activation, kernel_initializer="glorot_uniform",
                         name=f"dense_{index}")(x)
    outputs = layers.Dense(num_classes, activation="softmax", kernel_initializer="glorot_uniform",
                           name="output")(x)
    model = model_class(inputs, outputs, name=f"deep_mlp_{depth}_{activation_name}")
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE, momentum=0.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@functools.cache
def _keras_objects() -> tuple[type, Any]:
    """``(GradientNormModel, lecun_tanh)``, defined and registered with Keras on the first call."""
    import keras
    import tensorflow as tf

    from hpsearch.storage import record

    @keras.saving.register_keras_serializable(package="hpsearch")
    def lecun_tanh(x: Any) -> Any:
        """LeCun's scaled tanh: ``1.7159 * tanh(2x / 3)`` (unit gain around 1 for unit-variance inputs)."""
        return LECUN_TANH_SCALE * keras.ops.tanh(x * (2.0 / 3.0))

    @keras.saving.register_keras_serializable(package="hpsearch")
    class GradientNormModel(keras.Model):
        """A functional model whose training also sums each Dense layer's kernel-gradient norm per batch.

        Build it as ``GradientNormModel(inputs, outputs)``. The sums are plain TensorFlow variables kept
        out of Keras' tracking: not in ``metrics`` (so neither the logs nor the ``reset_metrics`` that
        validation runs before ``on_epoch_end`` touch them), not in ``weights`` (so ``count_params``
        and weights files hold only the network). TensorFlow backend only.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            dense = [layer for layer in self.layers if isinstance(layer, keras.layers.Dense)]
            # object.__setattr__: bypass Keras' (and TensorFlow's) attribute tracking, see the class doc.
            object.__setattr__(self, "_norm_layers", tuple(layer.name for layer in dense))
            object.__setattr__(self, "_norm_kernels", tuple(layer.kernel for layer in dense))
            object.__setattr__(self, "_norm_sums", tf.Variable(tf.zeros([len(dense)]), trainable=False))
            object.__setattr__(self, "_norm_batches", tf.Variable(0.0, trainable=False))

        @property
        def gradient_norm_layers(self) -> tuple[str, ...]:
            """Names of the Dense layers whose kernel-gradient norms are kept, input side first."""
            return self._norm_layers

        def train_step(self, data: Any) -> dict[str, Any]:
            """Keras' own training step (forward, loss, SGD update, metrics), plus the norm sums."""
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            weights = self.trainable_weights
            gradients = tape.gradient(loss, weights)
            self.optimizer.apply_gradients(zip(gradients, weights))
            by_id = {id(weight): gradient for weight, gradient in zip(weights, gradients)}
            kernels = [by_id[id(kernel)] for kernel in self._norm_kernels]
            self._norm_sums.assign_add(tf.stack([tf.norm(tf.cast(g, "float32")) for g in kernels]))
            self._norm_batches.assign_add(1.0)
            batch = tf.shape(tf.nest.flatten(x)[0])[0]
            for metric in self.metrics:
                if metric.name == "loss":  # the loss tracker; compiled metrics are updated below
                    metric.update_state(loss, sample_weight=batch)
            return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

        def gradient_norms(self) -> list[float]:
            """Per Dense layer (input side first), the mean kernel-gradient L2 norm over the training
            batches since the model was built or ``reset_gradient_norms`` ran; ``[]`` before any batch."""
            batches = float(self._norm_batches.numpy())
            if batches == 0:
                return []
            return [float(v) / batches for v in self._norm_sums.numpy()]

        def reset_gradient_norms(self) -> None:
            self._norm_sums.assign(tf.zeros_like(self._norm_sums))
            self._norm_batches.assign(0.0)

        def trial_attrs_after_epoch(self, step: int) -> dict[str, Any]:
            """After epoch 1: ``{gradient_norms: [...]}`` (3 significant digits), then resets the sums
            (a later fit starting from epoch 0 measures afresh); ``{}`` after any other epoch."""
            if step != 1:
                return {}
            norms = self.gradient_norms()
            self.reset_gradient_norms()
            if not norms:
                return {}
            return {record.GRADIENT_NORMS: [record.json_float(v, GRADIENT_NORM_DIGITS) for v in norms]}

    GradientNormModel.__qualname__ = "GradientNormModel"
    lecun_tanh.__qualname__ = "lecun_tanh"
    return GradientNormModel, lecun_tanh
