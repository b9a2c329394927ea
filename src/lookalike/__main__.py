"""``python -m lookalike`` (also what ``torchrun -m lookalike train`` runs)."""

from lookalike.cli import main

main()
