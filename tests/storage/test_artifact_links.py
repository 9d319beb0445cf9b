"""Uploaded weights are hard links to the checkpoint file, not a second copy."""
from __future__ import annotations

import os

import optuna
from optuna.artifacts import download_artifact, upload_artifact

from hpsearch.storage.artifacts import optuna_artifact_store


def test_an_uploaded_file_is_a_link_to_the_checkpoint_and_downloads_unchanged(tmp_path):
    source = tmp_path / "best.weights.h5"
    source.write_bytes(b"weights" * 1000)
    store = optuna_artifact_store(tmp_path / "artifacts")
    study = optuna.create_study()
    trial = study.ask()
    artifact_id = upload_artifact(artifact_store=store, file_path=str(source), study_or_trial=trial)
    stored = tmp_path / "artifacts" / "optuna-artifacts" / artifact_id
    assert os.stat(stored).st_ino == os.stat(source).st_ino and os.stat(source).st_nlink == 2
    # A checkpoint written again goes to a new file, renamed over the old one: the upload keeps its bytes.
    partial = tmp_path / "partial"
    partial.write_bytes(b"newer")
    os.replace(partial, source)
    download_artifact(artifact_store=store, artifact_id=artifact_id, file_path=str(tmp_path / "back"))
    assert (tmp_path / "back").read_bytes() == b"weights" * 1000
