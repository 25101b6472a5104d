//! AWS profile names as the aws CLI sees them: `[default]` / `[profile NAME]` in the config file
//! and `[NAME]` in the credentials file (honouring AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE).

use std::collections::BTreeSet;
use std::path::PathBuf;

pub fn list() -> Vec<String> {
    let home = dirs::home_dir().unwrap_or_default();
    let config = std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/config"));
    let credentials = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".aws/credentials"));
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    from_files(&read(config), &read(credentials))
}

pub fn from_files(config: &str, credentials: &str) -> Vec<String> {
    let mut names = BTreeSet::new();
    for section in sections(config) {
        let mut words = section.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("default"), None, _) => {
                names.insert("default".to_string());
            }
            (Some("profile"), Some(name), None) => {
                names.insert(name.to_string());
            }
            // `[sso-session x]`, `[services x]` and malformed headers are not profiles.
            _ => {}
        }
    }
    for section in sections(credentials) {
        if !section.contains(char::is_whitespace) && !section.is_empty() {
            names.insert(section.to_string());
        }
    }
    names.into_iter().collect()
}

fn sections(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        line.strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .map(str::trim)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_profiles_like_the_aws_cli() {
        let config = "[default]\nregion=us-east-1\n[profile dev]\nsso_session=corp\n[sso-session corp]\nsso_region=us-east-1\n[services local]\n[  profile   ml ]\n";
        let credentials = "[default]\naws_access_key_id=x\n[ci]\n";
        assert_eq!(
            from_files(config, credentials),
            vec!["ci", "default", "dev", "ml"]
        );
    }
}
