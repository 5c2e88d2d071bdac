"""`python -m quanzu`: the `quanzu` command (how `quanzu serve` starts its writer)."""

from quanzu.cli import main

main()
