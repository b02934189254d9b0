"""`python -m cli` runs the `recip` command."""

from .main import main

main()
