//! The user's settings: one JSON file in the Ebb home, mode 0600, never any secret.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::validate;

pub const SETTINGS_FILE: &str = "settings.json";
pub const DEFAULT_PREFIX: &str = "async-llm-output";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The embedded local cloud: no AWS account, nothing leaves this computer.
    #[default]
    Local,
    /// Real AWS (or any AWS-compatible endpoint) through the standard credential chain.
    Aws,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Local => "local",
            Mode::Aws => "aws",
        })
    }
}

/// The keys, with the same names in the file, the form and `ebb settings set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum SettingKey {
    Mode,
    Profile,
    Region,
    EndpointUrl,
    RoleArn,
    Bucket,
    Prefix,
}

impl SettingKey {
    pub const ALL: [SettingKey; 7] = [
        SettingKey::Mode,
        SettingKey::Profile,
        SettingKey::Region,
        SettingKey::EndpointUrl,
        SettingKey::RoleArn,
        SettingKey::Bucket,
        SettingKey::Prefix,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SettingKey::Mode => "mode",
            SettingKey::Profile => "profile",
            SettingKey::Region => "region",
            SettingKey::EndpointUrl => "endpoint_url",
            SettingKey::RoleArn => "role_arn",
            SettingKey::Bucket => "bucket",
            SettingKey::Prefix => "prefix",
        }
    }

    pub fn parse(key: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == key)
            .ok_or_else(|| Error::UnknownKey(key.to_string()))
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub mode: Mode,
    /// AWS profile from ~/.aws/config or ~/.aws/credentials; none = the default chain.
    pub profile: Option<String>,
    pub region: Option<String>,
    /// Any AWS-compatible server instead of AWS itself.
    pub endpoint_url: Option<String>,
    /// The SageMaker execution role the model runs as.
    pub role_arn: Option<String>,
    /// None = `sagemaker-<region>-<account id>`, as the SageMaker SDK names its default bucket.
    pub bucket: Option<String>,
    pub prefix: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Local,
            profile: None,
            region: None,
            endpoint_url: None,
            role_arn: None,
            bucket: None,
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

impl Settings {
    pub fn path_in(home: &Path) -> PathBuf {
        home.join(SETTINGS_FILE)
    }

    /// Reads the settings file; a missing file means defaults.
    pub fn load(home: &Path) -> Result<Settings, Error> {
        let path = Self::path_in(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => return Err(Error::Read { path, source }),
        };
        serde_json::from_str(&text).map_err(|e| Error::CorruptSettings {
            path,
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })
    }

    /// Validates, then writes atomically (temp file + rename) with mode 0600.
    pub fn save(&self, home: &Path) -> Result<PathBuf, Error> {
        let errors = validate::settings(self);
        if !errors.is_empty() {
            return Err(Error::InvalidSettings(errors));
        }
        let path = Self::path_in(home);
        std::fs::create_dir_all(home).map_err(|source| Error::Write {
            path: home.to_path_buf(),
            source,
        })?;
        let mut json = serde_json::to_string_pretty(self).map_err(|e| Error::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        json.push('\n');
        let tmp = home.join(format!(".{SETTINGS_FILE}.tmp"));
        write_private(&tmp, json.as_bytes()).map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Sets one key from text, as `ebb settings set KEY VALUE` does. An empty value clears an
    /// optional key (and resets `prefix` to its default). The result is not validated here.
    pub fn set(&mut self, key: SettingKey, value: &str) -> Result<(), Error> {
        let value = value.trim();
        let opt = || (!value.is_empty()).then(|| value.to_string());
        match key {
            SettingKey::Mode => {
                self.mode = match value {
                    "local" => Mode::Local,
                    "aws" => Mode::Aws,
                    _ => {
                        return Err(Error::InvalidSettings(vec![validate::FieldError::new(
                            SettingKey::Mode,
                            format!("`{value}` is not a mode: use `local` or `aws`"),
                        )]));
                    }
                }
            }
            SettingKey::Profile => self.profile = opt(),
            SettingKey::Region => self.region = opt(),
            SettingKey::EndpointUrl => self.endpoint_url = opt(),
            SettingKey::RoleArn => self.role_arn = opt(),
            SettingKey::Bucket => self.bucket = opt(),
            SettingKey::Prefix => {
                self.prefix = opt().unwrap_or_else(|| DEFAULT_PREFIX.to_string());
            }
        }
        Ok(())
    }

    /// The value of one key as text ("" when unset), for `ebb settings show`.
    pub fn get(&self, key: SettingKey) -> String {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        match key {
            SettingKey::Mode => self.mode.to_string(),
            SettingKey::Profile => opt(&self.profile),
            SettingKey::Region => opt(&self.region),
            SettingKey::EndpointUrl => opt(&self.endpoint_url),
            SettingKey::RoleArn => opt(&self.role_arn),
            SettingKey::Bucket => opt(&self.bucket),
            SettingKey::Prefix => self.prefix.clone(),
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path)?;
        // An existing file keeps its old mode on open; force 0600.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults() {
        let home = tempfile::tempdir().unwrap();
        let s = Settings::load(home.path()).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.mode, Mode::Local);
        assert_eq!(s.prefix, "async-llm-output");
    }

    #[test]
    fn round_trip_keeps_values_and_file_is_private() {
        let home = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.set(SettingKey::Mode, "aws").unwrap();
        s.set(SettingKey::Region, "eu-west-1").unwrap();
        s.set(SettingKey::Bucket, "my-bucket").unwrap();
        s.set(SettingKey::RoleArn, "arn:aws:iam::123456789012:role/Sm")
            .unwrap();
        let path = s.save(home.path()).unwrap();
        assert_eq!(Settings::load(home.path()).unwrap(), s);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("\"region\": \"eu-west-1\""), "{text}");
    }

    #[test]
    fn invalid_settings_are_not_written() {
        let home = tempfile::tempdir().unwrap();
        let mut s = Settings::default();
        s.set(SettingKey::Bucket, "Bad_Bucket").unwrap();
        let err = s.save(home.path()).unwrap_err();
        assert_eq!(err.field_errors()[0].key, SettingKey::Bucket);
        assert!(!Settings::path_in(home.path()).exists());
    }

    #[test]
    fn empty_value_clears_and_prefix_resets() {
        let mut s = Settings::default();
        s.set(SettingKey::Profile, "dev").unwrap();
        s.set(SettingKey::Prefix, "runs").unwrap();
        s.set(SettingKey::Profile, "").unwrap();
        s.set(SettingKey::Prefix, " ").unwrap();
        assert_eq!(s.profile, None);
        assert_eq!(s.prefix, DEFAULT_PREFIX);
    }

    #[test]
    fn unknown_key_and_bad_mode_are_explained() {
        let err = SettingKey::parse("regoin").unwrap_err().to_string();
        assert!(err.contains("regoin") && err.contains("region"), "{err}");
        let err = Settings::default()
            .set(SettingKey::Mode, "cloud")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`local` or `aws`"), "{err}");
    }

    #[test]
    fn corrupt_file_names_line_and_column() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            Settings::path_in(home.path()),
            "{\n  \"mode\": \"aws\",,\n}",
        )
        .unwrap();
        let err = Settings::load(home.path()).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn unknown_field_in_file_is_rejected() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            Settings::path_in(home.path()),
            "{\"mode\":\"aws\",\"secret_access_key\":\"x\"}",
        )
        .unwrap();
        let err = Settings::load(home.path()).unwrap_err().to_string();
        assert!(err.contains("secret_access_key"), "{err}");
    }
}
