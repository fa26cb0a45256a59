//! Serde for `f64` fields that must survive a JSON round trip bit for bit (shards' per-replicate
//! results, merged by `twin merge`): finite values as JSON numbers (exact with serde_json's
//! `float_roundtrip`), NaN and ±∞ — which JSON numbers cannot hold — as the strings `"NaN"`,
//! `"inf"` and `"-inf"`.

use serde::{Deserialize, Deserializer, Serializer};

/// Use as `#[serde(with = "crate::exact_f64")]`.
pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        serializer.serialize_f64(*value)
    } else if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if *value > 0.0 {
        serializer.serialize_str("inf")
    } else {
        serializer.serialize_str("-inf")
    }
}

/// Use as `#[serde(with = "crate::exact_f64")]`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Finite(f64),
        Special(String),
    }
    match Number::deserialize(deserializer)? {
        Number::Finite(x) => Ok(x),
        Number::Special(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            other => Err(serde::de::Error::custom(format!(
                "expected a number, \"NaN\", \"inf\" or \"-inf\", found \"{other}\""
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct Holder(#[serde(with = "super")] f64);

    #[test]
    fn every_kind_of_value_round_trips_bit_for_bit() {
        for x in [
            0.1 + 0.2,
            -0.0,
            f64::MIN_POSITIVE / 3.0,
            f64::MAX,
            1.0 / 3.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let json = serde_json::to_string(&Holder(x)).unwrap();
            let back: Holder = serde_json::from_str(&json).unwrap();
            assert_eq!(back.0.to_bits(), x.to_bits(), "{json}");
        }
        let nan: Holder =
            serde_json::from_str(&serde_json::to_string(&Holder(f64::NAN)).unwrap()).unwrap();
        assert!(nan.0.is_nan());
        let bad = serde_json::from_str::<Holder>("\"infinity\"").unwrap_err();
        assert!(bad.to_string().contains("\"infinity\""), "{bad}");
    }
}
