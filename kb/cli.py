"""The ``kb`` command line: thin adapters over the library, errors mapped to exit codes.

Exit codes: 0 success; 1 a ``KbError`` (bad input, refused query, store problem) or a
failed check; 2 a usage error (click's).
"""

from __future__ import annotations

from collections.abc import Iterator

import click

from kb.commands import analytics, data, query, search, serve, tables, viz

# The commands live in kb.commands, a module per group, added to the group below. A command
# may still be defined here (``@cli.command()``): the shared helpers under their old names.
from kb.commands.common import (  # noqa: F401
    EXPORT_CHOICES,
    FORMAT_OPTION,
    OUTPUT_OPTION,
    RESULT_CHOICES,
    pass_context,
)
from kb.commands.common import Context as _Context
from kb.commands.common import emit as _emit  # noqa: F401
from kb.commands.common import fail_on_kb_error as _fail_on_kb_error
from kb.commands.common import progress as _progress  # noqa: F401
from kb.commands.common import read_text as _read_text  # noqa: F401
from kb.commands.common import show_rows as _show_rows  # noqa: F401
from kb.commands.common import write_page as _write_page  # noqa: F401
from kb.commands.common import writing as _writing  # noqa: F401
from kb.settings import DEFAULT_STORE, Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="medsupply-kb")
@click.option("--store", metavar="LOC", envvar="KB_STORE", show_envvar=True,
              help=f"Folder of the on-disk store (default {DEFAULT_STORE}), 'memory', or the "
                   "http(s):// URL of a SPARQL 1.1 query endpoint.")
@click.option("--update-url", metavar="URL", envvar="KB_UPDATE_URL", show_envvar=True,
              help="SPARQL 1.1 update endpoint of a remote store, where it differs.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST",
              help="Host that SERVICE, LOAD and JSON-LD contexts may reach (repeatable; "
                   "also KB_ALLOW_HOSTS, comma-separated). None by default.")
@click.pass_context
@_fail_on_kb_error
def cli(ctx: click.Context, store: str | None, update_url: str | None,
        allow_hosts: tuple[str, ...]) -> None:
    """medsupply-kb: a knowledge base of the trade in medical supplies during COVID-19.

    \b
        kb load ontology data
        kb query 'SELECT ?c (COUNT(*) AS ?n) WHERE { ?s a ?c } GROUP BY ?c'
        kb serve
    """
    settings = Settings.from_env(store=store, update_url=update_url,
                                 allow_hosts=allow_hosts or None)
    ctx.obj = _Context(settings)


for _module in (data, tables, query, search, analytics, viz, serve):
    for _added in _module.COMMANDS:
        cli.add_command(_added)


def _set_location(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        obj = ctx.find_object(_Context)
        if obj is not None:
            obj.settings = obj.settings.replace(**{str(param.name): value})
    return value


def _leaf_commands(group: click.Group) -> Iterator[click.Command]:
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command)
        else:
            yield command


# `kb load --store X …` as well as `kb --store X load …`: every command takes the store
# options after its name too (they win over those before it and over KB_STORE).
for _command in _leaf_commands(cli):
    _command.params += [
        click.Option(["--store"], metavar="LOC", expose_value=False, callback=_set_location,
                     help="Where the data lives (as `kb --store`; also KB_STORE)."),
        click.Option(["--update-url"], metavar="URL", expose_value=False,
                     callback=_set_location,
                     help="Update endpoint of a remote store (as `kb --update-url`)."),
    ]
