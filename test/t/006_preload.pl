# shared_preload_libraries = 'pinnacle_train': the postmaster maps libtorch once, so a worker
# or a backend forked from it starts without loading it (about 0.9 s each otherwise). Loading
# must not run torch in the postmaster: a thread pool created there would hang every child in
# libgomp. The postmaster must stay one thread, and its children must train and predict.
# Without preloading, a backend that trains never loads libtorch: only the run's worker does.
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

# Not preloaded: a fresh backend's first pinnacle_train(..., wait => true) loads
# pinnacle_train.so but not libtorch (the run's supervisor does, and checks the model); a
# backend that predicts loads it.
my $fresh = start_node('fresh', '');
load_points($fresh, 1000);
my $caller = $fresh->background_psql('postgres');
my $caller_pid = $caller->query_safe('SELECT pg_backend_pid()');
# (the progress NOTICEs would read as a failure to query_safe)
$caller->query_safe('SET client_min_messages = warning');
my $fresh_run = $caller->query_safe('SELECT pinnacle_train(' . spec_json(max_iterations => 50) . ', wait => true)');
my $caller_maps = slurp_file("/proc/$caller_pid/maps");
like($caller_maps, qr/pinnacle_train\.so/, 'the training backend loaded pinnacle_train.so');
unlike($caller_maps, qr/libtorch|pinnacle_train_torch/, 'but not libtorch');
is($fresh->safe_psql('postgres', "SELECT status FROM pinnacle.runs WHERE id = $fresh_run"), 'succeeded',
	'and the run trained');
# (psql in the background stops at an error: the function returns it)
$fresh->safe_psql('postgres', q{CREATE FUNCTION try_train(spec jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pinnacle_train(spec);
	RETURN 'started';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END $$});
is($caller->query_safe('SELECT try_train('
		  . spec_json(identifier => 'bad', model => { layers => [ { type => 'Linear', in_features => 5, out_features => 1 } ] })
		  . ')'),
	'22023 invalid pinnacle_train spec: spec field "model.layers[0].in_features": is 5 but the input has 2',
	'a model that does not fit the rows is the caller\'s error, as the supervisor found it');
is($fresh->safe_psql('postgres', "SELECT count(*) FROM pinnacle.runs WHERE identifier = 'bad'"), '0',
	'and no run is on record');
unlike(slurp_file("/proc/$caller_pid/maps"), qr/libtorch/, 'still without libtorch');
is($caller->query_safe("SELECT array_length(pinnacle_predict('m', 1.0::real, 1.0::real), 1)"), '1',
	'the backend predicts');
like(slurp_file("/proc/$caller_pid/maps"), qr/libtorch_cpu/, 'with libtorch, loaded for it');
$caller->quit;
$fresh->stop;
done_testing();
