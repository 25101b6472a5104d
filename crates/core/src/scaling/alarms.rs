//! CloudWatch alarms looked up by name, every page of them.

use aws_sdk_cloudwatch::types::MetricAlarm;

use crate::aws_errors::{self, Context};
use crate::cloud::Clients;
use crate::error::Error;

/// DescribeAlarms takes at most 100 names a call
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html>).
const NAMES_PER_CALL: usize = 100;

/// The metric alarms among `names` that exist. Each call's answer is read to its last page:
/// DescribeAlarms answers at most 50 alarms a page by default, even for 100 names, so reading
/// one page would take alarms 51-100 for gone. An error is an error, never "none found".
pub async fn named(
    clients: &Clients,
    ctx: Context<'_>,
    names: &[String],
) -> Result<Vec<MetricAlarm>, Error> {
    let mut found = Vec::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut pages = clients
            .cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(chunk.to_vec()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| aws_errors::failed(&e, ctx, "cloudwatch:DescribeAlarms"))?;
            found.extend(page.metric_alarms().iter().cloned());
        }
    }
    Ok(found)
}
