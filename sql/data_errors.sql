-- Bad data or a bad select: an ERROR naming the column, the row or the field.
CREATE TABLE bad (id int, features real[], label int, name text, price real);
INSERT INTO bad VALUES (1, '{1,2}', 0, 'a', 1.5), (2, '{3,4}', 1, 'b', NULL), (3, '{5}', 1, 'c', 2.5),
                       (4, '{6,NULL}', 0, 'd', 3.5);
CREATE TABLE audit (n int);

-- a key column the select does not return
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT features, label FROM bad", "key": ["features", "target"], "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy"}');
-- a key column of a type that cannot feed a model
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT name, label FROM bad", "key": ["name", "label"], "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy"}');
-- cross_entropy needs an integer class index
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT features, price FROM bad", "key": ["features", "price"], "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy"}');
-- a select that writes, plainly or in a WITH, is refused and writes nothing
SELECT pinnacle_train('{"identifier": "d", "select": "INSERT INTO audit VALUES (1) RETURNING n, n AS m", "key": ["n", "m"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "d", "select": "WITH w AS (INSERT INTO audit VALUES (2) RETURNING n) SELECT n, n AS m FROM w", "key": ["n", "m"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "d", "select": "DELETE FROM bad RETURNING price, price AS p", "key": ["price", "p"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT price, price AS p FROM bad FOR UPDATE", "key": ["price", "p"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "d", "select": "SELEC 1", "key": ["a", "b"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT count(*) AS audit_rows FROM audit;
SELECT count(*) AS bad_rows FROM bad;
-- a NULL, a ragged array, an array holding a NULL: the column and the row are named
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT price, id FROM bad ORDER BY id", "key": ["price", "id"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "mse"}');
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT features, label FROM bad ORDER BY id", "key": ["features", "label"], "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy"}');
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT features, label FROM bad WHERE id <> 3 ORDER BY id", "key": ["features", "label"], "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy"}');
-- no rows at all
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT features, label FROM bad WHERE false", "key": ["features", "label"], "model": {"layers": [{"type": "Linear", "out_features": 2}]}, "objective": "cross_entropy"}');
SELECT count(*) AS runs FROM pinnacle.runs;
-- a bce_with_logits target is a probability: 2 is refused, the run fails with the reason
SET client_min_messages = warning;
SELECT pinnacle_train('{"identifier": "d", "select": "SELECT price, 2.0::real AS target FROM bad WHERE price IS NOT NULL", "key": ["price", "target"], "model": {"layers": [{"type": "Linear", "out_features": 1}]}, "objective": "bce_with_logits", "max_iterations": 3}', wait => true);
