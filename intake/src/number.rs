//! JSON numbers as JSON Schema reads them. The API's documents say `"type": "integer"`,
//! and to JSON Schema (and so to every generated client and validator) `10.0` is an
//! integer: a number with no fraction. serde's integer types refuse it, so a request the
//! document calls valid would be refused. Numbers with a fraction, negative ones and ones
//! too large for the field are still refused, never rounded, wrapped or saturated.

use std::marker::PhantomData;

use serde::de::{Deserializer, Error, Visitor};

/// Deserializes a whole, non-negative number, written `10` or `10.0`, into `T`.
pub fn whole<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(Whole(PhantomData))
}

/// [`whole`] for an optional field: `null` is `None`.
pub fn whole_opt<'de, D: Deserializer<'de>, T: TryFrom<u64>>(d: D) -> Result<Option<T>, D::Error> {
    d.deserialize_option(Opt(PhantomData))
}

struct Whole<T>(PhantomData<T>);

impl<T: TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a whole, non-negative number")
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is too large")))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))?;
        self.visit_u64(v)
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<T, E> {
        // 2^53: beyond it a float no longer holds every whole number exactly.
        if v.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&v) {
            self.visit_u64(v as u64)
        } else {
            Err(E::custom(format!("{v} is not a whole, non-negative number")))
        }
    }
}

struct Opt<T>(PhantomData<T>);

impl<'de, T: TryFrom<u64>> Visitor<'de> for Opt<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a whole, non-negative number or null")
    }
    fn visit_none<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_unit<E: Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        whole(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct K {
        #[serde(deserialize_with = "super::whole")]
        k: usize,
        #[serde(default, deserialize_with = "super::whole_opt")]
        n: Option<u32>,
    }

    fn k(json: &str) -> Result<(usize, Option<u32>), String> {
        serde_json::from_str::<K>(json).map(|v| (v.k, v.n)).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_read_however_they_are_written_and_nothing_else_is() {
        assert_eq!(k(r#"{"k": 35}"#), Ok((35, None)));
        assert_eq!(k(r#"{"k": 35.0, "n": 7.0}"#), Ok((35, Some(7))));
        assert_eq!(k(r#"{"k": 3.5e1, "n": null}"#), Ok((35, None)));
        for bad in [r#"{"k": 35.5}"#, r#"{"k": -1}"#, r#"{"k": -1.0}"#, r#"{"k": 1e300}"#, r#"{"k": "35"}"#, r#"{"k": null}"#, r#"{"k": 1, "n": 4294967296}"#, r#"{"k": 1, "n": 1.5}"#] {
            assert!(k(bad).is_err(), "{bad}");
        }
    }
}
