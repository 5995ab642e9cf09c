"""`python -m duelctl ...`: the same command line as the `duelctl` script."""

from duelctl.cli import main

if __name__ == "__main__":
    main()
