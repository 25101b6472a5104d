//! `ebb local serve`: the local cloud as a standalone process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ebb_local::{Config, LocalCloud, home};

use crate::output;

pub async fn serve(ebb_home: &Path, addr: SocketAddr, data: Option<PathBuf>) -> ExitCode {
    let credentials = match home::credentials(ebb_home) {
        Ok(c) => c,
        Err(e) => return output::fail(&format!("local cloud keys: {e}")),
    };
    let config = Config::new(
        addr,
        data.unwrap_or_else(|| home::data_dir(ebb_home)),
        credentials,
    );
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
