//! Integers as JSON Schema counts them: `1604.0` is the integer 1604 (an `integer` is any
//! number with a zero fractional part), so a client or fuzzer that writes it so is not
//! refused. serde's own integer parsing takes only `1604`. Also reads query strings
//! (`?limit=20.0`), where every value arrives as text.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, Visitor};

/// `#[serde(default, deserialize_with = "conversations_web::integer::optional")]`.
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i128>,
{
    deserializer.deserialize_any(IntegerVisitor(PhantomData))
}

struct IntegerVisitor<T>(PhantomData<T>);

impl<T: TryFrom<i128>> IntegerVisitor<T> {
    fn fit<E: de::Error>(n: i128) -> Result<Option<T>, E> {
        T::try_from(n)
            .map(Some)
            .map_err(|_| E::custom(format!("{n} is out of range")))
    }
}

impl<'de, T: TryFrom<i128>> Visitor<'de> for IntegerVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Self::fit(i128::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Self::fit(i128::from(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
        // Integral and within i64/u64 range (2^64 is exact as an f64).
        if n.fract() == 0.0 && n.abs() < 18_446_744_073_709_551_616.0 {
            #[allow(clippy::cast_possible_truncation)]
            return Self::fit(n as i128);
        }
        Err(E::custom(format!("{n} is not an integer")))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        let s = s.trim();
        if let Ok(n) = s.parse::<i128>() {
            return Self::fit(n);
        }
        match s.parse::<f64>() {
            Ok(n) if n.is_finite() => self.visit_f64(n),
            _ => Err(E::custom(format!("`{s}` is not an integer"))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "super::optional")]
        n: Option<u8>,
    }

    fn json(s: &str) -> Result<Option<u8>, serde_json::Error> {
        serde_json::from_str::<Q>(s).map(|q| q.n)
    }

    #[test]
    fn integral_numbers_in_any_notation_are_integers() {
        assert_eq!(json(r#"{"n": 7}"#).unwrap(), Some(7));
        assert_eq!(json(r#"{"n": 7.0}"#).unwrap(), Some(7));
        assert_eq!(json(r#"{"n": 7e0}"#).unwrap(), Some(7));
        assert_eq!(json(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(json("{}").unwrap(), None);
        assert!(json(r#"{"n": 7.5}"#).is_err());
        assert!(json(r#"{"n": 256}"#).is_err());
        assert!(json(r#"{"n": -1}"#).is_err());
        assert!(json(r#"{"n": "x"}"#).is_err());
        assert!(json(r#"{"n": 1e300}"#).is_err());
    }

    #[test]
    fn query_strings_are_read_as_integers_too() {
        let q: Q = serde_urlencoded::from_str("n=12.0").unwrap();
        assert_eq!(q.n, Some(12));
        assert!(serde_urlencoded::from_str::<Q>("n=abc").is_err());
    }
}
