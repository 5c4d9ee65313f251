// How many threads a process computes with. libtorch's intra-op pool is one pool; OpenBLAS,
// which libtorch calls for every matrix product, keeps a pool of its own (one thread per core
// by default) that torch::set_num_threads does not reach.
#pragma once

namespace pinnacle {

// Sets both pools to `threads`.
void set_compute_threads(int threads);

}  // namespace pinnacle
