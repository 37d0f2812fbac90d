"""One project error type, so the CLI and the DAGs can tell our messages from crashes."""


class KcdataError(Exception):
    """A problem a user can act on; the message says what and where."""
