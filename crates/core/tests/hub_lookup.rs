//! The Hub lookup of the fit check against recorded answers of the Hub's model-info API,
//! served on loopback.

use std::collections::BTreeMap;

use ebb_core::catalog::instances::find;
use ebb_core::deploy::fit::{self, FitVerdict};
use ebb_core::deploy::hub::{self, HubConfig, SizeUnknown};
use ebb_testkit::{Recorded, RecordedHttp, repo_root};

fn recorded(repo: &str, token: Option<&str>) -> Recorded {
    let file = repo_root()
        .join("tests/fixtures/hub")
        .join(format!("{}.json", repo.replace('/', "--")));
    Recorded {
        path: format!("/api/models/{repo}"),
        body: std::fs::read_to_string(&file).expect("read the recorded answer"),
        token: token.map(str::to_string),
    }
}

fn hub() -> RecordedHttp {
    RecordedHttp::start(vec![
        recorded("google/flan-t5-xxl", None),
        recorded("meta-llama/Meta-Llama-3-8B", Some("hf_reader")),
    ])
}

fn at(server: &RecordedHttp, token: Option<&str>) -> HubConfig {
    HubConfig {
        endpoint: server.url.clone(),
        token: token.map(str::to_string),
    }
}

#[tokio::test]
async fn the_hub_count_gives_the_issues_sentence() {
    let server = hub();
    let size = hub::model_size(&at(&server, None), "google/flan-t5-xxl")
        .await
        .unwrap();
    assert_eq!(size.params, 11_135_332_352);
    let env = BTreeMap::from([("DTYPE".to_string(), "bfloat16".to_string())]);
    let check = fit::judge(
        "google/flan-t5-xxl",
        size,
        &env,
        find("ml.g5.12xlarge").unwrap(),
    );
    assert_eq!(check.verdict, FitVerdict::Fits);
    assert_eq!(
        check.sentence,
        "flan-t5-xxl (11B, bf16 ≈ 22 GB) fits ml.g5.12xlarge (4 × 24 GB)"
    );
    assert_eq!(server.authorizations(), vec![None]);
}

#[tokio::test]
async fn a_gated_model_needs_the_token() {
    let server = hub();
    let model = "meta-llama/Meta-Llama-3-8B";
    let without = hub::model_size(&at(&server, None), model).await;
    assert_eq!(without, Err(SizeUnknown::Gated));
    assert!(
        fit::unknown(model, &SizeUnknown::Gated.to_string())
            .sentence
            .starts_with("size of Meta-Llama-3-8B unknown: gated")
    );
    let with = hub::model_size(&at(&server, Some("hf_reader")), model).await;
    assert_eq!(with.map(|s| s.params), Ok(8_030_261_248));
    let wrong = hub::model_size(&at(&server, Some("hf_other")), model).await;
    assert_eq!(wrong, Err(SizeUnknown::TokenRefused));
    assert_eq!(
        server.authorizations()[1].as_deref(),
        Some("Bearer hf_reader")
    );
}

#[tokio::test]
async fn an_unknown_model_is_not_found() {
    let server = hub();
    let answer = hub::model_size(&at(&server, None), "nobody/no-such-model").await;
    assert_eq!(answer, Err(SizeUnknown::NotFound));
    assert_eq!(
        SizeUnknown::NotFound.to_string(),
        "model not found on the Hub"
    );
}

#[tokio::test]
async fn offline_makes_no_request() {
    let server = hub();
    let env = |k: &str| match k {
        "HF_HUB_OFFLINE" => Some("1".to_string()),
        "HF_ENDPOINT" => Some(server.url.clone()),
        _ => None,
    };
    let config = hub::config(&env, &BTreeMap::new(), false);
    assert_eq!(config, Err(SizeUnknown::Offline));
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn a_hub_that_is_not_there_is_unreachable() {
    let port = ebb_testkit::free_port();
    let config = HubConfig {
        endpoint: format!("http://127.0.0.1:{port}"),
        token: None,
    };
    let answer = hub::model_size(&config, "google/flan-t5-xxl").await;
    assert!(
        matches!(answer, Err(SizeUnknown::Unreachable(_))),
        "{answer:?}"
    );
}
