//! Smithy RPC v2 CBOR, the protocol `aws-sdk-cloudwatch` speaks, mapped to and from the JSON
//! shapes of awsJson1_0 so that one handler serves both.

use ciborium::value::Value as Cbor;
use serde_json::{Number, Value};

/// CBOR's epoch-seconds tag, which Smithy uses for every timestamp.
const EPOCH_TAG: u64 = 1;

/// Members that are doubles in CloudWatch's model; the SDK refuses integers there.
const DOUBLES: &[&str] = &[
    "Threshold",
    "Value",
    "Values",
    "Sum",
    "Average",
    "Minimum",
    "Maximum",
    "SampleCount",
];

pub fn decode(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    let value: Cbor = ciborium::de::from_reader(body).map_err(|e| e.to_string())?;
    to_json(value)
}

fn to_json(value: Cbor) -> Result<Value, String> {
    Ok(match value {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            i64::try_from(i)
                .map(Value::from)
                .map_err(|_| format!("integer {i} is out of range"))?
        }
        Cbor::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        // Timestamps become epoch seconds, as awsJson sends them.
        Cbor::Tag(_, inner) => to_json(*inner)?,
        Cbor::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Cbor::Map(entries) => {
            let mut out = serde_json::Map::new();
            for (k, v) in entries {
                let Cbor::Text(key) = k else {
                    return Err("map keys must be text".into());
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        _ => return Err("unsupported CBOR value".into()),
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    Timestamp,
    Double,
}

fn kind_of(key: &str) -> Kind {
    if key.ends_with("Timestamp") || key == "Timestamps" {
        Kind::Timestamp
    } else if DOUBLES.contains(&key) {
        Kind::Double
    } else {
        Kind::Plain
    }
}

pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::ser::into_writer(&to_cbor(value, Kind::Plain), &mut out);
    out
}

fn to_cbor(value: &Value, kind: Kind) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Number(n) => {
            let number = match (kind, n.as_i64()) {
                (Kind::Plain, Some(i)) => Cbor::Integer(i.into()),
                _ => Cbor::Float(n.as_f64().unwrap_or(0.0)),
            };
            if kind == Kind::Timestamp {
                Cbor::Tag(EPOCH_TAG, Box::new(number))
            } else {
                number
            }
        }
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Array(items) => Cbor::Array(items.iter().map(|v| to_cbor(v, kind)).collect()),
        Value::Object(map) => Cbor::Map(
            map.iter()
                .map(|(k, v)| (Cbor::Text(k.clone()), to_cbor(v, kind_of(k))))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_and_doubles_take_the_types_the_sdk_expects() {
        let encoded = encode(&json!({
            "MetricAlarms": [{ "Threshold": 5, "Period": 60, "StateUpdatedTimestamp": 1700000000 }],
            "Timestamps": [1700000060.5],
        }));
        let value: Cbor = ciborium::de::from_reader(&encoded[..]).unwrap();
        let text = format!("{value:?}");
        assert!(text.contains("Float(5.0)"), "{text}");
        assert!(text.contains("Integer(Integer(60))"), "{text}");
        assert!(text.contains("Tag(1, Float(1700000000.0))"), "{text}");
        assert!(text.contains("Tag(1, Float(1700000060.5))"), "{text}");
        // And back: tags drop to epoch seconds.
        let back = decode(&encoded).unwrap();
        assert_eq!(
            back["MetricAlarms"][0]["StateUpdatedTimestamp"],
            json!(1700000000.0)
        );
        assert_eq!(back["MetricAlarms"][0]["Period"], json!(60));
    }

    #[test]
    fn an_empty_body_is_an_empty_input_and_garbage_is_an_error() {
        assert_eq!(decode(b"").unwrap(), json!({}));
        assert!(decode(&[0xff, 0x00]).is_err());
    }
}
