/* Included first by every DSP kernel file. The inline-assembly loops of these kernels keep
 * up to 14 registers live; at -O0 GCC reserves r7 as the frame pointer and cannot satisfy
 * them, so a -O0 project still builds these kernel files optimized (everything else stays
 * at the level the user chose). No include guard: the pragma must act in each file. */
#if !defined(__OPTIMIZE__)
#pragma GCC optimize("O2", "omit-frame-pointer")
#endif
