"""`hpsearch dashboard` serves optuna-dashboard: its real HTTP API lists the study and its curves, and
serves each study's weights, read-only, from the folder the study was started with."""
from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import optuna

from click.testing import CliRunner

from hpsearch.search.cli.main import cli
from hpsearch.storage import record


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Dashboard:
    """``hpsearch dashboard`` in a subprocess: its address, and all it printed once stopped."""

    def __init__(self, *args: str) -> None:
        self.base = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()", "dashboard",
             "--port", self.base.rpartition(":")[2], *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def wait_until_up(self, seconds: float = 90) -> None:
        """Until the server answers (its start-up imports Optuna and reads the storage: seconds under load)."""
        deadline = time.monotonic() + seconds
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"hpsearch dashboard exited with {self.process.returncode}: {self.stop()}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/studies", timeout=5):
                    return
            except urllib.error.HTTPError:
                return  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def stop(self) -> list[str]:
        if self.process.poll() is None:
            self.process.terminate()
        output, _ = self.process.communicate(timeout=30)
        print(f"hpsearch dashboard at {self.base} printed:\n{output}")  # shown by pytest if the test fails
        return output.splitlines()


@contextmanager
def dashboards(*argument_lists: list[str]):
    """Start one dashboard per argument list at once (their start-ups overlap), stop them all at the end."""
    started = [Dashboard(*args) for args in argument_lists]
    try:
        for dashboard in started:
            dashboard.wait_until_up()
        yield started
    finally:
        for dashboard in started:
            dashboard.stop()


def test_dashboard_shows_the_study_with_per_epoch_values(sqlite_url):
    result = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "hyperband", "--storage", sqlite_url,
                                      "--study", "watched", "--max-epochs", "3", "-q"])
    assert result.exit_code == 0, result.output
    server = Dashboard("--storage", sqlite_url)
    try:
        base = server.base
        studies = get_json(f"{base}/api/studies", time.monotonic() + 90)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["watched"]
        detail = get_json(f"{base}/api/studies/{studies[0]['study_id']}?after=0", time.monotonic() + 30)
        curves = [t["intermediate_values"] for t in detail["trials"]]
        assert len(curves) > 1 and all(curves)
        assert all(0.0 <= point["value"] <= 1.0 for curve in curves for point in curve)
        # Each trial's best weights are served from the artifact store.
        trial = next(t for t in detail["trials"] if t["artifacts"])
        artifact = trial["artifacts"][0]
        with urllib.request.urlopen(
            f"{base}/artifacts/{studies[0]['study_id']}/{trial['trial_id']}/{artifact['artifact_id']}", timeout=10
        ) as response:
            served = response.read()
        local = optuna.load_study(study_name="watched", storage=sqlite_url).trials[trial["number"]]
        assert record.artifact_ids(local) == [artifact["artifact_id"]]
        assert served[:8] == b"\x89HDF\r\n\x1a\n"  # a Keras .weights.h5 file
    finally:
        output = server.stop()
    # Its one line: no web server banner, no line per request.
    assert output == [f"optuna-dashboard for {sqlite_url} on {base}/ (artifacts read-only; Ctrl-C to stop)"]


def request(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, bytes]:
    """``(status, body)`` of one request, error statuses included."""
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(sent, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def weighted_trial(base: str, study_id: int) -> tuple[dict, str]:
    """A trial of the study with a linked artifact (its best weights), and that artifact's download URL."""
    detail = get_json(f"{base}/api/studies/{study_id}?after=0", time.monotonic() + 90)
    trial = next(t for t in detail["trials"] if t["artifacts"])
    return trial, f"{base}/artifacts/{study_id}/{trial['trial_id']}/{trial['artifacts'][0]['artifact_id']}"


UPLOAD = {"file": "data:text/plain;base64," + base64.b64encode(b"uploaded through the dashboard").decode(),
          "filename": "note.txt"}


def test_each_study_weights_come_from_its_own_folder_read_only_unless_allowed(sqlite_url, tmp_path):
    elsewhere, first, second = tmp_path / "elsewhere", tmp_path / "first", tmp_path / "second"
    for name, folder in (("kept", elsewhere), ("moved", first)):
        result = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "random", "--trials", "2",
                                          "--max-epochs", "1", "--train-samples", "300", "--storage", sqlite_url,
                                          "--study", name, "--artifacts", str(folder), "-q"])
        assert result.exit_code == 0, result.output
    shutil.move(first, second)  # "moved": its artifacts folder is no longer where the study says
    kept = optuna.load_study(study_name="kept", storage=sqlite_url)
    running = kept.ask()  # uploads are for running trials (and for the study itself)
    ids = {s.study_name: s._study_id for s in optuna.get_all_study_summaries(sqlite_url, include_best_trial=False)}
    store = elsewhere / "optuna-artifacts"
    stored_files = sorted(p.name for p in store.iterdir())
    url_line = f"optuna-dashboard for {sqlite_url} on {{base}}/ (artifacts {{access}}; Ctrl-C to stop)"
    missing_line = (f"study moved: artifacts folder {first.resolve() / 'optuna-artifacts'} not found: its weights "
                    f"will not be shown (moved? pass --artifacts DIR)")

    with dashboards(["--storage", sqlite_url], ["--storage", sqlite_url, "--allow-upload"],
                    ["--storage", sqlite_url, "--artifacts", str(second)]) as (read_only, writable, overridden):
        # Read-only, no --artifacts: "kept"'s weights are served from the folder it was started with.
        _, download = weighted_trial(read_only.base, ids["kept"])
        status, served = request(download)
        assert status == 200 and served[:8] == b"\x89HDF\r\n\x1a\n", (status, served[:200])  # Keras .weights.h5
        # Uploads (to a running trial, to the study) and deletions are refused, and nothing is written.
        status, answer = request(f"{read_only.base}/api/artifacts/{ids['kept']}/{running._trial_id}", "POST", UPLOAD)
        assert status == 403 and "--allow-upload" in json.loads(answer)["reason"], (status, answer)
        assert request(f"{read_only.base}/api/artifacts/{ids['kept']}", "POST", UPLOAD)[0] == 403
        assert request(download.replace("/artifacts/", "/api/artifacts/"), "DELETE")[0] == 403
        assert sorted(p.name for p in store.iterdir()) == stored_files
        assert request(download)[0] == 200
        assert not record.artifact_ids(kept.trials[running.number])
        # "moved"'s folder is gone: its weights are not found, the rest of the dashboard answers.
        _, moved_download = weighted_trial(read_only.base, ids["moved"])
        assert request(moved_download)[0] == 404
        assert request(f"{read_only.base}/api/studies/{ids['moved']}?after=0")[0] == 200

        # --allow-upload: the upload lands in the study's own folder, linked to the trial; deleting it works.
        status, answer = request(f"{writable.base}/api/artifacts/{ids['kept']}/{running._trial_id}", "POST", UPLOAD)
        assert status == 201, (status, answer)
        uploaded = json.loads(answer)["artifact_id"]
        assert (store / uploaded).read_bytes() == b"uploaded through the dashboard"
        assert record.artifact_ids(kept.trials[running.number]) == [uploaded]
        status, _ = request(f"{writable.base}/api/artifacts/{ids['kept']}/{running._trial_id}/{uploaded}", "DELETE")
        assert status == 204 and not (store / uploaded).exists()

        # --artifacts DIR where "moved"'s folder went: its weights are served again ("kept"'s too).
        _, moved_download = weighted_trial(overridden.base, ids["moved"])
        assert request(moved_download)[0] == 200
        assert request(download.replace(read_only.base, overridden.base))[0] == 200

    # One line with the address, one per missing folder: no web server banner, no line per request.
    assert read_only.stop() == [missing_line, url_line.format(base=read_only.base, access="read-only")]
    assert writable.stop() == [missing_line, url_line.format(base=writable.base,
                                                             access="uploads and deletions allowed")]
    assert overridden.stop() == [url_line.format(base=overridden.base, access="read-only")]
