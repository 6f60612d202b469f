"""What to do about a database fault: read-only file, full disk, corrupt file, unopenable file.

SQLite reports these as one terse line ("attempt to write a readonly database", "database or disk
is full", "database disk image is malformed"); `fault_hint` names the file and the fix, so every
StoreError built from one tells the user what to do next.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for memory or another backend)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    db = url.database
    if db.startswith("file:"):  # URI filename (`?uri=true`): file:/path/x.db
        db = db[len("file:") :].split("?", 1)[0]
    return Path(db).expanduser().resolve()


def fault_hint(reason: str, url: URL) -> str:
    """A second line, '<what is wrong with which file>: <the fix>', for a known fault, else ''.

    On its own line so that logs can keep to the first (`str(error).splitlines()[0]`)."""
    text = reason.lower()
    path = sqlite_path(url)
    where = f"the database file {str(path)!r}" if path else "the database"
    folder = f" (or its folder {str(path.parent)!r})" if path else ""
    subject = where[0].upper() + where[1:]
    if "readonly" in text or "read-only" in text or "read only" in text:
        return (
            f"\n{subject}{folder} is read-only for this user: make it writable (chmod u+w), or "
            "copy it to a writable folder and pass --storage with the copy (read-only commands "
            "such as `hashtune studies` open it as it is)"
        )
    if "disk is full" in text or "disk full" in text or "no space left" in text:
        return (
            f"\nThe disk holding {where} is full (or the database reached its size limit): free "
            "space there, or move the file and pass --storage, then run again: trials stored so "
            "far are kept, and trials cut short are marked interrupted and run again"
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        salvage = (
            f" or salvage it: sqlite3 {path} .recover | sqlite3 recovered.db, then pass "
            "--storage sqlite:///recovered.db"
            if path
            else ""
        )
        return f"\n{subject} is corrupt: restore it from a backup,{salvage}"
    if "unable to open database file" in text and path:
        return (
            f"\nCheck that {str(path.parent)!r} exists and that this user may write in it "
            "(SQLite keeps -wal and -shm files beside the database)"
        )
    return ""
