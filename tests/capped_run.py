"""`hashtune` with every SQLite connection capped at `max_page_count` (argv[1]): a full disk.

SQLite itself then refuses to grow the file (SQLITE_FULL, "database or disk is full"), exactly as
on a full filesystem; usage: python tests/capped_run.py PAGES run exp.yaml ...
"""

import sys

from sqlalchemy import event
from sqlalchemy.engine import Engine

PAGES = int(sys.argv.pop(1))


@event.listens_for(Engine, "connect")
def _cap(dbapi_conn, _record) -> None:
    dbapi_conn.execute(f"PRAGMA max_page_count = {PAGES}")


if __name__ == "__main__":
    from hashtune.cli import app

    sys.argv[0] = "hashtune"
    app()
