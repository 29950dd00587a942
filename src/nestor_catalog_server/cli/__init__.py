"""The server's ``nestor-catalog`` subcommands (``sync``, ``serve``), registered through the
``nestor_catalog.commands`` entry-point group so the core CLI never imports the server."""
