"""The directory of actors (`acteurs`): who does what where, built from the news (issue 16).

Three tables (migration m012 of pipeline/archive.py):
- `actor_mentions`: the machine's, one row per actor named in an item (pipeline/actors.py), written by
  `veille tag` and replaced whenever the item is tagged again (`replace_mentions`);
- `actor_decisions`: the curator's, kept forever and applied in order on top of the mentions at each
  rebuild, so that they survive any re-extraction: `merge` (KEY into `target`), `split` (undo KEY's
  merge), `rename` (`value`: the new name), `hide`, `unhide`, `kind` (`value`: a kind slug);
- `acteurs`: the directory, derived from both by `rebuild_directory` with aggregate SQL. Hidden actors
  have no row (they are left out of the table, the CLI and the bulletin; their decisions stay).

A merged key resolves to the actor it was merged into (chains followed), so its mentions, items and
partners count for that actor. A rename, a hide or a change of kind applies to the actor a key resolves
to when it is decided.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlite_utils

from config.dates import utcnow
from config.errors import VeilleError
from config.schema import Taxonomy
from pipeline.actors import KINDS, ActorMention
from pipeline.places import Gazetteer

ACTIONS = ("merge", "split", "rename", "hide", "unhide", "kind")
PARTNERS = 5          # partners kept per actor (the most often named in the same items)
DISPOSITIFS = 8       # dispositifs kept per actor (the most frequent among its items)
PLACE_SHARE = 0.25    # a département or commune counts if it places at least this share of the top one
MAX_NAME = 150        # data·inclusion's limit for a structure's name
REGION_NAME = "Nouvelle-Aquitaine"  # the watch's région: a regional body's territory


# ------------------------------------------------------------------ decisions


@dataclass
class Decisions:
    """The curator's decisions, applied in order: the state they leave."""

    merged: dict[str, str] = field(default_factory=dict)   # key -> the key it was merged into
    names: dict[str, str] = field(default_factory=dict)    # key -> the name she gave
    kinds: dict[str, str] = field(default_factory=dict)    # key -> the kind she chose
    hidden: set[str] = field(default_factory=set)

    def resolve(self, key: str) -> str:
        """The key an actor's mentions count for: merges followed (a cycle stops where it loops)."""
        seen = {key}
        while key in self.merged and self.merged[key] not in seen:
            key = self.merged[key]
            seen.add(key)
        return key

    def aliases(self) -> dict[str, str]:
        """Every merged key -> the key it resolves to."""
        return {key: self.resolve(key) for key in self.merged if self.resolve(key) != key}

    def variants(self, key: str) -> list[str]:
        """The keys merged into this actor (directly or through others)."""
        return sorted(k for k, final in self.aliases().items() if final == key)


def load_decisions(db: sqlite_utils.Database) -> Decisions:
    decisions = Decisions()
    for action, key, target, value in db.execute(
            "SELECT action, key, target, value FROM actor_decisions ORDER BY id"):
        if action == "merge" and target:
            decisions.merged[key] = target
        elif action == "split":
            decisions.merged.pop(key, None)
        elif action == "rename" and value:
            decisions.names[key] = value
        elif action == "kind" and value in KINDS:
            decisions.kinds[key] = value
        elif action == "hide":
            decisions.hidden.add(key)
        elif action == "unhide":
            decisions.hidden.discard(key)
    return decisions


def _known(db: sqlite_utils.Database, key: str) -> bool:
    return db.execute("SELECT 1 FROM actor_mentions WHERE key = ? LIMIT 1", [key]).fetchone() is not None


def _display(db: sqlite_utils.Database, decisions: Decisions, key: str) -> str:
    """An actor's name for a message: the directory's, else the curator's, else the machine's."""
    row = db.execute("SELECT name FROM acteurs WHERE id = ?", [key]).fetchone()
    if row:
        return row[0]
    if key in decisions.names:
        return decisions.names[key]
    row = db.execute("SELECT name FROM actor_mentions WHERE key = ? GROUP BY name ORDER BY COUNT(*) DESC LIMIT 1",
                     [key]).fetchone()
    return row[0] if row else key


def kind_slug(value: str) -> str | None:
    """A kind given by its slug or its French label (case and accents as written)."""
    value = (value or "").strip()
    if value in KINDS:
        return value
    by_label = {label.casefold(): slug for slug, label in KINDS.items()}
    return by_label.get(value.casefold())


def decide(db: sqlite_utils.Database, action: str, key: str, target: str | None = None, value: str | None = None,
           curator: str | None = None) -> str:
    """Record one curator decision on the actor `key` (checked first: a refusal is a VeilleError in
    French, nothing recorded) and return what was done, in French. The caller rebuilds the directory
    (`rebuild_directory`) for it to show."""
    if action not in ACTIONS:
        raise VeilleError(f"décision inconnue « {action} » (attendu : {', '.join(ACTIONS)})")
    key = (key or "").strip()
    if not _known(db, key):
        raise VeilleError(f"aucun acteur « {key} » dans l'annuaire (son identifiant : veille actors --json)")
    decisions = load_decisions(db)
    actor = decisions.resolve(key)
    name = _display(db, decisions, actor)
    row = {"action": action, "key": actor, "target": None, "value": None, "curator": curator, "at": utcnow()}
    if action == "merge":
        target = (target or "").strip()
        if not _known(db, target):
            raise VeilleError(f"aucun acteur « {target} » dans l'annuaire : fusion impossible")
        into = decisions.resolve(target)
        if into == actor:
            raise VeilleError(f"« {_display(db, decisions, key)} » et « {_display(db, decisions, target)} » sont "
                              "déjà un seul acteur")
        row.update(key=key, target=into)
        message = f"« {_display(db, decisions, key)} » fusionné dans « {_display(db, decisions, into)} »."
    elif action == "split":
        if key not in decisions.merged:
            raise VeilleError(f"« {_display(db, decisions, key)} » n'est fusionné dans aucun acteur : "
                              "rien à séparer")
        row.update(key=key)
        message = f"« {_display(db, decisions, key)} » séparé de « {name} » : c'est de nouveau un acteur à part."
    elif action == "rename":
        value = " ".join((value or "").split())
        if not value:
            raise VeilleError("nouveau nom vide")
        if len(value) > MAX_NAME:
            raise VeilleError(f"nom trop long ({len(value)} caractères, {MAX_NAME} au plus)")
        row["value"] = value
        message = f"« {name} » renommé « {value} »."
    elif action == "kind":
        slug = kind_slug(value or "")
        if slug is None:
            raise VeilleError(f"type inconnu « {value} » (types : {', '.join(KINDS)})")
        row["value"] = slug
        message = f"« {name} » est maintenant de type « {KINDS[slug]} »."
    elif action == "hide":
        if actor in decisions.hidden:
            raise VeilleError(f"« {name} » est déjà masqué")
        message = f"« {name} » masqué : il n'apparaît plus dans l'annuaire ni dans le bulletin."
    else:  # unhide
        if actor not in decisions.hidden:
            raise VeilleError(f"« {name} » n'est pas masqué")
        message = f"« {name} » de nouveau visible dans l'annuaire."
    db["actor_decisions"].insert(row)
    return message


# ------------------------------------------------------------------ mentions


def mention_rows(item_id: int, mentions: Iterable[ActorMention]) -> list[dict]:
    """Rows of `actor_mentions` for one item's extracted actors (one per mention)."""
    return [{"item_id": item_id, "start": m.start, "key": m.key, "name": m.name, "kind": m.kind, "match": m.match,
             "departements": json.dumps(list(m.departements)), "communes": json.dumps(list(m.communes))}
            for m in mentions]


_INSERT_MENTION = ("INSERT OR REPLACE INTO actor_mentions (item_id, start, key, name, kind, match, departements, "
                   "communes) VALUES (:item_id, :start, :key, :name, :kind, :match, :departements, :communes)")


def replace_mentions(db: sqlite_utils.Database, item_id: int, mentions: Iterable[ActorMention]) -> None:
    """Replace the machine's mentions of one item (the caller holds the transaction)."""
    db.execute("DELETE FROM actor_mentions WHERE item_id = ?", [item_id])
    # A plain statement: sqlite-utils' insert_all reads the table's schema at each call (once per item).
    db.conn.executemany(_INSERT_MENTION, mention_rows(item_id, mentions))


# ------------------------------------------------------------------ rebuild

_SEEN_DAY = "substr(COALESCE(i.published_at, i.first_seen_at), 1, 10)"


def _resolved_items(db: sqlite_utils.Database, decisions: Decisions) -> None:
    """Temporary tables: `_actor_alias` (merged key -> actor), `_actor_items` (one row per actor per
    item, hidden actors left out)."""
    for name in ("_actor_alias", "_actor_hidden", "_actor_items"):
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")
    db.execute("CREATE TEMP TABLE _actor_alias (key TEXT PRIMARY KEY, actor TEXT NOT NULL)")
    db.conn.executemany("INSERT INTO _actor_alias VALUES (?, ?)", sorted(decisions.aliases().items()))
    db.execute("CREATE TEMP TABLE _actor_hidden (actor TEXT PRIMARY KEY)")
    db.conn.executemany("INSERT INTO _actor_hidden VALUES (?)", [(k,) for k in sorted(decisions.hidden)])
    db.execute("CREATE TEMP TABLE _actor_items AS "
               "SELECT DISTINCT m.item_id, COALESCE(a.actor, m.key) AS actor "
               "FROM actor_mentions m LEFT JOIN _actor_alias a ON a.key = m.key "
               "WHERE COALESCE(a.actor, m.key) NOT IN (SELECT actor FROM _actor_hidden)")
    db.execute("CREATE INDEX temp._actor_items_actor ON _actor_items (actor, item_id)")
    db.execute("CREATE INDEX temp._actor_items_item ON _actor_items (item_id, actor)")


def _drop_temporary(db: sqlite_utils.Database) -> None:
    for name in ("_actor_alias", "_actor_hidden", "_actor_items"):
        db.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _place_counts(db: sqlite_utils.Database) -> dict[str, dict[str, Counter]]:
    """{actor: {"departements": Counter, "communes": Counter}}: in how many items each code placed
    it (`_actor_alias` must exist)."""
    places: dict[str, dict[str, Counter]] = defaultdict(lambda: {"departements": Counter(), "communes": Counter()})
    for column in ("departements", "communes"):
        for actor, code, count in db.execute(
                f"SELECT COALESCE(a.actor, m.key), j.value, COUNT(DISTINCT m.item_id) FROM actor_mentions m "
                f"LEFT JOIN _actor_alias a ON a.key = m.key, json_each(m.{column}) j "
                f"WHERE json_valid(m.{column}) GROUP BY 1, 2"):
            places[actor][column][code] = count
    return places


def actor_places(db: sqlite_utils.Database) -> dict[str, tuple[list[str], list[str]]]:
    """{actor: (département codes, commune codes)} placing each actor, most frequent first (the
    codes behind the directory's names, for the export)."""
    with db.atomic():
        _resolved_items(db, load_decisions(db))
        counts = _place_counts(db)
        _drop_temporary(db)
    return {actor: (_places(c["departements"]), _places(c["communes"])) for actor, c in counts.items()}


def _most_common(counts: Counter) -> str | None:
    """The most frequent value, ties broken by the value (stable from one rebuild to the next)."""
    return min(counts, key=lambda v: (-counts[v], v)) if counts else None


def _places(counts: Counter) -> list[str]:
    """The codes placing an actor often enough, most frequent first."""
    if not counts:
        return []
    top = max(counts.values())
    return [code for code in sorted(counts, key=lambda c: (-counts[c], c)) if counts[code] >= top * PLACE_SHARE]


def territory(gazetteer: Gazetteer, kind: str, departements: list[str], communes: list[str]) -> str | None:
    """Where an actor is, by name: « Libourne (33) » when a commune places it, else its département(s)
    « Gironde », the région for a regional body, None when nothing says."""
    if kind == "regions":
        return REGION_NAME
    if communes:
        commune = gazetteer.communes.get(communes[0])
        if commune:
            return f"{commune['name']} ({commune['dep']})"
    names = [gazetteer.label("departements", code) for code in departements[:3]]
    if not names:
        return None
    return ", ".join(names) + (", …" if len(departements) > 3 else "")


def rebuild_directory(db: sqlite_utils.Database, gazetteer: Gazetteer, taxonomy: Taxonomy) -> int:
    """Rebuild the `acteurs` table from the mentions and the curator's decisions; return its rows.

    A handful of aggregate queries (per actor, never per mention): names, kinds, places, items
    and dates, dispositifs of its items (their effective tags), partners (pairs of actors in the
    same items)."""
    decisions = load_decisions(db)
    actors: dict[str, dict] = {}
    with db.atomic():
        _resolved_items(db, decisions)
        for actor, items, first, last in db.execute(
                f"SELECT ai.actor, COUNT(*), MIN({_SEEN_DAY}), MAX({_SEEN_DAY}) FROM _actor_items ai "
                "JOIN items i ON i.id = ai.item_id GROUP BY ai.actor"):
            actors[actor] = {"items": items, "first_seen": first, "last_seen": last}
        own_names, all_names, own_kinds, all_kinds = (defaultdict(Counter) for _ in range(4))
        for actor, key, name, kind, count in db.execute(
                "SELECT COALESCE(a.actor, m.key), m.key, m.name, m.kind, COUNT(*) FROM actor_mentions m "
                "LEFT JOIN _actor_alias a ON a.key = m.key GROUP BY 1, 2, 3, 4"):
            if actor not in actors:
                continue
            all_names[actor][name] += count
            all_kinds[actor][kind] += count
            if key == actor:  # the actor's own key names it before its merged variants
                own_names[actor][name] += count
                own_kinds[actor][kind] += count
        places = _place_counts(db)
        dispositifs: dict[str, Counter] = defaultdict(Counter)
        for actor, value, count in db.execute(
                "SELECT ai.actor, e.value, COUNT(*) FROM _actor_items ai JOIN effective_tags e "
                "ON e.item_id = ai.item_id AND e.facet = 'dispositifs' GROUP BY ai.actor, e.value"):
            dispositifs[actor][value] = count
        partners: dict[str, list[str]] = defaultdict(list)
        for actor, partner in db.execute(
                "SELECT actor, partner FROM (SELECT a.actor, b.actor AS partner, ROW_NUMBER() OVER ("
                "PARTITION BY a.actor ORDER BY COUNT(*) DESC, b.actor) AS rank FROM _actor_items a "
                "JOIN _actor_items b ON b.item_id = a.item_id AND b.actor != a.actor GROUP BY a.actor, b.actor) "
                "WHERE rank <= ? ORDER BY actor, rank", [PARTNERS]):
            partners[actor].append(partner)
        now = utcnow()
        names = {actor: decisions.names.get(actor) or _most_common(own_names[actor] or all_names[actor])
                 for actor in actors}
        rows = []
        for actor, stats in actors.items():
            kind = decisions.kinds.get(actor) or _most_common(own_kinds[actor] or all_kinds[actor]) or "autre"
            departements, communes = _places(places[actor]["departements"]), _places(places[actor]["communes"])
            rows.append({
                "id": actor, "name": names[actor], "kind": KINDS.get(kind, kind), "kind_slug": kind,
                "departements": json.dumps([gazetteer.display_name("departements", code) for code in departements],
                                           ensure_ascii=False),
                "territory": territory(gazetteer, kind, departements, communes),
                "dispositifs": json.dumps([taxonomy.label("dispositifs", value) for value, _ in sorted(
                    dispositifs[actor].items(), key=lambda kv: (-kv[1], kv[0]))[:DISPOSITIFS]], ensure_ascii=False),
                **stats,
                "partners": json.dumps([names[p] for p in partners[actor]], ensure_ascii=False),
                "updated_at": now,
            })
        db.execute("DELETE FROM acteurs")
        if rows:
            db["acteurs"].insert_all(rows, batch_size=500)
        _drop_temporary(db)
    return len(rows)


# ------------------------------------------------------------------ reads


def actors_of_items(db: sqlite_utils.Database, item_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Per item, its actors after the curator's decisions (merged keys resolved, hidden ones left
    out), in order of first mention, without duplicates:
    [{"id": key, "name", "kind", "kind_label", "territory"}]. Names, kinds and territories are the
    directory's (`acteurs`); an actor not in it yet (a directory not rebuilt since) gets the
    curator's name and kind, else the machine's, and no territory."""
    ids = list(dict.fromkeys(item_ids))
    result: dict[int, list[dict]] = {item_id: [] for item_id in ids}
    if not ids:
        return result
    decisions = load_decisions(db)
    mentions: list[tuple] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        mentions += db.execute(f"SELECT item_id, start, key, name, kind FROM actor_mentions WHERE item_id IN ({marks}) "
                               "ORDER BY item_id, start", chunk).fetchall()
    finals = sorted({decisions.resolve(key) for _, _, key, _, _ in mentions})
    directory: dict[str, tuple] = {}
    for start in range(0, len(finals), 500):
        chunk = finals[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in db.execute(f"SELECT id, name, kind_slug, territory FROM acteurs WHERE id IN ({marks})", chunk):
            directory[row[0]] = row[1:]
    for item_id, _, key, name, kind in mentions:
        actor = decisions.resolve(key)
        if actor in decisions.hidden or any(a["id"] == actor for a in result[item_id]):
            continue
        if actor in directory:
            name, kind, where = directory[actor]
        else:
            name = decisions.names.get(actor) or name
            kind = decisions.kinds.get(actor) or kind
            where = None
        result[item_id].append({"id": actor, "name": name, "kind": kind, "kind_label": KINDS.get(kind, kind),
                                "territory": where})
    return result


def directory_rows(db: sqlite_utils.Database, kind: str | None = None, departement: str | None = None) -> list[dict]:
    """The directory's rows, most cited first, its JSON columns as lists; `kind` a slug,
    `departement` a département's display name (« Gironde (33) »)."""
    where, params = [], []
    if kind:
        where.append("kind_slug = ?")
        params.append(kind)
    if departement:
        where.append("EXISTS (SELECT 1 FROM json_each(acteurs.departements) WHERE value = ?)")
        params.append(departement)
    sql = ("SELECT id, name, kind, kind_slug, departements, territory, dispositifs, items, first_seen, last_seen, "
           "partners FROM acteurs" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY items DESC, name COLLATE NOCASE, id")
    rows = []
    for row in db.execute(sql, params):
        record = dict(zip(("id", "name", "kind_label", "kind", "departements", "territory", "dispositifs", "items",
                           "first_seen", "last_seen", "partners"), row))
        for column in ("departements", "dispositifs", "partners"):
            record[column] = json.loads(record[column] or "[]")
        rows.append(record)
    return rows


@dataclass
class ActorView:
    """One actor as its page shows it."""

    id: str
    row: dict | None                      # its `acteurs` row (None when hidden)
    name: str
    hidden: bool
    variants: list[tuple[str, str]]       # (key, machine's name) merged into it
    partners: list[tuple[str, str, int]]  # (key, name, items in common), visible actors only
    items: list[dict]                     # id, title, published, source: most recent first


def actor_view(db: sqlite_utils.Database, key: str, limit: int = 200) -> ActorView | str | None:
    """The actor `key`'s page: an ActorView, the key it was merged into (a str: redirect there), or
    None when no mention names it."""
    if not _known(db, key):
        return None
    decisions = load_decisions(db)
    actor = decisions.resolve(key)
    if actor != key:
        return actor
    keys = [actor, *decisions.variants(actor)]
    marks = ", ".join("?" for _ in keys)
    row = db.execute("SELECT * FROM acteurs WHERE id = ?", [actor]).fetchone()
    record = None
    if row:
        record = dict(zip([c[0] for c in db.execute("SELECT * FROM acteurs LIMIT 0").description], row))
        for column in ("departements", "dispositifs", "partners"):
            record[column] = json.loads(record[column] or "[]")
    variants = [(k, _display(db, Decisions(), k)) for k in keys[1:]]
    items = [{"id": r[0], "title": r[1] or "(sans titre)", "published": r[2], "source": r[3]} for r in db.execute(
        f"SELECT i.id, i.title, {_SEEN_DAY}, COALESCE(s.name, i.source_id) FROM items i "
        f"LEFT JOIN sources s ON s.id = i.source_id WHERE i.id IN (SELECT item_id FROM actor_mentions "
        f"WHERE key IN ({marks})) ORDER BY {_SEEN_DAY} DESC, i.id DESC LIMIT ?", [*keys, limit])]
    together: Counter = Counter()
    seen: set[tuple[int, str]] = set()
    for item_id, other in db.execute(
            f"SELECT item_id, key FROM actor_mentions WHERE item_id IN (SELECT item_id FROM actor_mentions "
            f"WHERE key IN ({marks}))", keys):
        partner = decisions.resolve(other)
        if partner != actor and partner not in decisions.hidden and (item_id, partner) not in seen:
            seen.add((item_id, partner))
            together[partner] += 1
    partners = [(p, _display(db, decisions, p), n)
                for p, n in sorted(together.items(), key=lambda kv: (-kv[1], kv[0]))[:PARTNERS * 2]]
    return ActorView(id=actor, row=record, name=record["name"] if record else _display(db, decisions, actor),
                     hidden=actor in decisions.hidden, variants=variants, partners=partners, items=items)


VERBS = {"merge": "fusion", "split": "séparation", "rename": "renommage", "hide": "masqué",
         "unhide": "de nouveau visible", "kind": "type"}


def decision_log(db: sqlite_utils.Database) -> list[dict]:
    """Every curator decision on actors, oldest first: id, at, curator, action, key, target, value,
    and `what`, a French description (« fusion : mission-locale-de-tulle → mission-locale-du-libournais »)."""
    log = []
    for row in db["actor_decisions"].rows_where(order_by="id"):
        what = f"{VERBS.get(row['action'], row['action'])} : {row['key']}"
        if row["action"] == "merge":
            what += f" → {row['target']}"
        elif row["action"] == "rename":
            what += f" → « {row['value']} »"
        elif row["action"] == "kind":
            what += f" → {KINDS.get(row['value'], row['value'])}"
        log.append({**row, "what": what})
    return log
