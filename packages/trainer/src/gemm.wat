;; SIMD GEMM for TensorFlow.js's wasm backend (see wasm-matmul.ts for why). Compiled to gemm-binary.ts by
;; `node scripts/build-gemm.mjs`; a test checks the committed binary matches this source.
(module
  ;; Shared, so worker threads can each run a share of the row tiles on the same operands (gemm.ts).
  (import "env" "memory" (memory 1 32768 shared))
  ;; C[M,N] = A[M,K] · B[K,N], row-major f32, with M % 4 == 0, N % 8 == 0 and K >= 1 (gemm.ts pads).
  ;; A 4x8 register tile: per k, two 4-lane loads of B's row and four broadcasts of A's column, 8 accumulators that
  ;; stay in SIMD registers. The tile's 4 rows of A (4 x K floats) stay in cache while it walks across C's columns.
  (func $gemm (export "gemm") (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32)
    (local $i i32) (local $j i32) (local $k i32) (local $lda i32) (local $ldb i32)
    (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $bp i32) (local $cp i32)
    (local $b0 v128) (local $b1 v128) (local $s v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local.set $lda (i32.shl (local.get $K) (i32.const 2)))
    (local.set $ldb (i32.shl (local.get $N) (i32.const 2)))
    (local.set $i (i32.const 0))
    (loop $rows
      (local.set $j (i32.const 0))
      (loop $cols
        (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
        (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
        (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
        (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $lda))))
        (local.set $a1 (i32.add (local.get $a0) (local.get $lda)))
        (local.set $a2 (i32.add (local.get $a1) (local.get $lda)))
        (local.set $a3 (i32.add (local.get $a2) (local.get $lda)))
        (local.set $bp (i32.add (local.get $b) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $k (local.get $K))
        (loop $inner
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $s (f32x4.splat (f32.load (local.get $a0))))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (f32x4.splat (f32.load (local.get $a1))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (f32x4.splat (f32.load (local.get $a2))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $s (f32x4.splat (f32.load (local.get $a3))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $s) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $s) (local.get $b1))))
          (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
          (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
          (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
          (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
          (local.set $bp (i32.add (local.get $bp) (local.get $ldb)))
          (br_if $inner (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
        (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldb))) (i32.shl (local.get $j) (i32.const 2))))
        (v128.store (local.get $cp) (local.get $c00)) (v128.store offset=16 (local.get $cp) (local.get $c01))
        (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
        (v128.store (local.get $cp) (local.get $c10)) (v128.store offset=16 (local.get $cp) (local.get $c11))
        (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
        (v128.store (local.get $cp) (local.get $c20)) (v128.store offset=16 (local.get $cp) (local.get $c21))
        (local.set $cp (i32.add (local.get $cp) (local.get $ldb)))
        (v128.store (local.get $cp) (local.get $c30)) (v128.store offset=16 (local.get $cp) (local.get $c31))
        (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 8))) (local.get $N))))
      (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $M)))))
  ;; Units [u0, u1) of a batched product: unit u is row tile u % (M / 4) of batch entry u / (M / 4). sa, sb and sc are
  ;; the byte strides between batch entries (0 broadcasts an operand). Threads split the units between them.
  (func (export "gemm_units") (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $K i32) (param $N i32)
    (param $sa i32) (param $sb i32) (param $sc i32) (param $u0 i32) (param $u1 i32)
    (local $tiles i32) (local $z i32) (local $r0 i32) (local $r1 i32)
    (local.set $tiles (i32.shr_u (local.get $M) (i32.const 2)))
    (block $done
      (loop $units
        (br_if $done (i32.ge_u (local.get $u0) (local.get $u1)))
        (local.set $z (i32.div_u (local.get $u0) (local.get $tiles)))
        (local.set $r0 (i32.sub (local.get $u0) (i32.mul (local.get $z) (local.get $tiles))))
        ;; r1 = min(tiles, r0 + u1 - u0): to the end of this batch entry or of the share
        (local.set $r1 (i32.add (local.get $r0) (i32.sub (local.get $u1) (local.get $u0))))
        (if (i32.gt_u (local.get $r1) (local.get $tiles)) (then (local.set $r1 (local.get $tiles))))
        (call $gemm
          (i32.add (i32.add (local.get $a) (i32.mul (local.get $z) (local.get $sa))) (i32.shl (i32.mul (local.get $r0) (local.get $K)) (i32.const 4)))
          (i32.add (local.get $b) (i32.mul (local.get $z) (local.get $sb)))
          (i32.add (i32.add (local.get $c) (i32.mul (local.get $z) (local.get $sc))) (i32.shl (i32.mul (local.get $r0) (local.get $N)) (i32.const 4)))
          (i32.shl (i32.sub (local.get $r1) (local.get $r0)) (i32.const 2))
          (local.get $K) (local.get $N))
        (local.set $u0 (i32.add (local.get $u0) (i32.sub (local.get $r1) (local.get $r0))))
        (br $units)))))
