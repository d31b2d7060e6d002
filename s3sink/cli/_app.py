"""click/typer plumbing shared by every subcommand: one-line usage errors, and the ``--``
that starts exec mode's command."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
import typer.core
from typer._click.core import Command as ClickCommand  # typer vendors click; no public alias
from typer._click.core import Context as ClickContext
from typer._click.core import ParameterSource
from typer._click.exceptions import UsageError as ClickUsageError

from ._report import EXIT_OK, error_line

__all__ = ["CatCommand", "DoctorCommand", "MountCommand", "SinkCommand", "UploadsGroup"]


def _main_one_line_errors(call: Callable[[], Any], *, standalone: bool, help_hint: str) -> Any:
    """Run a click main in non-standalone mode; print usage errors as one line."""
    try:
        result = call()
    except typer.TyperException as exc:  # click's UsageError and friends
        if isinstance(exc, _CommandHint):
            error_line(exc.format_message())
            sys.stderr.write(f"  {exc.command}\n")  # alone on its line: copy and paste it
        else:
            error_line(f"{_message(exc)} (see '{help_hint} --help')")
        result = exc.exit_code
    code = result if isinstance(result, int) else EXIT_OK
    if standalone:
        sys.exit(code)
    return code


def _message(exc: typer.TyperException) -> str:
    """click's message, without its "(env var: 'S3SINK_X')" unless the value came from that
    variable: naming a variable the user never set sends them looking in the wrong place."""
    text = exc.format_message()
    param, ctx = getattr(exc, "param", None), getattr(exc, "ctx", None)
    envvar = getattr(param, "envvar", None)
    name = getattr(param, "name", None)
    from_env = (
        isinstance(name, str)
        and ctx is not None
        and ctx.get_parameter_source(name) is ParameterSource.ENVIRONMENT
    )
    if isinstance(envvar, str) and not from_env:
        text = text.replace(f" (env var: '{envvar}')", "")
    return text


class _CommandHint(ClickUsageError):
    """A usage error whose fix is a command line, printed alone below the error."""

    def __init__(self, message: str, command: str) -> None:
        super().__init__(message)
        self.command = command


class _OneLineErrors(ClickCommand):
    """Runs click's main in non-standalone mode so usage errors print as one line."""

    help_hint = "s3sink"

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # The concrete main comes from the typer class after this mixin in the MRO; mypy
        # sees only click's stub of Command.main here, hence the Any.
        parent: Any = super()
        return _main_one_line_errors(
            lambda: parent.main(args, prog_name, complete_var, False, windows_expand_args, **extra),
            standalone=standalone_mode,
            help_hint=self.help_hint,
        )


class SinkCommand(_OneLineErrors, typer.core.TyperCommand):
    """The sink command: everything after the first ``--`` is the exec-mode command,
    kept away from option parsing (``-- tar -czf - DIR`` must not meet ``-c``)."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["s3sink.command"] = args[cut + 1 :]
            args = args[:cut]
        else:
            _refuse_a_command_without_dashes(self, args, prog=self.help_hint)
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: ClickContext) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- COMMAND [ARG...]]"]


class CatCommand(SinkCommand):
    """``s3sink cat``: exec mode's ``--`` as the sink's (its COMMAND reads the object), the
    same one-line usage errors."""

    help_hint = "s3sink cat"


class UploadsGroup(_OneLineErrors, typer.core.TyperGroup):
    """``s3sink uploads``: the same one-line errors as the sink command."""

    help_hint = "s3sink uploads"


class DoctorCommand(_OneLineErrors, typer.core.TyperCommand):
    """``s3sink doctor``: the same one-line usage errors."""

    help_hint = "s3sink doctor"


def _refuse_a_command_without_dashes(command: ClickCommand, args: list[str], *, prog: str) -> None:
    """A second positional argument is a command given without ``--`` (``s3sink s3://b/k
    pg_dump -Fc db``): click would complain about ``-F`` or an extra argument, and neither
    says what to do. Refuse it with the command line that works (``prog`` first)."""
    takes_value = {
        name
        for param in command.params
        if isinstance(param, typer.core.TyperOption) and not param.is_flag and not param.count
        for name in param.opts
    }
    positionals = 0
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-") and arg != "-":
            if arg in takes_value:
                index += 1  # its value follows
        else:
            positionals += 1
            if positionals == 2:
                fixed = shlex.join([*prog.split(), *args[:index], "--", *args[index:]])
                raise _CommandHint(
                    f"unexpected argument {arg!r} after the URI; a command to run goes after '--':",
                    fixed,
                )
        index += 1


class MountCommand(_OneLineErrors, typer.core.TyperCommand):
    """``s3sink mount``: the same one-line usage errors."""

    help_hint = "s3sink mount"
