"""Credentials the cluster hands a workload as mounted Secret files.

A pod gets a secret as a read-only file whose path an environment variable names
(``<NAME>_FILE``); the secret itself is never an environment value there. Local runs and
tests may still set the plain variable (``<NAME>``), read only when the ``_FILE`` one is
absent.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping


class CredentialError(ValueError):
    """A credential file named by the environment cannot be used (one line)."""


def read_credential(env: Mapping[str, str], file_var: str, plain_var: str) -> str | None:
    """The value of the file ``env[file_var]`` names (without its trailing newline), else
    ``env[plain_var]``, else ``None``; an unreadable or empty file is a
    :class:`CredentialError` naming the variable and the path."""
    path = env.get(file_var)
    if not path:
        return env.get(plain_var) or None
    try:
        value = pathlib.Path(path).read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise CredentialError(f"{file_var}={path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CredentialError(f"{file_var}={path}: not UTF-8 text") from None
    if not value:
        raise CredentialError(f"{file_var}={path}: the file is empty")
    return value
