"""``python -m restorekit`` (also what ``torchrun -m restorekit train …`` runs)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
