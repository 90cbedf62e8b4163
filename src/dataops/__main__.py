"""`python -m dataops` = the `dataops` command."""

from dataops.cli import app

app()
