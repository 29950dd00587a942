"""nestor-catalog client: sync and async HTTP clients, event subscription and a mirror."""

__all__: list[str] = []
