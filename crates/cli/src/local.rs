//! `ebb local serve`: the local cloud as a standalone process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ebb_core::{Ebb, Mode};
use ebb_local::home::{self, Attached};
use ebb_local::{Config, LocalCloud};

use crate::output;

pub struct ServeOptions {
    pub addr: SocketAddr,
    pub data: Option<PathBuf>,
    pub speed: f64,
    /// Simulated time an instance takes to start.
    pub startup: std::time::Duration,
    pub faults: Vec<ebb_local::faults::Fault>,
    /// `--aws-like`; the environment (EBB_LOCAL_AWS_LIKE=1) can also turn it on.
    pub aws_like: bool,
}

fn is_local(ebb: &Ebb) -> Result<bool, ExitCode> {
    let settings = ebb.settings().map_err(|e| output::fail_error(&e))?;
    Ok(ebb.target(&settings).mode == Mode::Local)
}

/// How the engine reaches a local cloud: its URL and keys, and the placeholder role for deploys.
pub fn provided(info: &ebb_local::ConnectionInfo) -> ebb_core::ProvidedCloud {
    ebb_core::ProvidedCloud::new(
        &info.endpoint_url,
        &info.region,
        (&info.access_key_id, &info.secret_access_key),
        Some(ebb_local::PLACEHOLDER_ROLE_ARN),
    )
}

/// In local mode, uses this home's running local cloud or starts one for this command.
pub async fn attach_if_local(ebb: &Ebb) -> Result<Option<Attached>, ExitCode> {
    if !is_local(ebb)? {
        return Ok(None);
    }
    let attached = home::attach(ebb.home(), false)
        .await
        .map_err(|e| output::fail(&format!("could not start the local cloud: {e}")))?;
    ebb.set_local_cloud(Some(provided(attached.info())));
    Ok(Some(attached))
}

/// Autoscaling, a load test's scaling and metrics need the simulated endpoint to keep running;
/// a local cloud started for one command stops with it: the note that says so, for those.
pub fn needs_a_cloud_that_stays(command: &crate::Command) -> Option<String> {
    let what = match command {
        crate::Command::Autoscale(_) => "autoscaling acts only while it runs",
        crate::Command::Loadtest(_) => "the endpoint scales only while it runs",
        crate::Command::Metrics { .. } => "metrics are recorded only while it runs",
        _ => return None,
    };
    Some(format!(
        "note: no local cloud was running for this Ebb home, so this command ran one that stopped when it ended, and {what}: keep one running with `ebb local serve` (or the app)"
    ))
}

/// For read-only commands: shows a running local cloud without starting one.
pub async fn show_running(ebb: &Ebb) -> Result<(), ebb_core::Error> {
    if let Some((_, info)) = home::running(ebb.home()).await {
        ebb.set_local_cloud(Some(provided(&info)));
    }
    Ok(())
}

pub async fn env(ebb_home: &Path) -> ExitCode {
    let Some((_, info)) = home::running(ebb_home).await else {
        return output::fail(
            "no local cloud is running for this Ebb home; start the app, or run `ebb local serve` in another terminal",
        );
    };
    println!("export AWS_ENDPOINT_URL={}", info.endpoint_url);
    println!("export AWS_ACCESS_KEY_ID={}", info.access_key_id);
    println!("export AWS_SECRET_ACCESS_KEY={}", info.secret_access_key);
    println!("export AWS_REGION={}", info.region);
    println!("export AWS_DEFAULT_REGION={}", info.region);
    // A profile or session token from a real account would override or break these keys.
    println!("unset AWS_PROFILE AWS_SESSION_TOKEN");
    ExitCode::SUCCESS
}

/// `ebb local models`: what runs for real here, as a table or JSON.
pub fn models(json: bool) -> ExitCode {
    let settings = ebb_local::model::Settings::from_env();
    let models = ebb_local::model::runnable(&settings);
    if json {
        return output::print_json(&models);
    }
    println!(
        "Models that run for real in local mode (Hugging Face cache: {}):",
        settings.hub_cache.display()
    );
    let mut table = vec![
        [
            "MODEL",
            "FAMILY",
            "PARAMETERS",
            "MEMORY",
            "FILES",
            "HERE",
            "CHAT",
        ]
        .map(String::from),
    ];
    table.extend(models.iter().map(model_row));
    print_aligned(&table);
    println!(
        "Other models (the seed's google/flan-t5-xxl among them) answer with simulated text; the endpoint's log says why. `ebb local pull MODEL` downloads one."
    );
    ExitCode::SUCCESS
}

/// Rows with each column as wide as its widest cell.
fn print_aligned<const N: usize>(rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

fn model_row(m: &ebb_local::model::Runnable) -> [String; 7] {
    use ebb_local::model::family::{human_bytes, human_parameters};
    let files = if m.cached {
        format!("{} in cache", human_bytes(m.disk_bytes))
    } else {
        format!("{} to download", human_bytes(m.disk_bytes))
    };
    let here = if m.fits { "fits" } else { "too large" };
    [
        m.model_id.clone(),
        m.family.name().to_string(),
        human_parameters(m.parameters),
        human_bytes(m.memory_bytes),
        files,
        here.to_string(),
        if m.chat { "yes" } else { "no" }.to_string(),
    ]
}

/// `ebb local pull MODEL`: downloads it into the Hugging Face cache, a line per file.
pub async fn pull(model: &str, json: bool) -> ExitCode {
    let settings = ebb_local::model::Settings::from_env();
    let log = |line: String| eprintln!("{line}");
    match ebb_local::model::pull(&settings, model, &log).await {
        Ok(m) if json => output::print_json(&m),
        Ok(m) => {
            let [id, family, parameters, memory, files, here, _] = model_row(&m);
            println!(
                "{id}: {family}, {parameters} parameters, needs {memory} of memory, {files}; {here} on this computer"
            );
            ExitCode::SUCCESS
        }
        Err(e) => output::fail(&e),
    }
}

pub async fn serve(ebb_home: &Path, options: ServeOptions) -> ExitCode {
    if let Some((pid, info)) = home::running(ebb_home).await {
        return output::fail(&format!(
            "a local cloud is already running for this Ebb home at {} (process {pid}); use it, or stop it first",
            info.endpoint_url
        ));
    }
    let credentials = match home::credentials(ebb_home) {
        Ok(c) => c,
        Err(e) => return output::fail(&format!("local cloud keys: {e}")),
    };
    let mut config = Config::new(
        options.addr,
        options.data.unwrap_or_else(|| home::data_dir(ebb_home)),
        credentials,
    );
    config.speed = options.speed;
    config.startup = options.startup;
    config.faults = options.faults;
    config.aws_like |= options.aws_like;
    let cloud = match LocalCloud::start(config).await {
        Ok(cloud) => cloud,
        Err(e) => return output::fail(&e.to_string()),
    };
    if let Err(e) = home::announce(ebb_home, cloud.info()) {
        return output::fail(&format!("could not record the running local cloud: {e}"));
    }
    match serde_json::to_string(cloud.info()) {
        Ok(line) => println!("{line}"),
        Err(e) => return output::fail(&format!("could not encode JSON: {e}")),
    }
    let outcome = wait_for_signal().await;
    home::withdraw(ebb_home);
    cloud.stop().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output::fail(&format!("could not wait for a signal: {e}")),
    }
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
