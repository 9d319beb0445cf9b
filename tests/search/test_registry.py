"""A third-party package adds a backend through the ``hpsearch.backends`` entry-point group."""
from __future__ import annotations

import re

import textwrap

from click.testing import CliRunner

from hpsearch.search.backends import backend_names, get_backend
from hpsearch.search.cli.main import cli

PLUGIN = '''
from hpsearch.search.backends import Backend, Proposal, Setting
from hpsearch.search.backends._optuna_common import create_running_trial


class DefaultsBackend(Backend):
    """Proposes the space's default values, `repeats` times."""

    name = "defaults"
    family = "third-party"
    algorithm = "space defaults, for testing plugins"
    settings_spec = (Setting("repeats", int, 2, "How many trials.", minimum=1),)

    def ask(self):
        if len(self.study.trials) >= self.settings["repeats"]:
            return None
        params = self.space.default_values()
        number, trial_id = create_running_trial(self.study, {p.name: p for p in self.space.params}, params, {"backend_trial_id": "d"})
        return Proposal(number, trial_id, params, epochs=self.context.max_epochs)

    def tell(self, proposal, outcome):
        pass
'''


def install_plugin(tmp_path, monkeypatch):
    (tmp_path / "hp_plugin.py").write_text(textwrap.dedent(PLUGIN))
    dist = tmp_path / "hp_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hp-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hpsearch.backends]\ndefaults = hp_plugin:DefaultsBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))


def test_an_installed_plugin_backend_is_listed_and_runs(tmp_path, monkeypatch, sqlite_url):
    install_plugin(tmp_path, monkeypatch)
    assert "defaults" in backend_names()
    assert get_backend("defaults").family == "third-party"
    runner = CliRunner()
    listing = runner.invoke(cli, ["backends"])
    assert re.search(r"^defaults\s+third-party\s+", listing.output, re.M), listing.output
    result = runner.invoke(cli, ["start", "digits_mlp", "--backend", "defaults", "--storage", sqlite_url,
                                 "--study", "p", "--max-epochs", "1", "-o", "repeats=2", "-q"])
    assert result.exit_code == 0, result.output
    assert "Stopped: the backend has no more configurations to propose. 2 trials" in result.output
