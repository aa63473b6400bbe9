"""The ``billcycle`` command line (Typer + Rich)."""
