//! Branch-free scalar approximations of exp and erf that vectorise, and the activations
//! built on them. Accuracy is at f32 rounding level (relative error below 2e-7 for exp,
//! absolute below 2e-7 for erf), far inside the 0.9999 cosine the parity tests demand.

use super::multiversion;

/// e^x for x in f32 range, via 2^n · p(r) with r in [-ln2/2, ln2/2].
///
/// n is rounded by adding 1.5·2²³ (the sum's low mantissa bits then hold n) rather than
/// with `round` and `as i32`: Rust's saturating float-to-int cast does not vectorise, and
/// with it this function ran lane by lane, ~9 cycles an element, making GELU and softmax
/// a third of the bf16 path's time.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const SHIFTER: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x.mul_add(std::f32::consts::LOG2_E, SHIFTER);
    let n = t - SHIFTER;
    // Cody-Waite split of ln 2 keeps r exact.
    let r = n.mul_add(-0.693_145_75, x);
    let r = n.mul_add(-1.428_606_8e-6, r);
    let p = 1.987_569_1e-4f32;
    let p = p.mul_add(r, 1.398_199_9e-3);
    let p = p.mul_add(r, 8.333_452e-3);
    let p = p.mul_add(r, 4.166_579_6e-2);
    let p = p.mul_add(r, 0.166_666_66);
    let p = p.mul_add(r, 0.5);
    let p = p.mul_add(r * r, r) + 1.0;
    // n ∈ [-126, 127] after the clamp, so the biased exponent is a normal one.
    let scale = f32::from_bits(t.to_bits().wrapping_sub(SHIFTER.to_bits()).wrapping_add(127) << 23);
    p * scale
}

/// erf(x): the Maclaurin series below |x| = 0.6 (where A&S loses bits to cancellation),
/// Abramowitz & Stegun 7.1.26 above; both are computed and one is selected, so the loop
/// stays branch-free and vectorises. Max abs error ≈ 2e-7.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    // erf(4) rounds to 1 in f32; clamping there also keeps exp(-a²) out of the subnormal
    // range, where Intel CPUs take microcode assists (not measurable here: GELU's cost was
    // the scalar cast fixed in `exp`, but nothing is lost by the clamp).
    let a = x.abs().min(4.0);
    let t = 1.0 / 0.327_591_1f32.mul_add(a, 1.0);
    let y = 1.061_405_4f32.mul_add(t, -1.453_152_1);
    let y = y.mul_add(t, 1.421_413_8);
    let y = y.mul_add(t, -0.284_496_74);
    let y = y.mul_add(t, 0.254_829_6);
    let far = 1.0 - y * t * exp(-a * a);
    // 2/√π · (x − x³/3 + x⁵/10 − x⁷/42 + x⁹/216 − x¹¹/1320 + x¹³/9360)
    let z = a * a;
    let p = (1.0f32 / 9360.0).mul_add(z, -1.0 / 1320.0);
    let p = p.mul_add(z, 1.0 / 216.0);
    let p = p.mul_add(z, -1.0 / 42.0);
    let p = p.mul_add(z, 0.1);
    let p = p.mul_add(z, -1.0 / 3.0);
    let p = p.mul_add(z, 1.0);
    let near = std::f32::consts::FRAC_2_SQRT_PI * a * p;
    let r = if a < 0.6 { near } else { far };
    r.copysign(x)
}

/// tanh via exp, for the tanh-approximated GELU some configs ask for.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

multiversion! {
    /// GELU, exact (erf) form, in place: 0.5·x·(1 + erf(x/√2)).
    pub fn gelu_erf_inplace(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            let v = *x;
            *x = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

multiversion! {
    /// GELU, tanh approximation, in place.
    pub fn gelu_tanh_inplace(xs: &mut [f32]) {
        const C: f32 = 0.797_884_6; // sqrt(2/pi)
        for x in xs.iter_mut() {
            let v = *x;
            *x = 0.5 * v * (1.0 + tanh(C * (0.044_715 * v * v).mul_add(v, v)));
        }
    }
}

multiversion! {
    /// ReLU in place.
    pub fn relu_inplace(xs: &mut [f32]) {
        for x in xs.iter_mut() {
            *x = x.max(0.0);
        }
    }
}

/// `e^d` for `d = score − max ≤ 0`, flushed to 0 below e^-50: such a term is under f32's
/// resolution next to the max term (which is 1), and left in, it and its products in the
/// P·V matmul can fall into the subnormal range, where Intel CPUs take microcode assists.
/// (A precaution: no time was measured to go there on the fixture or the bench corpus.)
#[inline(always)]
fn softmax_term(d: f32) -> f32 {
    if d < -50.0 {
        0.0
    } else {
        exp(d)
    }
}

multiversion! {
    /// Softmax of one row in place (max-subtracted, so it cannot overflow).
    ///
    /// Four simple passes (max, exp, sum, scale), each a loop the compiler vectorises
    /// fully: fused into one loop with lane arrays, it was compiled lane by lane.
    pub fn softmax_inplace(row: &mut [f32]) {
        const L: usize = 16;
        let mut m = [f32::NEG_INFINITY; L];
        let mut chunks = row.chunks_exact(L);
        for c in &mut chunks {
            for i in 0..L {
                m[i] = if c[i] > m[i] { c[i] } else { m[i] };
            }
        }
        let max = chunks.remainder().iter().chain(&m).fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
        for v in row.iter_mut() {
            *v = softmax_term(*v - max);
        }
        let mut s = [0f32; L];
        let mut chunks = row.chunks_exact(L);
        for c in &mut chunks {
            for i in 0..L {
                s[i] += c[i];
            }
        }
        let sum: f32 = chunks.remainder().iter().chain(&s).sum();
        let inv = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf_f64(x: f64) -> f64 {
        // Series for |x| < 3, asymptotic tail otherwise: a slow, independent reference.
        if x.abs() > 5.0 {
            return x.signum();
        }
        let mut sum = 0.0;
        let mut term = x;
        let mut n = 0.0;
        while term.abs() > 1e-17 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn exp_matches_std_to_f32_precision() {
        let mut x = -80.0f32;
        while x < 80.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(((got - want) / want).abs() < 3e-7, "exp({x}) = {got}, want {want}");
            x += 0.0137;
        }
    }

    #[test]
    fn erf_matches_series() {
        let mut x = -6.0f32;
        while x < 6.0 {
            let (got, want) = (erf(x), erf_f64(x as f64) as f32);
            assert!((got - want).abs() < 3e-7, "erf({x}) = {got}, want {want}");
            x += 0.0071;
        }
    }

    #[test]
    fn softmax_sums_to_one_and_survives_large_inputs() {
        let mut row: Vec<f32> = (0..37).map(|i| i as f32 * 50.0).collect();
        softmax_inplace(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(row.iter().all(|v| v.is_finite()));
    }
}
