# Searches under pinnacle.max_workers: a search's trials queue for training slots like any
# run, no more than max_workers train at once, and halving, which decides its rungs as
# trials arrive, finishes even when only one trial can train at a time.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);
use Test::More;
use PinnacleTest;

my $node = start_node('search', "pinnacle.max_workers = 2\n");
load_points($node, 2000);

my $search = $node->safe_psql('postgres',
	'SELECT pinnacle_search(' . spec_json(identifier => 'grid', max_iterations => 3000, validation_interval => 500)
	  . q{, '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.01, 0.003, 0.001, 0.0003]}}')});
my ($most_training, $saw_queued) = (0, 0);
for (1 .. 1200)
{
	my ($training, $queued) = split /\|/, $node->safe_psql('postgres',
		"SELECT (SELECT count(*) FROM pinnacle.progress WHERE search_id = $search AND trainer_pids <> '{}'), "
		  . "(SELECT count(*) FROM pinnacle.runs WHERE search_id = $search AND status = 'queued')");
	$most_training = $training if $training > $most_training;
	$saw_queued ||= $queued > 0;
	last if $node->safe_psql('postgres', "SELECT status FROM pinnacle.searches WHERE id = $search") ne 'running';
	usleep(100_000);
}
ok($saw_queued, 'trials beyond pinnacle.max_workers waited as queued');
cmp_ok($most_training, '<=', 2, "at most two trials trained at once (seen: $most_training)");
is($node->safe_psql('postgres', "SELECT pinnacle_wait_search($search)"), 'succeeded', 'the search succeeded');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle.runs WHERE search_id = $search AND status = 'succeeded'"),
	'4', 'all four trials ran to their end');

# halving with one training slot: trials arrive at each rung one after another, none waits
$node->append_conf('postgresql.conf', "pinnacle.max_workers = 1\n");
$node->reload;
my $halving = $node->safe_psql('postgres',
	'SELECT pinnacle_search(' . spec_json(identifier => 'halving', max_iterations => 200)
	  . q{, '{"method": "halving", "space": {"optimizer_kwargs.lr": [0.03, 0.01, 0.001, 0.0001]}}')});
is($node->safe_psql('postgres', "SELECT pinnacle_wait_search($halving, '300 s')"), 'succeeded',
	'halving finished with a single training slot');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle.search_trials WHERE search_id = $halving AND halted_at_rung IS NOT NULL"),
	$node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle.runs WHERE search_id = $halving AND stop_reason = 'search_halving' "
		  . "AND status = 'cancelled'"),
	'every halted trial ended cancelled with stop_reason search_halving');
# (which trials halving stops depends on the order the one slot takes them in: a trial
# that arrives better than every earlier one at each rung goes on)
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle.runs r JOIN pinnacle.search_trials t ON t.run_id = r.id "
		  . "WHERE t.search_id = $halving AND (r.status = 'succeeded' OR t.halted_at_rung IS NOT NULL)"),
	'4', 'every trial either ran to its end or was halted');

# a waiting caller that is cancelled cancels every trial, queued ones included, and the
# search ends cancelled
my $client = $node->background_psql('postgres', wait => 0);
$client->query_until(qr/started/, "\\echo started\nSELECT pinnacle_search("
	  . spec_json(identifier => 'waited', max_iterations => 1000000)
	  . q{, '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.01, 0.001, 0.0001]}}', wait => true);}
	  . "\n");
# (a trial queues for a slot once its rows are in; one slot: one trains, two queue)
wait_until($node, "SELECT count(*) = 3 FROM pinnacle.runs WHERE identifier = 'waited' AND search_id IS NOT NULL "
	  . "AND (status = 'queued' OR (status = 'running' AND iterations > 0))",
	'the search is recorded and its trials have their rows');
$node->safe_psql('postgres',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pinnacle_search(%waited%' "
	  . "AND backend_type = 'client backend' AND pid <> pg_backend_pid()");
wait_until($node, "SELECT status = 'cancelled' FROM pinnacle.searches WHERE identifier = 'waited'",
	'its search ends cancelled');
is($node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT r.status, ',') FROM pinnacle.runs r WHERE r.identifier = 'waited'"),
	'cancelled', 'and so does every trial');
eval { $client->quit };    # psql exits with its cancelled statement's error

# a search that needs more worker slots than are free fails before it is recorded
my ($ret, $out, $err) = $node->psql('postgres',
	'SELECT pinnacle_search(' . spec_json(identifier => 'too_many', max_iterations => 10)
	  . q{, '{"method": "random", "trials": 30, "space": {"optimizer_kwargs.lr": {"uniform": [0.001, 0.01]}}}')});
like($err, qr/no background worker slot is free/, 'a search beyond max_worker_processes fails at once');
is($node->safe_psql('postgres', "SELECT count(*) FROM pinnacle.searches WHERE identifier = 'too_many'"), '0',
	'and records no search');
$node->stop;

done_testing();
