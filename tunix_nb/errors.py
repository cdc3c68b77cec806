"""The one error type a user sees: the CLI prints its message as one line and exits 2."""


class Terminated(BaseException):
    """SIGTERM (Kaggle's session end, `kill`), raised in the main thread so the run is marked failed
    with that reason and can be resumed."""


class UserError(Exception):
    """Bad input from the user (config, data, paths, run dir). The message names the
    file/field and the fix; no traceback is shown for it."""
