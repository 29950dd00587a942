"""nestor-catalog server: the Litestar HTTP API with live events, git sync and operations."""

__all__: list[str] = []
