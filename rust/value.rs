//! The owned JSON value used for everything the chunk scanner does not fold into a typed
//! accumulator (unknown keys, usage, logprobs entries) and for the assembled completion.
//!
//! Numbers keep their JSON text: integers of any size and floats round-trip exactly, and the
//! Python binding decides how to build them.

use indexmap::IndexMap;

pub type Map = IndexMap<String, Value>;

#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// The number's JSON text, already validated against the JSON grammar.
    Number(Box<str>),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// True for a number whose value is zero (`0`, `-0`, `0.0`, `0e5`, ...).
    pub fn is_zero_number(&self) -> bool {
        match self {
            Value::Number(text) => text
                .bytes()
                .take_while(|b| !matches!(b, b'e' | b'E'))
                .all(|b| matches!(b, b'0' | b'-' | b'+' | b'.')),
            _ => false,
        }
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn int(n: i64) -> Value {
        Value::Number(n.to_string().into_boxed_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_numbers_are_recognised() {
        for zero in ["0", "-0", "0.0", "0e5", "0.000E-3"] {
            assert!(Value::Number(zero.into()).is_zero_number(), "{zero}");
        }
        for nonzero in ["1", "0.1", "10", "-3e0", "100e-2"] {
            assert!(!Value::Number(nonzero.into()).is_zero_number(), "{nonzero}");
        }
        assert!(!Value::Null.is_zero_number());
    }
}
