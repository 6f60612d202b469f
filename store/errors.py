"""Exceptions raised by the SQL store; messages name the study/trial and the storage URL."""

from __future__ import annotations


class StoreError(RuntimeError):
    """Any failure of the SQL store (bad URL, unreachable database, invalid state change)."""


class StudyExistsError(StoreError):
    """A study with this name already exists in the store."""

    def __init__(self, name: str, url: str):
        super().__init__(f"study {name!r} already exists in {url}")
        self.name = name
        self.url = url


class StudyNotFoundError(StoreError, KeyError):
    """No study with this name (or id) exists in the store."""

    def __init__(self, name: str | int, url: str):
        super().__init__(f"study {name!r} not found in {url}")
        self.name = name
        self.url = url

    def __str__(self) -> str:
        return str(self.args[0])


class TrialNotFoundError(StoreError, KeyError):
    """No trial with this id (or number) exists in the store."""

    def __init__(self, what: str, url: str):
        super().__init__(f"trial {what} not found in {url}")
        self.url = url

    def __str__(self) -> str:
        return str(self.args[0])
