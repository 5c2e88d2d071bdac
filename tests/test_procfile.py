"""The Procfile names only commands and options the `quanzu` command has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from quanzu.cli import app

PROCFILE = Path(__file__).resolve().parent.parent / "Procfile"


def test_every_procfile_process_is_a_quanzu_command_with_known_options() -> None:
    processes = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name] = shlex.split(re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", command))
    assert set(processes) == {"web", "worker", "ingest"}
    for name, argv in processes.items():
        args = argv[argv.index(".venv/bin/quanzu") + 1 :]
        words = [a for a in args if not a.startswith("-")][:2]
        sub = [w for w in words if w in ("serve", "worker", "ingest", "nats")]
        helptext = CliRunner().invoke(app, [*sub, "--help"], terminal_width=200)
        assert helptext.exit_code == 0, (name, helptext.output)
        for option in (a for a in args if a.startswith("--")):
            assert option in helptext.output, (name, option)
    assert "QUANZU_EMBEDDED_WORKER=false" in " ".join(processes["web"])
