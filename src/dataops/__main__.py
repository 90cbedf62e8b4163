"""`python -m dataops` = the `dataops` command."""

from dataops.cli import main

main()
