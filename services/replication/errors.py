"""The error every replication engine raises for a run it cannot finish (the CLI prints its text)."""


class ReplicationError(RuntimeError):
    pass
