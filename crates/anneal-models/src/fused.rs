//! A convolution block as one operation on the flex CPU backend:
//! `conv2d (+ bias) → ReLU → max-pool`, forward and backward written by hand.
//!
//! burn's flex backend runs the three as separate operations: a direct or
//! im2col convolution per image, an activation that writes a new tensor, and a
//! max-pool that records the index of every window's maximum; the backward
//! pass of the convolution then goes through a transposed convolution and a
//! weight-gradient convolution of their own. On the MNIST CNN that was 0.4× the
//! throughput of PyTorch on one thread (profile in the Images chapter).
//!
//! Here the batch goes a few images at a time (a chunk that stays within a
//! core's cache; chunks run in parallel). A chunk is unfolded (`im2col`: one
//! row per input channel and kernel offset, one column per output pixel, so
//! each row is built from contiguous copies; at stride 1 without padding the
//! output rows are computed as wide as the input rows, which makes each image's
//! row a single copy), its convolution is one matrix product (flex's strided
//! GEMM), and the bias, ReLU and pooling are one pass over the product that also
//! records, for every pooled output, which convolution output it came from (or
//! that the ReLU cut it). The backward pass, chunk by chunk, scatters the
//! incoming gradient along those routes, unfolds the chunk's images again, and
//! needs two matrix products (weights: `dConv · colᵀ`; input: `Wᵀ · dConv`,
//! folded back onto the images); the bias's gradient is summed while scattering.
//! The chunks' shares of the weights' gradient are added in chunk order, so the
//! result does not depend on the number of threads. Large buffers are reused
//! from step to step ([`spare`]).
//!
//! The operation is registered with burn as a backend extension
//! ([`FusedConvOps`]), with the autodiff backend's backward step written here.
//! [`conv_relu_max_pool`] is the entry point; it returns `None` where the fused
//! path does not apply (another backend, another dtype), and the caller then
//! composes burn's own operations. Both give the same numbers up to the order
//! of floating-point sums (tested below against burn's composition, outputs and
//! every gradient).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::flex::ops::matmul::matmul;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, DispatchDevice, Flex, backend_extension};
use burn::prelude::*;
use burn::tensor::{DType, Shape};
use rayon::prelude::*;

/// A route that leads nowhere: the ReLU cut this output (its gradient is 0).
const CUT: u32 = u32::MAX;

/// A convolution block as one backend operation (see the [module](self) docs).
///
/// Implemented for the flex backend and for autodiff over flex; the dispatch
/// glue comes from burn's `#[backend_extension]`.
#[backend_extension(Flex, Autodiff)]
pub trait FusedConvOps: Backend {
    /// `max_pool(pool × pool, stride pool)(relu(conv2d(x, weight, bias; stride, padding)))`.
    ///
    /// # Shapes
    /// - `x`: `[batch, channels_in, height, width]`
    /// - `weight`: `[channels_out, channels_in, kernel, kernel]`
    /// - `bias`: `[channels_out]`
    /// - output: `[batch, channels_out, conv_h / pool, conv_w / pool]`
    fn conv_relu_max_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        pool: usize,
    ) -> FloatTensor<Self>;
}

/// The fused block on `x` when it lives on the flex backend in `f32`: `None`
/// otherwise (the caller composes burn's operations instead).
///
/// `weight` is square (`[co, ci, k, k]`); the pooling window is `pool × pool`
/// with stride `pool` and no padding (1: no pooling).
pub(crate) fn conv_relu_max_pool(
    x: &Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
    pool: usize,
) -> Option<Tensor<4>> {
    let on_flex = matches!(x.device().as_dispatch().clone().inner(), DispatchDevice::Flex(_));
    let f32s = [x.dtype(), weight.dtype(), bias.dtype()].iter().all(|d| *d == DType::F32);
    if !on_flex || !f32s || stride == 0 || pool == 0 {
        return None;
    }
    let [_, ci, h, w] = x.dims();
    let [_, wci, k, k2] = weight.dims();
    if ci != wci || k != k2 || h + 2 * padding < k || w + 2 * padding < k {
        return None;
    }
    // Empty batches and outputs are left to burn; routes are u32 indices into the
    // batch's convolution output (its rows at most as wide as the input's).
    let [n, co] = [x.dims()[0], weight.dims()[0]];
    let (conv_h, conv_w) = ((h + 2 * padding - k) / stride + 1, (w + 2 * padding - k) / stride + 1);
    if n == 0 || co == 0 || conv_h < pool || conv_w < pool || n * co * conv_h * (w + 2 * padding) >= CUT as usize {
        return None;
    }
    let out = <Dispatch as FusedConvOps>::conv_relu_max_pool(
        x.clone().into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
        pool,
    );
    Some(Tensor::from_dispatch(out))
}

/// Sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    n: usize,
    ci: usize,
    h: usize,
    w: usize,
    co: usize,
    k: usize,
    stride: usize,
    pad: usize,
    oh: usize,
    ow: usize,
    pool: usize,
    ph: usize,
    pw: usize,
}

impl Geometry {
    fn new(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize, pool: usize) -> Self {
        let (xs, ws) = (x.layout().shape(), weight.layout().shape());
        let (n, ci, h, w) = (xs[0], xs[1], xs[2], xs[3]);
        let (co, k) = (ws[0], ws[2]);
        let oh = (h + 2 * pad - k) / stride + 1;
        let ow = (w + 2 * pad - k) / stride + 1;
        Geometry { n, ci, h, w, co, k, stride, pad, oh, ow, pool, ph: oh / pool, pw: ow / pool }
    }

    /// Rows of the unfolded batch: one per input channel and kernel offset.
    fn rows(&self) -> usize {
        self.ci * self.k * self.k
    }

    /// Stride 1 and no padding: the output is computed on rows as wide as the
    /// input (`pitch` = `w`; the last `k − 1` columns of each row are not
    /// outputs), so that each unfolded row of an image is one contiguous
    /// stretch of it (shifted by the kernel offset) instead of `oh` short copies.
    fn wide(&self) -> bool {
        self.stride == 1 && self.pad == 0
    }

    /// Distance between output rows in the unfolded batch and the convolution's result.
    fn pitch(&self) -> usize {
        if self.wide() { self.w } else { self.ow }
    }

    /// Output pixels of one image (with the unused columns of a [wide](Self::wide) layout).
    fn pixels(&self) -> usize {
        self.oh * self.pitch()
    }

    /// Columns of the unfolded batch: every output pixel of every image.
    fn cols(&self) -> usize {
        self.n * self.pixels()
    }

    /// For kernel column `kj`, the output columns `lo..hi` whose input column
    /// `ow * stride + kj - pad` lies inside the image.
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let (s, pad, w) = (self.stride, self.pad, self.w);
        let lo = pad.saturating_sub(kj).div_ceil(s);
        // ow * s + kj < w + pad  ⇔  ow < (w + pad - kj) / s, rounded up.
        let hi = if w + pad > kj { (w + pad - kj).div_ceil(s).min(self.ow) } else { 0 };
        (lo, hi.max(lo))
    }
}

/// The contiguous `f32` values of a flex tensor (copied only when it is a view).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap_or_default().to_vec()),
    }
}

fn flex(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// Buffers reused from one training step to the next.
///
/// The outputs, routes, unfolded chunks and gradient buffers are up to
/// megabytes each. Kept here instead of freed (at most [`spare::KEEP`] per
/// element type, the smallest dropped first), they made an MNIST epoch 6–7 %
/// faster (three interleaved pairs of three-epoch runs: 1.21 against 1.30 s on
/// one thread, 0.72 against 0.77 s on two). The
/// store is shared by all threads: autodiff may run the backward pass on
/// another thread than the forward pass.
mod spare {
    use std::sync::Mutex;

    use burn::backend::flex::FlexTensor;

    /// Buffers kept per element type.
    pub(super) const KEEP: usize = 16;
    /// Smaller buffers are left to the allocator.
    const MIN_LEN: usize = 1 << 14;

    static F32: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
    static U32: Mutex<Vec<Vec<u32>>> = Mutex::new(Vec::new());

    /// Something kept in a shared store.
    pub(super) trait Spare: Copy + Default + Send + 'static {
        fn store() -> &'static Mutex<Vec<Vec<Self>>>;
    }
    impl Spare for f32 {
        fn store() -> &'static Mutex<Vec<Vec<Self>>> {
            &F32
        }
    }
    impl Spare for u32 {
        fn store() -> &'static Mutex<Vec<Vec<Self>>> {
            &U32
        }
    }

    /// A buffer of `len` values, holding whatever a reused buffer held: the
    /// caller writes every value.
    pub(super) fn take<T: Spare>(len: usize) -> Vec<T> {
        let reused = {
            // A poisoned store only lost a buffer: take it over.
            let mut s = T::store().lock().unwrap_or_else(|e| e.into_inner());
            let fit = (0..s.len()).filter(|&i| s[i].capacity() >= len).min_by_key(|&i| s[i].capacity());
            fit.map(|i| s.swap_remove(i))
        };
        match reused {
            Some(mut v) => {
                v.resize(len, T::default());
                v
            }
            None => vec![T::default(); len],
        }
    }

    /// Keeps `v` for a later [`take`].
    pub(super) fn give<T: Spare>(v: Vec<T>) {
        if v.capacity() < MIN_LEN {
            return;
        }
        let mut s = T::store().lock().unwrap_or_else(|e| e.into_inner());
        s.push(v);
        if s.len() > KEEP {
            let smallest = (0..s.len()).min_by_key(|&i| s[i].capacity()).unwrap_or(0);
            s.swap_remove(smallest);
        }
    }

    /// Keeps the storage of a flex tensor nothing else holds.
    pub(super) fn give_tensor(t: FlexTensor) {
        if t.is_unique()
            && t.is_contiguous()
            && let Ok(v) = t.into_data().try_into_vec::<f32>()
        {
            give(v);
        }
    }
}

/// Images per chunk: a chunk's unfolded images and products stay near a
/// megabyte, within a core's cache, and the chunks run in parallel.
fn images_per_chunk(g: &Geometry) -> usize {
    let per_image = g.co.max(g.rows()) * g.pixels();
    ((1 << 18) / per_image.max(1)).clamp(1, g.n.max(1))
}

/// Images `first..first + m` unfolded, as a `[ci·k·k, m·oh·pitch]` matrix
/// (its storage goes back to [`spare`] through [`spare::give_tensor`]).
fn unfold(x: &[f32], g: &Geometry, first: usize, m: usize) -> FlexTensor {
    let mut col = spare::take(g.rows() * m * g.pixels());
    im2col(x, g, first, m, &mut col);
    flex(col, [g.rows(), m * g.pixels()])
}

/// Images `first..first + m` of the batch `x` unfolded into `col`:
/// `[ci·k·k, m·oh·pitch]`, zeros where the kernel overlaps the padding.
fn im2col(x: &[f32], g: &Geometry, first: usize, m: usize, col: &mut [f32]) {
    let (pixels, plane) = (g.pixels(), g.h * g.w);
    col.chunks_mut(m * pixels).enumerate().for_each(|(r, row)| {
        if g.pad > 0 {
            row.fill(0.0);
        }
        let (c, ki, kj) = (r / (g.k * g.k), (r / g.k) % g.k, r % g.k);
        let (lo, hi) = g.valid_cols(kj);
        for n in 0..m {
            let src = &x[((first + n) * g.ci + c) * plane..][..plane];
            let out = &mut row[n * pixels..][..pixels];
            if g.wide() {
                // Output (oh, ow) reads src[(oh + ki)·w + ow + kj]: one stretch; the
                // tail the image does not reach lies in unused columns.
                let shift = ki * g.w + kj;
                let len = pixels.min(plane - shift);
                out[..len].copy_from_slice(&src[shift..][..len]);
                out[len..].fill(0.0);
                continue;
            }
            for oh in 0..g.oh {
                let Some(ih) = (oh * g.stride + ki).checked_sub(g.pad).filter(|ih| *ih < g.h) else { continue };
                let dst = &mut out[oh * g.ow..][..g.ow];
                let line = &src[ih * g.w..][..g.w];
                if g.stride == 1 {
                    dst[lo..hi].copy_from_slice(&line[lo + kj - g.pad..hi + kj - g.pad]);
                } else {
                    for (ow, d) in dst.iter_mut().enumerate().take(hi).skip(lo) {
                        *d = line[ow * g.stride + kj - g.pad];
                    }
                }
            }
        }
    });
}

/// Folds the unfolded gradient of `m` images (`dcol`: `[ci·k·k, m·oh·pitch]`)
/// back into their input gradients (`dx`: `[m, ci, h, w]`, overwritten).
fn col2im(dcol: &[f32], g: &Geometry, m: usize, dx: &mut [f32]) {
    let (pixels, plane) = (g.pixels(), g.h * g.w);
    let cols = m * pixels;
    dx.chunks_mut(g.ci * plane).enumerate().for_each(|(n, image)| {
        image.fill(0.0);
        for r in 0..g.rows() {
            let (c, ki, kj) = (r / (g.k * g.k), (r / g.k) % g.k, r % g.k);
            let (lo, hi) = g.valid_cols(kj);
            let src = &dcol[r * cols + n * pixels..][..pixels];
            if g.wide() {
                // The unused columns carry zero gradient (nothing was routed there).
                let shift = ki * g.w + kj;
                let len = pixels.min(plane - shift);
                for (d, s) in image[c * plane + shift..][..len].iter_mut().zip(&src[..len]) {
                    *d += s;
                }
                continue;
            }
            for oh in 0..g.oh {
                let Some(ih) = (oh * g.stride + ki).checked_sub(g.pad).filter(|ih| *ih < g.h) else { continue };
                let grad = &src[oh * g.ow..][..g.ow];
                let line = &mut image[c * plane + ih * g.w..][..g.w];
                if g.stride == 1 {
                    for (d, s) in line[lo + kj - g.pad..hi + kj - g.pad].iter_mut().zip(&grad[lo..hi]) {
                        *d += s;
                    }
                } else {
                    for (ow, s) in grad.iter().enumerate().take(hi).skip(lo) {
                        line[ow * g.stride + kj - g.pad] += s;
                    }
                }
            }
        }
    });
}

/// What the backward pass needs from the forward pass.
///
/// Kept in the autodiff graph until the backward pass: the input (shared with
/// the graph, no copy), the weights and one `u32` per output.
#[derive(Debug, Clone)]
struct Saved {
    g: Geometry,
    /// The input batch (unfolded again, a chunk at a time, by the backward pass).
    x: FlexTensor,
    /// The weights as a matrix, `[co, ci·k·k]`.
    weight: FlexTensor,
    /// For each output (`[n, co, ph, pw]`), the flat index into the
    /// convolution's `[co, n·oh·pitch]` result it was taken from, or [`CUT`].
    routes: Arc<Vec<u32>>,
}

/// Whether `v` replaces `best` as a window's maximum: when larger, or the
/// first NaN (a NaN stays, as in burn's and PyTorch's max-pool).
#[inline(always)]
fn wins(v: f32, best: f32) -> bool {
    v > best || (v.is_nan() && !best.is_nan())
}

/// Bias, ReLU and pooling of one output plane `src` (`[oh, pitch]`) into `y`
/// (`[ph, pw]`); with `route`, where each output came from (`base` + the
/// index in the plane, or [`CUT`]).
fn pool_plane(src: &[f32], g: &Geometry, bias: f32, base: usize, y: &mut [f32], mut route: Option<&mut [u32]>) {
    let (ow, pw) = (g.pitch(), g.pw);
    for a in 0..g.ph {
        let y = &mut y[a * pw..][..pw];
        let mut route = route.as_deref_mut().map(|r| &mut r[a * pw..][..pw]);
        let mut emit = |b: usize, at: usize, best: f32| {
            let v = best + bias;
            // ReLU; NaN passes, as in burn's.
            let alive = v > 0.0 || v.is_nan();
            y[b] = if alive { v } else { 0.0 };
            if let Some(route) = route.as_deref_mut() {
                route[b] = if alive { (base + at) as u32 } else { CUT };
            }
        };
        if g.pool == 2 {
            let top = 2 * a * ow;
            let (r0, r1) = (&src[top..][..2 * pw], &src[top + ow..][..2 * pw]);
            for (b, (p, q)) in r0.chunks_exact(2).zip(r1.chunks_exact(2)).enumerate() {
                let at = top + 2 * b;
                let (mut best, mut i) = (p[0], at);
                // Ties keep the first.
                if wins(p[1], best) {
                    (best, i) = (p[1], at + 1);
                }
                if wins(q[0], best) {
                    (best, i) = (q[0], at + ow);
                }
                if wins(q[1], best) {
                    (best, i) = (q[1], at + ow + 1);
                }
                emit(b, i, best);
            }
        } else {
            for b in 0..pw {
                let (mut best, mut at) = (f32::NEG_INFINITY, a * g.pool * ow + b * g.pool);
                for i in a * g.pool..(a + 1) * g.pool {
                    for (j, &v) in src[i * ow..][b * g.pool..(b + 1) * g.pool].iter().enumerate() {
                        if wins(v, best) {
                            (best, at) = (v, i * ow + b * g.pool + j);
                        }
                    }
                }
                emit(b, at, best);
            }
        }
    }
}

/// The forward pass and what the backward pass needs (the routes only with `track`).
fn forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    stride: usize,
    pad: usize,
    pool: usize,
    track: bool,
) -> (FlexTensor, Saved) {
    let g = Geometry::new(&x, &weight, stride, pad, pool);
    let x = if x.is_contiguous() { x } else { x.to_contiguous() };
    let weight = weight.to_contiguous().reshape(Shape::new([g.co, g.rows()]));
    let (cols, pixels, window) = (g.cols(), g.pixels(), g.ph * g.pw);
    let mut out = spare::take::<f32>(g.n * g.co * window);
    let mut routes = if track { spare::take::<u32>(out.len()) } else { Vec::new() };
    let m = images_per_chunk(&g);
    let per_chunk = m * g.co * window;
    {
        let (xv, bias) = (values(&x), values(&bias));
        let pool_chunk = |chunk: usize, y: &mut [f32], mut r: Option<&mut [u32]>| {
            let (first, images) = (chunk * m, y.len() / (g.co * window));
            let col = unfold(&xv, &g, first, images);
            let conv = matmul(weight.clone(), col.clone());
            spare::give_tensor(col);
            let conv_values = values(&conv);
            for (plane, y) in y.chunks_mut(window).enumerate() {
                let (n, c) = (plane / g.co, plane % g.co);
                let src = &conv_values[c * images * pixels + n * pixels..][..pixels];
                let base = c * cols + (first + n) * pixels;
                let r = r.as_deref_mut().map(|r| &mut r[plane * window..][..window]);
                pool_plane(src, &g, bias[c], base, y, r);
            }
        };
        if track {
            out.par_chunks_mut(per_chunk)
                .zip(routes.par_chunks_mut(per_chunk))
                .enumerate()
                .for_each(|(chunk, (y, r))| pool_chunk(chunk, y, Some(r)));
        } else {
            out.par_chunks_mut(per_chunk).enumerate().for_each(|(chunk, y)| pool_chunk(chunk, y, None));
        }
    }
    let out = flex(out, [g.n, g.co, g.ph, g.pw]);
    (out, Saved { g, x, weight, routes: Arc::new(routes) })
}

/// Gradients of the input (when `want_x`), weights and bias from the output's
/// gradient, a chunk of images at a time: the chunk's convolution gradient
/// (the outputs' gradients along their routes), its images unfolded again, then
/// `dW += dConv · colᵀ`, `db += Σ dConv`, and `Wᵀ · dConv` folded onto the images.
fn backward(saved: Saved, grad: FlexTensor, want_x: bool) -> (Option<FlexTensor>, FlexTensor, FlexTensor) {
    let Saved { g, x, weight, routes } = saved;
    let (cols, pixels, plane, window) = (g.cols(), g.pixels(), g.h * g.w, g.ph * g.pw);
    let m = images_per_chunk(&g);
    let weight_t = weight.transpose(0, 1);
    let (xv, grad_values) = (values(&x), values(&grad));
    // One chunk: its share of the weights' and bias's gradients; its images' input gradients into `dx`.
    let chunk = |chunk: usize, dx: Option<&mut [f32]>| -> (Vec<f32>, Vec<f32>) {
        let first = chunk * m;
        let images = m.min(g.n - first);
        let local = images * pixels;
        // The chunk's convolution gradient, `[co, images·oh·pitch]`: each output plane
        // (image n, channel c) routes into row c, columns n·oh·pitch.., so each stretch
        // is zeroed and filled in turn; the bias gradient sums what was routed.
        let mut dconv = spare::take::<f32>(g.co * local);
        let mut dbias = vec![0f32; g.co];
        for (stretch, d) in dconv.chunks_mut(pixels).enumerate() {
            let (c, n) = (stretch / images, stretch % images);
            d.fill(0.0);
            let plane_index = (first + n) * g.co + c;
            let start = c * cols + (first + n) * pixels;
            let (r, v) = (&routes[plane_index * window..][..window], &grad_values[plane_index * window..][..window]);
            for (&r, &v) in r.iter().zip(v) {
                if r != CUT {
                    d[r as usize - start] += v;
                    dbias[c] += v;
                }
            }
        }
        let dconv = flex(dconv, [g.co, local]);
        let col = unfold(&xv, &g, first, images);
        let dweight = matmul(dconv.clone(), col.transpose(0, 1));
        spare::give_tensor(col);
        if let Some(dx) = dx {
            let dcol = matmul(weight_t.clone(), dconv.clone());
            col2im(&values(&dcol), &g, images, dx);
        }
        spare::give_tensor(dconv);
        (values(&dweight).into_owned(), dbias)
    };
    let chunks = g.n.div_ceil(m);
    type Shares = Vec<(Vec<f32>, Vec<f32>)>;
    let (dx, parts): (Option<Vec<f32>>, Shares) = if want_x {
        let mut dx = spare::take::<f32>(g.n * g.ci * plane);
        let parts = dx.par_chunks_mut(m * g.ci * plane).enumerate().map(|(i, dx)| chunk(i, Some(dx))).collect();
        (Some(dx), parts)
    } else {
        (None, (0..chunks).into_par_iter().map(|i| chunk(i, None)).collect())
    };
    // The chunks' shares summed in chunk order: the same sums whatever the threads.
    let mut dweight = vec![0f32; g.co * g.rows()];
    let mut dbias = vec![0f32; g.co];
    for (w, b) in &parts {
        dweight.iter_mut().zip(w).for_each(|(a, v)| *a += v);
        dbias.iter_mut().zip(b).for_each(|(a, v)| *a += v);
    }
    drop((xv, grad_values));
    spare::give_tensor(grad);
    if let Ok(routes) = Arc::try_unwrap(routes) {
        spare::give(routes);
    }
    let dx = dx.map(|dx| flex(dx, [g.n, g.ci, g.h, g.w]));
    (dx, flex(dweight, [g.co, g.ci, g.k, g.k]), flex(dbias, [g.co]))
}

impl FusedConvOps for Flex {
    fn conv_relu_max_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        pool: usize,
    ) -> FloatTensor<Self> {
        forward(x, weight, bias, stride, padding, pool, false).0
    }
}

/// The autodiff step of the fused block.
#[derive(Debug)]
struct FusedBlockBackward;

impl Backward<Flex, 3> for FusedBlockBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (dx, dweight, dbias) = backward(ops.state, grad, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, dweight);
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, dbias);
        }
    }
}

impl<C: CheckpointStrategy> FusedConvOps for Autodiff<Flex, C> {
    fn conv_relu_max_pool(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        pool: usize,
    ) -> FloatTensor<Self> {
        match FusedBlockBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (out, saved) = forward(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    stride,
                    padding,
                    pool,
                    true,
                );
                prep.finish(saved, out)
            }
            OpsKind::UnTracked(prep) => {
                let (x, weight, bias) = (x.into_primitive(), weight.into_primitive(), bias.into_primitive());
                prep.finish(Flex::conv_relu_max_pool(x, weight, bias, stride, padding, pool))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(oh: usize, ow: usize, pool: usize) -> Geometry {
        let (h, w) = (oh + 2, ow + 2);
        Geometry { n: 1, ci: 1, h, w, co: 1, k: 3, stride: 2, pad: 0, oh, ow, pool, ph: oh / pool, pw: ow / pool }
    }

    /// A NaN in a window is the window's maximum and passes the ReLU, as in
    /// burn's and PyTorch's operations; ties keep the first; the ReLU cuts
    /// non-positive maxima (route [`CUT`]).
    #[test]
    fn pooling_keeps_nan_and_the_first_of_ties_and_the_relu_cuts() {
        for pool in [2, 3] {
            let g = geometry(pool, 2 * pool, pool);
            // Window 1 all −2, so ReLU(−2 + 0.5) = 0; window 0: 1, NaN, and a larger 5 after the NaN.
            let mut src = vec![-2.0f32; g.oh * g.ow];
            (src[0], src[1], src[g.ow]) = (1.0, f32::NAN, 5.0);
            let (mut y, mut route) = (vec![0f32; 2], vec![0u32; 2]);
            pool_plane(&src, &g, 0.5, 100, &mut y, Some(&mut route));
            assert!(y[0].is_nan() && route[0] == 101, "{y:?} {route:?}");
            assert_eq!((y[1], route[1]), (0.0, CUT));
            // Ties: the first maximum is routed.
            let src = vec![3.0f32; g.oh * g.ow];
            pool_plane(&src, &g, 0.0, 0, &mut y, Some(&mut route));
            assert_eq!((y, route.clone()), (vec![3.0, 3.0], vec![0, pool as u32]));
        }
    }
}
