# A killed trainer, a fast restart: the run ends 'interrupted', never stays 'running', and a
# continued run goes on from its last checkpoint, not from step 0. (007_isolation.pl shows
# that the server itself never notices a trainer's death.)
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('crash');
load_points($node, 20000);

# kill -9 of a run's trainer: the run reads 'interrupted'
my $run = train_async($node, identifier => 'killed', max_iterations => 1000000);
wait_until($node, "SELECT iterations >= 60 FROM pinnacle.runs WHERE id = $run", 'the run has checkpoints');
my $pid = $node->safe_psql('postgres', "SELECT trainer_pid FROM pinnacle.runs WHERE id = $run");
ok(kill('KILL', $pid), 'killed the trainer with SIGKILL');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($run, '30 seconds')"), 'interrupted',
	'the killed run reads interrupted');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE id = $run"),
	qr/killed by signal 9/, 'with the reason');

# a continued run starts from the last checkpoint, with its optimizer state and history
my $last = $node->safe_psql('postgres', "SELECT max(iteration) FROM pinnacle.checkpoints WHERE run_id = $run");
cmp_ok($last, '>=', 60, "the killed run kept its checkpoint at step $last");
my $resumed = $node->safe_psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'killed', optimizer_state => $run + 0, max_iterations => 40)
	  . ', wait => true)');
is($node->safe_psql('postgres', "SELECT status || ' ' || iterations FROM pinnacle.runs WHERE id = $resumed"),
	'succeeded ' . ($last + 40), 'the continued run succeeds and counts on from the checkpoint');
is($node->safe_psql('postgres',
		"SELECT (metric_values -> 'iteration' ->> 0)::int FROM pinnacle.runs WHERE id = $resumed"),
	'20', 'the metric history goes on from the first run');
is($node->safe_psql('postgres',
		"SELECT min(iteration) > $last FROM pinnacle.metrics WHERE run_id = $resumed"),
	't', 'no step was trained twice');

# pg_ctl restart -m fast: the supervisor has its trainer write a last checkpoint, and the run
# reads 'interrupted'
$run = train_async($node, identifier => 'restarted', max_iterations => 1000000);
wait_until($node, "SELECT iterations >= 60 FROM pinnacle.runs WHERE id = $run", 'the second run has checkpoints');
$node->restart;    # fast mode
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'interrupted',
	'a fast restart leaves the run interrupted');
is($node->safe_psql('postgres',
		"SELECT max(c.iteration) = r.iterations FROM pinnacle.checkpoints c JOIN pinnacle.runs r ON r.id = c.run_id "
		  . "WHERE r.id = $run GROUP BY r.iterations"),
	't', 'with a checkpoint of the very step it reached');
is($node->safe_psql('postgres',
		'SELECT pinnacle_wait(pinnacle_train(' . spec_json(identifier => 'restarted', optimizer_state => 'latest',
			max_iterations => 20) . '))'),
	'succeeded', 'and "latest" continues it');

$node->stop;
done_testing();
