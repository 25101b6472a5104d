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

use crate::autoscaling::AutoScaling;
use crate::cloudwatch::{CloudWatch, cbor};
use crate::faults::{Fault, Faults, Injected};
use crate::protocol::{self, Body, Protocol};
use crate::s3::LocalS3;
use crate::s3::store::Store;
use crate::sagemaker::SageMaker;
use crate::sim::clock::Clock;
use crate::sim::endpoint::EndpointStats;
use crate::sim::heartbeat::Heartbeat;
use crate::{Config, ConnectionInfo, Credentials, Error, runtime, sigv4, sts};

/// Requests other than S3 uploads are small; refuse anything larger than this.
const MAX_BODY: usize = 64 * 1024 * 1024;

struct State {
    credentials: Credentials,
    s3: s3s::service::S3Service,
    sagemaker: Arc<SageMaker>,
    cloudwatch: Arc<CloudWatch>,
    autoscaling: Arc<AutoScaling>,
    faults: Arc<Faults>,
}

/// A running local cloud; stops when `stop` is called or the handle is dropped.
pub struct LocalCloud {
    info: ConnectionInfo,
    sagemaker: Arc<SageMaker>,
    faults: Arc<Faults>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    heartbeat: JoinHandle<()>,
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
        let data_error = |source: std::io::Error| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        };
        let store = Arc::new(
            Store::open(&config.data_dir.join("s3"))
                .map_err(|e| data_error(std::io::Error::other(e)))?,
        );
        // Local mode's own bucket, so a new user can submit without any set-up.
        store
            .ensure_bucket(&crate::default_bucket())
            .map_err(|e| data_error(std::io::Error::other(e)))?;
        let clock = Clock::new(config.speed);
        let sagemaker = SageMaker::open(&config.data_dir, store.clone(), clock, config.startup);
        let cloudwatch = Arc::new(CloudWatch::open(
            &config.data_dir,
            sagemaker.clock().clone(),
        ));
        let autoscaling = Arc::new(AutoScaling::open(
            &config.data_dir,
            cloudwatch.clone(),
            sagemaker.clone(),
        ));
        let heartbeat =
            Heartbeat::spawn(sagemaker.clone(), cloudwatch.clone(), autoscaling.clone());
        let mut s3 = s3s::service::S3ServiceBuilder::new(LocalS3::new(store));
        s3.set_auth(s3s::auth::SimpleAuth::from_single(
            config.credentials.access_key_id.clone(),
            config.credentials.secret_access_key.clone(),
        ));
        let faults = Arc::new(Faults::default());
        faults.set(config.faults.clone());
        let state = Arc::new(State {
            credentials: config.credentials,
            s3: s3.build(),
            sagemaker: sagemaker.clone(),
            cloudwatch,
            autoscaling,
            faults: faults.clone(),
        });
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, state, stopped));
        tracing::info!(%addr, "local cloud listening");
        Ok(LocalCloud {
            info,
            sagemaker,
            faults,
            addr,
            shutdown,
            task: Some(task),
            heartbeat,
        })
    }

    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queue and instance figures of a running endpoint.
    pub fn endpoint_stats(&self, endpoint: &str) -> Option<EndpointStats> {
        self.sagemaker.stats(endpoint)
    }

    /// Replaces the fault-injection rules.
    pub fn set_faults(&self, faults: Vec<Fault>) {
        self.faults.set(faults);
    }

    /// The simulation clock (part 2's autoscaling runs speed it up).
    pub fn clock(&self) -> &Clock {
        self.sagemaker.clock()
    }

    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(mut self) {
        self.heartbeat.abort();
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalCloud {
    fn drop(&mut self) {
        self.heartbeat.abort();
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

fn service_of(
    protocol: Protocol,
    headers: &http::HeaderMap,
    method: &http::Method,
    path: &str,
) -> (&'static str, String) {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match protocol {
        Protocol::Query => ("sts", "GetCallerIdentity".into()),
        Protocol::S3 => ("s3", method.as_str().to_string()),
        Protocol::RestJson if path.ends_with("/async-invocations") => {
            ("runtime", "InvokeEndpointAsync".into())
        }
        Protocol::RestJson => ("runtime", "InvokeEndpoint".into()),
        Protocol::Cbor => (
            "cloudwatch",
            path.rsplit('/').next().unwrap_or_default().to_string(),
        ),
        Protocol::Json => {
            let (prefix, op) = target.split_once('.').unwrap_or(("", target));
            let service = match prefix {
                "SageMaker" => "sagemaker",
                "AnyScaleFrontendService" => "autoscaling",
                "Logs_20140328" => "logs",
                "GraniteServiceVersion20100801" => "cloudwatch",
                _ => "unknown",
            };
            (service, op.to_string())
        }
    }
}

fn injected_error(protocol: Protocol, fault: Injected, id: &str) -> Response<Body> {
    if let Injected::Code(code) = &fault {
        // Refusals of who you are come as 403, the rest as 400, as AWS sends them.
        let denied = [
            "AccessDenied",
            "Expired",
            "InvalidClientTokenId",
            "Unrecognized",
        ]
        .iter()
        .any(|p| code.contains(p));
        let status = if denied {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        return protocol::error(
            protocol,
            status,
            code,
            &format!("{code} (injected fault)."),
            id,
        );
    }
    let (status, code, message) = match (protocol, fault) {
        (Protocol::S3, Injected::Throttle) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate (injected fault).",
        ),
        (Protocol::S3, Injected::Error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error (injected fault).",
        ),
        (_, Injected::Throttle) => (
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "Rate exceeded (injected fault).",
        ),
        (_, Injected::Error | Injected::Code(_)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "An internal error occurred (injected fault).",
        ),
    };
    protocol::error(protocol, status, code, message, id)
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Body> {
    let id = request_id();
    let protocol = protocol::detect(req.method(), req.uri().path(), req.headers());
    let (service, operation) = service_of(protocol, req.headers(), req.method(), req.uri().path());
    if let Some(fault) = state.faults.apply(service, &operation).await {
        return injected_error(protocol, fault, &id);
    }
    if protocol == Protocol::S3 {
        // s3s verifies S3's signatures itself, including streaming (aws-chunked) uploads.
        return match state.s3.call(req.map(s3s::Body::from)).await {
            Ok(response) => response,
            Err(e) => protocol::error(
                Protocol::S3,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                &format!("{e:?}"),
                &id,
            ),
        };
    }
    let (parts, body) = req.into_parts();
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
    match (protocol, service) {
        (Protocol::Query, _) => sts::handle(&body, &id),
        (Protocol::RestJson, _) => {
            runtime::handle(
                &state.sagemaker,
                parts.uri.path(),
                &parts.headers,
                body,
                &id,
            )
            .await
        }
        (Protocol::Cbor, _) => match cbor::decode(&body) {
            Ok(input) => match state.cloudwatch.handle(&operation, &input) {
                Ok(output) => protocol::cbor(&output, &id),
                Err(e) => protocol::error(protocol, e.status, e.code, &e.message, &id),
            },
            Err(e) => protocol::error(
                protocol,
                StatusCode::BAD_REQUEST,
                "SerializationException",
                &format!("the request body is not CBOR: {e}"),
                &id,
            ),
        },
        (Protocol::Json, service @ ("sagemaker" | "logs" | "autoscaling" | "cloudwatch")) => {
            let input: serde_json::Value = if body.is_empty() {
                serde_json::json!({})
            } else {
                match serde_json::from_slice(&body) {
                    Ok(v) => v,
                    Err(e) => {
                        return protocol::error(
                            protocol,
                            StatusCode::BAD_REQUEST,
                            "SerializationException",
                            &format!("the request body is not JSON: {e}"),
                            &id,
                        );
                    }
                }
            };
            let result = match service {
                "logs" => state.sagemaker.logs().handle(&operation, &input),
                "autoscaling" => state.autoscaling.handle(&operation, &input),
                "cloudwatch" => state.cloudwatch.handle(&operation, &input),
                _ => state.sagemaker.handle(&operation, &input),
            };
            match result {
                Ok(output) if service == "cloudwatch" => protocol::json10(&output, &id),
                Ok(output) => protocol::json(&output, &id),
                Err(e) => protocol::error(protocol, e.status, e.code, &e.message, &id),
            }
        }
        (other, service) => protocol::error(
            other,
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            &format!("the local cloud does not serve {service} requests yet"),
            &id,
        ),
    }
}
