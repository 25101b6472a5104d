//! The simulation's heartbeat. Every few simulated seconds it: publishes each async endpoint's
//! AWS/SageMaker metrics once per simulated minute (SageMaker's own granularity), lets
//! CloudWatch evaluate the alarms whose period has ended, and hands alarms in ALARM to
//! Application Auto Scaling. All of it runs on the simulated clock, so `--speed` speeds it up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::autoscaling::AutoScaling;
use crate::cloudwatch::CloudWatch;
use crate::cloudwatch::metrics::{MetricKey, Sample};
use crate::sagemaker::SageMaker;
use crate::sagemaker::capacity::LiveEndpoint;

/// Simulated time between beats; alarms are evaluated within this of their period's end.
const BEAT: Duration = Duration::from_secs(5);
/// SageMaker publishes its endpoint metrics every minute.
const METRIC_PERIOD: f64 = 60.0;
/// The real time between beats never drops below this, whatever the speed.
const MIN_REAL_BEAT: Duration = Duration::from_millis(20);

pub struct Heartbeat {
    sagemaker: Arc<SageMaker>,
    cloudwatch: Arc<CloudWatch>,
    autoscaling: Arc<AutoScaling>,
    /// Completed and failed counts at the last publication, by endpoint.
    counted: HashMap<String, (u64, u64)>,
    /// The last simulated minute published.
    published: i64,
}

impl Heartbeat {
    pub fn spawn(
        sagemaker: Arc<SageMaker>,
        cloudwatch: Arc<CloudWatch>,
        autoscaling: Arc<AutoScaling>,
    ) -> JoinHandle<()> {
        let clock = sagemaker.clock().clone();
        let mut beat = Heartbeat {
            published: (clock.now() / METRIC_PERIOD).floor() as i64,
            sagemaker,
            cloudwatch,
            autoscaling,
            counted: HashMap::new(),
        };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(clock.real(BEAT).max(MIN_REAL_BEAT)).await;
                beat.once(clock.now());
            }
        })
    }

    fn once(&mut self, now: f64) {
        let minute = (now / METRIC_PERIOD).floor() as i64;
        if minute > self.published {
            self.published = minute;
            // Stamped mid-way through the minute just ended, so that minute's period holds it.
            let at = (minute as f64 - 0.5) * METRIC_PERIOD;
            for endpoint in self.sagemaker.live_endpoints() {
                if endpoint.is_async {
                    self.publish(&endpoint, at);
                }
            }
        }
        let fired = self.cloudwatch.evaluate(now);
        self.autoscaling.act(&fired, now);
    }

    fn publish(&mut self, endpoint: &LiveEndpoint, at: f64) {
        let stats = endpoint.sim.stats();
        let (done, failed) = self
            .counted
            .insert(endpoint.name.clone(), (stats.succeeded, stats.failed))
            .unwrap_or((0, 0));
        let backlog = stats.backlog() as f64;
        let mut values = vec![
            ("ApproximateBacklogSize", backlog),
            (
                "HasBacklogWithoutCapacity",
                f64::from(u8::from(backlog > 0.0 && stats.instances == 0)),
            ),
            (
                "ApproximateAgeOfOldestRequest",
                endpoint.sim.oldest_wait().unwrap_or(0.0),
            ),
            (
                "InvocationsProcessed",
                stats.succeeded.saturating_sub(done) as f64,
            ),
            (
                "InvocationFailures",
                stats.failed.saturating_sub(failed) as f64,
            ),
        ];
        // Per instance only while there are instances: at zero there is nothing to divide by,
        // which is why target tracking alone cannot wake an endpoint at zero.
        if stats.instances > 0 {
            values.push((
                "ApproximateBacklogSizePerInstance",
                backlog / f64::from(stats.instances),
            ));
        }
        let dimensions = [("EndpointName", endpoint.name.as_str())];
        for (name, value) in values {
            self.cloudwatch.metrics.put(
                MetricKey::new("AWS/SageMaker", name, &dimensions),
                Sample::value(at, value),
            );
        }
    }
}
