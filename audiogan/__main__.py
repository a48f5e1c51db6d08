"""``python -m audiogan`` (also ``torchrun ... -m audiogan train ...``)."""

from audiogan.cli import main

main()
