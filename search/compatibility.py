"""Whether a stored study can be resumed by this hpsearch: same major.minor version, same space.

Imports nothing heavy, so ``hpsearch resume`` can tell before TensorFlow is imported.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hpsearch.search.errors import UserError
from hpsearch.spaces.catalog import get_space
from hpsearch.storage.studies import StudyMeta, hpsearch_version


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def check_compatible(meta: StudyMeta) -> str | None:
    """Refuse a study made by another hpsearch major.minor, or whose space has changed since.

    Returns a note to show when a user's space file changed but its parameters did not."""
    current = hpsearch_version()
    if _major_minor(meta.hpsearch_version) != _major_minor(current):
        raise UserError(
            f"The study was created with hpsearch {meta.hpsearch_version}, this is {current}: "
            f"resume it with hpsearch {'.'.join(_major_minor(meta.hpsearch_version))}.x."
        )
    if meta.space.get("source"):
        return _check_user_space(meta)
    try:
        space = get_space(meta.space_name)
    except KeyError:
        return None  # a space no longer built in: the stored definition is complete on its own
    differences = space_differences(meta.space, space.to_dict())
    if differences:
        raise UserError(
            f"Space '{meta.space_name}' changed since the study was created: {'; '.join(differences)}. "
            f"Start a new study to search the new space."
        )
    return None


def _check_user_space(meta: StudyMeta) -> str | None:
    """A user's space file: unchanged (same hash), or changed with the same parameters (a note), or
    changed parameters (refused). A missing file is not checked here: the study keeps its code."""
    from hpsearch.spaces.references import file_digest
    from hpsearch.spaces.space import Objective
    from hpsearch.spaces.user import find_space

    source = meta.space["source"]
    path = Path(source["path"]) if source.get("path") else None
    if path is None or not path.is_file() or file_digest(path) == source.get("sha256"):
        return None
    current = find_space(source["reference"], Objective(**meta.space["objective"]))
    differences = [d for d in space_differences(meta.space, current.to_dict()) if not d.startswith("builder")]
    if differences:
        raise UserError(
            f"Space file {path} changed since the study was created: {'; '.join(differences)}. "
            f"Start a new study to search the new space."
        )
    return f"note: {path.name} changed since the study started (same parameters): trials from now on run the new code."


def space_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two serialized spaces, one phrase per difference."""
    from hpsearch.spaces.params import param_from_dict

    # A parameter's default picks a search's first configuration only: it does not change the space.
    old = {p["name"]: {k: v for k, v in p.items() if k != "default"} for p in stored.get("params", [])}
    new = {p["name"]: {k: v for k, v in p.items() if k != "default"} for p in current.get("params", [])}
    found = [f"parameter {name} removed" for name in old if name not in new]
    found += [f"parameter {name} added" for name in new if name not in old]
    for name in old.keys() & new.keys():
        if old[name] != new[name]:
            found.append(
                f"{name}: {param_from_dict(old[name]).describe_range()} -> {param_from_dict(new[name]).describe_range()}"
            )
    for key in ("builder", "dataset", "objective"):
        if stored.get(key) != current.get(key):
            found.append(f"{key}: {stored.get(key)} -> {current.get(key)}")
    return sorted(found)


__all__ = ["check_compatible", "space_differences"]
