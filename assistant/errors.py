"""Errors a user can cause, each carrying a French message that says what to do."""


class AssistantError(Exception):
    """Base class: `str(err)` is the French message shown to the user."""


class CorpusError(AssistantError):
    """The corpus directory is missing, empty or unreadable."""


class DocumentError(AssistantError):
    """One document could not be loaded; ingestion goes on with the others."""

    def __init__(self, path, message: str):
        self.path = str(path)
        super().__init__(f"{self.path} : {message}")


class IndexMissingError(AssistantError):
    """No usable index: the user must run `assistant ingest`."""


class IndexMismatchError(AssistantError):
    """The index was built with another embedding model or dimension."""


class EmbeddingsError(AssistantError):
    """The embedding backend is not installed, misconfigured or unreachable."""


class QuestionError(AssistantError):
    """The question itself is unusable (empty, too long...)."""
