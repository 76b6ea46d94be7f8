"""The `articles` table at a million rows: facet counts from memory, and a search the planner can sort.

Datasette's own facets count with one SQL query each over the page's selection; its array facet
deduplicates whole rows (`select distinct j.value, inner.*`). On a million articles every facet of the
table page gives up after `facet_time_limit_ms`, and a search that matches 400,000 of them costs
seconds (benchmarks/bench_archive.py). Three changes, only for a table whose metadata asks for them:

- `"veille_facet_index": "article_changelog"`: the facet values of every row are held in memory as
  integer codes (numpy arrays, one per column; a JSON-array column as a padded matrix), read once
  from the database (16 s at a million), then kept current from the table's change log (ids written,
  by triggers, m011): the rows written since are read again. A facet then counts the selection's ids: all rows → precomputed totals; a search alone → the ids read
  from the FTS index in one `group_concat`; anything else → `select group_concat(id)` of the page's
  own SQL (with `facet_time_limit_ms`). Same results and links as Datasette's ColumnFacet and
  ArrayFacet, which still serve every other table (the classes below fall back to them).
- `"veille_search_fts": "items_fts"`: `?_search=` for that table with `+id in (select rowid …)`: the
  unary plus keeps SQLite from walking the match list row by row and sorting it (0.8 s for 400,000
  matches), so it reads the `published` index in order and stops at the page's 51st match. The
  count of a search alone comes from the FTS index (ArchiveDatabase, put in place at startup).

Datasette's default facet classes are replaced (`pm.set_blocked("datasette.facets")`) by subclasses
that behave the same on every other table.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass

import numpy as np
from datasette import hookimpl
from datasette.facets import ArrayFacet, ColumnFacet, DateFacet
from datasette.filters import FilterArguments
from datasette.plugins import pm
from datasette.database import Database, QueryInterrupted
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

pm.set_blocked("datasette.facets")  # its classes are registered below, as fallbacks of ours


@hookimpl
def register_facet_classes():
    return [IndexedColumnFacet, DateFacet, IndexedArrayFacet]


# -------------------------------------------------------------------- search


def search_clause(fts_table: str) -> str:
    fts = escape_sqlite(fts_table)
    return f"+id in (select rowid from {fts} where {fts} match escape_fts(:search))"


@hookimpl(trylast=True)  # last, so that its `supports_search` wins over Datasette's (False: no fts_table)
def filters_from_request(request, database, table, datasette):
    fts_table = (datasette.table_metadata(database, table) or {}).get("veille_search_fts")
    if not fts_table:
        return None
    search = request.args.get("_search")
    if not search:
        return FilterArguments([], extra_context={"supports_search": True})
    return FilterArguments([search_clause(fts_table)], {"search": search}, [f'search matches "{search}"'],
                           {"supports_search": True, "search": search})


def _fts_content(conn, fts_table: str) -> str | None:
    """The table an external-content FTS5 table indexes (`content=[items]`)."""
    row = conn.execute("select sql from sqlite_master where name = ?", (fts_table,)).fetchone()
    found = re.search(r"content\s*=\s*[\['\"]?(\w+)", row[0] or "") if row else None
    return found.group(1) if found else None


class ArchiveDatabase(Database):
    """Datasette's database, except for the count of a search alone on a `veille_search_fts` table.

    Datasette counts `select count(*) from articles where +id in (select rowid from items_fts …)`:
    a million probes of a 400,000-row list (0.4 s). When every row of the FTS table's content table
    has its row in the searched table (same count: articles' ids are items' ids, m008), that count
    is the FTS index's own (30 ms); otherwise Datasette's query runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._counts: dict[str, tuple[str, str]] | None = None

    def _search_counts(self) -> dict[str, tuple[str, str]]:
        """Datasette's count SQL of a search alone -> (table, fts table), from the metadata."""
        if self._counts is None:
            tables = (self.ds.metadata("tables", database=self.name) or {}).items()
            self._counts = {f"select count(*) from {escape_sqlite(table)} where {search_clause(fts)} ": (table, fts)
                            for table, meta in tables if (fts := (meta or {}).get("veille_search_fts"))}
        return self._counts

    async def execute(self, sql, params=None, *args, **kwargs):
        searched = self._search_counts().get(sql)
        if searched:
            table, fts = searched
            content = await self.execute_fn(lambda conn: _fts_content(conn, fts))
            if content:
                name, fts, content = escape_sqlite(table), escape_sqlite(fts), escape_sqlite(content)
                results = await super().execute(
                    f"select (select count(*) from {fts} where {fts} match escape_fts(:search)) "
                    f"where (select count(*) from {name}) = (select count(*) from {content})", params, *args, **kwargs)
                if results.rows:
                    return results
        return await super().execute(sql, params, *args, **kwargs)


@hookimpl
def startup(datasette):
    """Each database with a `veille_search_fts` table served by an ArchiveDatabase instead."""
    for name, database in list(datasette.databases.items()):
        tables = datasette.metadata("tables", database=name) or {}
        if type(database) is not Database or not database.path or not any(
                (meta or {}).get("veille_search_fts") for meta in tables.values()):
            continue
        datasette.remove_database(name)
        datasette.add_database(ArchiveDatabase(datasette, path=database.path, is_mutable=database.is_mutable),
                               name=name, route=database.route)
        database.close()


# -------------------------------------------------------------------- index


@dataclass
class Column:
    values: list            # code -> value
    lookup: dict            # value -> code
    codes: np.ndarray       # id -> code (-1: none); for an array column, id -> row of codes
    totals: np.ndarray      # code -> count over every row

    def counts(self, ids: np.ndarray | None) -> np.ndarray:
        if ids is None:
            return self.totals
        codes = self.codes[ids[(ids >= 0) & (ids < len(self.codes))]].ravel()
        return np.bincount(codes[codes >= 0], minlength=len(self.values))

    def code(self, value) -> int:
        if value not in self.lookup:
            self.lookup[value] = len(self.values)
            self.values.append(value)
        return self.lookup[value]


@dataclass
class FacetIndex:
    """Every facet column of a table, as codes by row id, as of entry `seq` of its change log."""

    seq: int
    columns: dict[str, Column]


_indexes: dict[tuple[str, str], FacetIndex] = {}
_lock = threading.Lock()
FOLLOW_LIMIT = 20_000  # more changed rows than this: read the whole table again


def _ids(text: str | None) -> np.ndarray:
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)


def _array_values(text) -> list:
    """The distinct text values of a JSON array cell, as `json_each(...) where type = 'text'` reads them."""
    try:
        values = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return []
    return list(dict.fromkeys(v for v in values if isinstance(v, str))) if isinstance(values, list) else []


def _build(conn, table: str, simple: list[str], arrays: list[str], seq: int) -> FacetIndex:
    """Grouped by SQLite, each value's ids as one string (a million rows through Python took 20 s)."""
    name = escape_sqlite(table)
    size = (conn.execute(f"select max(id) from {name}").fetchone()[0] or 0) + 1
    columns = {}
    for column in simple:
        codes, values = np.full(size, -1, dtype=np.int32), []
        for value, ids in conn.execute(f"select {escape_sqlite(column)}, group_concat(id) from {name} "
                                       f"where {escape_sqlite(column)} is not null group by 1"):
            codes[_ids(ids)] = len(values)
            values.append(value)
        columns[column] = Column(values, {v: c for c, v in enumerate(values)}, codes,
                                 np.bincount(codes[codes >= 0], minlength=len(values)))
    for column in arrays:
        grouped = conn.execute(
            f"select j.value, group_concat(distinct t.id) from {name} t, json_each(t.{escape_sqlite(column)}) j "
            f"where json_valid(t.{escape_sqlite(column)}) and j.type = 'text' group by 1").fetchall()
        fill, values, parts = np.zeros(size, dtype=np.int32), [], []
        for value, ids in grouped:
            ids = _ids(ids)
            parts.append((ids, fill[ids].copy()))
            fill[ids] += 1
            values.append(value)
        codes = np.full((size, max(int(fill.max()), 1)), -1, dtype=np.int32)
        for code, (ids, slots) in enumerate(parts):
            codes[ids, slots] = code
        columns[column] = Column(values, {v: c for c, v in enumerate(values)}, codes,
                                 np.array([len(ids) for ids, _ in parts], dtype=np.int64))
    return FacetIndex(seq, columns)


def _followed(conn, index: FacetIndex, table: str, log: str, seq: int) -> FacetIndex | None:
    """`index` brought to entry `seq` of the change log by re-reading the rows written since; None
    when the log no longer reaches back to the index (pruned) or too many rows changed. Copies the
    arrays it changes: a page counting with the old index meanwhile is not disturbed."""
    log = escape_sqlite(log)
    oldest = conn.execute(f"select min(seq) from {log}").fetchone()[0]
    if oldest is None or oldest > index.seq + 1:
        return None
    ids = [row[0] for row in conn.execute(f"select distinct id from {log} where seq > ? and seq <= ?",
                                          (index.seq, seq))]
    if len(ids) > FOLLOW_LIMIT:
        return None
    names = list(index.columns)
    rows = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows.update((row[0], row[1:]) for row in conn.execute(
            f"select id, {', '.join(map(escape_sqlite, names))} from {escape_sqlite(table)} "
            f"where id in ({', '.join('?' * len(chunk))})", chunk))
    size = max([len(next(iter(index.columns.values())).codes), *(i + 1 for i in ids)])
    columns = {}
    for position, name in enumerate(names):
        old = index.columns[name]
        column = Column(list(old.values), dict(old.lookup), old.codes, old.totals)
        is_array = old.codes.ndim == 2
        news = {}
        for id_ in ids:
            value = rows[id_][position] if id_ in rows else None
            news[id_] = ([column.code(v) for v in _array_values(value)] if is_array
                         else [] if value is None else [column.code(value)])
        width = max([old.codes.shape[1] if is_array else 1, *(len(codes) for codes in news.values())])
        codes = np.full((size, width) if is_array else (size,), -1, dtype=np.int32)
        codes[tuple(slice(0, n) for n in old.codes.shape)] = old.codes
        totals = np.zeros(len(column.values), dtype=np.int64)
        totals[:len(old.totals)] = old.totals
        for id_, new in news.items():
            previous = codes[id_].ravel()
            np.subtract.at(totals, previous[previous >= 0], 1)
            codes[id_] = -1
            if is_array:
                codes[id_, :len(new)] = new
            elif new:
                codes[id_] = new[0]
            np.add.at(totals, np.array(new, dtype=np.int64), 1)
        column.codes, column.totals = codes, totals
        columns[name] = column
    return FacetIndex(seq, columns)


def facet_columns(metadata: dict) -> tuple[list[str], list[str]]:
    simple, arrays = [], []
    for facet in metadata.get("facets", []):
        if isinstance(facet, str):
            simple.append(facet)
        elif "array" in facet:
            arrays.append(facet["array"])
        elif "simple" in facet:
            simple.append(facet["simple"])
    return simple, arrays


async def facet_index(facet) -> FacetIndex | None:
    """The table's index, brought up to date; None when its metadata does not ask for one."""
    metadata = facet.metadata or {}
    log = metadata.get("veille_facet_index")
    if not facet.table or not log:
        return None
    key = (facet.ds.get_database(facet.database).path, facet.table)
    simple, arrays = facet_columns(metadata)

    def current(conn):
        # Read before the rows: a write in between is logged after it, and read again next time.
        seq = conn.execute(f"select coalesce(max(seq), 0) from {escape_sqlite(log)}").fetchone()[0]
        with _lock:  # one build at a time; the others wait for it
            index = _indexes.get(key)
            if index is None or index.seq != seq:
                index = (index is not None and _followed(conn, index, facet.table, log, seq)) \
                    or _build(conn, facet.table, simple, arrays, seq)
                _indexes[key] = index
        return index

    return await facet.ds.get_database(facet.database).execute_fn(current)


async def selected_ids(facet) -> np.ndarray | None:
    """The ids of the page's selection (None: every row), read once per request."""
    cache = facet.request.scope.setdefault("veille_facet_ids", {})
    key = (facet.sql, json.dumps(facet.params, sort_keys=True, default=str))
    if key in cache:
        return cache[key]
    metadata = facet.metadata or {}
    base = f"from {escape_sqlite(facet.table)}"
    where = facet.sql.split(f" {base} ", 1)[1].strip() if f" {base} " in facet.sql else None
    fts_table = metadata.get("veille_search_fts")
    if where == "":
        ids = None
    else:
        if fts_table and where == f"where {search_clause(fts_table)}":
            fts = escape_sqlite(fts_table)
            sql = f"select group_concat(rowid) from {fts} where {fts} match escape_fts(:search)"
        else:
            sql = f"select group_concat(id) from ({facet.sql})"
        results = await facet.ds.execute(facet.database, sql, facet.params, truncate=False,
                                         custom_time_limit=facet.ds.setting("facet_time_limit_ms"))
        text = results.rows[0][0] if results.rows else None
        ids = _ids(text)
    cache[key] = ids
    return ids


def _top(index: FacetIndex, column: str, ids, size: int) -> tuple[list[tuple[str, int]], bool]:
    data = index.columns[column]
    counts = data.counts(ids)
    pairs = sorted(((int(n), data.values[code]) for code, n in enumerate(counts) if n), key=lambda p: (-p[0], p[1]))
    return [(value, n) for n, value in pairs[:size]], len(pairs) > size


# -------------------------------------------------------------------- facets


async def _indexed_results(facet, selection_arg, facet_param: str, absolute):
    """Datasette's facet results, counted from the index: `selection_arg(column, value)` is the
    query-string pair that selects a value, `facet_param` the argument naming the facet, and
    `absolute(path)` the toggle URL as Datasette's own facet of that type writes it. None when the
    index does not serve this table or a column (the caller then falls back to Datasette's)."""
    index = await facet_index(facet)
    if index is None:
        return None
    results, timed_out, pairs = [], [], facet.get_querystring_pairs()
    size = facet.get_facet_size()
    for config in facet.get_configs():
        column = config["config"].get("column") or config["config"]["simple"]
        if column not in index.columns:
            return None
        try:
            top, truncated = _top(index, column, await selected_ids(facet), size)
        except QueryInterrupted:
            timed_out.append(column)
            continue
        values = []
        for value, count in top:
            arg, shown = selection_arg(column, value)
            selected = (arg, shown) in pairs
            toggle = (path_with_removed_args(facet.request, {arg: shown}) if selected
                      else path_with_added_args(facet.request, {arg: value}))
            values.append({"value": value, "label": value, "count": count, "selected": selected,
                           "toggle_url": absolute(toggle)})
        results.append({"name": column, "type": facet.type, "hideable": config["source"] != "metadata",
                        "toggle_url": facet.ds.urls.path(path_with_removed_args(facet.request, {facet_param: column})),
                        "results": values, "truncated": truncated})
    return results, timed_out


class IndexedColumnFacet(ColumnFacet):
    async def facet_results(self):
        answer = await _indexed_results(
            self, lambda column, value: (f"{column}__exact" if column.startswith("_") else column, str(value)),
            "_facet", lambda path: self.ds.absolute_url(self.request, self.ds.urls.path(path)))
        return answer if answer is not None else await super().facet_results()


class IndexedArrayFacet(ArrayFacet):
    async def facet_results(self):
        answer = await _indexed_results(
            self, lambda column, value: (f"{column}__arraycontains", value),
            "_facet_array", lambda path: self.ds.absolute_url(self.request, path))
        return answer if answer is not None else await super().facet_results()
