"""Finding a user's object from a reference, and saying clearly when the user's own code fails.

A reference names an object as ``path/to/file.py[:name]`` (a file, imported under a private module
name) or ``package.module:name`` (imported as usual). ``UserCodeError`` turns an exception raised
inside user code into one line that names the user's file and line, not hpsearch's traceback.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SpaceReferenceError(Exception):
    """A reference cannot be resolved; the message says what was tried."""


class UserCodeError(Exception):
    """An exception raised inside a user's space or hypermodel, as one line naming the user's file."""


@dataclass(frozen=True)
class Reference:
    """``module`` is a dotted name or a file path (``is_file``); ``attribute`` may be empty."""

    module: str
    attribute: str
    is_file: bool

    @classmethod
    def parse(cls, text: str) -> Reference:
        module, _, attribute = text.rpartition(":") if _has_attribute(text) else (text, "", "")
        is_file = module.endswith(".py") or "/" in module or "\\" in module
        if is_file:
            module = str(Path(module).expanduser().resolve())
        return cls(module, attribute, is_file)

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}" if self.attribute else self.module

    @property
    def label(self) -> str:
        """A short name for messages: ``my_space.py:build_model`` (a file without its folder)."""
        module = Path(self.module).name if self.is_file else self.module
        return f"{module}:{self.attribute}" if self.attribute else module

    @property
    def path(self) -> Path | None:
        """The user's file: the given one, or the module's source file."""
        if self.is_file:
            return Path(self.module)
        spec = importlib.util.find_spec(self.module)
        return Path(spec.origin) if spec is not None and spec.origin and spec.origin.endswith(".py") else None


def _has_attribute(text: str) -> bool:
    """Whether ``text`` ends in ``:name`` (a Windows drive letter ``C:`` is not one)."""
    head, sep, tail = text.rpartition(":")
    return bool(sep) and bool(tail) and "/" not in tail and "\\" not in tail and len(head) > 1


def looks_like_reference(text: str) -> bool:
    """Whether a space argument names user code (a file or ``module:name``) rather than a built-in name."""
    return text.endswith(".py") or ":" in text or "/" in text or "\\" in text


def import_module(reference: Reference) -> Any:
    """The module ``reference`` names; ``SpaceReferenceError`` if it is missing, ``UserCodeError`` if it fails."""
    if reference.is_file:
        path = Path(reference.module)
        if not path.is_file():
            raise SpaceReferenceError(f"Space file not found: {path}.")
        # Named by path and content: a file edited since it was imported is imported afresh.
        name = "hpsearch_user_" + hashlib.sha1(str(path).encode() + path.read_bytes()).hexdigest()[:12]
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SpaceReferenceError(f"Cannot import {path}: not a Python file.")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))  # the file's own imports of its neighbours work
        try:
            spec.loader.exec_module(module)
        except BaseException as error:
            sys.modules.pop(name, None)
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            raise user_code_error(error, f"importing {path.name}") from None
        finally:
            sys.path.remove(str(path.parent))
        return module
    try:
        return importlib.import_module(reference.module)
    except ModuleNotFoundError as error:
        if error.name and reference.module.startswith(error.name):
            raise SpaceReferenceError(
                f"No module named '{reference.module}': give a file (path/to/space.py[:name]) or an importable "
                f"module (package.module:name)."
            ) from None
        raise user_code_error(error, f"importing {reference.module}") from None
    except Exception as error:  # noqa: BLE001 - the user's module failed while importing
        raise user_code_error(error, f"importing {reference.module}") from None


def resolve(reference: Reference) -> Any:
    """The object ``reference`` names (its module when it names no attribute)."""
    module = import_module(reference)
    if not reference.attribute:
        return module
    try:
        return getattr(module, reference.attribute)
    except AttributeError:
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise SpaceReferenceError(
            f"{reference.module} has no '{reference.attribute}'. It defines: {', '.join(public) or 'nothing'}."
        ) from None


def file_digest(path: Path | None) -> str | None:
    """SHA-256 of a file's bytes (``None`` without a file)."""
    if path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


HPSEARCH_ROOT = Path(__file__).resolve().parent.parent


def user_code_error(error: BaseException, doing: str) -> UserCodeError:
    """``error`` as one line: ``file.py:LINE in function: Type: message (while doing)``.

    The frame named is the innermost one in the user's code: not in hpsearch, the standard library,
    or an installed package, else the innermost of all.
    """
    frames = traceback.extract_tb(error.__traceback__)
    user = [f for f in frames if _is_user_frame(f.filename)]
    frame = user[-1] if user else (frames[-1] if frames else None)
    if isinstance(error, SyntaxError) and error.filename:
        where = f"{Path(error.filename).name}:{error.lineno}: "
    else:
        where = f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}: " if frame is not None else ""
    message = " ".join(str(error).split()) or "no message"
    if len(message) > 300:
        message = message[:297] + "..."
    return UserCodeError(f"{where}{type(error).__name__}: {message} (while {doing}).")


def _is_user_frame(filename: str) -> bool:
    path = Path(filename)
    if "site-packages" in path.parts or "dist-packages" in path.parts or filename.startswith("<"):
        return False
    try:
        path.resolve().relative_to(HPSEARCH_ROOT)
        return "tests" in path.parts  # hpsearch's own tests hold user-style spaces
    except ValueError:
        pass
    return not path.resolve().is_relative_to(Path(traceback.__file__).resolve().parent)
