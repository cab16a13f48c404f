//! JSON-RPC errors with Bitcoin Core's codes.

use serde_json::{json, Value};

/// Core's error codes (`src/rpc/protocol.h`).
pub mod code {
    /// Standard JSON-RPC: invalid request object.
    pub const INVALID_REQUEST: i32 = -32600;
    /// Standard JSON-RPC: method not found.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Standard JSON-RPC: invalid parameters.
    pub const INVALID_PARAMS: i32 = -32602;
    /// Standard JSON-RPC: parse error.
    pub const PARSE_ERROR: i32 = -32700;
    /// Miscellaneous error (and wrong argument count, with the help text).
    pub const MISC_ERROR: i32 = -1;
    /// Unexpected type of a parameter.
    pub const TYPE_ERROR: i32 = -3;
    /// Invalid address or key (also "Block not found").
    pub const INVALID_ADDRESS_OR_KEY: i32 = -5;
    /// Invalid, missing or duplicate parameter.
    pub const INVALID_PARAMETER: i32 = -8;
    /// Error parsing or validating a structure in raw format.
    pub const DESERIALIZATION_ERROR: i32 = -22;
    /// General error during transaction or block submission (also `RPC_TRANSACTION_ERROR`).
    pub const VERIFY_ERROR: i32 = -25;
    /// Transaction or block rejected by network rules (`RPC_TRANSACTION_REJECTED`).
    pub const VERIFY_REJECTED: i32 = -26;
    /// Transaction already in the UTXO set (`RPC_TRANSACTION_ALREADY_IN_CHAIN`).
    pub const VERIFY_ALREADY_IN_UTXO_SET: i32 = -27;
    /// Client still warming up.
    pub const IN_WARMUP: i32 = -28;
}

/// An error returned to an RPC caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    /// Core's error code.
    pub code: i32,
    /// Human-readable message, matching Core's text.
    pub message: String,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
        }
    }

    /// `-8` Invalid parameter.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMETER, message)
    }

    /// `-1` Miscellaneous error.
    pub fn misc(message: impl Into<String>) -> Self {
        Self::new(code::MISC_ERROR, message)
    }

    /// `-3` type error for a JSON value of the wrong type.
    pub fn type_error(got: &Value, expected: &str) -> Self {
        Self::new(
            code::TYPE_ERROR,
            format!(
                "JSON value of type {} is not of expected type {expected}",
                json_type_name(got)
            ),
        )
    }

    /// The JSON error object `{"code": .., "message": ..}`.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "message": self.message})
    }
}

/// Core's names for JSON types in type errors.
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for RpcError {}
