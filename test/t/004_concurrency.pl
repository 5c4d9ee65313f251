# Several runs at once: pinnacle.max_workers caps how many train, the rest wait 'queued';
# with no background worker slot at all the call fails at once, saying so.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep);
use Test::More;
use PinnacleTest;

my $node = start_node('concurrency', "pinnacle.max_workers = 2\n");
load_points($node, 3000);

my @runs = map { train_async($node, identifier => "c$_", max_iterations => 15000) } 1 .. 8;
is(scalar(@runs), 8, 'eight runs started at once');

my ($most_training, $saw_queued) = (0, 0);
for (1 .. 600)
{
	my ($training, $queued) = split /\|/, $node->safe_psql('postgres',
		"SELECT (SELECT count(*) FROM pinnacle.progress), "
		  . "(SELECT count(*) FROM pinnacle.runs WHERE status = 'queued')");
	$most_training = $training if $training > $most_training;
	$saw_queued ||= $queued > 0;
	last if $node->safe_psql('postgres',
		"SELECT count(*) FROM pinnacle.runs WHERE status IN ('queued', 'running')") == 0;
	usleep(100_000);
}
ok($saw_queued, 'runs beyond pinnacle.max_workers waited as queued');
cmp_ok($most_training, '<=', 2, "at most two trained at once (seen: $most_training)");
is($node->safe_psql('postgres', 'SELECT pinnacle_wait(id) FROM pinnacle.runs GROUP BY 1'), 'succeeded',
	'all eight runs succeeded');
is($node->safe_psql('postgres', "SELECT string_agg(version::text, ',') FROM pinnacle.models"),
	'1,1,1,1,1,1,1,1', 'each made its model version');

# concurrent versions of one model are numbered one after another
my @same = map { train_async($node, identifier => 'shared', max_iterations => 20) } 1 .. 3;
$node->safe_psql('postgres', "SELECT pinnacle_wait($_)") for @same;
is($node->safe_psql('postgres',
		"SELECT string_agg(version::text, ',' ORDER BY version) FROM pinnacle.models WHERE identifier = 'shared'"),
	'1,2,3', 'versions 1, 2, 3');
$node->stop;

# no background worker slot at all: a clear error, no hang
my $small = start_node('small', "max_worker_processes = 1\n");
load_points($small, 3000);
my ($ret, $out, $err) = $small->psql('postgres',
	'SELECT pinnacle_train(' . spec_json(max_iterations => 10) . ')');
like($err, qr/no background worker slot is free/, 'without a worker slot the call fails at once');
like($err, qr/max_worker_processes/, 'and names the setting');
$small->stop;

done_testing();
