"""Shared by the benchmark scripts: a connection to the throwaway server, key=value output,
and a watcher of a running run's worker.

While a run trains, WorkerWatch polls it from its own connection every 0.1 s: the pids of its
supervisor and its trainer (pinnacle.runs) and their VmHWM (the peak RSS so far, so the last
reading is the peak; the larger of the two is kept: the rows are in both, shared), and the
worker's own rows/s from pinnacle.progress, which it counts from its first step (after the rows
are in and the trainer is built): that isolates the training loop.
"""
import threading
import time

import psycopg2


def connect(socket_dir, port):
    conn = psycopg2.connect(host=socket_dir, port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    return conn


def out(key, value):
    print(f"{key}={value}", flush=True)


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass  # the worker just exited
    return None


class WorkerWatch:
    """with WorkerWatch(socket_dir, port, identifier) as watch: ... then watch.hwm_kb,
    watch.rows_per_second and watch.iteration (the last readings, None if never read)."""

    def __init__(self, socket_dir, port, identifier):
        self.cursor = connect(socket_dir, port).cursor()
        self.identifier = identifier
        self.hwm_kb = self.rows_per_second = self.iteration = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def poll(self):
        while not self.stop.is_set():
            self.cursor.execute("SELECT r.worker_pid, r.trainer_pid, p.iteration, p.rows_per_second"
                                " FROM pinnacle.runs r LEFT JOIN pinnacle.progress p ON p.run_id = r.id"
                                " WHERE r.identifier = %s AND r.status = 'running'", [self.identifier])
            for supervisor, trainer, iteration, rows_per_second in self.cursor.fetchall():
                peaks = [kb for kb in (peak_rss_kb(supervisor), trainer and peak_rss_kb(trainer), self.hwm_kb) if kb]
                self.hwm_kb = max(peaks) if peaks else None
                if rows_per_second is not None:
                    self.iteration, self.rows_per_second = iteration, rows_per_second
            time.sleep(0.1)
