# Upgrading as a user would: a server runs 0.1.0 (its binaries and schema) with a trained
# model; this version's binaries are installed over it; until ALTER EXTENSION pinnacle_train
# UPDATE every call refuses clearly; after it the model predicts exactly as before, is the
# deployed version, and training continues from it.
#
# PINNACLE_OLD_INSTALL is the root of a PostgreSQL installation with 0.1.0 installed, built by
# scripts/build_release.sh v0.1.0 (scripts/test.sh sets it).
use strict;
use warnings;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $old_root = $ENV{PINNACLE_OLD_INSTALL}
  or die "PINNACLE_OLD_INSTALL must name 0.1.0's installation: see scripts/build_release.sh\n";

# a copy of it, which the upgrade then writes over
my $root = PostgreSQL::Test::Utils::tempdir() . '/tree';
system('cp', '-a', $old_root, $root) == 0 or die "could not copy $old_root";
my ($install) = map { s{/bin/postgres$}{}r } glob("$root/usr/lib/postgresql/*/bin/postgres");
my $config = sub {
	my ($pg_config, $what) = @_;
	my $path = `$pg_config --$what`;
	chomp $path;
	return $path;
};

my $node = PostgreSQL::Test::Cluster->new('upgrade', install_path => $install);
$node->init;
$node->append_conf('postgresql.conf', "max_worker_processes = 20\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pinnacle_train');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pinnacle_train'"),
	'0.1.0', 'the old installation is version 0.1.0');
load_points($node, 2000);
# a LayerNorm keeps both versions' predict on libtorch (0.2.0 computes a row of Linear layers and
# elementwise activations without it, which rounds the last digit otherwise); so the upgraded
# model must predict bit for bit as before
my %model = (model => { layers => [
	{ type => 'Linear', out_features => 32 }, { type => 'LayerNorm' }, { type => 'Tanh' },
	{ type => 'Linear', out_features => 1 } ] });
is($node->safe_psql('postgres', 'SELECT pinnacle_wait(pinnacle_train(' . spec_json(%model, max_iterations => 60) . '))'),
	'succeeded', '0.1.0 trains a model');
my $predict = "SELECT x1, x2, pinnacle_predict('m', x1, x2) FROM points ORDER BY x1, x2 LIMIT 50";
my $before = $node->safe_psql('postgres', $predict);
my $weights = 'SELECT md5(string_agg(md5(weights), \',\' ORDER BY run_id, iteration)) FROM pinnacle.checkpoints';
my $weights_before = $node->safe_psql('postgres', $weights);
$node->stop;

# this version's libraries (the extension's and its torch core), control file and scripts,
# installed over 0.1.0's
my $new_lib = $config->('pg_config', 'pkglibdir');
my $new_share = $config->('pg_config', 'sharedir');
copy("$new_lib/$_", $config->("$install/bin/pg_config", 'pkglibdir')) or die "copy $_: $!"
  for ('pinnacle_train.so', 'pinnacle_train_torch.so');
copy($_, $config->("$install/bin/pg_config", 'sharedir') . '/extension') or die "copy $_: $!"
  for glob("$new_share/extension/pinnacle_train*");
$node->start;

# the new library with the old schema refuses, whatever the call, and says what to do
for my $call ($predict, "SELECT pinnacle_export('m')", 'SELECT pinnacle_wait(1)',
	'SELECT pinnacle_train(' . spec_json(%model, max_iterations => 5) . ')')
{
	my ($ret, $out, $err) = $node->psql('postgres', $call);
	like($err, qr/schema in this database is version 0\.1\.0 .*run ALTER EXTENSION pinnacle_train UPDATE/,
		"before the update, refused: $call");
}

$node->safe_psql('postgres', 'ALTER EXTENSION pinnacle_train UPDATE');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pinnacle_train'"),
	'0.2.0', 'ALTER EXTENSION UPDATE brings the schema to 0.2.0');
is($node->safe_psql('postgres', $weights), $weights_before, 'the weights are as 0.1.0 stored them');
is($node->safe_psql('postgres', $predict), $before, 'the model predicts exactly as before');
is($node->safe_psql('postgres', "SELECT version FROM pinnacle.models WHERE identifier = 'm' AND deployed"),
	'1', 'its version is the deployed one');

# training continues from it, and the new version deploys
is($node->safe_psql('postgres', 'SELECT pinnacle_train('
		  . spec_json(%model, max_iterations => 30, init_from => 'm') . ', wait => true) IS NOT NULL; '
		  . "SELECT status, iterations FROM pinnacle.runs WHERE version = 2"),
	"t\nsucceeded|90", 'a run continues from the upgraded model');
is($node->safe_psql('postgres', "SELECT pinnacle_deploy('m', 'rollback')"), '1',
	'and a rollback returns to the upgraded version');
is($node->safe_psql('postgres', $predict), $before, 'which still predicts as before');

$node->stop;
done_testing();
