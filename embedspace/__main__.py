"""``python -m embedspace`` runs the command line."""

from embedspace.cli import main

if __name__ == "__main__":
    main()
