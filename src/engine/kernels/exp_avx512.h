// e^x on 16 floats with AVX-512F, shared by the AVX-512 attention kernels. Include only from files
// compiled with AVX-512 flags (the *_avx512.cpp sources): the inline function must see the same
// instruction set in every translation unit that uses it.
#pragma once

#include <immintrin.h>

namespace chimera::engine::detail::avx512_math {

// e^x for x <= 0 (scores minus their max), ~1 ulp of f32: 2^(x·log2 e) split into integer and
// fraction, the fraction's 2^f by a degree-6 polynomial, the integer applied with scalef.
inline __m512 exp_ps(__m512 x) {
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f));  // below this e^x is 0 in f32 anyway
  __m512 t = _mm512_mul_ps(x, log2e);
  __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_sub_ps(t, n);  // in [-0.5, 0.5]
  // 2^f = e^(f ln2): Taylor coefficients of e^y with y = f·ln2, folded into powers of f.
  __m512 p = _mm512_set1_ps(1.5403530393381606e-4f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3333558146428443e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6181291076284772e-3f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5504108664821580e-2f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022650695910071e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.9314718055994531e-1f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

}  // namespace chimera::engine::detail::avx512_math
