//! Simulated time. Every wait in the simulation (start-up, per-token latency, TTLs, timeouts,
//! metric periods, alarm evaluation, cooldowns) is expressed in simulated time and goes
//! through here, so tests and autoscaling runs can speed the whole cloud up without changing
//! any behaviour.
//!
//! Simulated *instants* are seconds since the cloud started, advancing `speed` times faster
//! than real time. Clients speak wall-clock epoch seconds, so at the API boundary an instant is
//! shown at its simulated age before *now*: a sample taken 3 real seconds ago at speed 20 is
//! stamped one simulated minute ago. The newest data is always at the client's "now", and a
//! client asking for "the last hour" sees the last hour of simulated time.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Line {
    /// Real instant and simulated seconds at the last speed change.
    real: Instant,
    sim: f64,
    /// Simulated seconds per real second.
    speed: f64,
}

#[derive(Debug, Clone)]
pub struct Clock {
    line: Arc<Mutex<Line>>,
    /// Real instant and wall-clock epoch seconds at creation (simulated instant 0).
    created: Instant,
    created_epoch: f64,
}

fn sane(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    }
}

impl Clock {
    /// `speed` 1.0 is real time, 10.0 runs ten times faster. Non-positive or non-finite
    /// values fall back to real time.
    pub fn new(speed: f64) -> Clock {
        let created = Instant::now();
        Clock {
            line: Arc::new(Mutex::new(Line {
                real: created,
                sim: 0.0,
                speed: sane(speed),
            })),
            created,
            created_epoch: crate::sagemaker::api::now_epoch(),
        }
    }

    fn line(&self) -> Line {
        match self.line.lock() {
            Ok(l) => *l,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    pub fn speed(&self) -> f64 {
        self.line().speed
    }

    /// Changes the speed from now on; simulated time already passed stays as it was.
    pub fn set_speed(&self, speed: f64) {
        let now = Instant::now();
        let sim = self.now();
        if let Ok(mut l) = self.line.lock() {
            *l = Line {
                real: now,
                sim,
                speed: sane(speed),
            };
        }
    }

    fn sim_at(&self, at: Instant) -> f64 {
        let l = self.line();
        l.sim + at.saturating_duration_since(l.real).as_secs_f64() * l.speed
    }

    /// Simulated seconds since the cloud started.
    pub fn now(&self) -> f64 {
        self.sim_at(Instant::now())
    }

    /// The epoch at which simulated instant 0 is shown now. Worked out from one reading of
    /// the monotonic clock, so at speed 1 it never moves and a client's timestamps come back
    /// exactly as sent (a sample put at a whole minute stays in that minute).
    fn offset(&self) -> f64 {
        let now = Instant::now();
        let ahead = self.sim_at(now) - now.duration_since(self.created).as_secs_f64();
        self.created_epoch - ahead
    }

    /// Wall-clock epoch seconds at which a simulated instant is shown to clients.
    pub fn epoch_of(&self, sim: f64) -> f64 {
        sim + self.offset()
    }

    /// The simulated instant a client's epoch timestamp stands for.
    pub fn sim_of(&self, epoch: f64) -> f64 {
        epoch - self.offset()
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

    #[test]
    fn simulated_time_runs_faster_and_keeps_its_past_across_speed_changes() {
        let clock = Clock::new(1000.0);
        std::thread::sleep(Duration::from_millis(20));
        let before = clock.now();
        assert!(before >= 20.0, "{before}");
        clock.set_speed(1.0);
        let after = clock.now();
        assert!(after >= before && after < before + 1.0, "{before} {after}");
        // An instant shown to a client and read back is the same instant.
        let shown = clock.epoch_of(before);
        assert!((clock.sim_of(shown) - before).abs() < 0.5);
        assert!(shown <= crate::sagemaker::api::now_epoch() + 0.01);
        // At real speed a client's timestamp round-trips exactly.
        let real = Clock::new(1.0);
        let minute = 1_795_000_020.0;
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(real.epoch_of(real.sim_of(minute)), minute);
    }
}
