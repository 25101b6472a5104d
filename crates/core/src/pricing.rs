//! Hourly prices of SageMaker hosting instances: from the AWS Price List API
//! (`pricing:GetProducts`), cached for a week in the Ebb home; when that call is not allowed or
//! finds nothing, from the bundled on-demand table, marked as an estimate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_pricing::types::{Filter, FilterType};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::instances;
use crate::cloud::Clients;

/// How long a fetched price is trusted.
const FRESH_S: i64 = 7 * 86_400;
/// How long to wait before asking again after the Price List refused or found nothing.
const RETRY_S: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum PriceSource {
    /// The AWS Price List API, for this region.
    PriceList,
    /// Ebb's bundled table (us-east-1 on-demand prices); an estimate.
    Estimate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Price {
    pub usd_per_hour: f64,
    pub source: PriceSource,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Cached {
    /// `None`: the Price List had no answer when asked.
    usd_per_hour: Option<f64>,
    at_s: i64,
}

/// Prices by `region/instance type`, kept in `prices.json`.
pub struct PriceBook {
    path: PathBuf,
}

fn now_s() -> i64 {
    crate::deploy::now_s()
}

/// The on-demand hosting price in one GetProducts answer: the product whose usage type is
/// hosting (`…Host:ml.…`), its first hourly price dimension in USD.
pub fn hosting_price(price_list: &[String]) -> Option<f64> {
    price_list.iter().find_map(|text| {
        let item: Value = serde_json::from_str(text).ok()?;
        let usage = item["product"]["attributes"]["usagetype"].as_str()?;
        if !usage.contains("Host:") {
            return None;
        }
        item["terms"]["OnDemand"]
            .as_object()?
            .values()
            .flat_map(|term| term["priceDimensions"].as_object().into_iter().flatten())
            .filter(|(_, d)| d["unit"].as_str().is_some_and(|u| u.starts_with("Hr")))
            .find_map(|(_, d)| d["pricePerUnit"]["USD"].as_str()?.parse::<f64>().ok())
            .filter(|p| *p > 0.0)
    })
}

/// What the cache still answers: `Some(price or no-answer)` while fresh, `None` to ask again.
fn still_good(cached: Option<&Cached>, now: i64) -> Option<Option<f64>> {
    let c = cached?;
    let fresh = match c.usd_per_hour {
        Some(_) => now - c.at_s < FRESH_S,
        None => now - c.at_s < RETRY_S,
    };
    fresh.then_some(c.usd_per_hour)
}

impl PriceBook {
    pub fn in_home(home: &Path) -> PriceBook {
        PriceBook {
            path: home.join("prices.json"),
        }
    }

    fn load(&self) -> BTreeMap<String, Cached> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn store(&self, key: String, entry: Cached) {
        let mut all = self.load();
        all.insert(key, entry);
        let written = serde_json::to_vec_pretty(&all)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&self.path, bytes));
        if let Err(e) = written {
            tracing::debug!("could not cache prices in {}: {e}", self.path.display());
        }
    }

    /// The hourly price of one `instance_type` instance in `region`, or None if neither the
    /// Price List nor the bundled table knows it.
    pub async fn hourly(
        &self,
        clients: &Clients,
        region: &str,
        instance_type: &str,
    ) -> Option<Price> {
        let key = format!("{region}/{instance_type}");
        let now = now_s();
        let fetched = match still_good(self.load().get(&key), now) {
            Some(known) => known,
            None => {
                let asked = self.ask(clients, region, instance_type).await;
                self.store(
                    key,
                    Cached {
                        usd_per_hour: asked,
                        at_s: now,
                    },
                );
                asked
            }
        };
        match fetched {
            Some(usd_per_hour) => Some(Price {
                usd_per_hour,
                source: PriceSource::PriceList,
            }),
            None => instances::find(instance_type).map(|i| Price {
                usd_per_hour: i.usd_per_hour,
                source: PriceSource::Estimate,
            }),
        }
    }

    async fn ask(&self, clients: &Clients, region: &str, instance_type: &str) -> Option<f64> {
        let filter = |field: &str, value: &str| {
            Filter::builder()
                .r#type(FilterType::TermMatch)
                .field(field)
                .value(value)
                .build()
                .ok()
        };
        let answer = clients
            .pricing
            .get_products()
            .service_code("AmazonSageMaker")
            .set_filters(
                [
                    filter("instanceName", instance_type),
                    filter("regionCode", region),
                ]
                .into_iter()
                .collect(),
            )
            .max_results(100)
            .send()
            .await;
        match answer {
            Ok(page) => hosting_price(page.price_list()),
            Err(e) => {
                tracing::info!(
                    "no Price List answer for {instance_type} in {region} (using the bundled estimate): {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(usage: &str, usd: &str) -> String {
        serde_json::json!({
            "product": { "productFamily": "ML Instance", "attributes": {
                "instanceName": "ml.g5.12xlarge", "regionCode": "us-east-1", "usagetype": usage } },
            "serviceCode": "AmazonSageMaker",
            "terms": { "OnDemand": { "SKU.TERM": { "priceDimensions": { "SKU.TERM.DIM": {
                "unit": "Hrs", "pricePerUnit": { "USD": usd } } } } } }
        })
        .to_string()
    }

    #[test]
    fn the_hosting_product_gives_the_price() {
        let list = [
            product("USE1-Train:ml.g5.12xlarge", "7.0900000000"),
            product("USE1-Host:ml.g5.12xlarge", "7.0900000000"),
        ];
        assert_eq!(hosting_price(&list), Some(7.09));
        assert_eq!(hosting_price(&list[..1]), None);
        assert_eq!(hosting_price(&["not json".to_string()]), None);
    }

    #[test]
    fn prices_are_kept_a_week_and_a_refusal_an_hour() {
        let home = tempfile::tempdir().unwrap();
        let book = PriceBook::in_home(home.path());
        let known = Cached {
            usd_per_hour: Some(7.5),
            at_s: 1_000_000,
        };
        book.store("us-east-1/ml.g5.12xlarge".into(), known.clone());
        let kept = book.load();
        let kept = kept.get("us-east-1/ml.g5.12xlarge");
        assert_eq!(still_good(kept, 1_000_000 + 6 * 86_400), Some(Some(7.5)));
        assert_eq!(still_good(kept, 1_000_000 + 8 * 86_400), None);
        let refused = Cached {
            usd_per_hour: None,
            at_s: 1_000_000,
        };
        assert_eq!(still_good(Some(&refused), 1_000_000 + 60), Some(None));
        assert_eq!(still_good(Some(&refused), 1_000_000 + 3601), None);
        assert_eq!(still_good(None, 0), None);
    }
}
