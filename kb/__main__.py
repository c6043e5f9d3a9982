"""``python -m kb``: the same as the ``kb`` command."""

from kb.cli import cli

cli(prog_name="kb")
