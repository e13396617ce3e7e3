"""python -m singsynth: the command line."""
from .cli import console

console()
