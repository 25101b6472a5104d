//! `ebb instances` (the picker's table) and the fit line `ebb deploy` prints before it creates
//! anything.

use std::process::ExitCode;

use ebb_core::Ebb;
use ebb_core::catalog::InstanceOption;
use ebb_core::deploy::fit::FitVerdict;
use ebb_core::deploy::spec::DeploySpec;
use ebb_core::pricing::PriceSource;

use crate::output;

/// Prints every instance type grouped by family: accelerators, memory, hourly price and where
/// the price comes from; types Ebb's TGI image cannot use say why.
pub async fn list(ebb: &Ebb, json: bool) -> ExitCode {
    let options = ebb.instance_picker().await;
    if json {
        return output::print_json(&options);
    }
    let mut family = "";
    for o in &options {
        if o.family != family {
            family = &o.family;
            println!("{family}");
        }
        println!("  {}", row(o));
    }
    ExitCode::SUCCESS
}

/// One table row, e.g. `ml.g5.12xlarge    4 × A10G         24 GB  $7.09/h (estimate)`.
fn row(o: &InstanceOption) -> String {
    let source = match o.price_source {
        PriceSource::PriceList => "Price List",
        PriceSource::Estimate => "estimate",
    };
    let mut line = format!(
        "{:<18} {:<16} {:>3} GB  ${:.2}/h ({source})",
        o.name,
        format!("{} × {}", o.gpus, o.gpu),
        o.gpu_memory_gb,
        o.usd_per_hour
    );
    if let Some(why) = &o.unsupported {
        line.push_str(&format!("  unsupported: {why}"));
    }
    line
}

/// Prints the fit check of `spec` (with the typed `params`, if any): a `fit:` line when it fits
/// or cannot be judged, a `warning:` line when it is tight or does not fit. It warns and does
/// not stop the deploy: the check is an estimate. With `json`, only warnings, on stderr.
pub async fn print_fit(ebb: &Ebb, spec: &DeploySpec, params: Option<u64>, json: bool) {
    // Options the deploy refuses get that refusal alone, not a guess at the fit first (the
    // role and the region's image are the engine's to check, against the real target).
    let role = "arn:aws:iam::000000000000:role/checked-by-the-engine";
    if !spec.problems("us-east-1", Some(role)).is_empty() {
        return;
    }
    let check = ebb.fit_check(spec, params).await;
    let line = match check.verdict {
        FitVerdict::Fits => format!("fit: {}", check.sentence),
        FitVerdict::Tight | FitVerdict::DoesNotFit => format!("warning: {}", check.sentence),
        FitVerdict::Unknown if params.is_some() => format!("fit: {}", check.sentence),
        FitVerdict::Unknown => format!(
            "fit: {}; give the parameter count (e.g. --params 11B) to check it",
            check.sentence
        ),
    };
    match (json, check.verdict) {
        (false, _) => println!("{line}"),
        (true, FitVerdict::Tight | FitVerdict::DoesNotFit) => eprintln!("{line}"),
        (true, _) => {}
    }
}
