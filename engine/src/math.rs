//! The elementary functions, one implementation on every target.
//!
//! `f64::exp`, `ln`, `powf`, `sin`, … call the platform's C maths library: glibc in a native
//! Linux build, a Rust port of musl's libm in the WebAssembly build. Both are accurate to about
//! one ulp but round differently for some arguments, and a forecast amplifies a last-bit
//! difference (the MAP's iterations) to about 1e-6 relative: native and browser builds would not
//! give the same numbers for the same seed. twin-engine and twin-models therefore call these
//! functions, all from the `libm` crate (musl's algorithms in Rust, compiled into every build),
//! instead of the standard library's; each crate's `clippy.toml` forbids the `f64` methods.
//! The IEEE 754 basic operations, `sqrt`, `mul_add`, `abs`, `floor` and the like are correctly
//! rounded or exact everywhere and need no replacement.

/// `eˣ`.
#[inline]
#[must_use]
pub fn exp(x: f64) -> f64 {
    libm::exp(x)
}

/// `eˣ − 1`, accurate near 0.
#[inline]
#[must_use]
pub fn exp_m1(x: f64) -> f64 {
    libm::expm1(x)
}

/// Natural logarithm.
#[inline]
#[must_use]
pub fn ln(x: f64) -> f64 {
    libm::log(x)
}

/// `ln(1 + x)`, accurate near 0.
#[inline]
#[must_use]
pub fn ln_1p(x: f64) -> f64 {
    libm::log1p(x)
}

/// Base-10 logarithm.
#[inline]
#[must_use]
pub fn log10(x: f64) -> f64 {
    libm::log10(x)
}

/// `xʸ` (the standard library's `powf`).
#[inline]
#[must_use]
pub fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

/// `xⁿ` by binary powering — the algorithm of LLVM's `__powidf2` behind `f64::powi`, written
/// out so that no platform routine is involved: multiply by `x^(2^k)` for every set bit `k` of
/// `|n|`, reciprocal for negative `n`.
#[inline]
#[must_use]
pub fn powi(x: f64, n: i32) -> f64 {
    let mut remaining = n.unsigned_abs();
    let mut square = x;
    let mut result = 1.0;
    loop {
        if remaining & 1 == 1 {
            result *= square;
        }
        remaining >>= 1;
        if remaining == 0 {
            break;
        }
        square *= square;
    }
    if n < 0 { 1.0 / result } else { result }
}

/// Cube root.
#[inline]
#[must_use]
pub fn cbrt(x: f64) -> f64 {
    libm::cbrt(x)
}

/// `√(x² + y²)` without undue overflow or underflow.
#[inline]
#[must_use]
pub fn hypot(x: f64, y: f64) -> f64 {
    libm::hypot(x, y)
}

/// Sine (radians).
#[inline]
#[must_use]
pub fn sin(x: f64) -> f64 {
    libm::sin(x)
}

/// Cosine (radians).
#[inline]
#[must_use]
pub fn cos(x: f64) -> f64 {
    libm::cos(x)
}

/// Arc cosine (radians).
#[inline]
#[must_use]
pub fn acos(x: f64) -> f64 {
    libm::acos(x)
}

/// Hyperbolic tangent.
#[inline]
#[must_use]
pub fn tanh(x: f64) -> f64 {
    libm::tanh(x)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // the platform's functions are the reference here

    use super::*;

    /// Distance in units in the last place between two finite values of the same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    /// Every function agrees with the platform's maths library (glibc natively) to 2 ulp over
    /// arguments spanning the ranges the models use; `powi` equals repeated multiplication.
    #[test]
    fn the_functions_agree_with_the_platform_library_within_one_ulp() {
        let mut worst = (0, "", 0.0, 0.0);
        for k in 0..20_000 {
            let t = f64::from(k) / 20_000.0;
            let x = -700.0 + 1400.0 * t;
            let positive = 10f64.powf(-300.0 + 600.0 * t);
            let small = -0.9 + 1.8 * t;
            let angle = -50.0 + 100.0 * t;
            let unit = -1.0 + 2.0 * t;
            let pairs = [
                ("exp", exp(x), x.exp()),
                ("exp_m1", exp_m1(small), small.exp_m1()),
                ("ln", ln(positive), positive.ln()),
                ("ln_1p", ln_1p(small), small.ln_1p()),
                ("log10", log10(positive), positive.log10()),
                (
                    "pow",
                    pow(positive.sqrt().sqrt(), small * 3.0),
                    positive.sqrt().sqrt().powf(small * 3.0),
                ),
                ("cbrt", cbrt(x), x.cbrt()),
                ("hypot", hypot(x, angle), x.hypot(angle)),
                ("sin", sin(angle), angle.sin()),
                ("cos", cos(angle), angle.cos()),
                ("acos", acos(unit), unit.acos()),
                ("tanh", tanh(small * 10.0), (small * 10.0).tanh()),
            ];
            for (name, ours, platform) in pairs {
                if ours != 0.0 || platform != 0.0 {
                    let d = ulps(ours, platform);
                    if d > worst.0 {
                        worst = (d, name, ours, platform);
                    }
                }
            }
        }
        assert!(
            worst.0 <= 2,
            "largest difference (ulp, function, ours, the platform's): {worst:?}"
        );
        // Binary powering gives exactly the products written out.
        let exact = |a: f64, b: f64| assert_eq!(a.to_bits(), b.to_bits(), "{a} vs {b}");
        exact(powi(1.1, 0), 1.0);
        exact(powi(3.0, 5), 243.0);
        exact(powi(2.0, -3), 0.125);
        exact(powi(0.7, 2), 0.7 * 0.7);
        exact(powi(0.7, 3), 0.7 * 0.7 * 0.7);
        exact(powi(0.7, 4), (0.7 * 0.7) * (0.7 * 0.7));
    }
}
