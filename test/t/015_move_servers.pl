# Moving a model between two servers: trained on one, exported to a file, imported from it on
# another. The version predicts there exactly as at its source, and its archive carries the
# optimizer state, so that training continues on the other server with the same Adam moments:
# a continued run there gives the very weights the same run gives at the source.
use strict;
use warnings;
use File::Spec;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

sub write_bytes
{
	my ($path, $hex) = @_;
	open(my $out, '>:raw', $path) or die $!;
	print $out pack('H*', $hex);
	close $out;
	return;
}

my $source = start_node('source');
my $target = start_node('target');
load_points($_, 1000) for ($source, $target);    # the same rows on both (seeded)

my %spec = (
	transform => { x1 => ['standardize'], x2 => [ { scale => 2.0 } ] },
	validation => { split => 0.1, metrics => ['mse'] },
	optimizer_kwargs => { lr => 0.01 },
	max_iterations => 60);
$source->safe_psql('postgres', 'SELECT pinnacle_train(' . spec_json(%spec) . ', wait => true)');

# through a file, as a user moves it (psql ... | base64 -d > m.pt), which the target reads
my $dir = File::Spec->rel2abs(PostgreSQL::Test::Utils::tempdir());    # where the target's server finds it
my $file = "$dir/m.pt";
write_bytes($file, $source->safe_psql('postgres', "SELECT encode(pinnacle_export('m'), 'hex')"));

my ($ret, $stdout, $stderr) = $target->psql('postgres', "SELECT pinnacle_import('m', pg_read_binary_file('$file'))");
like($stderr, qr/pinnacle_import: model "m" version 1/, 'the file imports on the other server as version 1');

my $grid = 'SELECT a::real / 7, b::real / 5 FROM generate_series(-7, 7) a, generate_series(-5, 5) b';
my $predict = sub { "SELECT pinnacle_predict('$_[0]', x1, x2) FROM ($grid) AS g(x1, x2)" };
is($target->safe_psql('postgres', $predict->('m')), $source->safe_psql('postgres', $predict->('m')),
	'it predicts there exactly as at its source');
is($target->safe_psql('postgres', 'SELECT length(optimizer_state) > 0 FROM pinnacle.checkpoints'),
	't', 'with the optimizer state of its source\'s checkpoint');

# continued on both servers: the same moments give the same weights
my $continue = 'SELECT pinnacle_train(' . spec_json(%spec, max_iterations => 30, init_from => 'm@1') . ', wait => true)';
$_->safe_psql('postgres', $continue) for ($source, $target);
is($target->safe_psql('postgres', "SELECT status, iterations FROM pinnacle.runs WHERE version = 2"),
	'succeeded|90', 'training continues on the other server from the imported version, 30 steps past its 60');
is($target->safe_psql('postgres', $predict->('m@2')), $source->safe_psql('postgres', $predict->('m@2')),
	'and gives exactly what the same run gives at the source');

# the same archive without its optimizer state: Adam starts afresh, and the result differs
my $strip = <<'PY';
import io, sys, zipfile
source = zipfile.ZipFile(sys.argv[1])
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as stripped:
    for entry in source.infolist():
        if not entry.filename.endswith("extra/pinnacle/optimizer_state"):
            stripped.writestr(entry, source.read(entry))
sys.stdout.write(out.getvalue().hex())
PY
my ($stripped, $strip_err);
IPC::Run::run([ '/usr/bin/python3', '-c', $strip, $file ], '>', \$stripped, '2>', \$strip_err) or diag($strip_err);
$target->safe_psql('postgres', "SELECT pinnacle_import('bare', decode('$stripped', 'hex'))");
is($target->safe_psql('postgres',
		"SELECT length(c.optimizer_state) FROM pinnacle.checkpoints c JOIN pinnacle.models m USING (run_id) WHERE m.identifier = 'bare'"),
	'0', 'an archive without optimizer state imports without one');
$target->safe_psql('postgres',
	'SELECT pinnacle_train(' . spec_json(%spec, identifier => 'bare', max_iterations => 30, init_from => 'bare@1') . ', wait => true)');
isnt($target->safe_psql('postgres', $predict->('bare@2')), $source->safe_psql('postgres', $predict->('m@2')),
	'and continues with fresh moments, to other weights (so the moved state is what made them equal)');

# an optimizer state that does not fit the model's parameters is refused, not trusted
$source->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(%spec, identifier => 'other', model => { layers => [
			{ type => 'Linear', out_features => 8 }, { type => 'ReLU' }, { type => 'Linear', out_features => 1 } ] })
	  . ', wait => true)');
my $other = "$dir/other.pt";
write_bytes($other, $source->safe_psql('postgres', "SELECT encode(pinnacle_export('other'), 'hex')"));
my $splice = <<'PY';
import io, sys, zipfile
target, donor = zipfile.ZipFile(sys.argv[1]), zipfile.ZipFile(sys.argv[2])
state = next(donor.read(e) for e in donor.infolist() if e.filename.endswith("extra/pinnacle/optimizer_state"))
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as forged:
    for entry in target.infolist():
        data = target.read(entry)
        if entry.filename.endswith("extra/pinnacle/optimizer_state"):
            data = state
        forged.writestr(entry, data)
sys.stdout.write(out.getvalue().hex())
PY
my ($forged, $forge_err);
IPC::Run::run([ '/usr/bin/python3', '-c', $splice, $file, $other ], '>', \$forged, '2>', \$forge_err)
  or diag($forge_err);
($ret, $stdout, $stderr) = $target->psql('postgres', "SELECT pinnacle_import('forged', decode('$forged', 'hex'))");
like($stderr, qr/the stored optimizer state does not fit this model/,
	'an archive whose optimizer state is another model\'s is refused');
is($target->safe_psql('postgres', "SELECT count(*) FROM pinnacle.models WHERE identifier = 'forged'"), '0',
	'and adds no version');

$_->stop for ($source, $target);
done_testing();
