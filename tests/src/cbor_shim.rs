//! A test-only translator for `moto_server`, which does not speak the Smithy RPC v2 CBOR
//! protocol `aws-sdk-cloudwatch` uses: CBOR requests become CloudWatch JSON 1.0 calls to moto,
//! and moto's JSON answers are CBOR-encoded back (timestamps as CBOR tag 1). Point the SDK at
//! it with `AWS_ENDPOINT_URL_CLOUDWATCH`. One request per connection; stopped when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ebb_local::cloudwatch::cbor;

pub struct CborShim {
    pub url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl CborShim {
    /// Forwards to the moto_server at `moto_url` (`http://127.0.0.1:PORT`).
    pub fn start(moto_url: &str) -> CborShim {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the CBOR shim");
        let port = listener.local_addr().expect("shim address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let moto = moto_url.trim_start_matches("http://").to_string();
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let moto = moto.clone();
                    std::thread::spawn(move || {
                        if let Err(e) = relay(conn, &moto) {
                            eprintln!("cbor shim: {e}");
                        }
                    });
                }
            }
        });
        CborShim {
            url: format!("http://127.0.0.1:{port}"),
            stop,
            port,
        }
    }
}

impl Drop for CborShim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// An HTTP message: start line, lower-cased headers, body.
type Message = (String, Vec<(String, String)>, Vec<u8>);

/// Reads an HTTP head and its Content-Length body.
fn read_message(reader: &mut impl BufRead) -> std::io::Result<Message> {
    let mut start = String::new();
    reader.read_line(&mut start)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok());
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    Ok((start.trim().to_string(), headers, body))
}

fn relay(conn: TcpStream, moto: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let (start, headers, body) = read_message(&mut reader)?;
    let operation = start
        .split_whitespace()
        .nth(1)
        .and_then(|path| path.rsplit_once("/operation/"))
        .map(|(_, op)| op.to_string())
        .unwrap_or_default();
    let json = cbor::decode(&body)
        .map_err(std::io::Error::other)?
        .to_string();
    let authorization = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut upstream = TcpStream::connect(moto)?;
    write!(
        upstream,
        "POST / HTTP/1.0\r\nHost: {moto}\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: GraniteServiceVersion20100801.{operation}\r\nAuthorization: {authorization}\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )?;
    let (status_line, _, answer) = read_message(&mut BufReader::new(upstream))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("500")
        .to_string();
    let value: serde_json::Value = if answer.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_slice(&answer).map_err(std::io::Error::other)?
    };
    let encoded = cbor::encode(&value);
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {status} Shim\r\nContent-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        encoded.len()
    )?;
    out.write_all(&encoded)?;
    out.flush()
}
