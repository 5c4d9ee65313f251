# Helpers shared by the TAP tests: a server with the extension, generated data, specs.
package PinnacleTest;

use strict;
use warnings;
use Exporter 'import';
use JSON::PP;
use PostgreSQL::Test::Cluster;
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(start_node load_points spec_json train_async wait_until seconds_until_ended no_restart);

# A started node with pinnacle_train created in database postgres.
sub start_node
{
	my ($name, $conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "max_worker_processes = 20\nrestart_after_crash = on\n" . ($conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pinnacle_train');
	return $node;
}

# y = 3*x1 - 2*x2 + 1 on $rows rows, in table $table (default "points").
sub load_points
{
	my ($node, $rows, $table) = @_;
	$table //= 'points';
	$node->safe_psql('postgres', qq{
		SELECT setseed(0.3);
		CREATE TABLE $table AS
		SELECT x1, x2, (3 * x1 - 2 * x2 + 1)::real AS y
		FROM (SELECT (random() * 2 - 1)::real AS x1, (random() * 2 - 1)::real AS x2
		      FROM generate_series(1, $rows)) s;
		GRANT SELECT ON $table TO PUBLIC;
	});
	return;
}

# A regression spec on points(x1, x2, y), with fields overridden by %extra; quoted for SQL.
sub spec_json
{
	my (%extra) = @_;
	my %spec = (
		identifier => 'm',
		select => 'SELECT x1, x2, y FROM points',
		key => { inputs => [ 'x1', 'x2' ], target => 'y' },
		model => { layers => [
			{ type => 'Linear', out_features => 64 }, { type => 'ReLU' },
			{ type => 'Linear', out_features => 1 } ] },
		objective => 'mse',
		loader_kwargs => { batch_size => 32 },
		validation_interval => 20,
		no_improve_then_stop => 100000,
		%extra);
	my $json = JSON::PP->new->canonical->encode(\%spec);
	$json =~ s/'/''/g;
	return "'$json'";
}

# Starts a run without waiting; returns its id.
sub train_async
{
	my ($node, %extra) = @_;
	return $node->safe_psql('postgres', 'SELECT pinnacle_train(' . spec_json(%extra) . ')');
}

# Polls a query until it returns 't'.
sub wait_until
{
	my ($node, $query, $what) = @_;
	ok($node->poll_query_until('postgres', $query), $what)
	  or diag("timed out waiting: $query");
	return;
}

# The server neither restarted (pg_postmaster_start_time) nor went through a crash restart,
# which keeps the postmaster's start time: its log would say so.
sub no_restart
{
	my ($node, $started, $what) = @_;
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'), $started, "$what did not restart");
	ok(!$node->log_contains('terminating any other active server processes'), "$what: no crash restart in the log");
	return;
}

# Polls a plain read of pinnacle.runs (no pinnacle function) until the run has left 'running'
# and 'queued'; returns the seconds it took, or 60 when it never did.
sub seconds_until_ended
{
	my ($node, $run) = @_;
	my $start = time;
	while (time - $start < 60)
	{
		my $status = $node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run");
		return time - $start if $status ne 'running' && $status ne 'queued';
		usleep(100_000);
	}
	return 60;
}

1;
