"""The READMEs' console examples run, and print what they show.

A ```` ```console ```` block holds commands, lines starting with ``$ `` (a trailing ``\\``
continues one), each followed by what it prints. The blocks of a README run in order, on one
temporary store loaded as ``make serve`` loads it, in a temporary folder holding the project's
``data/`` and ``ontology/``, where ``.venv/bin/kb`` and ``kb`` are the ``kb`` under test. The
commands of one block run in one bash shell (an ``export`` or a job started with ``&`` carries
on; jobs are stopped when the block ends). Port 8000 becomes a free port.

* every command exits with 0, unless what it shows starts with ``Error:``: then it must fail;
* every line shown below a command appears in what it printed (stdout and stderr); ``…``
  stands for any text.

A block preceded by ``<!-- not run: why -->`` is not run (it needs another program, or it runs
until stopped). The README's Development section says the same to its readers.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

READMES = ["README.md", "ontology/README.md", "data/README.md", "bench/README.md"]
#: What the examples may use from the project (linked into the folder they run in).
LINKED = ["data", "ontology", "tests"]

_BLOCK = re.compile(r"(<!--\s*not run:[^>]*-->\s*\n)?```console\n(.*?)```", re.DOTALL)


@dataclass
class Command:
    text: str  # as bash reads it (continuation lines kept)
    shown: list[str] = field(default_factory=list)
    line: int = 0  # in the README

    @property
    def must_fail(self) -> bool:
        return bool(self.shown) and self.shown[0].startswith("Error:")


@dataclass
class Block:
    readme: str
    line: int
    commands: list[Command]
    run: bool


def blocks(readme: str) -> list[Block]:
    """The console blocks of ``readme`` (a path relative to the project), in order."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    found = []
    for m in _BLOCK.finditer(text):
        first = text.count("\n", 0, m.start(2)) + 1
        commands: list[Command] = []
        continued = False
        for n, line in enumerate(m.group(2).splitlines(), first):
            if continued:
                commands[-1].text += "\n" + line
            elif line.startswith("$ "):
                commands.append(Command(line[2:], line=n))
            elif line.strip():
                assert commands, f"{readme}:{n}: output before any command"
                commands[-1].shown.append(line.strip())
            continued = line.endswith("\\")
        found.append(Block(readme, first, commands, run=m.group(1) is None))
    return found


def _matches(shown: str, output: str) -> bool:
    pattern = ".*".join(re.escape(part.strip()) for part in shown.split("…"))
    return re.search(pattern, output) is not None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | Path]:
    """A folder to run the examples in and the environment to run them with, on a store
    loaded as ``make serve`` loads it (the ontology and data/, then the reasoner)."""
    folder = tmp_path_factory.mktemp("readme")
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name)
    bin_dir = folder / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    kb = bin_dir / "kb"
    kb.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kb "$@"\n')
    kb.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KB_")}
    env |= {"KB_STORE": str(folder / "store"), "PATH": f"{bin_dir}:{env.get('PATH', '')}",
            "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
    for step in (["load", "ontology", "data"], ["reason"]):
        subprocess.run([str(kb), *step], cwd=folder, env=env, check=True, capture_output=True)
    return {"folder": folder, "env": env}


def run_block(block: Block, folder: Path, env: dict[str, str]) -> list[str]:
    """Run the block's commands in one shell; the problems found, one sentence each."""
    port = str(free_port())
    out = folder / ".out"
    out.mkdir(exist_ok=True)
    script = ["set +e"]
    for i, command in enumerate(block.commands):
        text = re.sub(r"(?<=[:\s])8000\b", port, command.text)
        script.append(f'{{ {text}\n}} >"{out}/{i}" 2>&1 </dev/null; echo $? >"{out}/{i}.rc"')
    script.append("kill $(jobs -p) 2>/dev/null; wait")
    subprocess.run(["bash", "-c", "\n".join(script)], cwd=folder, env=env, timeout=600)
    problems = []
    for i, command in enumerate(block.commands):
        where = f"{block.readme}:{command.line}: $ {command.text}"
        output = (out / str(i)).read_text(encoding="utf-8", errors="replace")
        code = int((out / f"{i}.rc").read_text())
        if command.must_fail and code == 0:
            problems.append(f"{where}\n  succeeded, but the README shows it failing")
        elif not command.must_fail and code != 0:
            problems.append(f"{where}\n  exit {code}:\n{output[-2000:]}")
        missing = [shown for shown in command.shown if not _matches(shown, output)]
        if missing:
            problems.append(f"{where}\n  does not print: {missing[0]}\n  it printed:\n"
                            f"{output[-2000:]}")
    return problems


@pytest.mark.parametrize("readme", READMES)
def test_readme_examples_run_and_print_what_they_show(readme: str, workspace) -> None:
    problems = []
    for block in blocks(readme):
        if block.run:
            problems += run_block(block, workspace["folder"], workspace["env"])
    assert not problems, "\n\n".join(problems)


def test_readme_examples_are_found_and_marked() -> None:
    """The parser sees what a reader sees: the README's blocks, the commands in them, their
    shown output and the blocks marked as not run."""
    found = blocks("README.md")
    commands = [c for b in found for c in b.commands]
    assert len(found) >= 6 and len(commands) >= 25
    skipped = [c.text for b in found if not b.run for c in b.commands]
    assert any("kb serve" in c for c in skipped) and any("neo4j-admin" in c for c in skipped)
    write = next(c for c in commands if "Authorization: Bearer" in c.text)
    assert "--data 'INSERT DATA" in write.text  # continuation lines are part of the command
    refused = next(c for c in commands if "--validate new.ttl" in c.text)
    assert refused.must_fail and refused.shown[0].startswith("Error: 1 SHACL violation")


def test_commands_named_in_the_readmes_exist() -> None:
    """Every `kb COMMAND [SUBCOMMAND]` a README names in code is a command of the CLI."""
    from click.testing import CliRunner

    from kb.cli import cli

    named = set()
    for readme in READMES:
        text = (ROOT / readme).read_text(encoding="utf-8")
        named |= set(re.findall(r"(?:`|\$ |bin/)kb ([a-z]+(?: [a-z]+)?)", text))
    assert "load" in {n.split()[0] for n in named}
    for name in sorted(named):
        words = name.split()
        group = cli.commands.get(words[0])
        assert group is not None, f"`kb {words[0]}` is named in a README but is no command"
        path = words[:2] if hasattr(group, "commands") and len(words) > 1 else words[:1]
        if hasattr(group, "commands") and len(words) > 1:
            assert words[1] in group.commands, f"`kb {name}` is no command"
        assert CliRunner().invoke(cli, [*path, "--help"]).exit_code == 0, name
