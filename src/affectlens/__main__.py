"""``python -m affectlens`` runs the command line, as the ``affectlens`` script does."""

from .cli import console

raise SystemExit(console())
