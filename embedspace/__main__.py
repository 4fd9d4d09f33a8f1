"""``python -m embedspace`` runs the command line."""

from embedspace.cli import run

if __name__ == "__main__":
    run()
