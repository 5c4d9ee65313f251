# Model lifecycle across sessions and dumps: a deploy reaches every backend at its next
# statement, and pg_dump keeps snapshot tables and deployments.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('models');
load_points($node, 2000);
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN; GRANT CREATE ON SCHEMA public TO alice');

# alice trains version 1 with its rows kept, then version 2, which deploys
my $psql_alice = sub { $node->safe_psql('postgres', "SET ROLE alice; $_[0]") };
my $run1 = $psql_alice->('SELECT pinnacle_train('
	  . spec_json(max_iterations => 40, download => JSON::PP::true) . ', wait => true)');
$psql_alice->('SELECT pinnacle_train(' . spec_json(max_iterations => 80) . ', wait => true)');
my $predict = sub { "SELECT pinnacle_predict('$_[0]', 0.25::real, -0.5::real)" };
my $v1 = $psql_alice->($predict->('m@1'));
my $v2 = $psql_alice->($predict->('m@2'));
isnt($v1, $v2, 'the two versions predict differently');

# a backend that has version 2 loaded predicts with version 1 from the statement after
# another backend deployed it, and with version 2 again after a rollback
my $bystander = $node->background_psql('postgres');
$bystander->query_safe('SET ROLE alice');
is($bystander->query_safe($predict->('m')), $v2, 'a backend predicts with the deployed version 2');
is($psql_alice->("SELECT pinnacle_deploy('m', '1')"), '1', 'another backend deploys version 1');
is($bystander->query_safe($predict->('m')), $v1, 'the first backend predicts with version 1 at its next statement');
is($psql_alice->("SELECT pinnacle_deploy('m', 'rollback')"), '2', 'a rollback deploys version 2 again');
is($bystander->query_safe($predict->('m')), $v2, 'and the first backend follows');
$psql_alice->("SELECT pinnacle_deploy('m', '1')");
$bystander->quit;

# pg_dump keeps the snapshot table (with its rows and owner) and the deployments: the
# restored database predicts with the deployed version and continues the run on its rows
my $snapshot = $node->safe_psql('postgres', "SELECT snapshot FROM pinnacle.runs WHERE id = $run1");
my $rows = "SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) FROM $snapshot t";
my $kept = $node->safe_psql('postgres', $rows);
my $dump = $node->basedir . '/models.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
is($node->safe_psql('restored', $rows), $kept, 'the snapshot table is restored with the same rows');
is($node->safe_psql('restored', "SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename = '$snapshot'"),
	'alice', 'owned by the run\'s role');
is($node->safe_psql('restored', "SET ROLE alice; " . $predict->('m')), $v1, 'the deployed version 1 is restored');
is($node->safe_psql('restored', "SELECT string_agg(version::text, ',' ORDER BY id) FROM pinnacle.deployments"),
	'1,2,1', 'with its deployment history');
my $continued = $node->safe_psql('restored', 'SET ROLE alice; SELECT pinnacle_train('
	  . spec_json(max_iterations => 60, optimizer_state => int($run1), download => JSON::PP::true) . ', wait => true)');
is($node->safe_psql('restored', "SELECT status, train_rows = (SELECT count(*) FROM $snapshot) FROM pinnacle.runs WHERE id = $continued"),
	'succeeded|t', 'a run continues on the restored snapshot\'s rows');

$node->stop;
done_testing();
