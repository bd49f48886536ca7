"""User-facing errors: the CLI turns them into one line on stderr and exit code 2."""


class UserError(Exception):
    """Bad input from the user (arguments, files, config): the message says what is wrong and the fix."""
