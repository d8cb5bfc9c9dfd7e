// The pybind11 module: each op family binds its own entry points (csrc/bindings/<family>.cpp).
// Shape and value validation with user-facing messages lives in the Python layer
// (conformer_kernels/_checks.py); the binding files guard the raw-pointer contract.
#include "common.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "conformer_kernels C++/CUDA ops; use the Python API in conformer_kernels instead.";
  m.def("cuda_compiled", [] { return kCudaCompiled; });
  bind_kabsch(m);
  bind_symmetric_rmsd(m);
  bind_rmsd_matrix(m);
  bind_automorphisms(m);
  bind_vector_aggregation(m);
  bind_segment_softmax(m);
  bind_edge_geometry(m);
  bind_triplets(m);
  bind_gather_layer_norm(m);
  bind_gine_aggregate(m);
  bind_distance_descent(m);
}
