//! A price before the run: how long a job will keep the endpoint busy and what that costs,
//! from the scan, the endpoint's instance type and count, and a throughput that is measured
//! (the endpoint's recent jobs) or assumed (and said to be).

use serde::{Deserialize, Serialize};

use rusqlite::{OptionalExtension, params};

use super::INLINE_LIMIT;
use super::scan::Scan;
use super::store::Store;
use crate::error::Error;

/// Amazon S3 Standard request prices in us-east-1, USD per 1,000 requests: PUT, COPY, POST,
/// LIST; and GET (<https://aws.amazon.com/s3/pricing/>, "Requests & data retrievals").
pub const S3_PUT_PER_1000: f64 = 0.005;
pub const S3_GET_PER_1000: f64 = 0.0004;
/// Keys one ListObjectsV2 call returns at most.
const LIST_PAGE: f64 = 1000.0;
/// The assumed throughput when nothing was measured: requests per second per instance.
pub const ASSUMED_RPS_PER_INSTANCE: f64 = 1.0;
/// A measured throughput puts the wall time within this factor either way; an assumed one
/// says nothing about it.
pub const MEASURED_FACTOR: f64 = 2.0;

/// Where the throughput came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum Throughput {
    /// From an earlier job of the endpoint.
    Measured { job: String },
    /// Given by the user (`--assume-rps`).
    Given,
    /// Ebb's assumption: nothing measured yet.
    Assumed,
}

/// What a job will cost, before it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Estimate {
    pub requests: u32,
    pub bytes: f64,
    /// About 4 bytes a token (English text); the tokenizer decides the truth.
    pub approx_input_tokens: f64,
    pub instance_type: Option<String>,
    /// Instances assumed to serve the job: the endpoint's count now, at least 1 (an endpoint
    /// scaled to zero wakes up for it).
    pub instances: u32,
    /// Requests a second each instance finishes.
    pub rps_per_instance: f64,
    pub throughput: Throughput,
    pub hours: f64,
    pub instance_hours: f64,
    pub usd_per_hour: Option<f64>,
    /// "pricelist" or "estimate" (Ebb's bundled table).
    pub price_source: Option<String>,
    pub instance_usd: Option<f64>,
    /// Requests Ebb and SageMaker make to S3: uploads, SageMaker's output writes, Ebb's reads
    /// and listings.
    pub s3_requests: f64,
    pub s3_usd: f64,
    /// With a measured throughput, the run's wall time is expected within
    /// `hours / bound_factor ..= hours * bound_factor`; None when the throughput is assumed.
    pub bound_factor: Option<f64>,
}

/// The endpoint and prices an estimate is made for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EstimateInputs {
    pub instance_type: Option<String>,
    pub current_instances: u32,
    pub usd_per_hour: Option<(f64, String)>,
    pub rps_per_instance: Option<(f64, Throughput)>,
    pub upload_all: bool,
}

/// The estimate for `scan`'s requests on the endpoint `inputs` describe.
pub fn estimate(scan: &Scan, inputs: EstimateInputs) -> Estimate {
    let requests = scan.requests.len() as f64;
    let (rps, throughput) = inputs
        .rps_per_instance
        .filter(|(r, _)| *r > 0.0)
        .unwrap_or((ASSUMED_RPS_PER_INSTANCE, Throughput::Assumed));
    let instances = inputs.current_instances.max(1);
    let hours = requests / (rps * f64::from(instances)) / 3600.0;
    let instance_hours = hours * f64::from(instances);
    let uploads = if inputs.upload_all {
        requests
    } else {
        scan.requests
            .iter()
            .filter(|r| r.len > INLINE_LIMIT)
            .count() as f64
    };
    // Every result is written by SageMaker (a PUT), read by Ebb (a GET), and listed in pages.
    let puts = uploads + requests;
    let lists = (requests / LIST_PAGE).ceil();
    let s3_usd = (puts + lists) * S3_PUT_PER_1000 / 1000.0 + requests * S3_GET_PER_1000 / 1000.0;
    let bound_factor = (throughput != Throughput::Assumed).then_some(MEASURED_FACTOR);
    Estimate {
        requests: requests as u32,
        bytes: scan.request_bytes as f64,
        approx_input_tokens: (scan.request_bytes as f64 / 4.0).round(),
        instance_type: inputs.instance_type,
        instances,
        rps_per_instance: rps,
        throughput,
        hours,
        instance_hours,
        usd_per_hour: inputs.usd_per_hour.as_ref().map(|p| p.0),
        instance_usd: inputs.usd_per_hour.as_ref().map(|p| p.0 * instance_hours),
        price_source: inputs.usd_per_hour.map(|p| p.1),
        s3_requests: puts + lists + requests,
        s3_usd,
        bound_factor,
    }
}

/// Requests a second per instance an earlier job achieved: its settled lines over the time
/// from its creation to its last result, shared by `instances`.
pub fn measured_rps(settled: u32, seconds: f64, instances: u32) -> Option<f64> {
    (settled >= 10 && seconds > 0.0)
        .then(|| f64::from(settled) / seconds / f64::from(instances.max(1)))
}

impl Store {
    /// Keeps the estimate made when job `job` was created, for its manifest.
    pub async fn save_estimate(&self, job: &str, estimate: &Estimate) -> Result<(), Error> {
        let (job, text) = (
            job.to_string(),
            serde_json::to_string(estimate).unwrap_or_default(),
        );
        self.with(move |conn| {
            conn.execute(
                "UPDATE jobs SET estimate = ?2 WHERE id = ?1",
                params![job, text],
            )
            .map(|_| ())
        })
        .await
    }

    /// The estimate kept for job `job`, if one was made.
    pub async fn estimate(&self, job: &str) -> Result<Option<Estimate>, Error> {
        let job = job.to_string();
        let text: Option<String> = self
            .with(move |conn| {
                conn.query_row(
                    "SELECT estimate FROM jobs WHERE id = ?1",
                    params![job],
                    |r| r.get(0),
                )
                .optional()
                .map(Option::flatten)
            })
            .await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::scan::Request;

    fn scan_of(lens: &[u64]) -> Scan {
        Scan {
            requests: lens
                .iter()
                .enumerate()
                .map(|(i, &len)| Request {
                    file: 0,
                    line: i as u32 + 1,
                    offset: 0,
                    len,
                    id: None,
                })
                .collect(),
            request_bytes: lens.iter().sum(),
            ..Scan::default()
        }
    }

    #[test]
    fn hours_and_cost_follow_throughput_instances_and_price() {
        let scan = scan_of(&[100; 7200]);
        let e = estimate(
            &scan,
            EstimateInputs {
                instance_type: Some("ml.g5.12xlarge".into()),
                current_instances: 2,
                usd_per_hour: Some((7.09, "estimate".into())),
                rps_per_instance: Some((0.5, Throughput::Given)),
                upload_all: false,
            },
        );
        // 7200 requests at 1 request/s (2 × 0.5) take 2 h on 2 instances: 4 instance-hours.
        assert!((e.hours - 2.0).abs() < 1e-9, "{e:?}");
        assert!((e.instance_hours - 4.0).abs() < 1e-9);
        assert!((e.instance_usd.unwrap() - 28.36).abs() < 1e-9);
        assert_eq!(e.bound_factor, Some(MEASURED_FACTOR));
        assert_eq!(e.approx_input_tokens, 180_000.0);
        // 7200 output PUTs + 8 LISTs at $0.005/1000, 7200 GETs at $0.0004/1000.
        assert!((e.s3_usd - (7208.0 * 0.005 + 7200.0 * 0.0004) / 1000.0).abs() < 1e-12);
    }

    #[test]
    fn an_endpoint_at_zero_is_priced_as_one_and_an_assumption_says_so() {
        let scan = scan_of(&[200_000, 10]);
        let e = estimate(&scan, EstimateInputs::default());
        assert_eq!(e.instances, 1);
        assert_eq!(e.throughput, Throughput::Assumed);
        assert_eq!(e.bound_factor, None);
        assert_eq!(e.instance_usd, None);
        // One upload (over the inline limit) + two output PUTs + one LIST, two GETs.
        assert_eq!(e.s3_requests, 6.0);
    }
}
