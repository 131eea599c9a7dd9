"""`python -m starter.cli …`, the same as the `orders` console script."""

from starter.cli import main

main()
