"""Own data through the CLI: an image folder and an .npz searched by image_cnn / image_mlp, the data's
fingerprint kept with the study (resume refuses changed data), bad data refused before anything is stored,
and a compare of two backends on a user's hypermodel in one report."""
from __future__ import annotations

import json

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from hpsearch.search.cli.main import cli
from hpsearch.spaces.data import clear_cache
from tests.spaces.test_data_sources import image_folder, npz_file, write_png
from tests.spaces.test_hypermodel import KERAS_TUNER_STYLE


@pytest.fixture(autouse=True)
def fresh_data_cache():
    clear_cache()
    yield
    clear_cache()


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result


@pytest.mark.parametrize("backend", ["tpe", "hyperband"])
def test_image_cnn_on_a_folder_of_class_folders(backend, tmp_path, sqlite_url):
    folder = image_folder(tmp_path / "images", per_class=30)
    output = invoke("start", "image_cnn", "--data", str(folder), "-b", backend, "--storage", sqlite_url,
                    "--study", "img", "--trials", "3", "--max-epochs", "2", "--seed", "0", "-q").output
    assert "72 train / 24 validation / 24 test" in output  # 120 images: 0.2 validation, 0.2 test
    study = optuna.load_study(study_name="img", storage=sqlite_url)
    assert len(study.trials) >= 3 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert all(0.0 <= v <= 1.0 for t in study.trials for v in t.intermediate_values.values())
    assert study.trials[0].user_attrs["param_count"] > 0
    data = _meta_data(sqlite_url, "img")
    assert data["spec"]["source"] == str(folder.resolve()) and data["spec"]["val_split"] == 0.2
    assert data["fingerprint"]["classes"] == ["ant", "bee", "cat", "dog"]
    assert data["fingerprint"]["counts"]["train"] == {"ant": 18, "bee": 18, "cat": 18, "dog": 18}


def _meta_data(url: str, name: str) -> dict:
    from hpsearch.storage.studies import open_storage, study_meta

    return study_meta(open_storage(url), name).data


def test_resume_refuses_changed_data_and_says_what_changed(tmp_path, sqlite_url):
    folder = image_folder(tmp_path / "images", per_class=20)
    invoke("start", "image_mlp", "--data", str(folder), "-b", "random", "--storage", sqlite_url, "--study", "d",
           "--trials", "1", "--max-epochs", "1", "-q")
    write_png(folder / "dog" / "extra.png", np.full((32, 32), 200, dtype=np.uint8))
    clear_cache()
    result = invoke("resume", "d", "--storage", sqlite_url, "--trials", "1", code=1)
    assert "The data changed since the study started" in result.output and "dog" in result.output
    assert len(optuna.load_study(study_name="d", storage=sqlite_url).trials) == 1
    (folder / "dog" / "extra.png").unlink()
    clear_cache()
    invoke("resume", "d", "--storage", sqlite_url, "--trials", "1", "-q")
    assert len(optuna.load_study(study_name="d", storage=sqlite_url).trials) == 2


def test_image_mlp_on_an_npz_shows_class_imbalance(tmp_path, sqlite_url):
    path = npz_file(tmp_path / "mine.npz", n=240)
    with np.load(path) as raw:
        keep = np.concatenate([np.flatnonzero(raw["y_train"] != 3), np.flatnonzero(raw["y_train"] == 3)[:10]])
        np.savez(path, x_train=raw["x_train"][keep], y_train=raw["y_train"][keep])
    output = invoke("start", "image_mlp", "--data", str(path), "-b", "optuna-random", "--storage", sqlite_url,
                    "--study", "npz", "--trials", "2", "--max-epochs", "2", "-q").output
    assert "class imbalance in train" in output
    assert len(optuna.load_study(study_name="npz", storage=sqlite_url).trials) == 2


@pytest.mark.parametrize("make, message", [
    (lambda root: image_folder(root / "one", classes=("only",)), "a single class folder"),
    (lambda root: (image_folder(root / "empty"), (root / "empty" / "eel").mkdir())[0], "holds no images"),
    (lambda root: (image_folder(root / "mixed"),
                   write_png(root / "mixed" / "ant" / "big.png", np.zeros((40, 30), np.uint8)))[0],
     "give --image-size HxW"),
    (lambda root: (image_folder(root / "cut"),
                   (root / "cut" / "ant" / "000.png").write_bytes((root / "cut" / "ant" / "000.png").read_bytes()[:60]))[0],
     "truncated or corrupted"),
    (lambda root: (np.savez(root / "nox.npz", images=np.zeros((4, 8, 8))), root / "nox.npz")[1], "lacks x_train"),
    (lambda root: (np.savez(root / "len.npz", x_train=np.zeros((10, 8, 8)), y_train=np.arange(9) % 2),
                   root / "len.npz")[1], "must match"),
    (lambda root: (np.savez(root / "neg.npz", x_train=np.zeros((10, 8, 8)), y_train=np.arange(10) % 3 - 1),
                   root / "neg.npz")[1], "negative label"),
])
def test_bad_data_is_one_line_naming_the_culprit_and_stores_nothing(make, message, tmp_path, sqlite_url):
    source = make(tmp_path)
    result = invoke("start", "image_cnn", "--data", str(source), "-b", "tpe", "--storage", sqlite_url, code=1)
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "studies.db").exists() or not optuna.get_all_study_summaries(sqlite_url)


def test_source_options_on_a_space_with_built_in_data_are_refused(sqlite_url):
    result = invoke("start", "digits_mlp", "--image-size", "8x8", "-b", "tpe", "--storage", sqlite_url, code=1)
    assert "--image-size is for spaces that take --data SOURCE" in result.output


def test_compare_two_backends_on_a_users_hypermodel_in_one_report(tmp_path, sqlite_url):
    space = tmp_path / "my_space.py"
    space.write_text(KERAS_TUNER_STYLE)
    report = tmp_path / "report.json"
    output = invoke("compare", f"{space}:build_model", "--backends", "tpe,hyperband", "--data", "digits",
                    "--budget-epochs", "6", "--max-epochs", "2", "--storage", sqlite_url, "-q",
                    "-o", str(report)).output
    assert "my_space-cmp-" in output
    studies = {s.study_name for s in optuna.get_all_study_summaries(sqlite_url)}
    assert {n.rsplit("-", 2)[1] for n in studies} == {"tpe", "hyperband"}
    content = json.loads(report.read_text())
    assert len(json.dumps(content)) > 100 and "tpe" in json.dumps(content) and "hyperband" in json.dumps(content)


def test_image_mlp_on_tabular_features_and_image_cnn_refusing_them(sqlite_url):
    invoke("start", "image_mlp", "--data", "iris", "-b", "tpe", "--storage", sqlite_url, "--study", "iris",
           "--trials", "2", "--max-epochs", "2", "-q")
    assert all(t.state.name == "COMPLETE" for t in optuna.load_study(study_name="iris", storage=sqlite_url).trials)
    result = invoke("start", "image_cnn", "--data", "iris", "-b", "tpe", "--storage", sqlite_url, "--study", "cnn",
                    "--trials", "6", "--max-epochs", "1", "-q", code=1)
    assert "needs images (height, width, channels)" in result.output and "image_mlp" in result.output
