// How many threads a process computes with. libtorch's intra-op pool is one pool; OpenBLAS,
// which libtorch calls for every matrix product, keeps a pool of its own (one thread per core
// by default) that torch::set_num_threads does not reach.
#pragma once

namespace pinnacle {

// Sets both pools to `threads`.
void set_compute_threads(int threads);

// Maps, now, every OpenBLAS work buffer that a process computing with `threads` threads can
// hold at once (see compute_threads.cpp). A process that then lowers its RLIMIT_DATA never
// asks for another: OpenBLAS retries a refused mapping forever.
void reserve_blas_buffers(int threads);

}  // namespace pinnacle
