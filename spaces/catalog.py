"""The built-in search spaces, looked up by name."""
from __future__ import annotations

from hpsearch.spaces import deep_mlp
from hpsearch.spaces.params import Boolean, Choice, Float, Int, Param
from hpsearch.spaces.space import Budget, Space, when_at_least

BUILDERS = "hpsearch.spaces.builders"


def _cnn_params(max_blocks: int, filters_high: int) -> list[Param]:
    """Conv blocks then dense layers. The default configuration is the textbook Keras MNIST convnet
    (conv 32 and 64 with max pooling, dropout 0.5, Adam, batch 128) with a 128-unit dense layer before
    the classifier and Adam at 2e-3 decayed along a cosine to 0 over the trial's epochs: on MNIST it
    reaches the textbook's accuracy in half the epochs (measured: 99.26% against 98.99% after 8)."""
    conv_blocks = Int("conv_blocks", 1, max_blocks, default=2)
    params: list[Param] = [conv_blocks]
    for block in range(1, max_blocks + 1):
        condition = None if block == 1 else when_at_least(conv_blocks, block)
        params.append(Int(f"filters_{block}", 16, filters_high, step=16, condition=condition,
                          default=min(32 * 2 ** min(block - 1, 1), filters_high)))
        params.append(Choice(f"pooling_{block}", ("max", "avg", "none"), condition=condition))
    params += [
        Choice("kernel_size", (3, 5)),
        Boolean("batch_norm"),
        Choice("activation", ("relu", "leaky_relu", "tanh")),
    ]
    return params + _dense_params(0, 2, ("relu", "leaky_relu", "tanh"), with_activation=False, dropout=0.5,
                                  learning_rate=2e-3, default_depth=1)


def _dense_params(
    min_depth: int, max_depth: int, activations: tuple[str, ...], with_activation: bool = True,
    dropout: float = 0.2, learning_rate: float = 1e-3, default_depth: int | None = None,
) -> list[Param]:
    """Dense layers. The default configuration: 128 units a layer, relu, ``dropout``, Adam at
    ``learning_rate`` with a cosine decay, batch 128, with ``default_depth`` layers (an MLP: 2 within
    the range)."""
    if default_depth is None:
        default_depth = min(max(min_depth, 2), max_depth)
    dense_layers = Int("dense_layers", min_depth, max_depth, default=default_depth)
    params: list[Param] = [dense_layers]
    for index in range(1, max_depth + 1):
        condition = None if index <= min_depth else when_at_least(dense_layers, index)
        params.append(Int(f"units_{index}", 32, 512, step=32, condition=condition, default=128))
    if with_activation:
        params += [Choice("activation", activations), Boolean("batch_norm")]
    return params + [
        Float("dropout", 0.0, 0.5, step=0.1, default=dropout),
        Float("learning_rate", 1e-4, 1e-2, log=True, default=learning_rate),
        Choice("lr_schedule", ("cosine", "constant")),
        Choice("batch_size", (32, 64, 128), default=128),
    ]


MLP_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")

SPACES: dict[str, Space] = {
    space.name: space
    for space in (
        Space(
            name="mnist_cnn",
            description="Convolutional network on MNIST (50k train / 10k validation).",
            params=tuple(_cnn_params(3, 128)),
            builder=f"{BUILDERS}:build_cnn",
            dataset="mnist",
            budget=Budget(trials=12, max_epochs=4, timeout=840, epoch_timeout=60, compare_epochs=16,
                          compare_timeout=450, fit_max_epochs=(3, 27)),
        ),
        Space(
            name="mnist_mlp",
            description="Dense network on flattened MNIST (50k train / 10k validation).",
            params=tuple(_dense_params(1, 5, MLP_ACTIVATIONS)),
            builder=f"{BUILDERS}:build_mlp",
            dataset="mnist",
            budget=Budget(trials=20, max_epochs=6, timeout=840, epoch_timeout=60, compare_epochs=48,
                          compare_timeout=450),
        ),
        Space(
            name="digits_mlp",
            description="Dense network on scikit-learn's 8x8 digits: seconds per trial, for tests and demos.",
            params=tuple(_dense_params(1, 3, MLP_ACTIVATIONS)),
            builder=f"{BUILDERS}:build_mlp",
            dataset="digits",
            budget=Budget(trials=20, max_epochs=9, compare_epochs=45),
        ),
        Space(
            name="digits_cnn",
            description="Small convolutional network on scikit-learn's 8x8 digits: seconds per trial.",
            params=tuple(_cnn_params(2, 64)),
            builder=f"{BUILDERS}:build_cnn",
            dataset="digits",
            budget=Budget(trials=20, max_epochs=9, compare_epochs=45),
        ),
        Space(
            name="image_cnn",
            description="Convolutional network on your images (--data): input shape and classes from the data.",
            params=tuple(_cnn_params(3, 128)),
            builder=f"{BUILDERS}:build_cnn",
            dataset="",
            budget=Budget(trials=20, max_epochs=10, compare_epochs=60),
        ),
        Space(
            name="image_mlp",
            description="Dense network on your flattened images or features (--data).",
            params=tuple(_dense_params(1, 4, MLP_ACTIVATIONS)),
            builder=f"{BUILDERS}:build_mlp",
            dataset="",
            budget=Budget(trials=20, max_epochs=10, compare_epochs=60),
        ),
        Space(
            name="deep_mlp",
            description="Glorot & Bengio's depth x activation study: plain-SGD dense nets on MNIST, "
            "per-layer gradient norms recorded.",
            params=(Choice("depth", deep_mlp.DEPTHS), Choice("activation", deep_mlp.ACTIVATIONS)),
            builder="hpsearch.spaces.deep_mlp:build_deep_mlp",
            dataset="mnist",
            budget=Budget(trials=12, max_epochs=3, timeout=None, epoch_timeout=None),
        ),
    )
}


class UnknownSpaceError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_space(name: str) -> Space:
    """The built-in space ``name``; ``UnknownSpaceError`` names the valid ones."""
    try:
        return SPACES[name]
    except KeyError:
        raise UnknownSpaceError(
            f"Unknown space '{name}'. Valid spaces are: {', '.join(sorted(SPACES))}."
        ) from None
