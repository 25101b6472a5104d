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
use crate::faults::{After, Fault, Faults, Injected};
use crate::protocol::{self, Body, Protocol};
use crate::s3::store::{Store, StoreError};
use crate::s3::{BucketOwners, LocalS3};
use crate::sagemaker::SageMaker;
use crate::sessions::{Refused, S3Keys, Sessions};
use crate::sim::clock::Clock;
use crate::sim::endpoint::EndpointStats;
use crate::sim::heartbeat::Heartbeat;
use crate::{Config, ConnectionInfo, Credentials, Error, aws_like, lock, runtime, sigv4, sts};

/// Requests other than S3 uploads are small; refuse anything larger than this.
const MAX_BODY: usize = 64 * 1024 * 1024;

struct State {
    credentials: Credentials,
    s3: s3s::service::S3Service,
    sagemaker: Arc<SageMaker>,
    cloudwatch: Arc<CloudWatch>,
    autoscaling: Arc<AutoScaling>,
    faults: Arc<Faults>,
    /// AWS-like mode ([`Config::aws_like`]).
    aws_like: bool,
    throttle: aws_like::Throttle,
    /// Temporary credentials issued by STS (AWS-like mode).
    sessions: Arc<Sessions>,
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
    /// The data folder's lock, released with the cloud.
    _lock: lock::DataLock,
}

impl LocalCloud {
    /// Starts the local cloud over `config.data_dir`, holding the folder's lock until it stops.
    ///
    /// Errors: [`Error::Locked`] when another process runs a local cloud over the folder,
    /// [`Error::State`] when a saved state file cannot be read (nothing is started and the
    /// file is left as it is), [`Error::NotLoopback`], [`Error::Bind`], [`Error::DataDir`].
    pub async fn start(config: Config) -> Result<LocalCloud, Error> {
        if !config.addr.ip().is_loopback() {
            return Err(Error::NotLoopback(config.addr));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|source| Error::DataDir {
            path: config.data_dir.clone(),
            source,
        })?;
        // Before anything reads or writes the folder: one local cloud per data folder.
        let lock = lock::acquire(&config.data_dir)?;
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
            Store::open(&config.data_dir.join("s3")).map_err(|e| match e {
                StoreError::Unreadable { path, reason } => Error::State {
                    path,
                    what: "S3 bucket or object".to_string(),
                    reason,
                },
                e => data_error(std::io::Error::other(e)),
            })?,
        );
        // Local mode's own bucket, so a new user can submit without any set-up.
        store
            .ensure_bucket(&crate::default_bucket())
            .map_err(|e| data_error(std::io::Error::other(e)))?;
        let clock = Clock::new(config.speed);
        let sagemaker = SageMaker::open(
            &config.data_dir,
            store.clone(),
            clock,
            config.startup,
            crate::model::Runtime::new(config.models.clone()),
        )?;
        let cloudwatch = Arc::new(CloudWatch::open(
            &config.data_dir,
            sagemaker.clock().clone(),
        )?);
        let autoscaling = Arc::new(AutoScaling::open(
            &config.data_dir,
            cloudwatch.clone(),
            sagemaker.clone(),
        )?);
        sagemaker.resume();
        let weak = Arc::downgrade(&autoscaling);
        let targets: std::sync::Weak<dyn crate::sagemaker::ScalableTargets> = weak;
        sagemaker.set_scalable_targets(targets);
        let heartbeat =
            Heartbeat::spawn(sagemaker.clone(), cloudwatch.clone(), autoscaling.clone());
        let mut s3 = s3s::service::S3ServiceBuilder::new(LocalS3::new(store.clone()));
        let sessions = Arc::new(Sessions::default());
        s3.set_auth(S3Keys {
            credentials: config.credentials.clone(),
            sessions: sessions.clone(),
        });
        s3.set_access(BucketOwners {
            store,
            sessions: sessions.clone(),
        });
        let faults = Arc::new(Faults::default());
        faults.set(config.faults.clone());
        let state = Arc::new(State {
            credentials: config.credentials,
            s3: s3.build(),
            sagemaker: sagemaker.clone(),
            cloudwatch,
            autoscaling,
            faults: faults.clone(),
            aws_like: config.aws_like,
            throttle: aws_like::Throttle::default(),
            sessions,
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
            _lock: lock,
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

    /// The InferenceIds `endpoint` processed more than once, with how many times (a client
    /// retry after a lost answer repeats an invocation); `None` when it is not running. The
    /// same is appended to `duplicate-invocations.jsonl` in the data folder.
    pub fn duplicate_invocations(
        &self,
        endpoint: &str,
    ) -> Option<std::collections::BTreeMap<String, u32>> {
        self.sagemaker.duplicates(endpoint)
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
                        async move { handle(&state, req).await }
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

/// Each answer's request id: a random (version 4) UUID, the shape AWS's JSON and query
/// services give.
fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
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

/// An injected fault dropped the answer of a request that was served; hyper closes the
/// connection without a response, as a lost reply looks to a client.
#[derive(Debug, thiserror::Error)]
#[error("the answer was dropped (injected fault)")]
struct AnswerLost;

async fn handle(state: &State, req: Request<Incoming>) -> Result<Response<Body>, AnswerLost> {
    let id = request_id();
    let protocol = protocol::detect(req.method(), req.uri().path(), req.headers());
    let (service, operation) = service_of(protocol, req.headers(), req.method(), req.uri().path());
    if let Some(fault) = state.faults.apply(service, &operation).await {
        return Ok(injected_error(protocol, fault, &id));
    }
    if state.aws_like && !state.throttle.admit(service, &operation) {
        let code = aws_like::throttling_code(service);
        return Ok(protocol::error(
            protocol,
            StatusCode::BAD_REQUEST,
            code,
            "Rate exceeded",
            &id,
        ));
    }
    let response = serve(state, req, (protocol, service, &operation), &id).await;
    if !response.status().is_success() {
        return Ok(response);
    }
    match state.faults.after(service, &operation) {
        Some(After::Lost) => {
            tracing::info!(service, operation, "dropping the answer (injected fault)");
            Err(AnswerLost)
        }
        Some(After::Error) => Ok(injected_error(protocol, Injected::Error, &id)),
        None => Ok(response),
    }
}

/// Checks the signature and answers one request.
async fn serve(
    state: &State,
    req: Request<Incoming>,
    (protocol, service, operation): (Protocol, &'static str, &str),
    id: &str,
) -> Response<Body> {
    if let Err((status, code, message)) = temporary_keys(state, &req, protocol, service) {
        return protocol::error(protocol, status, code, message, id);
    }
    if protocol == Protocol::S3 {
        return s3_call(state, req, id).await;
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
                id,
            );
        }
    };
    if let Err(rejection) = verify(state, &parts, &body) {
        let (status, code, message) = (rejection.status, rejection.code, &rejection.message);
        return protocol::error(protocol, status, code, message, id);
    }
    dispatch(state, &parts, body, (protocol, service, operation), id).await
}

/// Routes a signed, non-S3 request to its service.
async fn dispatch(
    state: &State,
    parts: &http::request::Parts,
    body: bytes::Bytes,
    (protocol, service, operation): (Protocol, &'static str, &str),
    id: &str,
) -> Response<Body> {
    match (protocol, service) {
        (Protocol::Query, _) => {
            let key = sigv4::access_key(&parts.headers, parts.uri.query()).unwrap_or_default();
            let issuer = sts::Issuer {
                sessions: &state.sessions,
                clock: state.sagemaker.clock(),
                caller_account: state.sessions.account(&key),
            };
            sts::handle(&body, id, issuer)
        }
        (Protocol::RestJson, _) => {
            let path = parts.uri.path();
            runtime::handle(
                &state.sagemaker,
                path,
                &parts.headers,
                body,
                id,
                state.aws_like,
            )
            .await
        }
        (Protocol::Cbor, _) => cbor_call(state, operation, &body, id),
        (Protocol::Json, service @ ("sagemaker" | "logs" | "autoscaling" | "cloudwatch")) => {
            json_call(state, service, operation, &body, id)
        }
        (other, service) => protocol::error(
            other,
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            &format!("the local cloud does not serve {service} requests yet"),
            id,
        ),
    }
}

/// S3: s3s verifies S3's signatures itself, including streaming (aws-chunked) uploads.
async fn s3_call(state: &State, req: Request<Incoming>, id: &str) -> Response<Body> {
    match state.s3.call(req.map(s3s::Body::from)).await {
        Ok(response) => response,
        Err(e) => protocol::error(
            Protocol::S3,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            &format!("{e:?}"),
            id,
        ),
    }
}

/// How AWS refuses a call: status, code and message.
type Refusal = (StatusCode, &'static str, &'static str);

/// For a call signed with temporary credentials: refused as AWS refuses it once they expired
/// or when its session token is not theirs. S3 words it its own way; STS and CloudWatch
/// (Query family) answer 403 ExpiredToken; the JSON services 400 ExpiredTokenException.
/// See <https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html> and
/// <https://docs.aws.amazon.com/sagemaker/latest/APIReference/CommonErrors.html>.
fn temporary_keys<B>(
    state: &State,
    req: &Request<B>,
    protocol: Protocol,
    service: &str,
) -> Result<(), Refusal> {
    let (headers, query) = (req.headers(), req.uri().query());
    let Some(key) = sigv4::access_key(headers, query) else {
        return Ok(());
    };
    let token = sigv4::session_token(headers, query);
    let clock = state.sagemaker.clock();
    let Some(Err(refused)) = state.sessions.check(clock, &key, token.as_deref()) else {
        return Ok(());
    };
    tracing::info!(?refused, key, "refused temporary credentials");
    const EXPIRED: &str = "The security token included in the request is expired";
    const INVALID: &str = "The security token included in the request is invalid.";
    let query_family = protocol == Protocol::Query || service == "cloudwatch";
    Err(match (protocol, refused) {
        (Protocol::S3, Refused::Expired) => (
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.",
        ),
        (Protocol::S3, Refused::WrongToken) => (
            StatusCode::BAD_REQUEST,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        ),
        (_, Refused::Expired) if query_family => (StatusCode::FORBIDDEN, "ExpiredToken", EXPIRED),
        (_, Refused::Expired) => (StatusCode::BAD_REQUEST, "ExpiredTokenException", EXPIRED),
        (_, Refused::WrongToken) if query_family => {
            (StatusCode::FORBIDDEN, "InvalidClientTokenId", INVALID)
        }
        (_, Refused::WrongToken) => (
            StatusCode::FORBIDDEN,
            "UnrecognizedClientException",
            INVALID,
        ),
    })
}

/// Checks a non-S3 request's SigV4 signature against the local keys.
fn verify(
    state: &State,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<(), sigv4::Rejection> {
    let signed = sigv4::SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let key = sigv4::access_key(&parts.headers, parts.uri.query()).unwrap_or_default();
    let token = sigv4::session_token(&parts.headers, parts.uri.query());
    let clock = state.sagemaker.clock();
    // Expired and mismatched sessions were refused before; a valid one signs with its keys.
    let credentials = match state.sessions.check(clock, &key, token.as_deref()) {
        Some(Ok(session)) => session,
        _ => state.credentials.clone(),
    };
    // The signature's time window is real time: the simulated clock may run faster.
    sigv4::verify(&signed, &credentials, std::time::SystemTime::now())
        .map(|_| ())
        .inspect_err(|rejection| {
            tracing::warn!(
                code = rejection.code,
                path = parts.uri.path(),
                "refused request"
            );
        })
}

/// CloudWatch's CBOR (rpc-v2) calls.
fn cbor_call(state: &State, operation: &str, body: &[u8], id: &str) -> Response<Body> {
    match cbor::decode(body) {
        Ok(input) => match state.cloudwatch.handle(operation, &input) {
            Ok(output) => protocol::cbor(&output, id),
            Err(e) => protocol::error(Protocol::Cbor, e.status, e.code, &e.message, id),
        },
        Err(e) => protocol::error(
            Protocol::Cbor,
            StatusCode::BAD_REQUEST,
            "SerializationException",
            &format!("the request body is not CBOR: {e}"),
            id,
        ),
    }
}

/// The JSON services: SageMaker, CloudWatch Logs, Application Auto Scaling, CloudWatch.
fn json_call(
    state: &State,
    service: &str,
    operation: &str,
    body: &[u8],
    id: &str,
) -> Response<Body> {
    let input: serde_json::Value = if body.is_empty() {
        serde_json::json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return protocol::error(
                    Protocol::Json,
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    &format!("the request body is not JSON: {e}"),
                    id,
                );
            }
        }
    };
    let result = match service {
        "logs" => logs_call(state, operation, input),
        "autoscaling" => state.autoscaling.handle(operation, &input),
        "cloudwatch" => state.cloudwatch.handle(operation, &input),
        _ => state.sagemaker.handle(operation, &input),
    };
    match result {
        Ok(output) if service == "cloudwatch" => protocol::json10(&output, id),
        Ok(output) => protocol::json(&output, id),
        Err(e) => protocol::error(Protocol::Json, e.status, e.code, &e.message, id),
    }
}

/// CloudWatch Logs; in the AWS-like mode every other FilterLogEvents page is empty.
fn logs_call(
    state: &State,
    operation: &str,
    input: serde_json::Value,
) -> crate::sagemaker::api::ApiResult {
    if !(state.aws_like && operation == "FilterLogEvents") {
        return state.sagemaker.logs().handle(operation, &input);
    }
    match aws_like::log_page(&input) {
        aws_like::LogPage::Empty(token) => Ok(serde_json::json!({
            "events": [],
            "searchedLogStreams": [],
            "nextToken": token,
        })),
        aws_like::LogPage::Serve(input) => state.sagemaker.logs().handle(operation, &input),
    }
}
