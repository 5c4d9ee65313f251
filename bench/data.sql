-- The benchmark's data: images(pixels bytea, features real[], label int), :rows rows, 10
-- classes. pixels holds an image's 784 bytes; features the same 784 values as real, the way
-- users store feature vectors. 784 floats are 3,160 bytes, over the TOAST threshold, so
-- PostgreSQL compresses them (pglz, the default) and stores them out of line; bench/run.sh
-- reports the stored size (pg_column_size). With -v bytea_only=1 there is no features column
-- (bench/streaming.sh).
--
-- Per-byte random() over 47 million bytes would take minutes, so each image is cut from two
-- pools of random bytes instead: a 784-byte window of dark noise (0..99) with an 84-byte window
-- of bright noise (150..249) laid over it at an offset set by the class (70 bytes apart) plus
-- a random jitter of 0..20. The class is learnable from where the bright band lies; every
-- image differs. A few bytea calls per row.
SELECT setseed(0.42);

CREATE TEMP TABLE pools AS
SELECT decode(string_agg(lpad(to_hex((random() * 99)::int), 2, '0'), ''), 'hex') AS dark,
       decode(string_agg(lpad(to_hex(150 + (random() * 99)::int), 2, '0'), ''), 'hex') AS bright
FROM generate_series(1, 100000);

\if :{?bytea_only}
CREATE TABLE images AS
\else
CREATE TEMP TABLE images_bytea AS
\endif
SELECT overlay(substr(p.dark, 1 + (random() * (100000 - 784))::int, 784)
               PLACING substr(p.bright, 1 + (random() * (100000 - 84))::int, 84)
               FROM 1 + s.label * 70 + (random() * 20)::int) AS pixels,
       s.label
FROM (SELECT i % 10 AS label FROM generate_series(1, :rows) AS i) AS s, pools AS p;

\if :{?bytea_only}
\else
-- the same pixels as real[]: 784 get_byte calls per row (about 10 s for 60,000 rows)
CREATE TABLE images AS
SELECT pixels, ARRAY(SELECT get_byte(pixels, i)::real FROM generate_series(0, 783) AS i) AS features, label
FROM images_bytea;
DROP TABLE images_bytea;
\endif

ANALYZE images;
