# Crash isolation (DESIGN.md section 7): a trainer that dies by any signal ends its run alone.
# The server does not restart, another session's open transaction commits, the status is true
# within 5 s without any pinnacle call, and the run continues from its checkpoint. Also: the
# memory limit, an immediate shutdown, a crash restart, and the supervisor's memory over a long run.
use strict;
use warnings;
use MIME::Base64;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('isolation', "shared_preload_libraries = 'pinnacle_train'\n");
load_points($node, 20000);
$node->safe_psql('postgres', 'CREATE TABLE bystander (n int)');
my $server_started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

sub the_server_did_not_restart
{
	my ($what) = @_;
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $server_started,
		"$what: pg_postmaster_start_time() is unchanged");
	ok(!$node->log_contains('terminating any other active server processes'),
		"$what: the log shows no crash restart");
	return;
}

# Kills the trainer of a run with $signal while another session holds an open transaction.
sub kill_trainer
{
	my ($signal, $identifier) = @_;
	my $bystander = $node->background_psql('postgres');
	$bystander->query_safe('BEGIN');
	$bystander->query_safe("INSERT INTO bystander VALUES (1)");

	my $run = train_async($node, identifier => $identifier, max_iterations => 1000000);
	wait_until($node, "SELECT iterations >= 60 FROM pinnacle.runs WHERE id = $run", "$signal: the run has checkpoints");
	my ($trainer, $supervisor) = split /\|/,
	  $node->safe_psql('postgres', "SELECT trainer_pid, worker_pid FROM pinnacle.runs WHERE id = $run");
	isnt($trainer, $supervisor, "$signal: the trainer is a process of its own");
	is(slurp_file("/proc/$trainer/oom_score_adj"), "1000\n", "$signal: the trainer has oom_score_adj 1000");
	my @shared = grep { (split ' ')[1] =~ /s$/ } split /\n/, slurp_file("/proc/$trainer/maps");
	is(scalar(@shared), 0, "$signal: the trainer maps none of the server's shared memory");
	my $data_directory = $node->data_dir;
	my @files = map { readlink($_) // '' } glob("/proc/$trainer/fd/*");
	is(join(' ', grep { /^\Q$data_directory\E|^pipe:|^anon_inode:/ } @files),
		'', "$signal: the trainer holds none of the server's files, pipes or event descriptors");
	is(scalar(grep { /^socket:/ } @files), 1, "$signal: the trainer's one socket is its channel");
	is($node->safe_psql('postgres', "SELECT trainer_pids = ARRAY[$trainer] FROM pinnacle.progress WHERE run_id = $run"),
		't', "$signal: pinnacle.progress lists the trainer");

	ok(kill($signal, $trainer), "killed the trainer with SIG$signal");
	cmp_ok(seconds_until_ended($node, $run), '<', 5, "$signal: the status is right within 5 s, without a pinnacle call");
	$bystander->query_safe('COMMIT');
	$bystander->quit;
	is($node->safe_psql('postgres', 'SELECT count(*) > 0 FROM bystander'), 't',
		"$signal: the other session's transaction committed");
	the_server_did_not_restart("SIG$signal");
	return $run;
}

# SIGKILL: interrupted, and the run continues from its last checkpoint
my $run = kill_trainer('KILL', 'killed');
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'interrupted',
	'a killed trainer leaves its run interrupted');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE id = $run"),
	qr/killed by signal 9 \(Killed\)/, 'the error names the signal');
my $last = $node->safe_psql('postgres', "SELECT max(iteration) FROM pinnacle.checkpoints WHERE run_id = $run");
cmp_ok($last, '>=', 60, "the run kept its checkpoint at step $last");
my $resumed = $node->safe_psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'killed', optimizer_state => $run + 0, max_iterations => 40)
	  . ', wait => true)');
is($node->safe_psql('postgres', "SELECT status || ' ' || iterations FROM pinnacle.runs WHERE id = $resumed"),
	'succeeded ' . ($last + 40), 'the continued run counts on from the checkpoint');

# every waited run ends with one summary NOTICE, however short
my ($ret, $out, $err) = $node->psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'short', max_iterations => 3) . ', wait => true)');
like($err, qr/NOTICE:  run \d+ succeeded after 3 steps, best objective [\d.e+-]+ at step 3, stopped by max_iterations, [\d.]+ s/,
	'a waited run of 3 steps ends with its summary');

# SIGSEGV, as a crash inside libtorch would be: failed, with the signal named
$run = kill_trainer('SEGV', 'crashed');
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'failed',
	'a crashed trainer fails its run');
like($node->safe_psql('postgres', "SELECT error FROM pinnacle.runs WHERE id = $run"),
	qr/killed by signal 11 \(Segmentation fault\)/, 'the error names the signal');

# compute_kwargs.memory_limit: a model estimated beyond it is refused before its run starts (a
# hidden layer of 2,000,000 units needs about 1 GB for one batch's activations, far beyond 300 MB)
($ret, $out, $err) = $node->psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'too_big', max_iterations => 5,
		compute_kwargs => { memory_limit => 300 * 1024 * 1024 },
		model => { layers => [ { type => 'Linear', out_features => 2000000 }, { type => 'ReLU' },
			{ type => 'Linear', out_features => 1 } ] }) . ', wait => true)');
like($err, qr/the model needs about \d+ MB to train .* more than compute_kwargs.memory_limit \(300 MB\)/,
	'a model estimated beyond memory_limit is refused with a message that names memory_limit');
is($node->safe_psql('postgres', "SELECT count(*) FROM pinnacle.runs WHERE identifier = 'too_big'"), '0',
	'before its run starts');
# and the limit bounds the trainer at run time: a module that asks for 2 GB only while training
my $modules = PostgreSQL::Test::Utils::tempdir;
system_or_bail('/usr/bin/python3', 'data/make_hostile_modules.py', $modules);
$node->safe_psql('postgres', "SELECT pinnacle_import('allocates_training', decode('"
	  . encode_base64(slurp_file("$modules/allocates_training.pt"), '') . "', 'base64'))");
$node->safe_psql('postgres', 'CREATE TABLE rows AS SELECT ARRAY[x1, x2] AS features, y FROM points');
($ret, $out, $err) = $node->psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'allocates', max_iterations => 5,
		select => 'SELECT features, y FROM rows', key => [ 'features', 'y' ],
		compute_kwargs => { memory_limit => 300 * 1024 * 1024 }, model => { torchscript => 'allocates_training' })
	  . ', wait => true)');
like($err, qr/more memory than compute_kwargs.memory_limit/, 'a trainer beyond memory_limit fails with a message that names it');
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE identifier = 'allocates'"), 'failed',
	'and its run reads failed');
the_server_did_not_restart('memory_limit');

# the supervisor's memory stays flat over a run with 300 validations
$run = train_async($node, identifier => 'long', max_iterations => 330, validation_interval => 1,
	select => 'SELECT x1, x2, y FROM points LIMIT 2000');
wait_until($node, "SELECT iterations >= 30 FROM pinnacle.runs WHERE id = $run", 'the long run validated 30 times');
my $supervisor = $node->safe_psql('postgres', "SELECT worker_pid FROM pinnacle.runs WHERE id = $run");
my ($early) = slurp_file("/proc/$supervisor/status") =~ /^RssAnon:\s+(\d+)/m;
my $late = $early;
while (-e "/proc/$supervisor/status")
{
	my ($rss) = (eval { slurp_file("/proc/$supervisor/status") } // '') =~ /^RssAnon:\s+(\d+)/m;
	$late = $rss if defined $rss && $node->safe_psql('postgres', "SELECT iterations < 330 FROM pinnacle.runs WHERE id = $run") eq 't';
	usleep(50_000);
}
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'succeeded', 'the long run succeeds');
cmp_ok(($late - $early) / 1024, '<', 40, "the supervisor's private memory grew by less than 40 MB ($early kB to $late kB)");

# an immediate shutdown, then a start: the run reads interrupted before any pinnacle call
$run = train_async($node, identifier => 'stopped', max_iterations => 1000000);
wait_until($node, "SELECT iterations >= 20 FROM pinnacle.runs WHERE id = $run", 'the run to stop has started');
$node->stop('immediate');
$node->start;
$server_started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
cmp_ok(seconds_until_ended($node, $run), '<', 5, 'after an immediate shutdown and a start, the run has left running at once');
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'interrupted',
	'it reads interrupted');

# a crash restart (here: the supervisor itself killed, which PostgreSQL treats as a crash)
$run = train_async($node, identifier => 'crash', max_iterations => 1000000);
wait_until($node, "SELECT iterations >= 20 FROM pinnacle.runs WHERE id = $run", 'the run to crash has started');
$supervisor = $node->safe_psql('postgres', "SELECT worker_pid FROM pinnacle.runs WHERE id = $run");
my $trainer = $node->safe_psql('postgres', "SELECT trainer_pid FROM pinnacle.runs WHERE id = $run");
kill 'KILL', $supervisor;
wait_until($node, "SELECT status = 'interrupted' FROM pinnacle.runs WHERE id = $run",
	'after a crash restart the run reads interrupted, before any pinnacle call');
usleep(200_000);
ok(!-e "/proc/$trainer/status" || slurp_file("/proc/$trainer/status") =~ /^State:\s+Z/m,
	'the trainer died with its supervisor');

$node->stop;
done_testing();
