"""click/typer plumbing shared by every subcommand: one-line usage errors, and the ``--``
that starts exec mode's command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import typer
import typer.core
from typer._click.core import Command as ClickCommand  # typer vendors click; no public alias
from typer._click.core import Context as ClickContext

from ._report import EXIT_OK, error_line

__all__ = ["DoctorCommand", "SinkCommand", "UploadsGroup"]


def _main_one_line_errors(call: Callable[[], Any], *, standalone: bool, help_hint: str) -> Any:
    """Run a click main in non-standalone mode; print usage errors as one line."""
    try:
        result = call()
    except typer.TyperException as exc:  # click's UsageError and friends
        error_line(f"{exc.format_message()} (see '{help_hint} --help')")
        result = exc.exit_code
    code = result if isinstance(result, int) else EXIT_OK
    if standalone:
        sys.exit(code)
    return code


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
        return super().parse_args(ctx, args)

    def collect_usage_pieces(self, ctx: ClickContext) -> list[str]:
        return [*super().collect_usage_pieces(ctx), "[-- COMMAND [ARG...]]"]


class UploadsGroup(_OneLineErrors, typer.core.TyperGroup):
    """``s3sink uploads``: the same one-line errors as the sink command."""

    help_hint = "s3sink uploads"


class DoctorCommand(_OneLineErrors, typer.core.TyperCommand):
    """``s3sink doctor``: the same one-line usage errors."""

    help_hint = "s3sink doctor"
