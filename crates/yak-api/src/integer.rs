//! JSON integers as JSON Schema counts them: `342` and `342.0` are the same integer (the OpenAPI
//! document says `"type": "integer"`, which admits both), while `342.5` is not one. serde's own
//! integer parsing refuses `342.0`, so integer fields of request bodies read through these.

use serde::de::{Error, Unexpected};
use serde::{Deserialize, Deserializer};

/// The integer a JSON number stands for, if it is one that fits an `i64`.
fn to_i64<E: Error>(number: &serde_json::Number) -> Result<i64, E> {
    if let Some(integer) = number.as_i64() {
        return Ok(integer);
    }
    if let Some(unsigned) = number.as_u64() {
        return Err(E::invalid_value(
            Unexpected::Unsigned(unsigned),
            &"an integer of at most 64 bits",
        ));
    }
    let float = number.as_f64().unwrap_or(f64::NAN);
    // 2^63 is the first float past i64::MAX; every integral float below it (and from -2^63) fits.
    let fits = (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&float);
    if float.fract() == 0.0 && fits {
        Ok(float as i64)
    } else {
        Err(E::invalid_value(Unexpected::Float(float), &"an integer"))
    }
}

/// An optional `i64` that may be written as an integral number such as `3.0`.
pub fn option_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(|number| to_i64(&number))
        .transpose()
}

/// An optional `i32` that may be written as an integral number such as `3.0`.
pub fn option_i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    option_i64(deserializer)?
        .map(|integer| {
            i32::try_from(integer).map_err(|_| {
                D::Error::invalid_value(Unexpected::Signed(integer), &"an integer of 32 bits")
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::option_i32")]
        small: Option<i32>,
        #[serde(default, deserialize_with = "super::option_i64")]
        large: Option<i64>,
    }

    fn parse(text: &str) -> Result<Body, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// `342.0` is the integer 342, as JSON Schema says; `342.5` and out-of-range values are not.
    #[test]
    fn integral_floats_are_integers() {
        let body = parse(r#"{"small": 342.0, "large": -1e3}"#).unwrap();
        assert_eq!((body.small, body.large), (Some(342), Some(-1000)));
        let body = parse(r#"{"small": null}"#).unwrap();
        assert_eq!((body.small, body.large), (None, None));
        assert!(parse(r#"{"small": 342.5}"#).is_err());
        assert!(parse(r#"{"small": 3e9}"#).is_err());
        assert!(parse(r#"{"large": 1e19}"#).is_err());
        assert!(parse(r#"{"large": 18446744073709551615}"#).is_err());
        assert!(parse(r#"{"small": "1"}"#).is_err());
    }
}
