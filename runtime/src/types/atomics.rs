//! Atomic floats: `atomic_f32` and `atomic_f64` of the schema, stored as the
//! IEEE-754 bits of the value in an `AtomicU32` / `AtomicU64`, so a C or
//! Python peer reads them as plain 32/64-bit atomics.
//!
//! Comparisons (`compare_exchange`, `fetch_update`) are on the bits, not on
//! float equality: `-0.0` and `0.0` differ, and a NaN matches the same NaN
//! bit pattern. That is what a lock-free CAS loop needs.

use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

macro_rules! atomic_float {
    (
        $(#[$doc:meta])*
        $name:ident, $float:ty, $atomic:ty
    ) => {
        $(#[$doc])*
        #[repr(transparent)]
        pub struct $name($atomic);

        impl $name {
            /// A new atomic holding `value`.
            pub const fn new(value: $float) -> Self {
                Self(<$atomic>::new(value.to_bits()))
            }

            /// Consumes the atomic and returns the value.
            pub fn into_inner(self) -> $float {
                <$float>::from_bits(self.0.into_inner())
            }

            /// Loads the value. `order` as for the integer atomics.
            pub fn load(&self, order: Ordering) -> $float {
                <$float>::from_bits(self.0.load(order))
            }

            /// Stores `value`. `order` as for the integer atomics.
            pub fn store(&self, value: $float, order: Ordering) {
                self.0.store(value.to_bits(), order);
            }

            /// Stores `value` and returns the previous value.
            pub fn swap(&self, value: $float, order: Ordering) -> $float {
                <$float>::from_bits(self.0.swap(value.to_bits(), order))
            }

            /// Stores `new` if the current value has the same bits as
            /// `current`; returns the previous value, `Ok` if it was replaced.
            pub fn compare_exchange(
                &self,
                current: $float,
                new: $float,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$float, $float> {
                self.0
                    .compare_exchange(current.to_bits(), new.to_bits(), success, failure)
                    .map(<$float>::from_bits)
                    .map_err(<$float>::from_bits)
            }

            /// Like [`compare_exchange`](Self::compare_exchange), but may fail
            /// spuriously; for use in a loop.
            pub fn compare_exchange_weak(
                &self,
                current: $float,
                new: $float,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$float, $float> {
                self.0
                    .compare_exchange_weak(current.to_bits(), new.to_bits(), success, failure)
                    .map(<$float>::from_bits)
                    .map_err(<$float>::from_bits)
            }

            /// Applies `f` until it returns `None` or its result is stored
            /// without interference; returns `Ok(previous)` if a value was
            /// stored, `Err(previous)` if `f` returned `None`.
            ///
            /// `set_order` is the ordering of the successful store,
            /// `fetch_order` that of the loads, as for the integer atomics.
            pub fn fetch_update<F>(
                &self,
                set_order: Ordering,
                fetch_order: Ordering,
                mut f: F,
            ) -> Result<$float, $float>
            where
                F: FnMut($float) -> Option<$float>,
            {
                let mut previous = self.load(fetch_order);
                while let Some(next) = f(previous) {
                    match self.compare_exchange_weak(previous, next, set_order, fetch_order) {
                        Ok(stored_over) => return Ok(stored_over),
                        Err(changed) => previous = changed,
                    }
                }
                Err(previous)
            }

            /// Adds `delta` (a CAS loop) and returns the previous value.
            pub fn fetch_add(&self, delta: $float, order: Ordering) -> $float {
                let load_order = match order {
                    Ordering::Release | Ordering::Relaxed => Ordering::Relaxed,
                    Ordering::AcqRel | Ordering::Acquire => Ordering::Acquire,
                    _ => Ordering::SeqCst,
                };
                match self.fetch_update(order, load_order, |x| Some(x + delta)) {
                    Ok(previous) | Err(previous) => previous,
                }
            }

            #[doc = concat!("The underlying `", stringify!($atomic), "` holding the bits.")]
            pub const fn as_bits(&self) -> &$atomic {
                &self.0
            }
        }

        impl Default for $name {
            /// `0.0`
            fn default() -> Self {
                Self::new(0.0)
            }
        }

        impl From<$float> for $name {
            fn from(value: $float) -> Self {
                Self::new(value)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
            }
        }
    };
}

atomic_float! {
    /// An `f32` that can be shared between threads and processes: schema type
    /// `atomic_f32`, the bits of the value in an [`AtomicU32`].
    ///
    /// ```
    /// use core::sync::atomic::Ordering;
    /// use datahub::AtomicF32;
    ///
    /// let fps = AtomicF32::new(29.97);
    /// fps.store(30.0, Ordering::Relaxed);
    /// assert_eq!(fps.fetch_add(0.5, Ordering::Relaxed), 30.0);
    /// assert_eq!(fps.load(Ordering::Relaxed), 30.5);
    /// ```
    AtomicF32, f32, AtomicU32
}

atomic_float! {
    /// An `f64` that can be shared between threads and processes: schema type
    /// `atomic_f64`, the bits of the value in an [`AtomicU64`].
    ///
    /// ```
    /// use core::sync::atomic::Ordering;
    /// use datahub::AtomicF64;
    ///
    /// let rate = AtomicF64::new(1.0);
    /// assert_eq!(rate.compare_exchange(1.0, 2.0, Ordering::AcqRel, Ordering::Acquire), Ok(1.0));
    /// assert_eq!(rate.compare_exchange(1.0, 3.0, Ordering::AcqRel, Ordering::Acquire), Err(2.0));
    /// ```
    AtomicF64, f64, AtomicU64
}

#[cfg(test)]
mod tests {
    use core::mem::{align_of, size_of};

    use super::*;

    #[test]
    fn atomic_floats_have_the_layout_of_their_bits() {
        assert_eq!((size_of::<AtomicF32>(), align_of::<AtomicF32>()), (4, 4));
        assert_eq!((size_of::<AtomicF64>(), align_of::<AtomicF64>()), (8, 8));
    }

    #[test]
    fn load_store_swap_and_into_inner() {
        let a = AtomicF32::new(1.5);
        assert_eq!(a.load(Ordering::Relaxed), 1.5);
        a.store(-2.25, Ordering::Release);
        assert_eq!(a.load(Ordering::Acquire), -2.25);
        assert_eq!(a.swap(8.0, Ordering::AcqRel), -2.25);
        assert_eq!(a.into_inner(), 8.0);

        let b = AtomicF64::default();
        assert_eq!(b.load(Ordering::Relaxed).to_bits(), 0.0f64.to_bits());
        assert_eq!(b.swap(f64::MAX, Ordering::SeqCst), 0.0);
        assert_eq!(b.as_bits().load(Ordering::Relaxed), f64::MAX.to_bits());
        assert_eq!(AtomicF64::from(3.0).into_inner(), 3.0);
    }

    #[test]
    fn nan_bit_patterns_round_trip_exactly() {
        // Signalling NaN, quiet NaN with payload, negative NaN: every bit kept.
        for bits in [0x7f80_0001u32, 0x7fc1_2345, 0xffc0_0000, 0xff80_00ff] {
            let a = AtomicF32::new(f32::from_bits(bits));
            assert_eq!(a.load(Ordering::Relaxed).to_bits(), bits);
            assert_eq!(a.as_bits().load(Ordering::Relaxed), bits);
            a.store(f32::from_bits(bits ^ 1), Ordering::Relaxed);
            assert_eq!(a.swap(0.0, Ordering::Relaxed).to_bits(), bits ^ 1);
        }
        for bits in [
            0x7ff0_0000_0000_0001u64,
            0x7ff8_dead_beef_0000,
            0xfff8_0000_0000_0000,
        ] {
            let a = AtomicF64::new(f64::from_bits(bits));
            assert_eq!(a.load(Ordering::Relaxed).to_bits(), bits);
            assert_eq!(a.into_inner().to_bits(), bits);
        }
    }

    #[test]
    fn compare_exchange_compares_bits_so_nan_matches_itself_and_signed_zeros_differ() {
        let nan = f64::from_bits(0x7ff8_0000_0000_0042);
        let a = AtomicF64::new(nan);
        let prev = a.compare_exchange(nan, 1.0, Ordering::AcqRel, Ordering::Acquire);
        assert_eq!(prev.map(f64::to_bits), Ok(nan.to_bits()));

        let z = AtomicF32::new(0.0);
        assert_eq!(
            z.compare_exchange(-0.0, 1.0, Ordering::AcqRel, Ordering::Acquire),
            Err(0.0)
        );
        assert_eq!(
            z.compare_exchange(0.0, 1.0, Ordering::AcqRel, Ordering::Acquire),
            Ok(0.0)
        );
        assert_eq!(z.load(Ordering::Relaxed), 1.0);
    }

    #[test]
    fn compare_exchange_weak_succeeds_in_a_loop() {
        let a = AtomicF32::new(2.0);
        let mut current = a.load(Ordering::Relaxed);
        loop {
            match a.compare_exchange_weak(
                current,
                current * 2.0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
        assert_eq!(a.load(Ordering::Relaxed), 4.0);
    }

    #[test]
    fn fetch_update_stores_or_reports_the_refusal() {
        let a = AtomicF64::new(10.0);
        assert_eq!(
            a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |x| Some(x / 4.0)),
            Ok(10.0)
        );
        assert_eq!(
            a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |_| None),
            Err(2.5)
        );
        assert_eq!(a.load(Ordering::Relaxed), 2.5);
    }

    #[test]
    fn fetch_add_from_many_threads_loses_no_update() {
        let a = AtomicF64::new(0.0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        a.fetch_add(1.0, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(a.load(Ordering::Relaxed), 4000.0);
    }

    #[test]
    fn debug_shows_the_value() {
        assert_eq!(format!("{:?}", AtomicF32::new(1.25)), "1.25");
        assert_eq!(format!("{:?}", AtomicF64::new(-0.5)), "-0.5");
    }
}
