"""Secrets a pod gets as mounted files: read, trimmed, and refused in one line."""

from __future__ import annotations

import pathlib

import pytest

from workloads.common.credentials import CredentialError, read_credential


def test_the_file_wins_and_loses_only_its_trailing_newline(tmp_path: pathlib.Path) -> None:
    (tmp_path / "password").write_text(" p@ss word \r\n")
    env = {"X_FILE": str(tmp_path / "password"), "X": "plain"}
    assert read_credential(env, "X_FILE", "X") == " p@ss word "
    assert read_credential({"X": "plain"}, "X_FILE", "X") == "plain"
    assert read_credential({"X_FILE": "", "X": ""}, "X_FILE", "X") is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "cannot read: No such file or directory"),
        ("dir", "cannot read: Is a directory"),
        (b"\xff\xfe\n", "not UTF-8 text"),
        (b"\n", "the file is empty"),
    ],
)
def test_an_unusable_file_is_one_line_naming_variable_and_path(
    tmp_path: pathlib.Path, content: bytes | str | None, why: str
) -> None:
    path = tmp_path / "secret"
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(CredentialError) as err:
        read_credential({"X_FILE": str(path), "X": "plain"}, "X_FILE", "X")
    assert str(err.value) == f"X_FILE={path}: {why}"
