"""A temporary table holding an import's validated rows.

Checks that span rows (an external id used twice, a refund of a purchase
earlier in the file, a duplicate person) and the ledger's need to see each
member's events in time order are answered by the database over this table,
so the import keeps no per-row state in memory: memory stays flat however
long the file. The table lives in the import's transaction and disappears
with it (``ON COMMIT DROP`` on PostgreSQL; dropped explicitly at the end).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db import connection

from loyalty.ledger.bulk import on_postgres

TYPES = {
    # name: (PostgreSQL, SQLite)
    "int": ("integer", "integer"),
    "bigint": ("bigint", "integer"),
    "text": ("text", "text"),
}


class StageTable:
    """``CREATE TEMPORARY TABLE`` with typed columns, filled in batches."""

    def __init__(self, name: str, columns: Sequence[tuple[str, str]], *, batch_size: int = 5000) -> None:
        self.name = name
        self.columns = [column for column, _type in columns]
        self._types = dict(columns)
        self.batch_size = batch_size
        self._rows: list[tuple] = []
        self.count = 0

    def create(self) -> StageTable:
        postgres = on_postgres()
        definition = ", ".join(
            f"{column} {TYPES[kind][0 if postgres else 1]}" for column, kind in self._types.items()
        )
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            suffix = " ON COMMIT DROP" if postgres else ""
            cursor.execute(f"CREATE TEMPORARY TABLE {self.name} ({definition}){suffix}")
        return self

    def add(self, row: tuple) -> None:
        self._rows.append(row)
        if len(self._rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows:
            return
        self.count += len(rows)
        with connection.cursor() as cursor:
            if on_postgres():
                sql = f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN"
                with cursor.copy(sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(
                    f"INSERT INTO {self.name} ({', '.join(self.columns)}) VALUES ({marks})",  # noqa: S608
                    rows,
                )

    def index(self, *columns: str, unique: bool = False) -> None:
        self.flush()
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE {'UNIQUE ' if unique else ''}INDEX {self.name}_{'_'.join(columns)} "
                f"ON {self.name} ({', '.join(columns)})"
            )
            if on_postgres():
                cursor.execute(f"ANALYZE {self.name}")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")


def stream(sql: str, params: Sequence | None = None, *, size: int = 2000) -> Iterator[list[tuple]]:
    """The rows of a query in chunks, from a server-side cursor on PostgreSQL."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params or [])
        while True:
            rows = cursor.fetchmany(size)
            if not rows:
                return
            yield rows


def execute(sql: str, params: Sequence | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.rowcount


def scalar(sql: str, params: Sequence | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        row = cursor.fetchone()
        return row[0] if row else None
