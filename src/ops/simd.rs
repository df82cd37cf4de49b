//! Explicit SIMD for the CPU kernels, on stable Rust, with the instruction set chosen at run time.
//!
//! The crate is built for baseline x86-64, and LLVM's auto-vectoriser does not reliably turn
//! our register tiles into vector code (we measured scalar and gather code for them). The
//! kernels are therefore written against [`Vector`], a few vector operations implemented with
//! `core::arch` intrinsics for AVX-512 and AVX2 + FMA, and portably for other CPUs.
//! [`dispatch`] runs a [`Kernel`] with the widest vector type the running CPU supports
//! (`is_x86_feature_detected!` caches its answer), inside a function compiled for those
//! features so that the intrinsics inline.

/// A vector of `LANES` elements of type `E`. The methods are `unsafe` because the x86
/// implementations need the CPU features they are compiled for; [`dispatch`] guarantees them.
pub trait Vector<E>: Copy {
    const LANES: usize;
    /// Every lane `value`.
    unsafe fn splat(value: E) -> Self;
    /// The first `LANES` elements of `from` (which must hold that many).
    unsafe fn load(from: &[E]) -> Self;
    /// Writes the lanes to the first `LANES` elements of `to` (which must hold that many).
    unsafe fn store(self, to: &mut [E]);
    /// `self * b + c`, fused where the instruction set allows.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// The sum of the lanes.
    unsafe fn sum(self) -> E;
}

/// What the CPU kernels need per element type: its vector types, one per instruction set, and
/// a scratch buffer per thread.
pub trait Element: Copy + Sized + 'static {
    /// Runs `f` on this thread's scratch buffer, `len` elements long (contents unspecified).
    /// The buffer is kept for the thread's next call, so kernels neither allocate nor
    /// page-fault per task; a nested call gets a fresh buffer.
    #[doc(hidden)]
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    type Avx512: Vector<Self>;
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    type Avx2: Vector<Self>;
}

/// A piece of work compiled once per instruction set.
pub(crate) trait Kernel {
    type Element: super::Float;
    type Output;
    /// # Safety
    /// The CPU must support the features `V`'s methods need.
    unsafe fn run<V: Vector<Self::Element>>(self) -> Self::Output;
}

/// The instruction sets [`dispatch`] chooses from, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum InstructionSet {
    Portable,
    Avx2,
    Avx512,
}

impl InstructionSet {
    /// The widest instruction set this CPU supports.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx512f") {
                return InstructionSet::Avx512;
            }
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return InstructionSet::Avx2;
            }
        }
        InstructionSet::Portable
    }
}

/// Tests cap the instruction set (`InstructionSet as u8`) to exercise every path on one machine.
#[cfg(test)]
pub(crate) static TEST_CAP: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(u8::MAX);

/// Runs `kernel` with the widest vector type this CPU supports.
pub(crate) fn dispatch<K: Kernel>(kernel: K) -> K::Output {
    let chosen = InstructionSet::detect();
    #[cfg(test)]
    let chosen = chosen.min(match TEST_CAP.load(std::sync::atomic::Ordering::Relaxed) {
        0 => InstructionSet::Portable,
        1 => InstructionSet::Avx2,
        _ => InstructionSet::Avx512,
    });
    match chosen {
        // SAFETY: the CPU has AVX-512F, all that `Avx512` vectors use.
        #[cfg(target_arch = "x86_64")]
        InstructionSet::Avx512 => unsafe { run_avx512(kernel) },
        // SAFETY: the CPU has AVX2 and FMA, all that `Avx2` vectors use.
        #[cfg(target_arch = "x86_64")]
        InstructionSet::Avx2 => unsafe { run_avx2(kernel) },
        // SAFETY: portable vectors need no CPU feature.
        _ => unsafe { kernel.run::<Portable<K::Element>>() },
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<<K::Element as Element>::Avx512>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<<K::Element as Element>::Avx2>()
}

/// Eight lanes in plain Rust, for CPUs without AVX2.
#[derive(Clone, Copy)]
pub(crate) struct Portable<E>([E; 8]);

impl<E: super::Float> Vector<E> for Portable<E> {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(value: E) -> Self {
        Portable([value; 8])
    }
    #[inline(always)]
    unsafe fn load(from: &[E]) -> Self {
        Portable(from[..8].try_into().expect("eight lanes"))
    }
    #[inline(always)]
    unsafe fn store(self, to: &mut [E]) {
        to[..8].copy_from_slice(&self.0);
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        Portable(std::array::from_fn(|i| self.0[i] * b.0[i] + c.0[i]))
    }
    #[inline(always)]
    unsafe fn sum(self) -> E {
        self.0.iter().fold(E::zero(), |s, &v| s + v)
    }
}

/// Implements [`Vector`] for an x86 vector type with the given intrinsics; the lane sum uses
/// `$sum` (a reduction intrinsic) where given, else a store and a scalar sum.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_vector {
    ($name:ident, $elem:ty, $vec:ty, $lanes:literal, $features:literal,
     $splat:ident, $load:ident, $store:ident, $fmadd:ident $(, $sum:ident)?) => {
        #[derive(Clone, Copy)]
        #[doc(hidden)]
        pub struct $name($vec);

        impl Vector<$elem> for $name {
            const LANES: usize = $lanes;
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn splat(value: $elem) -> Self {
                $name(std::arch::x86_64::$splat(value))
            }
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn load(from: &[$elem]) -> Self {
                debug_assert!(from.len() >= $lanes);
                $name(std::arch::x86_64::$load(from.as_ptr()))
            }
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn store(self, to: &mut [$elem]) {
                debug_assert!(to.len() >= $lanes);
                std::arch::x86_64::$store(to.as_mut_ptr(), self.0)
            }
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn mul_add(self, b: Self, c: Self) -> Self {
                $name(std::arch::x86_64::$fmadd(self.0, b.0, c.0))
            }
            #[inline]
            #[target_feature(enable = $features)]
            unsafe fn sum(self) -> $elem {
                $(return std::arch::x86_64::$sum(self.0);)?
                #[allow(unreachable_code)]
                {
                    let mut lanes = [0.0; $lanes];
                    self.store(&mut lanes);
                    lanes.iter().sum()
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
x86_vector!(
    Avx512F32,
    f32,
    std::arch::x86_64::__m512,
    16,
    "avx512f",
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps,
    _mm512_reduce_add_ps
);
#[cfg(target_arch = "x86_64")]
x86_vector!(
    Avx512F64,
    f64,
    std::arch::x86_64::__m512d,
    8,
    "avx512f",
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd,
    _mm512_reduce_add_pd
);
#[cfg(target_arch = "x86_64")]
x86_vector!(
    Avx2F32,
    f32,
    std::arch::x86_64::__m256,
    8,
    "avx2,fma",
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps
);
#[cfg(target_arch = "x86_64")]
x86_vector!(
    Avx2F64,
    f64,
    std::arch::x86_64::__m256d,
    4,
    "avx2,fma",
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_fmadd_pd
);

/// Implements `Element::with_scratch` with a thread-local buffer.
macro_rules! thread_scratch {
    ($elem:ty) => {
        fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [$elem]) -> R) -> R {
            thread_local! {
                static SCRATCH: std::cell::RefCell<Vec<$elem>> =
                    const { std::cell::RefCell::new(Vec::new()) };
            }
            SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
                Ok(mut buffer) => {
                    if buffer.len() < len {
                        buffer.resize(len, 0.0);
                    }
                    f(&mut buffer[..len])
                }
                Err(_) => f(&mut vec![0.0; len]),
            })
        }
    };
}

impl Element for f32 {
    thread_scratch!(f32);
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512F32;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2F32;
}

impl Element for f64 {
    thread_scratch!(f64);
    #[cfg(target_arch = "x86_64")]
    type Avx512 = Avx512F64;
    #[cfg(target_arch = "x86_64")]
    type Avx2 = Avx2F64;
}

/// The name of the instruction set the kernels run with on this CPU.
pub fn instruction_set_name() -> &'static str {
    match InstructionSet::detect() {
        InstructionSet::Avx512 => "avx512f",
        InstructionSet::Avx2 => "avx2+fma",
        InstructionSet::Portable => "portable",
    }
}

/// The f32 multiply-add peak of this machine in GFLOP/s, measured: every rayon thread runs
/// independent chains of vector FMAs on registers (enough chains to hide the latency) for
/// `iterations` rounds, all threads at once. The yardstick for the fraction of the peak that
/// a kernel reaches.
pub fn measured_fma_peak_gflops(iterations: usize) -> f64 {
    let started = std::time::Instant::now();
    let sums = rayon::broadcast(|_| dispatch(FmaChains { iterations }));
    let seconds = started.elapsed().as_secs_f64();
    let (lanes, chains) = sums
        .first()
        .map_or((0, 0), |&(_, lanes, chains)| (lanes, chains));
    // The sums are used so that the chains cannot be optimised away.
    let flops = if sums.iter().all(|&(sum, _, _)| sum.is_finite()) {
        (sums.len() * iterations * chains * lanes * 2) as f64
    } else {
        0.0
    };
    flops / seconds / 1e9
}

/// [`measured_fma_peak_gflops`]' kernel: 16 chains of `iterations` dependent FMAs.
struct FmaChains {
    iterations: usize,
}

impl Kernel for FmaChains {
    type Element = f32;
    type Output = (f32, usize, usize);

    #[inline(always)]
    unsafe fn run<V: Vector<f32>>(self) -> Self::Output {
        const CHAINS: usize = 16;
        let factor = V::splat(0.999_999);
        let step = V::splat(1e-7);
        let mut chains = [V::splat(1.0); CHAINS];
        for _ in 0..self.iterations {
            for chain in chains.iter_mut() {
                *chain = chain.mul_add(factor, step);
            }
        }
        let total = chains.iter().map(|c| c.sum()).sum();
        (total, V::LANES, CHAINS)
    }
}
