"""Data-parallel training (compute_kwargs.workers) against one process, on the same server and
rows: the MLP of bench/spec.json with a global batch of 512, on 1 worker with 1 thread, 1 worker
with 2 threads (what a user would try instead), and 2 workers of 1 thread; then a small conv net
on 1 and 2 workers. Beside each pair, two runs of 1 worker at once (independent, no gradient
sums: what two processes of that model get from this machine at all), their samples/s summed.
Then the MLP across two servers (compute_kwargs.servers: this one and
shard_b, each selecting its half of the rows from its table "half", one rank each). Training samples/s are the run's own (pinnacle.progress: every rank's rows,
counted from the first step). Prints key=value lines; the NOTICEs go to stderr.

    /usr/bin/python3 workers_bench.py SOCKET_DIR PORT SPEC.json STEPS
"""
import json
import sys
import threading

from worker_watch import WorkerWatch, connect as connect_to, out

socket_dir, port, spec_path, steps = sys.argv[1:5]
with open(spec_path) as f:
    base_spec = json.load(f)
BATCH = 512
CONV = {
    "model": {"layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 5}, {"type": "ReLU"},
        {"type": "MaxPool2d", "kernel_size": 2}, {"type": "Flatten"},
        {"type": "Linear", "out_features": 10}]},
    "transform": {"pixels": [{"scale": 1 / 255}, {"reshape": [1, 28, 28]}]},
}


def train(identifier, workers, threads, changes=None, servers=None):
    """Runs the spec; returns its watcher: training samples/s, and the allreduce figures."""
    compute = {"threads": threads, "workers": workers, **({"servers": servers} if servers else {})}
    spec = dict(base_spec, identifier=identifier, max_iterations=int(steps), validation_interval=int(steps),
                loader_kwargs={"batch_size": BATCH, "shuffle": True}, compute_kwargs=compute, **(changes or {}))
    conn = connect_to(socket_dir, port)
    cur = conn.cursor()
    with WorkerWatch(socket_dir, port, identifier) as watch:
        cur.execute("SELECT pinnacle_train(%s, wait => true)", [json.dumps(spec)])
        run_id = cur.fetchone()[0]
    for notice in conn.notices:
        sys.stderr.write(notice)
    cur.execute("SELECT status FROM pinnacle.runs WHERE id = %s", [run_id])
    if cur.fetchone()[0] != "succeeded":
        sys.exit(f"run {run_id} ({identifier}) did not succeed")
    return watch


def two_at_once(name, changes=None):
    """Two independent 1-worker runs started together; the sum of their samples/s."""
    watches = [None, None]

    def one(i):
        watches[i] = train(f"bench_{name}_{i}", 1, 1, changes)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if None in watches:
        sys.exit(f"a run of {name} did not succeed")
    out(f"{name}_samples_per_s", f"{sum(w.rows_per_second for w in watches):.0f}")


def allreduce(watch, prefix):
    out(f"{prefix}_allreduce_ms_per_step", f"{watch.allreduce_ms_per_step:.2f}")
    out(f"{prefix}_allreduce_bytes_per_step", watch.allreduce_bytes_per_step)


for name, workers, threads in [("mlp_1w_1t", 1, 1), ("mlp_1w_2t", 1, 2), ("mlp_2w_1t", 2, 1)]:
    watch = train(f"bench_{name}", workers, threads)
    out(f"{name}_samples_per_s", f"{watch.rows_per_second:.0f}")
    if workers > 1:
        allreduce(watch, name)
two_at_once("mlp_two_runs")
for name, workers in [("conv_1w", 1), ("conv_2w", 2)]:
    watch = train(f"bench_{name}", workers, 1, CONV)
    out(f"{name}_samples_per_s", f"{watch.rows_per_second:.0f}")
    if workers > 1:
        allreduce(watch, name)
two_at_once("conv_two_runs", CONV)
watch = train("bench_mlp_2s_1t", 1, 1, {"select": "SELECT pixels, label FROM half"}, servers=["shard_b"])
out("mlp_2s_1t_samples_per_s", f"{watch.rows_per_second:.0f}")
allreduce(watch, "mlp_2s_1t")
