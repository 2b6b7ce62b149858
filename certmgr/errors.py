"""Errors every layer may raise and only the command line catches.

It must not grow: a problem specific to one layer belongs in that layer's own module.
"""


class UsageError(Exception):
    """A problem with the user's input (a flag, a kubeconfig): printed as one line, exit 2."""
