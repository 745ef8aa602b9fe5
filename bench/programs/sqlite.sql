-- sqlite - the sqlite3 shell with an in-memory database: a table of 400000
-- rows built from a recursive query, two indexes, joins, grouping, sorting,
-- updates and deletes. The database pages (a cache of 64 MiB), the B-tree
-- cursors, the parsed statements and every row's text come from malloc.
--
-- Run by scripts/bench --programs as `sqlite3 :memory: ".read sqlite.sql"`
-- under each allocator (through LD_PRELOAD); it does not scale with
-- BENCH_SCALE. Prints one line: sqlite and a checksum of the query
-- results, which must be the same under every allocator.
PRAGMA cache_size = -65536;
CREATE TABLE item(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, price REAL, note TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
INSERT INTO item
SELECT i, (i * 7919) % 997,
       printf('item-%08x', (i * 2654435761) % 4294967296),
       ((i * 40503) % 100000) / 100.0,
       substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor', 1 + i % 40, 10 + i % 37)
FROM n;
CREATE INDEX item_grp ON item(grp, price);
CREATE INDEX item_name ON item(name);
CREATE TABLE grp_total AS SELECT grp, count(*) AS n, sum(price) AS total, max(name) AS last FROM item GROUP BY grp;
UPDATE item SET note = upper(note) || '!' WHERE id % 3 = 0;
DELETE FROM item WHERE id % 5 = 0;
CREATE TEMP TABLE ranked AS
  SELECT i.grp, i.name, i.price, g.total FROM item i JOIN grp_total g USING (grp)
  WHERE i.price > 500 ORDER BY i.name DESC LIMIT 50000;
SELECT 'sqlite rows=' || (SELECT count(*) FROM item) || ' checksum=' ||
       ((SELECT sum(length(note)) FROM item)
        + (SELECT count(DISTINCT substr(name, 6, 3)) FROM item)
        + (SELECT CAST(sum(total) AS INTEGER) % 1000003 FROM grp_total)
        + (SELECT count(*) FROM ranked)
        + (SELECT CAST(sum(price) AS INTEGER) FROM (SELECT price FROM item ORDER BY note, id LIMIT 1000)));
