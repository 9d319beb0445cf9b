"""`hpsearch dashboard` serves optuna-dashboard: its real HTTP API lists the study and its curves."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

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


def test_dashboard_shows_the_study_with_per_epoch_values(sqlite_url):
    result = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "hyperband", "--storage", sqlite_url,
                                      "--study", "watched", "--max-epochs", "3", "-q"])
    assert result.exit_code == 0, result.output
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()", "dashboard",
         "--storage", sqlite_url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        studies = get_json(f"{base}/api/studies", time.monotonic() + 90)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["watched"]
        detail = get_json(f"{base}/api/studies/{studies[0]['study_id']}?after=0", time.monotonic() + 30)
        curves = [t["intermediate_values"] for t in detail["trials"]]
        assert len(curves) > 1 and all(curves)
        assert all(0.0 <= point["value"] <= 1.0 for curve in curves for point in curve)
        # Each trial's best weights are served from the artifact store.
        trial = detail["trials"][0]
        artifact = trial["artifacts"][0]
        with urllib.request.urlopen(
            f"{base}/artifacts/{studies[0]['study_id']}/{trial['trial_id']}/{artifact['artifact_id']}", timeout=10
        ) as response:
            served = response.read()
        local = optuna.load_study(study_name="watched", storage=sqlite_url).trials[trial["number"]]
        assert record.artifact_ids(local) == [artifact["artifact_id"]]
        assert served[:8] == b"\x89HDF\r\n\x1a\n"  # a Keras .weights.h5 file
    finally:
        server.terminate()
        server.wait(timeout=30)
