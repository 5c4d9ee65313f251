# Moving a model: pinnacle_export's archive carries the version's metadata and weights, and
# pinnacle_import of it in another database adds a version that predicts exactly as the source.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use PinnacleTest;

my $node = start_node('move');
load_points($node, 2000);
$node->safe_psql('postgres', 'CREATE DATABASE target');
$node->safe_psql('target', 'CREATE EXTENSION pinnacle_train');
$node->safe_psql('target', 'CREATE TABLE points AS SELECT 0.1::real AS x1, 0.2::real AS x2 WHERE false');

# a model with a fitted transform (its statistics must travel too), and a validation history
my %spec = (
	transform => { x1 => ['standardize'], x2 => [ { scale => 2.0 } ] },
	validation => { split => 0.1, metrics => ['mse'] },
	max_iterations => 60);
$node->safe_psql('postgres', 'SELECT pinnacle_train(' . spec_json(%spec) . ', wait => true)');
$node->safe_psql('postgres', 'SELECT pinnacle_train(' . spec_json(%spec, max_iterations => 30) . ', wait => true)');
my $archive = $node->safe_psql('postgres', "SELECT encode(pinnacle_export('m\@1'), 'hex')");
my $grid = 'SELECT a::real / 7, b::real / 5 FROM generate_series(-7, 7) a, generate_series(-5, 5) b';
my $predict = sub { "SELECT pinnacle_predict('$_[0]', x1, x2) FROM ($grid) AS g(x1, x2)" };
my $source = $node->safe_psql('postgres', $predict->('m@1'));

# imported elsewhere under another name, twice: two versions, the second deployed
my ($ret, $out, $err) = $node->psql('target', "SELECT pinnacle_import('moved', decode('$archive', 'hex'))");
like($err, qr/pinnacle_import: model "moved" version 1/, 'an exported archive imports as a model version');
$node->safe_psql('target', "SELECT pinnacle_import('moved', decode('$archive', 'hex'))");
is($node->safe_psql('target', $predict->('moved')), $source, 'which predicts exactly as the source did');
is($node->safe_psql('target', "SELECT string_agg(version || ':' || deployed, ',' ORDER BY version) FROM pinnacle.models"),
	'1:false,2:true', 'each import adds a version, deployed by the spec\'s policy');
my $kept = "SELECT m.transform, r.metric_values, m.column_widths, r.best_value, r.spec - 'identifier'
	FROM pinnacle.models m JOIN pinnacle.runs r ON r.id = m.run_id";
is($node->safe_psql('target', "$kept WHERE m.version = 1"),
	$node->safe_psql('postgres', "$kept WHERE m.identifier = 'm' AND m.version = 1"),
	'with the source\'s fitted transform, metrics, column widths and spec');
is($node->safe_psql('target', "SELECT r.spec ->> 'identifier', r.status, r.stop_reason FROM pinnacle.runs r WHERE r.version = 1"),
	'moved|succeeded|imported', 'recorded as an imported run of the new identifier');

# Python reads the metadata beside the module, which computes what pinnacle_predict computes
my $file = $node->basedir . '/m1.pt';
open(my $fh, '>:raw', $file) or die $!;
print $fh pack('H*', $archive);
close $fh;
my $python = <<'PY';
import json, sys, torch
files = {"pinnacle/metadata.json": ""}
module = torch.jit.load(sys.argv[1], _extra_files=files)
meta = json.loads(files["pinnacle/metadata.json"])
print(meta["identifier"], meta["version"], meta["column_widths"], sorted(meta["spec"]["transform"]))
print(module(torch.tensor([[0.25]]), torch.tensor([[-0.5]]))[0, 0].item())
PY
my ($py_out, $py_err);
IPC::Run::run([ '/usr/bin/python3', '-c', $python, $file ], '>', \$py_out, '2>', \$py_err)
  or diag($py_err);
my ($meta_line, $value) = split /\n/, $py_out;
is($meta_line, "m 1 [1, 1, 1] ['x1', 'x2']", 'Python reads the version\'s metadata from the archive');
my $sql_value = $node->safe_psql('postgres', "SELECT (pinnacle_predict('m\@1', 0.25::real, -0.5::real))[1]");
ok(abs($value - $sql_value) < 1e-5, "and the module predicts as pinnacle_predict ($value, $sql_value)");

# a trained TorchScript module moves too: its trained module is its weights, so the target
# database needs no copy of the module it was trained from
my $module = unpack('H*', slurp_file('data/two_inputs.pt'));
$node->safe_psql('postgres', "SELECT pinnacle_import('two_inputs', decode('$module', 'hex'))");
$node->safe_psql('postgres', 'SELECT pinnacle_train('
	  . spec_json(identifier => 'scripted', model => { torchscript => 'two_inputs' }, max_iterations => 40)
	  . ', wait => true)');
my $scripted = $node->safe_psql('postgres', "SELECT encode(pinnacle_export('scripted'), 'hex')");
$node->safe_psql('target', "SELECT pinnacle_import('scripted', decode('$scripted', 'hex'))");
is($node->safe_psql('target', $predict->('scripted')), $node->safe_psql('postgres', $predict->('scripted')),
	'a trained TorchScript module predicts in the other database exactly as in its own');
is($node->safe_psql('target', 'SELECT count(*) FROM pinnacle.modules'), '0', 'without its module there');

# an identifier of another role is not taken over; a plain module still imports as a module
$node->safe_psql('target', 'CREATE ROLE mallory; GRANT EXECUTE ON FUNCTION pinnacle_import(text, bytea) TO mallory');
($ret, $out, $err) = $node->psql('target', "SET ROLE mallory; SELECT pinnacle_import('moved', decode('$archive', 'hex'))");
like($err, qr/model "moved" belongs to role/, 'another role cannot add a version to an identifier it does not own');

# a forged archive whose metadata has no spec is an error, not a crash of the backend
my $forge = <<'PY';
import io, json, sys, zipfile
source = zipfile.ZipFile(sys.argv[1])
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as forged:
    for entry in source.infolist():
        data = source.read(entry)
        if entry.filename.endswith("extra/pinnacle/metadata.json"):
            meta = json.loads(data)
            del meta["spec"]
            data = json.dumps(meta).encode()
        forged.writestr(entry, data)
sys.stdout.write(out.getvalue().hex())
PY
my ($forged, $forge_err);
IPC::Run::run([ '/usr/bin/python3', '-c', $forge, $file ], '>', \$forged, '2>', \$forge_err) or diag($forge_err);
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
($ret, $out, $err) = $node->psql('target', "SELECT pinnacle_import('forged', decode('$forged', 'hex'))");
like($err, qr/the archive's metadata has no spec/, 'an archive whose metadata has no spec is refused');
no_restart($node, $started, 'the server');
ok(!$node->log_contains('terminating any other active server processes'), 'nor crash');

$node->stop;
done_testing();
