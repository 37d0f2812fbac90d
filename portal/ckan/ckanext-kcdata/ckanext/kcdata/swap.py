"""Building a DataStore table beside the live one and swapping it in, inside the load's transaction.

Filling the live table row by row keeps its indexes (a GIN index over the full-text vectors, the
primary and unique keys) up to date a row at a time, and its trigger runs for every row: ~38 s of a
45 s load at 1M rows. A table built beside it gets its rows in one parallel statement and each
index built once, then takes the live table's place: its sequence, indexes (under their names),
trigger, comments, NOT NULLs and grants, so CKAN cannot tell it from the one it created. What
CKAN might have attached that this cannot rebuild exactly (an alias view reading the table, a
constraint other than the primary key, a default on a data column) makes `swap_plan` say no, and
the load fills the table in place instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ckanext.kcdata.loadsql import build_sql, moved_definition, next_name, quote_ident, quote_literal

NAME_MAX = 63  # PostgreSQL's identifier length: a longer name would be cut, and could meet another
INDEX_MEMORY = "256MB"  # maintenance_work_mem while the new table's indexes are built (PostgreSQL's default: 64MB)


@dataclass
class Swap:
    """What the live table has that the new one must get, as SQL ready to run on the new one."""

    sequence: str  # `_id`'s sequence, schema-qualified and quoted
    indexes: list[tuple[str, str, bool, str]] = field(default_factory=list)  # (name, temporary name, primary, CREATE INDEX)
    triggers: list[str] = field(default_factory=list)  # CREATE TRIGGER, on the new table
    comments: list[str] = field(default_factory=list)  # COMMENT ON, on the new table
    not_null: list[str] = field(default_factory=list)  # data columns declared NOT NULL
    grants: list[str] = field(default_factory=list)  # GRANT, on the new table


def swap_plan(conn: Any, table: str) -> Swap | None:
    """How to rebuild `table` exactly beside itself, or None when it cannot be (then: fill in place)."""
    import sqlalchemy as sa

    def one(sql: str, **params: Any) -> Any:
        return conn.execute(sa.text(sql), {"oid": oid, **params}).scalar()

    def all_(sql: str, **params: Any) -> list:
        return conn.execute(sa.text(sql), {"oid": oid, **params}).fetchall()

    new = next_name(table)
    if len(new.encode()) > NAME_MAX or len(f"{table}_kcdata_i99".encode()) > NAME_MAX:
        return None
    # the live table, and whether the name the new table would take is already in use
    oid, taken = conn.execute(sa.text("SELECT to_regclass(:q)::oid, to_regclass(:n) IS NOT NULL"),
                              {"q": quote_ident(table), "n": quote_ident(new)}).one()
    if oid is None or taken:
        return None
    blockers = one(
        "SELECT (SELECT pg_get_userbyid(relowner) <> current_user FROM pg_class WHERE oid = :oid)::int"
        " + (SELECT count(*) FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid"
        "    WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = :oid AND r.ev_class <> :oid)"
        " + (SELECT count(*) FROM pg_constraint WHERE (conrelid = :oid AND contype <> 'p') OR confrelid = :oid)"
        " + (SELECT count(*) FROM pg_attrdef ad JOIN pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum"
        "    WHERE ad.adrelid = :oid AND a.attname <> '_id')")
    sequence = one("SELECT pg_get_serial_sequence(:q, '_id')", q=quote_ident(table))
    if blockers or sequence is None:
        return None
    on, new_on = conn.execute(sa.text(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(n.nspname) || '.' || quote_ident(:new) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = :oid"), {"oid": oid, "new": new}).one()
    swap = Swap(sequence=str(sequence))
    if not _move_indexes_and_triggers(swap, all_, table, on, new_on):
        return None
    target = quote_ident(new)
    for column, comment in all_(
            "SELECT a.attname, col_description(:oid, a.attnum) FROM pg_attribute a "
            "WHERE a.attrelid = :oid AND a.attnum > 0 AND NOT a.attisdropped AND col_description(:oid, a.attnum) IS NOT NULL"):
        swap.comments.append(f"COMMENT ON COLUMN {target}.{quote_ident(column)} IS {quote_literal(comment)}")
    table_comment = one("SELECT obj_description(:oid, 'pg_class')")
    if table_comment is not None:
        swap.comments.append(f"COMMENT ON TABLE {target} IS {quote_literal(table_comment)}")
    swap.not_null = [str(c) for (c,) in all_(
        "SELECT attname FROM pg_attribute WHERE attrelid = :oid AND attnum > 0 AND attnotnull AND NOT attisdropped "
        "AND attname <> '_id'")]
    for grantee, privilege in all_(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants "
            "WHERE table_schema = current_schema() AND table_name = :t AND grantee <> current_user", t=table):
        who = "PUBLIC" if grantee == "PUBLIC" else quote_ident(grantee)
        swap.grants.append(f"GRANT {privilege} ON {target} TO {who}")
    return swap


def _move_indexes_and_triggers(swap: Swap, all_: Any, table: str, on: str, new_on: str) -> bool:
    """The live table's indexes (under temporary names) and triggers, defined on the new table;
    False when a definition cannot be moved."""
    for n, (name, primary, definition) in enumerate(all_(
            "SELECT quote_ident(c.relname), i.indisprimary, pg_get_indexdef(i.indexrelid) "
            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = :oid ORDER BY c.relname")):
        temporary = quote_ident(f"{table}_kcdata_i{n}")
        moved = moved_definition(definition, on, new_on, name, temporary)
        if moved is None:
            return False
        swap.indexes.append((name, temporary, bool(primary), moved))
    for (definition,) in all_("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = :oid AND NOT tgisinternal ORDER BY tgname"):
        moved = moved_definition(definition, on, new_on)
        if moved is None:
            return False
        swap.triggers.append(moved)
    return True


def swap_in(conn: Any, table: str, layout: list[tuple[str, str]], verbatim: dict[str, list[int]], swap: Swap) -> None:
    """Build the new table from the staged rows, give it what the live one has, then put it in the
    live one's place. Only the last step takes the lock that makes readers wait (milliseconds)."""
    import sqlalchemy as sa

    def run(sql: str) -> None:
        conn.execute(sa.text(sql.replace(":", r"\:")))  # no bind parameters in DDL

    new, live = quote_ident(next_name(table)), quote_ident(table)
    run(f"SET LOCAL maintenance_work_mem = '{INDEX_MEMORY}'")
    run(build_sql(table, layout, verbatim))
    run(f'ALTER TABLE {new} ALTER COLUMN "_id" SET DEFAULT nextval({quote_literal(swap.sequence)}::regclass)')
    for column in swap.not_null:
        run(f"ALTER TABLE {new} ALTER COLUMN {quote_ident(column)} SET NOT NULL")
    for _, temporary, primary, definition in swap.indexes:
        run(definition)
        if primary:
            run(f"ALTER TABLE {new} ADD CONSTRAINT {temporary} PRIMARY KEY USING INDEX {temporary}")
    for statement in (*swap.triggers, *swap.comments, *swap.grants):
        run(statement)
    run(f"ANALYZE {new}")
    # the swap: readers wait for it (they never see the table missing: a reader queued on the old
    # table finds the new one under its name when the lock is released)
    run(f"LOCK TABLE {live} IN ACCESS EXCLUSIVE MODE")
    run(f'ALTER SEQUENCE {swap.sequence} OWNED BY {new}."_id"')
    run(f"DROP TABLE {live}")
    run(f"ALTER TABLE {new} RENAME TO {live}")
    for name, temporary, primary, _ in swap.indexes:
        run(f"ALTER TABLE {live} RENAME CONSTRAINT {temporary} TO {name}" if primary else f"ALTER INDEX {temporary} RENAME TO {name}")
    run(f'SELECT setval({quote_literal(swap.sequence)}::regclass, coalesce((SELECT max("_id") FROM {live}), 0) + 1, false)')
