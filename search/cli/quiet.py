"""Keep the libraries' start-up chatter off the user's screen; ``hpsearch -v`` shows it.

TensorFlow 2.21 writes its C++ start-up lines (absl's "All log messages before absl::InitializeLog()",
oneDNN, "Could not find cuda drivers") straight to file descriptor 2 while it is imported, whatever
``TF_CPP_MIN_LOG_LEVEL`` says. Without ``-v`` the first import of ``tensorflow`` (by whichever module
imports it: keras, keras_tuner, a user's space) runs with descriptor 2 pointed at a temporary file, and
what was written there is logged at debug level on the ``hpsearch.noise`` logger. Python warnings from
those libraries and Optuna's ExperimentalWarnings are logged at debug level too.

``-v`` (or ``HPSEARCH_VERBOSE=1``, which a restarted process inherits) leaves all of it on stderr and
logs hpsearch's own debug lines.
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import tempfile
import warnings
from types import ModuleType

VERBOSE_ENV = "HPSEARCH_VERBOSE"
NOISE_LOGGER = "hpsearch.noise"
# Modules whose Python warnings are library chatter to a user of the CLI.
NOISY_MODULES = r"(tensorflow|keras|keras_tuner|absl|optuna|optuna_dashboard|google|h5py|tf_keras)(\.|$)"
_log = logging.getLogger(NOISE_LOGGER)


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def configure(verbose: bool) -> None:
    """Set up this process's logging and warnings; quiet unless ``verbose``. Idempotent."""
    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # a restarted process (search.memory) stays verbose
    verbose = verbose or is_verbose()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    hpsearch_logger = logging.getLogger("hpsearch")
    if not any(getattr(h, "_hpsearch", False) for h in hpsearch_logger.handlers):
        handler._hpsearch = True  # type: ignore[attr-defined]
        hpsearch_logger.addHandler(handler)
        hpsearch_logger.propagate = False
    hpsearch_logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TensorFlow's C++ lines too
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=NOISY_MODULES)
    warnings.filterwarnings("ignore", message=".*is experimental \\(supported from v")  # Optuna's
    install_quiet_import()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, then imports it with descriptor 2 captured (once)."""

    def find_spec(self, fullname: str, path, target=None):  # noqa: ANN001 (importlib's signature)
        if fullname != "tensorflow":
            return None
        remove_quiet_import()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _CapturingLoader(spec.loader)
        return spec


class _CapturingLoader(importlib.abc.Loader):
    """Runs the real loader with descriptor 2 redirected; hands the module back to the real loader."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def __getattr__(self, name: str):  # get_resource_reader, is_package...: the real loader's
        return getattr(self.loader, name)

    def create_module(self, spec):  # noqa: ANN001
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            with captured_stderr_fd() as text:
                self.loader.exec_module(module)
        finally:  # the module names the real loader from here on
            module.__loader__ = self.loader
            if getattr(module, "__spec__", None) is not None:
                module.__spec__.loader = self.loader
        if text.value.strip():
            _log.debug("while importing tensorflow:\n%s", text.value.rstrip())


class _Captured:
    value = ""


class captured_stderr_fd:
    """``with captured_stderr_fd() as out:`` descriptor 2 (C++ and Python writes alike) goes to a
    temporary file; ``out.value`` holds it afterwards. On an exception it is written back to stderr."""

    def __enter__(self) -> _Captured:
        self.out = _Captured()
        try:
            sys.stderr.flush()
            self.saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no descriptor 2 (an embedded interpreter)
            self.saved = None
            return self.out
        self.file = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self.file.fileno(), 2)
        return self.out

    def __exit__(self, kind, error, traceback) -> None:  # noqa: ANN001
        if self.saved is None:
            return
        try:
            sys.stderr.flush()
        except ValueError:
            pass
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.out.value = self.file.read().decode("utf-8", "replace")
        self.file.close()
        failed = kind is not None and not issubclass(kind, KeyboardInterrupt)  # Ctrl-C during the import: noise
        if failed and self.out.value.strip():  # the import failed: its output may say why
            sys.stderr.write(self.out.value)


_finder = _QuietTensorFlowFinder()


def install_quiet_import() -> None:
    """Capture what the first ``import tensorflow`` writes (nothing to do once it is imported)."""
    if "tensorflow" not in sys.modules and _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)


def remove_quiet_import() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
