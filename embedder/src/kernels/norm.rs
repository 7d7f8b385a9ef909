//! Layer norm fused with the residual add that always precedes it in BERT.

use super::multiversion;

multiversion! {
    /// For each row r of width `h`: `out[r] = layer_norm(x[r])` with scale `w`, shift `b`.
    /// Two passes (mean, then variance of the centred values) for stability at f32.
    pub fn layer_norm_rows(x: &[f32], out: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
        let h = w.len();
        for (row, dst) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
            let mean = lane_sum(row, |v| v) / h as f32;
            let var = lane_sum(row, |v| (v - mean) * (v - mean)) / h as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for i in 0..h {
                dst[i] = ((row[i] - mean) * inv).mul_add(w[i], b[i]);
            }
        }
    }
}

/// Sum of f(v) over a row with eight independent accumulators, so it vectorises.
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = row.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f32>()
}

multiversion! {
    /// `rows[r] = src[r] + bias` for each row of width `bias.len()`: prefills a matmul's
    /// output so that the matmul accumulates on top and bias/residual cost no extra pass.
    pub fn fill_rows_plus_bias(rows: &mut [f32], src: &[f32], bias: &[f32]) {
        let h = bias.len();
        for (dst, s) in rows.chunks_exact_mut(h).zip(src.chunks_exact(h)) {
            for i in 0..h {
                dst[i] = s[i] + bias[i];
            }
        }
    }
}

/// `rows[r] = bias` for each row.
pub fn fill_rows_with_bias(rows: &mut [f32], bias: &[f32]) {
    for dst in rows.chunks_exact_mut(bias.len()) {
        dst.copy_from_slice(bias);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_centres_and_scales() {
        let x: Vec<f32> = (0..24).map(|i| (i * i) as f32 * 0.1).collect();
        let mut out = vec![0f32; 24];
        layer_norm_rows(&x, &mut out, &[1.0; 12], &[0.0; 12], 1e-12);
        for row in out.chunks(12) {
            let mean: f32 = row.iter().sum::<f32>() / 12.0;
            let var: f32 = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 12.0;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "mean {mean} var {var}");
        }
    }
}
