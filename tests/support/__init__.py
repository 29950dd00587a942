"""Test support importable from any test package: real git repositories and servers (``tests.support.git``)."""
