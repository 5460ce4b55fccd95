"""The version, kept apart so that `--version` imports nothing else."""

__version__ = "0.3.0"


def version_line() -> str:
    """What `fetchcli --version` prints."""
    return f"fetchcli {__version__}"
