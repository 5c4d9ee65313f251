# Read-only use (DESIGN.md section 7): train on a primary, serve from a hot standby.
# pinnacle_wait, pinnacle_predict, pinnacle_classify, pinnacle_predict_batch, pinnacle_export and pinnacle_report
# write nothing, so they work on the standby and in read-only transactions on the primary.
use strict;
use warnings;
use MIME::Base64;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "max_worker_processes = 20\nshared_preload_libraries = 'pinnacle_train'\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION pinnacle_train');
load_points($primary, 5000);
$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->append_conf('postgresql.conf', "max_worker_processes = 20\n");
$standby->start;

my $run = $primary->safe_psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'served', max_iterations => 200) . ', wait => true)');
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', "SELECT pinnacle_wait($run)"), 'succeeded', 'pinnacle_wait on the standby');
is($standby->safe_psql('postgres', "SELECT array_length(pinnacle_predict('served', 0.5::real, -0.5::real), 1)"),
	'1', 'pinnacle_predict on the standby');
is($standby->safe_psql('postgres', "SELECT pinnacle_predict('served', 0.5::real, -0.5::real) = "
		  . "pinnacle_predict('served\@1', 0.5::real, -0.5::real)"), 't', 'a version reference on the standby');
is($standby->safe_psql('postgres', "SELECT pinnacle_classify('served', 0.5::real, -0.5::real)"),
	$primary->safe_psql('postgres', "SELECT pinnacle_classify('served', 0.5::real, -0.5::real)"),
	'pinnacle_classify on the standby');
is($standby->safe_psql('postgres', "SELECT length(pinnacle_export('served')) > 1000"), 't',
	'pinnacle_export on the standby');
like($standby->safe_psql('postgres', "SELECT pinnacle_report($run)"), qr/<svg/, 'pinnacle_report on the standby');
is($standby->safe_psql('postgres',
		"SELECT count(*), max(abs(p.prediction[1] - (pinnacle_predict('served', p.a, p.b))[1])) < 1e-5 "
		  . "FROM pinnacle_predict_batch('served', 'SELECT x1, x1 AS a, x2, x2 AS b FROM points') "
		  . "AS p(a real, b real, prediction real[])"),
	'5000|t', 'pinnacle_predict_batch on the standby, batch after batch, predicts as pinnacle_predict');
is($standby->safe_psql('postgres',
		"SELECT pinnacle_predict('served', 0.5::real, -0.5::real) = "
		  . "pinnacle_predict('served', 0.5::real, -0.5::real) FROM generate_series(1, 3) LIMIT 1"),
	't', 'predictions on the standby are repeatable');
is($primary->safe_psql('postgres', "SELECT pinnacle_predict('served', 0.5::real, -0.5::real)"),
	$standby->safe_psql('postgres', "SELECT pinnacle_predict('served', 0.5::real, -0.5::real)"),
	'the standby predicts exactly as the primary');

# an imported TorchScript module predicts in a helper process of the standby's backend, a batch
# of rows a request
$primary->safe_psql('postgres', "SELECT pinnacle_import('two_inputs', decode('"
	  . encode_base64(slurp_file('data/two_inputs.pt'), '') . "', 'base64'))");
$primary->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'scripted', model => { torchscript => 'two_inputs' }, max_iterations => 50)
	  . ', wait => true)');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres',
		"SELECT count(*), max(abs(p.prediction[1] - (pinnacle_predict('scripted', p.a, p.b))[1])) < 1e-5 "
		  . "FROM pinnacle_predict_batch('scripted', 'SELECT x1, x1 AS a, x2, x2 AS b FROM points') "
		  . "AS p(a real, b real, prediction real[])"),
	'5000|t', 'a TorchScript module predicts batches on the standby');

my ($ret, $out, $err) = $standby->psql('postgres',
	'SELECT pinnacle_train(' . spec_json(identifier => 'nope', max_iterations => 5) . ')');
isnt($ret, 0, 'training on the standby is refused');

# read-only transactions on the primary
for my $call ("pinnacle_wait($run)", "pinnacle_predict('served', 1::real, 1::real)",
	"pinnacle_classify('served', 1::real, 1::real)", "length(pinnacle_export('served'))",
	"length(pinnacle_report($run))", "pinnacle_cancel($run)",
	"(SELECT count(*) FROM pinnacle_predict_batch('served', 'SELECT x1, x2 FROM points') AS p(prediction real[]))")
{
	($ret, $out, $err) = $primary->psql('postgres', "BEGIN READ ONLY; SELECT $call; COMMIT;");
	is($ret, 0, "$call works in a read-only transaction") or diag($err);
}

$standby->stop;
$primary->stop;
done_testing();
