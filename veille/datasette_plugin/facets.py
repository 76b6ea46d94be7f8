"""The `articles` table at a million rows: facet counts from memory, and a search the planner can sort.

Datasette's own facets count with one SQL query each over the page's selection; its array facet
deduplicates whole rows (`select distinct j.value, inner.*`). On a million articles every facet of the
table page gives up after `facet_time_limit_ms`, and a search that matches 400,000 of them costs
seconds (benchmarks/bench_archive.py). Two changes, both only for a table whose metadata asks for them:

- `"veille_facet_index": true`: the facet values of every row are held in memory as integer codes
  (numpy arrays, one per column; a JSON-array column as a padded matrix), read once from the database
  and again whenever `articles` changed (a counter of its writes kept by triggers, m009). A
  facet then counts the selection's ids: all rows → precomputed totals; a search alone → the ids read
  from the FTS index in one `group_concat`; anything else → `select group_concat(id)` of the page's
  own SQL (with `facet_time_limit_ms`). Same results and links as Datasette's ColumnFacet and
  ArrayFacet, which still serve every other table (the classes below fall back to them).
- `"veille_search_fts": "items_fts"`: `?_search=` for that table with `+id in (select rowid …)`: the
  unary plus keeps SQLite from walking the match list row by row and sorting it (0.8 s for 400,000
  matches), so it reads the `published` index in order and stops at the page's 51st match.

Datasette's default facet classes are replaced (`pm.set_blocked("datasette.facets")`) by subclasses
that behave the same on every other table.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
from datasette import hookimpl
from datasette.facets import ArrayFacet, ColumnFacet, DateFacet
from datasette.filters import FilterArguments
from datasette.plugins import pm
from datasette.database import QueryInterrupted
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


# -------------------------------------------------------------------- index


@dataclass
class Column:
    values: list            # code -> value
    codes: np.ndarray       # id -> code (-1: none); for an array column, id -> row of codes
    totals: np.ndarray      # code -> count over every row

    def counts(self, ids: np.ndarray | None) -> np.ndarray:
        if ids is None:
            return self.totals
        codes = self.codes[ids[(ids >= 0) & (ids < len(self.codes))]].ravel()
        return np.bincount(codes[codes >= 0], minlength=len(self.values))


class FacetIndex:
    """Every facet column of a table, as codes by row id."""

    def __init__(self, version, columns: dict[str, Column]):
        self.version = version
        self.columns = columns


_indexes: dict[tuple[str, str], FacetIndex] = {}
_lock = threading.Lock()


def _version(conn, table: str):
    # article_changes (m009) counts every write to `articles`; the row count covers other tables.
    changes = conn.execute("select changes from article_changes").fetchone() if table == "articles" else None
    return conn.execute(f"select count(*) from {escape_sqlite(table)}").fetchone()[0], changes


def _ids(text: str | None) -> np.ndarray:
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, dtype=np.int64)


def _build(conn, table: str, simple: list[str], arrays: list[str], version) -> FacetIndex:
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
        columns[column] = Column(values, codes, np.bincount(codes[codes >= 0], minlength=len(values)))
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
        columns[column] = Column(values, codes, np.array([len(ids) for ids, _ in parts], dtype=np.int64))
    return FacetIndex(version, columns)


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
    """The table's index, rebuilt if the table changed; None when its metadata does not ask for one."""
    metadata = facet.metadata or {}
    if not facet.table or not metadata.get("veille_facet_index"):
        return None
    key = (facet.ds.get_database(facet.database).path, facet.table)
    simple, arrays = facet_columns(metadata)

    def current(conn):
        version = _version(conn, facet.table)
        with _lock:  # one build at a time; the others wait for it
            index = _indexes.get(key)
            if index is None or index.version != version:
                index = _indexes[key] = _build(conn, facet.table, simple, arrays, version)
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
