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
cmp_ok($node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle.search_trials WHERE search_id = $halving AND halted_at_rung IS NOT NULL"),
	'>=', 1, 'halving stopped trials');

# a waiting caller that is cancelled (here by statement_timeout) cancels every trial, queued
# ones included, and the search ends cancelled
my ($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '4s'; SELECT pinnacle_search("
	  . spec_json(identifier => 'timed_out', max_iterations => 1000000)
	  . q{, '{"method": "grid", "space": {"optimizer_kwargs.lr": [0.01, 0.001, 0.0001]}}', wait => true)});
like($err, qr/statement timeout/, 'the waiting caller hits its statement timeout');
wait_until($node, "SELECT status = 'cancelled' FROM pinnacle.searches WHERE identifier = 'timed_out'",
	'its search ends cancelled');
is($node->safe_psql('postgres',
		"SELECT string_agg(DISTINCT r.status, ',') FROM pinnacle.runs r WHERE r.identifier = 'timed_out'"),
	'cancelled', 'and so does every trial');

# a search that needs more worker slots than are free fails before it is recorded
($ret, $out, $err) = $node->psql('postgres',
	'SELECT pinnacle_search(' . spec_json(identifier => 'too_many', max_iterations => 10)
	  . q{, '{"method": "random", "trials": 30, "space": {"optimizer_kwargs.lr": {"uniform": [0.001, 0.01]}}}')});
like($err, qr/no background worker slot is free/, 'a search beyond max_worker_processes fails at once');
is($node->safe_psql('postgres', "SELECT count(*) FROM pinnacle.searches WHERE identifier = 'too_many'"), '0',
	'and records no search');
$node->stop;

done_testing();
