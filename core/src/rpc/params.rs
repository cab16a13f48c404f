//! Typed access to positional parameters, with Core's type errors.

use bitcoin::BlockHash;
use serde_json::Value;

use super::error::{code, RpcError};

/// The parameters of one call, already mapped from names to positions.
pub struct Params<'a>(pub &'a [Value]);

impl<'a> Params<'a> {
    /// Parameter `i`, or `None` when absent or null.
    pub fn get(&self, i: usize) -> Option<&'a Value> {
        self.0.get(i).filter(|v| !v.is_null())
    }

    /// A required parameter (the dispatcher already checked presence).
    pub fn required(&self, i: usize) -> Result<&'a Value, RpcError> {
        self.get(i)
            .ok_or_else(|| RpcError::invalid_parameter(format!("Missing required parameter {i}")))
    }

    /// A string parameter.
    pub fn str(&self, i: usize) -> Result<Option<&'a str>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(RpcError::type_error(v, "string")),
        }
    }

    /// A required string parameter.
    pub fn req_str(&self, i: usize) -> Result<&'a str, RpcError> {
        match self.required(i)? {
            Value::String(s) => Ok(s),
            v => Err(RpcError::type_error(v, "string")),
        }
    }

    /// An integer parameter (Core's `getInt`).
    pub fn int(&self, i: usize) -> Result<Option<i64>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => match n.as_i64() {
                Some(x) => Ok(Some(x)),
                None => Err(RpcError::new(
                    code::TYPE_ERROR,
                    format!("JSON integer out of range or not an integer: {v}"),
                )),
            },
            Some(v) => Err(RpcError::type_error(v, "number")),
        }
    }

    /// A boolean parameter.
    pub fn bool(&self, i: usize) -> Result<Option<bool>, RpcError> {
        match self.get(i) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(RpcError::type_error(v, "bool")),
        }
    }

    /// A block hash parameter (64 hex digits), with Core's messages.
    pub fn block_hash(&self, i: usize, name: &str) -> Result<BlockHash, RpcError> {
        let s = self.req_str(i)?;
        parse_hash(s, name)
    }
}

/// Parses a 64-hex-digit hash the way Core's `ParseHashV` reports errors.
pub fn parse_hash<H: std::str::FromStr>(s: &str, name: &str) -> Result<H, RpcError> {
    if s.len() != 64 {
        return Err(RpcError::invalid_parameter(format!(
            "{name} must be of length 64 (not {}, for '{s}')",
            s.len()
        )));
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RpcError::invalid_parameter(format!(
            "{name} must be hexadecimal string (not '{s}')"
        )));
    }
    s.parse().map_err(|_| {
        RpcError::invalid_parameter(format!("{name} must be hexadecimal string (not '{s}')"))
    })
}

/// Decodes a hex string parameter into bytes.
pub fn parse_hex(s: &str, name: &str) -> Result<Vec<u8>, RpcError> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RpcError::invalid_parameter(format!(
            "{name} must be hexadecimal string (not '{s}')"
        )));
    }
    Ok((0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("checked hex"))
        .collect())
}
