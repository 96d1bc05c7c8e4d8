// Sixteen Philox4x32-10 blocks at once in AVX-512 registers: the random
// numbers behind the CPU's random_uniform, dropout_mask and dropout_forward.
//
// The same numbers as cpu::plain::philox_16 (engine/cpu_backend.h), which
// calls philox::philox4x32_10 (engine/rng.h) once per block; the test
// "philox_16: AVX-512 ..." in tests/test_cpu_kernels.cpp checks them bit for bit.
//
// Eight blocks share a 512-bit register, one 32-bit counter word in each
// 64-bit lane: vpmuludq multiplies the low halves of the eight lanes into
// full 64-bit products, which is the round's 32x32->64 multiply, eight at a
// time. The high halves of the lanes hold junk that vpmuludq ignores; they
// are masked off at the end. (What this gains: docs/cpu-kernels.md.)
#pragma once

#include <cstdint>

#ifdef __AVX512F__
#include <immintrin.h>

#include "engine/rng.h"

namespace hc::cpu::tuned {

// words[4l + j] = word j of Philox block base + l, l = 0..15, for the counter
// (base + l, stream, slice) and the key (key0, key1). `words` is 64-byte aligned.
inline void philox_16(uint64_t base, uint32_t stream, uint32_t slice, uint32_t key0, uint32_t key1,
                      uint32_t* words) {
  const __m512i mul0 = _mm512_set1_epi64(philox::kMul0), mul1 = _mm512_set1_epi64(philox::kMul1);
  const __m512i low = _mm512_set1_epi64(0xffffffffu);
  // Lane order after interleaving words (0,1) and (2,3) of blocks 0-3 / 4-7.
  const __m512i blocks_0_3 = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
  const __m512i blocks_4_7 = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  for (int half = 0; half < 2; ++half) {
    const __m512i counter = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(base + 8 * half)),
                                             _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0));
    __m512i c0 = counter, c1 = _mm512_srli_epi64(counter, 32);
    __m512i c2 = _mm512_set1_epi64(stream), c3 = _mm512_set1_epi64(slice);
    uint32_t k0 = key0, k1 = key1;
    for (int round = 0; round < 10; ++round) {
      if (round > 0) {
        k0 += philox::kBump0;
        k1 += philox::kBump1;
      }
      const __m512i p0 = _mm512_mul_epu32(c0, mul0), p1 = _mm512_mul_epu32(c2, mul1);
      // 0x96: the three-way xor.
      c0 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), c1, _mm512_set1_epi64(k0), 0x96);
      c2 = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), c3, _mm512_set1_epi64(k1), 0x96);
      c1 = p1;
      c3 = p0;
    }
    // Words (0,1) of each block into one 64-bit lane, (2,3) into another,
    // then the lanes interleaved so that memory order is element order.
    const __m512i w01 = _mm512_or_si512(_mm512_and_si512(c0, low), _mm512_slli_epi64(c1, 32));
    const __m512i w23 = _mm512_or_si512(_mm512_and_si512(c2, low), _mm512_slli_epi64(c3, 32));
    _mm512_store_si512(words + 32 * half, _mm512_permutex2var_epi64(w01, blocks_0_3, w23));
    _mm512_store_si512(words + 32 * half + 16, _mm512_permutex2var_epi64(w01, blocks_4_7, w23));
  }
}

// Bit e set where words[e] >= threshold, e = 0..63 (cpu::plain::kept_bits_64's
// definition): four unsigned 16-lane comparisons, each giving 16 bits.
inline uint64_t kept_bits_64(const uint32_t* words, uint64_t threshold) {
  if (threshold > 0xffffffffu) return 0;
  const __m512i t = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(threshold)));
  uint64_t bits = 0;
  for (int g = 0; g < 4; ++g)
    bits |= uint64_t(_mm512_cmpge_epu32_mask(_mm512_loadu_si512(words + 16 * g), t)) << (16 * g);
  return bits;
}

}  // namespace hc::cpu::tuned

#endif  // __AVX512F__
