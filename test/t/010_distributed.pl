# Data-parallel runs (compute_kwargs.workers) under faults: a rank killed or stalled ends the
# run 'interrupted' within compute_kwargs.timeout, every rank's process is gone, the server does
# not restart, and the run continues from its checkpoint. A cancel ends every rank; a run takes
# a training slot per rank.
use strict;
use warnings;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('distributed', "pinnacle.max_workers = 3\n");
load_points($node, 20000);
my $server_started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

# A long run of two ranks, started without waiting; returns its id and its ranks' pids once
# pinnacle.progress lists both and it has a checkpoint.
sub start_two_ranks
{
	my ($identifier, %extra) = @_;
	my $run = train_async($node, identifier => $identifier, max_iterations => 1000000,
		compute_kwargs => { workers => 2, timeout => 5 }, %extra);
	wait_until($node, "SELECT iterations >= 40 FROM pinnacle.runs WHERE id = $run", "$identifier: training");
	wait_until($node, "SELECT cardinality(trainer_pids) = 2 FROM pinnacle.progress WHERE run_id = $run",
		"$identifier: both ranks in pinnacle.progress");
	my @pids = split /,/, $node->safe_psql('postgres',
		"SELECT array_to_string(trainer_pids, ',') FROM pinnacle.progress WHERE run_id = $run");
	return ($run, @pids);
}

sub all_gone
{
	my (@pids) = @_;
	for (1 .. 50)
	{
		return 1 unless grep { kill(0, $_) } @pids;
		usleep(100_000);
	}
	return 0;
}

# what pinnacle.progress shows of a data-parallel run
my ($run, @ranks) = start_two_ranks('progress');
is($node->safe_psql('postgres', "SELECT world_size FROM pinnacle.progress WHERE run_id = $run"), '2',
	'pinnacle.progress shows the world size');
is($node->safe_psql('postgres', "SELECT trainer_pid FROM pinnacle.runs WHERE id = $run"), $ranks[0],
	'pinnacle.runs.trainer_pid is rank 0');
wait_until($node, "SELECT cardinality(rank_rows_per_second) = 2 AND rank_rows_per_second[2] > 0
	AND allreduce_seconds > 0 AND allreduce_bytes_per_step > 0 FROM pinnacle.progress WHERE run_id = $run",
	'each rank\'s rows/s and the time in allreduce');

# a run takes a slot per rank: with 3 slots, a second run of two ranks waits
my $second = train_async($node, identifier => 'second', max_iterations => 50,
	compute_kwargs => { workers => 2 });
wait_until($node, "SELECT status = 'queued' FROM pinnacle.runs WHERE id = $second",
	'a run of two ranks waits while one slot is free');
# and a run of one rank that comes after it does not take that slot before it
my $third = train_async($node, identifier => 'third', max_iterations => 50);
wait_until($node, "SELECT status = 'queued' FROM pinnacle.runs WHERE id = $third",
	'a later run of one rank waits behind it');
usleep(1_000_000);
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $third"), 'queued',
	'and does not overtake it, though a slot is free');

# cancelling cancels every rank
is($node->safe_psql('postgres', "SELECT pinnacle_cancel($run)"), 't', 'pinnacle_cancel');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($run, '30 seconds')"), 'cancelled', 'the run ends cancelled');
ok(all_gone(@ranks), 'a cancel ends every rank\'s process');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($second, '60 seconds')"), 'succeeded',
	'the queued run trains once the slots free');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($third, '60 seconds')"), 'succeeded',
	'and the one behind it after');

# a rank's own failure is the run's error, naming the rank: BatchNorm in training mode cannot
# take a batch's single row, which one rank gets when a batch of one row is split over two
my $bn = $node->safe_psql('postgres', 'SELECT pinnacle_train(' . spec_json(identifier => 'bn',
	model => { layers => [ { type => 'Linear', out_features => 8 }, { type => 'BatchNorm1d' },
		{ type => 'Linear', out_features => 1 } ] },
	loader_kwargs => { batch_size => 1 }, max_iterations => 20, compute_kwargs => { workers => 2 }) . ')');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($bn, '60 seconds')"), 'failed', 'the run fails');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE id = $bn"),
	qr/^rank [01] of 2 \(compute_kwargs.workers\): .*more than 1 value per channel/,
	'with the failing rank\'s own error, not the other rank\'s loss of it');

# a rank killed: interrupted, naming the rank and the signal
($run, @ranks) = start_two_ranks('killed');
ok(kill('KILL', $ranks[1]), 'killed rank 1 with SIGKILL');
cmp_ok(seconds_until_ended($node, $run), '<', 5, 'the run ends within compute_kwargs.timeout');
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'interrupted',
	'a killed rank leaves the run interrupted');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE id = $run"),
	qr/rank 1 of 2 \(compute_kwargs.workers\): .*killed by signal 9/, 'the error names the rank and the signal');
ok(all_gone(@ranks), 'every rank\'s process is gone');
no_restart($node, $server_started, 'the server');
ok(!$node->log_contains('terminating any other active server processes'), 'and its log shows no crash restart');

# and it continues from its last checkpoint, on two ranks again
my $last = $node->safe_psql('postgres', "SELECT max(iteration) FROM pinnacle.checkpoints WHERE run_id = $run");
my $resumed = $node->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'killed', optimizer_state => $run + 0, max_iterations => 40,
		compute_kwargs => { workers => 2 }) . ', wait => true)');
is($node->safe_psql('postgres', "SELECT status || ' ' || iterations FROM pinnacle.runs WHERE id = $resumed"),
	'succeeded ' . ($last + 40), "the continued run goes on from step $last");

# a rank that stops answering: the others give up after compute_kwargs.timeout (5 s)
($run, @ranks) = start_two_ranks('stalled');
my $supervisor = $node->safe_psql('postgres', "SELECT worker_pid FROM pinnacle.runs WHERE id = $run");
ok(glob("/tmp/pinnacle_ranks_${supervisor}_*"), 'the ranks\' store is in a directory of their supervisor');
ok(kill('STOP', $ranks[1]), 'stopped rank 1 with SIGSTOP');
my $seconds = seconds_until_ended($node, $run);
cmp_ok($seconds, '<', 5 + 5, "a stalled rank ends the run within the timeout and the supervisor's poll ($seconds s)");
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'interrupted',
	'a stalled rank leaves the run interrupted');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE id = $run"),
	qr/lost the other ranks|stopped answering|timeout/i, 'the error says a rank stopped answering');
ok(all_gone(@ranks), 'every rank\'s process is gone, the stopped one too');
ok(!glob("/tmp/pinnacle_ranks_${supervisor}_*"), 'and so is the directory of their store');

done_testing();
