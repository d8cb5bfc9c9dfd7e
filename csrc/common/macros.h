// Macros shared by the CPU (g++) and CUDA (nvcc) translation units.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CK_HOST_DEVICE __host__ __device__
#else
#define CK_HOST_DEVICE
#endif

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#include <stdexcept>
#include <string>
// Turns a CUDA error into a C++ exception; the binding layer turns that into a Python error.
#define CK_CUDA_CHECK(expr)                                                               \
  do {                                                                                    \
    cudaError_t ck_err_ = (expr);                                                         \
    if (ck_err_ != cudaSuccess)                                                           \
      throw std::runtime_error(std::string("CUDA error in ") + __FILE__ + ":" +           \
                               std::to_string(__LINE__) + ": " + cudaGetErrorString(ck_err_)); \
  } while (0)
#endif

namespace ck {

// Number of CUDA blocks needed to cover n items with `threads` threads each.
inline int64_t blocks_for(int64_t n, int64_t threads) { return (n + threads - 1) / threads; }

}  // namespace ck
