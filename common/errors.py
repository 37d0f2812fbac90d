"""One project error type, so the CLI and the DAGs can tell our messages from crashes."""


class KcdataError(Exception):
    """A problem a user can act on; the message says what and where.

    `retryable` says whether running the same step again may succeed without anyone acting (a source
    or lock that was busy): the DAG tasks retry those, and fail at once on the others, since the same
    data and catalog give the same error."""

    retryable = False
