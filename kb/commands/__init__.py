"""The ``kb`` command's commands, one module per group; ``kb.cli`` assembles them into the
click group ``kb.cli:cli``."""
