//! The elementary functions, one implementation on every target.
//!
//! `f64::exp`, `ln`, `powf`, `sin`, … call the platform's C maths library: glibc in a native
//! Linux build, a Rust port of musl's libm in the WebAssembly build. Both are accurate to about
//! one ulp but round differently for some arguments, and a forecast amplifies a last-bit
//! difference (the MAP's iterations) to about 1e-6 relative: native and browser builds would not
//! give the same numbers for the same seed. twin-engine and twin-models therefore call these
//! functions — `exp` written here, the others from the `libm` crate (musl's algorithms in Rust),
//! compiled into every build — instead of the standard library's; each crate's `clippy.toml`
//! forbids the `f64` methods. The IEEE 754 basic operations, `sqrt`, `mul_add`, `abs`, `floor` and the like are correctly
//! rounded or exact everywhere and need no replacement.

mod exp_table;

/// `eˣ`, by Tang's table-driven method (P. T. P. Tang, ACM TOMS 15(2):144–157, 1989), written
/// here because it is several times faster than the `libm` crate's (fdlibm's, which divides) and
/// `exp` is the hottest function of a forecast (benches/README.md):
/// `x = (128·m + j)·ln2/128 + r` with `|r| ≤ ln2/256`, then `eˣ = 2^m · 2^(j/128) · eʳ`, the
/// table holding `2^(j/128)` as a head and a tail (`exp_table.rs`, generated with 60 digits by
/// `engine/tools/exp_table.py`) and `eʳ − 1` its Taylor polynomial of degree 5 (truncation below
/// 2⁻⁶⁰). Only `+ − ×` and exact scalings: the same bits on every target. Error within 1 ulp of
/// glibc's (tested); 0.5 ulp plus about 0.01 ulp from the table's and polynomial's roundings.
#[inline]
#[must_use]
pub fn exp(x: f64) -> f64 {
    /// Above `ln(f64::MAX)` the result overflows.
    const OVERFLOW: f64 = 709.782_712_893_384;
    /// Below `ln(2⁻¹⁰⁷⁵)` the result rounds to zero.
    const UNDERFLOW: f64 = -745.133_219_101_941_2;
    /// `128/ln 2`.
    const STEPS_PER_UNIT: f64 = 184.664_965_233_787_3;
    /// `ln2/128` in two parts: the head has 32 significant bits, so `k·head` is exact for
    /// `|k| < 2²¹` (here `|k| ≤ 137 602`).
    const STEP_HEAD: f64 = f64::from_bits(0x3f76_2e42_fee0_0000);
    const STEP_TAIL: f64 = f64::from_bits(0x3d7a_39ef_3579_3c76);
    /// Adding then subtracting `1.5·2⁵²` rounds to the nearest integer (ties to even).
    const ROUND: f64 = 6_755_399_441_055_744.0;
    if x.is_nan() {
        return x;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    if x < UNDERFLOW {
        return 0.0;
    }
    let k = (x * STEPS_PER_UNIT + ROUND) - ROUND;
    let r = (x - k * STEP_HEAD) - k * STEP_TAIL;
    let poly = r + r * r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0))));
    // k is an integer of magnitude below 2¹⁸: the conversion is exact.
    let k = k as i64;
    let (head, tail) = exp_table::TWO_TO_J_OVER_128[k.rem_euclid(128) as usize];
    let mantissa = head + (tail + head * poly);
    let m = k.div_euclid(128);
    // 2^e for a normal exponent e (−1022 ≤ e ≤ 1023), exactly.
    let two_to = |e: i64| f64::from_bits(((e + 1023) as u64) << 52);
    if m > 1020 {
        mantissa * two_to(m - 2) * 4.0
    } else if m < -1020 {
        mantissa * two_to(m + 1000) * two_to(-1000)
    } else {
        mantissa * two_to(m)
    }
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

    /// `exp` against glibc's (correctly rounded in all but rare cases) over a million arguments
    /// covering the whole range, subnormal results included: within 1 ulp everywhere and equal in
    /// more than 99 % of cases (measured: 0.3 % differ by 1 ulp); exact at the special values.
    #[test]
    fn exp_is_within_one_ulp_of_glibc_over_its_whole_range() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = || {
            // xorshift64*: a fixed, reproducible argument sequence.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut worst, mut differing, n) = (0, 0, 1_000_000);
        for i in 0..n {
            let x = match i % 4 {
                0 => -745.0 + 1455.0 * uniform(),
                1 => -2.0 + 4.0 * uniform(),
                2 => -1e-3 + 2e-3 * uniform(),
                _ => -745.13 + 37.0 * uniform(), // subnormal results
            };
            let (ours, platform) = (exp(x), x.exp());
            let d = ulps(ours, platform);
            assert!(
                d <= 1,
                "exp({x:e}): {ours:e} vs glibc {platform:e} ({d} ulp)"
            );
            worst = worst.max(d);
            differing += usize::from(d > 0);
        }
        assert!(differing < n / 100, "{differing} of {n} differ from glibc");
        let exact = |a: f64, b: f64| assert_eq!(a.to_bits(), b.to_bits(), "{a:e} vs {b:e}");
        exact(exp(0.0), 1.0);
        exact(exp(-0.0), 1.0);
        exact(exp(1.0), std::f64::consts::E);
        exact(exp(f64::INFINITY), f64::INFINITY);
        exact(exp(f64::NEG_INFINITY), 0.0);
        exact(exp(710.0), f64::INFINITY);
        exact(exp(-746.0), 0.0);
        exact(exp(709.78), 709.78_f64.exp());
        exact(exp(-745.1), (-745.1_f64).exp());
        exact(exp(1e-300), 1.0);
        assert!(exp(f64::NAN).is_nan());
        println!("exp: worst {worst} ulp, {differing} of {n} differ from glibc");
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
