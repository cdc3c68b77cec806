"""The one error type a user sees: the CLI prints its message as one line and exits 2."""


class UserError(Exception):
    """Bad input from the user (config, data, paths, run dir). The message names the
    file/field and the fix; no traceback is shown for it."""
