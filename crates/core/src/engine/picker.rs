//! The instance picker and the fit check, for both shells.

use crate::catalog::{self, InstanceOption, instances};
use crate::cloud;
use crate::deploy::fit::{self, FitCheck, ModelSize};
use crate::deploy::hub;
use crate::deploy::spec::DeploySpec;
use crate::pricing::PriceBook;
use crate::settings::Mode;

use super::Ebb;

impl Ebb {
    /// Every instance type of the bundled table, grouped by family, each priced from the AWS
    /// Price List for the target's region when it answers (cached a week), else the bundled
    /// us-east-1 estimate. Local mode, or a target Ebb cannot reach, gets the estimates.
    pub async fn instance_picker(&self) -> Vec<InstanceOption> {
        let mut options = catalog::deploy_catalog().instances;
        let Ok((_, _, clients)) = self.connected().await else {
            return options;
        };
        let Some(region) = clients.region() else {
            return options;
        };
        if clients.is_local_cloud {
            return options;
        }
        let book = PriceBook::in_home(self.home());
        // One at a time: the cache file is read and rewritten per answer.
        for option in options.iter_mut().filter(|o| o.unsupported.is_none()) {
            if let Some(price) = book.hourly(&clients, &region, &option.name).await {
                option.usd_per_hour = price.usd_per_hour;
                option.price_source = price.source;
            }
        }
        options
    }

    /// Whether `spec`'s model fits its instance ([`fit`]): `params` when the user typed a
    /// count, else the Hub's ([`hub`]; not asked in local mode unless `HF_ENDPOINT` is set,
    /// nor when `HF_HUB_OFFLINE` is). Never fails: what cannot be judged is `Unknown`.
    pub async fn fit_check(&self, spec: &DeploySpec, params: Option<u64>) -> FitCheck {
        let model = spec.model_id.trim();
        let Some(instance) = instances::find(&spec.instance_type) else {
            return fit::unknown(
                model,
                &format!("Ebb does not know the GPU memory of {}", spec.instance_type),
            );
        };
        if let Some(why) = instance.unsupported {
            return fit::unknown(model, &format!("{} cannot be used: {why}", instance.name));
        }
        let size = match params {
            Some(params) => Ok(ModelSize {
                params,
                stored_bytes: None,
            }),
            None => self.hub_size(spec).await,
        };
        match size {
            Ok(size) => fit::judge(model, size, &spec.environment, instance),
            Err(why) => fit::unknown(model, &why.to_string()),
        }
    }

    async fn hub_size(&self, spec: &DeploySpec) -> Result<ModelSize, hub::SizeUnknown> {
        let local = self
            .settings()
            .map(|s| self.target(&s).mode == Mode::Local)
            .unwrap_or(true);
        let config = hub::config(&cloud::process_env, &spec.environment, local)?;
        hub::model_size(&config, spec.model_id.trim()).await
    }
}
