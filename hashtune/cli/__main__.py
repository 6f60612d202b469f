"""`python -m hashtune.cli` runs the command line."""

from hashtune.cli.commands import app

app()
