//! The HTTP server: accepts on loopback, checks the signature, routes by protocol.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::protocol::{self, Body, Protocol};
use crate::{Config, ConnectionInfo, Credentials, Error, sigv4, sts};

/// Requests other than S3 uploads are small; refuse anything larger than this.
const MAX_BODY: usize = 64 * 1024 * 1024;

struct State {
    credentials: Credentials,
}

/// A running local cloud; stops when `stop` is called or the handle is dropped.
pub struct LocalCloud {
    info: ConnectionInfo,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl LocalCloud {
    pub async fn start(config: Config) -> Result<LocalCloud, Error> {
        if !config.addr.ip().is_loopback() {
            return Err(Error::NotLoopback(config.addr));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        let info = ConnectionInfo {
            endpoint_url: format!("http://{addr}"),
            region: crate::REGION.to_string(),
            access_key_id: config.credentials.access_key_id.clone(),
            secret_access_key: config.credentials.secret_access_key.clone(),
        };
        let state = Arc::new(State {
            credentials: config.credentials,
        });
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state, stopped));
        tracing::info!(%addr, "local cloud listening");
        Ok(LocalCloud {
            info,
            addr,
            shutdown,
            task: Some(task),
        })
    }

    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalCloud {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let mut conn_stopped = stopped.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&state, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        result = conn.as_mut() => {
                            if let Err(e) = result {
                                tracing::debug!("connection ended: {e}");
                            }
                        }
                        _ = conn_stopped.changed() => conn.as_mut().graceful_shutdown(),
                    }
                });
            }
        }
    }
}

fn request_id() -> String {
    use rand::Rng;
    format!("{:032x}", rand::rng().random::<u128>())
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let id = request_id();
    let (parts, body) = req.into_parts();
    let protocol = protocol::detect(&parts.method, parts.uri.path(), &parts.headers);
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return protocol::error(
                protocol,
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("could not read the request body: {e}"),
                &id,
            );
        }
    };
    let signed = sigv4::SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    if let Err(rejection) = sigv4::verify(&signed, &state.credentials) {
        tracing::warn!(
            code = rejection.code,
            path = parts.uri.path(),
            "refused request"
        );
        return protocol::error(
            protocol,
            StatusCode::FORBIDDEN,
            rejection.code,
            &rejection.message,
            &id,
        );
    }
    match protocol {
        Protocol::Query => sts::handle(&body, &id),
        other => protocol::error(
            other,
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            &format!("the local cloud does not serve {other:?} requests yet"),
            &id,
        ),
    }
}
