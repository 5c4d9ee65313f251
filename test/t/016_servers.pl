# Training across PostgreSQL servers (compute_kwargs.servers): three nodes on this host.
# "coord" and "shard" each hold half of a table (the even and the odd ids); "whole" holds all
# of it. A run on coord across shard equals 2 workers on whole. Stopping shard mid-run leaves
# the run 'interrupted' within compute_kwargs.timeout, with the other servers untouched; the
# run continues from its checkpoint. A role whose mapped remote role may not read the table
# gets a clear error. Everything listens on 127.0.0.1 and Unix sockets only.
use strict;
use warnings;
use IO::Select;
use POSIX ();
use IO::Socket::INET;
use Time::HiRes qw(time usleep);
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $conf = "pinnacle.max_workers = 2\npinnacle.rendezvous_address = '127.0.0.1'\n";
my $coord = start_node('coord', $conf);
# (preloaded, so that its part of a run lost in an immediate shutdown reads interrupted as it
# comes back up, before any pinnacle function is called)
my $shard = start_node('shard', $conf . "shared_preload_libraries = 'pinnacle_train'\n");
my $whole = start_node('whole', $conf);

# A process on 127.0.0.1 that speaks PostgreSQL's protocol as far as the start-up (no password,
# no TLS), then, to the call: 'copy' answers with a CopyOutResponse; 'unread' reads nothing more.
sub fake_postgres
{
	my ($mode) = @_;
	my $listener = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
	  or die "no listening socket: $!";
	my $pid = fork() // die "fork: $!";
	if ($pid == 0)
	{
		# (prove waits for every holder of the test's output)
		open(STDOUT, '>', '/dev/null');
		open(STDERR, '>', '/dev/null');
		while (my $client = $listener->accept)
		{
			my $read = sub { my $n = shift; my $got = ''; while (length($got) < $n) { my $r = sysread($client, my $b, $n - length($got)) or return; $got .= $b } return $got };
			my $message = sub { my ($type, $body) = @_; return $type . pack('N', length($body) + 4) . $body };
			my $startup = $read->(4) // next;
			$read->(unpack('N', $startup) - 4);
			syswrite($client, $message->('R', pack('N', 0)) . $message->('S', "server_version\x0015.0\x00")
				  . $message->('S', "client_encoding\x00UTF8\x00") . $message->('K', pack('NN', 1, 2)) . $message->('Z', 'I'));
			sleep(3600) if $mode eq 'unread';
			while (defined(my $type = $read->(1)))	# Parse, Bind, Describe, Execute, Sync
			{
				$read->(unpack('N', $read->(4)) - 4);
				last if $type eq 'S';
			}
			syswrite($client, $message->('1', '') . $message->('2', '') . $message->('H', "\x00" . pack('n', 1) . pack('n', 0)));
			sleep(3600);
		}
		POSIX::_exit(0);
	}
	return { port => $listener->sockport, pid => $pid };
}

# 1200 rows of y = 3*x1 - 2*x2 + 1; $filter picks this node's part
sub load_rows
{
	my ($node, $filter) = @_;
	$node->safe_psql('postgres', qq{
		CREATE TABLE points AS
		SELECT i AS id, ((i * 37) % 101 / 50.0 - 1)::real AS x1, ((i * 53) % 97 / 48.0 - 1)::real AS x2,
		       (3 * ((i * 37) % 101 / 50.0 - 1) - 2 * ((i * 53) % 97 / 48.0 - 1) + 1)::real AS y
		FROM generate_series(0, 1199) i WHERE $filter;
		GRANT SELECT ON points TO PUBLIC;
	});
	return;
}
load_rows($coord, 'i % 2 = 0');
load_rows($shard, 'i % 2 = 1');
load_rows($whole, 'true');

# the shard, as coord's foreign server; the superuser's mapping logs in as shard's superuser
my $superuser = $shard->safe_psql('postgres', 'SELECT current_user');
my $socket = $shard->host;
my $port = $shard->port;
$coord->safe_psql('postgres', qq{
	CREATE EXTENSION postgres_fdw;
	CREATE SERVER shard_b FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$socket', port '$port', dbname 'postgres');
	CREATE USER MAPPING FOR CURRENT_USER SERVER shard_b OPTIONS (user '$superuser');
});
my %started = map { $_->name => $_->safe_psql('postgres', 'SELECT pg_postmaster_start_time()') }
  ($coord, $shard, $whole);

my %equal_spec = (
	select => 'SELECT x1, x2, y FROM points ORDER BY id',
	max_iterations => 60,
	validation_interval => 20,
	validation => { split => 0.1, metrics => [ 'mse', 'r2' ] },
	transform => { x1 => [ 'standardize' ], x2 => [ 'min_max' ] },
	loader_kwargs => { batch_size => 32, shuffle => JSON::PP::true, seed => 4 },
	optimizer_cls => 'Adam',
	optimizer_kwargs => { lr => 0.01 });

# 1. the same run: across coord and shard, and with 2 workers on whole
my $across = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(%equal_spec, identifier => 'eq', compute_kwargs => { servers => [ 'shard_b' ], timeout => 20 })
	  . ', wait => true)');
my $local = $whole->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(%equal_spec, identifier => 'eq', compute_kwargs => { workers => 2 }) . ', wait => true)');
my $row = "SELECT status, iterations, train_rows, validation_rows FROM pinnacle.runs WHERE id = ";
is($coord->safe_psql('postgres', "$row$across"), "succeeded|60|1080|120", 'the run across servers succeeded');
is($whole->safe_psql('postgres', "$row$local"), "succeeded|60|1080|120", 'the run of 2 workers succeeded');

# the histories, the fitted transform and the predictions agree to 1e-5
my $history = "SELECT metric_values FROM pinnacle.runs WHERE id = ";
my $a = JSON::PP->new->decode($coord->safe_psql('postgres', "$history$across"));
my $b = JSON::PP->new->decode($whole->safe_psql('postgres', "$history$local"));
for my $metric ('objective', 'mse', 'r2', 'train_objective')
{
	my @x = @{ $a->{$metric} };
	my @y = @{ $b->{$metric} };
	is(scalar(@x), scalar(@y), "$metric: as many validations");
	ok(!grep({ abs($x[$_] - $y[$_]) > 1e-5 } 0 .. $#x), "$metric: the same history to 1e-5")
	  or diag(explain([ \@x, \@y ]));
}
my $transform = "SELECT transform FROM pinnacle.models WHERE identifier = 'eq'";
my $ta = JSON::PP->new->decode($coord->safe_psql('postgres', $transform));
my $tb = JSON::PP->new->decode($whole->safe_psql('postgres', $transform));
for my $column ('x1', 'x2')
{
	my ($step) = keys %{ $ta->{$column}[0] };
	for my $part ('center', 'spread')
	{
		ok(abs($ta->{$column}[0]{$step}{$part}[0] - $tb->{$column}[0]{$step}{$part}[0]) < 1e-5,
			"the $column transform is fitted over both servers' rows ($part)");
	}
}
my $predict = "SELECT string_agg(p[1]::text, ',' ORDER BY i) FROM (SELECT i, pinnacle_predict('eq', (i / 10.0 - 1)::real, (0.5 - i / 20.0)::real) AS p FROM generate_series(0, 20) i) s";
my @pa = split /,/, $coord->safe_psql('postgres', $predict);
my @pb = split /,/, $whole->safe_psql('postgres', $predict);
is(scalar(@pa), 21, 'predictions');
ok(!grep({ abs($pa[$_] - $pb[$_]) > 1e-5 } 0 .. $#pa), 'the models predict alike to 1e-5')
  or diag(explain([ \@pa, \@pb ]));

# shard recorded its part, pointing to the coordinating run, and made no model
is($shard->safe_psql('postgres', "SELECT status, coordinator_run, first_rank, world_size, version IS NULL
	FROM pinnacle.runs WHERE coordinator_run = $across"), "succeeded|$across|1|2|t",
	'the shard records its part of the run');
is($shard->safe_psql('postgres', 'SELECT count(*) FROM pinnacle.models'), '0', 'the shard made no model');

# 2. a role whose user mapping's remote role may not read the table: a clear error
$shard->safe_psql('postgres', q{
	CREATE ROLE limited LOGIN PASSWORD 'limited-pw';
	REVOKE SELECT ON points FROM PUBLIC;
	GRANT EXECUTE ON FUNCTION pinnacle.train_shard(jsonb, jsonb) TO limited;
});
# (password authentication for that role, before the default trust)
my $hba = slurp_file($shard->data_dir . '/pg_hba.conf');
open(my $fh, '>', $shard->data_dir . '/pg_hba.conf') or die;
print $fh "local all limited scram-sha-256\n$hba";
close($fh);
$shard->reload;
$coord->safe_psql('postgres', q{
	CREATE ROLE analyst LOGIN;
	GRANT USAGE ON FOREIGN SERVER shard_b TO analyst;
	CREATE USER MAPPING FOR analyst SERVER shard_b OPTIONS (user 'limited', password 'limited-pw');
});
my ($ret, $stdout, $stderr) = $coord->psql('postgres', 'SET ROLE analyst; SELECT pinnacle_train('
	  . spec_json(identifier => 'limited', max_iterations => 20, compute_kwargs => { servers => [ 'shard_b' ], timeout => 10 })
	  . ', wait => true)');
like($stderr, qr/server "shard_b" \(compute_kwargs\.servers\): permission denied for table points/,
	'no rights on the remote table: a clear error');
is($coord->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE identifier = 'limited'"), 'failed',
	'and the run failed');
$shard->safe_psql('postgres', 'GRANT SELECT ON points TO PUBLIC');

# 3. shard stops mid-run: the run ends 'interrupted' within the timeout, the others untouched
my $timeout = 10;
my $long = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'long', max_iterations => 1000000, validation_interval => 20,
		compute_kwargs => { servers => [ 'shard_b' ], timeout => $timeout }) . ')');
wait_until($coord, "SELECT iterations >= 40 FROM pinnacle.runs WHERE id = $long", 'the long run trains');
wait_until($shard, "SELECT status = 'running' FROM pinnacle.runs WHERE coordinator_run = $long",
	'its part runs on the shard');
my @coord_pids = split /,/, $coord->safe_psql('postgres',
	"SELECT array_to_string(trainer_pids, ',') FROM pinnacle.progress WHERE run_id = $long");
my @shard_pids = split /,/, $shard->safe_psql('postgres', "SELECT array_to_string(trainer_pids, ',')
	FROM pinnacle.progress p JOIN pinnacle.runs r ON r.id = p.run_id WHERE r.coordinator_run = $long");
is(scalar(@coord_pids) + scalar(@shard_pids), 2, 'one rank on each server');
$shard->stop('immediate');
my $seconds = seconds_until_ended($coord, $long);
ok($seconds <= $timeout + 5, "the run ended ${seconds}s after the shard stopped (timeout ${timeout}s)");
like($coord->safe_psql('postgres', "SELECT status || ': ' || error FROM pinnacle.runs WHERE id = $long"),
	qr/^interrupted: /, 'as interrupted');
my $gone = 0;
for (1 .. 50)
{
	$gone = !grep { kill(0, $_) } @coord_pids, @shard_pids;
	last if $gone;
	usleep(100_000);
}
ok($gone, 'every rank\'s process on both servers is gone');
no_restart($coord, $started{coord}, 'coord');
no_restart($whole, $started{whole}, 'whole');

# 4. the shard comes back; the run continues from its last checkpoint
$shard->start;
$started{shard} = $shard->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $shard_part = $shard->safe_psql('postgres', "SELECT id FROM pinnacle.runs WHERE coordinator_run = $long");
cmp_ok(seconds_until_ended($shard, $shard_part), '<', 5, 'the shard\'s part has left running at once');
is($shard->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE coordinator_run = $long"), 'interrupted',
	'the shard\'s part reads interrupted after its restart');
my $checkpoint = $coord->safe_psql('postgres', "SELECT max(iteration) FROM pinnacle.checkpoints WHERE run_id = $long");
my $continued = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'long', max_iterations => 20, validation_interval => 20, optimizer_state => $long + 0,
		compute_kwargs => { servers => [ 'shard_b' ], timeout => 20 }) . ', wait => true)');
is($coord->safe_psql('postgres', "SELECT status, iterations FROM pinnacle.runs WHERE id = $continued"),
	'succeeded|' . ($checkpoint + 20), 'the run continues from its checkpoint across both servers');

# 5. a shard whose rank stalls (SIGSTOP): the run ends 'interrupted' within the timeout, and
# the stalled rank is ended too
my $stalled = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'stalled', max_iterations => 1000000,
		compute_kwargs => { servers => [ 'shard_b' ], timeout => $timeout }) . ')');
wait_until($coord, "SELECT iterations >= 40 FROM pinnacle.runs WHERE id = $stalled", 'a run to stall trains');
my ($stalled_pid) = split /,/, $shard->safe_psql('postgres', "SELECT array_to_string(trainer_pids, ',')
	FROM pinnacle.progress p JOIN pinnacle.runs r ON r.id = p.run_id WHERE r.coordinator_run = $stalled");
ok($stalled_pid && kill('STOP', $stalled_pid), 'the shard\'s rank is stopped');
$seconds = seconds_until_ended($coord, $stalled);
ok($seconds <= $timeout + 5, "the run ended ${seconds}s after the shard's rank stalled (timeout ${timeout}s)");
is($coord->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $stalled"), 'interrupted', 'as interrupted');
wait_until($shard, "SELECT status <> 'running' FROM pinnacle.runs WHERE coordinator_run = $stalled",
	'the shard\'s part ended');
$gone = 0;
for (1 .. 50)
{
	$gone = !kill(0, $stalled_pid);
	last if $gone;
	usleep(100_000);
}
ok($gone, 'the stalled rank is gone');
no_restart($shard, $started{shard}, 'the shard');

# 6. cancelling on the calling server cancels the shard's part
my $cancelled = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'cancelled', max_iterations => 1000000,
		compute_kwargs => { servers => [ 'shard_b' ], timeout => 20 }) . ')');
wait_until($shard, "SELECT status = 'running' FROM pinnacle.runs WHERE coordinator_run = $cancelled",
	'a run to cancel runs on the shard');
$coord->safe_psql('postgres', "SELECT pinnacle_cancel($cancelled)");
wait_until($shard, "SELECT status <> 'running' FROM pinnacle.runs WHERE coordinator_run = $cancelled",
	'cancelling on coord ends the shard\'s part');

# 7. two workers on each server: a server deals its rows to its ranks (its row i to its rank
# i mod 2), and the set is the dense interleave of the four ranks' rows; so it equals one
# worker given all the rows in that order (ids 0, 2, 1, 3, 4, 6, 5, 7, ...)
my %short = (%equal_spec, max_iterations => 40);
my $four = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(%short, identifier => 'four', compute_kwargs => { workers => 2, servers => [ 'shard_b' ], timeout => 20 })
	  . ', wait => true)');
my $one = $whole->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(%short, identifier => 'four',
		select => 'SELECT x1, x2, y FROM points ORDER BY id / 4, CASE id % 4 WHEN 0 THEN 0 WHEN 2 THEN 1 WHEN 1 THEN 2 ELSE 3 END')
	  . ', wait => true)');
is($coord->safe_psql('postgres', "$row$four"), "succeeded|40|1080|120", 'two workers on each server: succeeded');
$a = JSON::PP->new->decode($coord->safe_psql('postgres', "$history$four"));
$b = JSON::PP->new->decode($whole->safe_psql('postgres', "$history$one"));
my @x = @{ $a->{r2} };
my @y = @{ $b->{r2} };
ok(@x == 2 && !grep({ abs($x[$_] - $y[$_]) > 1e-5 } 0 .. $#x), 'and equal one worker on the interleaved rows to 1e-5')
  or diag(explain([ \@x, \@y ]));
is($shard->safe_psql('postgres', "SELECT first_rank, world_size FROM pinnacle.runs WHERE coordinator_run = $four"),
	'2|4', 'the shard\'s ranks are 2 and 3 of 4');

# 8. a server whose select returns no rows joins with none, either side; with none anywhere
# the run fails with a clear error
for my $empty ([ 'shard', 0, 600 ], [ 'coord', 1, 600 ])
{
	my ($side, $parity, $rows) = @$empty;
	my $run = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
		  . spec_json(identifier => "empty_$side", select => "SELECT x1, x2, y FROM points WHERE id % 2 = $parity",
			max_iterations => 20, compute_kwargs => { servers => [ 'shard_b' ], timeout => 20 }) . ', wait => true)');
	is($coord->safe_psql('postgres', "SELECT status, train_rows + validation_rows FROM pinnacle.runs WHERE id = $run"),
		"succeeded|$rows", "no rows on $side: the run trains on the other server's");
}
($ret, $stdout, $stderr) = $coord->psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'empty_both', select => 'SELECT x1, x2, y FROM points WHERE id < 0',
		max_iterations => 20, compute_kwargs => { servers => [ 'shard_b' ], timeout => 20 }) . ', wait => true)');
like($stderr, qr/the select returned no rows to train on, on any server/, 'no rows on any server: a clear error');

# 9. a server that accepts the connection and never answers: the supervisor waits for it
# without blocking, so a cancel ends the run at once, and the timeout ends it otherwise
my $silent = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
  or die "no listening socket: $!";
my $silent_port = $silent->sockport;
$coord->safe_psql('postgres', qq{
	CREATE SERVER silent FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$silent_port', dbname 'postgres');
	CREATE USER MAPPING FOR CURRENT_USER SERVER silent OPTIONS (user '$superuser');
});
my $unanswered = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'silent', max_iterations => 20, compute_kwargs => { servers => [ 'silent' ], timeout => 60 })
	  . ')');
ok(IO::Select->new($silent)->can_read(30), 'the supervisor connects to the silent server');
$coord->safe_psql('postgres', "SELECT pinnacle_cancel($unanswered)");
$seconds = seconds_until_ended($coord, $unanswered);
ok($seconds < 10, "a cancel ended the run ${seconds}s after it, while the server kept silent (timeout 60s)");
is($coord->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $unanswered"), 'cancelled', 'as cancelled');
# (a terminate is a shutdown's request: the supervisor sees it at once, though no latch is set)
my $terminated = $coord->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'silent', max_iterations => 20, compute_kwargs => { servers => [ 'silent' ], timeout => 60 })
	  . ')');
ok(IO::Select->new($silent)->can_read(30), 'the supervisor connects to the silent server again');
$coord->safe_psql('postgres', "SELECT pg_terminate_backend(worker_pid) FROM pinnacle.runs WHERE id = $terminated");
$seconds = seconds_until_ended($coord, $terminated);
ok($seconds < 20, "a terminate ended the run ${seconds}s after it, while the server kept silent (timeout 60s)");
my $timed_start = time;
($ret, $stdout, $stderr) = $coord->psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'silent', max_iterations => 20, compute_kwargs => { servers => [ 'silent' ], timeout => 3 })
	  . ', wait => true)');
like($stderr, qr/could not connect to server "silent" \(compute_kwargs\.servers\): no answer within compute_kwargs\.timeout/,
	'a server that never answers fails the run after the timeout');
cmp_ok(time - $timed_start, '<', 15, 'within the timeout');

# 10. a listed server that is not PostgreSQL, only speaks like one: answering the call with a
# COPY, or taking the start-up and then no more of a large call, fails the run within the
# timeout instead of holding the supervisor
my %fake = map { $_ => fake_postgres($_) } ('copy', 'unread');
for my $name (keys %fake)
{
	$coord->safe_psql('postgres', qq{
		CREATE SERVER fake_$name FOREIGN DATA WRAPPER postgres_fdw
			OPTIONS (host '127.0.0.1', port '$fake{$name}{port}', dbname 'postgres', sslmode 'disable', gssencmode 'disable');
		CREATE USER MAPPING FOR CURRENT_USER SERVER fake_$name OPTIONS (user '$superuser');
	});
}
my $fake_start = time;
($ret, $stdout, $stderr) = $coord->psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'fake', max_iterations => 20, compute_kwargs => { servers => [ 'fake_copy' ], timeout => 20 })
	  . ', wait => true)');
like($stderr, qr/server "fake_copy" \(compute_kwargs\.servers\) answered its call with PGRES_COPY_OUT/,
	'a COPY answer to the call fails the run');
cmp_ok(time - $fake_start, '<', 15, 'at once');
# (a call of 8 MB: more than the sockets between the two hold)
$fake_start = time;
($ret, $stdout, $stderr) = $coord->psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'fake', max_iterations => 20, compute_kwargs => { servers => [ 'fake_unread' ], timeout => 4 },
		select => 'SELECT x1, x2, y FROM points /* ' . ('x' x 8_000_000) . ' */')
	  . ', wait => true)');
like($stderr, qr/could not start the run on server "fake_unread" \(compute_kwargs\.servers\): it took no more of the call within compute_kwargs\.timeout/,
	'a server that stops reading the call fails the run after the timeout');
cmp_ok(time - $fake_start, '<', 20, 'within the timeout');
kill 'KILL', map { $_->{pid} } values %fake;
no_restart($coord, $started{coord}, 'coord');

$_->stop for ($coord, $shard, $whole);
done_testing();
