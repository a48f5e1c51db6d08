"""``python -m audiogan`` (also ``torchrun ... -m audiogan train ...``)."""

from audiogan.cli.main import main

main()
