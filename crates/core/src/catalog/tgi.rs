//! Hugging Face TGI ("LLM") container images for SageMaker: which tag each TGI version has, and
//! which ECR account serves it in each region (the public SageMaker image facts).

/// One TGI release as SageMaker publishes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TgiVersion {
    pub version: &'static str,
    /// `<pytorch>-tgi<version>`, the start of the image tag.
    pub tag_prefix: &'static str,
    pub python: &'static str,
    /// CUDA and OS part of the tag.
    pub cuda: &'static str,
}

pub const REPOSITORY: &str = "huggingface-pytorch-tgi-inference";

/// Oldest first.
pub const VERSIONS: &[TgiVersion] = &[
    TgiVersion {
        version: "0.6.0",
        tag_prefix: "2.0.0-tgi0.6.0",
        python: "py39",
        cuda: "cu118-ubuntu20.04",
    },
    TgiVersion {
        version: "0.8.2",
        tag_prefix: "2.0.0-tgi0.8.2",
        python: "py39",
        cuda: "cu118-ubuntu20.04",
    },
    TgiVersion {
        version: "0.9.3",
        tag_prefix: "2.0.1-tgi0.9.3",
        python: "py39",
        cuda: "cu118-ubuntu20.04",
    },
    TgiVersion {
        version: "1.0.3",
        tag_prefix: "2.0.1-tgi1.0.3",
        python: "py39",
        cuda: "cu118-ubuntu20.04",
    },
    TgiVersion {
        version: "1.1.0",
        tag_prefix: "2.0.1-tgi1.1.0",
        python: "py39",
        cuda: "cu118-ubuntu20.04",
    },
    TgiVersion {
        version: "1.2.0",
        tag_prefix: "2.1.1-tgi1.2.0",
        python: "py310",
        cuda: "cu121-ubuntu20.04",
    },
    TgiVersion {
        version: "1.3.1",
        tag_prefix: "2.1.1-tgi1.3.1",
        python: "py310",
        cuda: "cu121-ubuntu20.04",
    },
    TgiVersion {
        version: "1.3.3",
        tag_prefix: "2.1.1-tgi1.3.3",
        python: "py310",
        cuda: "cu121-ubuntu20.04",
    },
    TgiVersion {
        version: "1.4.0",
        tag_prefix: "2.1.1-tgi1.4.0",
        python: "py310",
        cuda: "cu121-ubuntu20.04",
    },
    TgiVersion {
        version: "1.4.2",
        tag_prefix: "2.1.1-tgi1.4.2",
        python: "py310",
        cuda: "cu121-ubuntu22.04",
    },
    TgiVersion {
        version: "1.4.5",
        tag_prefix: "2.1.1-tgi1.4.5",
        python: "py310",
        cuda: "cu121-ubuntu22.04",
    },
    TgiVersion {
        version: "2.0.0",
        tag_prefix: "2.1.1-tgi2.0.0",
        python: "py310",
        cuda: "cu121-ubuntu22.04",
    },
    TgiVersion {
        version: "2.0.1",
        tag_prefix: "2.1.1-tgi2.0.1",
        python: "py310",
        cuda: "cu121-ubuntu22.04",
    },
    TgiVersion {
        version: "2.0.2",
        tag_prefix: "2.3.0-tgi2.0.2",
        python: "py310",
        cuda: "cu121-ubuntu22.04",
    },
    TgiVersion {
        version: "2.2.0",
        tag_prefix: "2.3.0-tgi2.2.0",
        python: "py310",
        cuda: "cu121-ubuntu22.04-v2.0",
    },
    TgiVersion {
        version: "2.3.1",
        tag_prefix: "2.4.0-tgi2.3.1",
        python: "py311",
        cuda: "cu124-ubuntu22.04",
    },
    TgiVersion {
        version: "2.4.0",
        tag_prefix: "2.4.0-tgi2.4.0",
        python: "py311",
        cuda: "cu124-ubuntu22.04-v2.2",
    },
    TgiVersion {
        version: "3.0.1",
        tag_prefix: "2.4.0-tgi3.0.1",
        python: "py311",
        cuda: "cu124-ubuntu22.04-v2.1",
    },
    TgiVersion {
        version: "3.1.1",
        tag_prefix: "2.6.0-tgi3.1.1",
        python: "py311",
        cuda: "cu124-ubuntu22.04",
    },
    TgiVersion {
        version: "3.2.0",
        tag_prefix: "2.6.0-tgi3.2.0",
        python: "py311",
        cuda: "cu124-ubuntu22.04",
    },
    TgiVersion {
        version: "3.2.3",
        tag_prefix: "2.6.0-tgi3.2.3",
        python: "py311",
        cuda: "cu124-ubuntu22.04",
    },
    TgiVersion {
        version: "3.3.4",
        tag_prefix: "2.7.0-tgi3.3.4",
        python: "py311",
        cuda: "cu124-ubuntu22.04",
    },
    TgiVersion {
        version: "3.3.6",
        tag_prefix: "2.7.0-tgi3.3.6",
        python: "py311",
        cuda: "cu124-ubuntu22.04",
    },
];

/// ECR registry account per region.
pub const REGISTRIES: &[(&str, &str)] = &[
    ("af-south-1", "626614931356"),
    ("ap-east-1", "871362719292"),
    ("ap-east-2", "975050140332"),
    ("ap-northeast-1", "763104351884"),
    ("ap-northeast-2", "763104351884"),
    ("ap-northeast-3", "364406365360"),
    ("ap-south-1", "763104351884"),
    ("ap-south-2", "772153158452"),
    ("ap-southeast-1", "763104351884"),
    ("ap-southeast-2", "763104351884"),
    ("ap-southeast-3", "907027046896"),
    ("ap-southeast-4", "457447274322"),
    ("ap-southeast-5", "550225433462"),
    ("ap-southeast-6", "633930458069"),
    ("ap-southeast-7", "590183813437"),
    ("ca-central-1", "763104351884"),
    ("ca-west-1", "204538143572"),
    ("cn-north-1", "727897471807"),
    ("cn-northwest-1", "727897471807"),
    ("eu-central-1", "763104351884"),
    ("eu-central-2", "380420809688"),
    ("eu-north-1", "763104351884"),
    ("eu-south-1", "692866216735"),
    ("eu-south-2", "503227376785"),
    ("eu-west-1", "763104351884"),
    ("eu-west-2", "763104351884"),
    ("eu-west-3", "763104351884"),
    ("il-central-1", "780543022126"),
    ("me-central-1", "914824155844"),
    ("me-south-1", "217643126080"),
    ("mx-central-1", "637423239942"),
    ("sa-east-1", "763104351884"),
    ("us-east-1", "763104351884"),
    ("us-east-2", "763104351884"),
    ("us-gov-east-1", "446045086412"),
    ("us-gov-west-1", "442386744353"),
    ("us-iso-east-1", "886529160074"),
    ("us-isob-east-1", "094389454867"),
    ("us-isof-east-1", "303241398832"),
    ("us-isof-south-1", "454834333376"),
    ("us-west-1", "763104351884"),
    ("us-west-2", "763104351884"),
];

/// A version string as `(major, minor, patch)`, missing parts 0; `None` when it is not one.
pub fn release(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    Some((major, minor, patch))
}

/// The TGI release in a SageMaker TGI image URI (`...:2.0.1-tgi1.1.0-gpu-...` -> 1.1.0);
/// `None` for an image whose tag names none (a custom image).
pub fn release_of_image(uri: &str) -> Option<(u32, u32, u32)> {
    let tag = uri.rsplit_once(':')?.1;
    let rest = &tag[tag.find("tgi")? + 3..];
    release(rest.split('-').next()?)
}

pub fn find(version: &str) -> Option<&'static TgiVersion> {
    VERSIONS.iter().find(|v| v.version == version)
}

/// The image URI SageMaker's `get_huggingface_llm_image_uri("huggingface", version)` gives.
pub fn image_uri(version: &str, region: &str) -> Result<String, String> {
    let v = find(version).ok_or_else(|| {
        let known: Vec<&str> = VERSIONS.iter().map(|v| v.version).collect();
        format!(
            "TGI version `{version}` is not one SageMaker publishes; known: {}",
            known.join(", ")
        )
    })?;
    let account = REGISTRIES
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, a)| *a)
        .ok_or_else(|| {
            format!("SageMaker publishes no TGI image in region `{region}`; use a custom image URI")
        })?;
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    Ok(format!(
        "{account}.dkr.ecr.{region}.{domain}/{REPOSITORY}:{}-gpu-{}-{}",
        v.tag_prefix, v.python, v.cuda
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_read_from_versions_and_image_tags() {
        assert_eq!(release("1.4"), Some((1, 4, 0)));
        assert_eq!(release("2.0.1"), Some((2, 0, 1)));
        assert_eq!(release("x"), None);
        let seed = image_uri("1.1.0", "us-east-1").unwrap();
        assert_eq!(release_of_image(&seed), Some((1, 1, 0)));
        assert_eq!(
            release_of_image(&image_uri("3.3.6", "eu-west-1").unwrap()),
            Some((3, 3, 6))
        );
        assert_eq!(
            release_of_image("1.dkr.ecr.us-east-1.amazonaws.com/mine:latest"),
            None
        );
    }

    #[test]
    fn seed_image_matches_the_article() {
        assert_eq!(
            image_uri("1.1.0", "us-east-1").unwrap(),
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.0.1-tgi1.1.0-gpu-py39-cu118-ubuntu20.04"
        );
        assert!(
            image_uri("1.1.0", "cn-north-1")
                .unwrap()
                .contains(".amazonaws.com.cn/")
        );
        assert!(
            image_uri("9.9.9", "us-east-1")
                .unwrap_err()
                .contains("known: 0.6.0")
        );
        assert!(
            image_uri("1.1.0", "mars-1")
                .unwrap_err()
                .contains("custom image")
        );
    }
}
