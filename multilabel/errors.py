"""The one exception type for mistakes a user can fix."""


class MultilabelError(ValueError):
    """A user-facing problem: bad input, a bad setting, a file that is not what it should be.

    The message is one line that names the offending value and says how to fix it. Front doors (CLI, pages)
    show the message alone; any other exception is a bug and keeps its traceback.
    """
