//! A blocking HTTP/1.1 JSON-RPC client over one keep-alive connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::auth::base64_encode;

/// A transport failure, as opposed to an RPC error reply.
#[derive(Debug)]
pub enum ClientError {
    /// Could not connect (the server may not be up yet).
    Connect(String),
    /// The connection broke or the reply was not HTTP.
    Io(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Connect(s) | ClientError::Io(s) => f.write_str(s),
        }
    }
}

/// An HTTP reply: status and body.
#[derive(Debug)]
pub struct HttpResponse {
    /// HTTP status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// A connection to an RPC server.
pub struct RpcClient {
    host: String,
    port: u16,
    auth: String,
    timeout: Duration,
    conn: Option<BufReader<TcpStream>>,
}

impl RpcClient {
    /// A client for `host:port` with basic-auth credentials; connects lazily.
    pub fn new(host: &str, port: u16, user: &str, password: &str, timeout: Duration) -> Self {
        RpcClient {
            host: host.to_string(),
            port,
            auth: format!(
                "Basic {}",
                base64_encode(format!("{user}:{password}").as_bytes())
            ),
            timeout,
            conn: None,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, ClientError> {
        if self.conn.is_none() {
            let addr = (self.host.as_str(), self.port)
                .to_socket_addrs()
                .map_err(|e| ClientError::Connect(e.to_string()))?
                .next()
                .ok_or_else(|| ClientError::Connect(format!("cannot resolve {}", self.host)))?;
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .map_err(|e| ClientError::Connect(e.to_string()))?;
            s.set_read_timeout(Some(self.timeout))
                .map_err(|e| ClientError::Io(e.to_string()))?;
            s.set_nodelay(true)
                .map_err(|e| ClientError::Io(e.to_string()))?;
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("just connected"))
    }

    /// POSTs `body` to `path`, reconnecting once if a kept-alive connection was closed.
    pub fn post(&mut self, path: &str, body: &str) -> Result<HttpResponse, ClientError> {
        let reused = self.conn.is_some();
        match self.post_once(path, body) {
            Err(ClientError::Io(_)) if reused => {
                self.conn = None;
                self.post_once(path, body)
            }
            other => other,
        }
    }

    fn post_once(&mut self, path: &str, body: &str) -> Result<HttpResponse, ClientError> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            self.auth,
            body.len()
        );
        let io = |e: std::io::Error| ClientError::Io(e.to_string());
        let conn = self.connect()?;
        conn.get_mut().write_all(request.as_bytes()).map_err(io)?;
        let mut line = String::new();
        if conn.read_line(&mut line).map_err(io)? == 0 {
            self.conn = None;
            return Err(ClientError::Io("connection closed".into()));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ClientError::Io(format!("bad HTTP status line: {}", line.trim())))?;
        let (mut len, mut close) = (0usize, false);
        loop {
            line.clear();
            conn.read_line(&mut line).map_err(io)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "connection" => close = v.trim().eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; len];
        conn.read_exact(&mut body).map_err(io)?;
        if close {
            self.conn = None;
        }
        Ok(HttpResponse { status, body })
    }
}
