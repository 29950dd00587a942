"""The HTTP API: one controller module per group of routes (resources, search, validation, audit,
sync and webhooks, health, the replicas' internal sync trigger), the live events package
(``sse``), the one error mapping (``errors``), HTTP caching (``caching``), authentication
(``security``) and the request middleware (``middleware``).

``nestor_catalog_server.app.create_app`` assembles them; nothing here holds state between
requests: handlers reach the running app's ``AppState`` through the ``app_state`` dependency.
"""
