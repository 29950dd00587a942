"""The ``nestor-catalog`` command group: subcommands are imported only when they run.

Core commands come from a table of ``"module:attribute"`` strings, so ``validate`` never
imports the server (Litestar) or jsonschema. Other packages add commands through the
``nestor_catalog.commands`` entry-point group (the server registers ``serve`` and ``sync``);
a core command wins over a plugin of the same name. A command whose module cannot be
imported still shows up, and says why it is unavailable when run, instead of breaking the
whole CLI.

The console script (``_console.console``) runs the group for every argument list it does not
parse itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

import click

from nestor_catalog_core.cli._output import EXIT_USAGE

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["CORE_COMMANDS", "ENTRY_POINT_GROUP", "LazyGroup", "main"]

ENTRY_POINT_GROUP: Final = "nestor_catalog.commands"

CORE_COMMANDS: Final[dict[str, str]] = {
    "validate": "nestor_catalog_core.cli.validate:validate",
    "schema": "nestor_catalog_core.cli.schema:schema",
    "inputs-schema": "nestor_catalog_core.cli.schema:inputs_schema",
    "rules": "nestor_catalog_core.cli.rules:rules",
    "check-compat": "nestor_catalog_core.cli.check_compat:check_compat",
    "diff": "nestor_catalog_core.cli.diff:diff",
    "storage": "nestor_catalog_core.cli.storage:storage",
}


#: The extra that installs the dependencies of a package's commands.
_EXTRAS: Final[dict[str, str]] = {"nestor_catalog_server": "server", "nestor_catalog_client": "client"}


class LazyGroup(click.Group):
    """A click group that resolves core and plugin commands by name on first use."""

    def __init__(self, *args: object, core: dict[str, str] | None = None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._core = dict(CORE_COMMANDS if core is None else core)
        self._loaded: dict[str, click.Command] = {}
        #: The subcommand this group last resolved (the console script reads it).
        self.resolved: str | None = None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._core, *_plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        if cmd_name not in self._loaded:
            loaded = self._load(cmd_name)
            if loaded is None:
                return None
            self._loaded[cmd_name] = loaded
        return self._loaded[cmd_name]

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        self.resolved = name
        return name, command, rest

    def _load(self, name: str) -> click.Command | None:
        target = self._core.get(name)
        plugin = _plugins().get(name) if target is None else None
        if target is None and plugin is None:
            return None
        module = target if target is not None else plugin.value  # type: ignore[union-attr]
        try:
            loaded = _import(target) if target is not None else plugin.load()  # type: ignore[union-attr]
        except ModuleNotFoundError as exc:
            extra = _EXTRAS.get(module.partition(".")[0].partition(":")[0])
            if extra is None:
                return _unavailable(name, f"{type(exc).__name__}: {exc}")
            missing = exc.name or str(exc)
            return _unavailable(
                name,
                f"needs the {extra} extra, {missing} is not installed",
                advice=f"install it with pip install 'nestor-catalog[{extra}]' "
                f"(from a checkout: pip install '.[{extra}]', or make venv for everything)",
            )
        except Exception as exc:  # a broken or missing module must not take the other commands down
            return _unavailable(name, f"{type(exc).__name__}: {exc}")
        if not isinstance(loaded, click.Command):
            return _unavailable(name, f"{target or plugin} is not a click command")
        return loaded


def _import(target: str) -> object:
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _plugins() -> dict[str, EntryPoint]:
    # Imported here: reading every installed distribution's entry points costs a core command
    # (which never needs a plugin) more than the rest of its start-up.
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _unavailable(name: str, reason: str, *, advice: str | None = None) -> click.Command:
    def run() -> None:
        text = f"nestor-catalog {name}: this command is not available in this installation ({reason})"
        click.echo(text + (f"; {advice}" if advice else ""), err=True)
        raise SystemExit(EXIT_USAGE)

    return click.Command(
        name,
        callback=run,
        help=f"(unavailable: {reason})",
        short_help="(unavailable in this installation)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nestor-catalog", prog_name="nestor-catalog")
def main() -> None:
    """nestor-catalog: validate, inspect and serve Nestor ResourceDefinitions."""
