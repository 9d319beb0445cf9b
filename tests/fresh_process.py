"""Run CLI invocations in a fresh interpreter and report which heavy modules they imported."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

HEAVY_MODULES = ("tensorflow", "keras")


def heavy_modules_loaded(invocations: Sequence[Sequence[str]], exit_codes: Sequence[int] = (0, 1),
                         output_prefix: str = "") -> list[str]:
    """Invoke ``hpsearch ARGS`` for each of ``invocations`` in one new Python process (click's runner).

    Each must exit with one of ``exit_codes`` and print output starting with ``output_prefix``; the
    answer is which of ``HEAVY_MODULES`` that process had imported by the end.
    """
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from hpsearch.search.cli.main import cli\n"
        f"for args in {[list(args) for args in invocations]!r}:\n"
        "    result = CliRunner().invoke(cli, args)\n"
        f"    assert result.exit_code in {tuple(exit_codes)!r}, (args, result.exit_code, result.output)\n"
        f"    assert result.output.startswith({output_prefix!r}), (args, result.output)\n"
        f"print('loaded:', ','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("loaded:"), run.stdout
    return [name for name in last.removeprefix("loaded:").strip().split(",") if name]
