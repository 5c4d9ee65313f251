-- Data sets for the regression tests, generated with a fixed seed.
SELECT setseed(0.42);

-- y = 3*x1 - 2*x2 + 1 plus small noise
CREATE TABLE linear AS
SELECT x1, x2, (3 * x1 - 2 * x2 + 1 + (random() - 0.5) * 0.02)::real AS y
FROM (SELECT (random() * 2 - 1)::real AS x1, (random() * 2 - 1)::real AS x2
      FROM generate_series(1, 10000)) AS points;

CREATE TABLE linear_holdout AS
SELECT x1, x2, (3 * x1 - 2 * x2 + 1)::real AS y
FROM (SELECT (random() * 2 - 1)::real AS x1, (random() * 2 - 1)::real AS x2
      FROM generate_series(1, 1000)) AS points;

-- three well-separated classes around (0, 0), (6, 6) and (-6, 6)
CREATE TABLE blobs AS
SELECT ARRAY[cx + random() * 2 - 1, cy + random() * 2 - 1]::real[] AS features, label
FROM (SELECT g % 3 AS label,
             (ARRAY[0, 6, -6])[g % 3 + 1] AS cx,
             (ARRAY[0, 6, 6])[g % 3 + 1] AS cy
      FROM generate_series(1, 3000) AS g) AS centres;

SELECT count(*) AS linear_rows FROM linear;
SELECT label, count(*) FROM blobs GROUP BY label ORDER BY label;
