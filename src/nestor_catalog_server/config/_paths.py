"""Path fields of the settings: resolved against the configuration file's directory, checked early.

A relative path written in a configuration file means "next to this file", the way Prometheus
and nginx read theirs; the loader passes that directory as ``base_dir`` in the pydantic
validation context. Without a context (settings built in code) relative paths stay relative to
the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

__all__ = ["ConfigPath", "ExistingDirectory", "ReadableFile", "resolve_config_path"]


def resolve_config_path(value: Path, info: ValidationInfo) -> Path:
    """``~`` expanded; relative paths joined to ``info.context["base_dir"]`` when given, normalized."""
    path = value.expanduser()
    context = info.context if isinstance(info.context, dict) else {}
    base_dir = context.get("base_dir")
    if not path.is_absolute() and isinstance(base_dir, Path):
        path = base_dir / path
    return Path(os.path.normpath(path)) if path.is_absolute() else path


def _readable_file(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"file not found: {path}")
    if not path.is_file():
        raise ValueError(f"not a regular file: {path}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file is not readable (permission denied): {path}")
    return path


def _existing_directory(path: Path) -> Path:
    if not path.exists():
        raise ValueError(f"directory not found: {path}")
    if not path.is_dir():
        raise ValueError(f"not a directory: {path}")
    return path


#: A path, relative to the configuration file when written there.
ConfigPath = Annotated[Path, AfterValidator(resolve_config_path)]
#: A file that must exist and be readable when the settings are loaded (keys, certificates).
ReadableFile = Annotated[Path, AfterValidator(resolve_config_path), AfterValidator(_readable_file)]
#: A directory that must exist when the settings are loaded (watched local sources).
ExistingDirectory = Annotated[Path, AfterValidator(resolve_config_path), AfterValidator(_existing_directory)]
