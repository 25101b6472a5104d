//! Whether an endpoint's current model answers OpenAI chat-completions bodies (TGI's Messages
//! API) on SageMaker's `/invocations`.

use std::collections::HashMap;

use aws_sdk_sagemaker::operation::describe_model::DescribeModelOutput;

use super::spec::MESSAGES_API_VAR;
use crate::aws_errors::Context;
use crate::catalog::tgi;
use crate::cloud::Clients;
use crate::error::Error;

/// Whether `endpoint`'s current model takes chat-completions bodies on `/invocations`.
///
/// Reads the model the endpoint runs now: DescribeEndpoint's `EndpointConfigName`
/// (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html>),
/// that config's first `ProductionVariants[].ModelName`
/// (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpointConfig.html>),
/// and that model's `PrimaryContainer` (else `Containers[0]`) `Image` and `Environment`
/// (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeModel.html>).
/// The answer follows TGI (<https://huggingface.co/docs/text-generation-inference/messages_api>
/// and `router/src/server.rs` of huggingface/text-generation-inference), see
/// [`takes_chat`]: `MESSAGES_API_ENABLED=true` on TGI 1.4.0 to 2.3.x, always on 2.4.0 and
/// later, never before 1.4.0.
///
/// # Errors
/// [`Error::EndpointNotFound`] when the endpoint does not exist;
/// [`Error::EndpointModelGone`] when its endpoint config or model was deleted; AWS errors
/// of the three Describe calls otherwise.
pub async fn messages_api_enabled(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<bool, Error> {
    Ok(bodies_taken(clients, ctx, endpoint).await?.chat)
}

/// Whether a model of `image` with `env` takes TGI's generate bodies (`{"inputs"}`) on
/// `/invocations`: every TGI does, except 1.4.0 to 2.3.x with the Messages API on, whose
/// `/invocations` then takes chat-completions bodies only (`router/src/server.rs` of those
/// releases). A custom image is assumed to.
pub fn takes_generate(image: Option<&str>, env: Option<&HashMap<String, String>>) -> bool {
    let switched = env
        .and_then(|e| e.get(MESSAGES_API_VAR))
        .is_some_and(|v| v == "true");
    let release = image.and_then(tgi::release_of_image);
    !(switched && release.is_some_and(|r| ((1, 4, 0)..(2, 4, 0)).contains(&r)))
}

/// Which bodies an endpoint's current model takes on `/invocations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodiesTaken {
    /// OpenAI chat-completions bodies ([`takes_chat`]).
    pub chat: bool,
    /// TGI generate bodies ([`takes_generate`]).
    pub generate: bool,
}

/// [`BodiesTaken`] for `endpoint`'s current model; errors as [`messages_api_enabled`].
pub async fn bodies_taken(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<BodiesTaken, Error> {
    let model = current_model(clients, ctx, endpoint).await?;
    let container = model
        .primary_container()
        .or_else(|| model.containers().first());
    let image = container.and_then(|c| c.image());
    let env = container.and_then(|c| c.environment());
    Ok(BodiesTaken {
        chat: takes_chat(image, env),
        generate: takes_generate(image, env),
    })
}

/// TGI's rule for `/invocations`: before 1.4.0 generate bodies only; 1.4.0 to 2.3.x chat
/// bodies when `MESSAGES_API_ENABLED` is `true` (the only value clap's boolean parser reads
/// as on); from 2.4.0 any body. An image whose tag names no TGI release (a custom image) is
/// judged by the variable alone.
pub fn takes_chat(image: Option<&str>, env: Option<&HashMap<String, String>>) -> bool {
    let switched = env
        .and_then(|e| e.get(MESSAGES_API_VAR))
        .is_some_and(|v| v == "true");
    match image.and_then(tgi::release_of_image) {
        Some(release) if release < (1, 4, 0) => false,
        Some(release) if release >= (2, 4, 0) => true,
        _ => switched,
    }
}

/// DescribeModel of the model `endpoint` runs now (its current config's first variant), as
/// [`super::update::current`] reads it.
async fn current_model(
    clients: &Clients,
    ctx: Context<'_>,
    endpoint: &str,
) -> Result<DescribeModelOutput, Error> {
    Ok(super::update::current(clients, ctx, endpoint).await?.model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_follows_the_tgi_release_and_the_switch() {
        let image = |v: &str| tgi::image_uri(v, "us-east-1").unwrap();
        let on = HashMap::from([(MESSAGES_API_VAR.to_string(), "true".to_string())]);
        let odd = HashMap::from([(MESSAGES_API_VAR.to_string(), "1".to_string())]);
        assert!(!takes_chat(Some(&image("1.1.0")), Some(&on)));
        assert!(takes_chat(Some(&image("1.4.0")), Some(&on)));
        assert!(takes_chat(Some(&image("2.3.1")), Some(&on)));
        assert!(!takes_chat(Some(&image("2.3.1")), None));
        assert!(!takes_chat(Some(&image("2.0.1")), Some(&odd)));
        assert!(takes_chat(Some(&image("2.4.0")), None));
        let custom = "111122223333.dkr.ecr.us-east-1.amazonaws.com/mine:v1";
        assert!(takes_chat(Some(custom), Some(&on)));
        assert!(!takes_chat(Some(custom), None));
    }

    #[test]
    fn generate_bodies_are_refused_only_where_the_switch_replaces_the_route() {
        let image = |v: &str| tgi::image_uri(v, "us-east-1").unwrap();
        let on = HashMap::from([(MESSAGES_API_VAR.to_string(), "true".to_string())]);
        assert!(takes_generate(Some(&image("1.1.0")), Some(&on)));
        assert!(!takes_generate(Some(&image("1.4.0")), Some(&on)));
        assert!(!takes_generate(Some(&image("2.3.1")), Some(&on)));
        assert!(takes_generate(Some(&image("2.3.1")), None));
        assert!(takes_generate(Some(&image("3.0.1")), Some(&on)));
        assert!(takes_generate(Some("my/own:image"), Some(&on)));
    }
}
