# Runs and models belong to their owner; the select runs with the caller's privileges,
# and row-level security hides rows from training exactly as from a query.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('security');
load_points($node, 2000);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE TABLE secret AS SELECT * FROM points;
	GRANT SELECT ON secret TO alice;
	-- shared rows, each visible to one role
	CREATE TABLE shared AS SELECT p.*, CASE WHEN random() < 0.25 THEN 'bob' ELSE 'alice' END AS reader FROM points p;
	ALTER TABLE shared ENABLE ROW LEVEL SECURITY;
	CREATE POLICY readers ON shared USING (reader = current_user);
	GRANT SELECT ON shared TO PUBLIC;
});
sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', "SET ROLE $role; $sql");
}

# a plain role trains, and the select cannot read what the role cannot
my $alice_run = as_role('alice', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'alice_model', select => 'SELECT x1, x2, y FROM secret', max_iterations => 20)
	  . ', wait => true)');
is(as_role('alice', "SELECT status FROM pinnacle.runs WHERE id = $alice_run"), 'succeeded', 'alice trains');
my ($ret, $out, $err) = $node->psql('postgres', 'SET ROLE bob; SELECT pinnacle_train('
	  . spec_json(identifier => 'bob_model', select => 'SELECT x1, x2, y FROM secret', max_iterations => 20) . ')');
like($err, qr/permission denied for table secret/, 'bob cannot train on a table he cannot read');

# row-level security applies to the training rows
my $bob_run = as_role('bob', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'bob_model', select => 'SELECT x1, x2, y FROM shared', max_iterations => 20)
	  . ', wait => true)');
is(as_role('bob', "SELECT train_rows = (SELECT count(*) FROM shared) FROM pinnacle.runs WHERE id = $bob_run"),
	't', 'bob trains on exactly the rows he can see');
is($node->safe_psql('postgres', "SELECT train_rows < 1000 FROM pinnacle.runs WHERE id = $bob_run"),
	't', 'which are fewer than the table holds');

# each role sees only its own runs, models, checkpoints and metrics
is(as_role('alice', 'SELECT string_agg(identifier, \',\') FROM pinnacle.runs'), 'alice_model', 'alice sees her runs only');
is(as_role('bob', 'SELECT string_agg(identifier, \',\') FROM pinnacle.runs'), 'bob_model', 'bob sees his runs only');
is(as_role('bob', "SELECT count(*) FROM pinnacle.checkpoints WHERE run_id = $alice_run"), '0', 'nor her checkpoints');
is(as_role('bob', "SELECT count(*) FROM pinnacle.metrics WHERE run_id = $alice_run"), '0', 'nor her metrics');
($ret, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT pinnacle_predict('alice_model', 1::real, 1::real)");
like($err, qr/model "alice_model" does not exist/, 'nor can he use her model');
($ret, $out, $err) = $node->psql('postgres', "SET ROLE bob; SELECT pinnacle_cancel($alice_run)");
like($err, qr/run $alice_run does not exist/, 'nor cancel her run');
($ret, $out, $err) = $node->psql('postgres', 'SET ROLE bob; SELECT pinnacle_train('
	  . spec_json(identifier => 'alice_model', select => 'SELECT x1, x2, y FROM shared', max_iterations => 5) . ')');
like($err, qr/model "alice_model" belongs to role alice/, 'nor train a version of it');
($ret, $out, $err) = $node->psql('postgres',
	"SET ROLE bob; UPDATE pinnacle.runs SET status = 'failed' WHERE id = $alice_run RETURNING id");
is($out, '', 'nor change her runs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pinnacle.runs'), '2', 'a superuser sees both');

$node->stop;
done_testing();
