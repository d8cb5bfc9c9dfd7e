"""Argument types shared by the commands' parsers (argparse turns their errors into a usage
message and exit status 2)."""
from __future__ import annotations

import argparse

# RDKit takes 32-bit seeds (and -1 means "random"); the commands derive seed + 1 and refill rounds
# of seed + r * 1,000,003 from the user's seed, so the range leaves room for those.
MAX_SEED = 2**31 - 2**24


def seed(text: str) -> int:
    """A random seed: an integer in [0, MAX_SEED]."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is between 0 and {MAX_SEED:,}, got {value}")
    return value
