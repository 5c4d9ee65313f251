# shared_preload_libraries = 'pinnacle_train': the postmaster maps libtorch once, so a worker
# or a backend forked from it starts without loading it (about 0.9 s each otherwise). Loading
# must not run torch in the postmaster: a thread pool created there would hang every child in
# libgomp. The postmaster must stay one thread, and its children must train and predict.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('preload', "shared_preload_libraries = 'pinnacle_train'\n");
load_points($node, 5000);

is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), 'pinnacle_train', 'the library is preloaded');
my $postmaster = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
like(slurp_file("/proc/$postmaster/status"), qr/^Threads:\s+1$/m, 'the postmaster started no thread');
like(slurp_file("/proc/$postmaster/maps"), qr/libtorch_cpu/, 'the postmaster has libtorch mapped');

my $run = $node->safe_psql('postgres',
	'SELECT pinnacle_train(' . spec_json(max_iterations => 300, compute_kwargs => { threads => 2 }) . ', wait => true)');
is($node->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $run"), 'succeeded',
	'a worker forked from the preloading postmaster trains with two threads');

# backends forked after the load predict, with two threads each
my @clients = map { $node->background_psql('postgres') } 1 .. 3;
for my $client (@clients)
{
	$client->query_safe('SET pinnacle.predict_threads = 2');
	is($client->query_safe(
			'SELECT abs((pinnacle_predict(\'m\', 1.0::real, 1.0::real))[1] - 2) < 0.2 FROM generate_series(1, 200) LIMIT 1'),
		't', 'a backend predicts');
}
$_->quit for @clients;
like(slurp_file("/proc/$postmaster/status"), qr/^Threads:\s+1$/m, 'and the postmaster is still one thread');

$node->stop;
done_testing();
