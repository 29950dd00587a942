"""JWT bearer authentication: ``TokenVerifier`` turns a token into a ``Principal``.

Framework-free: the app reads the ``Authorization`` header, calls
``verifier.authenticate(header)`` and, for writes, ``verifier.authorize_write(principal)``;
core errors (``AuthenticationError`` -> 401 with ``www_authenticate(error)``,
``PermissionDenied`` -> 403) do the rest.
"""

from nestor_catalog_server.auth.verifier import (
    ANONYMOUS,
    REASONS,
    Principal,
    TokenVerifier,
    bearer_token,
    www_authenticate,
)

__all__ = ["ANONYMOUS", "REASONS", "Principal", "TokenVerifier", "bearer_token", "www_authenticate"]
