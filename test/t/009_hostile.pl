# Hardening (DESIGN.md section 7): hostile TorchScript modules and a hostile role can neither
# crash the server, hang a backend beyond a cancel, leak memory, nor take over another role's
# models and runs. After every attempt the server is the one that started.
use strict;
use warnings;
use MIME::Base64;
use Time::HiRes qw(time);
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('hostile');
load_points($node, 2000);
$node->safe_psql('postgres', q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE TABLE rows AS SELECT ARRAY[x1, x2] AS features, y, (x1 > 0)::int AS label FROM points;
	GRANT SELECT ON points, rows TO PUBLIC;
	GRANT EXECUTE ON FUNCTION pinnacle_import(text, bytea) TO alice;
});
my $server_started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $modules = PostgreSQL::Test::Utils::tempdir;
system_or_bail('/usr/bin/python3', 'data/make_hostile_modules.py', $modules);

sub as_role
{
	my ($role, $sql) = @_;
	return $node->psql('postgres', "SET ROLE $role; $sql");
}

sub module_bytes
{
	my ($name) = @_;
	return "decode('" . encode_base64(slurp_file("$modules/$name.pt"), '') . "', 'base64')";
}

sub the_server_is_unharmed
{
	my ($what) = @_;
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $server_started,
		"$what: the server did not restart");
	ok(!$node->log_contains('terminating any other active server processes'), "$what: no crash restart in the log");
	return;
}

# Imports a module as alice and trains it; returns the errors, if any.
sub import_and_train
{
	my ($name, %extra) = @_;
	my ($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('$name', " . module_bytes($name) . ')');
	is($ret, 0, "alice imports $name") or diag($err);
	($ret, $out, $err) = as_role('alice', 'SELECT pinnacle_train(' . spec_json(identifier => $name,
			select => 'SELECT features, y, label FROM rows', key => [ 'features', 'y' ],
			model => { torchscript => $name }, max_iterations => 20, %extra) . ', wait => true)');
	return join("\n", grep { /ERROR/ } split /\n/, $err);
}

# ---- hostile modules: their code runs in helper and trainer processes, never in a backend ----

is(import_and_train('empty_output'), '', 'a module with an empty output on some inputs trains');
my ($ret, $out, $err) = as_role('alice', "SELECT pinnacle_predict('empty_output', ARRAY[1000, 0]::real[])");
like($err, qr/returned 0 values for a row, not 1/, 'its empty output is an error, not a crash');
the_server_is_unharmed('empty output');

is(import_and_train('meta_output'), '', 'a module with a meta output on some inputs trains');
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_predict('meta_output', ARRAY[1000, 0]::real[])");
like($err, qr/returned a meta tensor/, 'its meta output is an error that says so, not a memory error');
the_server_is_unharmed('meta output');

is(import_and_train('short_output', key => [ 'features', 'label' ], objective => 'cross_entropy'), '',
	'a module with a short output on some inputs trains');
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_predict('short_output', ARRAY[1000, 0]::real[])");
like($err, qr/returned 1 values for a row, not 3/, 'its short output is an error, not a read of other memory');
($ret, $out, $err) = as_role('alice', "SELECT count(*) FROM pinnacle_predict_batch('short_output', "
	  . "'SELECT ARRAY[1000, 0]::real[] AS features FROM generate_series(1, 3000)') AS p(prediction real[])");
like($err, qr/returned 1 values for a row, not 3/, 'and so is its short output for a batch of rows');

is(import_and_train('prints'), '', 'a module that prints at every step trains');
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_predict('prints', ARRAY[0.5, 0.5]::real[]) IS NOT NULL; "
	  . "SELECT count(*) FROM pinnacle_predict_batch('prints', "
	  . "'SELECT ARRAY[0.5, 0.5]::real[] AS features FROM generate_series(1, 3000)') AS p(prediction real[])");
is($ret, 0, 'and predicts, one row and a batch') or diag($err);
ok(!$node->log_contains('PINNACLE_MODULE_PRINTED'), "nothing a module prints reaches the server's log");

is(import_and_train('keeps_input'), '', 'a module that keeps its input trains');
($ret, $out, $err) = as_role('alice',
	"SELECT pinnacle_predict('keeps_input', ARRAY[0.5, 0.5]::real[]); SELECT pinnacle_predict('keeps_input', ARRAY[0.5, 0.5]::real[]) IS NOT NULL");
is($ret, 0, 'a module that keeps its input predicts statement after statement') or diag($err);
the_server_is_unharmed('kept input');

is(import_and_train('loops_predicting'), '', 'a module that loops on some inputs trains');
my $start = time;
($ret, $out, $err) = as_role('alice',
	"SET statement_timeout = '2s'; SELECT pinnacle_predict('loops_predicting', ARRAY[1000, 0]::real[])");
like($err, qr/statement timeout/, 'statement_timeout ends a looping predict');
cmp_ok(time - $start, '<', 15, 'within seconds');
($ret, $out, $err) = as_role('alice',
	"SELECT pinnacle_predict('loops_predicting', ARRAY[1000, 0]::real[]) FROM pg_sleep(0) WHERE false; "
	  . "SELECT array_length(pinnacle_predict('loops_predicting', ARRAY[0.5, 0]::real[]), 1)");
is($out, '1', 'and the model predicts again on the next statement');
$start = time;
($ret, $out, $err) = as_role('alice', "SET statement_timeout = '2s'; SELECT count(*) FROM pinnacle_predict_batch("
	  . "'loops_predicting', 'SELECT ARRAY[1000, 0]::real[] AS features FROM generate_series(1, 3000)') AS p(prediction real[])");
like($err, qr/statement timeout/, 'statement_timeout ends a looping pinnacle_predict_batch');
cmp_ok(time - $start, '<', 15, 'within seconds');
the_server_is_unharmed('looping batch');
# a model check that never ends: no run is on record to cancel, and the caller's timeout ends
# its supervisor, which ends the check's helper
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('loops_checking', " . module_bytes('loops_checking') . ')');
$start = time;
($ret, $out, $err) = as_role('alice', "SET statement_timeout = '2s'; SELECT pinnacle_train("
	  . spec_json(identifier => 'loops_checking', select => 'SELECT features, y FROM rows', key => [ 'features', 'y' ],
		model => { torchscript => 'loops_checking' }) . ')');
like($err, qr/statement timeout/, 'statement_timeout ends a pinnacle_train whose model check loops');
cmp_ok(time - $start, '<', 15, 'within seconds');
wait_until($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'pinnacle_train worker'",
	'and its supervisor exits, with the looping check');
is($node->safe_psql('postgres', "SELECT count(*) FROM pinnacle.runs WHERE identifier = 'loops_checking'"), '0',
	'leaving no run');

# an output the loss would broadcast (3-D while training) fails the run instead of training on it
like(import_and_train('wrong_shape_training'), qr/output of shape \[3, \d+, 1\] does not fit the target/,
	'a module whose training output does not fit the target fails its run');

# a module that loops only while training passes the check, and pinnacle_cancel still stops it
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('loops_training', " . module_bytes('loops_training') . ')');
my $run = $node->safe_psql('postgres', 'SET ROLE alice; SELECT pinnacle_train(' . spec_json(identifier => 'loops_training',
		select => 'SELECT features, y FROM rows', key => [ 'features', 'y' ],
		model => { torchscript => 'loops_training' }, max_iterations => 20) . ')');
wait_until($node, "SELECT trainer_pid IS NOT NULL FROM pinnacle.runs WHERE id = $run", 'the looping run trains');
is($node->safe_psql('postgres', "SET ROLE alice; SELECT pinnacle_cancel($run)"), 't', 'pinnacle_cancel signals it');
$start = time;
is($node->safe_psql('postgres', "SELECT pinnacle_wait($run, '30 seconds')"), 'cancelled', 'the looping run is cancelled');
cmp_ok(time - $start, '<', 10, 'within seconds');

# importing: a module that loops while it loads, one nested 20,000 deep, and fuzzed archives
$start = time;
($ret, $out, $err) = as_role('alice',
	"SET statement_timeout = '2s'; SELECT pinnacle_import('loops_loading', " . module_bytes('loops_loading') . ')');
like($err, qr/statement timeout/, 'statement_timeout ends an import that loops while loading');
cmp_ok(time - $start, '<', 15, 'within seconds');
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('deep', " . module_bytes('deep') . ')');
isnt($ret, 0, 'a module nested 20,000 deep is refused');
the_server_is_unharmed('deep module');
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('listed', " . module_bytes('listed') . ')');
is($ret, 0, 'a module with a tensor in a List attribute imports');
($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('listed_short', " . module_bytes('listed_short') . ')');
like($err, qr/malformed module: a tensor's values do not lie within the bytes stored for it/,
	'a tensor in a List attribute declared larger than its record is refused (libtorch would read past it)');
my $refused = 0;
for my $i (0 .. 19)
{
	my $name = sprintf('fuzzed_%02d', $i);
	($ret, $out, $err) = as_role('alice', "SELECT pinnacle_import('$name', " . module_bytes($name) . ')');
	$refused++ if $ret != 0;
}
cmp_ok($refused, '>', 0, "fuzzed archives are refused ($refused of 20), or load");
the_server_is_unharmed('fuzzed archives');

# ---- the catalog is the extension's: bob can neither write it, nor stall, fake or read runs ----

for my $write ("INSERT INTO pinnacle.models (identifier, version, run_id, iteration, column_widths) VALUES ('empty_output', -5, 1, 1, '{1,1}')",
	"UPDATE pinnacle.models SET column_widths = '{}'",
	"INSERT INTO pinnacle.runs (id, identifier, spec, status) VALUES (1000000, 'x', '{}', 'running')",
	"UPDATE pinnacle.runs SET status = 'failed'",
	"DELETE FROM pinnacle.checkpoints",
	"INSERT INTO pinnacle.identifiers VALUES ('price', 'bob')")
{
	($ret, $out, $err) = as_role('bob', $write);
	like($err, qr/permission denied/, "bob cannot write the catalog: $write");
}
($ret, $out, $err) = as_role('alice', "UPDATE pinnacle.models SET column_widths = '{}'");
like($err, qr/permission denied/, 'nor can alice edit her own model row');
($ret, $out, $err) = as_role('bob', "SELECT pinnacle_import('mine', " . module_bytes('empty_output') . ')');
like($err, qr/permission denied for function pinnacle_import/, 'pinnacle_import is not granted to PUBLIC');

# a role that cannot log in gets a clear error (its run's supervisor could not act as it)
$node->safe_psql('postgres', 'CREATE ROLE nologin_role NOLOGIN; GRANT nologin_role TO alice');
($ret, $out, $err) = $node->psql('postgres', 'SET ROLE nologin_role; SELECT pinnacle_train('
	  . spec_json(identifier => 'nologin', max_iterations => 5) . ')');
like($err, qr/role nologin_role cannot log in/, 'a NOLOGIN role is told why it cannot train');

# identifiers are claimed when a run starts
($ret, $out, $err) = as_role('bob', 'SELECT pinnacle_train(' . spec_json(identifier => 'empty_output', max_iterations => 5) . ')');
like($err, qr/model "empty_output" belongs to role alice/, "bob cannot train alice's identifier");

# bob holds the advisory keys the training slots used to be, and reads pg_stat_activity in an
# open transaction: alice's run neither queues nor is marked lost
my $bob = $node->background_psql('postgres');
$bob->query_safe('SET ROLE bob');
$bob->query_safe('SELECT pg_advisory_lock(1885957742, 0), pg_advisory_lock(1885957742, 1)');
$bob->query_safe("SET application_name = 'pinnacle_train run 1'");
$bob->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$bob->query_safe('SELECT count(*) FROM pg_stat_activity');
$run = $node->safe_psql('postgres', 'SET ROLE alice; SELECT pinnacle_train('
	  . spec_json(identifier => 'alice_slow', max_iterations => 100000000, validation_interval => 100) . ')');
wait_until($node, "SELECT iterations >= 100 FROM pinnacle.runs WHERE id = $run", "alice's run trains while bob holds the old slot keys");
is($bob->query_safe('SELECT pinnacle.mark_lost_runs()'), '0', "bob's frozen view of pg_stat_activity marks no run lost");
$node->safe_psql('postgres', 'GRANT pg_read_all_stats TO bob');
is($node->safe_psql('postgres', 'SET ROLE bob; SELECT count(*) FROM pinnacle.progress'), '0',
	"bob, in pg_read_all_stats, does not see alice's progress");
is($node->safe_psql('postgres', 'SET ROLE alice; SELECT count(*) FROM pinnacle.progress'), '1', 'alice does');
$bob->query_safe('COMMIT');
$bob->quit;
is($node->safe_psql('postgres', 'SELECT status FROM pinnacle.runs WHERE id = ' . $run), 'running', "alice's run still trains");
is($node->safe_psql('postgres', "SET ROLE alice; SELECT pinnacle_cancel($run)"), 't', 'alice cancels it');
is($node->safe_psql('postgres', "SELECT pinnacle_wait($run, '60 seconds')"), 'cancelled', "alice's run ends as she asked");

# search_path: the extension's code never runs a role's own operators or functions as the
# extension's owner (bob's '=' would make him a superuser; alice's clock_timestamp too)
$node->safe_psql('postgres', q{
	CREATE SCHEMA evil AUTHORIZATION bob;
	CREATE TABLE public.calls (who name, what text);
	GRANT ALL ON public.calls TO PUBLIC;
	GRANT CREATE ON SCHEMA public TO alice;
});
as_role('bob', q{
	CREATE FUNCTION evil.eq(a bigint, b bigint) RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
	  INSERT INTO public.calls VALUES (current_user, 'eq');
	  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
	    EXECUTE 'ALTER ROLE bob SUPERUSER';
	  END IF;
	  RETURN a OPERATOR(pg_catalog.=) b;
	END $$;
	CREATE OPERATOR evil.= (leftarg = bigint, rightarg = bigint, function = evil.eq);
	ALTER ROLE bob SET search_path = evil, pg_catalog, public;
});
($ret, $out, $err) = $node->psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'bob_path', max_iterations => 20, validation_interval => 10) . ', wait => true)',
	connstr => $node->connstr('postgres') . ' user=bob');
unlike($err, qr/ERROR/, "bob trains with his own search_path") or diag($err);
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'bob'"), 'f',
	"bob's operator did not run as the extension's owner");
as_role('alice', q{
	CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.calls VALUES (current_user, 'clock_timestamp'); RETURN pg_catalog.now(); END $$;
});
($ret, $out, $err) = as_role('alice', 'SET search_path = public, pg_catalog; '
	  . "SELECT pinnacle_import('empty_output', " . module_bytes('empty_output') . ')');
is($ret, 0, 'alice imports with her own search_path') or diag($err);
is($node->safe_psql('postgres', "SELECT count(*) FROM public.calls WHERE who NOT IN ('alice', 'bob')"), '0',
	"no role's function ran as another role");
$node->safe_psql('postgres', "ALTER ROLE bob RESET search_path");

# no role may hold every background worker: bob's runs beyond pinnacle.max_runs_per_role are refused
my @bob_runs = map {
	$node->safe_psql('postgres', 'SET ROLE bob; SELECT pinnacle_train('
		  . spec_json(identifier => "bob_many_$_", max_iterations => 100000000) . ')')
} 1 .. 4;
($ret, $out, $err) = as_role('bob', 'SELECT pinnacle_train(' . spec_json(identifier => 'bob_many_5') . ')');
like($err, qr/role bob already has 4 runs queued or running/, "bob's fifth run is refused");
$node->safe_psql('postgres', "SET ROLE bob; SELECT pinnacle_cancel($_)") for @bob_runs;
wait_until($node, "SELECT count(*) = 0 FROM pinnacle.runs WHERE owner = 'bob' AND status IN ('queued', 'running')",
	"bob's runs are cancelled");
# a REPEATABLE READ snapshot does not hide the runs already started from the count
($ret, $out, $err) = as_role('bob', 'BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1; SELECT count(pinnacle_train('
	  . spec_json(identifier => 'bob_rr', max_iterations => 100000000) . ')) FROM generate_series(1, 6)');
like($err, qr/role bob already has 4 runs queued or running/, 'nor under REPEATABLE READ');
$node->safe_psql('postgres', "SELECT pinnacle_cancel(id) FROM pinnacle.runs WHERE owner = 'bob' AND status IN ('queued', 'running')");
# the role's own settings do not reach the way the catalog is written
$node->safe_psql('postgres', 'ALTER ROLE bob SET default_transaction_read_only = on');
($ret, $out, $err) = $node->psql('postgres', 'SET default_transaction_read_only = off; SELECT pinnacle_train('
	  . spec_json(identifier => 'bob_read_only', max_iterations => 5) . ', wait => true)',
	connstr => $node->connstr('postgres') . ' user=bob');
unlike($err, qr/ERROR/, "bob's read-only default does not stop his run's supervisor") or diag($err);
$node->safe_psql('postgres', 'ALTER ROLE bob RESET default_transaction_read_only');
is($node->safe_psql('postgres', 'SET ROLE alice; SELECT pinnacle_wait(pinnacle_train('
		  . spec_json(identifier => 'alice_after_bob', max_iterations => 5) . '))'), 'succeeded',
	'alice still trains');

# ---- memory: a superuser sets the ceiling ----

# (a call of one of the library's functions loads it, which defines the setting in this session)
($ret, $out, $err) = as_role('bob',
	"DO \$\$BEGIN PERFORM pinnacle_cancel(-1); EXCEPTION WHEN OTHERS THEN END\$\$; SET pinnacle.memory_limit = '100GB'");
like($err, qr/permission denied to set parameter/, 'bob cannot raise pinnacle.memory_limit');
($ret, $out, $err) = as_role('bob', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'greedy', compute_kwargs => { memory_limit => 1 << 40 }) . ')');
like($err, qr/compute_kwargs.memory_limit.*above pinnacle.memory_limit/, 'nor ask for more in a spec');
$node->safe_psql('postgres', "ALTER ROLE bob SET pinnacle.memory_limit = '256MB'");
($ret, $out, $err) = $node->psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'huge', model => { layers => [ { type => 'Linear', out_features => 20000000 },
			{ type => 'Linear', out_features => 1 } ] }) . ')',
	connstr => $node->connstr('postgres') . ' user=bob');
like($err, qr/more memory than the limit of 262144 kB/, 'a model of 20,000,000 hidden units is refused under a 256 MB ceiling');
the_server_is_unharmed('memory');

$node->stop;
done_testing();
