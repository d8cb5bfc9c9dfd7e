// C++ unit tests of the torch-free core: one test body, run against the CPU backend and (where a
// GPU exists) the CUDA backend. Usage: test_kernels_cpp cpu|cuda. Exit 77 = backend unavailable.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "automorphisms/automorphisms.h"
#include "automorphisms/mol_pickle.h"
#include "distance_descent/distance_descent.h"
#include "edge_geometry/edge_geometry.h"
#include "gather_layer_norm/gather_layer_norm.h"
#include "gine_aggregate/gine_aggregate.h"
#include "kabsch/kabsch.h"
#include "rmsd_matrix/rmsd_matrix.h"
#include "segment_softmax/segment_softmax.h"
#include "symmetric_rmsd/symmetric_rmsd.h"
#include "triplets/triplets.h"
#include "vector_aggregation/vector_aggregation.h"

#ifdef CK_TEST_CUDA
#include <cuda_runtime.h>
#endif

namespace {

int g_failures = 0;
#define CHECK(cond, ...)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      ++g_failures;                                                          \
      std::printf("FAIL %s:%d: %s ", __FILE__, __LINE__, #cond);             \
      std::printf(__VA_ARGS__);                                              \
      std::printf("\n");                                                     \
    }                                                                        \
  } while (0)

// Host vectors in, host vectors out: each backend owns where the arrays live while a kernel runs.
struct CpuBackend {
  static const char* name() { return "cpu"; }
  template <typename T>
  static void kabsch(const std::vector<T>& P, const std::vector<T>& Q, const std::vector<int64_t>& ptr,
                     std::vector<T>& R, std::vector<T>& pc, std::vector<T>& qc, std::vector<T>& sse) {
    const int64_t B = (int64_t)ptr.size() - 1;
    R.resize(9 * B); pc.resize(3 * B); qc.resize(3 * B); sse.resize(B);
    ck::kabsch_forward_cpu<T>(P.data(), Q.data(), nullptr, ptr.data(), B, R.data(), pc.data(), qc.data(), sse.data());
  }
  template <typename T>
  static void backward(const std::vector<T>& P, const std::vector<T>& Q, const std::vector<int64_t>& ptr,
                       const std::vector<T>& R, const std::vector<T>& pc, const std::vector<T>& qc,
                       const std::vector<T>& g, std::vector<T>& gP, std::vector<T>& gQ) {
    gP.resize(P.size()); gQ.resize(Q.size());
    ck::aligned_sse_backward_cpu<T>(P.data(), Q.data(), nullptr, ptr.data(), (int64_t)ptr.size() - 1, R.data(),
                                    pc.data(), qc.data(), g.data(), gP.data(), gQ.data());
  }
  template <typename T>
  static void symmetric(const std::vector<T>& P, const std::vector<T>& Q, const std::vector<int64_t>& ptr,
                        const std::vector<int64_t>& perms, const std::vector<int64_t>& offset,
                        const std::vector<int64_t>& count, std::vector<T>& sse, std::vector<int64_t>& best) {
    const int64_t B = (int64_t)ptr.size() - 1;
    sse.resize(B); best.resize(B);
    ck::symmetric_sse_cpu<T>(P.data(), Q.data(), ptr.data(), B, perms.data(), offset.data(), count.data(),
                             sse.data(), best.data());
  }
  template <typename T>
  static void matrix(const std::vector<T>& X, const std::vector<T>& Y, int64_t G, int64_t R, int64_t n,
                     const std::vector<int64_t>& perms, int64_t n_perms, std::vector<T>& sse,
                     std::vector<int64_t>& best) {
    std::vector<double> scratch(ck::rmsd_matrix_scratch_size(G, R, n));
    sse.resize(G * R); best.resize(G * R);
    ck::rmsd_matrix_cpu<T>(X.data(), Y.data(), G, R, n, perms.data(), n_perms, scratch.data(), sse.data(), best.data());
  }
  static void aggregate(const std::vector<double>& x, const std::vector<double>& w, const std::vector<int64_t>& row_ptr,
                        const std::vector<int64_t>& src, bool normalize, std::vector<double>& out) {
    out.resize(x.size());
    ck::vector_aggregation_forward_cpu<double>(x.data(), w.data(), row_ptr.data(), src.data(),
                                               (int64_t)row_ptr.size() - 1, normalize, out.data());
  }
  static void aggregate_backward(const std::vector<double>& x, const std::vector<double>& w,
                                 const std::vector<int64_t>& row_ptr, const std::vector<int64_t>& src, bool normalize,
                                 const std::vector<double>& g, std::vector<double>& gx, std::vector<double>& gw) {
    gx.assign(x.size(), 0.0); gw.resize(w.size());
    ck::vector_aggregation_backward_cpu<double>(x.data(), w.data(), row_ptr.data(), src.data(),
                                                (int64_t)row_ptr.size() - 1, normalize, g.data(), gx.data(), gw.data());
  }
  static void softmax(const std::vector<double>& s, const std::vector<double>& v, const std::vector<int64_t>& row_ptr,
                      int64_t H, int64_t D, std::vector<double>& out, std::vector<double>& lse) {
    const int64_t N = (int64_t)row_ptr.size() - 1;
    out.resize(N * H * D); lse.resize(N * H);
    ck::segment_softmax_forward_cpu<double>(s.data(), v.data(), row_ptr.data(), N, H, D, out.data(), lse.data());
  }
  static void geometry(const std::vector<double>& x, const std::vector<int64_t>& row_ptr,
                       const std::vector<int64_t>& src, const std::vector<double>& centers, ck::RbfParams p,
                       std::vector<double>& d, std::vector<double>& u, std::vector<double>& rbf) {
    const int64_t E = (int64_t)src.size();
    d.resize(E); u.resize(3 * E); rbf.resize(E * p.K);
    ck::edge_geometry_forward_cpu<double>(x.data(), row_ptr.data(), src.data(), (int64_t)row_ptr.size() - 1,
                                          centers.data(), p, d.data(), u.data(), rbf.data());
  }
  static void geometry_backward(const std::vector<double>& x, const std::vector<int64_t>& row_ptr,
                                const std::vector<int64_t>& src, const std::vector<double>& centers, ck::RbfParams p,
                                const std::vector<double>& gd, const std::vector<double>& gu,
                                const std::vector<double>& gr, std::vector<double>& gx) {
    gx.assign(x.size(), 0.0);
    ck::edge_geometry_backward_cpu<double>(x.data(), row_ptr.data(), src.data(), (int64_t)row_ptr.size() - 1,
                                           centers.data(), p, gd.data(), gu.data(), gr.data(), gx.data());
  }
  static void triplet_aggregate(const std::vector<double>& x, const std::vector<int64_t>& row_ptr,
                                const std::vector<int64_t>& j, const std::vector<int64_t>& k,
                                const std::vector<double>& f, const std::vector<double>& g, std::vector<double>& out) {
    out.resize(x.size());
    ck::triplet_aggregation_forward_cpu<double>(x.data(), row_ptr.data(), j.data(), k.data(),
                                                (int64_t)row_ptr.size() - 1, f.data(), g.data(), out.data());
  }
  static void attention(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                        const std::vector<int64_t>& row_ptr, int64_t C, double scale, std::vector<double>& out) {
    const int64_t N = (int64_t)row_ptr.size() - 1;
    std::vector<double> lse(N);
    out.resize(N);
    ck::segment_attention_forward_cpu<double>(q.data(), k.data(), v.data(), row_ptr.data(), N, 1, 1, C, 1, scale,
                                              out.data(), lse.data());
  }
  // forward, then both backward passes (grad_pre, grad_weight; grad_table from the entries by row)
  static void gather(const std::vector<double>& table, const std::vector<int64_t>& index, const std::vector<double>& w,
                     const std::vector<double>& gamma, const std::vector<double>& beta, int64_t B, bool relu,
                     const std::vector<double>& g, const std::vector<int64_t>& entry_ptr,
                     const std::vector<int64_t>& entries, std::vector<double>& out, std::vector<double>& gt,
                     std::vector<double>& gw) {
    const int64_t M = (int64_t)index.size() / B, C = (int64_t)gamma.size(), R = (int64_t)table.size() / C;
    std::vector<double> mean(M), rstd(M), gp(M * C), gg(C), gb(C);
    out.resize(M * C); gt.resize(R * C); gw.resize(M * B);
    ck::gather_layer_norm_forward_cpu<double>(table.data(), index.data(), w.data(), gamma.data(), beta.data(), M, B, C,
                                              1e-5, relu, out.data(), mean.data(), rstd.data());
    if (g.empty()) return;
    ck::gather_layer_norm_backward_cpu<double>(table.data(), index.data(), w.data(), gamma.data(), beta.data(),
                                               mean.data(), rstd.data(), g.data(), M, B, C, relu, gp.data(), gw.data(),
                                               gg.data(), gb.data());
    ck::gather_table_backward_cpu<double>(gp.data(), w.data(), entry_ptr.data(), entries.data(), R, B, C, gt.data());
  }
  // states (steps + 1) x N x 3 from x0; with g non-empty, the backward: grad_x (from g), grad_d
  static void descent(const std::vector<double>& x0, const std::vector<double>& d, const std::vector<int64_t>& row_ptr,
                      const std::vector<int64_t>& src, const std::vector<int64_t>& dst,
                      const std::vector<int64_t>& col_ptr, const std::vector<int64_t>& col_edges, int64_t steps,
                      double lr, const std::vector<double>& g, std::vector<double>& states, std::vector<double>& gx,
                      std::vector<double>& gd) {
    const int64_t N = (int64_t)x0.size() / 3;
    states.assign((steps + 1) * N * 3, 0.0);
    std::copy(x0.begin(), x0.end(), states.begin());
    ck::distance_descent_forward_cpu<double>(d.data(), row_ptr.data(), src.data(), N, steps, lr, states.data());
    if (g.empty()) return;
    gx = g;
    gd.assign(d.size(), 0.0);
    std::vector<double> scratch(3 * N);
    ck::distance_descent_backward_cpu<double>(states.data(), d.data(), row_ptr.data(), src.data(), dst.data(),
                                              col_ptr.data(), col_edges.data(), N, steps, lr, gx.data(), gd.data(),
                                              scratch.data());
  }
  // forward, then one grouped gradient (the groups given: by source for grad_h, by attr row for grad_attr)
  static void gine(const std::vector<double>& h, const std::vector<double>& attr, const std::vector<int64_t>& row_ptr,
                   const std::vector<int64_t>& dst, const std::vector<int64_t>& src, const std::vector<int64_t>& attr_row,
                   int64_t C, double eps, const std::vector<double>& g, const std::vector<int64_t>& group_ptr,
                   const std::vector<int64_t>& entries, double self_weight, std::vector<double>& out,
                   std::vector<double>& grad) {
    const int64_t N = (int64_t)row_ptr.size() - 1, R = (int64_t)group_ptr.size() - 1;
    out.resize(N * C); grad.resize(R * C);
    ck::gine_aggregate_forward_cpu<double>(h.data(), attr.data(), row_ptr.data(), src.data(), attr_row.data(), N, C,
                                           eps, out.data());
    ck::gine_aggregate_grouped_grad_cpu<double>(h.data(), attr.data(), g.data(), dst.data(), src.data(),
                                                attr_row.data(), group_ptr.data(), entries.data(), R, C, self_weight,
                                                grad.data());
  }
  static std::vector<double> gine_tangent(const std::vector<double>& h, const std::vector<double>& attr,
                                          const std::vector<double>& dh, const std::vector<double>& dattr,
                                          const std::vector<int64_t>& row_ptr, const std::vector<int64_t>& src,
                                          const std::vector<int64_t>& attr_row, int64_t C, double eps) {
    const int64_t N = (int64_t)row_ptr.size() - 1;
    std::vector<double> out(N * C);
    ck::gine_aggregate_tangent_cpu<double>(h.data(), attr.data(), dh.data(), dattr.data(), row_ptr.data(), src.data(),
                                           attr_row.data(), N, C, eps, out.data());
    return out;
  }
};

#ifdef CK_TEST_CUDA
template <typename T>
struct DeviceArray {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceArray(const std::vector<T>& host) : n(host.size()) {
    cudaMalloc(&ptr, std::max<size_t>(n, 1) * sizeof(T));
    if (n) cudaMemcpy(ptr, host.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  explicit DeviceArray(size_t count) : n(count) { cudaMalloc(&ptr, std::max<size_t>(n, 1) * sizeof(T)); }
  ~DeviceArray() { cudaFree(ptr); }
  std::vector<T> host() const {
    std::vector<T> out(n);
    if (n) cudaMemcpy(out.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost);
    return out;
  }
};

struct CudaBackend {
  static const char* name() { return "cuda"; }
  template <typename T>
  static void kabsch(const std::vector<T>& P, const std::vector<T>& Q, const std::vector<int64_t>& ptr,
                     std::vector<T>& R, std::vector<T>& pc, std::vector<T>& qc, std::vector<T>& sse) {
    const int64_t B = (int64_t)ptr.size() - 1;
    DeviceArray<T> dP(P), dQ(Q), dR(9 * B), dpc(3 * B), dqc(3 * B), dsse(B);
    DeviceArray<int64_t> dptr(ptr);
    ck::kabsch_forward_cuda<T>(dP.ptr, dQ.ptr, nullptr, dptr.ptr, B, dR.ptr, dpc.ptr, dqc.ptr, dsse.ptr, nullptr);
    R = dR.host(); pc = dpc.host(); qc = dqc.host(); sse = dsse.host();
  }
  template <typename T>
  static void backward(const std::vector<T>& P, const std::vector<T>& Q, const std::vector<int64_t>& ptr,
                       const std::vector<T>& R, const std::vector<T>& pc, const std::vector<T>& qc,
                       const std::vector<T>& g, std::vector<T>& gP, std::vector<T>& gQ) {
    DeviceArray<T> dP(P), dQ(Q), dR(R), dpc(pc), dqc(qc), dg(g), dgP(P.size()), dgQ(Q.size());
    DeviceArray<int64_t> dptr(ptr);
    ck::aligned_sse_backward_cuda<T>(dP.ptr, dQ.ptr, nullptr, dptr.ptr, (int64_t)ptr.size() - 1, (int64_t)P.size() / 3,
                                     dR.ptr, dpc.ptr, dqc.ptr, dg.ptr, dgP.ptr, dgQ.ptr, nullptr);
    gP = dgP.host(); gQ = dgQ.host();
  }
  template <typename T>
  static void symmetric(const std::vector<T>& P, const std::vector<T>& Q, const std::vector<int64_t>& ptr,
                        const std::vector<int64_t>& perms, const std::vector<int64_t>& offset,
                        const std::vector<int64_t>& count, std::vector<T>& sse, std::vector<int64_t>& best) {
    const int64_t B = (int64_t)ptr.size() - 1;
    DeviceArray<T> dP(P), dQ(Q), dsse(B);
    DeviceArray<int64_t> dptr(ptr), dperms(perms), doff(offset), dcount(count), dbest(B);
    ck::symmetric_sse_cuda<T>(dP.ptr, dQ.ptr, dptr.ptr, B, dperms.ptr, doff.ptr, dcount.ptr, dsse.ptr, dbest.ptr, nullptr);
    sse = dsse.host(); best = dbest.host();
  }
  template <typename T>
  static void matrix(const std::vector<T>& X, const std::vector<T>& Y, int64_t G, int64_t R, int64_t n,
                     const std::vector<int64_t>& perms, int64_t n_perms, std::vector<T>& sse,
                     std::vector<int64_t>& best) {
    DeviceArray<T> dX(X), dY(Y), dsse(G * R);
    DeviceArray<int64_t> dperms(perms), dbest(G * R);
    DeviceArray<double> scratch(ck::rmsd_matrix_scratch_size(G, R, n));
    ck::rmsd_matrix_cuda<T>(dX.ptr, dY.ptr, G, R, n, dperms.ptr, n_perms, scratch.ptr, dsse.ptr, dbest.ptr, nullptr);
    sse = dsse.host(); best = dbest.host();
  }
  static void aggregate(const std::vector<double>& x, const std::vector<double>& w, const std::vector<int64_t>& row_ptr,
                        const std::vector<int64_t>& src, bool normalize, std::vector<double>& out) {
    DeviceArray<double> dx(x), dw(w), dout(x.size());
    DeviceArray<int64_t> dptr(row_ptr), dsrc(src);
    ck::vector_aggregation_forward_cuda<double>(dx.ptr, dw.ptr, dptr.ptr, dsrc.ptr, (int64_t)row_ptr.size() - 1,
                                                normalize, dout.ptr, nullptr);
    out = dout.host();
  }
  static void aggregate_backward(const std::vector<double>& x, const std::vector<double>& w,
                                 const std::vector<int64_t>& row_ptr, const std::vector<int64_t>& src, bool normalize,
                                 const std::vector<double>& g, std::vector<double>& gx, std::vector<double>& gw) {
    DeviceArray<double> dx(x), dw(w), dg(g), dgx(std::vector<double>(x.size(), 0.0)), dgw(w.size());
    DeviceArray<int64_t> dptr(row_ptr), dsrc(src);
    ck::vector_aggregation_backward_cuda<double>(dx.ptr, dw.ptr, dptr.ptr, dsrc.ptr, (int64_t)row_ptr.size() - 1,
                                                 normalize, dg.ptr, dgx.ptr, dgw.ptr, nullptr);
    gx = dgx.host(); gw = dgw.host();
  }
  static void softmax(const std::vector<double>& s, const std::vector<double>& v, const std::vector<int64_t>& row_ptr,
                      int64_t H, int64_t D, std::vector<double>& out, std::vector<double>& lse) {
    const int64_t N = (int64_t)row_ptr.size() - 1;
    DeviceArray<double> ds(s), dv(v), dout(N * H * D), dlse(N * H);
    DeviceArray<int64_t> dptr(row_ptr);
    ck::segment_softmax_forward_cuda<double>(ds.ptr, dv.ptr, dptr.ptr, N, H, D, dout.ptr, dlse.ptr, nullptr);
    out = dout.host(); lse = dlse.host();
  }
  static void geometry(const std::vector<double>& x, const std::vector<int64_t>& row_ptr,
                       const std::vector<int64_t>& src, const std::vector<double>& centers, ck::RbfParams p,
                       std::vector<double>& d, std::vector<double>& u, std::vector<double>& rbf) {
    const int64_t E = (int64_t)src.size();
    DeviceArray<double> dx(x), dc(centers), dd(E), du(3 * E), dr(E * p.K);
    DeviceArray<int64_t> dptr(row_ptr), dsrc(src);
    ck::edge_geometry_forward_cuda<double>(dx.ptr, dptr.ptr, dsrc.ptr, (int64_t)row_ptr.size() - 1, dc.ptr, p, dd.ptr,
                                           du.ptr, dr.ptr, nullptr);
    d = dd.host(); u = du.host(); rbf = dr.host();
  }
  static void geometry_backward(const std::vector<double>& x, const std::vector<int64_t>& row_ptr,
                                const std::vector<int64_t>& src, const std::vector<double>& centers, ck::RbfParams p,
                                const std::vector<double>& gd, const std::vector<double>& gu,
                                const std::vector<double>& gr, std::vector<double>& gx) {
    DeviceArray<double> dx(x), dc(centers), dgd(gd), dgu(gu), dgr(gr), dgx(std::vector<double>(x.size(), 0.0));
    DeviceArray<int64_t> dptr(row_ptr), dsrc(src);
    ck::edge_geometry_backward_cuda<double>(dx.ptr, dptr.ptr, dsrc.ptr, (int64_t)row_ptr.size() - 1, dc.ptr, p, dgd.ptr,
                                            dgu.ptr, dgr.ptr, dgx.ptr, nullptr);
    gx = dgx.host();
  }
  static void triplet_aggregate(const std::vector<double>& x, const std::vector<int64_t>& row_ptr,
                                const std::vector<int64_t>& j, const std::vector<int64_t>& k,
                                const std::vector<double>& f, const std::vector<double>& g, std::vector<double>& out) {
    DeviceArray<double> dx(x), df(f), dg(g), dout(x.size());
    DeviceArray<int64_t> dptr(row_ptr), dj(j), dk(k);
    ck::triplet_aggregation_forward_cuda<double>(dx.ptr, dptr.ptr, dj.ptr, dk.ptr, (int64_t)row_ptr.size() - 1, df.ptr,
                                                 dg.ptr, dout.ptr, nullptr);
    out = dout.host();
  }
  static void attention(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                        const std::vector<int64_t>& row_ptr, int64_t C, double scale, std::vector<double>& out) {
    const int64_t N = (int64_t)row_ptr.size() - 1;
    DeviceArray<double> dq(q), dk(k), dv(v), dout(N), dlse(N);
    DeviceArray<int64_t> dptr(row_ptr);
    ck::segment_attention_forward_cuda<double>(dq.ptr, dk.ptr, dv.ptr, dptr.ptr, N, 1, 1, C, 1, scale, dout.ptr,
                                               dlse.ptr, nullptr);
    out = dout.host();
  }
  static void gather(const std::vector<double>& table, const std::vector<int64_t>& index, const std::vector<double>& w,
                     const std::vector<double>& gamma, const std::vector<double>& beta, int64_t B, bool relu,
                     const std::vector<double>& g, const std::vector<int64_t>& entry_ptr,
                     const std::vector<int64_t>& entries, std::vector<double>& out, std::vector<double>& gt,
                     std::vector<double>& gw) {
    const int64_t M = (int64_t)index.size() / B, C = (int64_t)gamma.size(), R = (int64_t)table.size() / C;
    DeviceArray<double> dt(table), dw(w), dgam(gamma), dbet(beta), dout(M * C), dmean(M), drstd(M);
    DeviceArray<int64_t> didx(index);
    ck::gather_layer_norm_forward_cuda<double>(dt.ptr, didx.ptr, dw.ptr, dgam.ptr, dbet.ptr, M, B, C, 1e-5, relu,
                                               dout.ptr, dmean.ptr, drstd.ptr, nullptr);
    out = dout.host();
    if (g.empty()) return;
    DeviceArray<double> dg(g), dgp(M * C), dgw(M * B), dgg(std::vector<double>(C, 0.0)), dgb(std::vector<double>(C, 0.0)),
        dgt(R * C);
    DeviceArray<int64_t> dptr(entry_ptr), dent(entries);
    ck::gather_layer_norm_backward_cuda<double>(dt.ptr, didx.ptr, dw.ptr, dgam.ptr, dbet.ptr, dmean.ptr, drstd.ptr,
                                                dg.ptr, M, B, C, relu, dgp.ptr, dgw.ptr, dgg.ptr, dgb.ptr, nullptr);
    ck::gather_table_backward_cuda<double>(dgp.ptr, dw.ptr, dptr.ptr, dent.ptr, R, B, C, dgt.ptr, nullptr);
    gt = dgt.host(); gw = dgw.host();
  }
  static void descent(const std::vector<double>& x0, const std::vector<double>& d, const std::vector<int64_t>& row_ptr,
                      const std::vector<int64_t>& src, const std::vector<int64_t>& dst,
                      const std::vector<int64_t>& col_ptr, const std::vector<int64_t>& col_edges, int64_t steps,
                      double lr, const std::vector<double>& g, std::vector<double>& states, std::vector<double>& gx,
                      std::vector<double>& gd) {
    const int64_t N = (int64_t)x0.size() / 3;
    std::vector<double> start((steps + 1) * N * 3, 0.0);
    std::copy(x0.begin(), x0.end(), start.begin());
    DeviceArray<double> ds(start), dd(d);
    DeviceArray<int64_t> dptr(row_ptr), dsrc(src), ddst(dst), dcp(col_ptr), dce(col_edges);
    ck::distance_descent_forward_cuda<double>(dd.ptr, dptr.ptr, dsrc.ptr, N, steps, lr, ds.ptr, nullptr);
    states = ds.host();
    if (g.empty()) return;
    DeviceArray<double> dgx(g), dgd(std::vector<double>(d.size(), 0.0)), scratch(3 * N);
    ck::distance_descent_backward_cuda<double>(ds.ptr, dd.ptr, dptr.ptr, dsrc.ptr, ddst.ptr, dcp.ptr, dce.ptr, N,
                                               steps, lr, dgx.ptr, dgd.ptr, scratch.ptr, nullptr);
    gx = dgx.host(); gd = dgd.host();
  }
  static void gine(const std::vector<double>& h, const std::vector<double>& attr, const std::vector<int64_t>& row_ptr,
                   const std::vector<int64_t>& dst, const std::vector<int64_t>& src, const std::vector<int64_t>& attr_row,
                   int64_t C, double eps, const std::vector<double>& g, const std::vector<int64_t>& group_ptr,
                   const std::vector<int64_t>& entries, double self_weight, std::vector<double>& out,
                   std::vector<double>& grad) {
    const int64_t N = (int64_t)row_ptr.size() - 1, R = (int64_t)group_ptr.size() - 1;
    DeviceArray<double> dh(h), da(attr), dg(g), dout(N * C), dgrad(R * C);
    DeviceArray<int64_t> dptr(row_ptr), ddst(dst), dsrc(src), drow(attr_row), dgp(group_ptr), dent(entries);
    ck::gine_aggregate_forward_cuda<double>(dh.ptr, da.ptr, dptr.ptr, dsrc.ptr, drow.ptr, N, C, eps, dout.ptr, nullptr);
    ck::gine_aggregate_grouped_grad_cuda<double>(dh.ptr, da.ptr, dg.ptr, ddst.ptr, dsrc.ptr, drow.ptr, dgp.ptr,
                                                 dent.ptr, R, C, self_weight, dgrad.ptr, nullptr);
    out = dout.host(); grad = dgrad.host();
  }
  static std::vector<double> gine_tangent(const std::vector<double>& h, const std::vector<double>& attr,
                                          const std::vector<double>& dh, const std::vector<double>& dattr,
                                          const std::vector<int64_t>& row_ptr, const std::vector<int64_t>& src,
                                          const std::vector<int64_t>& attr_row, int64_t C, double eps) {
    const int64_t N = (int64_t)row_ptr.size() - 1;
    DeviceArray<double> d_h(h), d_a(attr), d_dh(dh), d_da(dattr), dout(N * C);
    DeviceArray<int64_t> dptr(row_ptr), dsrc(src), drow(attr_row);
    ck::gine_aggregate_tangent_cuda<double>(d_h.ptr, d_a.ptr, d_dh.ptr, d_da.ptr, dptr.ptr, dsrc.ptr, drow.ptr, N, C,
                                            eps, dout.ptr, nullptr);
    return dout.host();
  }
};
#endif

// Checks grad = d objective / d v against central differences, one entry of v at a time.
template <typename Objective>
void check_gradient(const std::string& what, std::vector<double> v, const std::vector<double>& grad,
                    Objective objective, double tol) {
  for (size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + 1e-6;
    const double up = objective(v);
    v[i] = keep - 1e-6;
    const double fd = (up - objective(v)) / 2e-6;
    v[i] = keep;
    CHECK(std::fabs(fd - grad[i]) < tol, "%s[%zu] %g vs %g", what.c_str(), i, grad[i], fd);
  }
}

// Rotation about a unit axis by angle, row-major.
void axis_angle(const double axis[3], double angle, double R[9]) {
  const double c = std::cos(angle), s = std::sin(angle), t = 1 - c, x = axis[0], y = axis[1], z = axis[2];
  const double M[9] = {t * x * x + c, t * x * y - s * z, t * x * z + s * y, t * x * y + s * z, t * y * y + c,
                       t * y * z - s * x, t * x * z - s * y, t * y * z + s * x, t * z * z + c};
  std::memcpy(R, M, sizeof(M));
}

template <typename T>
std::vector<T> transform(const std::vector<T>& P, const double R[9], const double t[3]) {
  std::vector<T> Q(P.size());
  for (size_t i = 0; i < P.size() / 3; ++i)
    for (int r = 0; r < 3; ++r)
      Q[3 * i + r] = (T)(R[3 * r] * P[3 * i] + R[3 * r + 1] * P[3 * i + 1] + R[3 * r + 2] * P[3 * i + 2] + t[r]);
  return Q;
}

template <typename Backend, typename T>
void test_rigid_motion_is_recovered(double tol) {
  std::mt19937 rng(1);
  std::normal_distribution<double> normal;
  // Pairs of 0, 1, 2, 3 and 20 atoms, plus a collinear set of 5.
  const std::vector<int64_t> sizes = {0, 1, 2, 3, 20, 5};
  std::vector<int64_t> ptr = {0};
  std::vector<T> P;
  for (size_t b = 0; b < sizes.size(); ++b) {
    for (int64_t i = 0; i < sizes[b]; ++i)
      for (int k = 0; k < 3; ++k) P.push_back((T)(b == 5 ? (i - 2.0) * (k + 1) : 2 * normal(rng)));
    ptr.push_back(ptr.back() + sizes[b]);
  }
  const double axis[3] = {0.48, -0.6, 0.64}, shift[3] = {1.5, -2.0, 0.25};
  double Rtrue[9];
  axis_angle(axis, 2.1, Rtrue);
  const std::vector<T> Q = transform(P, Rtrue, shift);
  std::vector<T> R, pc, qc, sse;
  Backend::kabsch(P, Q, ptr, R, pc, qc, sse);
  for (size_t b = 0; b < sizes.size(); ++b) {
    CHECK(std::isfinite((double)sse[b]) && std::fabs((double)sse[b]) < tol, "%s pair %zu sse %g", Backend::name(), b, (double)sse[b]);
    for (int k = 0; k < 9; ++k) CHECK(std::isfinite((double)R[9 * b + k]), "%s pair %zu R not finite", Backend::name(), b);
    if (sizes[b] >= 3 && b != 5)
      for (int k = 0; k < 9; ++k)
        CHECK(std::fabs((double)R[9 * b + k] - Rtrue[k]) < 1e3 * tol, "%s pair %zu R[%d] %g vs %g", Backend::name(), b, k,
              (double)R[9 * b + k], Rtrue[k]);
  }
}

template <typename Backend>
void test_backward_matches_finite_differences() {
  std::mt19937 rng(2);
  std::normal_distribution<double> normal;
  std::vector<double> P(18), Q(18);
  for (auto& x : P) x = normal(rng);
  for (auto& x : Q) x = normal(rng);
  const std::vector<int64_t> ptr = {0, 6};
  std::vector<double> R, pc, qc, sse, gP, gQ;
  Backend::kabsch(P, Q, ptr, R, pc, qc, sse);
  Backend::backward(P, Q, ptr, R, pc, qc, std::vector<double>{1.0}, gP, gQ);
  const double h = 1e-6;
  for (size_t i = 0; i < P.size(); ++i) {
    auto plus = P, minus = P;
    plus[i] += h; minus[i] -= h;
    std::vector<double> sp, sm;
    Backend::kabsch(plus, Q, ptr, R, pc, qc, sp);
    Backend::kabsch(minus, Q, ptr, R, pc, qc, sm);
    const double fd = (sp[0] - sm[0]) / (2 * h);
    CHECK(std::fabs(fd - gP[i]) < 1e-5, "%s dP[%zu] analytic %g vs fd %g", Backend::name(), i, gP[i], fd);
  }
}

// A 6-cycle graph (12 automorphisms) on an irregular geometry: a moved copy relabelled by one of
// the automorphisms has symmetric sse 0, found at that automorphism, and identity-only sse > 0.
template <typename Backend, typename T>
void test_symmetric_and_matrix(double tol) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  std::vector<T> hexagon;
  for (int i = 0; i < 18; ++i) hexagon.push_back((T)(1.5 * normal(rng)));
  std::vector<int64_t> atoms(6, 0), bonds, labels(6, 1);
  for (int i = 0; i < 6; ++i) { bonds.push_back(i); bonds.push_back((i + 1) % 6); }
  ck::LabelledGraph graph{6, atoms.data(), 6, bonds.data(), labels.data()};
  const auto autos = ck::enumerate_automorphisms(graph, 1000, 1000000);
  CHECK(autos.count == 12, "hexagon automorphisms %lld", (long long)autos.count);
  CHECK(ck::enumerate_automorphisms(graph, 5, 1000000).hit_max_count, "cap not reported");
  // Q: hexagon relabelled by shifting two positions (a symmetry of the puckered ring), then moved.
  std::vector<T> shifted(18);
  for (int i = 0; i < 6; ++i)
    for (int k = 0; k < 3; ++k) shifted[3 * i + k] = hexagon[3 * ((i + 2) % 6) + k];
  const double axis[3] = {0, 0.6, 0.8}, shift[3] = {3, 1, -1};
  double R[9];
  axis_angle(axis, 0.7, R);
  const std::vector<T> Q = transform(shifted, R, shift);
  std::vector<T> sse;
  std::vector<int64_t> best;
  Backend::symmetric(hexagon, Q, std::vector<int64_t>{0, 6}, autos.perms, std::vector<int64_t>{0},
                     std::vector<int64_t>{autos.count}, sse, best);
  CHECK(std::fabs((double)sse[0]) < tol, "%s symmetric sse %g", Backend::name(), (double)sse[0]);
  for (int i = 0; i < 6; ++i) CHECK(autos.perms[6 * best[0] + i] == (i + 2) % 6, "%s best permutation", Backend::name());
  std::vector<T> msse;
  Backend::matrix(hexagon, Q, 1, 1, 6, autos.perms, autos.count, msse, best);
  CHECK(std::fabs((double)msse[0]) < tol, "%s matrix sse %g", Backend::name(), (double)msse[0]);
  Backend::matrix(hexagon, Q, 1, 1, 6, autos.perms, 0, msse, best);  // identity only: not 0
  CHECK((double)msse[0] > 0.1, "%s identity-only sse %g", Backend::name(), (double)msse[0]);
  // The branch and bound beyond a cap (host-only) finds the same automorphism from the identity.
  const std::vector<double> X(hexagon.begin(), hexagon.end()), Y(Q.begin(), Q.end());
  const std::vector<int64_t> identity = {0, 1, 2, 3, 4, 5};
  const auto found = ck::best_automorphism(graph, X.data(), Y.data(), identity.data(), 1000000);
  CHECK(found.exact && found.sse < tol, "best_automorphism sse %g exact %d", found.sse, (int)found.exact);
  for (int i = 0; i < 6; ++i) CHECK(found.perm[i] == (i + 2) % 6, "best_automorphism permutation");
  CHECK(!ck::best_automorphism(graph, X.data(), Y.data(), identity.data(), 3).exact, "step budget not reported");
}

// RDKit's pickle (format 16.4) of [13CH3]C(=O)[O-].[NH4+]: the graph read back, the labels of the
// symmetrized carboxylate, and every truncation refused with a reason (never read past the end).
void test_mol_pickle() {
  const std::vector<uint8_t> pickle = {
      0xef, 0xbe, 0xad, 0xde, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x80, 0x01, 0x06, 0x20, 0x30, 0x01, 0x00, 0x00,
      0x03, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x06, 0x00, 0x28, 0x00, 0x00, 0x00, 0x03, 0x04, 0x08, 0x00, 0x28, 0x00,
      0x00, 0x00, 0x03, 0x02, 0x08, 0x20, 0x2a, 0x00, 0x00, 0x00, 0xff, 0x03, 0x01, 0x07, 0x20, 0x32, 0x00, 0x00,
      0x00, 0x01, 0x04, 0x04, 0x0b, 0x00, 0x01, 0x00, 0x01, 0x02, 0x28, 0x02, 0x01, 0x03, 0x20, 0x42, 0x00, 0x00,
      0x00, 0x00, 0x17, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x16};
  ck::MolGraphFields f;
  const std::string why = ck::read_mol_pickle(pickle.data(), pickle.size(), f);
  CHECK(why.empty(), "pickle not read: %s", why.c_str());
  CHECK((f.atomic_num == std::vector<int64_t>{6, 6, 8, 8, 7}), "atomic numbers");
  CHECK((f.formal_charge == std::vector<int64_t>{0, 0, 0, -1, 1}), "formal charges");
  CHECK((f.isotope == std::vector<int64_t>{13, 0, 0, 0, 0}), "isotopes");
  CHECK((f.ring_count == std::vector<int64_t>(5, 0)), "ring counts");
  CHECK((f.bonds == std::vector<int64_t>{0, 1, 1, 2, 1, 3}) && (f.bond_type == std::vector<int64_t>{1, 2, 1}), "bonds");
  const std::vector<int64_t> order_label = {0, 2, 4, 6};
  const auto g = ck::label_mol_graph(f, order_label, {2, 3}, {1, 1});
  CHECK((g.atom_labels == std::vector<int64_t>{0, 1, 2, 2, 3}), "atom labels");
  CHECK((g.bond_labels == std::vector<int64_t>{2, ck::kEitherBondLabel, ck::kEitherBondLabel}), "bond labels");
  for (size_t size = 0; size < 92; ++size)  // every cut before the end of the ring info
    CHECK(!ck::read_mol_pickle(pickle.data(), size, f).empty(), "pickle cut at %zu bytes was read", size);
}

// A 3-atom triangle, edges destination-major: 0 <- {1, 2}, 1 <- {0}, 2 <- {} .
template <typename Backend>
void test_vector_aggregation() {
  const std::vector<double> x = {0, 0, 0, 1, 0, 0, 0, 2, 0}, w = {2.0, 0.5, -1.0};
  const std::vector<int64_t> row_ptr = {0, 2, 3, 3}, src = {1, 2, 0};
  std::vector<double> out;
  Backend::aggregate(x, w, row_ptr, src, false, out);
  const double expected[9] = {-2, -1, 0, -1, 0, 0, 0, 0, 0};  // 2 (x0-x1) + 0.5 (x0-x2); -1 (x1-x0)
  for (int k = 0; k < 9; ++k) CHECK(std::fabs(out[k] - expected[k]) < 1e-12, "%s aggregate[%d] %g", Backend::name(), k, out[k]);
  for (bool normalize : {false, true}) {  // backward against central differences of sum(g . out)
    const std::vector<double> g = {0.3, -0.2, 0.5, 1.0, 0.1, -0.4, 0.2, 0.7, 0.9};
    std::vector<double> gx, gw, plus, minus;
    Backend::aggregate_backward(x, w, row_ptr, src, normalize, g, gx, gw);
    auto objective = [&](const std::vector<double>& xx, const std::vector<double>& ww) {
      std::vector<double> o;
      Backend::aggregate(xx, ww, row_ptr, src, normalize, o);
      double sum = 0;
      for (size_t k = 0; k < o.size(); ++k) sum += g[k] * o[k];
      return sum;
    };
    const std::string name = Backend::name();
    check_gradient(name + " aggregate dx", x, gx, [&](const std::vector<double>& v) { return objective(v, w); }, 1e-6);
    check_gradient(name + " aggregate dw", w, gw, [&](const std::vector<double>& v) { return objective(x, v); }, 1e-6);
  }
}

template <typename Backend>
void test_segment_softmax() {
  // atom 0 <- edges 0, 1 with scores ln 1 and ln 3: weights 1/4 and 3/4; atom 1 has no edge.
  const std::vector<double> s = {0.0, std::log(3.0)}, v = {4.0, 8.0};
  std::vector<double> out, lse;
  Backend::softmax(s, v, std::vector<int64_t>{0, 2, 2}, 1, 1, out, lse);
  CHECK(std::fabs(out[0] - 7.0) < 1e-12 && out[1] == 0.0, "%s softmax out %g %g", Backend::name(), out[0], out[1]);
  CHECK(std::fabs(lse[0] - std::log(4.0)) < 1e-12 && std::isinf(lse[1]), "%s softmax lse %g", Backend::name(), lse[0]);
}

template <typename Backend>
void test_edge_geometry() {
  const std::vector<double> x = {0, 0, 0, 3, 4, 0, 1, 1, 1}, centers = {0.0, 2.5, 5.0};
  const std::vector<int64_t> row_ptr = {0, 2, 3, 3}, src = {1, 2, 0};
  const ck::RbfParams p{3, 0.5, 8.0, false};
  std::vector<double> d, u, rbf;
  Backend::geometry(x, row_ptr, src, centers, p, d, u, rbf);
  CHECK(std::fabs(d[0] - 5.0) < 1e-12 && std::fabs(u[0] + 0.6) < 1e-12 && std::fabs(u[1] + 0.8) < 1e-12,
        "%s edge geometry d %g u %g %g", Backend::name(), d[0], u[0], u[1]);
  const double cut = 0.5 * (std::cos(M_PI * 5.0 / 8.0) + 1);
  CHECK(std::fabs(rbf[2] - cut) < 1e-12, "%s rbf at its centre %g vs %g", Backend::name(), rbf[2], cut);
  const std::vector<double> gd = {0.3, -0.7, 0.2}, gu = {0.1, 0.2, -0.3, 0.5, 0.4, 0.1, -0.2, 0.3, 0.6},
                            gr = {0.5, -0.1, 0.2, 0.3, 0.9, -0.4, 0.7, 0.1, 0.2};
  std::vector<double> gx;
  Backend::geometry_backward(x, row_ptr, src, centers, p, gd, gu, gr, gx);
  auto objective = [&](const std::vector<double>& xx) {
    std::vector<double> dd, uu, rr;
    Backend::geometry(xx, row_ptr, src, centers, p, dd, uu, rr);
    double sum = 0;
    for (size_t e = 0; e < dd.size(); ++e) sum += gd[e] * dd[e];
    for (size_t c = 0; c < uu.size(); ++c) sum += gu[c] * uu[c];
    for (size_t c = 0; c < rr.size(); ++c) sum += gr[c] * rr[c];
    return sum;
  };
  check_gradient(std::string(Backend::name()) + " edge geometry dx", x, gx, objective, 1e-6);
}

template <typename Backend>
void test_triplet_aggregation() {
  // atom 0 with triplets (0, 1, 1) and (0, 1, 2)
  const std::vector<double> x = {0, 0, 0, 1, 0, 0, 0, 2, 0}, f = {2.0, 1.0}, g = {0.5, -1.0};
  std::vector<double> out;
  Backend::triplet_aggregate(x, std::vector<int64_t>{0, 2, 2, 2}, std::vector<int64_t>{1, 1},
                             std::vector<int64_t>{1, 2}, f, g, out);
  // (2 + 0.5)(x0 - x1) + 1 (x0 - x1) - 1 (x0 - x2) = (-3.5, 2, 0)
  CHECK(std::fabs(out[0] + 3.5) < 1e-12 && std::fabs(out[1] - 2.0) < 1e-12 && out[3] == 0.0,
        "%s triplet aggregation %g %g", Backend::name(), out[0], out[1]);
}

template <typename Backend>
void test_segment_attention() {
  // atom 0 <- edges with keys (0, 0) and (ln 3, 0), query (1, 0): weights 1/4, 3/4 of values 4 and 8
  std::vector<double> out;
  Backend::attention({1.0, 0.0, 0.0, 0.0}, {0.0, 0.0, std::log(3.0), 0.0}, {4.0, 8.0}, {0, 2, 2}, 2, 1.0, out);
  CHECK(std::fabs(out[0] - 7.0) < 1e-12 && out[1] == 0.0, "%s attention out %g %g", Backend::name(), out[0], out[1]);
}

// Items grouped by key: (ptr, entries) with entries[ptr[r] .. ptr[r + 1]) the items whose key is r.
std::vector<int64_t> group_by(const std::vector<int64_t>& key, int64_t rows, std::vector<int64_t>& entries) {
  std::vector<int64_t> ptr(rows + 1, 0);
  entries.clear();
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t e = 0; e < key.size(); ++e) if (key[e] == r) entries.push_back((int64_t)e);
    ptr[r + 1] = (int64_t)entries.size();
  }
  return ptr;
}

template <typename Backend>
void test_gather_layer_norm() {
  const int64_t R = 4, C = 5, B = 3, M = 3;
  std::mt19937 rng(3);
  std::normal_distribution<double> normal;
  std::vector<double> table(R * C), w(M * B), gamma(C), beta(C), g(M * C);
  for (auto* v : {&table, &w, &g}) for (auto& a : *v) a = normal(rng);
  for (int64_t c = 0; c < C; ++c) { gamma[c] = 1.0 + 0.1 * c; beta[c] = 0.05 * c - 0.1; }
  const std::vector<int64_t> index = {0, 1, 3, 2, 2, 3, 1, 0, 3};  // row 3 read by every m, like a bias
  std::vector<int64_t> entries;
  const auto entry_ptr = group_by(index, R, entries);  // entries grouped by the row they read
  for (bool relu : {true, false}) {
    std::vector<double> out, gt, gw;
    Backend::gather(table, index, w, gamma, beta, B, relu, g, entry_ptr, entries, out, gt, gw);
    for (int64_t m = 0; m < M; ++m) {  // the forward against a direct computation
      double pre[C], mu = 0, var = 0;
      for (int64_t c = 0; c < C; ++c) {
        pre[c] = 0;
        for (int64_t b = 0; b < B; ++b) pre[c] += w[m * B + b] * table[index[m * B + b] * C + c];
        mu += pre[c] / C;
      }
      for (int64_t c = 0; c < C; ++c) var += (pre[c] - mu) * (pre[c] - mu) / C;
      for (int64_t c = 0; c < C; ++c) {
        double y = (pre[c] - mu) / std::sqrt(var + 1e-5) * gamma[c] + beta[c];
        if (relu && y < 0) y = 0;
        CHECK(std::fabs(out[m * C + c] - y) < 1e-12, "%s gather_layer_norm out %g vs %g", Backend::name(), out[m * C + c], y);
      }
    }
    if (relu) continue;  // finite differences away from ReLU's kink
    auto objective = [&](const std::vector<double>& t, const std::vector<double>& ww) {
      std::vector<double> o, unused1, unused2;
      Backend::gather(t, index, ww, gamma, beta, B, false, {}, entry_ptr, entries, o, unused1, unused2);
      double sum = 0;
      for (size_t k = 0; k < o.size(); ++k) sum += g[k] * o[k];
      return sum;
    };
    const std::string name = Backend::name();
    check_gradient(name + " gather_layer_norm dtable", table, gt,
                   [&](const std::vector<double>& v) { return objective(v, w); }, 1e-6);
    check_gradient(name + " gather_layer_norm dweight", w, gw,
                   [&](const std::vector<double>& v) { return objective(table, v); }, 1e-6);
  }
}

template <typename Backend>
void test_gine_aggregate() {
  const int64_t N = 4, C = 6, R = 3;
  const double eps = 0.5;
  // CSR by destination; atom 2 has no edges, atom 3 a self-loop; edges 0 and 3 share attr row 0
  const std::vector<int64_t> row_ptr = {0, 2, 4, 4, 6}, dst = {0, 0, 1, 1, 3, 3}, src = {1, 3, 0, 3, 3, 0},
                             attr_row = {0, 1, 2, 0, 1, 2};
  std::mt19937 rng(5);
  std::normal_distribution<double> normal;
  std::vector<double> h(N * C), attr(R * C), g(N * C);
  for (auto* v : {&h, &attr, &g}) for (auto& a : *v) a = normal(rng);
  std::vector<double> expected(N * C), grad_h(N * C, 0.0), grad_attr(R * C, 0.0);
  for (int64_t i = 0; i < N * C; ++i) { expected[i] = (1 + eps) * h[i]; grad_h[i] = (1 + eps) * g[i]; }
  for (size_t e = 0; e < src.size(); ++e)  // the definition, edge by edge, scattering
    for (int64_t c = 0; c < C; ++c) {
      const double m = h[src[e] * C + c] + attr[attr_row[e] * C + c];
      expected[dst[e] * C + c] += m > 0 ? m : 0;
      grad_h[src[e] * C + c] += m > 0 ? g[dst[e] * C + c] : 0;
      grad_attr[attr_row[e] * C + c] += m > 0 ? g[dst[e] * C + c] : 0;
    }
  std::vector<int64_t> by_source, by_row;
  const auto source_ptr = group_by(src, N, by_source), row_ptr_attr = group_by(attr_row, R, by_row);
  std::vector<double> out, gh, ga;
  Backend::gine(h, attr, row_ptr, dst, src, attr_row, C, eps, g, source_ptr, by_source, 1 + eps, out, gh);
  Backend::gine(h, attr, row_ptr, dst, src, attr_row, C, eps, g, row_ptr_attr, by_row, 0.0, out, ga);
  for (int64_t i = 0; i < N * C; ++i) {
    CHECK(std::fabs(out[i] - expected[i]) < 1e-12, "%s gine out[%lld] %g vs %g", Backend::name(), (long long)i, out[i], expected[i]);
    CHECK(std::fabs(gh[i] - grad_h[i]) < 1e-12, "%s gine grad_h[%lld] %g vs %g", Backend::name(), (long long)i, gh[i], grad_h[i]);
  }
  for (int64_t i = 0; i < R * C; ++i)
    CHECK(std::fabs(ga[i] - grad_attr[i]) < 1e-12, "%s gine grad_attr[%lld] %g vs %g", Backend::name(), (long long)i, ga[i], grad_attr[i]);
  // the tangent (second order of a CNF trace) against central differences of the forward along (dh, dattr)
  std::vector<double> dh(N * C), dattr(R * C);
  for (auto* v : {&dh, &dattr}) for (auto& a : *v) a = normal(rng);
  const auto tangent = Backend::gine_tangent(h, attr, dh, dattr, row_ptr, src, attr_row, C, eps);
  const double step = 1e-6;
  std::vector<double> hp(h), hm(h), ap(attr), am(attr), outp, outm, unused;
  for (int64_t i = 0; i < N * C; ++i) { hp[i] += step * dh[i]; hm[i] -= step * dh[i]; }
  for (int64_t i = 0; i < R * C; ++i) { ap[i] += step * dattr[i]; am[i] -= step * dattr[i]; }
  Backend::gine(hp, ap, row_ptr, dst, src, attr_row, C, eps, g, source_ptr, by_source, 1 + eps, outp, unused);
  Backend::gine(hm, am, row_ptr, dst, src, attr_row, C, eps, g, source_ptr, by_source, 1 + eps, outm, unused);
  for (int64_t i = 0; i < N * C; ++i) {
    const double numeric = (outp[i] - outm[i]) / (2 * step);
    CHECK(std::fabs(tangent[i] - numeric) < 1e-6, "%s gine tangent[%lld] %g vs %g", Backend::name(), (long long)i, tangent[i], numeric);
  }
}

template <typename Backend>
void test_distance_descent() {
  // a 4-atom chain with its 1-3 pairs, both directions, in CSR order by destination
  const std::vector<int64_t> row_ptr = {0, 2, 5, 8, 10}, dst = {0, 0, 1, 1, 1, 2, 2, 2, 3, 3},
                             src = {1, 2, 0, 2, 3, 0, 1, 3, 1, 2};
  std::vector<int64_t> col_edges;
  const auto col_ptr = group_by(src, 4, col_edges);
  const std::vector<double> x0 = {0.0, 0.1, 0.0, 1.4, 0.0, 0.2, 2.1, 1.2, -0.1, 3.3, 1.5, 0.4},
                            d = {1.5, 2.5, 1.5, 1.5, 2.6, 2.5, 1.5, 1.4, 2.6, 1.4},
                            g = {0.3, -0.2, 0.5, 0.1, 0.4, -0.6, -0.3, 0.2, 0.1, 0.7, -0.1, 0.2};
  const int64_t steps = 4, N = 4;
  const double lr = 0.05;
  std::vector<double> states, gx, gd;
  Backend::descent(x0, d, row_ptr, src, dst, col_ptr, col_edges, steps, lr, g, states, gx, gd);
  std::vector<double> x = x0;  // the forward against a direct computation
  for (int64_t t = 0; t < steps; ++t) {
    std::vector<double> next = x;
    for (size_t e = 0; e < src.size(); ++e) {
      double r[3], s = 0;
      for (int k = 0; k < 3; ++k) { r[k] = x[3 * dst[e] + k] - x[3 * src[e] + k]; s += r[k] * r[k]; }
      s = std::sqrt(s);
      for (int k = 0; k < 3; ++k) next[3 * dst[e] + k] -= lr * 2 * (s - d[e]) * r[k] / s;
    }
    x = next;
  }
  for (int64_t i = 0; i < 3 * N; ++i)
    CHECK(std::fabs(states[steps * N * 3 + i] - x[i]) < 1e-12, "%s distance_descent x[%lld] %g vs %g", Backend::name(),
          (long long)i, states[steps * N * 3 + i], x[i]);
  auto objective = [&](const std::vector<double>& start, const std::vector<double>& dd) {
    std::vector<double> st, unused1, unused2;
    Backend::descent(start, dd, row_ptr, src, dst, col_ptr, col_edges, steps, lr, {}, st, unused1, unused2);
    double sum = 0;
    for (int64_t i = 0; i < 3 * N; ++i) sum += g[i] * st[steps * N * 3 + i];
    return sum;
  };
  const std::string name = Backend::name();  // the hypergradients against finite differences
  check_gradient(name + " distance_descent dx0", x0, gx, [&](const std::vector<double>& v) { return objective(v, d); },
                 1e-7);
  check_gradient(name + " distance_descent dd", d, gd, [&](const std::vector<double>& v) { return objective(x0, v); },
                 1e-7);
}

template <typename Backend>
int run_all() {
  test_rigid_motion_is_recovered<Backend, double>(1e-9);
  test_rigid_motion_is_recovered<Backend, float>(1e-3);
  test_backward_matches_finite_differences<Backend>();
  test_symmetric_and_matrix<Backend, double>(1e-9);
  test_symmetric_and_matrix<Backend, float>(1e-3);
  test_vector_aggregation<Backend>();
  test_segment_softmax<Backend>();
  test_edge_geometry<Backend>();
  test_triplet_aggregation<Backend>();
  test_segment_attention<Backend>();
  test_gather_layer_norm<Backend>();
  test_gine_aggregate<Backend>();
  test_distance_descent<Backend>();
  test_mol_pickle();  // host-only
  std::printf("%s backend: %s\n", Backend::name(), g_failures ? "FAILED" : "all checks passed");
  return g_failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string backend = argc > 1 ? argv[1] : "cpu";
  if (backend == "cpu") return run_all<CpuBackend>();
#ifdef CK_TEST_CUDA
  int devices = 0;
  if (backend == "cuda") {
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      std::printf("no CUDA device: skipped\n");
      return 77;
    }
    return run_all<CudaBackend>();
  }
#endif
  std::printf("unknown or unavailable backend %s\n", backend.c_str());
  return 77;
}
