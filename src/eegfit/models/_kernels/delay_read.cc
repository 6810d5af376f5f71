// eegfit's fused read of a delayed network's history for a block of K steps (issue 23), an XLA
// FFI handler for the CPU, float32 and float64. Built on first use by eegfit.models.delay_kernel.
//
// history: (n, length + pad), node-major: column t of row j holds source j's coupling variable
//   at ring step t; columns length .. length + pad - 1 mirror columns 0 .. pad - 1 (the rollout
//   writes both), so a window of up to pad values starting in [0, length) never wraps.
// now: int32 scalar, the ring step of the block's first step.
// rows: (n, n) int32, connection (i, j) reads columns rows_ij + now (less length where that
//   reaches it) + m for the block's steps m = 0 .. K - 1 (eegfit.models.delays.DelayPlan.rows).
// now_weights, next_weights: (n, n); next_weights of shape (0,) with `round` (no next part).
// Results: now part and next part, (K, n) each (the next part (0, n) with `round`):
//   part[m, i] = sum_j weights_ij history[j, window_ij + m], summed over j in ascending order
//   (a fixed order: the result does not depend on the machine's thread count or timing).
#include <cstdint>
#include <cstring>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int kLanes = 8;  // one vector: 8 values (64 bytes of float64, 32 of float32)

template <typename T>
struct Lanes {
  typedef T Vec __attribute__((vector_size(kLanes * sizeof(T))));
};

// Targets i0 .. i0 + I - 1 (I independent sums, so that the multiply-adds overlap), C vectors of
// kLanes steps each.
template <typename T, int C, bool kNext, int I>
inline void Targets(const T* __restrict history, int64_t stride, int64_t length, int32_t now,
                    const int32_t* __restrict rows, const T* __restrict a,
                    const T* __restrict b, int64_t n, int64_t k, int64_t i0,
                    T* __restrict out_now, T* __restrict out_next) {
  typedef typename Lanes<T>::Vec Vec;
  Vec now_sum[I][C] = {}, next_sum[I][C] = {};
  for (int64_t j = 0; j < n; ++j) {
    const T* source = history + j * stride;
    for (int u = 0; u < I; ++u) {
      const int64_t e = (i0 + u) * n + j;
      int64_t r = rows[e] + now;
      r = r >= length ? r - length : r;
      const T w = a[e];
      for (int c = 0; c < C; ++c) {
        Vec x;
        std::memcpy(&x, source + r + c * kLanes, sizeof(x));
        now_sum[u][c] += w * x;
        if (kNext) next_sum[u][c] += b[e] * x;
      }
    }
  }
  for (int u = 0; u < I; ++u) {
    for (int64_t m = 0; m < k; ++m) {
      out_now[m * n + i0 + u] = now_sum[u][m / kLanes][m % kLanes];
      if (kNext) out_next[m * n + i0 + u] = next_sum[u][m / kLanes][m % kLanes];
    }
  }
}

template <typename T, int C, bool kNext>
void Read(const T* history, int64_t stride, int64_t length, int32_t now, const int32_t* rows,
          const T* a, const T* b, int64_t n, int64_t k, T* out_now, T* out_next) {
  int64_t i = 0;
  for (; i + 2 <= n; i += 2)
    Targets<T, C, kNext, 2>(history, stride, length, now, rows, a, b, n, k, i, out_now, out_next);
  for (; i < n; ++i)
    Targets<T, C, kNext, 1>(history, stride, length, now, rows, a, b, n, k, i, out_now, out_next);
}

template <typename T>
ffi::Error Dispatch(ffi::AnyBuffer history, int32_t now, ffi::Buffer<ffi::S32> rows,
                    ffi::AnyBuffer now_weights, ffi::AnyBuffer next_weights,
                    ffi::Result<ffi::AnyBuffer> out_now, ffi::Result<ffi::AnyBuffer> out_next,
                    int64_t length) {
  auto dims = history.dimensions();
  const int64_t n = dims[0], stride = dims[1];
  const int64_t k = out_now->dimensions()[0];
  const int chunks = static_cast<int>((k + kLanes - 1) / kLanes);
  if (rows.element_count() != static_cast<size_t>(n * n) ||
      now_weights.element_count() != static_cast<size_t>(n * n) || k < 1 || chunks > 2 ||
      stride < length + chunks * kLanes || now < 0 || now >= length)
    return ffi::Error::InvalidArgument("eegfit_delay_read: inconsistent shapes or step");
  const bool next = next_weights.element_count() > 0;
  if (now_weights.element_type() != history.element_type() ||
      (next && (next_weights.element_type() != history.element_type() ||
                next_weights.element_count() != static_cast<size_t>(n * n) ||
                out_next->dimensions()[0] != k)))
    return ffi::Error::InvalidArgument("eegfit_delay_read: weights of another dtype or shape");
  const T* h = history.typed_data<T>();
  const T* a = now_weights.typed_data<T>();
  const T* b = next ? next_weights.typed_data<T>() : nullptr;
  T* on = out_now->typed_data<T>();
  T* ox = next ? out_next->typed_data<T>() : nullptr;
  const int32_t* r = rows.typed_data();
  if (chunks == 1 && next) Read<T, 1, true>(h, stride, length, now, r, a, b, n, k, on, ox);
  if (chunks == 1 && !next) Read<T, 1, false>(h, stride, length, now, r, a, b, n, k, on, ox);
  if (chunks == 2 && next) Read<T, 2, true>(h, stride, length, now, r, a, b, n, k, on, ox);
  if (chunks == 2 && !next) Read<T, 2, false>(h, stride, length, now, r, a, b, n, k, on, ox);
  return ffi::Error::Success();
}

ffi::Error DelayRead(ffi::AnyBuffer history, ffi::Buffer<ffi::S32> now,
                     ffi::Buffer<ffi::S32> rows, ffi::AnyBuffer now_weights,
                     ffi::AnyBuffer next_weights, ffi::Result<ffi::AnyBuffer> out_now,
                     ffi::Result<ffi::AnyBuffer> out_next, int64_t length) {
  const int32_t step = *now.typed_data();
  switch (history.element_type()) {
    case ffi::DataType::F32:
      return Dispatch<float>(history, step, rows, now_weights, next_weights, out_now, out_next,
                             length);
    case ffi::DataType::F64:
      return Dispatch<double>(history, step, rows, now_weights, next_weights, out_now,
                              out_next, length);
    default:
      return ffi::Error::InvalidArgument("eegfit_delay_read: float32 or float64 only");
  }
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(EegfitDelayRead, DelayRead,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::AnyBuffer>()          // history (n, length + pad)
                                  .Arg<ffi::Buffer<ffi::S32>>()   // now, scalar
                                  .Arg<ffi::Buffer<ffi::S32>>()   // rows (n, n)
                                  .Arg<ffi::AnyBuffer>()          // now_weights (n, n)
                                  .Arg<ffi::AnyBuffer>()          // next_weights (n, n) or (0,)
                                  .Ret<ffi::AnyBuffer>()          // now part (K, n)
                                  .Ret<ffi::AnyBuffer>()          // next part (K, n) or (0, n)
                                  .Attr<int64_t>("length"));
