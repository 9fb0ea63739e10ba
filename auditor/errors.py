"""Errors a user can cause and fix: the CLI prints the message as one sentence and exits 2."""


class InputError(Exception):
    """Bad input (snapshot, config, waivers, rules, flags): the message names the file and place."""
