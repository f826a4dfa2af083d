"""Refusals of the embedding domain (shown to admins with the field they concern)."""


class EmbedError(ValueError):
    """An embed request or run that cannot go on; `field` names the offending input and
    `status` is the HTTP status the API answers with (409 when another run is going)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.status = field, status
