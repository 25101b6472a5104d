//! Simulated time. Every wait in the simulation (start-up, per-token latency, TTLs, timeouts)
//! is expressed in simulated time and goes through here, so tests and autoscaling runs can
//! speed the whole cloud up without changing any behaviour.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Clock {
    /// `f64` bits: simulated seconds per real second.
    speed: Arc<AtomicU64>,
}

impl Clock {
    /// `speed` 1.0 is real time, 10.0 runs ten times faster. Non-positive or non-finite
    /// values fall back to real time.
    pub fn new(speed: f64) -> Clock {
        let clock = Clock {
            speed: Arc::new(AtomicU64::new(1f64.to_bits())),
        };
        clock.set_speed(speed);
        clock
    }

    pub fn speed(&self) -> f64 {
        f64::from_bits(self.speed.load(Ordering::Relaxed))
    }

    pub fn set_speed(&self, speed: f64) {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        self.speed.store(speed.to_bits(), Ordering::Relaxed);
    }

    /// The real duration of a simulated one.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.speed())
    }

    pub async fn sleep(&self, simulated: Duration) {
        tokio::time::sleep(self.real(simulated)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_scales_durations_and_rejects_nonsense() {
        let clock = Clock::new(10.0);
        assert_eq!(clock.real(Duration::from_secs(10)), Duration::from_secs(1));
        clock.set_speed(0.0);
        assert_eq!(clock.speed(), 1.0);
        clock.set_speed(f64::NAN);
        assert_eq!(clock.speed(), 1.0);
    }
}
