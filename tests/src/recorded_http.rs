//! A loopback HTTP server that answers GETs from recorded answers (e.g. the Hugging Face Hub's
//! model info), counting the requests it gets. One request per connection; stopped when dropped.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One recorded answer: `path` answers `body` with 200, or 401 unless the request carries
/// `Authorization: Bearer <token>` when `token` is set.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub body: String,
    pub token: Option<String>,
}

pub struct RecordedHttp {
    pub url: String,
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    authorizations: Arc<Mutex<Vec<Option<String>>>>,
}

impl RecordedHttp {
    /// Serves `answers` on a free loopback port; any other path is a 404.
    pub fn start(answers: Vec<Recorded>) -> RecordedHttp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the recorded server");
        let port = listener
            .local_addr()
            .expect("recorded server address")
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let authorizations = Arc::new(Mutex::new(Vec::new()));
        let (stopping, counted, seen) = (stop.clone(), requests.clone(), authorizations.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                counted.fetch_add(1, Ordering::SeqCst);
                if let Err(e) = answer(conn, &answers, &seen) {
                    eprintln!("recorded server: {e}");
                }
            }
        });
        RecordedHttp {
            url: format!("http://127.0.0.1:{port}"),
            port,
            stop,
            requests,
            authorizations,
        }
    }

    /// How many requests arrived so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The `Authorization` header of each request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.authorizations
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }
}

impl Drop for RecordedHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(
    conn: TcpStream,
    answers: &[Recorded],
    seen: &Mutex<Vec<Option<String>>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut start = String::new();
    reader.read_line(&mut start)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("authorization")
        {
            authorization = Some(v.trim().to_string());
        }
    }
    if let Ok(mut s) = seen.lock() {
        s.push(authorization.clone());
    }
    let path = start.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match answers.iter().find(|a| a.path == path) {
        None => ("404 Not Found", r#"{"error":"Repository not found"}"#.to_string()),
        Some(a) => match &a.token {
            Some(t) if authorization.as_deref() != Some(format!("Bearer {t}").as_str()) => (
                "401 Unauthorized",
                r#"{"error":"Access to this model is restricted. You must be authenticated to access it."}"#
                    .to_string(),
            ),
            _ => ("200 OK", a.body.clone()),
        },
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}
