//! The Home screen's one read: endpoints, jobs and, in local mode, the guide's steps.

use super::{Ebb, context};
use crate::error::Error;
use crate::overview::{self, Overview};
use crate::scaling::status;
use crate::settings::Mode;

impl Ebb {
    /// What matters at a glance (see `overview`), read from the cloud and the job store now.
    pub async fn overview(&self) -> Result<Overview, Error> {
        let endpoints = self.endpoints().await?;
        let jobs = self.jobs().await?;
        let (target, _, clients) = self.connected().await?;
        if target.mode != Mode::Local {
            return Ok(overview::summarize(endpoints, jobs, None));
        }
        // Only the guide's endpoint needs its autoscaling read, and only once it serves.
        let serving = overview::guide_endpoint(&endpoints, &jobs)
            .filter(|e| overview::serving(&e.status))
            .cloned();
        let scaling = match serving {
            Some(e) => {
                let region = clients.region();
                let ctx = context(&target, region.as_deref(), "");
                Some(
                    status::read(&clients, ctx, e)
                        .await
                        .map_err(|e| e.to_string()),
                )
            }
            None => None,
        };
        let scaling = scaling.as_ref().map(|r| r.as_ref().map_err(String::as_str));
        let guide = overview::guide(&endpoints, &jobs, scaling);
        Ok(overview::summarize(endpoints, jobs, Some(guide)))
    }
}
