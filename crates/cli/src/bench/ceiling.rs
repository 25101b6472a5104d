//! The local cloud's own ceiling for InvokeEndpointAsync: the simplest client that can exist.
//! Every request is signed ahead of time (SigV4, by the AWS SDK's signer) into the bytes of an
//! HTTP/1.1 request, then sent over raw keep-alive TCP connections, one request at a time on
//! each, with no SDK, no parsing beyond the response's length. What this client reaches is what
//! the server allows; Ebb is compared with it.

use std::time::{Instant, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Ceiling {
    pub connections: usize,
    /// Requests answered 200 per second, from the first byte sent to the last answer read.
    pub rps: f64,
    /// Each connection's last OutputLocation, to wait for the endpoint to drain.
    pub last_outputs: Vec<String>,
}

/// `host:port` of an `http://host:port` URL.
fn authority(url: &str) -> Result<&str, String> {
    url.strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .ok_or_else(|| format!("the local cloud's URL {url} is not http://host:port"))
}

/// One InvokeEndpointAsync request with an inline body, signed now, as the bytes to send.
fn signed_request(
    (host, endpoint): (&str, &str),
    (key, secret): (&str, &str),
    i: usize,
    body: &[u8],
) -> Result<Vec<u8>, String> {
    let path = format!("/endpoints/{endpoint}/async-invocations");
    let filename = format!("{i}.out");
    let headers = [
        ("host", host),
        ("content-type", "application/json"),
        ("x-amzn-sagemaker-content-type", "application/json"),
        ("x-amzn-sagemaker-accept", "application/json"),
        ("x-amzn-sagemaker-s3outputpathextension", "ceiling"),
        ("x-amzn-sagemaker-filename", filename.as_str()),
    ];
    let identity = aws_credential_types::Credentials::new(key, secret, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sagemaker")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let url = format!("http://{host}{path}");
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut head = format!("POST {path} HTTP/1.1\r\n");
    for (name, value) in headers.iter().copied().chain(instructions.headers()) {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    Ok(bytes)
}

/// One response as this client reads it.
struct Answer {
    status: u16,
    /// `x-amzn-sagemaker-outputlocation`, where InvokeEndpointAsync says the output goes.
    output: Option<String>,
    body: Vec<u8>,
}

/// Reads one response: its status, output location and body (by `content-length`).
async fn read_response(r: &mut BufReader<TcpStream>) -> Result<Answer, String> {
    let mut line = String::new();
    r.read_line(&mut line).await.map_err(|e| e.to_string())?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {line:?}"))?;
    let (mut length, mut output) = (0usize, None);
    loop {
        line.clear();
        r.read_line(&mut line).await.map_err(|e| e.to_string())?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().map_err(|_| format!("bad length {value}"))?;
        } else if name.eq_ignore_ascii_case("x-amzn-sagemaker-outputlocation") {
            output = Some(value.to_string());
        }
    }
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        output,
        body,
    })
}

/// Sends `requests` in order over one connection; returns the last output location.
async fn connection(host: String, requests: Vec<Vec<u8>>) -> Result<Option<String>, String> {
    let stream = TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stream = BufReader::new(stream);
    let mut last = None;
    for request in requests {
        stream
            .get_mut()
            .write_all(&request)
            .await
            .map_err(|e| e.to_string())?;
        let answer = read_response(&mut stream).await?;
        // InvokeEndpointAsync answers 202 Accepted.
        if !(200..300).contains(&answer.status) {
            return Err(format!(
                "the local cloud answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        last = answer.output;
    }
    Ok(last)
}

/// Signs one request per body, then sends them all over `connections` connections.
pub async fn measure(
    url: &str,
    keys: (&str, &str),
    bodies: &[Vec<u8>],
    connections: usize,
) -> Result<Ceiling, String> {
    let host = authority(url)?;
    let connections = connections.clamp(1, bodies.len().max(1));
    let mut per_connection: Vec<Vec<Vec<u8>>> = vec![Vec::new(); connections];
    for (i, body) in bodies.iter().enumerate() {
        per_connection[i % connections].push(signed_request((host, "bench"), keys, i, body)?);
    }
    let started = Instant::now();
    let tasks: Vec<_> = per_connection
        .into_iter()
        .map(|requests| tokio::spawn(connection(host.to_string(), requests)))
        .collect();
    let mut last_outputs = Vec::new();
    for task in tasks {
        last_outputs.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(Ceiling {
        connections,
        rps: bodies.len() as f64 / started.elapsed().as_secs_f64(),
        last_outputs,
    })
}
