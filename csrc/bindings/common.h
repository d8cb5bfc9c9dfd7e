// Shared by the binding files (one per op family): the raw-pointer contract checks, the CUDA
// branch helpers and the bind_<family> functions module.cpp calls.
#pragma once

#include <torch/extension.h>

#ifdef CK_WITH_CUDA
constexpr bool kCudaCompiled = true;
#else
constexpr bool kCudaCompiled = false;
#endif

[[maybe_unused]] inline void* as_stream(int64_t stream) { return reinterpret_cast<void*>(stream); }

// True when the op must run on CUDA; raises when the extension was built without it.
inline bool use_cuda(const torch::Tensor& t, const char* op) {
  if (!t.is_cuda()) return false;
  TORCH_CHECK(kCudaCompiled, op, ": got CUDA tensors but conformer_kernels was built without CUDA ",
              "(rebuild with CONFORMER_KERNELS_CUDA=1 on a machine with nvcc and a CUDA torch)");
  return true;
}

inline void check_same(const torch::Tensor& ref, const torch::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on ", ref.device(), ", got ", t.device());
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous");
}

inline void check_points(const torch::Tensor& ref, const torch::Tensor& t, const char* name) {
  check_same(ref, t, name);
  TORCH_CHECK_VALUE(t.dim() == 2 && t.size(1) == 3, name, " must have shape (total, 3), got ", t.sizes());
  TORCH_CHECK_VALUE(t.scalar_type() == ref.scalar_type(), name, " must have dtype ", ref.scalar_type());
}

inline void check_index(const torch::Tensor& ref, const torch::Tensor& t, const char* name) {
  check_same(ref, t, name);
  TORCH_CHECK_VALUE(t.scalar_type() == torch::kLong, name, " must be int64, got ", t.scalar_type());
}

// CUDA launches compile only into a CUDA build; use_cuda() has raised before they are reached.
#ifdef CK_WITH_CUDA
#define CK_CUDA_ONLY(...) __VA_ARGS__
#else
#define CK_CUDA_ONLY(...)
#endif

inline void check_csr(const torch::Tensor& ref, const torch::Tensor& row_ptr, const torch::Tensor& src, int64_t E) {
  check_index(ref, row_ptr, "row_ptr");
  check_index(ref, src, "src");
  TORCH_CHECK_VALUE(src.numel() == E, "src must have one entry per edge (", E, "), got ", src.numel());
}

inline const void* opt_ptr(const c10::optional<torch::Tensor>& t) { return t ? t->data_ptr() : nullptr; }

void bind_kabsch(pybind11::module_& m);
void bind_symmetric_rmsd(pybind11::module_& m);
void bind_rmsd_matrix(pybind11::module_& m);
void bind_automorphisms(pybind11::module_& m);
void bind_vector_aggregation(pybind11::module_& m);
void bind_segment_softmax(pybind11::module_& m);
void bind_edge_geometry(pybind11::module_& m);
void bind_triplets(pybind11::module_& m);
void bind_gather_layer_norm(pybind11::module_& m);
void bind_gine_aggregate(pybind11::module_& m);
void bind_distance_descent(pybind11::module_& m);
