"""Shared by the benchmark scripts: a connection to the throwaway server, key=value output,
and a watcher of a running run's processes.

While a run trains, WorkerWatch polls it from its own connection (every 0.1 s by default): the
pids of its supervisor and its trainer (pinnacle.runs) and their VmHWM (the peak RSS so far, so
the last reading is the peak; the larger of the two is kept: the rows are in both, shared), and
the worker's own rows/s from pinnacle.progress, which it counts from its first step (after the
rows are in and the trainer is built): that isolates the training loop.

For the benchmark's breakdown of a call it also keeps: when the supervisor process started
(pg_stat_activity.backend_start), when the trainer was first seen (within one poll of its
fork), the trainer's thread count and its CPU seconds per wall second between the first and
the last reading with rows/s (1.0: one core kept busy).
"""
import os
import threading
import time

import psycopg2

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def cpu_seconds(pid):
    """utime + stime of a process, all its threads, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of stat(5)
    except (OSError, IndexError, ValueError):
        return None


def thread_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


class WorkerWatch:
    """with WorkerWatch(socket_dir, port, identifier) as watch: ... then watch.hwm_kb,
    watch.rows_per_second and watch.iteration (the last readings, None if never read), and
    watch.worker_start, watch.trainer_seen, watch.trainer_threads, watch.trainer_cpu_per_wall."""

    def __init__(self, socket_dir, port, identifier, interval=0.1):
        self.conn = connect(socket_dir, port)
        self.cursor = self.conn.cursor()
        self.identifier = identifier
        self.interval = interval
        self.hwm_kb = self.rows_per_second = self.iteration = self.last_reading_time = None
        self.worker_start = self.trainer_seen = self.trainer_threads = self.trainer_cpu_per_wall = None
        self.cpu_first = None  # (wall time, CPU seconds) of the trainer at its first reading with rows/s
        # a data-parallel run's: rank 0's wait for the gradient sums, per step, and their bytes
        self.allreduce_ms_per_step = self.allreduce_bytes_per_step = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.poll)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.conn.close()

    def poll(self):
        while not self.stop.is_set():
            self.cursor.execute("SELECT r.worker_pid, r.trainer_pid, p.iteration, p.rows_per_second,"
                                " extract(epoch FROM a.backend_start)::float8,"
                                " p.allreduce_seconds, p.allreduce_bytes_per_step"
                                " FROM pinnacle.runs r LEFT JOIN pinnacle.progress p ON p.run_id = r.id"
                                " LEFT JOIN pg_stat_activity a ON a.pid = r.worker_pid"
                                " WHERE r.identifier = %s AND r.status = 'running'", [self.identifier])
            now = time.time()
            for (supervisor, trainer, iteration, rows_per_second, worker_start,
                 allreduce_seconds, allreduce_bytes) in self.cursor.fetchall():
                peaks = [kb for kb in (peak_rss_kb(supervisor), trainer and peak_rss_kb(trainer), self.hwm_kb) if kb]
                self.hwm_kb = max(peaks) if peaks else None
                if worker_start is not None and self.worker_start is None:
                    self.worker_start = worker_start
                if trainer:
                    if self.trainer_seen is None:
                        self.trainer_seen = now
                    threads = thread_count(trainer)
                    if threads:
                        self.trainer_threads = max(threads, self.trainer_threads or 0)
                if rows_per_second:  # 0 from the fork until the trainer's first step
                    self.iteration, self.rows_per_second = iteration, rows_per_second
                    if allreduce_bytes:
                        self.allreduce_ms_per_step = allreduce_seconds * 1000 / iteration
                        self.allreduce_bytes_per_step = allreduce_bytes
                    self.last_reading_time = now
                    cpu = trainer and cpu_seconds(trainer)
                    if cpu is not None:
                        if self.cpu_first is None:
                            self.cpu_first = (now, cpu)
                        elif now - self.cpu_first[0] > 0.2:
                            self.trainer_cpu_per_wall = (cpu - self.cpu_first[1]) / (now - self.cpu_first[0])
            time.sleep(self.interval)
