"""Git sync: mirrors and tree diffs (``git``), webhooks, and the orchestration on top of them."""

__all__: list[str] = []
