// Per-edge math of edge_geometry, shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cmath>

#include "../common/macros.h"
#include "edge_geometry.h"

namespace ck {

// Smooth cosine cutoff and its derivative with respect to d.
template <typename scalar_t>
CK_HOST_DEVICE inline scalar_t cosine_cutoff(scalar_t d, double rc, scalar_t* derivative) {
  if (rc <= 0) { *derivative = 0; return scalar_t(1); }
  if (d >= scalar_t(rc)) { *derivative = 0; return scalar_t(0); }
  const scalar_t a = scalar_t(M_PI / rc);
  *derivative = -scalar_t(0.5) * a * sin(a * d);
  return scalar_t(0.5) * (cos(a * d) + scalar_t(1));
}

template <typename scalar_t>
CK_HOST_DEVICE inline void edge_geometry_edge(const scalar_t* xi, const scalar_t* xj, const scalar_t* centers,
                                              const RbfParams& p, scalar_t* dist, scalar_t* unit, scalar_t* rbf) {
  const scalar_t r[3] = {xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]};
  const scalar_t d = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  const scalar_t inv = d > scalar_t(0) ? scalar_t(1) / d : scalar_t(0);
  *dist = d;
  for (int k = 0; k < 3; ++k) unit[k] = r[k] * inv;
  scalar_t dcut;
  const scalar_t cut = cosine_cutoff(d, p.cutoff, &dcut);
  const scalar_t f = p.squared ? d * d : d;
  for (int64_t k = 0; k < p.K; ++k) {
    const scalar_t t = f - centers[k];
    rbf[k] = exp(-scalar_t(p.gamma) * t * t) * cut;
  }
}

// Gradient with respect to x_i of one edge's outputs (that of x_j is its negative).
template <typename scalar_t>
CK_HOST_DEVICE inline void edge_geometry_edge_backward(const scalar_t* xi, const scalar_t* xj, const scalar_t* centers,
                                                       const RbfParams& p, const scalar_t* g_dist,
                                                       const scalar_t* g_unit, const scalar_t* g_rbf, scalar_t gx[3]) {
  const scalar_t r[3] = {xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]};
  const scalar_t d = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  gx[0] = gx[1] = gx[2] = scalar_t(0);
  if (!(d > scalar_t(0))) return;  // coincident atoms: direction undefined, gradient taken as 0
  const scalar_t inv = scalar_t(1) / d;
  const scalar_t u[3] = {r[0] * inv, r[1] * inv, r[2] * inv};
  scalar_t g_d = g_dist ? *g_dist : scalar_t(0);
  if (g_rbf) {
    scalar_t dcut;
    const scalar_t cut = cosine_cutoff(d, p.cutoff, &dcut);
    const scalar_t f = p.squared ? d * d : d;
    const scalar_t df = p.squared ? scalar_t(2) * d : scalar_t(1);
    for (int64_t k = 0; k < p.K; ++k) {
      const scalar_t t = f - centers[k];
      const scalar_t gauss = exp(-scalar_t(p.gamma) * t * t);
      g_d += g_rbf[k] * gauss * (dcut - scalar_t(2 * p.gamma) * t * df * cut);
    }
  }
  for (int k = 0; k < 3; ++k) gx[k] = g_d * u[k];
  if (g_unit) {  // du/dr = (I - u u^T) / d
    const scalar_t gu = g_unit[0] * u[0] + g_unit[1] * u[1] + g_unit[2] * u[2];
    for (int k = 0; k < 3; ++k) gx[k] += (g_unit[k] - gu * u[k]) * inv;
  }
}

}  // namespace ck
