# Operating it: pg_cron retrains on schedule, and pg_dump keeps the models.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('operate',
	"shared_preload_libraries = 'pg_cron'\ncron.database_name = 'postgres'\ncron.use_background_workers = on\n");
load_points($node, 3000);

# pg_cron runs pinnacle_train(..., wait => true); its minute granularity means one wait
my $spec = spec_json(identifier => 'nightly', max_iterations => 40);
$spec =~ s/'/''/g;
$node->safe_psql('postgres', "CREATE EXTENSION pg_cron; "
	  . "SELECT cron.schedule('retrain', '* * * * *', 'SELECT pinnacle_train($spec, wait => true)')");
wait_until($node, "SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'succeeded'",
	'the scheduled job succeeded in cron.job_run_details');
$node->safe_psql('postgres', "SELECT cron.unschedule('retrain')");
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE identifier = 'nightly' ORDER BY id LIMIT 1"),
	'succeeded', 'and its run succeeded');

# pg_dump keeps runs, checkpoints and models: a restored database predicts exactly as before
# (pg_cron lives in one database only, so it leaves before the dump is restored elsewhere)
$node->safe_psql('postgres', 'DROP EXTENSION pg_cron');
my $predict = "SELECT pinnacle_predict('nightly', 0.25::real, -0.5::real)";
my $before = $node->safe_psql('postgres', $predict);
my $dump = $node->basedir . '/pinnacle.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
is($node->safe_psql('restored', $predict), $before, 'the restored model predicts exactly as before');
is($node->safe_psql('restored', "SELECT count(*) > 0 FROM pinnacle.checkpoints"), 't', 'checkpoints restored');
ok($node->safe_psql('restored', "SELECT nextval('pinnacle.runs_id_seq')")
	  > $node->safe_psql('restored', 'SELECT max(id) FROM pinnacle.runs'), 'the run id sequence was restored');

$node->stop;
done_testing();
