"""The command line and what it shows: commands, tables, plots and the progress bar."""

from hashtune.cli.commands import app

__all__ = ["app"]
