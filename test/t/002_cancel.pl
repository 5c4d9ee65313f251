# Cancelling: pinnacle_cancel, a cancelled waiting caller, a client that goes away mid-feed.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PinnacleTest;

my $node = start_node('cancel');
load_points($node, 20000);

# pinnacle_cancel stops the run at its next batch; it ends 'cancelled' and keeps its checkpoint
my $run = train_async($node, identifier => 'cancelled', max_iterations => 1000000);
wait_until($node, "SELECT iterations >= 40 FROM pinnacle.runs WHERE id = $run", 'the run has checkpoints');
is($node->safe_psql('postgres', "SELECT pinnacle_cancel($run)"), 't', 'pinnacle_cancel signals the worker');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($run, '30 seconds')"), 'cancelled', 'the run ends cancelled');
is($node->safe_psql('postgres', "SELECT count(*) > 0 FROM pinnacle.checkpoints WHERE run_id = $run"),
	't', 'and keeps its checkpoints');
is($node->safe_psql('postgres', "SELECT pinnacle_cancel($run)"), 'f', 'cancelling an ended run does nothing');
is($node->safe_psql('postgres', "SELECT count(*) FROM pinnacle.models WHERE identifier = 'cancelled'"),
	'0', 'a cancelled run makes no model version');

# statement_timeout on a caller that waits cancels its run the same way
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '3s'; SELECT pinnacle_train("
	  . spec_json(identifier => 'timed_out', max_iterations => 1000000) . ', wait => true)');
like($err, qr/statement timeout/, 'the waiting caller hits its statement timeout');
wait_until($node, "SELECT status = 'cancelled' FROM pinnacle.runs WHERE identifier = 'timed_out'",
	'its run ends cancelled');

# a client that disconnects while its rows are still streaming leaves a failed run
my $slow = spec_json(identifier => 'disconnected',
	select => 'SELECT x1, x2, y FROM points WHERE pg_sleep(0.0005) IS NOT NULL', max_iterations => 10);
my $client = $node->background_psql('postgres', wait => 0);
$client->query_until(qr/started/, "\\echo started\nSELECT pinnacle_train($slow, wait => true);\n");
wait_until($node, "SELECT count(*) = 1 FROM pinnacle.runs WHERE identifier = 'disconnected'",
	'the slow run has started streaming');
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.0005)%' "
	  . "AND backend_type = 'client backend' AND pid <> pg_backend_pid()");
wait_until($node, "SELECT status = 'failed' FROM pinnacle.runs WHERE identifier = 'disconnected'",
	'the run of the vanished client fails');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE identifier = 'disconnected'"),
	qr/stopped sending rows/, 'with a clear reason');
is($node->safe_psql('postgres', "SELECT count(*) FROM pinnacle.models WHERE identifier = 'disconnected'"),
	'0', 'and no model version');
eval { $client->quit };    # its backend was terminated; psql exits with an error

# pinnacle_predict_batch runs the model on a thread of its own while it fetches the next rows:
# a cancel or a terminate at any moment waits for that thread, and the server never restarts
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
$node->safe_psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'batch', max_iterations => 5) . ', wait => true)');
my $batch = "SELECT count(*) FROM pinnacle_predict_batch('batch', "
  . "'SELECT x1, x2 FROM points, generate_series(1, 500)') AS p(prediction real[])";
for my $ms (30, 100, 300, 1000)
{
	# the model loaded first, so that the timeout falls in the loop over the rows
	($ret, $out, $err) = $node->psql('postgres',
		"SELECT count(*) FROM pinnacle_predict_batch('batch', 'SELECT x1, x2 FROM points LIMIT 1') AS p(prediction real[]);\n"
		  . "SET statement_timeout = '${ms}ms';\n$batch");
	like($err, qr/statement timeout/, "a predict_batch cancelled after $ms ms ends with the timeout");
}
my $predicting = $node->background_psql('postgres', wait => 0);
$predicting->query_until(qr/started/, "\\echo started\n$batch;\n");
wait_until($node,
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 500)%' "
	  . "AND state = 'active' AND pid <> pg_backend_pid()", 'a long predict_batch runs');
usleep(1_500_000);    # past the model's load, into the loop
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 500)%' "
	  . "AND pid <> pg_backend_pid()");
eval { $predicting->quit };    # its backend was terminated; psql exits with an error
no_restart($node, $started, 'cancelled and terminated predict_batch calls');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle_predict_batch('batch', 'SELECT x1, x2 FROM points') AS p(prediction real[])"),
	'20000', 'the next predict_batch predicts every row');

$node->stop;
done_testing();
